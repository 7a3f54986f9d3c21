// The online scorers and the streaming detector on synthetic series: spikes, level shifts, ramps, a seasonal
// series with an anomaly at an otherwise normal level, gaps, flat lines; direction handling, calibration of the
// score, and that no decision looks ahead.

import { ActivityScorer } from '../../lambdas/core/cognition/detectors/activity';
import { TailCalibrator } from '../../lambdas/core/cognition/detectors/calibration';
import { ExtremeScorer } from '../../lambdas/core/cognition/detectors/extreme';
import { LevelShiftScorer } from '../../lambdas/core/cognition/detectors/level-shift';
import { RateScorer } from '../../lambdas/core/cognition/detectors/rate';
import { SeasonalScorer } from '../../lambdas/core/cognition/detectors/seasonal';
import { ShortMemoryScorer } from '../../lambdas/core/cognition/detectors/short-memory';
import {
  DEFAULT_DETECTOR_OPTIONS,
  type DetectorOverrides,
  resolveDetectorOptions,
  StreamingDetector,
} from '../../lambdas/core/cognition/detectors/streaming-detector';
import { Ring, robustScale, SortedWindow } from '../../lambdas/core/cognition/detectors/windows';
import { seededRandom as seeded } from '../support/random';

const T0 = Date.parse('2026-03-02T00:00:00Z') / 1000;
const MINUTE = 60;
const DAY = 86_400;

function gaussian(seed: number): () => number {
  const r = seeded(seed);
  return () => {
    let u = 0;
    while (u === 0) u = r();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * r());
  };
}

/** n points of level + sd * N(0, 1). */
function noise(n: number, level: number, sd: number, seed = 1): number[] {
  const g = gaussian(seed);
  return Array.from({ length: n }, () => level + sd * g());
}

/** Runs a fresh detector over values spaced `step` seconds apart. */
function run(values: readonly number[], options: DetectorOverrides = {}, step = MINUTE) {
  const detector = new StreamingDetector(options);
  return values.map((v, i) => detector.update(T0 + step * i, v));
}

const flaggedAt = (results: readonly { flagged: boolean }[]): number[] =>
  results.flatMap((r, i) => (r.flagged ? [i] : []));

/** Statistics of a scorer over a series (NaN while it warms up). */
const statistics = (scorer: { update(t: number, x: number): number }, values: readonly number[], step = MINUTE) =>
  values.map((v, i) => scorer.update(T0 + step * i, v));

const maxAbs = (xs: readonly number[]): number => xs.reduce((m, x) => Math.max(m, Math.abs(x)), 0);

describe('SortedWindow and Ring', () => {
  it('keeps the last values sorted, whatever the ties and evictions', () => {
    const r = seeded(3);
    for (const capacity of [1, 2, 7, 64]) {
      const window = new SortedWindow(capacity);
      const all: number[] = [];
      for (let i = 0; i < 3000; i++) {
        const x = Math.floor(r() * 15);
        window.push(x);
        all.push(x);
        const expected = all.slice(-capacity).sort((a, b) => a - b);
        const held = Array.from({ length: window.length }, (_, k) => window.at(k));
        expect(held).toEqual(expected);
      }
    }
  });

  it('answers quantiles, counts and a spread that survives identical values', () => {
    const window = new SortedWindow(10);
    for (const x of [5, 1, 4, 2, 3]) window.push(x);
    expect(window.quantile(0.5)).toBe(3);
    expect(window.quantile(0.25)).toBe(2);
    expect(window.countAtLeast(3)).toBe(3);
    expect(window.countEqual(4)).toBe(1);
    expect(window.min()).toBe(1);
    expect(window.max()).toBe(5);
    const idle = new SortedWindow(100);
    for (let i = 0; i < 100; i++) idle.push(i === 50 ? 10 : 0);
    expect(robustScale(idle)).toBeGreaterThan(0);
    expect(() => new SortedWindow(0)).toThrow(RangeError);
  });

  it('Ring returns recent values by lag, NaN beyond what it holds', () => {
    const ring = new Ring(3);
    for (const x of [1, 2, 3, 4]) ring.push(x);
    expect([ring.recent(0), ring.recent(1), ring.recent(2)]).toEqual([4, 3, 2]);
    expect(ring.recent(3)).toBeNaN();
  });
});

