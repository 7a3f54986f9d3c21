// The tick workflow's steps as plain functions over ports: the Lambda handlers and the local runtime both
// call these, so the state machine runs the same code on AWS and in replay.

import type { SignalCatalog } from './config/schema';
import { type CollectedTick, collectSignals, type SignalCollectionError } from './perception/collect';
import type { MetricSource } from './perception/metric-source';
import type { SnapshotStore } from './ports';
import type { ScoringSession, TickOutcome } from './tick';

/** What the tick workflow passes in: the EventBridge event's time, as the `ReadTick` state extracts it. */
export interface TickInput {
  readonly tickTime: string;
  readonly eventId?: string;
}

/** A collector's answer to the workflow: small, the points themselves go to the snapshot store. */
export interface CollectSummary {
  readonly reference: string;
  readonly time: number;
  readonly points: number;
  readonly errors: SignalCollectionError[];
  readonly dropped: number;
}

export interface ScoreInput {
  readonly tickTime: string;
  readonly collected: readonly { readonly source: string; readonly summary: CollectSummary }[];
}

export type ScoreSummary = Omit<TickOutcome, 'score' | 'changedIncidents' | 'collectionErrors'> & {
  readonly collectionErrors: number;
};

export class TickInputError extends Error {
  override readonly name = 'TickInputError';
}

/** The tick's time in epoch seconds, floored to the step: a schedule that fires a few seconds late is the same tick. */
export function tickSeconds(tickTime: string, stepSeconds = 60): number {
  const ms = Date.parse(tickTime);
  if (typeof tickTime !== 'string' || Number.isNaN(ms)) {
    throw new TickInputError(`tickTime must be an ISO 8601 time, got ${JSON.stringify(tickTime)}`);
  }
  return Math.floor(ms / 1000 / stepSeconds) * stepSeconds;
}

export async function collectMetricsStep(
  input: TickInput,
  deps: { source: MetricSource; catalog: SignalCatalog; snapshots: SnapshotStore },
): Promise<CollectSummary> {
  const time = tickSeconds(input.tickTime);
  const tick = await collectSignals(deps.source, deps.catalog, time);
  const reference = await deps.snapshots.put(tick);
  return { reference, time, points: tick.points.length, errors: tick.errors, dropped: tick.dropped.length };
}

export async function scoreStep(
  input: ScoreInput,
  deps: { session: ScoringSession; snapshots: SnapshotStore },
): Promise<{ summary: ScoreSummary; outcome: TickOutcome }> {
  const time = tickSeconds(input.tickTime);
  if (!Array.isArray(input.collected)) throw new TickInputError('collected must be the list of collector summaries');
  const ticks: CollectedTick[] = await Promise.all(input.collected.map((c) => deps.snapshots.get(c.summary.reference)));
  const outcome = await deps.session.run(time, ticks);
  const { score: _score, changedIncidents: _changed, collectionErrors, ...rest } = outcome;
  return { summary: { ...rest, collectionErrors: collectionErrors.length }, outcome };
}
