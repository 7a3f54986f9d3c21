// Turns a scorer's raw statistic into a tail probability against the statistic's own recent history, so
// statistics in different units (robust z, shift sizes, rates) become comparable and can be combined.

import { Ring, SortedWindow } from './windows';

export interface TailOptions {
  /** How many past statistics form the reference distribution. */
  readonly history: number;
  /** Largest values used to fit the exponential tail beyond the observed ones. */
  readonly tailPoints: number;
  /** No probability below 1 until this many statistics are held: an empty history calibrates nothing. */
  readonly minHistory: number;
  /** Lower bound on the tail's scale, in the statistic's units: a flat history must not make 1e-12 a record. */
  readonly minTailScale: number;
  /**
   * Statistics join the history this many points late, so the points of one ongoing event (a shift lasting a
   * while) are judged against the time before it rather than against each other.
   */
  readonly delay?: number;
}

/**
 * Tail probabilities P(S >= s) and P(S <= s) of a statistic against its last `history` values. Inside the
 * observed range it is the empirical fraction; beyond the `tailPoints`-th most extreme value it follows an
 * exponential tail fitted to the excesses over that value (a peaks-over-threshold fit with shape 0, as in
 * SPOT, Siffer et al. 2017), so a value far beyond every past one gets a probability far below 1/history
 * instead of stalling at it.
 */
export class TailCalibrator {
  private readonly window: SortedWindow;
  private readonly pending: Ring | undefined;

  constructor(private readonly options: TailOptions) {
    this.window = new SortedWindow(options.history);
    if (options.delay && options.delay > 0) this.pending = new Ring(options.delay);
  }

  get size(): number {
    return this.window.length;
  }

  /** Median of the history (NaN when empty). */
  median(): number {
    return this.window.quantile(0.5);
  }

  /** P(S >= s) under the history (1 while the history is too short); does not learn s. */
  pValue(s: number): number {
    const w = this.window;
    const n = w.length;
    if (n < this.options.minHistory || Number.isNaN(s)) return 1;
    const k = Math.min(this.options.tailPoints, n);
    const u = w.at(n - k);
    if (s <= u) return w.countAtLeast(s) / n;
    let excess = 0;
    for (let i = n - k; i < n; i++) excess += w.at(i) - u;
    const beta = Math.max(excess / k, this.options.minTailScale);
    return beta > 0 ? (k / n) * Math.exp(-(s - u) / beta) : 0;
  }

  /** P(S <= s) under the history, the same way on the lower tail; does not learn s. */
  pValueLow(s: number): number {
    const w = this.window;
    const n = w.length;
    if (n < this.options.minHistory || Number.isNaN(s)) return 1;
    const k = Math.min(this.options.tailPoints, n);
    const u = w.at(k - 1);
    if (s >= u) return (n - w.countAtLeast(s) + w.countEqual(s)) / n;
    let excess = 0;
    for (let i = 0; i < k; i++) excess += u - w.at(i);
    const beta = Math.max(excess / k, this.options.minTailScale);
    return beta > 0 ? (k / n) * Math.exp(-(u - s) / beta) : 0;
  }

  /** Learns s (finite values only). */
  add(s: number): void {
    const pending = this.pending;
    if (pending) {
      if (pending.length === pending.capacity) {
        const old = pending.recent(pending.capacity - 1);
        if (Number.isFinite(old)) this.window.push(old);
      }
      pending.push(s);
    } else if (Number.isFinite(s)) this.window.push(s);
  }
}
