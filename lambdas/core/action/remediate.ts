// Remediate and VerifyRecovery: the only code that changes a cluster. Defence in depth: the iron rule and
// the deny-list are checked again here, the rate limit is reserved atomically, and nothing runs without a
// snapshot of the target first.

import { checkGuardrails, type DenyRule, touchesMoney } from '../decision/guardrails';
import type { ExecutionRecord, IncidentCase } from '../decision/incident-case';
import { formatTarget } from '../decision/types';
import type { ServiceGraph } from '../topology';
import type { ActionLedger, ClusterExecutor } from './ports';

export const RATE_LIMIT = { operations: 3, windowMs: 60 * 60_000 } as const;

export interface RemediateDeps {
  readonly graph: ServiceGraph;
  readonly denyList: readonly DenyRule[];
  readonly cluster: ClusterExecutor;
  readonly ledger: ActionLedger;
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
    let snapshotId: string;
    try {
      snapshotId = (await deps.cluster.snapshot(step.target)).snapshotId;
    } catch (error) {
      record('refused', `no-snapshot: ${(error as Error).message}`);
      continue;
    }
    try {
      const result = await deps.cluster.execute(step, { dryRun: deps.dryRun, snapshotId });
      record(result.ok ? 'succeeded' : 'failed', result.detail, snapshotId);
    } catch (error) {
      record('failed', (error as Error).message, snapshotId);
    }
  }
  return { ...c, execution };
}

export async function verifyRecovery(c: IncidentCase, deps: Pick<RemediateDeps, 'cluster'>): Promise<IncidentCase> {
  const detail: string[] = [];
  let recovered = true;
  for (const step of c.guardrails?.allowed ?? []) {
    const ran = c.execution?.find((e) => e.action === step.action && e.target === formatTarget(step.target));
    if (ran?.result !== 'succeeded') {
      recovered = false;
      detail.push(`${step.action} on ${formatTarget(step.target)} did not run (${ran?.result ?? 'missing'})`);
      continue;
    }
    const status = await deps.cluster.rolloutStatus(step);
    if (!status.complete) recovered = false;
    detail.push(`${step.action} on ${formatTarget(step.target)}: ${status.detail}`);
  }
  return { ...c, verification: { recovered, detail } };
}
