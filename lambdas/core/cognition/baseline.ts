// Learns one series' normal behaviour from history: STL daily seasonality, the current level, and a robust
// residual scale per hour of day (noise grows with load, so one global scale would page at every peak).

import { rJumps, stl } from './stl';

export const SECONDS_PER_DAY = 86_400;
export const HOURS_PER_DAY = 24;
/** MAD to standard deviation for normal data. */
const MAD_TO_SIGMA = 1.4826;

/** What the scorer needs to judge a new point of one series. */
export interface SeriesBaseline {
  readonly key: string;
  readonly slotMinutes: number;
  /** Seasonal offset per slot of the UTC day (length 1440 / slotMinutes). */
  readonly seasonal: Float32Array;
  /** Robust residual scale (sigma) per UTC hour. */
  readonly scale: Float32Array;
  /** Trend at the end of the history: the starting level for the scorer. */
  readonly level: number;
  /** Epoch seconds of the last history point. */
  readonly trainedUntil: number;
  /** Points of real data (not gaps) the baseline was learned from. */
  readonly samples: number;
  /** 0..1: how much of the variation the daily cycle explains (Wang, Smith & Hyndman 2006). */
  readonly seasonalStrength: number;
  readonly method: 'stl' | 'flat';
}

export interface LearnOptions {
  readonly stepSeconds: number;
  readonly slotMinutes: number;
}

/** Fewer real points than this (per day of period) and the daily cycle is not learned. */
const MIN_COVERAGE = 0.6;

/**
 * Learns a baseline from samples at (roughly) regular `stepSeconds` spacing; gaps and NaN are allowed.
 * With at least two full days of data the daily cycle comes from a robust STL; otherwise the series is
 * treated as flat around its recent median.
 */
export function learnBaseline(
  key: string,
  timestamps: ArrayLike<number>,
  values: ArrayLike<number>,
  options: LearnOptions,
): SeriesBaseline | undefined {
  const { stepSeconds, slotMinutes } = options;
  if (SECONDS_PER_DAY % stepSeconds !== 0 || (slotMinutes * 60) % stepSeconds !== 0) {
    throw new RangeError(`step ${stepSeconds}s must divide a day and the ${slotMinutes}-minute slot`);
  }
  const grid = toRegularGrid(timestamps, values, stepSeconds);
  if (!grid || grid.real < 10) return undefined;
  const period = SECONDS_PER_DAY / stepSeconds;
  const slots = (24 * 60) / slotMinutes;
  const days = grid.values.length / period;
  if (days >= 2 && grid.real >= MIN_COVERAGE * grid.values.length) {
    return learnSeasonal(key, grid, period, slots, options);
  }
  return learnFlat(key, grid, slots, options);
}

interface RegularGrid {
  /** Epoch seconds of index 0. */
  readonly start: number;
  readonly values: Float64Array;
  /** 1 where the value is real, 0 where it was a gap. */
  readonly present: Uint8Array;
  readonly real: number;
}

function toRegularGrid(
  timestamps: ArrayLike<number>,
  values: ArrayLike<number>,
  step: number,
): RegularGrid | undefined {
  let first = Number.POSITIVE_INFINITY;
  let last = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < timestamps.length; i++) {
    if (!Number.isFinite(values[i])) continue;
    if (timestamps[i] < first) first = timestamps[i];
    if (timestamps[i] > last) last = timestamps[i];
  }
  if (!Number.isFinite(first)) return undefined;
  const start = Math.floor(first / step) * step;
  const n = Math.floor((last - start) / step) + 1;
  const grid = new Float64Array(n).fill(Number.NaN);
  const present = new Uint8Array(n);
  let real = 0;
  for (let i = 0; i < timestamps.length; i++) {
    const v = values[i];
    if (!Number.isFinite(v)) continue;
    const j = Math.round((timestamps[i] - start) / step);
    if (j < 0 || j >= n) continue;
    if (!present[j]) real++;
    grid[j] = v;
    present[j] = 1;
  }
  interpolateGaps(grid);
  return { start, values: grid, present, real };
}

/** Linear interpolation across gaps; edges take the nearest real value. STL needs a gap-free series. */
function interpolateGaps(values: Float64Array): void {
  let lastReal = -1;
  for (let i = 0; i < values.length; i++) {
    if (Number.isNaN(values[i])) continue;
    if (lastReal === -1 && i > 0) values.fill(values[i], 0, i);
    else if (lastReal >= 0 && i - lastReal > 1) {
      const a = values[lastReal];
      const b = values[i];
      for (let k = lastReal + 1; k < i; k++) values[k] = a + ((b - a) * (k - lastReal)) / (i - lastReal);
    }
    lastReal = i;
  }
  if (lastReal >= 0 && lastReal < values.length - 1) values.fill(values[lastReal], lastReal + 1);
}

const slotOfDay = (epochSeconds: number, slotMinutes: number): number =>
  Math.floor((((epochSeconds % SECONDS_PER_DAY) + SECONDS_PER_DAY) % SECONDS_PER_DAY) / (slotMinutes * 60));

const hourOfDay = (epochSeconds: number): number =>
  Math.floor((((epochSeconds % SECONDS_PER_DAY) + SECONDS_PER_DAY) % SECONDS_PER_DAY) / 3600);

