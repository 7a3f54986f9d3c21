// Seasonal-trend decomposition by LOESS (STL), numerically faithful to the reference Fortran (Cleveland et al. 1990).

/**
 * STL splits a series into trend + seasonal + remainder. The daily baseline job runs it over every metric
 * series, so it reproduces the reference `stl.f` numbers (the ones statsmodels' `STL` returns, to ~1e-12 of
 * the series' range) while avoiding that code's per-point overheads:
 *
 * - every LOESS fit takes one pass over its neighbourhood, accumulating the weighted moments (sums of w,
 *   w*d, w*d^2, w*y, w*d*y, d being the offset from the evaluation point), pairing the points at equal
 *   distance on either side; the local-linear value then has a closed form with one division. The
 *   reference makes five passes and normalises the weights: same value, up to rounding;
 * - tricube weights come from tables per bandwidth (kept across fits, iterations and series), so a fit
 *   reads weights instead of computing two cubes and a division per point;
 * - the cycle-subseries smoother, thousands of tiny fits with identical neighbourhoods, works on all
 *   subseries at once, placing each neighbourhood once;
 * - neighbourhoods are placed exactly as `ess` places them, and the `jump` options evaluate every `jump`
 *   points and interpolate in between exactly as `ess` does, down to its fit of the last point (R's default
 *   jumps make the robust job ~100x cheaper than jump 1).
 */

/** Invalid input or options; the message names the parameter and what is wrong with it. */
export class StlInputError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StlInputError';
  }
}

export interface StlOptions {
  /** Number of observations per seasonal cycle (e.g. 1440 for one-minute data with a daily cycle). */
  period: number;
  /** Seasonal smoother length: odd, >= 3. Default 7. */
  seasonal?: number;
  /** Trend smoother length: odd, > period. Default: smallest odd integer >= 1.5 * period / (1 - 1.5 / seasonal). */
  trend?: number;
  /** Low-pass filter length: odd, > period. Default: smallest odd integer > period. */
  lowPass?: number;
  seasonalDeg?: 0 | 1;
  trendDeg?: 0 | 1;
  lowPassDeg?: 0 | 1;
  /** Evaluate the seasonal LOESS every `seasonalJump` points and interpolate linearly in between. Default 1. */
  seasonalJump?: number;
  trendJump?: number;
  lowPassJump?: number;
  /** Use bisquare robustness weights so outliers do not leak into trend and seasonal. Default false. */
  robust?: boolean;
  /** Inner (seasonal/trend) loop passes. Default 2 when robust, else 5. */
  innerIterations?: number;
  /** Robustness iterations. Default 15 when robust, else 0. */
  outerIterations?: number;
}

export interface StlResult {
  trend: Float64Array;
  seasonal: Float64Array;
  resid: Float64Array;
  /** Final robustness weights (all 1 when not robust). */
  weights: Float64Array;
}

export type ResolvedStlOptions = Required<StlOptions>;

export interface StlJumps {
  seasonalJump: number;
  trendJump: number;
  lowPassJump: number;
}

function isInt(x: unknown): x is number {
  return typeof x === 'number' && Number.isInteger(x);
}

function checkOddWindow(name: string, value: unknown, period: number | undefined): number {
  if (!isInt(value) || value < 3 || value % 2 === 0) {
    throw new StlInputError(`${name} must be an odd integer >= 3 (got ${String(value)})`);
  }
  if (period !== undefined && value <= period) {
    throw new StlInputError(`${name} must be greater than period ${period} (got ${value})`);
  }
  return value;
}

function checkDeg(name: string, value: unknown): 0 | 1 {
  if (value !== 0 && value !== 1) throw new StlInputError(`${name} must be 0 or 1 (got ${String(value)})`);
  return value;
}

function checkIntAtLeast(name: string, value: unknown, min: number): number {
  if (!isInt(value) || value < min) {
    throw new StlInputError(`${name} must be an integer >= ${min} (got ${String(value)})`);
  }
  return value;
}

