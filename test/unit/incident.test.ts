import { correlate, type Incident, incidentId } from '../../lambdas/core/cognition/incident';
import type { ForecastBreach, RaisedSeries } from '../../lambdas/core/cognition/scorer';
import { edgeTrafficRatio, entryPointsOf } from '../../lambdas/core/tick';
import { ServiceGraph } from '../../lambdas/core/topology';
import { testDetection, testTopology } from '../support/catalog';

const graph = new ServiceGraph(testTopology);
const T0 = Date.parse('2026-11-04T03:07:00Z') / 1000;

const raised = (entity: string, signalId = 'error_ratio', since = T0 - 120): RaisedSeries => ({
  key: `${signalId}{${entity}}`,
  signalId,
  entity,
  value: 0.09,
  expected: 0.002,
  z: 150,
  score: 1,
  since,
  hardLimitBreached: false,
  newlyRaised: true,
});

const breachForecast = (entity: string, predictedBreachAt: number, since = T0 - 600): ForecastBreach => ({
  key: `disk_free{${entity}}`,
  signalId: 'disk_free',
  entity,
  value: 0.4,
  limit: 0.05,
  side: 'below',
  predictedBreachAt,
  confidence: 0.97,
  since,
  newlyRaised: true,
});

describe('correlate', () => {
  it('opens one incident for related services raised together', () => {
    const changes = correlate(
      T0,
      { raised: [raised('api-gateway', 'error_ratio', T0 - 60), raised('order-api')] },
      [],
      graph,
      testDetection,
    );
    expect(changes.opened).toHaveLength(1);
    expect(changes.opened[0]).toMatchObject({
      id: incidentId(T0, 'order-api'),
      services: ['order-api', 'api-gateway'],
      status: 'open',
      version: 1,
      openedAt: '2026-11-04T03:07:00Z',
    });
  });

  it('opens separate incidents for unrelated services', () => {
    const changes = correlate(
      T0,
      { raised: [raised('order-api'), raised('wallet-service')] },
      [],
      graph,
      testDetection,
    );
    expect(changes.opened.map((i) => i.services)).toEqual([['order-api'], ['wallet-service']]);
  });

  it('updates an open incident instead of opening another', () => {
    const first = correlate(T0, { raised: [raised('order-api')] }, [], graph, testDetection).opened[0];
    const next = correlate(
      T0 + 60,
      { raised: [raised('order-api'), raised('api-gateway', 'latency_p99', T0)] },
      [first],
      graph,
      testDetection,
    );
    expect(next.opened).toHaveLength(0);
    expect(next.updated).toHaveLength(1);
    expect(next.updated[0]).toMatchObject({ id: first.id, version: 2, services: ['order-api', 'api-gateway'] });
  });

  it('resolves an incident after the quiet period and never re-opens it', () => {
    const first = correlate(T0, { raised: [raised('order-api')] }, [], graph, testDetection).opened[0];
    const quiet = correlate(T0 + 14 * 60, { raised: [] }, [first], graph, testDetection);
    expect(quiet.resolved).toHaveLength(0);
    const resolved = correlate(T0 + 15 * 60, { raised: [] }, [first], graph, testDetection).resolved;
    expect(resolved).toHaveLength(1);
    expect(resolved[0]).toMatchObject({ status: 'resolved', resolvedAt: '2026-11-04T03:22:00Z', version: 2 });
    const later = correlate(
      T0 + 60 * 60,
      { raised: [raised('order-api', 'error_ratio', T0 + 58 * 60)] },
      [],
      graph,
      testDetection,
    );
    expect(later.opened[0].id).not.toBe(first.id);
  });

  it('gives the same id to the same incident: a duplicated tick cannot create two', () => {
    const a = correlate(T0, { raised: [raised('order-api')] }, [], graph, testDetection).opened[0];
    const b = correlate(T0, { raised: [raised('order-api')] }, [], graph, testDetection).opened[0];
    expect(a.id).toBe(b.id);
    expect(a.id).toBe('inc-20261104T0307-order-api');
  });

  it('keeps ids within the 80 characters of an execution name, distinct for long names sharing a prefix', () => {
    const long = `settlement-reconciliation-worker-${'x'.repeat(28)}-a`; // 63: the longest DNS label
    const other = `${long.slice(0, 61)}-b`;
    expect(long).toHaveLength(63);
    const a = incidentId(T0, long);
    const b = incidentId(T0, other);
    expect(a.length).toBeLessThanOrEqual(80);
    expect(b.length).toBeLessThanOrEqual(80);
    expect(a).toMatch(/^inc-20261104T0307-settlement-reconciliation-[a-z0-9-]+-[0-9a-f]{8}$/);
    expect(a).not.toBe(b);
    expect(incidentId(T0, long)).toBe(a);
  });

  it('does not attach a related service once the correlation window has passed', () => {
    const first: Incident = correlate(T0, { raised: [raised('order-api')] }, [], graph, testDetection).opened[0];
    const later = correlate(
      T0 + 16 * 60,
      { raised: [raised('api-gateway', 'latency_p99', T0 + 14 * 60)] },
      [first],
      graph,
      testDetection,
    );
    expect(later.opened).toHaveLength(1);
    expect(later.resolved.map((i) => i.id)).toEqual([first.id]);
  });

  it('opens an incident of kind forecast when only the trend predictor raised it, with the predicted breach', () => {
    const breachAt = T0 + 4 * 3600;
    const opened = correlate(
      T0,
      { raised: [], forecasts: [breachForecast('mysql-main', breachAt)] },
      [],
      graph,
      testDetection,
    ).opened;
    expect(opened).toHaveLength(1);
    expect(opened[0]).toMatchObject({
      kind: 'forecast',
      services: ['mysql-main'],
      predictedBreachAt: '2026-11-04T07:07:00Z',
    });
    expect(opened[0].signals[0]).toMatchObject({ key: 'forecast:disk_free{mysql-main}', limit: 0.05 });

    // A later estimate moves the incident's predicted breach; an anomaly joining it does not change its kind.
    const next = correlate(
      T0 + 60,
      { raised: [raised('mysql-main', 'disk_free')], forecasts: [breachForecast('mysql-main', breachAt - 1800)] },
      opened,
      graph,
      testDetection,
    );
    expect(next.opened).toHaveLength(0);
    expect(next.updated[0]).toMatchObject({ kind: 'forecast', predictedBreachAt: '2026-11-04T06:37:00Z', version: 2 });
  });

  it('opens an anomaly incident when a forecast arrives together with an anomaly, keeping the breach time', () => {
    const opened = correlate(
      T0,
      { raised: [raised('mysql-main', 'disk_free')], forecasts: [breachForecast('mysql-main', T0 + 3 * 3600)] },
      [],
      graph,
      testDetection,
    ).opened;
    expect(opened).toHaveLength(1);
    expect(opened[0]).toMatchObject({ kind: 'anomaly', predictedBreachAt: '2026-11-04T06:07:00Z' });
  });

  it('records the traffic regime at the entry points on the incidents it opens and updates', () => {
    const opened = correlate(T0, { raised: [raised('mysql-main', 'disk_free')] }, [], graph, testDetection, 3.1).opened;
    expect(opened[0].edgeTrafficRatio).toBe(3.1);
    const next = correlate(T0 + 60, { raised: [raised('mysql-main', 'disk_free')] }, opened, graph, testDetection, 1.4);
    expect(next.updated[0].edgeTrafficRatio).toBe(1.4);
    expect(correlate(T0, { raised: [raised('order-api')] }, [], graph, testDetection).opened[0]).not.toHaveProperty(
      'edgeTrafficRatio',
    );
  });
});

