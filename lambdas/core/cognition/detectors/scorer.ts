// What every online scorer of the ensemble implements.

/**
 * An online scorer: for each new point, a signed statistic computed from the past points only (positive:
 * the point is high for its context, negative: low), after which the point joins the past. NaN means the
 * scorer cannot judge yet (warming up) or the point is missing.
 */
export interface OnlineScorer {
  readonly name: string;
  /** Statistic for (t, x) against the points before it, then learns it. x is finite; t in seconds. */
  update(t: number, x: number): number;
  /** A point is missing at time t (a gap or a NaN value): scorers that count positions advance. */
  markGap(t: number): void;
}

/** Median of the first n values of a scratch array (reorders them). */
export function medianOf(a: Float64Array, n: number): number {
  if (n === 0) return Number.NaN;
  sortPrefix(a, n);
  const h = n >> 1;
  return n & 1 ? a[h] : 0.5 * (a[h - 1] + a[h]);
}

/** Quantile (type 7) of the first n values of an array already sorted by `sortPrefix`. */
export function sortedQuantile(a: Float64Array, n: number, q: number): number {
  const pos = q * (n - 1);
  const lo = Math.floor(pos);
  const frac = pos - lo;
  return frac === 0 || lo + 1 >= n ? a[lo] : a[lo] + frac * (a[lo + 1] - a[lo]);
}

/** Insertion sort of the first n values: the arrays here hold a few dozen values at most. */
export function sortPrefix(a: Float64Array, n: number): void {
  for (let i = 1; i < n; i++) {
    const v = a[i];
    let j = i - 1;
    while (j >= 0 && a[j] > v) {
      a[j + 1] = a[j];
      j--;
    }
    a[j + 1] = v;
  }
}
