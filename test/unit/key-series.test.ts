// The key series Diagnose reads for the approval message's sparkline: which signal it picks, the query and window
// it asks the metric source for, how the answer becomes points (gaps as null, nothing after now), and that a source
// that fails or throws costs only the series and leaves a gap naming the query, never the diagnosis.

import type { Incident, IncidentSignal } from '../../lambdas/core/cognition/incident';
import { signalCatalogSchema, topologySchema } from '../../lambdas/core/config/schema';
import type { KeySeries } from '../../lambdas/core/decision/approval';
import { type DecideDeps, diagnose } from '../../lambdas/core/decision/incident-case';
import { KEY_SERIES_POINTS, type KeyMetrics, keySignal, readKeySeries } from '../../lambdas/core/diagnosis/key-series';
import { interpretRerankAnswer, type RerankRequest } from '../../lambdas/core/diagnosis/rerank';
import type { MetricQueryError, MetricSource, RangeResult } from '../../lambdas/core/perception/metric-source';
import { fail, ok } from '../../lambdas/core/result';
import { ServiceGraph } from '../../lambdas/core/topology';

const catalog = signalCatalogSchema.parse({
  signals: [
    {
      id: 'error_ratio',
      query: 'max by (service) (service:http_errors:ratio_rate1m)',
      unit: 'ratio',
      badDirection: 'up',
    },
    {
      id: 'latency_p99',
      query: 'max by (service) (service:http_request_duration_seconds:p99)',
      unit: 'seconds',
      badDirection: 'up',
    },
    {
      id: 'request_rate',
      query: 'sum by (service) (service:http_requests:rate1m)',
      unit: 'requests_per_second',
      badDirection: 'both',
    },
    {
      id: 'restarts',
      query: 'sum by (service) (kube_pod_container_status_restarts_total)',
      unit: 'count',
      badDirection: 'up',
      kind: 'counter',
    },
    {
      // label_replace makes the entity label up: the query cannot be narrowed with a matcher.
      id: 'queue_lag',
      query: 'label_replace(kafka_consumergroup_lag, "service", "$1", "consumergroup", "(.*)")',
      unit: 'messages',
      badDirection: 'up',
    },
  ],
});

const topology = topologySchema.parse({
  services: [
    { name: 'api-gateway', criticality: 'core', namespace: 'edge', dependsOn: ['order-api'] },
    { name: 'order-api', criticality: 'core', namespace: 'trading', dependsOn: [] },
  ],
});

// 03:08:30: the window ends at the last whole minute, 03:08:00, and starts 59 minutes before.
const NOW = Date.parse('2026-11-04T03:08:30Z');
const END = Date.parse('2026-11-04T03:08:00Z') / 1000;
const START = END - (KEY_SERIES_POINTS - 1) * 60;

const signal = (entity: string, signalId: string, peakZ: number, peakScore = 1, key?: string): IncidentSignal => ({
  key: key ?? `${signalId}{${entity}}`,
  signalId,
  entity,
  firstAnomalousAt: '2026-11-04T03:05:00Z',
  lastRaisedAt: '2026-11-04T03:07:00Z',
  peakZ,
  peakScore,
  valueAtPeak: 1,
  expectedAtPeak: 0.5,
  hardLimitBreached: false,
});

const incidentWith = (signals: IncidentSignal[]): Incident => ({
  id: 'inc-20261104T0307-order-api',
  status: 'open',
  kind: 'anomaly',
  openedAt: '2026-11-04T03:07:00Z',
  updatedAt: '2026-11-04T03:07:00Z',
  lastAnomalyAt: '2026-11-04T03:07:00Z',
  services: [...new Set(signals.map((s) => s.entity))],
  signals,
  version: 1,
});

const incident = incidentWith([
  signal('order-api', 'error_ratio', 12),
  // A traffic drop: a large negative z is a strong signal too.
  signal('order-api', 'request_rate', -40),
  // Stronger, but on another service.
  signal('api-gateway', 'latency_p99', 90),
]);

interface RangeCall {
  readonly query: string;
  readonly start: number;
  readonly end: number;
  readonly step: number;
}

/**
 * A metric source with one value per minute for every entity of every query, including minutes after the window
 * asked for (as a source holding later data would if asked for them): `valueAt(entity, t)`, NaN for "no value",
 * undefined for "no sample at all". Records every range query.
 */
