// Extreme-value scorer: how far the value breaks the record of the series' history, so a value beyond
// everything seen before (a new maximum or minimum by a clear margin) stands out whatever the series' shape,
// noise or seasonality.

import type { OnlineScorer } from './scorer';
import { SortedWindow } from './windows';

export interface ExtremeOptions {
  /** Past values kept (the record is over these). */
  readonly history: number;
  /** Values needed before the scorer judges. */
  readonly minPoints: number;
}

/**
 * The margin by which x exceeds the past maximum, relative to the distance from the past median to that
 * maximum: 0.5 means the record is broken by half the record's own height above the median. Negative margins
 * for new minimums (relative to median - minimum); 0 inside the past range. The ratio is scale- and
 * offset-free, and a series whose record has already been pushed by big spikes needs a bigger one to count.
 */
export class ExtremeScorer implements OnlineScorer {
  readonly name = 'extreme';
  private readonly past: SortedWindow;

  constructor(private readonly options: ExtremeOptions) {
    this.past = new SortedWindow(options.history);
  }

  update(_t: number, x: number): number {
    const past = this.past;
    let m = Number.NaN;
    if (past.length >= this.options.minPoints) {
      const hi = past.max();
      const lo = past.min();
      const mid = past.quantile(0.5);
      if (x > hi) m = hi > mid ? (x - hi) / (hi - mid) : Number.POSITIVE_INFINITY;
      else if (x < lo) m = lo < mid ? (x - lo) / (mid - lo) : Number.NEGATIVE_INFINITY;
      else m = 0;
    }
    past.push(x);
    return m;
  }

  skip(): void {}
}
