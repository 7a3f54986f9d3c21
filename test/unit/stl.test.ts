// STL against the reference decompositions (statsmodels' STL, a port of the original stl.f) and its input checks.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import {
  resolveStlOptions,
  rJumps,
  StlInputError,
  type StlOptions,
  type StlResult,
  stl,
} from '../../lambdas/core/cognition/stl';

const FIXTURES = join(__dirname, '..', 'fixtures', 'stl');
/** Max abs difference relative to the series' range that every output must stay within. */
const TOLERANCE = 1e-6;

interface ReferenceConfig {
  period: number;
  seasonal: number;
  seasonal_deg: 0 | 1;
  seasonal_jump: number;
  trend: number;
  trend_deg: 0 | 1;
  trend_jump: number;
  low_pass: number;
  low_pass_deg: 0 | 1;
  low_pass_jump: number;
  robust: boolean;
  inner_iter: number;
  outer_iter: number;
  n: number;
}

const configs: Record<string, ReferenceConfig> = JSON.parse(readFileSync(join(FIXTURES, 'stl_config.json'), 'utf8'));

/** Columns of a gzipped CSV fixture, by header name. */
function readCsv(file: string): Record<string, Float64Array> {
  const lines = gunzipSync(readFileSync(join(FIXTURES, `${file}.gz`)))
    .toString('utf8')
    .trim()
    .split('\n');
  const header = lines[0].split(',');
  const columns = header.map(() => new Float64Array(lines.length - 1));
  for (let i = 1; i < lines.length; i++) {
    const cells = lines[i].split(',');
    for (let c = 0; c < header.length; c++) columns[c][i - 1] = Number(cells[c]);
  }
  return Object.fromEntries(header.map((name, c) => [name, columns[c]]));
}

const seriesCache = new Map<string, Float64Array>();
function series(resolution: string): Float64Array {
  let y = seriesCache.get(resolution);
  if (!y) {
    y = readCsv(`stl_series_${resolution}.csv`).value;
    seriesCache.set(resolution, y);
  }
  return y;
}

function optionsOf(c: ReferenceConfig): StlOptions {
  return {
    period: c.period,
    seasonal: c.seasonal,
    trend: c.trend,
    lowPass: c.low_pass,
    seasonalDeg: c.seasonal_deg,
    trendDeg: c.trend_deg,
    lowPassDeg: c.low_pass_deg,
    seasonalJump: c.seasonal_jump,
    trendJump: c.trend_jump,
    lowPassJump: c.low_pass_jump,
    robust: c.robust,
    innerIterations: c.inner_iter,
    outerIterations: c.outer_iter,
  };
}

function maxRelativeDiff(actual: Float64Array, expected: Float64Array, range: number): number {
  expect(actual).toHaveLength(expected.length);
  let worst = 0;
  for (let i = 0; i < expected.length; i++) {
    const d = Math.abs(actual[i] - expected[i]);
    // NaN must fail, so compare with ! rather than relying on Math.max.
    if (!(d <= worst)) worst = d;
  }
  return worst / range;
}

