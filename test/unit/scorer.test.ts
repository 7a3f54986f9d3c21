import type { SeriesBaseline } from '../../lambdas/core/cognition/baseline';
import { anomalyScore, ScoringModel, scorerSettings } from '../../lambdas/core/cognition/scorer';
import { signalCatalogSchema } from '../../lambdas/core/config/schema';
import { testCatalog, testDetection } from '../support/catalog';

const settings = scorerSettings(testDetection); // threshold 5, persistence 3, clear 5, 5-minute slots
const T0 = Date.parse('2026-11-04T03:00:00Z') / 1000;

function flatBaseline(key: string, level: number, sigma: number): SeriesBaseline {
  return {
    key,
    slotMinutes: 5,
    seasonal: new Float32Array(288),
    scale: new Float32Array(24).fill(sigma),
    level,
    trainedUntil: T0 - 60,
    samples: 4320,
    seasonalStrength: 0,
    method: 'flat',
  };
}

function model(): ScoringModel {
  const m = new ScoringModel(testCatalog.signals, settings, 16);
  m.setBaseline(flatBaseline('error_ratio{order-api}', 0.002, 0.0005));
  m.setBaseline(flatBaseline('latency_p99{order-api}', 0.04, 0.002));
  m.setBaseline(flatBaseline('request_rate{order-api}', 900, 30));
  return m;
}

describe('ScoringModel', () => {
  it('raises a series only after three anomalous ticks in a row', () => {
    const m = model();
    const t = (k: number) => T0 + 60 * k;
    expect(m.score(t(0), [{ signalId: 'error_ratio', entity: 'order-api', value: 0.09 }]).raised).toHaveLength(0);
    expect(m.score(t(1), [{ signalId: 'error_ratio', entity: 'order-api', value: 0.09 }]).raised).toHaveLength(0);
    const third = m.score(t(2), [{ signalId: 'error_ratio', entity: 'order-api', value: 0.09 }]);
    expect(third.raised).toHaveLength(1);
    expect(third.raised[0]).toMatchObject({ key: 'error_ratio{order-api}', newlyRaised: true, since: t(0) });
    expect(third.raised[0].z).toBeGreaterThan(100);
  });

  it('ignores a one-minute blip', () => {
    const m = model();
    const points = (v: number) => [{ signalId: 'latency_p99', entity: 'order-api', value: v }];
    expect(m.score(T0, points(0.08)).anomalous).toBe(1);
    for (let k = 1; k < 10; k++) expect(m.score(T0 + 60 * k, points(0.04)).raised).toHaveLength(0);
  });

  it('only judges the bad direction: falling latency is fine, falling traffic is not', () => {
    const m = model();
    const low = [
      { signalId: 'latency_p99', entity: 'order-api', value: 0.001 },
      { signalId: 'request_rate', entity: 'order-api', value: 10 },
    ];
    let last = m.score(T0, low);
    for (let k = 1; k < 3; k++) last = m.score(T0 + 60 * k, low);
    expect(last.raised.map((r) => r.signalId)).toEqual(['request_rate']);
  });

  it('raises on a hard limit even without a baseline', () => {
    const m = model();
    const points = [{ signalId: 'latency_p99', entity: 'matching-engine', value: 0.02 }];
    let last = m.score(T0, points);
    for (let k = 1; k < 3; k++) last = m.score(T0 + 60 * k, points);
    expect(last.raised).toHaveLength(1);
    expect(last.raised[0]).toMatchObject({ entity: 'matching-engine', hardLimitBreached: true });
  });

  it('treats gaps and NaN as neither confirming nor clearing', () => {
    const m = model();
    const bad = [{ signalId: 'error_ratio', entity: 'order-api', value: 0.09 }];
    m.score(T0, bad);
    m.score(T0 + 60, bad);
    const gap = m.score(T0 + 120, [{ signalId: 'error_ratio', entity: 'order-api', value: Number.NaN }]);
    expect(gap.missing).toBeGreaterThan(0);
    expect(gap.raised).toHaveLength(0);
    expect(m.score(T0 + 180, bad).raised).toHaveLength(1);
  });

  it('clears a raised series after five normal ticks', () => {
    const m = model();
    const bad = [{ signalId: 'error_ratio', entity: 'order-api', value: 0.09 }];
    const good = [{ signalId: 'error_ratio', entity: 'order-api', value: 0.002 }];
    for (let k = 0; k < 3; k++) m.score(T0 + 60 * k, bad);
    const cleared: string[] = [];
    for (let k = 3; k < 8; k++) cleared.push(...m.score(T0 + 60 * k, good).cleared);
    expect(cleared).toEqual(['error_ratio{order-api}']);
  });

  it('scores a series without baseline against its own recent history after a warm-up', () => {
    const m = model();
    const key = { signalId: 'request_rate', entity: 'market-data' };
    for (let k = 0; k < 40; k++) m.score(T0 + 60 * k, [{ ...key, value: 3000 + (k % 2 ? 20 : -20) }]);
    let last = m.score(T0 + 60 * 40, [{ ...key, value: 9000 }]);
    expect(last.anomalous).toBe(1);
    for (let k = 41; k < 43; k++) last = m.score(T0 + 60 * k, [{ ...key, value: 9000 }]);
    expect(last.raised.map((r) => r.entity)).toEqual(['market-data']);
  });

  it('follows a slow drift of the level without raising', () => {
    const m = model();
    let raised = 0;
    for (let k = 0; k < 600; k++) {
      const value = 900 + k * 0.3; // +180 rps over ten hours, six sigmas in all
      raised += m.score(T0 + 60 * k, [{ signalId: 'request_rate', entity: 'order-api', value }]).raised.length;
    }
    expect(raised).toBe(0);
  });

  it('survives a snapshot and restore', () => {
    const a = model();
    const bad = [{ signalId: 'error_ratio', entity: 'order-api', value: 0.09 }];
    a.score(T0, bad);
    a.score(T0 + 60, bad);
    const b = model();
    b.restore(a.snapshot());
    expect(b.lastTickTime).toBe(T0 + 60);
    expect(b.score(T0 + 120, bad).raised).toHaveLength(1);
  });

  it('grows past its initial capacity without losing baselines', () => {
    const m = new ScoringModel(testCatalog.signals, settings, 16);
    for (let i = 0; i < 100; i++) m.setBaseline(flatBaseline(`request_rate{svc-${i}}`, 100 + i, 5));
    expect(m.size).toBe(100);
    const points = Array.from({ length: 100 }, (_, i) => ({
      signalId: 'request_rate',
      entity: `svc-${i}`,
      value: 100 + i,
    }));
    const result = m.score(T0, points);
    expect(result.scored).toBe(100);
    expect(result.anomalous).toBe(0);
    points[57] = { ...points[57], value: 400 };
    expect(m.score(T0 + 60, points).anomalous).toBe(1);
  });

  it('judges a counter on its per-tick increase, surviving a reset', () => {
    const catalog = [
      {
        id: 'restarts_total',
        query: 'x',
        entityLabel: 'service',
        unit: 'count' as const,
        badDirection: 'up' as const,
        kind: 'counter' as const,
        minDeviation: 0,
        limits: {},
        drift: true,
      },
    ];
    const m = new ScoringModel(catalog, settings, 16);
    const key = { signalId: 'restarts_total', entity: 'order-api' };
    let total = 1000;
    // Forty minutes of a steady 10 a tick: the raw total climbs, the increase does not.
    for (let k = 0; k < 40; k++) {
      total += 10 + (k % 2);
      expect(m.score(T0 + 60 * k, [{ ...key, value: total }]).anomalous).toBe(0);
    }
    // A counter reset (process restart) is not an anomaly: the increase since the reset is small.
    total = 12;
    let last = m.score(T0 + 60 * 40, [{ ...key, value: total }]);
    expect(last.anomalous).toBe(0);
    for (let k = 41; k < 44; k++) {
      total += 500;
      last = m.score(T0 + 60 * k, [{ ...key, value: total }]);
    }
    expect(last.raised.map((r) => r.key)).toEqual(['restarts_total{order-api}']);
    expect(last.raised[0].value).toBe(500);
  });

  it('maps z to a score of one half at the threshold', () => {
    expect(anomalyScore(5, 5)).toBeCloseTo(0.5);
    expect(anomalyScore(0, 5)).toBe(0);
    expect(anomalyScore(20, 5)).toBeGreaterThan(0.99);
  });
});

