// The ports the core asks for; adapters implement them for AWS (DynamoDB, S3) and for the local runtime.

import type { AuditEntry, AuditRecord } from './action/audit';
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

/** A shard of a version whose baselines are all written. */
export interface CompletedShard {
  readonly shardId: string;
  /** Baselines the shard wrote. */
  readonly series: number;
}

export type PublishOutcome = 'published' | 'superseded';

/**
 * Publication in parts, for the sharded daily job: each shard writes its own part of a version, and one last
 * step makes the version current. Until then the scorer keeps reading the previous version.
 */
export interface BaselinePublisher {
  /**
   * Writes one shard's baselines under `version`, then marks the shard complete. Writing the same shard again
   * (a retry) replaces its part; a shard that stopped halfway is never read.
   */
  writeShard(version: string, shardId: string, baselines: readonly SeriesBaseline[]): Promise<void>;
  /** The shards of `version` marked complete. */
  completedShards(version: string): Promise<CompletedShard[]>;
  /**
   * Makes `version` current, unless the current version was learned from later history ('superseded': a
   * delayed run never moves the scorer back to older baselines).
   */
  publishVersion(version: string, trainedUntil: number): Promise<PublishOutcome>;
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

/** The append-only audit trail: one hash chain per incident. */
export interface AuditLog {
  /** Seals `entry` after the chain's last record; concurrent appends to one chain each get their own seq. */
  append(chain: string, entry: AuditEntry): Promise<AuditRecord>;
  /** Every record of the chain in seq order; empty for a chain never written. */
  read(chain: string): Promise<AuditRecord[]>;
  /** Every chain holding at least one record, to verify the whole trail. */
  chains(): Promise<string[]>;
}