function rangeOf(y: Float64Array): number {
  let lo = Number.POSITIVE_INFINITY;
  let hi = Number.NEGATIVE_INFINITY;
  for (const v of y) {
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  return hi - lo;
}

describe('stl matches the reference decompositions', () => {
  // All eight references, exact (jump 1) and with R's jumps. The exact robust one-minute case is the slowest
  // (a few seconds): it stays in because it is the daily job's exact mode.
  it.each(Object.keys(configs))('%s', (name) => {
    const c = configs[name];
    const y = series(name.split('_')[0]);
    expect(y).toHaveLength(c.n);
    const ref = readCsv(`stl_out_${name}.csv`);
    const result: StlResult = stl(y, optionsOf(c));
    const range = rangeOf(y);
    const diffs = {
      trend: maxRelativeDiff(result.trend, ref.trend, range),
      seasonal: maxRelativeDiff(result.seasonal, ref.seasonal, range),
      resid: maxRelativeDiff(result.resid, ref.resid, range),
      weights: maxRelativeDiff(result.weights, ref.robust_weight, range),
    };
    // Listing the failing components (with their differences) makes a failure say which output drifted.
    expect(Object.entries(diffs).filter(([, diff]) => !(diff < TOLERANCE))).toEqual([]);
    if (!c.robust) expect(result.weights.every((w) => w === 1)).toBe(true);
  });

  it('uses the reference defaults for windows, degrees and iterations', () => {
    for (const c of Object.values(configs)) {
      const resolved = resolveStlOptions({ period: c.period, robust: c.robust });
      expect(resolved).toEqual({
        period: c.period,
        seasonal: c.seasonal,
        trend: c.trend,
        lowPass: c.low_pass,
        seasonalDeg: c.seasonal_deg,
        trendDeg: c.trend_deg,
        lowPassDeg: c.low_pass_deg,
        seasonalJump: 1,
        trendJump: 1,
        lowPassJump: 1,
        robust: c.robust,
        innerIterations: c.inner_iter,
        outerIterations: c.outer_iter,
      });
    }
  });

  it("gives R's jumps (ceil(window / 10)) as used by the _rjump references", () => {
    for (const [name, c] of Object.entries(configs)) {
      if (!name.endsWith('_rjump')) continue;
      expect(rJumps({ period: c.period })).toEqual({
        seasonalJump: c.seasonal_jump,
        trendJump: c.trend_jump,
        lowPassJump: c.low_pass_jump,
      });
    }
    expect(rJumps({ period: 12, seasonal: 13, trend: 23, lowPass: 13 })).toEqual({
      seasonalJump: 2,
      trendJump: 3,
      lowPassJump: 2,
    });
  });

  it('with defaults and jumps spread in, equals the explicit reference options', () => {
    const c = configs['5min_robust_rjump'];
    const y = series('5min');
    const base = { period: c.period, robust: true };
    const viaDefaults = stl(y, { ...base, ...rJumps(base) });
    const explicit = stl(y, optionsOf(c));
    // Bit-identical: same options after defaults, so the same arithmetic.
    expect(maxRelativeDiff(viaDefaults.trend, explicit.trend, 1)).toBe(0);
    expect(maxRelativeDiff(viaDefaults.seasonal, explicit.seasonal, 1)).toBe(0);
    expect(maxRelativeDiff(viaDefaults.weights, explicit.weights, 1)).toBe(0);
  });
});

interface EdgeCase {
  name: string;
  y: number[];
  period: number;
  kwargs: Record<string, number | boolean>;
  fit: { inner_iter?: number; outer_iter?: number };
  trend: number[];
  seasonal: number[];
  resid: number[];
  weights: number[];
}

describe('stl matches statsmodels on the option paths the references leave out', () => {
  // Small series decomposed by statsmodels 0.13.5 (stl_edge_cases.json.gz): degree 0 smoothers, seasonal
  // jumps, jumps past the series' end, trend windows longer than the series, seasonal windows longer than the
  // number of cycles, custom iteration counts, a flat stretch, period 2 and a partial last cycle.
  const cases: EdgeCase[] = JSON.parse(
    gunzipSync(readFileSync(join(FIXTURES, 'stl_edge_cases.json.gz'))).toString('utf8'),
  );
  const camel: Record<string, keyof StlOptions> = {
    seasonal: 'seasonal',
    trend: 'trend',
    low_pass: 'lowPass',
    seasonal_deg: 'seasonalDeg',
    trend_deg: 'trendDeg',
    low_pass_deg: 'lowPassDeg',
    seasonal_jump: 'seasonalJump',
    trend_jump: 'trendJump',
    low_pass_jump: 'lowPassJump',
    robust: 'robust',
  };

  it.each(cases.map((c) => [c.name, c] as const))('%s', (_name, c) => {
    const options: Record<string, unknown> = { period: c.period };
    for (const [key, value] of Object.entries(c.kwargs)) options[camel[key]] = value;
    if (c.fit.inner_iter !== undefined) options.innerIterations = c.fit.inner_iter;
    if (c.fit.outer_iter !== undefined) options.outerIterations = c.fit.outer_iter;
    const result = stl(c.y, options as unknown as StlOptions);
    const y = Float64Array.from(c.y);
    const range = rangeOf(y);
    const diffs = {
      trend: maxRelativeDiff(result.trend, Float64Array.from(c.trend), range),
      seasonal: maxRelativeDiff(result.seasonal, Float64Array.from(c.seasonal), range),
      resid: maxRelativeDiff(result.resid, Float64Array.from(c.resid), range),
      weights: maxRelativeDiff(result.weights, Float64Array.from(c.weights), range),
    };
    expect(Object.entries(diffs).filter(([, diff]) => !(diff < TOLERANCE))).toEqual([]);
  });
});

describe('stl on simple series', () => {
  it('splits trend + seasonal + resid back into the input and leaves the input untouched', () => {
    const y = Array.from({ length: 200 }, (_, i) => 5 + 0.1 * i + Math.sin((2 * Math.PI * i) / 12) + (i % 7) * 0.01);
    const copy = [...y];
    const r = stl(y, { period: 12, robust: true });
    expect(y).toEqual(copy);
    for (let i = 0; i < y.length; i++) {
      expect(r.trend[i] + r.seasonal[i] + r.resid[i]).toBeCloseTo(y[i], 12);
    }
  });

  it('decomposes a constant series into a flat trend and no seasonal', () => {
    const r = stl(new Float64Array(96).fill(42), { period: 24 });
    for (let i = 0; i < 96; i++) {
      expect(r.trend[i]).toBeCloseTo(42, 10);
      expect(r.seasonal[i]).toBeCloseTo(0, 10);
    }
  });

  it('keeps unit weights when the residuals are all zero (zero scale)', () => {
    const r = stl(new Float64Array(96), { period: 24, robust: true });
    expect(r.weights.every((w) => w === 1)).toBe(true);
    expect(r.trend.every((v) => v === 0)).toBe(true);
  });

  it('gives outliers zero weight when robust', () => {
    const y = Array.from({ length: 240 }, (_, i) => 10 + Math.sin((2 * Math.PI * i) / 24) + 0.05 * Math.cos(i * 1.7));
    y[100] += 50;
    const r = stl(y, { period: 24, robust: true });
    expect(r.weights[100]).toBe(0);
    expect(r.resid[100]).toBeGreaterThan(45);
    expect(Math.abs(r.trend[100] - 10)).toBeLessThan(0.5);
  });
});

describe('StlInputError', () => {
  const y = Array.from({ length: 100 }, (_, i) => Math.sin(i));

  const cases: [string, ArrayLike<number>, StlOptions, RegExp][] = [
    [
      'NaN in the input',
      [...y.slice(0, 10), Number.NaN, ...y.slice(11)],
      { period: 12 },
      /y\[10\] must be a finite number/,
    ],
    ['Infinity in the input', [...y.slice(0, 3), Number.POSITIVE_INFINITY, ...y.slice(4)], { period: 12 }, /y\[3\]/],
    ['fewer than two cycles', y.slice(0, 47), { period: 24 }, /at least 2 \* period = 48 .*got 47/],
    ['period below 2', y, { period: 1 }, /period must be an integer >= 2/],
    ['fractional period', y, { period: 12.5 }, /period must be an integer/],
    ['even seasonal window', y, { period: 12, seasonal: 8 }, /seasonal must be an odd integer >= 3 \(got 8\)/],
    ['seasonal window below 3', y, { period: 12, seasonal: 1 }, /seasonal must be an odd integer >= 3/],
    ['even trend window', y, { period: 12, trend: 20 }, /trend must be an odd integer/],
    ['trend window not above period', y, { period: 12, trend: 11 }, /trend must be greater than period 12/],
    ['even low-pass window', y, { period: 12, lowPass: 14 }, /lowPass must be an odd integer/],
    ['low-pass window not above period', y, { period: 13, lowPass: 13 }, /lowPass must be greater than period 13/],
    ['degree 2', y, { period: 12, trendDeg: 2 as 0 }, /trendDeg must be 0 or 1 \(got 2\)/],
    ['zero jump', y, { period: 12, lowPassJump: 0 }, /lowPassJump must be an integer >= 1 \(got 0\)/],
    ['fractional jump', y, { period: 12, seasonalJump: 1.5 }, /seasonalJump must be an integer >= 1/],
    ['no inner iterations', y, { period: 12, innerIterations: 0 }, /innerIterations must be an integer >= 1/],
    ['negative outer iterations', y, { period: 12, outerIterations: -1 }, /outerIterations must be an integer >= 0/],
  ];

  it.each(cases)('%s', (_label, input, options, message) => {
    let caught: unknown;
    try {
      stl(input, options);
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(StlInputError);
    expect(caught).toBeInstanceOf(Error);
    expect((caught as Error).name).toBe('StlInputError');
    expect((caught as Error).message).toMatch(message);
  });

  it('rJumps validates the windows it derives jumps from', () => {
    expect(() => rJumps({ period: 12, trend: 10 })).toThrow(StlInputError);
  });
});