describe('edgeTrafficRatio', () => {
  const expected: Record<string, number> = {
    'request_rate{api-gateway}': 1000,
    'request_rate{order-api}': 400,
    'request_rate{market-data}': 0,
  };
  const model = { expectedAtLastTick: (key: string) => expected[key] ?? Number.NaN };

  it('reads only the entry points (services nothing calls), as value over baseline', () => {
    const ratio = edgeTrafficRatio(
      model,
      [
        { signalId: 'request_rate', entity: 'api-gateway', value: 3200 },
        // order-api is called by the gateway: its traffic is a consequence, not the market.
        { signalId: 'request_rate', entity: 'order-api', value: 4000 },
        { signalId: 'error_ratio', entity: 'api-gateway', value: 0.5 },
      ],
      entryPointsOf(graph),
    );
    expect(ratio).toBe(3.2);
  });

  it('is undefined without a baseline or a value, never NaN or infinite', () => {
    // market-data's baseline expects no traffic at all: no ratio can be taken against it.
    expect(
      edgeTrafficRatio(
        model,
        [{ signalId: 'request_rate', entity: 'market-data', value: 50 }],
        new Set(['market-data']),
      ),
    ).toBe(undefined);
    expect(
      edgeTrafficRatio(
        model,
        [{ signalId: 'request_rate', entity: 'api-gateway', value: Number.NaN }],
        entryPointsOf(graph),
      ),
    ).toBe(undefined);
    expect(edgeTrafficRatio(model, [], entryPointsOf(graph))).toBe(undefined);
  });

  it('takes the entry points from the topology: the services nothing calls', () => {
    expect([...entryPointsOf(graph)]).toEqual(['api-gateway']);
  });
});
