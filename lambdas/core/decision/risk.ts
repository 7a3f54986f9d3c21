// The multi-factor risk score that sets an incident's tier, with each factor's contribution spelled out
// for the approval message and the report. Rules that must hold whatever the score (money) override it.

import type { Criticality } from '../config/schema';
import {
  ACTION_CATALOG,
  isCatalogAction,
  MONEY_OPERATION,
  type PlannedAction,
  type RiskAssessment,
  type RiskFactor,
  TIERS,
  tierOf,
} from './types';

export interface ServiceRef {
  readonly name: string;
  readonly criticality: Criticality;
}

export interface RiskInput {
  /** The diagnosed root cause: the service the plan acts on. */
  readonly rootCause: ServiceRef;
  /** Every service the incident touches, root cause included. */
  readonly services: readonly ServiceRef[];
  /** Services in the topology, for the incident's share of the estate. */
  readonly totalServices: number;
  /** Services that call the root cause, directly or not: what breaks if the action goes wrong. */
  readonly dependants: number;
  /** Share of the target's replicas the plan touches at once (1 for a rollback of the whole Deployment). */
  readonly replicaShare: number;
  /** Highest anomaly score of the incident's signals, 0..1. */
  readonly severity: number;
  /** Confidence of the diagnosis, 0..1. */
  readonly diagnosisConfidence: number;
  /** Current traffic over its baseline across the edge (1 = normal; 3 = a market surge tripled it). */
  readonly trafficRatio: number;
  /** True during a configured change freeze. */
  readonly changeFreeze: boolean;
  readonly plan: readonly PlannedAction[];
}

/** Weights sum to 1; the action's own risk class dominates, the context moves it within or across a tier. */
export const RISK_WEIGHTS = {
  actionRisk: 0.5,
  criticality: 0.15,
  blastRadius: 0.12,
  severity: 0.05,
  uncertainty: 0.08,
  trafficRegime: 0.05,
  changeFreeze: 0.05,
} as const;

const ACTION_RISK_VALUE = { LOW: 0.15, MEDIUM: 0.55, HIGH: 0.95 } as const;
/** With nothing safe to automate a human must act: as risky as an action that needs one approval. */
const NO_ACTION_VALUE = 0.55;
const CRITICALITY_VALUE: Record<Criticality, number> = { funds: 1, core: 0.6, standard: 0.2 };

const clamp01 = (x: number): number => (Number.isFinite(x) ? Math.min(1, Math.max(0, x)) : 1);
const round = (x: number): number => Math.round(x * 1000) / 1000;
/** An action outside the catalog (a model's or a bad playbook's) is treated as the riskiest; guardrails refuse it. */
const riskClassOf = (step: PlannedAction): keyof typeof ACTION_RISK_VALUE =>
  isCatalogAction(step.action) ? ACTION_CATALOG[step.action].riskClass : 'HIGH';
const riskOf = (step: PlannedAction): number => ACTION_RISK_VALUE[riskClassOf(step)];

export function assessRisk(input: RiskInput): RiskAssessment {
  const factor = (name: keyof typeof RISK_WEIGHTS, value: number, explanation: string): RiskFactor => {
    const v = clamp01(value);
    const weight = RISK_WEIGHTS[name];
    return { name, value: round(v), weight, contribution: round(v * weight), explanation };
  };

  const riskiest = input.plan.reduce<PlannedAction | undefined>(
    (worst, step) => (!worst || riskOf(step) > riskOf(worst) ? step : worst),
    undefined,
  );
  const actionValue = riskiest ? riskOf(riskiest) : NO_ACTION_VALUE;
  // The criticality of what is acted on; affected callers count through the blast radius instead.
  const targets = new Map<string, ServiceRef>([[input.rootCause.name, input.rootCause]]);
  for (const step of input.plan) {
    const known = input.services.find((s) => s.name === step.service);
    if (known) targets.set(known.name, known);
  }
  const mostCritical = [...targets.values()].sort(
    (a, b) => CRITICALITY_VALUE[b.criticality] - CRITICALITY_VALUE[a.criticality],
  )[0];
  const share = input.totalServices > 0 ? input.services.length / input.totalServices : 1;
  const blast = Math.max(
    share,
    Math.min(1, input.dependants / Math.max(1, input.totalServices - 1)) * input.replicaShare,
  );
  const surge = clamp01((input.trafficRatio - 1.2) / 2);

  const factors: RiskFactor[] = [
    factor(
      'actionRisk',
      actionValue,
      riskiest
        ? `${riskiest.action} on ${riskiest.service} is a ${riskClassOf(riskiest)}-risk action`
        : 'no catalog action fits: a human has to act',
    ),
    factor(
      'criticality',
      CRITICALITY_VALUE[mostCritical.criticality],
      `${mostCritical.name} is ${mostCritical.criticality}`,
    ),
    factor(
      'blastRadius',
      blast,
      `${input.services.length} of ${input.totalServices} services affected; ${input.dependants} depend on the target; the plan touches ${Math.round(input.replicaShare * 100)} % of its replicas`,
    ),
    factor('severity', input.severity, `strongest signal scores ${input.severity.toFixed(2)}`),
    factor(
      'uncertainty',
      1 - input.diagnosisConfidence,
      `diagnosis confidence ${Math.round(clamp01(input.diagnosisConfidence) * 100)} %`,
    ),
    factor(
      'trafficRegime',
      surge,
      input.trafficRatio >= 1.2 ? `traffic at ${input.trafficRatio.toFixed(1)}x its baseline` : 'traffic normal',
    ),
    factor(
      'changeFreeze',
      input.changeFreeze ? 1 : 0,
      input.changeFreeze ? 'a change freeze is in force' : 'no change freeze',
    ),
  ];
  const score = round(factors.reduce((sum, f) => sum + f.contribution, 0));

  const overrides: string[] = [];
  const funds = [...targets.values()].filter((s) => s.criticality === 'funds').map((s) => s.name);
  if (funds.length > 0) overrides.push(`acts on funds service ${funds.join(', ')}: diagnosis only`);
  const money = input.plan.filter((p) => MONEY_OPERATION.test(p.action) || MONEY_OPERATION.test(p.target.name));
  if (money.length > 0) overrides.push(`plan names a money operation (${money.map((p) => p.action).join(', ')})`);
  if (overrides.length > 0) return { score, tier: 'CRITICAL', factors, overrides };

  // The score places the tier; an action's fixed risk class is the least approval it ever gets. A rollback on a
  // quiet standard service still goes to an SRE, a database failover still needs the quorum.
  const scored = tierOf(score);
  const needed = riskiest ? riskClassOf(riskiest) : 'LOW';
  if (TIERS.indexOf(needed) > TIERS.indexOf(scored)) {
    overrides.push(`${riskiest?.action} is a ${needed}-risk action: it needs at least ${needed} approval`);
    return { score, tier: needed, factors, overrides };
  }
  return { score, tier: scored, factors, overrides };
}
