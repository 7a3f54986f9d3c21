// Replays every public scenario spec (built by the project's own fixture builder) through the real pipeline
// and holds the detection floors: each fault found in time, nothing in the quiet windows or outside faults.

import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ReplayReport } from '../../lambdas/cli/replay-report';
import { playbooksSchema } from '../../lambdas/core/decision/plan';
import { replayScenario } from '../../lambdas/local/replay';
import { buildScenario, type ScenarioSpec } from '../support/scenario-builder';
import { readTruth } from '../support/truth';

const SPECS_DIR = join(__dirname, '..', 'fixtures', 'specs');
const MINUTE = 60_000;
const workDir = mkdtempSync(join(tmpdir(), 'sre-agent-scenarios-'));
afterAll(() => rmSync(workDir, { recursive: true, force: true }));

const specs = readdirSync(SPECS_DIR).filter((f) => f.endsWith('.json'));

describe.each(specs)('replay of %s', (file) => {
  const spec = JSON.parse(readFileSync(join(SPECS_DIR, file), 'utf8')) as ScenarioSpec;
  const dir = join(workDir, spec.name);
  let report: ReplayReport;

  beforeAll(async () => {
    buildScenario(spec, dir, { gzipMetrics: true });
    report = await replayScenario(dir);
  }, 120_000);

  it('prints a report with every required field', () => {
    expect(report.scenario).toBe(spec.name);
    expect(report.ticks).toBe(1440);
    expect(report.failedTicks).toBe(0);
    expect(report.alerts.raw).toBeGreaterThan(0);
    for (const incident of report.incidents) {
      expect(incident).toEqual(
        expect.objectContaining({
          id: expect.stringMatching(/^inc-\d{8}T\d{4}-[a-z0-9-]+$/),
          openedAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/),
          kind: expect.stringMatching(/^(anomaly|forecast)$/),
          services: expect.any(Array),
          candidates: expect.any(Array),
          plan: expect.any(Array),
          executed: expect.any(Array),
        }),
      );
      expect(incident).toHaveProperty('rootCause');
      expect(incident).toHaveProperty('risk');
      expect(incident).toHaveProperty('predictedBreachAt');
    }
  });

  it('opens one incident per fault, within 5 minutes of its start, with the right root cause', () => {
    const truth = readTruth(dir);
    for (const fault of truth.faults) {
      const start = Date.parse(fault.start);
      const mine = report.incidents.filter(
        (i) => Date.parse(i.openedAt) >= start - 2 * MINUTE && Date.parse(i.openedAt) <= Date.parse(fault.end) + 15 * MINUTE,
      );
      expect(mine).toHaveLength(1);
      const leadOrDelay = (Date.parse(mine[0].openedAt) - start) / MINUTE;
      // Slow burns (breachAt) are caught by the level drop long before the breach; fast faults within 5 minutes.
      if (fault.breachAt) {
        // Early warning: at least an hour ahead (target two), and the predicted breach within 20 % of the lead.
        const breach = Date.parse(fault.breachAt);
        const opened = Date.parse(mine[0].openedAt);
        expect(opened).toBeLessThanOrEqual(breach - 120 * MINUTE);
        expect(mine[0].predictedBreachAt).not.toBeNull();
        expect(Math.abs(Date.parse(mine[0].predictedBreachAt!) - breach)).toBeLessThanOrEqual(0.2 * (breach - opened));
      } else {
        expect(leadOrDelay).toBeLessThanOrEqual(5);
      }
      expect(mine[0].rootCause?.service).toBe(fault.rootCause);
    }
  });

  it('opens nothing in the quiet windows or outside the faults', () => {
    const truth = readTruth(dir);
    const explained = (openedAt: string) =>
      truth.faults.some(
        (f) => Date.parse(openedAt) >= Date.parse(f.start) - 2 * MINUTE && Date.parse(openedAt) <= Date.parse(f.end) + 15 * MINUTE,
      );
    expect(report.incidents.filter((i) => !explained(i.openedAt)).map((i) => i.id)).toEqual([]);
    for (const window of truth.quiet) {
      const inside = report.incidents.filter(
        (i) => Date.parse(i.openedAt) >= Date.parse(window.start) && Date.parse(i.openedAt) <= Date.parse(window.end),
      );
      expect({ window: window.note, incidents: inside.map((i) => i.id) }).toEqual({ window: window.note, incidents: [] });
    }
  });

  it('runs the right action as a dry run for each fault that has one, and sees the system recover', () => {
    const truth = readTruth(dir);
    for (const fault of truth.faults.filter((f) => f.actions.length > 0)) {
      const incident = report.incidents.find(
        (i) => Date.parse(i.openedAt) >= Date.parse(fault.start) - 2 * MINUTE && i.rootCause?.service === fault.rootCause,
      );
      expect(incident?.executed).toEqual([
        expect.objectContaining({ action: expect.stringMatching(fault.actions.join('|')), dryRun: true, result: 'succeeded' }),
      ]);
      // Recovery is the detector's verdict on later ticks, within the playbook's window.
      expect(incident?.recovery).toMatchObject({ status: 'recovered' });
      expect(incident?.recovery?.minutesToRecover).toBeLessThanOrEqual(20);
      expect(incident?.outcome).toBe('remediated');
    }
    const acted = truth.faults.filter((f) => f.actions.length > 0).length;
    expect(report.selfHealing).toMatchObject({ attempted: acted, recovered: acted, undone: 0 });
    expect(report.pendingWorkflows).toBe(0);
  });

  it('cuts notifications by at least 90 % against the raw alerts, and every fault still reaches a person', () => {
    expect(report.alerts.notified).toBeLessThanOrEqual(0.1 * report.alerts.raw);
    expect(report.alerts.rejectedDeliveries).toBe(0);
    const truth = readTruth(dir);
    for (const fault of truth.faults) {
      const incident = report.incidents.find(
        (i) => Date.parse(i.openedAt) >= Date.parse(fault.start) - 2 * MINUTE && i.rootCause?.service === fault.rootCause,
      );
      expect(incident?.notifiedAt).not.toBeNull();
      // Heard of within five minutes of the incident opening (sooner for an early warning's forecast).
      expect(Date.parse(incident?.notifiedAt ?? '') - Date.parse(incident?.openedAt ?? '')).toBeLessThanOrEqual(5 * MINUTE);
    }
  });

  it('never executes anything on a funds service', () => {
    const funds = spec.services.filter((s) => s.criticality === 'funds').map((s) => s.name);
    for (const incident of report.incidents) {
      for (const action of incident.executed) expect(funds.some((f) => action.target.includes(f))).toBe(false);
    }
  });
});