/** The smoother windows after defaults, validated (period >= 2; windows odd, >= 3; trend and lowPass > period). */
function resolveWindows(options: Pick<StlOptions, 'period' | 'seasonal' | 'trend' | 'lowPass'>): {
  period: number;
  seasonal: number;
  trend: number;
  lowPass: number;
} {
  if (options === null || typeof options !== 'object') throw new StlInputError('options must be an object');
  const period = options.period;
  if (!isInt(period) || period < 2) throw new StlInputError(`period must be an integer >= 2 (got ${String(period)})`);
  const seasonal = checkOddWindow('seasonal', options.seasonal ?? 7, undefined);
  let trend = options.trend;
  if (trend === undefined) {
    // Same expression (and so the same rounding) as the reference default.
    trend = Math.ceil((1.5 * period) / (1 - 1.5 / seasonal));
    if (trend % 2 === 0) trend += 1;
  }
  let lowPass = options.lowPass;
  if (lowPass === undefined) {
    lowPass = period + 1;
    if (lowPass % 2 === 0) lowPass += 1;
  }
  return {
    period,
    seasonal,
    trend: checkOddWindow('trend', trend, period),
    lowPass: checkOddWindow('lowPass', lowPass, period),
  };
}

/** Fills in the reference defaults and validates every option; throws StlInputError on the first bad one. */
export function resolveStlOptions(options: StlOptions): ResolvedStlOptions {
  const windows = resolveWindows(options);
  const robust = options.robust ?? false;
  if (typeof robust !== 'boolean') throw new StlInputError(`robust must be a boolean (got ${String(robust)})`);
  return {
    ...windows,
    seasonalDeg: checkDeg('seasonalDeg', options.seasonalDeg ?? 1),
    trendDeg: checkDeg('trendDeg', options.trendDeg ?? 1),
    lowPassDeg: checkDeg('lowPassDeg', options.lowPassDeg ?? 1),
    seasonalJump: checkIntAtLeast('seasonalJump', options.seasonalJump ?? 1, 1),
    trendJump: checkIntAtLeast('trendJump', options.trendJump ?? 1, 1),
    lowPassJump: checkIntAtLeast('lowPassJump', options.lowPassJump ?? 1, 1),
    robust,
    innerIterations: checkIntAtLeast('innerIterations', options.innerIterations ?? (robust ? 2 : 5), 1),
    outerIterations: checkIntAtLeast('outerIterations', options.outerIterations ?? (robust ? 15 : 0), 0),
  };
}

/** R's default jumps: ceil(window / 10) for each of the three smoothers. */
export function rJumps(options: Pick<StlOptions, 'period' | 'seasonal' | 'trend' | 'lowPass'>): StlJumps {
  const w = resolveWindows(options);
  return {
    seasonalJump: Math.ceil(w.seasonal / 10),
    trendJump: Math.ceil(w.trend / 10),
    lowPassJump: Math.ceil(w.lowPass / 10),
  };
}

/**
 * Tricube tables depend on the bandwidth alone, and the same bandwidths come back at every iteration and for
 * every series of the same period, so they are kept process-wide up to this many doubles (8 MiB). Past the
 * budget (the exact mode's boundary fits use thousands of bandwidths once each) a scratch table is refilled.
 */
const TABLE_CACHE_DOUBLES = 1 << 20;
const tableCache = new Map<number, Float64Array>();
let tableCacheDoubles = 0;

/**
 * Tricube weights by integer distance r for bandwidth h, for r = 0..floor(0.999 * h), interleaved as
 * (w, w * r, w * r * r) so a fit reads its three moment weights from one place. The reference gives weight 1
 * within 0.001 * h and 0 beyond 0.999 * h.
 */
function fillTricube(k: Float64Array, h: number): void {
  const h1 = 0.001 * h;
  const reach = Math.floor(0.999 * h);
  // A reciprocal instead of the reference's division: at most an ulp apart, and much cheaper.
  const invh = 1 / h;
  for (let r = 0; r <= reach; r++) {
    let w = 1;
    if (r > h1) {
      const u = r * invh;
      const t = 1 - u * u * u;
      w = t * t * t;
    }
    k[3 * r] = w;
    k[3 * r + 1] = w * r;
    k[3 * r + 2] = w * r * r;
  }
}

