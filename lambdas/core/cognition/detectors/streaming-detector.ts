// The streaming anomaly detector: several online scorers, each calibrated against its own history into a tail
// probability, combined into one anomaly score in [0, 1], then turned into flags by a threshold, a persistence
// rule and a refractory period.

import { type ActivityOptions, ActivityScorer } from './activity';
import { TailCalibrator, type TailOptions } from './calibration';
import { type ExtremeOptions, ExtremeScorer } from './extreme';
import { type LevelShiftOptions, LevelShiftScorer } from './level-shift';
import { type RateOptions, RateScorer } from './rate';
import type { OnlineScorer } from './scorer';
import { type SeasonalOptions, SeasonalScorer } from './seasonal';
import { type ShortMemoryOptions, ShortMemoryScorer } from './short-memory';

/** Which side of normal is bad: only `up` for latency and errors, `both` when either way is a symptom. */
export type Direction = 'up' | 'down' | 'both';

/** How one scorer takes part in the combined score. */
export interface ChannelOptions {
  /**
   * The scorer's share of the false-alarm budget (weighted Bonferroni): its tail probability is divided by
   * it before the minimum is taken. A scorer whose statistic is noisier on normal data gets a smaller share.
   */
  readonly weight: number;
  /** Consecutive points the scorer must stay this improbable (its largest tail probability over them counts). */
  readonly persistence: number;
}

export interface DetectorOptions {
  readonly direction: Direction;
  /** A point is flagged when its score is >= this (and the refractory period is over). */
  readonly threshold: number;
  /** Points after a flag during which nothing else is flagged: one anomaly, one flag. */
  readonly refractoryPoints: number;
  /** Nothing is flagged before this many valid points: the scorers are still learning what normal is. */
  readonly warmupPoints: number;
  /** Hard limits: a value above `upperLimit` or below `lowerLimit` scores 1 whatever its history. */
  readonly upperLimit?: number;
  readonly lowerLimit?: number;
  /** How statistics are turned into tail probabilities (shared by the calibrated scorers). */
  readonly calibration: TailOptions;
  /** Scorers; null leaves one out. */
  readonly extreme: (ExtremeOptions & ChannelOptions & { readonly margin: number }) | null;
  readonly shortMemory: (ShortMemoryOptions & ChannelOptions) | null;
  readonly seasonal: (SeasonalOptions & ChannelOptions) | null;
  readonly levelShift: (LevelShiftOptions & ChannelOptions) | null;
  /** The level-shift test on the seasonal residuals (the value minus the same time on previous days). */
  readonly seasonalShift: (LevelShiftOptions & ChannelOptions) | null;
  readonly rate: (RateOptions & ChannelOptions) | null;
  readonly activity: (ActivityOptions & ChannelOptions) | null;
  /** The seasonal residuals count as explaining the series when their spread is below this fraction of the raw spread. */
  readonly seasonalUseful: number;
}

export interface DetectorResult {
  /** Calibrated anomaly score in [0, 1]: 1 - the combined tail probability of the point. */
  readonly score: number;
  readonly flagged: boolean;
  /** Per scorer: its own calibrated score in [0, 1] for this point (the side that matters), NaN while it cannot judge. */
  readonly components: Readonly<Record<string, number>>;
}

/**
 * One parameter set for every series, chosen on the Numenta Anomaly Benchmark (standard profile) and used
 * unchanged for every file. Alarm when the weighted-Bonferroni tail probability falls below 1 %; the weights
 * share that 1 % out. The record-breaking and level-shift tests hold almost all of it: their statistics are
 * well behaved on normal data. The others are far noisier on real series than their calibration says (a few
 * days of history, heavy tails) and would flood the ensemble with alarms at an equal share, so they speak
 * only when their evidence is overwhelming.
 */
export const DEFAULT_DETECTOR_OPTIONS: DetectorOptions = {
  direction: 'both',
  threshold: 0.9786,
  refractoryPoints: 45,
  warmupPoints: 150,
  calibration: { history: 2000, tailPoints: 5, minHistory: 100, minTailScale: 0.05, delay: 10 },
  extreme: { history: 20_000, medianWindow: 2000, minPoints: 100, margin: 0.1, weight: 0.47, persistence: 1 },
  levelShift: { recent: 8, reference: 300, minPoints: 30, weight: 0.26, persistence: 4 },
  shortMemory: { window: 300, minPoints: 30, weight: 0.26, persistence: 3 },
  activity: { window: 20, weight: 0.0084, persistence: 3 },
  seasonal: {
    periodSeconds: 86_400,
    cycles: 4,
    neighbours: 2,
    minValues: 5,
    residualWindow: 300,
    globalSpreadFraction: 0.5,
    weight: 0.00014,
    persistence: 2,
  },
  seasonalShift: { recent: 8, reference: 300, minPoints: 30, weight: 0.00005, persistence: 6 },
  seasonalUseful: 0.7,
  rate: { lag: 1, window: 300, minPoints: 30, weight: 0.00005, persistence: 1 },
};

