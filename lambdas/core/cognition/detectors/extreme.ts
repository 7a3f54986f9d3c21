// Extreme-value scorer: how far the value breaks the record of the series' history, so a value beyond
// everything seen before (a new maximum or minimum by a clear margin) stands out whatever the series' shape,
// noise or seasonality.

import type { OnlineScorer } from './scorer';
import { SortedWindow } from './windows';

export interface ExtremeOptions {
  /** Past values the record is kept over (the series' memory: tens of days of points). */
  readonly history: number;
  /** Recent values whose median is the reference level. */
  readonly medianWindow: number;
  /** Values needed before the scorer judges. */
  readonly minPoints: number;
}

/**
 * The margin by which x exceeds the past maximum, relative to the distance from the recent median to that
 * maximum: 0.5 means the record is broken by half the record's own height above the median. Negative margins
 * for new minimums (relative to median - minimum); 0 inside the past range. The ratio is scale- and
 * offset-free, and a series whose record has already been pushed by big spikes needs a bigger one to count.
 *
 * The maximum and minimum over the last `history` points come from monotonic queues (O(1) amortised per
 * point, however long the history), the median from a smaller sorted window.
 */
export class ExtremeScorer implements OnlineScorer {
  readonly name = 'extreme';
  private readonly recent: SortedWindow;
  private readonly maxQueue: MonotonicQueue;
  private readonly minQueue: MonotonicQueue;
  private seen = 0;

  constructor(private readonly options: ExtremeOptions) {
    this.recent = new SortedWindow(options.medianWindow);
    this.maxQueue = new MonotonicQueue(options.history, 1);
    this.minQueue = new MonotonicQueue(options.history, -1);
  }

  update(_t: number, x: number): number {
    let m = Number.NaN;
    if (this.seen >= this.options.minPoints) {
      const hi = this.maxQueue.best();
      const lo = this.minQueue.best();
      const mid = this.recent.quantile(0.5);
      if (x > hi) m = hi > mid ? (x - hi) / (hi - mid) : Number.POSITIVE_INFINITY;
      else if (x < lo) m = lo < mid ? (x - lo) / (mid - lo) : Number.NEGATIVE_INFINITY;
      else m = 0;
    }
    this.recent.push(x);
    this.maxQueue.push(this.seen, x);
    this.minQueue.push(this.seen, x);
    this.seen++;
    return m;
  }

  markGap(): void {}
}

/**
 * Sliding-window maximum (sign 1) or minimum (sign -1) over the last `span` pushes: a ring of candidates kept
 * in decreasing order (of sign * value), each stored with its position; older and dominated ones drop out.
 */
class MonotonicQueue {
  private readonly values: Float64Array;
  private readonly positions: Float64Array;
  private head = 0;
  private size = 0;

  constructor(
    private readonly span: number,
    private readonly sign: 1 | -1,
  ) {
    this.values = new Float64Array(span + 1);
    this.positions = new Float64Array(span + 1);
  }

  /** The maximum (or minimum) of the window; NaN when empty. */
  best(): number {
    return this.size ? this.values[this.head] : Number.NaN;
  }

  push(position: number, x: number): void {
    const cap = this.values.length;
    // Drop dominated candidates from the back: they can never be the best again.
    while (this.size > 0) {
      const back = (this.head + this.size - 1) % cap;
      if (this.sign * this.values[back] > this.sign * x) break;
      this.size--;
    }
    const at = (this.head + this.size) % cap;
    this.values[at] = x;
    this.positions[at] = position;
    this.size++;
    // Expire the front once it falls out of the window.
    while (this.size > 0 && this.positions[this.head] <= position - this.span) {
      this.head = (this.head + 1) % cap;
      this.size--;
    }
  }
}