describe('replay with a playbook whose action cannot cure the fault', () => {
  it('sees no recovery within the window, undoes the change from its snapshot and pages', async () => {
    const spec = JSON.parse(readFileSync(join(SPECS_DIR, 'order-api-bad-deploy.json'), 'utf8')) as ScenarioSpec;
    const dir = join(workDir, `${spec.name}-wrong-playbook`);
    buildScenario(spec, dir, { gzipMetrics: true });
    // A restart does not take a bad build away: the errors stay until the recorded fault ends.
    const playbooks = playbooksSchema.parse({
      playbooks: [
        {
          fault: 'bad-deploy',
          actions: [{ action: 'rollout-restart' }],
          recovery: { signals: ['error_ratio'], waitMinutes: 10 },
          undo: 'restore-snapshot',
        },
      ],
    });
    const report = await replayScenario(dir, { playbooks });
    const [incident] = report.incidents;
    expect(incident.executed).toEqual([
      expect.objectContaining({ action: 'rollout-restart', dryRun: true, result: 'succeeded' }),
    ]);
    expect(incident.recovery).toMatchObject({ status: 'not-recovered', recoveredAt: null });
    expect(incident.undone).toEqual([
      expect.objectContaining({ action: 'rollout-restart', target: 'trading/deployment/order-api', result: 'restored' }),
    ]);
    expect(incident.outcome).toBe('not-recovered');
    expect(report.selfHealing).toMatchObject({ attempted: 1, recovered: 0, rate: 0, undone: 1 });
  }, 120_000);
});
