// The incident workflow's steps as plain functions over an accumulating "case": each Task state of
// state-machines/incident.asl.json sends the case in and gets it back with its part filled in, so the
// execution history in the console shows the whole story at every step.

import { classifyFault, type DeployRecord, type FaultKind } from '../cognition/classify';
import type { Incident } from '../cognition/incident';
import { type Candidate, rankByTopology } from '../cognition/rank';
import type { ServiceGraph } from '../topology';
import { checkGuardrails, type DenyRule, type Refusal } from './guardrails';
import { type Playbooks, planRemediation, recoveryPlanFor } from './plan';
import { assessRisk } from './risk';
import type { PlannedAction, RiskAssessment, Tier, Vote } from './types';

export interface Diagnosis {
  readonly rootCause: { readonly service: string; readonly kind: FaultKind; readonly confidence: number };
  readonly candidates: Candidate[];
  readonly evidence: string[];
  /** Which engine produced the ranking. */
  readonly method: 'rules';
}

export interface ExecutionRecord {
  readonly action: string;
  readonly target: string;
  readonly dryRun: boolean;
  readonly result: 'succeeded' | 'failed' | 'refused';
  readonly detail: string;
  readonly snapshotId?: string;
}

/** What the playbook says proves recovery and how to undo, copied onto the case when the plan is made. */
export interface RecoveryPlan {
  /** Catalog signals of the acted-on service that must be back to normal. */
  readonly signals: string[];
  readonly waitMinutes: number;
  readonly undo: 'restore-snapshot' | 'none';
}

export type VerificationStatus = 'pending' | 'recovered' | 'not-recovered' | 'nothing-ran';

export interface Verification {
  readonly status: VerificationStatus;
  readonly recovered: boolean;
  /** First check, right after the actions ran. */
  readonly startedAt: string;
  /** Recovery must be confirmed before this, or the change is undone. */
  readonly deadline: string;
  readonly checkedAt: string;
  readonly checks: number;
  /** While pending: when to look again (the workflow's Wait state reads recheckSeconds). */
  readonly nextCheckAt?: string;
  readonly recheckSeconds: number;
  readonly recoveredAt?: string;
  readonly detail: string[];
}

export interface UndoRecord {
  readonly action: string;
  readonly target: string;
  readonly dryRun: boolean;
  readonly result: 'restored' | 'failed' | 'skipped';
  readonly detail: string;
  readonly snapshotId?: string;
}

export interface IncidentCase {
  readonly incidentId: string;
  readonly incident: Incident;
  readonly diagnosis?: Diagnosis;
  readonly plan?: PlannedAction[];
  readonly risk?: RiskAssessment;
  readonly guardrails?: {
    readonly allowed: PlannedAction[];
    readonly allowedCount: number;
    readonly refused: Refusal[];
    readonly moneyInvolved: boolean;
  };
  readonly approval?: { readonly approved: boolean; readonly votes: Vote[] };
  readonly rejection?: { readonly Error: string; readonly Cause: string };
  readonly timeout?: { readonly Error: string; readonly Cause?: string };
  readonly failure?: { readonly Error: string; readonly Cause?: string };
  readonly execution?: ExecutionRecord[];
  readonly recovery?: RecoveryPlan;
  readonly verification?: Verification;
  readonly undo?: UndoRecord[];
  readonly outcome?: CaseOutcome;
}

export type CaseOutcome =
  | 'remediated'
  | 'remediation-failed'
  | 'not-recovered'
  | 'diagnosis-only'
  | 'rejected'
  | 'approval-timed-out'
  | 'workflow-failed';

export interface DecideDeps {
  readonly graph: ServiceGraph;
  readonly deploysFor: (service: string, fromMs: number, toMs: number) => Promise<DeployRecord[]>;
  readonly denyList: readonly DenyRule[];
  readonly changeFreezeAt: (timeMs: number) => boolean;
  readonly playbooks: Playbooks;
}

export class CaseError extends Error {
  override readonly name = 'CaseError';
}