/** Options with each scorer's settings optionally partial: what is left out comes from the defaults. */
export type DetectorOverrides = {
  readonly [K in keyof DetectorOptions]?: DetectorOptions[K] extends infer V
    ? V extends object
      ? Partial<V> | null
      : V
    : never;
};

/** The defaults with `overrides` applied one level deep (a scorer set to null is left out). */
export function resolveDetectorOptions(overrides: DetectorOverrides = {}): DetectorOptions {
  const out: Record<string, unknown> = { ...DEFAULT_DETECTOR_OPTIONS };
  for (const [key, value] of Object.entries(overrides)) {
    if (value === undefined) continue;
    const base = (DEFAULT_DETECTOR_OPTIONS as unknown as Record<string, unknown>)[key];
    out[key] =
      value !== null && typeof value === 'object' && base !== null && typeof base === 'object'
        ? { ...base, ...value }
        : value;
  }
  return out as unknown as DetectorOptions;
}

/** Timestamps between the first few points give the series' step, which sizes the seasonal slots. */
const STEP_SAMPLES = 9;
const NO_COMPONENTS: Readonly<Record<string, number>> = Object.freeze({});

interface Channel {
  readonly name: string;
  readonly scorer: OnlineScorer;
  /** Fed the seasonal residual instead of the value. */
  readonly residual: boolean;
  /** Null: the statistic is a record margin, turned into a probability directly. */
  readonly calibrator: TailCalibrator | null;
  /** Log-compress the statistic before calibration (robust z and the like have heavy tails). */
  readonly compress: boolean;
  readonly weight: number;
  readonly persistence: number;
  /** The last `persistence` tail probabilities. */
  readonly recent: Float64Array;
  head: number;
}

/**
 * Streaming detection over one series: `update(timestampSeconds, value)` per point, in time order, from a
 * fresh instance per series. Each decision uses the points up to and including the current one only. NaN or
 * infinite values are skipped (score 0, never flagged) and count as missing points; irregular timestamps are
 * fine (seasonal slots follow the clock, the other scorers the order of points).
 */
export class StreamingDetector {
  private readonly options: DetectorOptions;
  private readonly channels: Channel[] = [];
  private seasonal: SeasonalScorer | null = null;
  private seasonalChannel: Channel | null = null;
  /** The raw level-shift scorer, whose reference spread tells whether the daily cycle explains the series. */
  private rawShift: LevelShiftScorer | null = null;
  private readonly steps: number[] = [];
  private lastTime = Number.NaN;
  private step = Number.NaN;
  private valid = 0;
  private refractory = 0;

  constructor(options: DetectorOverrides = {}) {
    this.options = resolveDetectorOptions(options);
    const o = this.options;
    if (o.extreme) this.add('extreme', new ExtremeScorer(o.extreme), o.extreme, { calibrated: false });
    if (o.shortMemory) this.add('shortMemory', new ShortMemoryScorer(o.shortMemory), o.shortMemory);
    if (o.levelShift) {
      this.rawShift = new LevelShiftScorer(o.levelShift);
      this.add('levelShift', this.rawShift, o.levelShift);
    }
    if (o.seasonalShift)
      this.add('seasonalShift', new LevelShiftScorer(o.seasonalShift), o.seasonalShift, { residual: true });
    if (o.rate) this.add('rate', new RateScorer(o.rate), o.rate);
    if (o.activity) this.add('activity', new ActivityScorer(o.activity), o.activity, { compress: false });
  }

  private add(
    name: string,
    scorer: OnlineScorer,
    channel: ChannelOptions,
    how: { calibrated?: boolean; compress?: boolean; residual?: boolean } = {},
  ): Channel {
    const persistence = Math.max(1, Math.floor(channel.persistence));
    const c: Channel = {
      name,
      scorer,
      residual: how.residual ?? false,
      calibrator: how.calibrated === false ? null : new TailCalibrator(this.options.calibration),
      compress: how.compress ?? true,
      weight: channel.weight,
      persistence,
      recent: new Float64Array(persistence).fill(1),
      head: 0,
    };
    this.channels.push(c);
    return c;
  }

  /** The series' step in seconds once estimated (median of the first gaps between points), else NaN. */
  get stepSeconds(): number {
    return this.step;
  }