function learnSeasonal(
  key: string,
  grid: RegularGrid,
  period: number,
  slots: number,
  { stepSeconds, slotMinutes }: LearnOptions,
): SeriesBaseline {
  const n = grid.values.length;
  const seasonalWindow = 7;
  const decomposition = stl(grid.values, {
    period,
    seasonal: seasonalWindow,
    robust: true,
    ...rJumps({ period, seasonal: seasonalWindow }),
  });

  // The daily profile is the most recent full cycle of the seasonal component, averaged into slots.
  const seasonal = new Float64Array(slots);
  const counts = new Float64Array(slots);
  for (let i = n - period; i < n; i++) {
    const slot = slotOfDay(grid.start + i * stepSeconds, slotMinutes);
    seasonal[slot] += decomposition.seasonal[i];
    counts[slot]++;
  }
  for (let s = 0; s < slots; s++) seasonal[s] = counts[s] > 0 ? seasonal[s] / counts[s] : 0;

  // Residuals as the scorer will see them: against the slot profile, on real points only.
  const residuals = new Float64Array(n);
  const hours = new Uint8Array(n);
  let m = 0;
  let varResid = 0;
  let varDetrended = 0;
  for (let i = 0; i < n; i++) {
    if (!grid.present[i]) continue;
    const t = grid.start + i * stepSeconds;
    const detrended = grid.values[i] - decomposition.trend[i];
    const r = detrended - seasonal[slotOfDay(t, slotMinutes)];
    residuals[m] = r;
    hours[m] = hourOfDay(t);
    varResid += r * r;
    varDetrended += detrended * detrended;
    m++;
  }
  const strength = varDetrended > 0 ? Math.max(0, 1 - varResid / varDetrended) : 0;
  return {
    key,
    slotMinutes,
    seasonal: Float32Array.from(seasonal),
    scale: hourlyScale(residuals.subarray(0, m), hours.subarray(0, m), decomposition.trend[n - 1]),
    level: decomposition.trend[n - 1],
    trainedUntil: grid.start + (n - 1) * stepSeconds,
    samples: grid.real,
    seasonalStrength: strength,
    method: 'stl',
  };
}

function learnFlat(
  key: string,
  grid: RegularGrid,
  slots: number,
  { stepSeconds, slotMinutes }: LearnOptions,
): SeriesBaseline {
  const n = grid.values.length;
  const recent = grid.values.subarray(Math.max(0, n - 60));
  const level = median(Float64Array.from(recent));
  const residuals = new Float64Array(grid.real);
  const hours = new Uint8Array(grid.real);
  let m = 0;
  for (let i = 0; i < n; i++) {
    if (!grid.present[i]) continue;
    residuals[m] = grid.values[i] - level;
    hours[m] = hourOfDay(grid.start + i * stepSeconds);
    m++;
  }
  return {
    key,
    slotMinutes,
    seasonal: new Float32Array(slots),
    scale: hourlyScale(residuals, hours, level),
    level,
    trainedUntil: grid.start + (n - 1) * stepSeconds,
    samples: grid.real,
    seasonalStrength: 0,
    method: 'flat',
  };
}

/**
 * Robust sigma per UTC hour from residuals in a three-hour window around it (more samples, smoother),
 * floored by half the global sigma so a quiet hour does not become hair-trigger, and by a tiny share of
 * the level so a constant series still has a finite scale.
 */
function hourlyScale(residuals: Float64Array, hours: Uint8Array, level: number): Float32Array {
  const global = MAD_TO_SIGMA * mad(Float64Array.from(residuals));
  const floor = Math.max(0.5 * global, 1e-3 * Math.abs(level), 1e-9);
  const byHour: number[][] = Array.from({ length: HOURS_PER_DAY }, () => []);
  for (let i = 0; i < residuals.length; i++) byHour[hours[i]].push(residuals[i]);
  const scale = new Float32Array(HOURS_PER_DAY);
  for (let h = 0; h < HOURS_PER_DAY; h++) {
    const window = [
      ...byHour[(h + HOURS_PER_DAY - 1) % HOURS_PER_DAY],
      ...byHour[h],
      ...byHour[(h + 1) % HOURS_PER_DAY],
    ];
    const sigma = window.length >= 30 ? MAD_TO_SIGMA * mad(Float64Array.from(window)) : global;
    scale[h] = Math.max(sigma, floor);
  }
  return scale;
}

export function median(values: Float64Array): number {
  if (values.length === 0) return Number.NaN;
  const sorted = values.slice().sort();
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : 0.5 * (sorted[mid - 1] + sorted[mid]);
}

export function mad(values: Float64Array): number {
  const center = median(values);
  const deviations = new Float64Array(values.length);
  for (let i = 0; i < values.length; i++) deviations[i] = Math.abs(values[i] - center);
  return median(deviations);
}

/**
 * A counter's per-step increase, which is what the scorer judges for `kind: counter` signals. A drop means
 * the counter was reset: the increase since the reset is the new value itself. The first point has none.
 */
export function counterIncreases(values: ArrayLike<number>): Float64Array {
  const out = new Float64Array(values.length);
  out[0] = Number.NaN;
  for (let i = 1; i < values.length; i++) out[i] = counterIncrease(values[i - 1], values[i]);
  return out;
}

export function counterIncrease(previous: number, current: number): number {
  if (!Number.isFinite(previous) || !Number.isFinite(current)) return Number.NaN;
  return current >= previous ? current - previous : current;
}
