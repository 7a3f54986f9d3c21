// Scores every series of a tick against its baseline in one pass over typed arrays, and applies the
// persistence rule: a series is raised only after `persistenceTicks` anomalous ticks in a row.
//
// Layout: per-series state lives in parallel typed arrays indexed by series; the daily profile is slot-major
// (all series' offsets for one slot lie together), so a tick reads one contiguous row. An object per series
// would be several times slower at 100,000 series.

import type { DetectionConfig, Signal } from '../config/schema';
import { parseSeriesKey } from '../perception/collect';
import { counterIncrease, HOURS_PER_DAY, SECONDS_PER_DAY, type SeriesBaseline } from './baseline';
import { DEFAULT_HOLT, forecastBreach, type HoltState, HoltTables, holtUpdate } from './forecast';

/** Direction codes: which side of the baseline is bad. */
const UP = 1;
const DOWN = -1;
const BOTH = 0;

/** Weight of a new normal point in the running level (about a 50-minute memory at one tick a minute). */
const LEVEL_ALPHA = 0.02;
/** Residuals are clipped to this many sigmas before they move the level, so an anomaly never becomes normal. */
const LEVEL_CLIP = 2;
/** A series without a learned baseline scores against its own running statistics after this many points. */
const WARMUP_POINTS = 30;
const WARMUP_ALPHA = 0.05;
/** EWMA of |deviation| estimates 0.8 sigma for normal data. */
const ABS_DEV_TO_SIGMA = 1.25;
/** Ticks in a row a breach must be forecast before it is raised: a short ramp is not a trend. */
const FORECAST_PERSISTENCE = 10;
/** Points of trend history before forecasts are trusted. */
const FORECAST_WARMUP = 60;
/** The forecast works in ticks; the loop runs one a minute. */
const TICK_SECONDS = 60;
/**
 * Drift detection (signals with `drift`): an exponentially weighted mean of the bad-side z-score (each point
 * capped at DRIFT_CAP, so one spike moves it little). Noise averages out (its mean has a standard deviation of
 * about 0.4 at this weight), while a steady climb of half a sigma a minute takes it past DRIFT_LIMIT in about
 * eight minutes: the climb is flagged as soon as the evidence is there, before one point is five sigmas out.
 */
const DRIFT_WEIGHT = 0.3;
const DRIFT_CAP = 4;
const DRIFT_LIMIT = 2.5;

export interface ScorerSettings {
  readonly threshold: number;
  readonly persistenceTicks: number;
  readonly clearTicks: number;
  readonly slotMinutes: number;
}

export const scorerSettings = (detection: DetectionConfig): ScorerSettings => ({
  threshold: detection.threshold,
  persistenceTicks: detection.persistenceTicks,
  clearTicks: detection.clearTicks,
  slotMinutes: detection.slotMinutes,
});

/** A raised series, as the correlator sees it. */
export interface RaisedSeries {
  readonly key: string;
  readonly signalId: string;
  readonly entity: string;
  readonly value: number;
  readonly expected: number;
  /** Signed robust z-score (positive = above the baseline). */
  readonly z: number;
  /** 0..1 anomaly score; 0.5 at the threshold. */
  readonly score: number;
  /** Epoch seconds of the first anomalous tick of the current run. */
  readonly since: number;
  readonly hardLimitBreached: boolean;
  readonly newlyRaised: boolean;
}

/** A hard limit the trend predictor expects to be crossed within its horizon. */
export interface ForecastBreach {
  readonly key: string;
  readonly signalId: string;
  readonly entity: string;
  readonly value: number;
  readonly limit: number;
  readonly side: 'above' | 'below';
  /** Epoch seconds at which the point forecast crosses the limit. */
  readonly predictedBreachAt: number;
  /** Probability that the value is past the limit then (normal approximation). */
  readonly confidence: number;
  /** Epoch seconds of the first tick of the current run of breach forecasts. */
  readonly since: number;
  readonly newlyRaised: boolean;
}

