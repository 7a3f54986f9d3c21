// Key schemas of the agent's DynamoDB tables: CDK creates them on AWS, the local runtime in dynalite.

export interface TableDefinition {
  readonly partitionKey: string;
  readonly sortKey?: string;
  /**
   * DynamoDB type of the sort key: 'S' (string) or 'N' (number).
   * @default 'S'
   */
  readonly sortKeyType?: 'S' | 'N';
  readonly indexes?: readonly { readonly name: string; readonly partitionKey: string; readonly sortKey?: string }[];
  /** Attribute holding an epoch-seconds expiry, when items age out. */
  readonly timeToLive?: string;
}

export const TABLES = {
  /** One item per incident; the sparse `openFlag` index lists the open ones cheaply. */
  incidents: {
    partitionKey: 'id',
    indexes: [{ name: 'open-incidents', partitionKey: 'openFlag', sortKey: 'openedAt' }],
  },
  /** Baseline chunks per published version, plus a `current` pointer item. */
  baselines: { partitionKey: 'pk', sortKey: 'sk', timeToLive: 'expiresAt' },
  /** One pointer per scorer shard: the last committed tick and where its state lies. */
  scorerState: { partitionKey: 'shard' },
  /** Recent operations per resource, for the rate limit (3 per resource per hour); optimistic-lock updates. */
  actionLedger: { partitionKey: 'resource', timeToLive: 'expiresAt' },
  /** The audit trail: one hash chain per incident, records numbered from 1; written only by conditional puts. */
  audit: { partitionKey: 'chain', sortKey: 'seq', sortKeyType: 'N' },
  /**
   * Approval decisions (`decision#<id>` / `decision`), one vote per person (`vote#<userId>`) and every refused
   * request (`refusal#<time>#<n>`, under the decision or under `refusals#<day>` when none is known).
   */
  approvals: { partitionKey: 'pk', sortKey: 'sk', timeToLive: 'purgeAt' },
} as const satisfies Record<string, TableDefinition>;