/**
 * Whether sqrt(v) > spread, the reference's test for fitting a line, without a square root unless v is
 * within a hair of spread^2 (there the square root decides).
 */
function spreadEnough(v: number, spread: number): boolean {
  const s2 = spread * spread;
  if (v > s2 * (1 + 1e-9)) return true;
  return v > s2 * (1 - 1e-9) && Math.sqrt(v) > spread;
}

/**
 * The local value from the weighted moments of a neighbourhood (sums of w, w*d, w*d^2, w*y, w*d*y, with d
 * the offset from the evaluation point); NaN when no weight. The reference fits a line (the value of the
 * weighted least-squares line at d = 0) only when the positions are spread out enough (weighted standard
 * deviation > minSpread), else it takes the weighted mean. In closed form the line's value needs a single
 * division: (s2 * sy - s1 * sdy) / (s0 * s2 - s1^2), where s0 * s2 - s1^2 = s0^2 * variance.
 */
function localValue(
  s0: number,
  s1: number,
  s2: number,
  sy: number,
  sdy: number,
  linear: boolean,
  minSpread: number,
): number {
  if (!(s0 > 0)) return Number.NaN;
  if (linear) {
    const det = s0 * s2 - s1 * s1;
    if (spreadEnough(det, minSpread * s0)) return (s2 * sy - s1 * sdy) / det;
  }
  return sy / s0;
}

/**
 * The points the reference `ess` evaluates for a series of n values, span len and jump newnj, as
 * (xs, nleft, nright) triples (1-based) in plan; returns how many. When the jumps miss the last point, the
 * last triple is that point, fitted (as the reference does) with the neighbourhood of the last jump.
 */
function essPlan(n: number, len: number, newnj: number, plan: Int32Array): number {
  let count = 0;
  let nleft = 0;
  let nright = 0;
  if (len >= n) {
    nleft = 1;
    nright = n;
    for (let i = 0; i < n; i += newnj) {
      plan[count++] = i + 1;
      plan[count++] = nleft;
      plan[count++] = nright;
    }
  } else if (newnj === 1) {
    const nsh = (len + 2) >> 1;
    nleft = 1;
    nright = len;
    for (let i = 0; i < n; i++) {
      if (i + 1 > nsh && nright !== n) {
        nleft++;
        nright++;
      }
      plan[count++] = i + 1;
      plan[count++] = nleft;
      plan[count++] = nright;
    }
  } else {
    const nsh = (len + 1) >> 1;
    for (let i = 0; i < n; i += newnj) {
      if (i + 1 < nsh) {
        nleft = 1;
        nright = len;
      } else if (i + 1 >= n - nsh + 1) {
        nleft = n - len + 1;
        nright = n;
      } else {
        nleft = i + 1 - nsh + 1;
        nright = len + i + 1 - nsh;
      }
      plan[count++] = i + 1;
      plan[count++] = nleft;
      plan[count++] = nright;
    }
  }
  if (newnj > 1 && Math.floor((n - 1) / newnj) * newnj + 1 !== n) {
    plan[count++] = n;
    plan[count++] = nleft;
    plan[count++] = nright;
  }
  return count / 3;
}

/**
 * Fills the points between the evaluated ones by linear interpolation, as the reference `ess` does, for a
 * series of n values stored at ys[off + i * stride].
 */
function interpolate(ys: Float64Array, off: number, stride: number, n: number, newnj: number): void {
  if (newnj === 1) return;
  for (let i = 0; i < n - newnj; i += newnj) {
    const base = ys[off + i * stride];
    const delta = (ys[off + (i + newnj) * stride] - base) / newnj;
    for (let j = i + 1; j < i + newnj; j++) ys[off + j * stride] = base + delta * (j - i);
  }
  const k = Math.floor((n - 1) / newnj) * newnj + 1;
  if (k !== n && k !== n - 1) {
    const base = ys[off + (k - 1) * stride];
    const delta = (ys[off + (n - 1) * stride] - base) / (n - k);
    // Up to and including the last point, which the reference also overwrites with the interpolant.
    for (let j = k; j < n; j++) ys[off + j * stride] = base + delta * (j + 1 - k);
  }
}

