// The decision layer's vocabulary: tiers, the action catalog, plans, risk assessments, approvals.

export const TIERS = ['LOW', 'MEDIUM', 'HIGH', 'CRITICAL'] as const;
export type Tier = (typeof TIERS)[number];

/** Score thresholds of the tiers: below 0.4 LOW, below 0.6 MEDIUM, below 0.8 HIGH, else CRITICAL. */
export const tierOf = (score: number): Tier =>
  score < 0.4 ? 'LOW' : score < 0.6 ? 'MEDIUM' : score < 0.8 ? 'HIGH' : 'CRITICAL';

/**
 * The only actions automation may take, each with a fixed risk class. Money operations (wallet transfers,
 * balance adjustments, order corrections, trading halts) are deliberately absent and cannot be added by
 * configuration: the iron rule.
 */
export const ACTION_CATALOG = {
  'restart-pod': { riskClass: 'LOW', description: 'delete one unhealthy pod so its controller replaces it' },
  'rollout-restart': { riskClass: 'LOW', description: 'restart all pods of a Deployment' },
  'scale-up': { riskClass: 'LOW', description: 'raise replicas or the HPA minimum/maximum within bounds' },
  'cache-flush': { riskClass: 'LOW', description: 'flush a cache keyspace' },
  rollback: { riskClass: 'MEDIUM', description: 'roll a Deployment back to its previous revision' },
  'config-revert': { riskClass: 'MEDIUM', description: 'revert the last configuration change' },
  'rate-limit': { riskClass: 'MEDIUM', description: 'turn on or tighten a rate limit at the edge' },
  'db-failover': { riskClass: 'HIGH', description: 'fail a database over to its replica' },
  'az-failover': { riskClass: 'HIGH', description: 'move traffic away from an availability zone' },
  'engine-restart': { riskClass: 'HIGH', description: 'restart a matching engine' },
} as const satisfies Record<string, { riskClass: Exclude<Tier, 'CRITICAL'>; description: string }>;

export type ActionName = keyof typeof ACTION_CATALOG;
export const isCatalogAction = (name: string): name is ActionName => Object.hasOwn(ACTION_CATALOG, name);

/**
 * Names that move, freeze or correct money. Anything matching is never executed, whatever else says so. Matched
 * anywhere in a name (`hotwallet`, `userBalance`, `orderCorrection`), erring towards blocking; only a load
 * balancer is told apart from a balance.
 */
export const MONEY_OPERATION =
  /wallet|(?<!load[-_. ]?)balanc|withdraw|deposit|transfer|payout|order[-_. ]?correct|pause[-_. ]?trading|trading[-_. ]?halt|halt[-_. ]?trading|settle|ledger/i;

export interface ActionTarget {
  readonly namespace: string;
  readonly kind: 'deployment' | 'pod' | 'hpa' | 'datastore' | 'edge' | 'zone';
  readonly name: string;
}

export const formatTarget = (t: ActionTarget): string => `${t.namespace}/${t.kind}/${t.name}`;

export interface PlannedAction {
  readonly action: ActionName;
  readonly service: string;
  readonly target: ActionTarget;
  readonly params: Readonly<Record<string, string | number | boolean>>;
  /** Why this action: the playbook or diagnosis that chose it. */
  readonly reason: string;
}

export interface RiskFactor {
  readonly name: string;
  /** 0..1, how much of this risk is present. */
  readonly value: number;
  readonly weight: number;
  /** value x weight: the factor's share of the score. */
  readonly contribution: number;
  readonly explanation: string;
}

export interface RiskAssessment {
  readonly score: number;
  readonly tier: Tier;
  readonly factors: RiskFactor[];
  /** Why the tier is what it is, when a rule (not the score) set it: e.g. a funds service. */
  readonly overrides: string[];
}

export type ApproverRole = 'sre' | 'tech-lead';

/** Who must approve each tier: distinct people, each counted once, in the role the config gives them. */
export const QUORUM: Record<Exclude<Tier, 'CRITICAL'>, Readonly<Record<ApproverRole, number>>> = {
  LOW: { sre: 0, 'tech-lead': 0 },
  MEDIUM: { sre: 1, 'tech-lead': 0 },
  HIGH: { sre: 2, 'tech-lead': 1 },
};

export interface Vote {
  readonly decisionId: string;
  readonly userId: string;
  readonly userName: string;
  readonly role: ApproverRole;
  readonly choice: 'approve' | 'reject';
  readonly reason?: string;
  /** ISO time the vote was recorded. */
  readonly at: string;
}