describe('TailCalibrator', () => {
  const options = { history: 1000, tailPoints: 5, minHistory: 100, minTailScale: 0.05 };

  it('is 1 until the history is long enough, then empirical inside the range', () => {
    const cal = new TailCalibrator(options);
    for (let i = 0; i < 99; i++) cal.add(i);
    expect(cal.pValue(1e9)).toBe(1);
    cal.add(99);
    expect(cal.pValue(50)).toBeCloseTo(0.5, 10);
    expect(cal.pValueLow(9)).toBeCloseTo(0.1, 10);
  });

  it('extrapolates an exponential tail beyond the largest values', () => {
    const cal = new TailCalibrator(options);
    for (let i = 0; i < 1000; i++) cal.add(i / 1000);
    const atMax = cal.pValue(1);
    const far = cal.pValue(2);
    expect(atMax).toBeLessThan(0.005);
    expect(far).toBeLessThan(atMax * 1e-6);
    expect(cal.pValueLow(-1)).toBeLessThan(1e-6);
  });

  it('with a delay, an ongoing run of extreme statistics is judged against the time before it', () => {
    const delayed = new TailCalibrator({ ...options, delay: 10 });
    const immediate = new TailCalibrator(options);
    const g = gaussian(5);
    for (let i = 0; i < 500; i++) {
      const x = g();
      delayed.add(x);
      immediate.add(x);
    }
    for (let i = 0; i < 5; i++) {
      delayed.add(8);
      immediate.add(8);
    }
    expect(delayed.pValue(8)).toBeLessThan(1e-6);
    expect(immediate.pValue(8)).toBeGreaterThan(1e-3);
  });
});

describe('scorers', () => {
  it('short memory: a spike is many spreads away, the points around it are not', () => {
    const values = noise(400, 50, 2);
    values[300] = 80;
    const z = statistics(new ShortMemoryScorer({ window: 200, minPoints: 30 }), values);
    expect(z[300]).toBeGreaterThan(10);
    expect(maxAbs(z.slice(100, 300).filter((x) => !Number.isNaN(x)))).toBeLessThan(5);
  });

  it('short memory: a flat line scores 0, and any change off it stands out', () => {
    const values = Array.from({ length: 200 }, (_, i) => (i === 150 ? 45.5 : 45));
    const z = statistics(new ShortMemoryScorer({ window: 100, minPoints: 30 }), values);
    expect(z[100]).toBe(0);
    expect(z[150]).toBeGreaterThan(1000);
  });

  it('level shift: grows over the recent window after a step, ignores a lone spike', () => {
    const values = noise(600, 10, 1, 2);
    values[200] = 30;
    for (let i = 400; i < 600; i++) values[i] += 5;
    const z = statistics(new LevelShiftScorer({ recent: 8, reference: 300, minPoints: 30 }), values);
    expect(Math.abs(z[200])).toBeLessThan(4);
    expect(z[401]).toBeLessThan(z[407]);
    // Five spreads, over all 8 recent points: 5 * sqrt(8).
    expect(z[407]).toBeGreaterThan(10);
  });

  it('rate of change: the start of a fast ramp stands out, and a gap breaks the chain', () => {
    const values = noise(400, 100, 0.5, 4);
    for (let i = 300; i < 400; i++) values[i] += 10 * (i - 299);
    const scorer = new RateScorer({ lag: 1, window: 200, minPoints: 30 });
    const z = statistics(scorer, values);
    expect(z[301]).toBeGreaterThan(10);
    expect(maxAbs(z.slice(100, 300).filter((x) => !Number.isNaN(x)))).toBeLessThan(6);
    scorer.markGap();
    expect(scorer.update(T0, 1)).toBeNaN();
  });

  it('seasonal: a daytime level at night is an anomaly though the level itself is normal', () => {
    // Hourly cycle of 5-minute points: high (80) by day, low (20) by night, with noise.
    const g = gaussian(6);
    const step = 300;
    const points = 8 * 288;
    const values = Array.from({ length: points }, (_, i) => {
      const hour = ((i * step) % DAY) / 3600;
      return (hour >= 8 && hour < 20 ? 80 : 20) + g();
    });
    const anomaly = 7 * 288 + 24; // day 8, 02:00: night, but at the daytime level
    for (let i = anomaly; i < anomaly + 6; i++) values[i] = 80 + g();
    const scorer = new SeasonalScorer(
      {
        periodSeconds: DAY,
        cycles: 4,
        neighbours: 2,
        minValues: 5,
        residualWindow: 300,
        globalSpreadFraction: 0.5,
      },
      step,
    );
    const z = statistics(scorer, values, step);
    expect(z[anomaly]).toBeGreaterThan(20);
    // Ordinary nights and days of the same week score small.
    const ordinary = z.slice(5 * 288, 7 * 288).filter((x) => !Number.isNaN(x));
    const sorted = ordinary.map(Math.abs).sort((a, b) => a - b);
    expect(sorted[Math.floor(0.99 * sorted.length)]).toBeLessThan(6);
  });

  it('extreme: the margin by which a record is broken, 0 inside the past range', () => {
    const scorer = new ExtremeScorer({ history: 1000, medianWindow: 200, minPoints: 10 });
    const values = [...Array.from({ length: 100 }, (_, i) => 10 + (i % 10)), 29, 15, 5];
    const m = statistics(scorer, values);
    // Past max 19, median ~14.5: 29 breaks the record by 10 / 4.5.
    expect(m[100]).toBeCloseTo(10 / 4.5, 1);
    expect(m[101]).toBe(0);
    expect(m[102]).toBeLessThan(0);
  });

  it('extreme: records expire with the history', () => {
    const scorer = new ExtremeScorer({ history: 50, medianWindow: 50, minPoints: 10 });
    statistics(scorer, [100, ...Array.from({ length: 60 }, (_, i) => i % 5)]);
    expect(scorer.update(T0, 10)).toBeGreaterThan(0);
  });

  it('activity: a flat series that starts oscillating becomes busier', () => {
    const values = [...noise(300, 33, 0.05, 7), ...Array.from({ length: 50 }, (_, i) => (i % 6 < 3 ? 36 : 33))];
    const a = statistics(new ActivityScorer({ window: 20 }), values);
    expect(a[340]).toBeGreaterThan(a[290] + 2);
  });
});