/**
 * LOESS machinery shared by the three smoothers: the reference `est` and `ess`, plus a batched form of the
 * cycle-subseries smoothing.
 */
class Loess {
  private kern: Float64Array = new Float64Array(0);
  private kernH = -1;
  private big: Float64Array = new Float64Array(192);
  /** Largest integer distance with a non-zero weight for kernH (the reference keeps r <= 0.999 * h). */
  private reach = 0;
  private plan = new Int32Array(0);
  // Neighbourhood of the current fit, set by place(): 0-based centre and first/last point with weight.
  private c = 0;
  private lo = 0;
  private hi = 0;
  private h = 0;

  private kernel(h: number): Float64Array {
    if (h === this.kernH) return this.kern;
    const reach = Math.floor(0.999 * h);
    const size = 3 * (reach + 1);
    let t = tableCache.get(h);
    if (t === undefined) {
      if (tableCacheDoubles + size <= TABLE_CACHE_DOUBLES) {
        t = new Float64Array(size);
        tableCache.set(h, t);
        tableCacheDoubles += size;
      } else {
        if (this.big.length < size) this.big = new Float64Array(Math.max(size, 2 * this.big.length));
        t = this.big;
      }
      fillTricube(t, h);
    }
    this.kernH = h;
    this.kern = t;
    this.reach = reach;
    return t;
  }

  /** Bandwidth, kernel and weighted neighbourhood of the reference `est` at xs over nleft..nright (1-based). */
  private place(n: number, len: number, xs: number, nleft: number, nright: number): Float64Array {
    let h = Math.max(xs - nleft, nright - xs);
    if (len > n) h += Math.floor((len - n) / 2);
    const T = this.kernel(h);
    const c = xs - 1;
    this.lo = Math.max(nleft - 1, c - this.reach);
    this.hi = Math.min(nright - 1, c + this.reach);
    this.c = c;
    this.h = h;
    return T;
  }

  private planFor(n: number, len: number, newnj: number): number {
    if (this.plan.length < 3 * (n + 2)) this.plan = new Int32Array(3 * (n + 2));
    return essPlan(n, len, newnj, this.plan);
  }