export interface TickScore {
  readonly time: number;
  readonly scored: number;
  readonly missing: number;
  readonly anomalous: number;
  readonly raised: RaisedSeries[];
  readonly cleared: string[];
  /** Series whose trend is forecast to cross a hard limit within the horizon. */
  readonly forecasts: ForecastBreach[];
}

/** Serializable scorer state: what must survive from one tick to the next. */
export interface ScorerStateSnapshot {
  readonly lastTick: number;
  readonly keys: string[];
  readonly level: Float64Array;
  readonly ewMean: Float64Array;
  readonly ewAbsDev: Float64Array;
  readonly observations: Uint32Array;
  readonly streak: Uint8Array;
  readonly calm: Uint8Array;
  readonly raised: Uint8Array;
  readonly since: Float64Array;
  readonly holtLevel: Float64Array;
  readonly holtTrend: Float64Array;
  readonly holtVariance: Float64Array;
  readonly holtPoints: Uint32Array;
  readonly forecastStreak: Uint8Array;
  readonly forecastCalm: Uint8Array;
  readonly forecastSince: Float64Array;
  /** Last raw value of counter series, to score their per-tick increase. */
  readonly lastRaw: Float64Array;
  /** Weighted mean z-score of signals with `drift` (0 for the others). */
  readonly driftZ: Float64Array;
}

/** A state with no series, at `lastTick`: what a scorer restarts from when its saved state is gone. */
export function emptyScorerState(lastTick: number): ScorerStateSnapshot {
  const f64 = () => new Float64Array(0);
  const u8 = () => new Uint8Array(0);
  return {
    lastTick,
    keys: [],
    level: f64(),
    ewMean: f64(),
    ewAbsDev: f64(),
    observations: new Uint32Array(0),
    streak: u8(),
    calm: u8(),
    raised: u8(),
    since: f64(),
    holtLevel: f64(),
    holtTrend: f64(),
    holtVariance: f64(),
    holtPoints: new Uint32Array(0),
    forecastStreak: u8(),
    forecastCalm: u8(),
    forecastSince: f64(),
    lastRaw: f64(),
    driftZ: f64(),
  };
}

export const anomalyScore = (z: number, threshold: number): number => {
  const r = Math.max(0, z) / threshold;
  return 1 - 0.5 ** (r * r);
};

export class ScoringModel {
  private capacity: number;
  private count = 0;
  private readonly index = new Map<string, number>();
  private keys: string[] = [];
  private readonly slots: number;

  // Per-series constants from the signal catalog.
  private direction: Int8Array;
  private minDeviation: Float64Array;
  private limitAbove: Float64Array;
  private limitBelow: Float64Array;
  // Baseline, slot-major / hour-major.
  private hasBaseline: Uint8Array;
  private seasonal: Float32Array;
  private scale: Float32Array;
  // State carried across ticks.
  private level: Float64Array;
  private ewMean: Float64Array;
  private ewAbsDev: Float64Array;
  private observations: Uint32Array;
  private streak: Uint8Array;
  private calm: Uint8Array;
  private raised: Uint8Array;
  private since: Float64Array;
  // Trend predictor state, for series with a hard limit.
  private hasLimit: Uint8Array;
  private seasonalSwing: Float32Array;
  private holtLevel: Float64Array;
  private holtTrend: Float64Array;
  private holtVariance: Float64Array;
  private holtPoints: Uint32Array;
  private forecastStreak: Uint8Array;
  private forecastCalm: Uint8Array;
  private forecastSince: Float64Array;
  // Counters are judged on their per-tick increase.
  private isCounter: Uint8Array;
  private lastRaw: Float64Array;
  private drift: Uint8Array;
  private driftZ: Float64Array;
  private readonly holt = new HoltTables(DEFAULT_HOLT);
  private lastTick = Number.NEGATIVE_INFINITY;
  // Per-tick outputs.
  private z: Float64Array;
  private expected: Float64Array;
  private readonly signals: Map<string, Signal>;

