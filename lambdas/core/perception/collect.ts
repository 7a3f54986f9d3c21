// Runs the signal catalog against a MetricSource for one tick: one bad signal never stops the others.

import type { Signal, SignalCatalog } from '../config/schema';
import type { MetricQueryError, MetricSource } from './metric-source';

/** One point of one series, named by its signal and entity (usually the service). */
export interface SignalPoint {
  readonly signalId: string;
  readonly entity: string;
  readonly value: number;
}

export interface SignalCollectionError extends MetricQueryError {
  readonly signalId: string;
}

export interface CollectedTick {
  /** Epoch seconds of the tick. */
  readonly time: number;
  readonly points: SignalPoint[];
  readonly errors: SignalCollectionError[];
  /** Series dropped because they lacked the entity label or repeated an entity; named for the log. */
  readonly dropped: { readonly signalId: string; readonly reason: string }[];
}

export const seriesKey = (signalId: string, entity: string): string => `${signalId}{${entity}}`;

export function parseSeriesKey(key: string): { signalId: string; entity: string } {
  const open = key.indexOf('{');
  if (open <= 0 || !key.endsWith('}')) throw new Error(`malformed series key "${key}"`);
  return { signalId: key.slice(0, open), entity: key.slice(open + 1, -1) };
}

/** Queries every signal concurrently at `time` and flattens the answers into points. */
export async function collectSignals(
  source: MetricSource,
  catalog: SignalCatalog,
  time: number,
): Promise<CollectedTick> {
  const answers = await Promise.all(
    catalog.signals.map(async (signal) => ({ signal, result: await source.instant(signal.query, time) })),
  );
  const points: SignalPoint[] = [];
  const errors: SignalCollectionError[] = [];
  const dropped: { signalId: string; reason: string }[] = [];
  for (const { signal, result } of answers) {
    if (!result.ok) {
      errors.push({ ...result.error, signalId: signal.id });
      continue;
    }
    addSamples(signal, result.value, points, dropped);
  }
  return { time, points, errors, dropped };
}

function addSamples(
  signal: Signal,
  samples: readonly { labels: Readonly<Record<string, string>>; value: number }[],
  points: SignalPoint[],
  dropped: { signalId: string; reason: string }[],
): void {
  const seen = new Set<string>();
  for (const sample of samples) {
    const entity = sample.labels[signal.entityLabel];
    if (!entity) {
      dropped.push({ signalId: signal.id, reason: `a series has no "${signal.entityLabel}" label` });
      continue;
    }
    if (seen.has(entity)) {
      dropped.push({
        signalId: signal.id,
        reason: `several series for ${signal.entityLabel}="${entity}": aggregate the query by ${signal.entityLabel}`,
      });
      continue;
    }
    seen.add(entity);
    points.push({ signalId: signal.id, entity, value: sample.value });
  }
}