  /**
   * Local fit at 1-based position xs from the points nleft..nright (1-based, inclusive) of y[0..n-1]: the
   * reference `est`. With userw, rw are the robustness weights and ry[j] = rw[j] * y[j]. Returns NaN when all
   * weights vanish (the caller then falls back as the reference does).
   *
   * The weighted moments are accumulated over pairs of points at equal distance on either side, which
   * shares each kernel weight between two points and halves the dependent additions.
   */
  est(
    y: Float64Array,
    ry: Float64Array,
    n: number,
    len: number,
    ideg: number,
    xs: number,
    nleft: number,
    nright: number,
    userw: boolean,
    rw: Float64Array,
  ): number {
    const T = this.place(n, len, xs, nleft, nright);
    const c = this.c;
    // Distances reaching left and right of c; either is negative when c lies outside the neighbourhood.
    const rl = c - this.lo;
    const rr = this.hi - c;
    const sym = Math.min(rl, rr);
    const leftFrom = Math.max(sym + 1, 1, -rr);
    const rightFrom = Math.max(sym + 1, 1, -rl);
    let s0 = 0;
    let s1 = 0;
    let s2 = 0;
    let sy = 0;
    let sdy = 0;
    if (userw) {
      if (sym >= 0) {
        s0 = T[0] * rw[c];
        sy = T[0] * ry[c];
      }
      for (let r = 1; r <= sym; r++) {
        const t = 3 * r;
        const k = T[t];
        const kr = T[t + 1];
        const wl = rw[c - r];
        const wr = rw[c + r];
        const yl = ry[c - r];
        const yr = ry[c + r];
        const ws = wl + wr;
        s0 += k * ws;
        s1 += kr * (wr - wl);
        s2 += T[t + 2] * ws;
        sy += k * (yl + yr);
        sdy += kr * (yr - yl);
      }
      for (let r = leftFrom; r <= rl; r++) {
        const t = 3 * r;
        const w = rw[c - r];
        const v = ry[c - r];
        s0 += T[t] * w;
        s1 -= T[t + 1] * w;
        s2 += T[t + 2] * w;
        sy += T[t] * v;
        sdy -= T[t + 1] * v;
      }
      for (let r = rightFrom; r <= rr; r++) {
        const t = 3 * r;
        const w = rw[c + r];
        const v = ry[c + r];
        s0 += T[t] * w;
        s1 += T[t + 1] * w;
        s2 += T[t + 2] * w;
        sy += T[t] * v;
        sdy += T[t + 1] * v;
      }
    } else {
      if (sym >= 0) {
        s0 = T[0];
        sy = T[0] * y[c];
      }
      for (let r = 1; r <= sym; r++) {
        const t = 3 * r;
        const k = T[t];
        const yl = y[c - r];
        const yr = y[c + r];
        s0 += k + k;
        s2 += 2 * T[t + 2];
        sy += k * (yl + yr);
        sdy += T[t + 1] * (yr - yl);
      }
      for (let r = leftFrom; r <= rl; r++) {
        const t = 3 * r;
        const v = y[c - r];
        s0 += T[t];
        s1 -= T[t + 1];
        s2 += T[t + 2];
        sy += T[t] * v;
        sdy -= T[t + 1] * v;
      }
      for (let r = rightFrom; r <= rr; r++) {
        const t = 3 * r;
        const v = y[c + r];
        s0 += T[t];
        s1 += T[t + 1];
        s2 += T[t + 2];
        sy += T[t] * v;
        sdy += T[t + 1] * v;
      }
    }
    return localValue(s0, s1, s2, sy, sdy, this.h > 0 && ideg > 0, 0.001 * (n - 1));
  }

  /**
   * Smooths y[0..n-1] with a LOESS of span len into ys[ysOff..ysOff+n-1]: the reference `ess`, including
   * its neighbourhood placement, its jump-and-interpolate scheme and its handling of the last point.
   */
  ess(
    y: Float64Array,
    ry: Float64Array,
    n: number,
    len: number,
    ideg: number,
    njump: number,
    userw: boolean,
    rw: Float64Array,
    ys: Float64Array,
    ysOff: number,
  ): void {
    if (n < 2) {
      ys[ysOff] = y[0];
      return;
    }
    const newnj = Math.min(njump, n - 1);
    const count = this.planFor(n, len, newnj);
    const plan = this.plan;
    for (let p = 0; p < 3 * count; p += 3) {
      const i = plan[p] - 1;
      const v = this.est(y, ry, n, len, ideg, plan[p], plan[p + 1], plan[p + 2], userw, rw);
      ys[ysOff + i] = Number.isNaN(v) ? y[i] : v;
    }
    interpolate(ys, ysOff, 1, n, newnj);
  }