  constructor(
    signals: readonly Signal[],
    private readonly settings: ScorerSettings,
    initialCapacity = 1024,
  ) {
    this.signals = new Map(signals.map((s) => [s.id, s]));
    this.slots = (24 * 60) / settings.slotMinutes;
    this.capacity = Math.max(16, initialCapacity);
    const c = this.capacity;
    this.direction = new Int8Array(c);
    this.minDeviation = new Float64Array(c);
    this.limitAbove = new Float64Array(c);
    this.limitBelow = new Float64Array(c);
    this.hasBaseline = new Uint8Array(c);
    this.seasonal = new Float32Array(this.slots * c);
    this.scale = new Float32Array(HOURS_PER_DAY * c);
    this.level = new Float64Array(c);
    this.ewMean = new Float64Array(c);
    this.ewAbsDev = new Float64Array(c);
    this.observations = new Uint32Array(c);
    this.streak = new Uint8Array(c);
    this.calm = new Uint8Array(c);
    this.raised = new Uint8Array(c);
    this.since = new Float64Array(c);
    this.hasLimit = new Uint8Array(c);
    this.seasonalSwing = new Float32Array(c);
    this.holtLevel = new Float64Array(c);
    this.holtTrend = new Float64Array(c);
    this.holtVariance = new Float64Array(c);
    this.holtPoints = new Uint32Array(c);
    this.forecastStreak = new Uint8Array(c);
    this.forecastCalm = new Uint8Array(c);
    this.forecastSince = new Float64Array(c);
    this.isCounter = new Uint8Array(c);
    this.lastRaw = new Float64Array(c).fill(Number.NaN);
    this.drift = new Uint8Array(c);
    this.driftZ = new Float64Array(c);
    this.z = new Float64Array(c);
    this.expected = new Float64Array(c);
  }

  get size(): number {
    return this.count;
  }

  get lastTickTime(): number {
    return this.lastTick;
  }

  seriesKeys(): readonly string[] {
    return this.keys;
  }

  /** Index of a series, registering it (with catalog constants) on first sight; -1 for an unknown signal. */
  indexOf(key: string): number {
    const known = this.index.get(key);
    if (known !== undefined) return known;
    const { signalId, entity } = parseSeriesKey(key);
    const signal = this.signals.get(signalId);
    if (!signal) return -1;
    if (this.count === this.capacity) this.grow(this.capacity * 2);
    const i = this.count++;
    this.index.set(key, i);
    this.keys.push(key);
    this.direction[i] = signal.badDirection === 'up' ? UP : signal.badDirection === 'down' ? DOWN : BOTH;
    this.minDeviation[i] = signal.minDeviation;
    const limit = signal.limits[entity] ?? signal.hardLimit;
    this.limitAbove[i] = limit?.above ?? Number.NaN;
    this.limitBelow[i] = limit?.below ?? Number.NaN;
    this.hasLimit[i] = limit ? 1 : 0;
    this.isCounter[i] = signal.kind === 'counter' ? 1 : 0;
    this.drift[i] = signal.drift ? 1 : 0;
    this.level[i] = Number.NaN;
    return i;
  }

  /** Installs a learned baseline; the level restarts from the baseline's unless the series is already tracked. */
  setBaseline(baseline: SeriesBaseline): void {
    const i = this.indexOf(baseline.key);
    if (i < 0) return;
    if (baseline.slotMinutes !== this.settings.slotMinutes) {
      throw new RangeError(
        `baseline ${baseline.key} has ${baseline.slotMinutes}-minute slots, the scorer ${this.settings.slotMinutes}`,
      );
    }
    const c = this.capacity;
    let swing = 0;
    for (let s = 0; s < this.slots; s++) {
      this.seasonal[s * c + i] = baseline.seasonal[s];
      swing = Math.max(swing, Math.abs(baseline.seasonal[s]));
    }
    this.seasonalSwing[i] = swing;
    for (let h = 0; h < HOURS_PER_DAY; h++) this.scale[h * c + i] = baseline.scale[h];
    if (!this.hasBaseline[i] || Number.isNaN(this.level[i])) this.level[i] = baseline.level;
    this.hasBaseline[i] = 1;
  }

