// Short-memory scorer for series without useful seasonality: how far the point lies from the rolling median of
// the recent past, in units of that past's robust spread.

import type { OnlineScorer } from './scorer';
import { robustScale, SortedWindow } from './windows';

export interface ShortMemoryOptions {
  /** Points in the reference window. */
  readonly window: number;
  /** Points needed before the scorer judges. */
  readonly minPoints: number;
}

/**
 * Robust z of the point against the last `window` points: (x - median) / spread. The median and a quantile
 * spread ignore the very spikes being looked for, which a mean and standard deviation would absorb; the
 * spread falls back to wider quantile ranges when most values are identical (an idle counter at zero), so a
 * burst on a flat series still has a finite, comparable size.
 */
export class ShortMemoryScorer implements OnlineScorer {
  readonly name = 'shortMemory';
  private readonly past: SortedWindow;

  constructor(private readonly options: ShortMemoryOptions) {
    this.past = new SortedWindow(options.window);
  }

  update(_t: number, x: number): number {
    const past = this.past;
    let z = Number.NaN;
    if (past.length >= this.options.minPoints) {
      const median = past.quantile(0.5);
      z = (x - median) / Math.max(robustScale(past), spreadFloor(median));
    }
    past.push(x);
    return z;
  }

  markGap(): void {}
}

/** Smallest spread worth resolving around a level: one part in a million of it, and never zero. */
export const spreadFloor = (level: number): number => Math.max(Math.abs(level) * 1e-6, 1e-9);