export async function diagnose(c: IncidentCase, deps: DecideDeps): Promise<IncidentCase> {
  const candidates = rankByTopology(c.incident, deps.graph);
  const top = candidates[0];
  if (!top) throw new CaseError(`incident ${c.incidentId} has no anomalous service to diagnose`);
  const opened = Date.parse(c.incident.openedAt);
  const deploys = await deps.deploysFor(top.service, opened - 60 * 60_000, opened);
  const classification = classifyFault(c.incident, deps.graph.get(top.service), deploys);
  const confidence = Math.round(Math.min(0.95, top.score * (classification.kind === 'unknown' ? 0.6 : 1)) * 100) / 100;
  return {
    ...c,
    diagnosis: {
      rootCause: { service: top.service, kind: classification.kind, confidence },
      candidates: candidates.map((candidate, i) => (i === 0 ? { ...candidate, kind: classification.kind } : candidate)),
      evidence: [...top.evidence, ...classification.evidence],
      method: 'rules',
    },
  };
}

export function planStep(c: IncidentCase, deps: DecideDeps): IncidentCase {
  const diagnosis = requirePart(c, 'diagnosis');
  const root = deps.graph.get(diagnosis.rootCause.service);
  const plan = root ? planRemediation(diagnosis.rootCause.kind, root, deps.playbooks) : [];
  const recovery = recoveryPlanFor(diagnosis.rootCause.kind, deps.playbooks);
  return { ...c, plan, ...(plan.length > 0 && recovery ? { recovery } : {}) };
}

export function assessStep(c: IncidentCase, deps: DecideDeps): IncidentCase {
  const diagnosis = requirePart(c, 'diagnosis');
  const plan = requirePart(c, 'plan');
  const ref = (name: string) => ({ name, criticality: deps.graph.get(name)?.criticality ?? ('standard' as const) });
  const root = diagnosis.rootCause.service;
  const risk = assessRisk({
    rootCause: ref(root),
    services: c.incident.services.map(ref),
    totalServices: deps.graph.names().length,
    dependants: deps.graph.names().filter((s) => s !== root && deps.graph.dependsOnTransitively(s, root)).length,
    replicaShare: plan.some((p) => p.action === 'restart-pod')
      ? 1 / Math.max(1, deps.graph.get(root)?.replicas ?? 1)
      : 1,
    severity: Math.max(0, ...c.incident.signals.map((s) => s.peakScore)),
    diagnosisConfidence: diagnosis.rootCause.confidence,
    trafficRatio: trafficRatio(c.incident),
    changeFreeze: deps.changeFreezeAt(Date.parse(c.incident.openedAt)),
    plan,
  });
  return { ...c, risk };
}

export function guardrailStep(c: IncidentCase, deps: DecideDeps): IncidentCase {
  const plan = requirePart(c, 'plan');
  const risk = requirePart(c, 'risk');
  const verdict = checkGuardrails(plan, {
    criticalityOf: (service) => deps.graph.get(service)?.criticality,
    denyList: deps.denyList,
  });
  // The iron rule overrides whatever the score said.
  const tier: Tier = verdict.moneyInvolved ? 'CRITICAL' : risk.tier;
  return {
    ...c,
    risk: tier === risk.tier ? risk : { ...risk, tier, overrides: [...risk.overrides, 'guardrails: money involved'] },
    guardrails: {
      allowed: verdict.allowed,
      allowedCount: verdict.allowed.length,
      refused: verdict.refused,
      moneyInvolved: verdict.moneyInvolved,
    },
  };
}

/** What the case ended as, from the parts the workflow filled in. */
export function outcomeOf(c: IncidentCase): CaseOutcome {
  if (c.failure) return 'workflow-failed';
  if (c.rejection) return 'rejected';
  if (c.timeout) return 'approval-timed-out';
  if (c.verification?.status === 'not-recovered') return 'not-recovered';
  if (c.execution && c.execution.length > 0) {
    return c.execution.every((e) => e.result === 'succeeded') && c.verification?.recovered !== false
      ? 'remediated'
      : 'remediation-failed';
  }
  return 'diagnosis-only';
}

/** Highest ratio of current to expected request rate among the incident's traffic signals. */
function trafficRatio(incident: Incident): number {
  const ratios = incident.signals
    .filter((s) => s.signalId === 'request_rate' && s.expectedAtPeak > 0 && Number.isFinite(s.valueAtPeak))
    .map((s) => s.valueAtPeak / s.expectedAtPeak);
  return Math.max(1, ...ratios);
}

function requirePart<K extends keyof IncidentCase>(c: IncidentCase, part: K): NonNullable<IncidentCase[K]> {
  const value = c[part];
  if (value === undefined || value === null) throw new CaseError(`case ${c.incidentId} has no ${String(part)} yet`);
  return value as NonNullable<IncidentCase[K]>;
}