  /**
   * Scores one tick. `values[i]` is the value of series `i` (NaN when absent); it must cover `size` series.
   * A gap neither confirms nor clears an anomaly.
   */
  scoreAligned(time: number, raw: Float64Array): TickScore {
    const n = this.count;
    const values = this.counterIncreases(raw);
    const c = this.capacity;
    const { threshold, persistenceTicks, clearTicks } = this.settings;
    const dayOffset = ((time % SECONDS_PER_DAY) + SECONDS_PER_DAY) % SECONDS_PER_DAY;
    const seasonalRow = Math.floor(dayOffset / (this.settings.slotMinutes * 60)) * c;
    const scaleRow = Math.floor(dayOffset / 3600) * c;
    const { direction, minDeviation, limitAbove, limitBelow, hasBaseline, seasonal, scale, level } = this;
    const { ewMean, ewAbsDev, observations, streak, calm, raised, since, z: zOut, expected, drift, driftZ } = this;
    const raisedNow: number[] = [];
    const newly: number[] = [];
    const cleared: number[] = [];
    let missing = 0;
    let anomalousCount = 0;

    for (let i = 0; i < n; i++) {
      const x = values[i];
      if (Number.isNaN(x)) {
        missing++;
        zOut[i] = Number.NaN;
        if (raised[i]) raisedNow.push(i);
        continue;
      }
      let exp: number;
      let sigma: number;
      if (hasBaseline[i]) {
        const s = seasonal[seasonalRow + i];
        exp = level[i] + s;
        sigma = scale[scaleRow + i];
      } else if (observations[i] >= WARMUP_POINTS) {
        exp = ewMean[i];
        sigma = ABS_DEV_TO_SIGMA * ewAbsDev[i] + 1e-9;
      } else {
        exp = Number.NaN;
        sigma = Number.NaN;
      }
      const deviation = x - exp;
      const zRaw = deviation / sigma;
      const d = direction[i];
      const zBad = d === UP ? zRaw : d === DOWN ? -zRaw : Math.abs(zRaw);
      const beyondBaseline = zBad >= threshold && Math.abs(deviation) >= minDeviation[i];
      const breach = x > limitAbove[i] || x < limitBelow[i];
      let drifting = false;
      if (drift[i] && !Number.isNaN(zBad)) {
        driftZ[i] += DRIFT_WEIGHT * (Math.max(-DRIFT_CAP, Math.min(zBad, DRIFT_CAP)) - driftZ[i]);
        // Three quarters of the minimum deviation: a drift is flagged earlier than a step, never on a small change.
        drifting = driftZ[i] >= DRIFT_LIMIT && Math.abs(deviation) >= 0.75 * minDeviation[i];
      }
      const anomalous = beyondBaseline || breach || drifting;
      // The drift mean already holds minutes of evidence: a drift needs no further persistence.
      if (drifting && !raised[i] && streak[i] < persistenceTicks - 1) {
        if (streak[i] === 0) since[i] = time;
        streak[i] = persistenceTicks - 1;
      }
      zOut[i] = zRaw;
      expected[i] = exp;

      if (anomalous) {
        anomalousCount++;
        calm[i] = 0;
        if (streak[i] === 0) since[i] = time;
        if (streak[i] < 255) streak[i]++;
        if (!raised[i] && streak[i] >= persistenceTicks) {
          raised[i] = 1;
          newly.push(i);
        }
      } else {
        streak[i] = 0;
        if (raised[i] && ++calm[i] >= clearTicks) {
          raised[i] = 0;
          calm[i] = 0;
          cleared.push(i);
        }
      }
      if (raised[i]) raisedNow.push(i);

      // Learn from normal points only, and only a clipped step: a slow drift is followed, a fault is not.
      if (!anomalous) {
        if (hasBaseline[i]) {
          const r = deviation / sigma;
          const clipped = Math.max(-LEVEL_CLIP, Math.min(LEVEL_CLIP, r));
          level[i] += LEVEL_ALPHA * clipped * sigma;
        }
        if (observations[i] === 0) {
          ewMean[i] = x;
          ewAbsDev[i] = 0;
        } else {
          const dev = x - ewMean[i];
          ewMean[i] += WARMUP_ALPHA * dev;
          ewAbsDev[i] += WARMUP_ALPHA * (Math.abs(dev) - ewAbsDev[i]);
        }
        observations[i]++;
      }
    }
    this.lastTick = time;
    const newlySet = new Set(newly);
    return {
      time,
      scored: n - missing,
      missing,
      anomalous: anomalousCount,
      raised: raisedNow.map((i) => this.describe(i, values[i], newlySet.has(i))),
      cleared: cleared.map((i) => this.keys[i]),
      forecasts: this.forecast(time, values, seasonalRow),
    };
  }

