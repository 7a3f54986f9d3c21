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
  /** Applies one catalog action; with dryRun the cluster validates it without persisting (server-side dry run). */
  execute(
    step: PlannedAction,
    options: { readonly dryRun: boolean; readonly snapshotId: string },
  ): Promise<{ readonly ok: boolean; readonly detail: string }>;
  /** Whether the change has fully rolled out. */
  rolloutStatus(step: PlannedAction): Promise<{ readonly complete: boolean; readonly detail: string }>;
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
  | 'NotifyFailure';

export interface CaseNotifier {
  notify(notice: CaseNotice, c: IncidentCase): Promise<void>;
}
