// `sre-agent watch` against a real Prometheus: learn baselines from its history, then tick live.

import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { type RunningPrometheus, startPrometheus } from '../support/prometheus-server';
import { banner, installHint, requireBinary } from '../support/require-binary';
import { renderScenario, type ScenarioSpec } from '../support/scenario-builder';

const run = promisify(execFile);
const ROOT = join(__dirname, '..', '..');
const prometheusBin = requireBinary('prometheus');
const promtoolBin = requireBinary('promtool');

const iso = (seconds: number) => new Date(seconds * 1000).toISOString().replace('.000Z', 'Z');

if (!prometheusBin || !promtoolBin) {
  it(`requires prometheus and promtool: NOT RUN here (${installHint('prometheus')})`, () => {
    console.warn(banner(['test/integration/watch.test.ts did NOT run the live loop against a real Prometheus.']));
  });
} else {
  describe('sre-agent watch --prometheus', () => {
    let server: RunningPrometheus | undefined;

    beforeAll(async () => {
      // Three days of the public exchange topology ending now, with order-api failing for the last ten minutes.
      const now = Math.floor(Date.now() / 1000 / 60) * 60;
      const base = JSON.parse(
        readFileSync(join(ROOT, 'test', 'fixtures', 'specs', 'order-api-bad-deploy.json'), 'utf8'),
      ) as ScenarioSpec;
      const spec: ScenarioSpec = {
        ...base,
        name: 'live-watch',
        start: iso(now - 3 * 86_400),
        historyDays: 2,
        evaluateDays: 1,
        alertNoise: false,
        benign: [],
        faults: [
          {
            id: 'F1',
            kind: 'bad-deploy',
            service: 'order-api',
            start: iso(now - 600),
            duration: 10,
            tier: 'MEDIUM',
            actions: ['rollback'],
          },
        ],
      };
      const metrics = renderScenario(spec).files.get('metrics.om');
      if (!metrics) throw new Error('the builder wrote no metrics.om');
      server = await startPrometheus(metrics.toString('utf8'), prometheusBin, promtoolBin);
    }, 120_000);

    afterAll(async () => {
      await server?.stop();
    });

    it('learns every catalog series from history and scores the current minute, flagging the failing service', async () => {
      const { stdout, stderr } = await run(
        'node',
        [join(ROOT, 'bin', 'sre-agent-cli.cjs'), 'watch', '--prometheus', server!.url, '--ticks', '1'],
        { cwd: ROOT, timeout: 90_000 },
      );
      expect(stderr).toBe('');
      const learned = Number(/baselines: (\d+) series learned/.exec(stdout)?.[1]);
      expect(learned).toBeGreaterThanOrEqual(30);
      const tick = /tick: (\d+) series scored, (\d+) anomalous/.exec(stdout);
      expect(Number(tick?.[1])).toBeGreaterThanOrEqual(30);
      expect(Number(tick?.[2])).toBeGreaterThanOrEqual(1);
      expect(stdout).not.toMatch(/not collected|not fetched|tick failed/);
    }, 120_000);
  });
}