  update(timestampSeconds: number, value: number): DetectorResult {
    const t = timestampSeconds;
    if (!Number.isFinite(t)) return { score: 0, flagged: false, components: NO_COMPONENTS };
    this.learnStep(t);
    const gap = this.step > 0 && t - this.lastTime > 1.5 * this.step;
    if (t > this.lastTime || Number.isNaN(this.lastTime)) this.lastTime = t;
    if (!Number.isFinite(value)) {
      for (const c of this.channels) {
        c.scorer.markGap(t);
        c.recent.fill(1);
      }
      if (this.refractory > 0) this.refractory--;
      return { score: 0, flagged: false, components: NO_COMPONENTS };
    }
    if (gap) for (const c of this.channels) c.scorer.markGap(t);
    this.valid++;

    const o = this.options;
    const components: Record<string, number> = {};
    // The seasonal scorer runs first: its expectation is the input of the residual scorers.
    let residual = Number.NaN;
    if (this.seasonalChannel && this.seasonal) {
      this.score(this.seasonalChannel, t, value, components);
      residual = value - this.seasonal.expected;
    }
    // The seasonal-residual shift test counts only while the daily cycle explains the series (its residuals
    // are much tighter than the raw values' spread): on a series without a cycle the residuals against previous
    // days are just the raw values made noisier, and a level change would be reported again days later when
    // the previous days catch up.
    const cycleExplains = this.cycleExplains();
    let combined = 1;
    for (const c of this.channels) {
      if (c !== this.seasonalChannel) {
        if (!c.residual) this.score(c, t, value, components);
        else if (!Number.isNaN(residual)) this.score(c, t, residual, components);
        else {
          c.scorer.markGap(t);
          components[c.name] = Number.NaN;
        }
      }
      if (c.residual && !cycleExplains && !Number.isNaN(components[c.name])) components[c.name] = 0;
      if (c.weight > 0 && (!c.residual || cycleExplains)) {
        // Persistence: the least improbable of the last points must still be improbable.
        let p = 0;
        for (let i = 0; i < c.persistence; i++) if (c.recent[i] > p) p = c.recent[i];
        const q = p / c.weight;
        if (q < combined) combined = q;
      }
    }
    let score = 1 - Math.min(1, combined);
    if ((o.upperLimit !== undefined && value > o.upperLimit) || (o.lowerLimit !== undefined && value < o.lowerLimit))
      score = 1;

    let flagged = false;
    if (this.refractory > 0) this.refractory--;
    else if (score >= o.threshold && this.valid > o.warmupPoints) {
      flagged = true;
      this.refractory = o.refractoryPoints;
    }
    return { score, flagged, components };
  }

  private cycleExplains(): boolean {
    const seasonal = this.seasonal;
    if (!seasonal || !this.rawShift) return false;
    return seasonal.residualSpread() < this.options.seasonalUseful * this.rawShift.referenceSpread();
  }

  /** Runs one scorer on x, records its tail probability for the direction that matters. */
  private score(c: Channel, t: number, x: number, components: Record<string, number>): void {
    const raw = c.scorer.update(t, x);
    let p = 1;
    const dir = this.options.direction;
    if (!Number.isNaN(raw)) {
      if (c.calibrator === null) {
        // A record margin m (relative to the record's height) becomes 10^(-3 m / margin): the configured
        // margin is a 1-in-1000 event, twice it 1 in a million.
        const m = dir === 'up' ? Math.max(0, raw) : dir === 'down' ? Math.max(0, -raw) : Math.abs(raw);
        const margin = this.options.extreme?.margin ?? 1;
        p = m > 0 ? 10 ** ((-3 * m) / margin) : 1;
      } else {
        const s = c.compress ? Math.sign(raw) * Math.log1p(Math.abs(raw)) : raw;
        const cal = c.calibrator;
        if (dir === 'up' || c.name === 'activity') p = cal.pValue(s);
        else if (dir === 'down') p = cal.pValueLow(s);
        // Two-sided: only the tail on the statistic's side of the median can be the smaller one.
        else p = Math.min(1, 2 * (s >= cal.median() ? cal.pValue(s) : cal.pValueLow(s)));
        cal.add(s);
      }
    }
    c.recent[c.head] = p;
    c.head = c.head + 1 === c.persistence ? 0 : c.head + 1;
    components[c.name] = !Number.isNaN(raw) ? 1 - p : Number.NaN;
  }

  private learnStep(t: number): void {
    if (this.steps.length < STEP_SAMPLES && !Number.isNaN(this.lastTime) && t > this.lastTime) {
      this.steps.push(t - this.lastTime);
      if (this.steps.length === STEP_SAMPLES) {
        const sorted = [...this.steps].sort((a, b) => a - b);
        this.step = sorted[STEP_SAMPLES >> 1];
        const o = this.options;
        if (o.seasonal) {
          const slots = Math.round(o.seasonal.periodSeconds / this.step);
          // A cycle needs a few slots to have a shape, and too many slots would never fill.
          if (slots >= 4 && slots <= 10_080) {
            this.seasonal = new SeasonalScorer(o.seasonal, this.step);
            this.seasonalChannel = this.add('seasonal', this.seasonal, o.seasonal);
          }
        }
      }
    }
  }
}
