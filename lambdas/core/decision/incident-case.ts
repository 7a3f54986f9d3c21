// The incident workflow's steps as plain functions over an accumulating "case": each Task state of
// state-machines/incident.asl.json sends the case in and gets it back with its part filled in, so the
// execution history in the console shows the whole story at every step.

import type { DeployRecord, FaultKind } from '../cognition/classify';
import { type Incident, TRAFFIC_SIGNAL } from '../cognition/incident';
import type { KubeStateReader } from '../cognition/kube-findings';
import type { Candidate } from '../cognition/rank';
import type { Topology } from '../config/schema';
import type { SimilarCase } from '../diagnosis/analyzers';
import type { CaseKnowledge, RunbookRef } from '../diagnosis/case-knowledge';
import { type AwsMetricsReader, gatherEvidence } from '../diagnosis/evidence';
import { type KeyMetrics, readKeySeries } from '../diagnosis/key-series';
import {
  buildRerankRequest,
  type RerankOutcome,
  type RerankRequest,
  summarizeIncident,
  tokensSpent,
} from '../diagnosis/rerank';
import { diagnoseByRules } from '../diagnosis/rules-engine';
import type { LogSource } from '../perception/log-source';
import type { ServiceGraph } from '../topology';
import type { KeySeries } from './approval';
import { checkGuardrails, type DenyRule, type Refusal } from './guardrails';
import { type Playbooks, planRemediation, recoveryPlanFor } from './plan';
import { assessRisk } from './risk';
import type { PlannedAction, RiskAssessment, Tier, Vote } from './types';

export interface Diagnosis {
  readonly rootCause: { readonly service: string; readonly kind: FaultKind; readonly confidence: number };
  /** Best first; each with its score, evidence and (from the rules) the evidence chain. */
  readonly candidates: Candidate[];
  readonly evidence: string[];
  /** Which engine produced the ranking: the rules, or the model re-ranking them. */
  readonly method: 'rules' | 'llm';
  /** When the diagnosis was made (ISO): time to identify is measured to here. */
  readonly diagnosedAt?: string;
  /** What the model said, or why it was not used. */
  readonly llm?: {
    readonly model?: string;
    readonly explanation?: string;
    readonly suggestedActions: string[];
    readonly fallbackReason?: string;
    readonly fallbackDetail?: string;
    readonly tokens?: number;
    readonly redactions: number;
  };
  /** Past incidents like this one, from the knowledge base. */
  readonly similarCases?: SimilarCase[];
  readonly runbooks?: RunbookRef[];
  /** Evidence sources that were missing or failed. */
  readonly gaps?: string[];
  /**
   * The last hour of the root cause's strongest signal, for the approval message's sparkline. Diagnose always
   * sets it, null when it could not be read, because the approval states' JSONPath fails on a missing field;
   * optional only for cases recorded before it existed.
   */
  readonly keySeries?: KeySeries | null;
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
  /** Seconds the approval may take, set by CheckGuardrails for MEDIUM and HIGH: the approval states' timeout. */
  readonly approvalTimeoutSeconds?: number;
  readonly rejection?: { readonly Error: string; readonly Cause: string };
  readonly timeout?: { readonly Error: string; readonly Cause?: string };
  readonly failure?: { readonly Error: string; readonly Cause?: string };
  readonly execution?: ExecutionRecord[];
  readonly recovery?: RecoveryPlan;
  readonly verification?: Verification;
  readonly undo?: UndoRecord[];
  readonly outcome?: CaseOutcome;
  /** How the case ended, in one line for people (set by Close; the approval message is closed with it). */
  readonly outcomeNote?: string;
  /** Whether the closed case was stored in the knowledge base as a precedent. */
  readonly remembered?: boolean;
  readonly rememberError?: string;
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
  readonly topology: Topology;
  readonly deploysFor: (service: string, fromMs: number, toMs: number) => Promise<DeployRecord[]>;
  readonly denyList: readonly DenyRule[];
  readonly changeFreezeAt: (timeMs: number) => boolean;
  readonly playbooks: Playbooks;
  /** Error logs (Loki, or a scenario's logs.jsonl). */
  readonly logs?: LogSource;
  /** Kubernetes events and object state, read-only. */
  readonly kube?: KubeStateReader;
  /** CloudWatch metrics of the AWS resources behind services (RDS, ElastiCache, ALB). */
  readonly awsMetrics?: AwsMetricsReader;
  readonly knowledge?: CaseKnowledge;
  /** The model that re-ranks the rules' candidates; absent when none is configured. */
  readonly reranker?: (request: RerankRequest) => Promise<RerankOutcome>;
  /** The collector's metric source and catalog, for the key series; without them the diagnosis has none. */
  readonly metrics?: KeyMetrics;
  /** Seconds MEDIUM and HIGH plans wait for approval (config `approvals.timeoutMinutes`), when not the defaults. */
  readonly approvalTimeoutSeconds?: Readonly<Record<ApprovalWaitTier, number>>;
  readonly now: () => number;
}

export class CaseError extends Error {
  override readonly name = 'CaseError';
}

/**
 * Diagnose: gathers deploys, logs, Kubernetes and similar past cases, ranks root-cause candidates with the
 * rule analyzers, and lets the model re-rank them when one is configured. The model can only choose among
 * the candidates; anything else falls back to the rules, and the diagnosis says which was used. Last, it reads
 * the chosen root cause's key series for the approval message (see diagnosis/key-series.ts).
 */
