// The `sre-agent` command as a user runs it: the bundled replay (what `npm start` runs) and bad input.

import { execFile } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { formatTimeline, type ReplayReport } from '../../lambdas/cli/replay-report';

const run = promisify(execFile);
const ROOT = join(__dirname, '..', '..');
const CLI = join(ROOT, 'bin', 'sre-agent-cli.cjs');
const BUNDLED = join(ROOT, 'scenarios', 'order-api-bad-deploy');

async function cli(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run('node', [CLI, ...args], { cwd: ROOT, maxBuffer: 64 * 1024 * 1024 });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

describe('sre-agent replay of the bundled scenario', () => {
  let report: ReplayReport;
  const knowledgeDir = mkdtempSync(join(tmpdir(), 'sre-agent-knowledge-'));
  const knowledgeFile = join(knowledgeDir, 'nested', 'knowledge.jsonl');
  afterAll(() => rmSync(knowledgeDir, { recursive: true, force: true }));

  beforeAll(async () => {
    const result = await cli('replay', BUNDLED, '--json', '--knowledge', knowledgeFile);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    report = JSON.parse(result.stdout) as ReplayReport;
  }, 120_000);

  it('opens exactly one incident, within five minutes of the fault, on order-api', () => {
    expect(report.scenario).toBe('order-api-bad-deploy');
    expect(report.incidents).toHaveLength(1);
    const [incident] = report.incidents;
    const delay = (Date.parse(incident.openedAt) - Date.parse('2026-11-04T03:05:00Z')) / 60_000;
    expect(delay).toBeGreaterThanOrEqual(0);
    expect(delay).toBeLessThanOrEqual(5);
    expect(incident.rootCause?.service).toBe('order-api');
    expect(incident.services).toContain('api-gateway');
    expect(report.alerts.raw).toBeGreaterThan(100);
    // External alerts and the agent's incident go through the alert manager: at least 90 % fewer messages than
    // raw alerts, and a person hears of the incident when it opens. The workflow adds the approval request and
    // the outcome reply in the incident's thread.
    expect(report.alerts.notified).toBe(report.alerts.fromAlertManager + report.alerts.fromWorkflows);
    expect(report.alerts.notified).toBeLessThanOrEqual(0.1 * report.alerts.raw);
    expect(report.alerts.fromWorkflows).toBe(2);
    expect(incident.notifiedAt).toBe(incident.openedAt);
    expect(incident.risk?.tier).toBe('MEDIUM');
    expect(incident.plan).toEqual([{ action: 'rollback', target: 'trading/deployment/order-api' }]);
    expect(incident.executed).toEqual([
      { action: 'rollback', target: 'trading/deployment/order-api', dryRun: true, result: 'succeeded' },
    ]);
  });

  it('diagnoses from the deploy, the signals and the topology, within minutes of the first symptom', () => {
    const [incident] = report.incidents;
    expect(incident.diagnosis).toMatchObject({ method: 'rules', gaps: [] });
    expect(incident.diagnosis?.minutesToIdentify).toBeLessThanOrEqual(5);
    expect(incident.diagnosis?.evidence.join('\n')).toMatch(/order-api deployed .*v2\.4\.0 at 03:03/);
    expect(incident.rootCause).toMatchObject({ service: 'order-api', kind: 'bad-deploy' });
    // The first replay has no past case; the bad-deploy runbook applies whatever the similarity.
    expect(incident.diagnosis?.similarCases).toEqual([]);
    expect(incident.diagnosis?.runbooks).toEqual([expect.stringMatching(/bad deploy/i)]);
    // The key metric's last hour, up to the diagnosis and no later: flat, then the errors of the bad build.
    const key = incident.diagnosis?.keySeries;
    expect(key?.series).toBe('error_ratio{order-api} (ratio)');
    expect(key?.points).toHaveLength(60);
    const points = (key?.points ?? []).filter((p): p is number => p !== null);
    expect(Math.max(...points.slice(0, 50))).toBeLessThan(0.01);
    expect(points[points.length - 1]).toBeGreaterThan(0.05);
  });

  it("a second replay finds the first replay's closed incident as a similar past case", async () => {
    const result = await cli('replay', BUNDLED, '--json', '--knowledge', knowledgeFile);
    expect(result.code).toBe(0);
    const second = JSON.parse(result.stdout) as ReplayReport;
    const [first] = report.incidents;
    expect(second.incidents[0].diagnosis?.similarCases).toEqual([
      expect.objectContaining({
        incidentId: first.id,
        service: 'order-api',
        kind: 'bad-deploy',
        outcome: 'remediated',
      }),
    ]);
    expect(second.incidents[0].diagnosis?.evidence.join('\n')).toContain(`past incident ${first.id}`);
    expect(formatTimeline(second)).toContain(`similar past case: ${first.id}`);
  }, 120_000);

  it('reads as a timeline on a terminal', () => {
    const text = formatTimeline(report);
    expect(text).toMatch(/11-04 03:0\d {2}OPENED {2}inc-20261104T030\d-order-api/);
    expect(text).toContain('likely root cause: order-api');
    expect(text).toMatch(/RESOLVED inc-20261104T030\d-order-api/);
  });
});

describe('sre-agent bad input', () => {
  const work = mkdtempSync(join(tmpdir(), 'sre-agent-cli-'));
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  it('names a missing scenario directory', async () => {
    const result = await cli('replay', join(work, 'nope'));
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(`${join(work, 'nope')}: scenario directory not found`);
  });

  it('names the missing required file', async () => {
    const dir = join(work, 'empty');
    cpSync(BUNDLED, dir, { recursive: true });
    rmSync(join(dir, 'metrics.om.gz'));
    const result = await cli('replay', dir);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/metrics\.om/);
    expect(result.stderr).not.toMatch(/\n\s+at /); // a message, not a stack trace
  });

  it('names file and line of a malformed metrics.om', async () => {
    const dir = join(work, 'malformed');
    cpSync(BUNDLED, dir, { recursive: true });
    rmSync(join(dir, 'metrics.om.gz'));
    writeFileSync(
      join(dir, 'metrics.om'),
      '# TYPE service:http_requests:rate1m gauge\nservice:http_requests:rate1m{service="order-api"} 1 1762214400\nservice:http_requests:rate1m{service="order-api"} abc 1762214460\n# EOF\n',
    );
    const result = await cli('replay', dir);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/metrics\.om:3: .*non-numeric value "abc"/);
  });

  it('names the field of a bad scenario.yaml', async () => {
    const dir = join(work, 'badyaml');
    cpSync(BUNDLED, dir, { recursive: true });
    const yaml = readFileSync(join(dir, 'scenario.yaml'), 'utf8').replace('- matching-engine', '- matching-engin');
    writeFileSync(join(dir, 'scenario.yaml'), yaml);
    const result = await cli('replay', dir);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(
      /scenario\.yaml:\d+: topology\.services\[\d\]\.dependsOn\[\d\]: unknown service "matching-engin"/,
    );
  });

  it('names the signal, the query and what the source said when a query cannot be answered', async () => {
    const config = join(work, 'config');
    cpSync(join(ROOT, 'config'), config, { recursive: true });
    const catalog = join(config, 'promql-queries.yaml');
    writeFileSync(
      catalog,
      readFileSync(catalog, 'utf8').replace(
        'sum by (service, namespace) (service:http_requests:rate1m)',
        'sum by (service, namespace) (rate(http_requests_total[1m]))',
      ),
    );
    const result = await cli('replay', BUNDLED, '--json', '--no-knowledge', '--config', join(config, 'dev.yaml'));
    expect(result.code).toBe(0);
    const report = JSON.parse(result.stdout) as ReplayReport;
    expect(report.collectionErrors).toBe(report.ticks);
    expect(report.queryErrors).toEqual([
      // Once when the replay learns, once more at the daily relearn.
      expect.objectContaining({ phase: 'learn', signalId: 'request_rate', kind: 'query', count: 2 }),
      expect.objectContaining({
        phase: 'collect',
        signalId: 'request_rate',
        query: 'sum by (service, namespace) (rate(http_requests_total[1m]))',
        message: expect.stringContaining('rate'),
        count: report.ticks,
      }),
    ]);
    // The one bad signal stops nothing: the fault is still found from the others.
    expect(report.failedTicks).toBe(0);
    expect(report.incidents.map((i) => i.rootCause?.service)).toEqual(['order-api']);
    expect(formatTimeline(report)).toContain('query: sum by (service, namespace) (rate(http_requests_total[1m]))');
  }, 120_000);

  it('refuses an unknown command with help', async () => {
    const result = await cli('frobnicate');
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/unknown command 'frobnicate'/);
  });
});
