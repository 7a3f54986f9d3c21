// The daily baseline job: fetch each signal's history and learn a baseline per series. One signal's
// failure is reported and the others are still learned. The sharded job (baseline-shards.ts) learns the same
// window with the same chunked fetch, one shard of series at a time.

import type { DetectionConfig, SignalCatalog } from '../config/schema';
import { seriesKey } from '../perception/collect';
import type { MetricQueryError, MetricSource, RangeSeries } from '../perception/metric-source';
import { counterIncreases, learnBaseline, type SeriesBaseline } from './baseline';

/** Prometheus refuses range queries over 11,000 points per series; stay below it. */
const MAX_POINTS_PER_QUERY = 10_000;

export interface LearnOutcome {
  readonly baselines: SeriesBaseline[];
  readonly errors: (MetricQueryError & { signalId: string })[];
  /** Series seen but with too little data to learn from. */
  readonly skipped: string[];
}

export async function learnBaselines(
  source: MetricSource,
  catalog: SignalCatalog,
  detection: DetectionConfig,
  until: number,
  stepSeconds = 60,
  historyDays = detection.historyDays,
): Promise<LearnOutcome> {
  const { start, end } = historyWindow(until, stepSeconds, historyDays);
  const baselines: SeriesBaseline[] = [];
  const errors: LearnOutcome['errors'] = [];
  const skipped: string[] = [];
  // A few signals' histories are fetched at once: against a source that hangs, learning waits for one round of
  // timeouts per group rather than per signal. Results are used in catalog order, so the outcome does not depend
  // on which answer came first.
  const histories = await mapWithConcurrency(catalog.signals, HISTORY_CONCURRENCY, (signal) =>
    fetchHistory(source, signal.query, signal.entityLabel, start, end, stepSeconds),
  );
  for (const [index, signal] of catalog.signals.entries()) {
    const history = histories[index];
    if (!history.ok) {
      errors.push({ ...history.error, signalId: signal.id });
      continue;
    }
    for (const [entity, series] of history.series) {
      const key = seriesKey(signal.id, entity);
      const values = signal.kind === 'counter' ? counterIncreases(series.values) : series.values;
      const baseline = learnBaseline(key, series.timestamps, values, {
        stepSeconds,
        slotMinutes: detection.slotMinutes,
      });
      if (baseline) baselines.push(baseline);
      else skipped.push(key);
    }
  }
  return { baselines, errors, skipped };
}

/** Signals whose history is fetched at the same time. */
const HISTORY_CONCURRENCY = 4;

/** `work` over every item, at most `limit` at a time; results in the items' order. */
async function mapWithConcurrency<T, R>(
  items: readonly T[],
  limit: number,
  work: (item: T) => Promise<R>,
): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const index = next++;
      results[index] = await work(items[index]);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

/**
 * The history a job at `until` learns from: `historyDays` of whole steps ending one step before `until`, so the
 * minute still being scraped is left out. Every shard of a run computes the same window from the same `until`.
 */
export function historyWindow(until: number, stepSeconds: number, historyDays: number): { start: number; end: number } {
  const end = Math.floor(until / stepSeconds) * stepSeconds - stepSeconds;
  return { start: end - historyDays * 86_400 + stepSeconds, end };
}

/** One query's history over [from, to], fetched in chunks Prometheus accepts and joined per entity. */
export async function fetchHistory(
  metricSource: MetricSource,
  query: string,
  entityLabel: string,
  from: number,
  to: number,
  step: number,
): Promise<{ ok: true; series: Map<string, RangeSeries> } | { ok: false; error: MetricQueryError }> {
  const chunks: RangeSeries[][] = [];
  for (let chunkStart = from; chunkStart <= to; chunkStart += MAX_POINTS_PER_QUERY * step) {
    const chunkEnd = Math.min(to, chunkStart + (MAX_POINTS_PER_QUERY - 1) * step);
    const result = await metricSource.range(query, chunkStart, chunkEnd, step);
    if (!result.ok) return result;
    chunks.push(result.value);
  }
  return { ok: true, series: joinChunks(chunks, entityLabel) };
}

function joinChunks(chunks: RangeSeries[][], entityLabel: string): Map<string, RangeSeries> {
  const parts = new Map<string, RangeSeries[]>();
  for (const chunk of chunks) {
    for (const series of chunk) {
      const entity = series.labels[entityLabel];
      if (!entity) continue;
      const list = parts.get(entity) ?? [];
      list.push(series);
      parts.set(entity, list);
    }
  }
  const joined = new Map<string, RangeSeries>();
  for (const [entity, list] of parts) {
    const length = list.reduce((n, s) => n + s.values.length, 0);
    const timestamps = new Float64Array(length);
    const values = new Float64Array(length);
    let offset = 0;
    for (const s of list) {
      timestamps.set(s.timestamps, offset);
      values.set(s.values, offset);
      offset += s.values.length;
    }
    joined.set(entity, { labels: list[0].labels, timestamps, values });
  }
  return joined;
}