  /**
   * One local fit for each of the columns j0..j1-1 of a series laid out as rows of `stride` values (value t of
   * column j at x[t * stride + j]), all at the same position and neighbourhood, into out[outOff + j]; a column
   * whose weights all vanish takes fallback[fbOff + j].
   */
  private fitColumns(
    x: Float64Array,
    rx: Float64Array,
    rw: Float64Array,
    userw: boolean,
    stride: number,
    j0: number,
    j1: number,
    n: number,
    len: number,
    ideg: number,
    xs: number,
    nleft: number,
    nright: number,
    out: Float64Array,
    outOff: number,
    fallback: Float64Array,
    fbOff: number,
  ): void {
    const T = this.place(n, len, xs, nleft, nright);
    const { c, lo, hi } = this;
    const linear = this.h > 0 && ideg > 0;
    const minSpread = 0.001 * (n - 1);
    if (userw) {
      for (let j = j0; j < j1; j++) {
        let s0 = 0;
        let s1 = 0;
        let s2 = 0;
        let sy = 0;
        let sdy = 0;
        for (let t = lo, idx = lo * stride + j; t <= hi; t++, idx += stride) {
          const d = t - c;
          const k = T[3 * (d < 0 ? -d : d)];
          const w = k * rw[idx];
          const v = k * rx[idx];
          const wd = w * d;
          s0 += w;
          s1 += wd;
          s2 += wd * d;
          sy += v;
          sdy += v * d;
        }
        const value = localValue(s0, s1, s2, sy, sdy, linear, minSpread);
        out[outOff + j] = Number.isNaN(value) ? fallback[fbOff + j] : value;
      }
      return;
    }
    // Without robustness weights the position moments are the same for every column.
    let s0 = 0;
    let s1 = 0;
    let s2 = 0;
    for (let t = lo; t <= hi; t++) {
      const d = t - c;
      const k = T[3 * (d < 0 ? -d : d)];
      s0 += k;
      s1 += k * d;
      s2 += k * d * d;
    }
    if (!(s0 > 0)) {
      for (let j = j0; j < j1; j++) out[outOff + j] = fallback[fbOff + j];
      return;
    }
    // value = (a * sy - b * sdy) for every column, from localValue's closed form.
    let a = 1 / s0;
    let b = 0;
    if (linear) {
      const det = s0 * s2 - s1 * s1;
      if (spreadEnough(det, minSpread * s0)) {
        a = s2 / det;
        b = s1 / det;
      }
    }
    for (let j = j0; j < j1; j++) {
      let sy = 0;
      let sdy = 0;
      for (let t = lo, idx = lo * stride + j; t <= hi; t++, idx += stride) {
        const d = t - c;
        const v = T[3 * (d < 0 ? -d : d)] * x[idx];
        sy += v;
        sdy += v * d;
      }
      out[outOff + j] = a * sy - b * sdy;
    }
  }

  /**
   * The reference cycle-subseries smoothing (`ss`) for the columns j0..j1-1, which all have k values: column j
   * of x (value t at x[t * stride + j]) is smoothed into out[(t + 1) * stride + j], and extended by one value
   * at each end (rows 0 and k + 1). All columns share the same neighbourhoods, so each kernel and placement is
   * worked out once for the whole batch. rx = rw * x when userw.
   */
  smoothColumns(
    x: Float64Array,
    rx: Float64Array,
    rw: Float64Array,
    userw: boolean,
    stride: number,
    j0: number,
    j1: number,
    k: number,
    len: number,
    ideg: number,
    njump: number,
    out: Float64Array,
  ): void {
    if (k < 2) {
      for (let j = j0; j < j1; j++) out[stride + j] = x[j];
    } else {
      const newnj = Math.min(njump, k - 1);
      const count = this.planFor(k, len, newnj);
      const plan = this.plan;
      for (let p = 0; p < 3 * count; p += 3) {
        const xs = plan[p];
        const row = xs * stride;
        this.fitColumns(
          x,
          rx,
          rw,
          userw,
          stride,
          j0,
          j1,
          k,
          len,
          ideg,
          xs,
          plan[p + 1],
          plan[p + 2],
          out,
          row,
          x,
          row - stride,
        );
      }
      if (newnj > 1) for (let j = j0; j < j1; j++) interpolate(out, stride + j, stride, k, newnj);
    }
    // Extrapolate one cycle before and after, falling back to the nearest smoothed value.
    this.fitColumns(x, rx, rw, userw, stride, j0, j1, k, len, ideg, 0, 1, Math.min(len, k), out, 0, out, stride);
    this.fitColumns(
      x,
      rx,
      rw,
      userw,
      stride,
      j0,
      j1,
      k,
      len,
      ideg,
      k + 1,
      Math.max(1, k - len + 1),
      k,
      out,
      (k + 1) * stride,
      out,
      k * stride,
    );
  }
}

