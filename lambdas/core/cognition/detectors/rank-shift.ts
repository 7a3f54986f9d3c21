// Rank-based level-shift scorer: each point's mid-rank among the points before it, then a Stouffer sum over the
// last few ranks, so a sustained move to the edge of the recent range stands out while a single spike, the
// series' units, its skew and its quantisation (values in steps of one unit) do not matter.

import type { OnlineScorer } from './scorer';
import { Ring, SortedWindow } from './windows';

export interface RankShiftOptions {
  /** Points whose ranks are summed. */
  readonly recent: number;
  /** Past points each new point is ranked against. */
  readonly reference: number;
  /** Reference points needed before the scorer judges. */
  readonly minPoints: number;
}

/**
 * u = (points below + half the ties) / reference size, in (0, 1) and uniform for a stationary series; the
 * statistic is sum(probit(u)) / sqrt(recent) over the last `recent` points: about N(0, 1) without a change,
 * large positive after a shift up, large negative after one down. Ranks are clipped to half a reference step
 * from 0 and 1, so one extreme point adds at most ~3 to the sum.
 */
export class RankShiftScorer implements OnlineScorer {
  readonly name = 'rankShift';
  private readonly reference: SortedWindow;
  private readonly probits: Ring;
  private sum = 0;
  private readonly norm: number;

  constructor(private readonly options: RankShiftOptions) {
    this.reference = new SortedWindow(options.reference);
    this.probits = new Ring(options.recent);
    this.norm = 1 / Math.sqrt(options.recent);
  }

  update(_t: number, x: number): number {
    const ref = this.reference;
    const n = ref.length;
    let z = Number.NaN;
    if (n >= this.options.minPoints) {
      const above = ref.countAtLeast(x);
      const ties = ref.countEqual(x);
      const below = n - above;
      const u = Math.min(Math.max((below + 0.5 * ties) / n, 0.5 / n), 1 - 0.5 / n);
      z = probit(u);
    }
    const k = this.options.recent;
    if (this.probits.length === k) {
      const old = this.probits.recent(k - 1);
      if (old === old) this.sum -= old;
    }
    this.probits.push(z);
    if (z === z) this.sum += z;
    ref.push(x);
    const oldest = this.probits.recent(k - 1);
    if (!(z === z) || this.probits.length < k || !(oldest === oldest)) return Number.NaN;
    return this.sum * this.norm;
  }

  skip(): void {}
}

/** Inverse of the standard normal CDF (Acklam's rational approximation, relative error below 1.2e-9). */
export function probit(p: number): number {
  const low = 0.02425;
  if (p < low) {
    const q = Math.sqrt(-2 * Math.log(p));
    return tail(q);
  }
  if (p > 1 - low) {
    const q = Math.sqrt(-2 * Math.log(1 - p));
    return -tail(q);
  }
  const q = p - 0.5;
  const r = q * q;
  return (
    ((((((-39.69683028665376 * r + 220.9460984245205) * r - 275.9285104469687) * r + 138.357751867269) * r -
      30.66479806614716) *
      r +
      2.506628277459239) *
      q) /
    (((((-54.47609879822406 * r + 161.5858368580409) * r - 155.6989798598866) * r + 66.80131188771972) * r -
      13.28068155288572) *
      r +
      1)
  );
}

function tail(q: number): number {
  return (
    (((((-0.007784894002430293 * q - 0.3223964580411365) * q - 2.400758277161838) * q - 2.549732539343734) * q +
      4.374664141464968) *
      q +
      2.938163982698783) /
    ((((0.007784695709041462 * q + 0.3224671290700398) * q + 2.445134137142996) * q + 3.754408661907416) * q + 1)
  );
}