  /** Replaces counters' raw values by their increase since the last tick (NaN on the first sight). */
  private counterIncreases(raw: Float64Array): Float64Array {
    const n = this.count;
    let values = raw;
    for (let i = 0; i < n; i++) {
      if (!this.isCounter[i]) continue;
      if (values === raw) values = raw.slice();
      const x = raw[i];
      values[i] = counterIncrease(this.lastRaw[i], x);
      if (!Number.isNaN(x)) this.lastRaw[i] = x;
    }
    return values;
  }

  /**
   * The trend predictor, for series with a hard limit: a damped Holt model on the deseasonalised values,
   * and a breach raised after FORECAST_PERSISTENCE ticks in a row of forecasts that cross the limit.
   */
  private forecast(time: number, values: Float64Array, seasonalRow: number): ForecastBreach[] {
    const n = this.count;
    const c = this.capacity;
    const { clearTicks } = this.settings;
    const slotSeconds = this.settings.slotMinutes * 60;
    const out: ForecastBreach[] = [];
    const state: HoltState = { level: 0, trend: 0, errorVariance: 0, points: 0 };
    for (let i = 0; i < n; i++) {
      if (!this.hasLimit[i]) continue;
      const x = values[i];
      if (Number.isNaN(x)) continue;
      const offset = this.hasBaseline[i] ? this.seasonal[seasonalRow + i] : 0;
      state.level = this.holtLevel[i];
      state.trend = this.holtTrend[i];
      state.errorVariance = this.holtVariance[i];
      state.points = this.holtPoints[i];
      holtUpdate(state, x - offset, this.holt.settings);
      this.holtLevel[i] = state.level;
      this.holtTrend[i] = state.trend;
      this.holtVariance[i] = state.errorVariance;
      this.holtPoints[i] = state.points;
      if (state.points < FORECAST_WARMUP) continue;

      const seasonalAt = this.hasBaseline[i]
        ? (steps: number) => {
            const slot = Math.floor(((time + steps * TICK_SECONDS) % SECONDS_PER_DAY) / slotSeconds) % this.slots;
            return this.seasonal[slot * c + i];
          }
        : () => 0;
      let breach: (ReturnType<typeof forecastBreach> & { limit: number; side: 'above' | 'below' }) | undefined;
      for (const side of ['above', 'below'] as const) {
        const limit = side === 'above' ? this.limitAbove[i] : this.limitBelow[i];
        if (Number.isNaN(limit)) continue;
        // Already past the limit: that is the anomaly detector's business, not a forecast.
        if (side === 'above' ? x > limit : x < limit) continue;
        const found = forecastBreach(state, limit, side, this.holt, seasonalAt, this.seasonalSwing[i]);
        if (found && (!breach || found.steps < breach.steps)) breach = { ...found, limit, side };
      }
      if (breach) {
        this.forecastCalm[i] = 0;
        if (this.forecastStreak[i] === 0) this.forecastSince[i] = time;
        if (this.forecastStreak[i] < 255) this.forecastStreak[i]++;
        if (this.forecastStreak[i] >= FORECAST_PERSISTENCE) {
          const { signalId, entity } = parseSeriesKey(this.keys[i]);
          out.push({
            key: this.keys[i],
            signalId,
            entity,
            value: x,
            limit: breach.limit,
            side: breach.side,
            predictedBreachAt: time + breach.steps * TICK_SECONDS,
            confidence: breach.confidence,
            since: this.forecastSince[i],
            newlyRaised: this.forecastStreak[i] === FORECAST_PERSISTENCE,
          });
        }
      } else if (this.forecastStreak[i] > 0 && ++this.forecastCalm[i] >= clearTicks) {
        this.forecastStreak[i] = 0;
        this.forecastCalm[i] = 0;
      }
    }
    return out;
  }