/** Running mean of span len over x[0..n-1] into ave[0..n-len]: the reference `ma` (same summation order). */
function movingAverage(x: Float64Array, n: number, len: number, ave: Float64Array): void {
  const newn = n - len + 1;
  // Multiplying by the reciprocal rather than dividing: an ulp apart from the reference, and much cheaper.
  const inv = 1 / len;
  let v = 0;
  for (let i = 0; i < len; i++) v += x[i];
  ave[0] = v * inv;
  let k = len;
  let m = 0;
  for (let j = 1; j < newn; j++) {
    v += x[k] - x[m];
    ave[j] = v * inv;
    k++;
    m++;
  }
}

/**
 * Moves the k-th smallest of a[left..right] to a[k], with everything before it no larger and everything after
 * it no smaller (Floyd and Rivest's SELECT: on long ranges, first selecting within a small sample around the
 * expected rank brings the pivot close to the answer, so about n + min(k, n - k) comparisons are needed).
 */
function select(a: Float64Array, k: number, left: number, right: number): void {
  let lo = left;
  let hi = right;
  while (hi > lo) {
    if (hi - lo > 600) {
      const n = hi - lo + 1;
      const rank = k - lo + 1;
      const z = Math.log(n);
      const sample = 0.5 * Math.exp((2 * z) / 3);
      const dev = 0.5 * Math.sqrt((z * sample * (n - sample)) / n) * Math.sign(rank - n / 2);
      const sampleLo = Math.max(lo, Math.floor(k - (rank * sample) / n + dev));
      const sampleHi = Math.min(hi, Math.floor(k + ((n - rank) * sample) / n + dev));
      select(a, k, sampleLo, sampleHi);
    }
    const pivot = a[k];
    let i = lo;
    let j = hi;
    swap(a, lo, k);
    if (a[hi] > pivot) swap(a, lo, hi);
    while (i < j) {
      swap(a, i, j);
      i++;
      j--;
      while (a[i] < pivot) i++;
      while (a[j] > pivot) j--;
    }
    if (a[lo] === pivot) {
      swap(a, lo, j);
    } else {
      j++;
      swap(a, j, hi);
    }
    if (j <= k) lo = j + 1;
    if (k <= j) hi = j - 1;
  }
}

function swap(a: Float64Array, i: number, j: number): void {
  const t = a[i];
  a[i] = a[j];
  a[j] = t;
}

/**
 * Decomposes y into trend + seasonal + resid with STL. Results match statsmodels' `STL(...).fit()` for the
 * same options (to rounding), including jumps and robust weights.
 */