function fakeSource(
  valueAt: (entity: string, t: number) => number | undefined,
  entities = ['order-api', 'api-gateway'],
): MetricSource & { calls: RangeCall[] } {
  const calls: RangeCall[] = [];
  return {
    calls,
    instant: async () => ok([]),
    range: async (query, start, end, step): Promise<RangeResult> => {
      calls.push({ query, start, end, step });
      const narrowedTo = /service=~"([^"]*)"/.exec(query)?.[1];
      return ok(
        entities
          .filter((entity) => narrowedTo === undefined || entity === narrowedTo)
          .map((entity) => {
            const timestamps: number[] = [];
            const values: number[] = [];
            // One step past the end: a source that answers beyond what was asked must not leak into the series.
            for (let t = start; t <= end + step; t += step) {
              const value = valueAt(entity, t);
              if (value === undefined) continue;
              timestamps.push(t);
              values.push(value);
            }
            return {
              labels: { service: entity },
              timestamps: Float64Array.from(timestamps),
              values: Float64Array.from(values),
            };
          }),
      );
    },
  };
}

const failingSource = (error: MetricQueryError): MetricSource => ({
  instant: async () => fail(error),
  range: async () => fail(error),
});

const minute = (t: number) => (t - START) / 60;
/** The series' largest value: with values that are their own timestamps, the latest instant it shows. */
const latest = (series: KeySeries | null): number =>
  Math.max(...(series?.points ?? []).filter((p): p is number => p !== null));

describe('keySignal', () => {
  it('takes the root service’s signal with the highest |peakZ|, ignoring stronger ones on other services', () => {
    expect(keySignal(incident, 'order-api')?.key).toBe('request_rate{order-api}');
    expect(keySignal(incident, 'api-gateway')?.key).toBe('latency_p99{api-gateway}');
  });

  it('ranks a forecast (no z, or null after JSON) after any anomaly, and forecasts among themselves by score', () => {
    const forecast = signal('order-api', 'latency_p99', Number.NaN, 0.9, 'forecast:latency_p99{order-api}');
    const throughJson = JSON.parse(JSON.stringify(forecast)) as IncidentSignal;
    expect(throughJson.peakZ).toBeNull();
    expect(keySignal(incidentWith([throughJson, signal('order-api', 'error_ratio', 6)]), 'order-api')?.key).toBe(
      'error_ratio{order-api}',
    );
    const weaker = signal('order-api', 'error_ratio', Number.NaN, 0.4, 'forecast:error_ratio{order-api}');
    expect(keySignal(incidentWith([weaker, throughJson]), 'order-api')?.key).toBe('forecast:latency_p99{order-api}');
  });

  it('falls back to the incident’s strongest signal when the root service has none', () => {
    expect(keySignal(incident, 'mysql-main')?.key).toBe('latency_p99{api-gateway}');
  });
});

