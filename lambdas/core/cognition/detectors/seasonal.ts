// Seasonal residual scorer: compares a point with the same time of day on the previous days, for series whose
// daily cycle would otherwise hide a value that is normal in level but wrong for its hour (a day that never
// rises, a plateau at night).

import { medianOf, type OnlineScorer, sortedQuantile } from './scorer';
import { spreadFloor } from './short-memory';
import { robustScale, SortedWindow } from './windows';

export interface SeasonalOptions {
  /** Length of the cycle in seconds (a day). */
  readonly periodSeconds: number;
  /** Previous cycles compared against. */
  readonly cycles: number;
  /** Neighbouring time slots on each side also compared, so a cycle that drifts by a slot or two still matches. */
  readonly neighbours: number;
  /** Values from previous cycles needed before the scorer judges. */
  readonly minValues: number;
  /** Residuals kept for the series-wide residual spread. */
  readonly residualWindow: number;
  /** The spread is at least this fraction of the series-wide residual spread. */
  readonly globalSpreadFraction: number;
}

/**
 * Robust z of the residual against the median of the same time slot (± `neighbours` slots) over the last
 * `cycles` cycles, divided by the larger of that neighbourhood's spread (slots differ: a busy daytime is
 * noisier than the night) and a fraction of the recent residuals' spread (a handful of values can agree by
 * chance). Slots are wall-clock positions in the cycle, so gaps and irregular timestamps keep their place.
 */
export class SeasonalScorer implements OnlineScorer {
  readonly name = 'seasonal';
  private readonly slots: number;
  /** values[slot * cycles + cycle % cycles], and the cycle number each was written in. */
  private readonly values: Float64Array;
  private readonly cycleOf: Float64Array;
  private readonly scratch: Float64Array;
  private readonly residuals: SortedWindow;
  /** What the last point was expected to be (the median of its slot on previous cycles); NaN without one. */
  expected = Number.NaN;

  constructor(
    private readonly options: SeasonalOptions,
    readonly stepSeconds: number,
  ) {
    this.slots = Math.max(1, Math.round(options.periodSeconds / stepSeconds));
    this.values = new Float64Array(this.slots * options.cycles).fill(Number.NaN);
    this.cycleOf = new Float64Array(this.slots * options.cycles).fill(Number.NaN);
    this.scratch = new Float64Array(options.cycles * (2 * options.neighbours + 1));
    this.residuals = new SortedWindow(options.residualWindow);
  }

  update(t: number, x: number): number {
    const { cycles, neighbours, periodSeconds } = this.options;
    const cycle = Math.floor(t / periodSeconds);
    const slot = Math.min(this.slots - 1, Math.floor((t - cycle * periodSeconds) / this.stepSeconds));
    let n = 0;
    for (let d = -neighbours; d <= neighbours; d++) {
      let s = slot + d;
      // Slots past midnight belong to the neighbouring cycle: shift the cycle window with them.
      let shift = 0;
      if (s < 0) {
        s += this.slots;
        shift = -1;
      } else if (s >= this.slots) {
        s -= this.slots;
        shift = 1;
      }
      const base = s * cycles;
      for (let c = 0; c < cycles; c++) {
        const age = cycle + shift - this.cycleOf[base + c];
        if (age >= 1 && age <= cycles) this.scratch[n++] = this.values[base + c];
      }
    }
    let z = Number.NaN;
    this.expected = Number.NaN;
    if (n >= this.options.minValues) {
      const median = medianOf(this.scratch, n);
      this.expected = median;
      const local = (sortedQuantile(this.scratch, n, 0.75) - sortedQuantile(this.scratch, n, 0.25)) / 1.349;
      const global = this.residuals.length >= this.options.minValues ? robustScale(this.residuals) : 0;
      const scale = Math.max(local, global * this.options.globalSpreadFraction, spreadFloor(median));
      const r = x - median;
      z = r / scale;
      this.residuals.push(r);
    }
    const at = slot * cycles + (cycle % cycles);
    this.values[at] = x;
    this.cycleOf[at] = cycle;
    return z;
  }

  /** Robust spread of the recent residuals (NaN before there are any): how well the cycle explains the series. */
  residualSpread(): number {
    return this.residuals.length >= this.options.minValues ? robustScale(this.residuals) : Number.NaN;
  }

  markGap(): void {}
}