describe('drift detection (signals with drift: true)', () => {
  const memory = signalCatalogSchema.parse({
    signals: [
      {
        id: 'memory_utilisation',
        query: 'max by (service) (service:container_memory_working_set:ratio)',
        unit: 'ratio',
        badDirection: 'up',
        minDeviation: 0.05,
        drift: true,
      },
    ],
  }).signals;
  const leakModel = () => {
    const m = new ScoringModel(memory, settings, 4);
    m.setBaseline(flatBaseline('memory_utilisation{order-api}', 0.45, 0.01));
    return m;
  };
  const noise = seeded(7);
  const point = (value: number) => [{ signalId: 'memory_utilisation', entity: 'order-api', value }];

  it('raises a steady climb before any single point is five sigmas out', () => {
    const m = leakModel();
    let raisedAt: number | undefined;
    for (let k = 0; k < 30 && raisedAt === undefined; k++) {
      // Half a sigma a minute, as a leak that fills the container in two hours.
      const value = 0.45 + 0.0045 * k + 0.01 * noise();
      if (m.score(T0 + 60 * k, point(value)).raised.length > 0) raisedAt = k;
    }
    expect(raisedAt).toBeDefined();
    // The plain rule (five sigmas and the 0.05 minimum, then three ticks) would wait for minute 13 or later.
    expect(raisedAt).toBeLessThanOrEqual(10);
  });

  it('leaves noise, a one-minute spike and a step down alone', () => {
    const m = leakModel();
    let raised = 0;
    for (let k = 0; k < 3000; k++) {
      let value = 0.45 + 0.01 * noise();
      if (k === 500) value = 0.6; // a spike
      if (k > 2000) value -= 0.1; // pods restarted: memory drops
      raised += m.score(T0 + 60 * k, point(value)).raised.length;
    }
    expect(raised).toBe(0);
  });
});

/** Deterministic standard-normal-ish noise (sum of uniforms), so the test sees the same points every run. */
function seeded(seed: number): () => number {
  let state = seed;
  const uniform = () => {
    state = (state * 1_103_515_245 + 12_345) % 2_147_483_648;
    return state / 2_147_483_648;
  };
  return () => {
    let sum = 0;
    for (let i = 0; i < 12; i++) sum += uniform();
    return sum - 6;
  };
}
