// What each incident workflow step leaves in the audit chain (one chain per incident): the step and its
// result, every refusal and every action, so an auditor can replay why things happened. Votes, approval
// requests and their closing are recorded by the approval flows themselves (core/decision/approval.ts).

import type { IncidentCase } from '../decision/incident-case';
import type { AuditLog } from '../ports';
import type { AuditEntry } from './audit';
import { redactDeep } from './redact';

type PartialCase = Partial<IncidentCase> & { readonly incidentId: string };

/** Builds the audit entries for one step from the case it produced. */
export function auditEntriesFor(state: string, c: PartialCase): AuditEntry[] {
  const actor = `workflow:${state}`;
  const step = (summary: string, detail: Record<string, unknown>): AuditEntry => ({
    actor,
    kind: 'step',
    summary,
    detail,
  });
  switch (state) {
    case 'Diagnose': {
      const root = c.diagnosis?.rootCause;
      return [
        step(`root cause ${root?.service} (${root?.kind}, confidence ${root?.confidence})`, {
          rootCause: root,
          evidence: c.diagnosis?.evidence,
          method: c.diagnosis?.method,
        }),
      ];
    }
    case 'PlanRemediation':
      return [
        step(`plan: ${(c.plan ?? []).map((p) => p.action).join(', ') || 'nothing to automate'}`, { plan: c.plan }),
      ];
    case 'AssessRisk':
      return [
        step(`risk ${c.risk?.score} -> ${c.risk?.tier}`, {
          score: c.risk?.score,
          tier: c.risk?.tier,
          factors: c.risk?.factors,
          overrides: c.risk?.overrides,
        }),
      ];
    case 'CheckGuardrails':
      return [
        step(`guardrails: ${c.guardrails?.allowedCount ?? 0} allowed, ${c.guardrails?.refused.length ?? 0} refused`, {
          allowed: c.guardrails?.allowed,
        }),
        ...(c.guardrails?.refused ?? []).map(
          (r): AuditEntry => ({
            actor,
            kind: 'refusal',
            summary: `refused ${r.action} on ${r.target}: ${r.rule}`,
            detail: { ...r },
          }),
        ),
      ];
    case 'Remediate':
      return (c.execution ?? []).map(
        (e): AuditEntry => ({
          actor: `executor:${e.action}`,
          kind: e.result === 'refused' ? 'refusal' : 'action',
          summary: `${e.action} on ${e.target}${e.dryRun ? ' (dry run)' : ''}: ${e.result}`,
          detail: { ...e },
        }),
      );
    case 'VerifyRecovery': {
      const v = c.verification;
      const said = v?.status === 'pending' ? `check ${v.checks} pending` : (v?.status ?? 'missing');
      return [step(`recovery ${said}`, { ...v })];
    }
    case 'UndoRemediation':
      return (c.undo ?? []).map(
        (u): AuditEntry => ({
          actor: `executor:undo-${u.action}`,
          kind: 'action',
          summary: `undo ${u.action} on ${u.target}${u.dryRun ? ' (dry run)' : ''}: ${u.result}`,
          detail: { ...u },
        }),
      );
    case 'Close':
      return [step(`closed: ${c.outcome}`, { outcome: c.outcome })];
    default:
      // Notifications, rejections, escalations and failures.
      return [
        {
          actor,
          kind: state === 'NotifyFailure' ? 'error' : 'notification',
          summary: state,
          detail: { rejection: c.rejection, timeout: c.timeout, failure: c.failure, tier: c.risk?.tier },
        },
      ];
  }
}

export async function auditStep(log: AuditLog, state: string, c: PartialCase, at: string): Promise<void> {
  for (const entry of auditEntriesFor(state, c)) await log.append(c.incidentId, { ...entry, at });
}

/** One request the executor sent to a cluster and its answer (no credentials), as the audit keeps it. */
export interface ClusterExchange {
  readonly at: string;
  readonly method: string;
  readonly path: string;
  readonly status?: number;
  readonly outcome: string;
  readonly requestBody?: unknown;
}

/** Appends every cluster request of one step to the incident's chain, bodies redacted. */
export async function auditExchanges(
  log: AuditLog,
  incidentId: string,
  state: string,
  exchanges: readonly ClusterExchange[],
): Promise<void> {
  for (const exchange of exchanges) {
    const { value } = redactDeep({ ...exchange });
    await log.append(incidentId, {
      actor: `executor:${state}`,
      kind: 'action',
      summary: `${exchange.method} ${exchange.path} -> ${exchange.status ?? 'no answer'}`,
      detail: value,
      at: exchange.at,
    });
  }
}
