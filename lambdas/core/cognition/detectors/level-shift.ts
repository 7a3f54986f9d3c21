// Level-shift scorer: a robust two-window test, the median of the last few points against the longer past
// before them, so a step change stands out after a handful of points even when each point alone is unremarkable.

import { medianOf, type OnlineScorer } from './scorer';
import { spreadFloor } from './short-memory';
import { Ring, robustScale, SortedWindow } from './windows';

export interface LevelShiftOptions {
  /** Points in the recent window (the candidate new level). */
  readonly recent: number;
  /** Points in the reference window before it. */
  readonly reference: number;
  /** Reference points needed before the scorer judges. */
  readonly minPoints: number;
}

/**
 * (median of the last `recent` points - median of the `reference` points before them) / the reference's robust
 * spread, scaled by sqrt(recent) as a mean's z would be (so a sustained shift of half a spread over 16 points
 * scores like a 2-spread spike). Medians on both sides keep a single spike from looking like a shift.
 */
export class LevelShiftScorer implements OnlineScorer {
  readonly name = 'levelShift';
  private readonly recent: Ring;
  private readonly reference: SortedWindow;
  private readonly scratch: Float64Array;
  private readonly gain: number;

  constructor(private readonly options: LevelShiftOptions) {
    this.recent = new Ring(options.recent);
    this.reference = new SortedWindow(options.reference);
    this.scratch = new Float64Array(options.recent);
    this.gain = Math.sqrt(options.recent);
  }

  update(_t: number, x: number): number {
    const recent = this.recent;
    const k = this.options.recent;
    // The oldest recent point moves into the reference window as the new one arrives.
    if (recent.length === k) this.reference.push(recent.recent(k - 1));
    recent.push(x);
    const ref = this.reference;
    if (recent.length < k || ref.length < this.options.minPoints) return Number.NaN;
    for (let i = 0; i < k; i++) this.scratch[i] = recent.recent(i);
    const level = medianOf(this.scratch, k);
    const median = ref.quantile(0.5);
    return ((level - median) / Math.max(robustScale(ref), spreadFloor(median))) * this.gain;
  }

  /** Robust spread of the reference window (NaN while it is too short). */
  referenceSpread(): number {
    return this.reference.length >= this.options.minPoints ? robustScale(this.reference) : Number.NaN;
  }

  markGap(): void {}
}