export async function diagnose(c: IncidentCase, deps: DecideDeps): Promise<IncidentCase> {
  if (c.incident.signals.length === 0)
    throw new CaseError(`incident ${c.incidentId} has no anomalous service to diagnose`);
  const evidence = await gatherEvidence(c.incident, deps.topology, deps, deps.now());
  const gaps = [...evidence.gaps];
  let similar: Awaited<ReturnType<CaseKnowledge['similar']>> = { cases: [], runbooks: [] };
  if (deps.knowledge) {
    try {
      similar = await deps.knowledge.similar(c.incident);
    } catch (error) {
      gaps.push(`knowledge: ${(error as Error).message}`);
    }
  }
  const rules = diagnoseByRules({
    incident: c.incident,
    graph: deps.graph,
    deploys: evidence.deploys,
    logs: evidence.logs,
    kube: evidence.kube,
    similarCases: similar.cases,
  });
  if (deps.knowledge) {
    try {
      similar = { ...similar, runbooks: (await deps.knowledge.similar(c.incident, rules.rootCause)).runbooks };
    } catch (error) {
      gaps.push(`knowledge: runbooks: ${(error as Error).message}`);
    }
  }
  let rootCause = rules.rootCause;
  let candidates: Candidate[] = rules.candidates;
  let method: Diagnosis['method'] = 'rules';
  let llm: Diagnosis['llm'];
  if (deps.reranker) {
    const request = buildRerankRequest({
      incident: summarizeIncident(c.incident),
      candidates: rules.candidates,
      evidence: {
        signals: [
          ...c.incident.signals.map(
            (s) => `${s.key} from ${s.firstAnomalousAt}: peak ${s.valueAtPeak} vs expected ${s.expectedAtPeak}`,
          ),
          ...evidence.aws.map((a) => a.evidence),
        ],
        deploys: evidence.deploys.map(
          (d) => `${new Date(d.time).toISOString()} ${d.service} ${d.previousVersion ?? '?'} -> ${d.version ?? '?'}`,
        ),
        logSignatures: evidence.logs.map((l) => l.evidence),
        kubeEvents: evidence.kube.map((k) => k.evidence),
      },
    });
    const outcome = await deps.reranker(request);
    llm = {
      ...(outcome.model ? { model: outcome.model } : {}),
      ...(outcome.explanation ? { explanation: outcome.explanation } : {}),
      suggestedActions: [...outcome.suggestedActions],
      ...(outcome.fallbackReason ? { fallbackReason: outcome.fallbackReason } : {}),
      ...(outcome.fallbackDetail ? { fallbackDetail: outcome.fallbackDetail } : {}),
      ...(outcome.usage ? { tokens: tokensSpent(outcome.usage) } : {}),
      redactions: outcome.redactions,
    };
    if (outcome.source === 'llm' && outcome.chosen) {
      method = 'llm';
      candidates = outcome.ranking;
      rootCause = {
        service: outcome.chosen.service,
        kind: outcome.chosen.kind as FaultKind,
        confidence: Math.round((outcome.confidence ?? rules.rootCause.confidence) * 100) / 100,
      };
    }
  }
  // Read for the final root cause, the model's choice included; kept out of the model's prompt.
  const key = deps.metrics
    ? await readKeySeries(c.incident, rootCause.service, deps.metrics, deps.now())
    : { keySeries: null, gaps: [] };
  gaps.push(...key.gaps);
  return {
    ...c,
    diagnosis: {
      rootCause,
      candidates,
      evidence: [
        ...(method === 'llm' && llm?.explanation ? [`model: ${llm.explanation}`] : []),
        ...rules.evidence,
        ...evidence.aws.map((a) => `aws: ${a.evidence}`),
      ],
      method,
      diagnosedAt: new Date(deps.now()).toISOString(),
      ...(llm ? { llm } : {}),
      similarCases: similar.cases,
      runbooks: similar.runbooks,
      gaps,
      keySeries: key.keySeries,
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

type ApprovalWaitTier = Extract<Tier, 'MEDIUM' | 'HIGH'>;

/** How long MEDIUM and HIGH plans wait for their approvers when the configuration says nothing. */
export const DEFAULT_APPROVAL_TIMEOUT_SECONDS: Readonly<Record<ApprovalWaitTier, number>> = {
  MEDIUM: 1800,
  HIGH: 3600,
};

/** The config's `approvals.timeoutMinutes` in the seconds the workflow's waits take. */
export const approvalTimeoutSecondsOf = (
  minutes: Readonly<Record<ApprovalWaitTier, number>>,
): Readonly<Record<ApprovalWaitTier, number>> => ({ MEDIUM: minutes.MEDIUM * 60, HIGH: minutes.HIGH * 60 });

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
    // The wait is decided here, with the tier: the workflow's timeout and the approval message's deadline read it.
    ...(tier === 'MEDIUM' || tier === 'HIGH'
      ? { approvalTimeoutSeconds: (deps.approvalTimeoutSeconds ?? DEFAULT_APPROVAL_TIMEOUT_SECONDS)[tier] }
      : {}),
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

/**
 * The traffic regime an action would land in: the request rate at the estate's entry points over its baseline
 * (measured by the tick), or the incident's own traffic signals when higher.
 */
function trafficRatio(incident: Incident): number {
  const ratios = incident.signals
    .filter((s) => s.signalId === TRAFFIC_SIGNAL && s.expectedAtPeak > 0 && Number.isFinite(s.valueAtPeak))
    .map((s) => s.valueAtPeak / s.expectedAtPeak);
  return Math.max(1, incident.edgeTrafficRatio ?? 1, ...ratios);
}

function requirePart<K extends keyof IncidentCase>(c: IncidentCase, part: K): NonNullable<IncidentCase[K]> {
  const value = c[part];
  if (value === undefined || value === null) throw new CaseError(`case ${c.incidentId} has no ${String(part)} yet`);
  return value as NonNullable<IncidentCase[K]>;
}
