// The incident workflow's health metrics, read off the case a step returns: what the remediation ran and how it
// went, whether recovery was confirmed, and what the model cost and how often it fell back to the rules. Each is
// counted at the one step that produces it, since every later step carries the same case along; the other steps
// write zeros, so no invocation publishes an empty record and the dashboard shows a flat line rather than a gap.

import type { Metrics } from '@aws-lambda-powertools/metrics';
import type { IncidentCase } from '../core/decision/incident-case';
import {
  ActionsExecuted,
  ActionsFailed,
  count,
  LlmCalls,
  LlmFallbacks,
  LlmTokens,
  type MetricName,
  RecoveriesConfirmed,
  RecoveriesFailed,
} from './metrics';

export type StepCounts = Partial<Record<MetricName, number>>;

/**
 * Remediate: each action that ran, by result (a refused action never ran, so it is neither). VerifyRecovery: its
 * verdict once final; `pending` loops back for another check and is counted when it ends.
 */
export function remediationCounts(step: string, c: IncidentCase): StepCounts {
  const execution = step === 'Remediate' ? (c.execution ?? []) : [];
  const verdict = step === 'VerifyRecovery' ? c.verification?.status : undefined;
  return {
    [ActionsExecuted]: execution.filter((e) => e.result === 'succeeded').length,
    [ActionsFailed]: execution.filter((e) => e.result === 'failed').length,
    [RecoveriesConfirmed]: verdict === 'recovered' ? 1 : 0,
    [RecoveriesFailed]: verdict === 'not-recovered' ? 1 : 0,
  };
}

/**
 * Diagnose: one model call whenever the diagnosis says the model was asked (answered or not), its tokens, and a
 * fallback when the rules had to decide alone. LlmCalls is written only when the model was asked: it is the
 * denominator of the fallback-rate alarm, which must see no data, not a zero, when no model is configured.
 */
export function diagnosisCounts(step: string, c: IncidentCase): StepCounts {
  const llm = step === 'Diagnose' ? c.diagnosis?.llm : undefined;
  return {
    ...(llm ? { [LlmCalls]: 1 } : {}),
    [LlmTokens]: llm?.tokens ?? 0,
    [LlmFallbacks]: llm?.fallbackReason ? 1 : 0,
  };
}

export function countSteps(metrics: Metrics, counts: StepCounts): void {
  for (const [name, value] of Object.entries(counts) as [MetricName, number][]) count(metrics, name, value);
}
