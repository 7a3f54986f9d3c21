// The ports the core asks for; adapters implement them for AWS (DynamoDB, S3) and for the local runtime.

import type { SeriesBaseline } from './cognition/baseline';
import type { Incident } from './cognition/incident';
import type { ScorerStateSnapshot } from './cognition/scorer';
import type { CollectedTick } from './perception/collect';

/** Hands a collector's points to the scorer without going through the workflow payload (256 KB limit). */
export interface SnapshotStore {
  put(tick: CollectedTick): Promise<string>;
  get(reference: string): Promise<CollectedTick>;
}

export interface BaselineSet {
  /** Changes whenever the daily job publishes new baselines; the scorer reloads on change. */
  readonly version: string;
  readonly baselines: SeriesBaseline[];
}

export interface BaselineStore {
  /** The version currently published, cheap to call every tick. */
  currentVersion(): Promise<string | undefined>;
  load(): Promise<BaselineSet | undefined>;
  publish(version: string, baselines: readonly SeriesBaseline[]): Promise<void>;
}

export type CommitOutcome = 'committed' | 'superseded';

export interface ScorerStateStore {
  load(): Promise<ScorerStateSnapshot | undefined>;
  /**
   * Saves the state after `state.lastTick` only if the stored state is still the one at `previousTick`
   * (undefined: none stored). 'superseded' means another execution got there first: a duplicate tick.
   */
  commit(state: ScorerStateSnapshot, previousTick: number | undefined): Promise<CommitOutcome>;
}

export type WriteOutcome = 'written' | 'conflict';

export interface IncidentStore {
  listOpen(): Promise<Incident[]>;
  get(id: string): Promise<Incident | undefined>;
  /** Creates the incident unless one with the same id exists ('conflict'). */
  create(incident: Incident): Promise<WriteOutcome>;
  /** Replaces the incident if the stored version is `incident.version - 1` ('conflict' otherwise). */
  update(incident: Incident): Promise<WriteOutcome>;
}
