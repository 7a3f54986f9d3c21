// Remediate, VerifyRecovery and UndoRemediation: the only code that changes a cluster. Defence in depth: the
// iron rule and the deny-list are checked again here, the rate limit is reserved atomically, and nothing runs
// without a snapshot of the target stored with the incident first, so a change that does not help is undone.

import type { Incident, IncidentSignal } from '../cognition/incident';
import { checkGuardrails, type DenyRule, touchesMoney } from '../decision/guardrails';
import type { ExecutionRecord, IncidentCase, UndoRecord } from '../decision/incident-case';
import { formatTarget } from '../decision/types';
import type { ServiceGraph } from '../topology';
import type { ActionLedger, ClusterExecutor, SnapshotStore, TargetSnapshot } from './ports';

export const RATE_LIMIT = { operations: 3, windowMs: 60 * 60_000 } as const;

export interface RemediateDeps {
  readonly graph: ServiceGraph;
  readonly denyList: readonly DenyRule[];
  readonly cluster: ClusterExecutor;
  readonly ledger: ActionLedger;
  readonly snapshots: SnapshotStore;
  readonly dryRun: boolean;
  readonly now: () => number;
}

export async function remediate(c: IncidentCase, deps: RemediateDeps): Promise<IncidentCase> {
  const allowed = c.guardrails?.allowed ?? [];
  const criticalityOf = (service: string) => deps.graph.get(service)?.criticality;
  // Re-check everything the workflow already checked: a tampered case must not get through.
  const verdict = checkGuardrails(allowed, { criticalityOf, denyList: deps.denyList });
  const execution: ExecutionRecord[] = verdict.refused.map((r) => ({
    action: r.action,
    target: r.target,
    dryRun: deps.dryRun,
    result: 'refused',
    detail: `${r.rule}: ${r.detail}`,
  }));
  for (const step of verdict.allowed) {
    const target = formatTarget(step.target);
    const record = (result: ExecutionRecord['result'], detail: string, snapshotId?: string) =>
      execution.push({
        action: step.action,
        target,
        dryRun: deps.dryRun,
        result,
        detail,
        ...(snapshotId ? { snapshotId } : {}),
      });
    if (touchesMoney(step, criticalityOf(step.service))) {
      record('refused', 'iron-rule: money is never moved by automation');
      continue;
    }
    const reservation = await deps.ledger.reserve(target, deps.now(), RATE_LIMIT.operations, RATE_LIMIT.windowMs);
    if (reservation === 'limit-reached') {
      record('refused', `rate-limit: ${RATE_LIMIT.operations} operations on ${target} within the last hour`);
      continue;
    }
    let snapshot: TargetSnapshot;
    try {
      snapshot = await deps.cluster.snapshot(step.target);
      await deps.snapshots.put(c.incidentId, snapshot);
    } catch (error) {
      record('refused', `no-snapshot: ${(error as Error).message}`);
      continue;
    }
    const snapshotId = snapshot.snapshotId;
    try {
      const result = await deps.cluster.execute(step, { dryRun: deps.dryRun, snapshot });
      record(result.ok ? 'succeeded' : 'failed', result.detail, snapshotId);
    } catch (error) {
      record('failed', (error as Error).message, snapshotId);
    }
  }
  return { ...c, execution };
}

/** How often a pending verification looks again. */
export const RECHECK_SECONDS = 60;
/** A recovery signal must have been quiet this long (two ticks) to count as back to normal. */
export const QUIET_MINUTES = 2;
/** Verification window when a case carries no playbook recovery (a plan made by hand). */
export const DEFAULT_WAIT_MINUTES = 10;

export interface VerifyDeps {
  readonly cluster: ClusterExecutor;
  /** The incident as the 60-second loop keeps it: whether each signal is still anomalous. */
  readonly incidents: { get(id: string): Promise<Incident | undefined> };
  readonly now: () => number;
}

/**
 * One recovery check: every action that ran has rolled out, and every recovery signal of the services acted
 * on has been quiet for QUIET_MINUTES by the detector's own verdict (the signal's PromQL scored against its
 * learned baseline each tick). Pending until the playbook's window closes; then not-recovered, and the
 * workflow undoes. The workflow calls this in a loop with a Wait state in between.
 */