  /** What the baseline expected of a series at the last tick scored (NaN when unknown or not yet learned). */
  expectedAtLastTick(key: string): number {
    const i = this.index.get(key);
    return i === undefined ? Number.NaN : this.expected[i];
  }

  /** Scores points named by key (the collector's output); unknown signals are ignored. */
  score(time: number, points: readonly { signalId: string; entity: string; value: number }[]): TickScore {
    for (const p of points) this.indexOf(`${p.signalId}{${p.entity}}`);
    const values = new Float64Array(this.count).fill(Number.NaN);
    for (const p of points) {
      const i = this.index.get(`${p.signalId}{${p.entity}}`);
      if (i !== undefined) values[i] = p.value;
    }
    return this.scoreAligned(time, values);
  }

  private describe(i: number, value: number, newlyRaised: boolean): RaisedSeries {
    const key = this.keys[i];
    const { signalId, entity } = parseSeriesKey(key);
    const z = this.z[i];
    const d = this.direction[i];
    const zBad = d === UP ? z : d === DOWN ? -z : Math.abs(z);
    return {
      key,
      signalId,
      entity,
      value,
      expected: this.expected[i],
      z,
      score: Number.isNaN(zBad) ? 1 : anomalyScore(zBad, this.settings.threshold),
      since: this.since[i],
      hardLimitBreached: value > this.limitAbove[i] || value < this.limitBelow[i],
      newlyRaised,
    };
  }

  snapshot(): ScorerStateSnapshot {
    const n = this.count;
    return {
      lastTick: this.lastTick,
      keys: this.keys.slice(),
      level: this.level.slice(0, n),
      ewMean: this.ewMean.slice(0, n),
      ewAbsDev: this.ewAbsDev.slice(0, n),
      observations: this.observations.slice(0, n),
      streak: this.streak.slice(0, n),
      calm: this.calm.slice(0, n),
      raised: this.raised.slice(0, n),
      since: this.since.slice(0, n),
      holtLevel: this.holtLevel.slice(0, n),
      holtTrend: this.holtTrend.slice(0, n),
      holtVariance: this.holtVariance.slice(0, n),
      holtPoints: this.holtPoints.slice(0, n),
      forecastStreak: this.forecastStreak.slice(0, n),
      forecastCalm: this.forecastCalm.slice(0, n),
      forecastSince: this.forecastSince.slice(0, n),
      lastRaw: this.lastRaw.slice(0, n),
      driftZ: this.driftZ.slice(0, n),
    };
  }

