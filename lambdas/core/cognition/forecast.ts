// The trend predictor: Holt's linear method with a damped trend (ETS(A,Ad,N)) run online on each series'
// deseasonalised values, and the search for when a hard limit will be crossed, with prediction intervals.
//
// Why damped: an undamped trend extrapolates every ramp forever; damping (phi slightly below 1 per minute)
// lets a steady drain like a filling disk project hours ahead while a short ramp fades within the horizon.

export interface HoltSettings {
  /** Level smoothing per point. */
  readonly alpha: number;
  /** Trend smoothing per point (as a share of alpha's correction, Hyndman's beta*). */
  readonly beta: number;
  /** Trend damping per point. */
  readonly phi: number;
  /** Forecast horizon in points (steps). */
  readonly horizon: number;
  /** Points between the horizon's evaluation points, to keep the search cheap. */
  readonly searchStride: number;
  /** One-sided normal quantile of the interval bound that must cross the limit (1.28: 90 %). */
  readonly confidenceZ: number;
}

/** 1-minute points, a 6-hour horizon, searched every 5 minutes. */
export const DEFAULT_HOLT: HoltSettings = {
  alpha: 0.1,
  beta: 0.05,
  phi: 0.999,
  horizon: 360,
  searchStride: 5,
  confidenceZ: 1.28,
};

/** Precomputed per-horizon factors: sum of damped trend multipliers and the h-step variance multiplier. */
export class HoltTables {
  /** dampedSum[h] = phi + phi^2 + ... + phi^h */
  readonly dampedSum: Float64Array;
  /** varianceFactor[h] = 1 + sum_{j=1}^{h-1} (alpha * (1 + beta * dampedSum[j]))^2 */
  readonly varianceFactor: Float64Array;

  constructor(readonly settings: HoltSettings) {
    const { alpha, beta, phi, horizon } = settings;
    this.dampedSum = new Float64Array(horizon + 1);
    this.varianceFactor = new Float64Array(horizon + 1);
    let power = 1;
    let variance = 1;
    this.varianceFactor[0] = 0;
    for (let h = 1; h <= horizon; h++) {
      power *= phi;
      this.dampedSum[h] = this.dampedSum[h - 1] + power;
      this.varianceFactor[h] = variance;
      const c = alpha * (1 + beta * this.dampedSum[h]);
      variance += c * c;
    }
  }
}

/** Online state of one series, kept by the caller in typed arrays. */
export interface HoltState {
  level: number;
  trend: number;
  /** Exponentially weighted variance of one-step errors. */
  errorVariance: number;
  points: number;
}

/** Weight of a new one-step error in the error variance. */
const VARIANCE_ALPHA = 0.02;

/** Advances the state by one point `y` (already deseasonalised). */
export function holtUpdate(state: HoltState, y: number, settings: HoltSettings): void {
  if (state.points === 0) {
    state.level = y;
    state.trend = 0;
    state.errorVariance = 0;
    state.points = 1;
    return;
  }
  const { alpha, beta, phi } = settings;
  const predicted = state.level + phi * state.trend;
  const error = y - predicted;
  state.level = predicted + alpha * error;
  state.trend = phi * state.trend + alpha * beta * error;
  state.errorVariance += VARIANCE_ALPHA * (error * error - state.errorVariance);
  state.points++;
}

export interface BreachForecast {
  /** Steps ahead at which the point forecast first crosses the limit. */
  readonly steps: number;
  /** Probability (normal approximation) that the value is past the limit at that step. */
  readonly confidence: number;
}

const normalCdf = (z: number): number => {
  // Abramowitz-Stegun 26.2.17, |error| < 7.5e-8: plenty for a confidence figure.
  const t = 1 / (1 + 0.2316419 * Math.abs(z));
  const d = 0.3989422804014327 * Math.exp((-z * z) / 2);
  const p = d * t * (0.31938153 + t * (-0.356563782 + t * (1.781477937 + t * (-1.821255978 + t * 1.330274429))));
  return z > 0 ? 1 - p : p;
};

/**
 * Searches the horizon for the first step where the forecast crosses `limit` in direction `side` and the
 * interval's near bound (confidenceZ sigmas back towards safety) is past it too. `seasonalAt(h)` returns
 * the seasonal offset h steps ahead (0 for a series without a cycle).
 */
export function forecastBreach(
  state: HoltState,
  limit: number,
  side: 'above' | 'below',
  tables: HoltTables,
  seasonalAt: (steps: number) => number,
  seasonalRange: number,
): BreachForecast | undefined {
  const { horizon, searchStride, confidenceZ } = tables.settings;
  const sign = side === 'above' ? 1 : -1;
  // Cheap rejection: the damped trend is monotone, so the extremes are now and the horizon's end; with the
  // most unfavourable seasonal offset added, if neither reaches the limit nothing in between does.
  const furthest = state.level + state.trend * tables.dampedSum[horizon];
  if (Math.max(sign * (state.level - limit), sign * (furthest - limit)) + seasonalRange < 0) return undefined;
  const sigma = Math.sqrt(state.errorVariance);
  for (let h = searchStride; h <= horizon; h += searchStride) {
    const mean = state.level + state.trend * tables.dampedSum[h] + seasonalAt(h);
    const spread = sigma * Math.sqrt(tables.varianceFactor[h]);
    if (sign * (mean - confidenceZ * sign * spread - limit) >= 0) {
      // The point forecast crosses no later than the interval's near bound: find its first step.
      let first = h;
      for (let k = 1; k <= h; k++) {
        if (sign * (state.level + state.trend * tables.dampedSum[k] + seasonalAt(k) - limit) >= 0) {
          first = k;
          break;
        }
      }
      return { steps: first, confidence: spread > 0 ? normalCdf((sign * (mean - limit)) / spread) : 1 };
    }
  }
  return undefined;
}
