// PrometheusHttpSource against a real Prometheus, loaded with known samples through promtool's OpenMetrics backfill.

import { PrometheusHttpSource } from '../../lambdas/adapters/prometheus/http-metric-source';
import { metricSourceSchema } from '../../lambdas/core/config/schema';
import type { MetricQueryError } from '../../lambdas/core/perception/metric-source';
import type { Result } from '../../lambdas/core/result';
import { type RunningPrometheus, startPrometheus } from '../support/prometheus-server';
import { banner, installHint, requireBinary } from '../support/require-binary';

const prometheusBin = requireBinary('prometheus');
const promtoolBin = requireBinary('promtool');

const REQUESTS = 'service:http_requests:rate1m';
const ERRORS = 'service:http_errors:ratio_rate1m';
const STEP = 60;
const POINTS = 60;

interface SeriesSpec {
  readonly metric: string;
  readonly labels: Readonly<Record<string, string>>;
  /** Value of the i-th sample; multiples of 1/4 so sums are exact. */
  readonly value: (i: number) => number;
}

const SERIES: readonly SeriesSpec[] = [
  { metric: REQUESTS, labels: { service: 'order-api', namespace: 'exchange' }, value: (i) => 100 + i * 0.5 },
  { metric: REQUESTS, labels: { service: 'order-api', namespace: 'canary' }, value: (i) => 10 + (i % 4) * 0.25 },
  { metric: REQUESTS, labels: { service: 'wallet', namespace: 'exchange' }, value: (i) => 40 - i * 0.25 },
  { metric: ERRORS, labels: { service: 'order-api', namespace: 'exchange' }, value: (i) => (i % 8) / 256 },
  { metric: ERRORS, labels: { service: 'wallet', namespace: 'exchange' }, value: () => 0 },
];

/** OpenMetrics text with one sample a minute per series from `start` (epoch seconds). */
function openMetrics(start: number): string {
  const lines: string[] = [];
  for (const metric of [REQUESTS, ERRORS]) {
    lines.push(`# TYPE ${metric} gauge`);
    for (const series of SERIES.filter((spec) => spec.metric === metric)) {
      const labels = Object.entries(series.labels)
        .map(([name, value]) => `${name}="${value}"`)
        .join(',');
      for (let i = 0; i < POINTS; i++) lines.push(`${metric}{${labels}} ${series.value(i)} ${start + i * STEP}`);
    }
  }
  lines.push('# EOF');
  return `${lines.join('\n')}\n`;
}

function expectOk<T>(result: Result<T, MetricQueryError>): T {
  if (!result.ok) throw new Error(`expected success, got ${JSON.stringify(result.error)}`);
  return result.value;
}

const byLabels = (a: { labels: Record<string, string> }, b: { labels: Record<string, string> }) =>
  JSON.stringify(a.labels).localeCompare(JSON.stringify(b.labels));

if (!prometheusBin || !promtoolBin) {
  it(`requires prometheus and promtool: NOT RUN here (${installHint('prometheus')})`, () => {
    console.warn(
      banner([
        'test/integration/prometheus.test.ts did NOT exercise a real Prometheus.',
        `Install it with: ${installHint('prometheus')}; CI sets SRE_AGENT_REQUIRE_BINARIES=1 and fails instead.`,
      ]),
    );
  });
} else {
  describe('PrometheusHttpSource against a real Prometheus', () => {
    // Whole minutes in the recent past: promtool cuts 2 h blocks aligned to the epoch, so this spans one or two blocks.
    const start = Math.floor(Date.now() / 1000 / 60) * 60 - 2 * 3600;
    const sampleTime = (i: number) => start + i * STEP;
    let server: RunningPrometheus | undefined;
    let metrics: PrometheusHttpSource;

    beforeAll(async () => {
      server = await startPrometheus(openMetrics(start), prometheusBin, promtoolBin);
      metrics = new PrometheusHttpSource(
        metricSourceSchema.parse({ flavor: 'prometheus', url: server.url, timeoutMs: 5_000, retries: 0 }),
      );
    }, 30_000);

    afterAll(async () => {
      await server?.stop();
    });

    it('returns the exact backfilled values for an instant query at a sample time', async () => {
      const i = 17;
      const samples = expectOk(await metrics.instant(REQUESTS, sampleTime(i)));
      const expected = SERIES.filter((spec) => spec.metric === REQUESTS).map((spec) => ({
        labels: { __name__: REQUESTS, ...spec.labels },
        value: spec.value(i),
      }));
      expect([...samples].sort(byLabels)).toEqual(expected.sort(byLabels));
    });

    it('evaluates an aggregation', async () => {
      const i = 42;
      const samples = expectOk(await metrics.instant(`sum by (service) (${REQUESTS})`, sampleTime(i)));
      const sumOf = (service: string) =>
        SERIES.filter((spec) => spec.metric === REQUESTS && spec.labels.service === service).reduce(
          (total, spec) => total + spec.value(i),
          0,
        );
      expect([...samples].sort(byLabels)).toEqual([
        { labels: { service: 'order-api' }, value: sumOf('order-api') },
        { labels: { service: 'wallet' }, value: sumOf('wallet') },
      ]);
    });

    it('filters by label and comparison', async () => {
      const i = 7; // order-api error ratio 7/256
      const samples = expectOk(await metrics.instant(`${ERRORS}{namespace="exchange"} > 0.02`, sampleTime(i)));
      expect(samples).toEqual([
        { labels: { __name__: ERRORS, service: 'order-api', namespace: 'exchange' }, value: 7 / 256 },
      ]);
    });

    it('returns the expected points for a range query', async () => {
      const from = 10;
      const to = 14;
      const series = expectOk(
        await metrics.range(`${REQUESTS}{service="wallet"}`, sampleTime(from), sampleTime(to), STEP),
      );
      expect(series).toHaveLength(1);
      const [wallet] = series;
      expect(wallet.labels).toEqual({ __name__: REQUESTS, service: 'wallet', namespace: 'exchange' });
      const indices = [10, 11, 12, 13, 14];
      expect([...wallet.timestamps]).toEqual(indices.map(sampleTime));
      expect([...wallet.values]).toEqual(indices.map((i) => 40 - i * 0.25));
    });

    it('returns every series of a range query as Float64Arrays', async () => {
      const series = expectOk(await metrics.range(ERRORS, sampleTime(0), sampleTime(POINTS - 1), 5 * STEP));
      expect(series).toHaveLength(2);
      for (const one of series) {
        expect(one.timestamps).toBeInstanceOf(Float64Array);
        expect(one.timestamps).toHaveLength(POINTS / 5);
      }
    });

    it('reports malformed PromQL as kind query naming the query', async () => {
      const result = await metrics.instant('sum by (', sampleTime(0));
      expect(result.ok).toBe(false);
      if (result.ok) return;
      expect(result.error).toMatchObject({ kind: 'query', query: 'sum by (', status: 400, attempts: 1 });
      expect(result.error.message).toContain('"sum by ("');
      expect(result.error.message).toContain('/api/v1/query');
      expect(result.error.message).toMatch(/parse error/);
    });

    it('reports a range vector asked as an instant query as kind query', async () => {
      const result = await metrics.instant(`${REQUESTS}[5m]`, sampleTime(30));
      expect(result.ok).toBe(false);
      if (!result.ok) expect(result.error).toMatchObject({ kind: 'query', query: `${REQUESTS}[5m]` });
    });
  });
}