  /** Restores state saved by `snapshot`; series of signals no longer in the catalog are dropped. */
  restore(state: ScorerStateSnapshot): void {
    state.keys.forEach((key, j) => {
      const i = this.indexOf(key);
      if (i < 0) return;
      if (!Number.isNaN(state.level[j])) this.level[i] = state.level[j];
      this.ewMean[i] = state.ewMean[j];
      this.ewAbsDev[i] = state.ewAbsDev[j];
      this.observations[i] = state.observations[j];
      this.streak[i] = state.streak[j];
      this.calm[i] = state.calm[j];
      this.raised[i] = state.raised[j];
      this.since[i] = state.since[j];
      this.holtLevel[i] = state.holtLevel[j];
      this.holtTrend[i] = state.holtTrend[j];
      this.holtVariance[i] = state.holtVariance[j];
      this.holtPoints[i] = state.holtPoints[j];
      this.forecastStreak[i] = state.forecastStreak[j];
      this.forecastCalm[i] = state.forecastCalm[j];
      this.forecastSince[i] = state.forecastSince[j];
      this.lastRaw[i] = state.lastRaw[j];
      this.driftZ[i] = state.driftZ?.[j] ?? 0;
    });
    this.lastTick = state.lastTick;
  }

  private grow(capacity: number): void {
    const old = this.capacity;
    const copy = <T extends Float64Array | Float32Array | Uint8Array | Int8Array | Uint32Array>(
      a: T,
      make: (n: number) => T,
    ) => {
      const b = make(capacity);
      b.set(a);
      return b;
    };
    this.direction = copy(this.direction, (n) => new Int8Array(n));
    this.minDeviation = copy(this.minDeviation, (n) => new Float64Array(n));
    this.limitAbove = copy(this.limitAbove, (n) => new Float64Array(n));
    this.limitBelow = copy(this.limitBelow, (n) => new Float64Array(n));
    this.hasBaseline = copy(this.hasBaseline, (n) => new Uint8Array(n));
    this.level = copy(this.level, (n) => new Float64Array(n));
    this.ewMean = copy(this.ewMean, (n) => new Float64Array(n));
    this.ewAbsDev = copy(this.ewAbsDev, (n) => new Float64Array(n));
    this.observations = copy(this.observations, (n) => new Uint32Array(n));
    this.streak = copy(this.streak, (n) => new Uint8Array(n));
    this.calm = copy(this.calm, (n) => new Uint8Array(n));
    this.raised = copy(this.raised, (n) => new Uint8Array(n));
    this.since = copy(this.since, (n) => new Float64Array(n));
    this.hasLimit = copy(this.hasLimit, (n) => new Uint8Array(n));
    this.seasonalSwing = copy(this.seasonalSwing, (n) => new Float32Array(n));
    this.holtLevel = copy(this.holtLevel, (n) => new Float64Array(n));
    this.holtTrend = copy(this.holtTrend, (n) => new Float64Array(n));
    this.holtVariance = copy(this.holtVariance, (n) => new Float64Array(n));
    this.holtPoints = copy(this.holtPoints, (n) => new Uint32Array(n));
    this.forecastStreak = copy(this.forecastStreak, (n) => new Uint8Array(n));
    this.forecastCalm = copy(this.forecastCalm, (n) => new Uint8Array(n));
    this.forecastSince = copy(this.forecastSince, (n) => new Float64Array(n));
    this.isCounter = copy(this.isCounter, (n) => new Uint8Array(n));
    this.drift = copy(this.drift, (n) => new Uint8Array(n));
    this.driftZ = copy(this.driftZ, (n) => new Float64Array(n));
    const lastRaw = new Float64Array(capacity).fill(Number.NaN);
    lastRaw.set(this.lastRaw);
    this.lastRaw = lastRaw;
    this.z = new Float64Array(capacity);
    this.expected = new Float64Array(capacity);
    const relayout = (from: Float32Array, rows: number) => {
      const to = new Float32Array(rows * capacity);
      for (let r = 0; r < rows; r++) to.set(from.subarray(r * old, r * old + old), r * capacity);
      return to;
    };
    this.seasonal = relayout(this.seasonal, this.slots);
    this.scale = relayout(this.scale, HOURS_PER_DAY);
    this.capacity = capacity;
  }
}