export function stl(y: ArrayLike<number>, options: StlOptions): StlResult {
  const o = resolveStlOptions(options);
  if (y === null || typeof y !== 'object' || typeof y.length !== 'number') {
    throw new StlInputError('y must be an array of numbers');
  }
  const n = y.length;
  const np = o.period;
  if (n < 2 * np) {
    throw new StlInputError(`y must have at least 2 * period = ${2 * np} observations (got ${n})`);
  }
  const ya = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const v = y[i];
    if (typeof v !== 'number' || !Number.isFinite(v)) {
      throw new StlInputError(`y[${i}] must be a finite number (got ${String(v)})`);
    }
    ya[i] = v;
  }

  const trend = new Float64Array(n);
  const season = new Float64Array(n);
  const rw = new Float64Array(n).fill(1);
  const m = n + 2 * np;
  // Work arrays, as the reference's work(:, 1..3): detrended series / low-pass output, cycle-subseries
  // smooth (one extra cycle at each end), moving averages; w5 holds rw * (series being smoothed).
  const w0 = new Float64Array(m);
  const w1 = new Float64Array(m);
  const w2 = new Float64Array(m);
  const w5 = new Float64Array(m);
  const loess = new Loess();
  const { seasonal: ns, trend: nt, lowPass: nl, seasonalDeg, trendDeg, lowPassDeg } = o;
  const { seasonalJump, trendJump, lowPassJump } = o;

  // Cycle-subseries: columns 0..rem-1 of w0 (n = q * period + rem) have q + 1 values, the others q.
  const q = Math.floor(n / np);
  const rem = n - q * np;

  /** The reference `onestp`: inner loop passes updating season and trend. */
  const innerLoop = (userw: boolean): void => {
    // Detrended series into w0 (and rw * w0 into w5 for the robust fits).
    if (userw) {
      for (let i = 0; i < n; i++) {
        const v = ya[i] - trend[i];
        w0[i] = v;
        w5[i] = rw[i] * v;
      }
    } else {
      for (let i = 0; i < n; i++) w0[i] = ya[i] - trend[i];
    }
    for (let it = 0; it < o.innerIterations; it++) {
      // Cycle-subseries smoothing of w0 into w1 (n + 2 * period values: one cycle extrapolated at each end).
      if (rem > 0) loess.smoothColumns(w0, w5, rw, userw, np, 0, rem, q + 1, ns, seasonalDeg, seasonalJump, w1);
      loess.smoothColumns(w0, w5, rw, userw, np, rem, np, q, ns, seasonalDeg, seasonalJump, w1);
      // Low-pass filter of the cycle-subseries smooth: three moving averages, then a LOESS.
      movingAverage(w1, m, np, w2);
      movingAverage(w2, m - np + 1, np, w0);
      movingAverage(w0, m - 2 * np + 2, 3, w2);
      loess.ess(w2, w2, n, nl, lowPassDeg, lowPassJump, false, rw, w0, 0);
      // Season = smooth - low-pass; then the deseasonalised series into w0 (and rw * w0 into w5).
      for (let i = 0; i < n; i++) {
        const sv = w1[np + i] - w0[i];
        season[i] = sv;
        w0[i] = ya[i] - sv;
      }
      if (userw) for (let i = 0; i < n; i++) w5[i] = rw[i] * w0[i];
      loess.ess(w0, w5, n, nt, trendDeg, trendJump, userw, rw, trend, 0);
      if (it + 1 < o.innerIterations) {
        if (userw) {
          for (let i = 0; i < n; i++) {
            const v = ya[i] - trend[i];
            w0[i] = v;
            w5[i] = rw[i] * v;
          }
        } else {
          for (let i = 0; i < n; i++) w0[i] = ya[i] - trend[i];
        }
      }
    }
  };

  /** Bisquare robustness weights from the residuals, scaled by 6 * median(|resid|). */
  const robustnessWeights = (): void => {
    for (let i = 0; i < n; i++) {
      const r = ya[i] - (trend[i] + season[i]);
      rw[i] = r < 0 ? -r : r;
      w0[i] = rw[i];
    }
    const hiMid = n >> 1;
    const loMid = n - hiMid - 1;
    select(w0, hiMid, 0, n - 1);
    const a = w0[hiMid];
    let b = a;
    if (loMid !== hiMid) {
      // After selection everything left of hiMid is <= a, so the lower middle is their maximum.
      b = w0[0];
      for (let i = 1; i < hiMid; i++) if (w0[i] > b) b = w0[i];
    }
    const cmad = 3 * (a + b);
    if (cmad === 0) {
      rw.fill(1);
      return;
    }
    const c9 = 0.999 * cmad;
    const c1 = 0.001 * cmad;
    for (let i = 0; i < n; i++) {
      const r = rw[i];
      if (r <= c1) {
        rw[i] = 1;
      } else if (r <= c9) {
        const u = r / cmad;
        const t = 1 - u * u;
        rw[i] = t * t;
      } else {
        rw[i] = 0;
      }
    }
  };

  let userw = false;
  for (let k = 0; ; ) {
    innerLoop(userw);
    k++;
    if (k > o.outerIterations) break;
    robustnessWeights();
    userw = true;
  }

  const resid = new Float64Array(n);
  for (let i = 0; i < n; i++) resid[i] = ya[i] - season[i] - trend[i];
  return { trend, seasonal: season, resid, weights: rw };
}
