// What the action layer asks of the outside world: a cluster to snapshot and change, a ledger that enforces
// the rate limit atomically, somewhere to record decisions, and people to tell.

import type { IncidentCase } from '../decision/incident-case';
import type { ActionTarget, PlannedAction } from '../decision/types';

export interface TargetSnapshot {
  readonly snapshotId: string;
  readonly target: ActionTarget;
  /** The object as it was, enough to undo the change. */
  readonly state: unknown;
  readonly takenAt: string;
}

export interface ClusterExecutor {
  /** Reads and keeps the target's current state; throws when it cannot (no change may follow). */
  snapshot(target: ActionTarget): Promise<TargetSnapshot>;
  /**
   * Applies one catalog action; with dryRun the cluster validates it without persisting (server-side dry run).
   * The snapshot taken just before travels with the call: the executor checks it is of the step's target.
   */
  execute(
    step: PlannedAction,
    options: { readonly dryRun: boolean; readonly snapshot: TargetSnapshot },
  ): Promise<{ readonly ok: boolean; readonly detail: string }>;
  /** Whether the change has fully rolled out. */
  rolloutStatus(step: PlannedAction): Promise<{ readonly complete: boolean; readonly detail: string }>;
  /**
   * Puts the target back as the snapshot found it (the undo when recovery does not come). `changesSince` is
   * how many changes the agent itself made to it after the snapshot: any more, and someone else changed it
   * too, and restoring would silently revert their change.
   */
  restore(
    snapshot: TargetSnapshot,
    options: { readonly dryRun: boolean; readonly changesSince: number },
  ): Promise<{ readonly ok: boolean; readonly detail: string }>;
}

/**
 * Snapshots kept with the incident, so an undo minutes later (in another Lambda container) finds the object
 * as it was before the change.
 */
export interface SnapshotStore {
  put(incidentId: string, snapshot: TargetSnapshot): Promise<void>;
  get(incidentId: string, snapshotId: string): Promise<TargetSnapshot | undefined>;
}

export type Reservation = 'reserved' | 'limit-reached';

export interface ActionLedger {
  /** Atomically records one operation on `resource` unless `max` already happened within `windowMs`. */
  reserve(resource: string, nowMs: number, max: number, windowMs: number): Promise<Reservation>;
}

export interface DecisionStore {
  record(c: IncidentCase): Promise<void>;
  get(incidentId: string): Promise<IncidentCase | undefined>;
}

export type CaseNotice =
  | 'NotifyOutcome'
  | 'DiagnosisOnlyReport'
  | 'Page'
  | 'RecordRejection'
  | 'Escalate'
  | 'NotifyNoRecovery'
  | 'NotifyFailure';

export interface CaseNotifier {
  notify(notice: CaseNotice, c: IncidentCase): Promise<void>;
}