describe('StreamingDetector', () => {
  it('flags a spike on a noisy series at the spike; the noise alone raises few flags', () => {
    const values = noise(3000, 50, 2, 8);
    values[2000] = 90;
    const flags = flaggedAt(run(values));
    expect(flags).toContain(2000);
    // The default parameters are tuned for NAB, where a false alarm costs a ninth of a missed anomaly: on pure
    // Gaussian noise they still raise about two flags per thousand points (mostly early records and short runs).
    expect(flags.length).toBeLessThanOrEqual(9);
  });

  it('flags a level shift within a few points of its start', () => {
    const values = noise(3000, 50, 2, 9);
    for (let i = 2000; i < 3000; i++) values[i] += 8;
    const flags = flaggedAt(run(values)).filter((i) => i >= 2000);
    expect(flags[0]).toBeLessThanOrEqual(2010);
  });

  it('flags a ramp before it leaves the past range by much', () => {
    const values = noise(3000, 50, 1, 10);
    for (let i = 2000; i < 3000; i++) values[i] += 0.5 * (i - 1999);
    const flags = flaggedAt(run(values)).filter((i) => i >= 2000);
    expect(flags[0]).toBeLessThanOrEqual(2015);
  });

  it('flags a day that misses its daily rise (values at an otherwise normal level)', () => {
    const g = gaussian(11);
    const step = 300;
    const values = Array.from({ length: 10 * 288 }, (_, i) => {
      const hour = ((i * step) % DAY) / 3600;
      const day = Math.floor(i / 288);
      const high = hour >= 8 && hour < 20 && day !== 8;
      return (high ? 80 : 20) + 2 * g();
    });
    const flags = flaggedAt(run(values, {}, step));
    const riseOfDay8 = 8 * 288 + 96; // 08:00 of day 8
    expect(flags.some((i) => i >= riseOfDay8 && i <= riseOfDay8 + 12)).toBe(true);
  });

  it('never flags a flat line, and scores it 0', () => {
    const results = run(Array.from({ length: 3000 }, () => 45));
    expect(flaggedAt(results)).toEqual([]);
    expect(results.every((r) => r.score === 0)).toBe(true);
  });

  it('skips NaN values and survives gaps and irregular timestamps', () => {
    const values = noise(3000, 50, 2, 12);
    for (let i = 500; i < 600; i++) values[i] = Number.NaN;
    values[2500] = 95;
    const detector = new StreamingDetector();
    const jitter = seeded(13);
    const results = values.map((v, i) => {
      // Irregular spacing, and a two-hour hole after point 1500.
      const t = T0 + 60 * i + Math.floor(20 * jitter()) + (i > 1500 ? 7200 : 0);
      return detector.update(t, v);
    });
    for (let i = 500; i < 600; i++) expect(results[i]).toMatchObject({ score: 0, flagged: false });
    expect(flaggedAt(results)).toContain(2500);
    expect(detector.update(Number.NaN, 1)).toMatchObject({ score: 0, flagged: false });
    expect(detector.update(T0 + 1e6, Number.POSITIVE_INFINITY)).toMatchObject({ score: 0, flagged: false });
  });

  it('direction: up-only ignores a drop, down-only ignores a spike, both catches both', () => {
    const values = noise(3000, 50, 2, 14);
    values[1500] = 10;
    values[2500] = 90;
    const up = flaggedAt(run(values, { direction: 'up' }));
    const down = flaggedAt(run(values, { direction: 'down' }));
    const both = flaggedAt(run(values, { direction: 'both' }));
    expect(up).toContain(2500);
    expect(up).not.toContain(1500);
    expect(down).toContain(1500);
    expect(down).not.toContain(2500);
    expect(both).toEqual(expect.arrayContaining([1500, 2500]));
  });

  it('hard limits score 1 whatever the history', () => {
    const values = noise(1000, 50, 2, 15);
    values[800] = 58; // unremarkable statistically, but above the limit
    const results = run(values, { upperLimit: 57.5, lowerLimit: 0 });
    expect(results[800].score).toBe(1);
    expect(results[800].flagged).toBe(true);
  });

  it('one anomaly, one flag: the refractory period silences the points right after a flag', () => {
    const values = noise(3000, 50, 2, 16);
    values[2000] = 100;
    values[2010] = 110;
    const flags = flaggedAt(run(values));
    expect(flags).toContain(2000);
    expect(flags).not.toContain(2010);
    const eager = flaggedAt(run(values, { refractoryPoints: 0 }));
    expect(eager).toEqual(expect.arrayContaining([2000, 2010]));
  });

  it('scores in [0, 1]: low on pure noise (P(score >= 1 - a) about a or less), high on anomalies', () => {
    for (const seed of [17, 18]) {
      const values = noise(5000, 100, 5, seed);
      const scores = run(values)
        .slice(500)
        .map((r) => r.score);
      expect(scores.every((s) => s >= 0 && s <= 1)).toBe(true);
      for (const a of [0.5, 0.1, 0.02]) {
        const fraction = scores.filter((s) => s >= 1 - a).length / scores.length;
        expect(fraction).toBeLessThanOrEqual(1.2 * a);
      }
      expect(scores.reduce((x, y) => x + y, 0) / scores.length).toBeLessThan(0.2);
    }
    const values = noise(3000, 100, 5, 19);
    values[2000] = 160;
    const results = run(values);
    expect(results[2000].score).toBeGreaterThan(0.999);
    expect(results[2000].components.extreme).toBeGreaterThan(0.999);
  });

  it('does not look ahead: appending points never changes the decisions already made', () => {
    const g = gaussian(20);
    const values = Array.from({ length: 2500 }, (_, i) => 50 + 10 * Math.sin((2 * Math.PI * i) / 1440) + g());
    values[1200] = 90;
    for (let i = 1800; i < 2500; i++) values[i] += 6;
    const full = run(values);
    for (const cut of [700, 1200, 1201, 1805, 2200]) {
      const prefix = run(values.slice(0, cut));
      expect(prefix.map((r) => [r.score, r.flagged])).toEqual(full.slice(0, cut).map((r) => [r.score, r.flagged]));
    }
  });

  it('reports the step it estimated and every scorer as a component', () => {
    const detector = new StreamingDetector();
    let last = detector.update(T0, 1);
    for (let i = 1; i < 400; i++) last = detector.update(T0 + 300 * i, 1 + (i % 7));
    expect(detector.stepSeconds).toBe(300);
    expect(Object.keys(last.components).sort()).toEqual(
      ['activity', 'extreme', 'levelShift', 'rate', 'seasonal', 'seasonalShift', 'shortMemory'].sort(),
    );
  });

  it('takes partial scorer options and leaves out scorers set to null', () => {
    const options = resolveDetectorOptions({ levelShift: { persistence: 2 }, rate: null });
    expect(options.levelShift).toEqual({ ...DEFAULT_DETECTOR_OPTIONS.levelShift, persistence: 2 });
    expect(options.rate).toBeNull();
    const detector = new StreamingDetector({ rate: null, seasonal: null, seasonalShift: null });
    let last = detector.update(T0, 1);
    for (let i = 1; i < 200; i++) last = detector.update(T0 + 60 * i, i % 3);
    expect(Object.keys(last.components)).not.toContain('rate');
    expect(Object.keys(last.components)).not.toContain('seasonal');
  });
});
