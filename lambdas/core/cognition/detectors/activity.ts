// Activity scorer: how much the series has been moving lately (mean absolute point-to-point change over a
// short window), for anomalies that are a change of behaviour rather than of level: a flat series that starts
// oscillating, spikes arriving more often, a busy series that goes quiet.

import type { OnlineScorer } from './scorer';
import { Ring } from './windows';

export interface ActivityOptions {
  /** Changes averaged. */
  readonly window: number;
}

/**
 * log(mean |x[t] - x[t-1]| over the last `window` changes + a floor): the log makes the calibration against the
 * statistic's own history scale-free (a series twice as busy as usual scores the same whatever its units).
 * A missing point breaks the chain: the change across it is not counted.
 */
export class ActivityScorer implements OnlineScorer {
  readonly name = 'activity';
  private readonly changes: Ring;
  private sum = 0;
  private last = Number.NaN;

  constructor(private readonly options: ActivityOptions) {
    this.changes = new Ring(options.window);
  }

  update(_t: number, x: number): number {
    const w = this.options.window;
    const prev = this.last;
    this.last = x;
    const change = !Number.isNaN(prev) ? Math.abs(x - prev) : Number.NaN;
    if (this.changes.length === w) {
      const old = this.changes.recent(w - 1);
      if (!Number.isNaN(old)) this.sum -= old;
    }
    this.changes.push(change);
    if (!Number.isNaN(change)) this.sum += change;
    if (this.changes.length < w) return Number.NaN;
    // The floor (a billionth of the value's size) only keeps an idle series' log finite and constant.
    return Math.log(Math.max(0, this.sum) / w + 1e-9 * (1 + Math.abs(x)));
  }

  markGap(): void {
    this.last = Number.NaN;
  }
}