export async function verifyRecovery(c: IncidentCase, deps: VerifyDeps): Promise<IncidentCase> {
  const now = deps.now();
  const previous = c.verification;
  const startedAt = previous?.startedAt ?? isoMs(now);
  const waitMinutes = c.recovery?.waitMinutes ?? DEFAULT_WAIT_MINUTES;
  const deadline = Date.parse(startedAt) + waitMinutes * 60_000;
  const checks = (previous?.checks ?? 0) + 1;
  const ran = (c.guardrails?.allowed ?? []).filter((step) =>
    c.execution?.some(
      (e) => e.action === step.action && e.target === formatTarget(step.target) && e.result === 'succeeded',
    ),
  );
  const base = { startedAt, deadline: isoMs(deadline), checkedAt: isoMs(now), checks, recheckSeconds: RECHECK_SECONDS };
  if (ran.length === 0) {
    const detail = (c.execution ?? []).map((e) => `${e.action} on ${e.target} did not run (${e.result}): ${e.detail}`);
    return { ...c, verification: { ...base, status: 'nothing-ran', recovered: false, detail } };
  }
  const detail: string[] = [];
  let healthy = true;
  for (const step of ran) {
    const status = await deps.cluster.rolloutStatus(step);
    if (!status.complete) healthy = false;
    detail.push(`${step.action} on ${formatTarget(step.target)}: ${status.detail}`);
  }
  const incident = (await deps.incidents.get(c.incidentId)) ?? c.incident;
  for (const service of new Set(ran.map((step) => step.service))) {
    for (const signal of recoverySignals(incident, service, c.recovery?.signals)) {
      const quietFor = now - Date.parse(signal.lastRaisedAt);
      const quiet = incident.status === 'resolved' || quietFor >= QUIET_MINUTES * 60_000;
      if (!quiet) healthy = false;
      detail.push(
        quiet
          ? `${signal.signalId} on ${service}: back to normal (last anomalous ${signal.lastRaisedAt})`
          : `${signal.signalId} on ${service}: still anomalous at ${signal.lastRaisedAt} (peak ${formatValue(signal.valueAtPeak)}, expected ${formatValue(signal.expectedAtPeak)})`,
      );
    }
  }
  if (healthy) {
    return { ...c, verification: { ...base, status: 'recovered', recovered: true, recoveredAt: isoMs(now), detail } };
  }
  if (now >= deadline) {
    detail.push(`not recovered within ${waitMinutes} min of the change`);
    return { ...c, verification: { ...base, status: 'not-recovered', recovered: false, detail } };
  }
  return {
    ...c,
    verification: {
      ...base,
      status: 'pending',
      recovered: false,
      nextCheckAt: isoMs(now + RECHECK_SECONDS * 1000),
      detail,
    },
  };
}

/** The incident's signals on `service` that prove recovery: the playbook's list, or all of them. */
function recoverySignals(incident: Incident, service: string, wanted: readonly string[] | undefined): IncidentSignal[] {
  return incident.signals.filter(
    (s) => s.entity === service && (wanted === undefined || wanted.length === 0 || wanted.includes(s.signalId)),
  );
}

export interface UndoDeps {
  readonly cluster: ClusterExecutor;
  readonly snapshots: SnapshotStore;
  readonly dryRun: boolean;
}

/**
 * The undo when recovery did not come: every object changed is put back from the snapshot taken before the
 * first change to it. A playbook whose undo is `none` (a restart cannot be unrestarted) records why it skipped.
 */
export async function undoRemediation(c: IncidentCase, deps: UndoDeps): Promise<IncidentCase> {
  const undo: UndoRecord[] = [];
  const ran = (c.execution ?? []).filter((e) => e.result === 'succeeded');
  // One restore per target, from the snapshot taken before the first change to it; targets last changed
  // are restored first.
  const targets = [...new Set(ran.map((e) => e.target))].reverse();
  for (const target of targets) {
    const changes = ran.filter((e) => e.target === target);
    const first = changes[0];
    const record = (result: UndoRecord['result'], detail: string) =>
      undo.push({
        action: changes.map((e) => e.action).join('+'),
        target,
        dryRun: deps.dryRun,
        result,
        detail,
        ...(first.snapshotId ? { snapshotId: first.snapshotId } : {}),
      });
    if (c.recovery?.undo === 'none') {
      record('skipped', `the playbook has no undo for ${first.action}`);
      continue;
    }
    if (!first.snapshotId) {
      record('failed', 'no snapshot was taken before the change');
      continue;
    }
    const snapshot = await deps.snapshots.get(c.incidentId, first.snapshotId);
    if (!snapshot) {
      record('failed', `snapshot ${first.snapshotId} is not stored with incident ${c.incidentId}`);
      continue;
    }
    try {
      const changesSince = changes.filter((e) => !e.dryRun).length;
      const result = await deps.cluster.restore(snapshot, { dryRun: deps.dryRun, changesSince });
      record(result.ok ? 'restored' : 'failed', result.detail);
    } catch (error) {
      record('failed', (error as Error).message);
    }
  }
  return { ...c, undo };
}

const isoMs = (ms: number): string => new Date(ms).toISOString();
const formatValue = (x: number): string => (Number.isFinite(x) ? Number(x.toPrecision(3)).toString() : 'n/a');
