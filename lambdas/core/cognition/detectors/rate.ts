// Rate-of-change scorer, for counters and fast ramps: how unusual the latest change is against recent changes.

import type { OnlineScorer } from './scorer';
import { spreadFloor } from './short-memory';
import { robustScale, SortedWindow } from './windows';

export interface RateOptions {
  /** Points over which the change is measured (1: point to point). */
  readonly lag: number;
  /** Past changes kept as the reference. */
  readonly window: number;
  /** Past changes needed before the scorer judges. */
  readonly minPoints: number;
}

/**
 * Robust z of x[t] - x[t - lag] against the recent changes over the same lag. A ramp or a counter that starts
 * climbing faster shows here before its level leaves the range of the past; a missing point breaks the chain
 * (the change across a gap is not a rate).
 */
export class RateScorer implements OnlineScorer {
  readonly name = 'rate';
  private readonly changes: SortedWindow;
  private readonly last: Float64Array;
  private head = 0;
  private seen = 0;

  constructor(private readonly options: RateOptions) {
    this.changes = new SortedWindow(options.window);
    this.last = new Float64Array(options.lag).fill(Number.NaN);
  }

  update(_t: number, x: number): number {
    const lag = this.options.lag;
    const before = this.seen >= lag ? this.last[this.head] : Number.NaN;
    this.last[this.head] = x;
    this.head = (this.head + 1) % lag;
    this.seen++;
    if (Number.isNaN(before)) return Number.NaN;
    const change = x - before;
    const ch = this.changes;
    let z = Number.NaN;
    if (ch.length >= this.options.minPoints) {
      const median = ch.quantile(0.5);
      z = (change - median) / Math.max(robustScale(ch), spreadFloor(Math.abs(x)));
    }
    ch.push(change);
    return z;
  }

  markGap(): void {
    this.last[this.head] = Number.NaN;
    this.head = (this.head + 1) % this.options.lag;
    this.seen++;
  }
}