describe('readKeySeries', () => {
  it('asks for the last hour up to the last whole minute at a 60 s step, narrowed to the entity', async () => {
    const source = fakeSource((entity, t) => (entity === 'order-api' ? 100 + minute(t) : 1));
    const { keySeries, gaps } = await readKeySeries(incident, 'order-api', { source, catalog }, NOW);
    expect(source.calls).toEqual([
      {
        query: 'sum by (service) (service:http_requests:rate1m{service=~"order-api"})',
        start: START,
        end: END,
        step: 60,
      },
    ]);
    expect(gaps).toEqual([]);
    expect(keySeries?.series).toBe('request_rate{order-api} (requests per second)');
    // Oldest first, one point a minute, the last one the minute at or before now: nothing from 03:09.
    expect(keySeries?.points).toHaveLength(KEY_SERIES_POINTS);
    expect(keySeries?.points[0]).toBe(100);
    expect(keySeries?.points.at(-1)).toBe(100 + KEY_SERIES_POINTS - 1);
  });

  it('never reads past now, even on the minute', async () => {
    const source = fakeSource((_, t) => t);
    const onTheMinute = (END + 60) * 1000;
    const { keySeries } = await readKeySeries(incident, 'order-api', { source, catalog }, onTheMinute);
    expect(source.calls[0].end).toBe(END + 60);
    expect(latest(keySeries)).toBe(END + 60);
    const justBefore = await readKeySeries(incident, 'order-api', { source, catalog }, onTheMinute - 1);
    expect(latest(justBefore.keySeries)).toBe(END);
  });

  it('marks missing samples and NaN values as null gaps, in place', async () => {
    const source = fakeSource((_, t) => {
      const m = minute(t);
      if (m === 0 || (m >= 10 && m < 13)) return undefined; // a scrape gap
      if (m === 30) return Number.NaN;
      return m;
    });
    const { keySeries } = await readKeySeries(incident, 'order-api', { source, catalog }, NOW);
    const points = keySeries?.points ?? [];
    expect(points).toHaveLength(KEY_SERIES_POINTS);
    expect(points.flatMap((p, i) => (p === null ? [i] : []))).toEqual([0, 10, 11, 12, 30]);
    expect(points[9]).toBe(9);
    expect(points[13]).toBe(13);
    // JSON-safe: a Step Functions payload has no NaN.
    expect(JSON.parse(JSON.stringify(keySeries))).toEqual(keySeries);
  });

  it('shows a counter as its per-minute increase, reading one step before the window for the first one', async () => {
    const restarts = incidentWith([signal('order-api', 'restarts', 8)]);
    // Five restarts a minute, and a counter reset at minute 40.
    const source = fakeSource((_, t) => (minute(t) < 40 ? 1000 + 5 * minute(t) : 5 * (minute(t) - 39)));
    const { keySeries } = await readKeySeries(restarts, 'order-api', { source, catalog }, NOW);
    expect(source.calls[0]).toMatchObject({ start: START - 60, end: END });
    expect(keySeries?.series).toBe('restarts{order-api} (count, increase per minute)');
    expect(keySeries?.points).toHaveLength(KEY_SERIES_POINTS);
    expect(new Set(keySeries?.points)).toEqual(new Set([5]));
  });

  it('runs a query that cannot be narrowed whole and keeps only the entity’s series', async () => {
    const lagging = incidentWith([signal('order-api', 'queue_lag', 7)]);
    const source = fakeSource((entity) => (entity === 'order-api' ? 500 : 3));
    const { keySeries, gaps } = await readKeySeries(lagging, 'order-api', { source, catalog }, NOW);
    expect(source.calls[0].query).toBe(catalog.signals[4].query);
    expect(gaps).toEqual([]);
    expect(new Set(keySeries?.points)).toEqual(new Set([500]));
  });

  it('reads a forecast’s underlying signal', async () => {
    const forecastOnly = incidentWith([
      signal('order-api', 'latency_p99', Number.NaN, 0.8, 'forecast:latency_p99{order-api}'),
    ]);
    const source = fakeSource(() => 0.2);
    const { keySeries } = await readKeySeries(forecastOnly, 'order-api', { source, catalog }, NOW);
    expect(source.calls[0].query).toBe(
      'max by (service) (service:http_request_duration_seconds:p99{service=~"order-api"})',
    );
    expect(keySeries?.series).toBe('latency_p99{order-api} (seconds)');
  });

  it('turns a failed query into null and a gap naming the query, the range and the error', async () => {
    const metrics: KeyMetrics = {
      catalog,
      source: failingSource({
        kind: 'http',
        status: 503,
        query: 'ignored',
        message: 'service unavailable after 3 attempts',
      }),
    };
    const { keySeries, gaps } = await readKeySeries(incident, 'order-api', metrics, NOW);
    expect(keySeries).toBeNull();
    expect(gaps).toEqual([
      'key series: request_rate{order-api}: http 503: service unavailable after 3 attempts ' +
        '[sum by (service) (service:http_requests:rate1m{service=~"order-api"}) ' +
        'over 2026-11-04T02:09:00.000Z..2026-11-04T03:08:00.000Z step 60s]',
    ]);
  });

  it('turns a source that throws despite its contract into a gap too', async () => {
    const source: MetricSource = {
      instant: async () => ok([]),
      range: async () => {
        throw new Error('secret sre-agent/staging/mimir-token not found');
      },
    };
    const { keySeries, gaps } = await readKeySeries(incident, 'order-api', { source, catalog }, NOW);
    expect(keySeries).toBeNull();
    expect(gaps).toHaveLength(1);
    expect(gaps[0]).toMatch(
      /^key series: request_rate\{order-api\}: secret sre-agent\/staging\/mimir-token not found \[sum by/,
    );
  });

  it('reports an answer without the entity’s series, and a signal missing from the catalog, as gaps', async () => {
    const elsewhere = fakeSource(() => 1, ['api-gateway']);
    const absent = await readKeySeries(
      incidentWith([signal('order-api', 'queue_lag', 7)]),
      'order-api',
      {
        source: elsewhere,
        catalog,
      },
      NOW,
    );
    expect(absent.keySeries).toBeNull();
    expect(absent.gaps[0]).toContain('no series with service="order-api" in the answer');

    const unknown = await readKeySeries(
      incidentWith([signal('order-api', 'gc_pause', 9)]),
      'order-api',
      {
        source: elsewhere,
        catalog,
      },
      NOW,
    );
    expect(unknown).toEqual({
      keySeries: null,
      gaps: ['key series: gc_pause{order-api}: signal "gc_pause" is not in the catalog'],
    });
    expect(elsewhere.calls).toHaveLength(1);
  });
});

describe('Diagnose', () => {
  const deps = (overrides: Partial<DecideDeps> = {}): DecideDeps => ({
    graph: new ServiceGraph(topology),
    topology,
    deploysFor: async () => [],
    denyList: [],
    changeFreezeAt: () => false,
    playbooks: { playbooks: [] },
    now: () => NOW,
    ...overrides,
  });
  const theCase = { incidentId: incident.id, incident };

  it('puts the root cause’s key series in the diagnosis', async () => {
    const source = fakeSource((entity) => (entity === 'order-api' ? 7 : 1));
    const result = await diagnose(theCase, deps({ metrics: { source, catalog } }));
    expect(result.diagnosis?.rootCause.service).toBe('order-api');
    expect(result.diagnosis?.keySeries).toEqual({
      series: 'request_rate{order-api} (requests per second)',
      points: new Array(KEY_SERIES_POINTS).fill(7),
    });
    expect(result.diagnosis?.gaps?.filter((gap) => gap.startsWith('key series'))).toEqual([]);
  });

  it('always carries keySeries: null without a metric source, and null with a gap when the source fails', async () => {
    const without = await diagnose(theCase, deps());
    expect(without.diagnosis).toHaveProperty('keySeries', null);
    expect(without.diagnosis?.gaps?.filter((gap) => gap.startsWith('key series'))).toEqual([]);

    const failing = failingSource({ kind: 'unreachable', query: 'q', message: 'connect ECONNREFUSED 10.0.0.7:9090' });
    const failed = await diagnose(theCase, deps({ metrics: { source: failing, catalog } }));
    expect(failed.diagnosis?.keySeries).toBeNull();
    expect(failed.diagnosis?.rootCause.service).toBe('order-api');
    expect(failed.diagnosis?.gaps).toContainEqual(
      expect.stringMatching(/^key series: .*ECONNREFUSED 10\.0\.0\.7:9090/),
    );
  });

  it('follows the model’s root cause, and keeps the series out of its prompt', async () => {
    let prompt = '';
    const reranker = async (request: RerankRequest) => {
      prompt = JSON.stringify(request);
      const gateway = request.candidates.findIndex((c) => c.service === 'api-gateway');
      return interpretRerankAnswer(request, {
        candidateIndex: gateway,
        service: 'api-gateway',
        kind: 'dependency-outage',
        confidence: 0.7,
        explanation: 'the gateway saturated first',
        suggestedActions: [],
      });
    };
    const source = fakeSource((entity) => (entity === 'api-gateway' ? 0.25 : 7));
    const result = await diagnose(theCase, deps({ metrics: { source, catalog }, reranker }));
    expect(result.diagnosis?.method).toBe('llm');
    expect(result.diagnosis?.keySeries?.series).toBe('latency_p99{api-gateway} (seconds)');
    expect(source.calls.map((call) => call.query)).toEqual([
      'max by (service) (service:http_request_duration_seconds:p99{service=~"api-gateway"})',
    ]);
    expect(prompt).not.toContain('key series');
    expect(prompt).not.toContain('http_request_duration_seconds');
  });
});
