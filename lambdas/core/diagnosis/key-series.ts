// The key series approvers see as a sparkline: the last hour of the root cause's strongest signal, read from the
// metric source at the tick's resolution. It only illustrates the diagnosis, so a source that fails leaves a
// named gap and no series; it never fails the diagnosis.

import { counterIncreases } from '../cognition/baseline';
import { scopeQuery } from '../cognition/baseline-shards';
import type { Incident, IncidentSignal } from '../cognition/incident';
import type { Signal, SignalCatalog } from '../config/schema';
import type { KeySeries } from '../decision/approval';
import { seriesKey } from '../perception/collect';
import type { MetricQueryError, MetricSource } from '../perception/metric-source';

/** Points of the series: one per tick over the last hour. */
export const KEY_SERIES_POINTS = 60;
/** The tick's resolution, so each point is a value the scorer judged. */
export const KEY_SERIES_STEP_SECONDS = 60;
/** Longest query quoted in a gap: a gap is read by people, not replayed. */
const MAX_QUERY_IN_GAP = 300;

/** Where the key series is read: the collector's metric source and signal catalog. */
export interface KeyMetrics {
  readonly source: MetricSource;
  readonly catalog: SignalCatalog;
}

export interface KeySeriesOutcome {
  /** Null when the series could not be read; `gaps` then says why. */
  readonly keySeries: KeySeries | null;
  readonly gaps: string[];
}

/**
 * The signal that shows the incident best on `service`: the highest |peakZ|, then the highest score. A forecast
 * signal (key `forecast:...`) has no z (NaN, or null once the incident went through JSON), so it ranks by its
 * score after any anomaly; its signalId is the forecast series' own catalog signal. When the service has no
 * signal in the incident (the model chose a service the detector never raised), the incident's strongest one.
 */
export function keySignal(incident: Incident, service: string): IncidentSignal | undefined {
  const onService = incident.signals.filter((s) => s.entity === service);
  const pool = onService.length > 0 ? onService : incident.signals;
  return [...pool].sort((a, b) => strength(b) - strength(a) || score(b) - score(a) || a.key.localeCompare(b.key))[0];
}

const strength = (s: IncidentSignal): number =>
  typeof s.peakZ === 'number' && Number.isFinite(s.peakZ) ? Math.abs(s.peakZ) : 0;
const score = (s: IncidentSignal): number =>
  typeof s.peakScore === 'number' && Number.isFinite(s.peakScore) ? s.peakScore : 0;

/**
 * Reads the key signal of `service` over the KEY_SERIES_POINTS steps ending at the last whole minute at or
 * before `nowMs`, narrowed to its entity with the baseline job's matcher (the whole query when it cannot be
 * narrowed, the entity's series picked from the answer). Points are oldest first, null where the source had no
 * value; nothing after `nowMs` is used, whatever the source returns. Counters show their per-step increase,
 * which is what the scorer judged.
 */
export async function readKeySeries(
  incident: Incident,
  service: string,
  metrics: KeyMetrics,
  nowMs: number,
): Promise<KeySeriesOutcome> {
  const chosen = keySignal(incident, service);
  if (!chosen) return { keySeries: null, gaps: [`key series: incident ${incident.id} has no signal`] };
  const name = seriesKey(chosen.signalId, chosen.entity);
  const signal = metrics.catalog.signals.find((s) => s.id === chosen.signalId);
  if (!signal)
    return { keySeries: null, gaps: [`key series: ${name}: signal "${chosen.signalId}" is not in the catalog`] };

  const step = KEY_SERIES_STEP_SECONDS;
  const end = Math.floor(nowMs / 1000 / step) * step;
  // A counter needs the step before the window for the window's first increase.
  const start = end - (KEY_SERIES_POINTS - 1 + (signal.kind === 'counter' ? 1 : 0)) * step;
  const narrowed = scopeQuery(signal.query, signal.entityLabel, [chosen.entity]);
  const query = narrowed.ok ? narrowed.value : signal.query;
  const failed = (error: Pick<MetricQueryError, 'message'> & Partial<MetricQueryError>): KeySeriesOutcome => ({
    keySeries: null,
    gaps: [gapOf(name, query, start, end, error)],
  });

  let answer: Awaited<ReturnType<MetricSource['range']>>;
  try {
    answer = await metrics.source.range(query, start, end, step);
  } catch (error) {
    // The port promises a Result; a source that throws anyway still only costs the sparkline.
    return failed({ message: error instanceof Error ? error.message : String(error) });
  }
  if (!answer.ok) return failed(answer.error);
  const series = answer.value.find((s) => s.labels[signal.entityLabel] === chosen.entity);
  if (!series) return failed({ message: `no series with ${signal.entityLabel}="${chosen.entity}" in the answer` });

  const raw = new Float64Array((end - start) / step + 1).fill(Number.NaN);
  series.timestamps.forEach((t, i) => {
    // The source answers on the requested grid; rounding only absorbs a timestamp's float noise.
    const slot = Math.round((t - start) / step);
    if (t <= end && slot >= 0 && slot < raw.length) raw[slot] = series.values[i];
  });
  const values = signal.kind === 'counter' ? counterIncreases(raw).subarray(1) : raw;
  return {
    keySeries: {
      series: `${name} (${unitOf(signal)})`,
      points: Array.from(values, (v) => (Number.isFinite(v) ? v : null)),
    },
    gaps: [],
  };
}

function unitOf(signal: Signal): string {
  const unit = signal.unit.replaceAll('_', ' ');
  return signal.kind === 'counter' ? `${unit}, increase per minute` : unit;
}

function gapOf(
  name: string,
  query: string,
  start: number,
  end: number,
  error: Pick<MetricQueryError, 'message'> & Partial<MetricQueryError>,
): string {
  const shown = query.length > MAX_QUERY_IN_GAP ? `${query.slice(0, MAX_QUERY_IN_GAP)}...` : query;
  const iso = (seconds: number) => new Date(seconds * 1000).toISOString();
  const kind = error.kind ? `${error.kind}${error.status ? ` ${error.status}` : ''}: ` : '';
  return (
    `key series: ${name}: ${kind}${error.message} ` +
    `[${shown} over ${iso(start)}..${iso(end)} step ${KEY_SERIES_STEP_SECONDS}s]`
  );
}
