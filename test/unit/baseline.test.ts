import { counterIncreases, learnBaseline, mad, median } from '../../lambdas/core/cognition/baseline';

const DAY = 86_400;
const T0 = Date.parse('2026-11-01T00:00:00Z') / 1000;

function seededNoise(seed: number): () => number {
  let a = seed;
  return () => {
    a = (Math.imul(a, 1664525) + 1013904223) >>> 0;
    return a / 2 ** 32 - 0.5;
  };
}

/** Three days of a daily cycle (peak at 14:00 UTC) with noise proportional to load. */
function dailySeries(days = 3, gapFrom = -1, gapMinutes = 0) {
  const noise = seededNoise(3);
  const n = days * 1440;
  const timestamps: number[] = [];
  const values: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = T0 + 60 * i;
    const load = 1 + 0.35 * Math.cos((2 * Math.PI * ((t % DAY) / 3600 - 14)) / 24);
    if (i >= gapFrom && i < gapFrom + gapMinutes) continue;
    timestamps.push(t);
    values.push(1000 * load * (1 + 0.04 * noise()));
  }
  return { timestamps, values };
}

describe('learnBaseline', () => {
  it('learns the daily cycle with STL and a scale that grows with load', () => {
    const { timestamps, values } = dailySeries();
    const b = learnBaseline('request_rate{order-api}', timestamps, values, { stepSeconds: 60, slotMinutes: 5 })!;
    expect(b.method).toBe('stl');
    expect(b.seasonal).toHaveLength(288);
    expect(b.scale).toHaveLength(24);
    const at = (hour: number) => b.level + b.seasonal[(hour * 60) / 5];
    expect(at(14)).toBeGreaterThan(1300);
    expect(at(14)).toBeLessThan(1400);
    expect(at(2)).toBeGreaterThan(600);
    expect(at(2)).toBeLessThan(700);
    expect(b.seasonalStrength).toBeGreaterThan(0.9);
    // Uniform noise of +-2% of the load: sigma ~ 1.15% of it, so larger at the peak.
    expect(b.scale[14]).toBeGreaterThan(b.scale[2]);
    expect(b.scale[14]).toBeGreaterThan(5);
    expect(b.scale[14]).toBeLessThan(25);
    expect(b.trainedUntil).toBe(T0 + 3 * DAY - 60);
  });

  it('bridges scrape gaps', () => {
    const { timestamps, values } = dailySeries(3, 2000, 45);
    const b = learnBaseline('k{x}', timestamps, values, { stepSeconds: 60, slotMinutes: 5 })!;
    expect(b.method).toBe('stl');
    expect(b.samples).toBe(3 * 1440 - 45);
  });

  it('falls back to a flat baseline with less than two days', () => {
    const { timestamps, values } = dailySeries(1);
    const b = learnBaseline('k{x}', timestamps, values, { stepSeconds: 60, slotMinutes: 5 })!;
    expect(b.method).toBe('flat');
    expect([...b.seasonal].every((s) => s === 0)).toBe(true);
  });

  it('gives a constant series a small but finite scale', () => {
    const timestamps = Array.from({ length: 3000 }, (_, i) => T0 + 60 * i);
    const b = learnBaseline('k{x}', timestamps, new Array(3000).fill(0.5), { stepSeconds: 60, slotMinutes: 5 })!;
    expect(b.level).toBeCloseTo(0.5, 6);
    expect(Math.min(...b.scale)).toBeGreaterThan(0);
  });

  it('returns nothing for a series of NaN', () => {
    expect(
      learnBaseline('k{x}', [T0, T0 + 60], [Number.NaN, Number.NaN], { stepSeconds: 60, slotMinutes: 5 }),
    ).toBeUndefined();
  });

  it('refuses a step that does not divide the slot', () => {
    expect(() => learnBaseline('k{x}', [T0], [1], { stepSeconds: 420, slotMinutes: 5 })).toThrow(RangeError);
  });
});

describe('counterIncreases', () => {
  it('turns a counter into per-step increases, treating a drop as a reset', () => {
    expect([...counterIncreases([5, 7, 10, 2, 4, Number.NaN, 9])]).toEqual([
      Number.NaN,
      2,
      3,
      2,
      2,
      Number.NaN,
      Number.NaN,
    ]);
  });
});

describe('robust statistics', () => {
  it('computes median and MAD', () => {
    expect(median(Float64Array.from([5, 1, 3]))).toBe(3);
    expect(median(Float64Array.from([4, 1, 3, 2]))).toBe(2.5);
    expect(mad(Float64Array.from([1, 2, 3, 4, 100]))).toBe(1);
  });
});
