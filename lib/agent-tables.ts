// The agent's DynamoDB tables, built from the same key definitions the local runtime gives dynalite.

import { RemovalPolicy } from 'aws-cdk-lib';
import { AttributeType, BillingMode, ProjectionType, Table } from 'aws-cdk-lib/aws-dynamodb';
import { Construct } from 'constructs';
import { TABLES, type TableDefinition } from '../lambdas/adapters/dynamodb/table-definitions';

export interface AgentTablesProps {
  /**
   * Deletion protection on, and tables retained when removed from the stack. Off only where losing incidents
   * and baselines is acceptable (dev).
   * @default true
   */
  readonly protectData?: boolean;
}

/** Incidents, baselines, scorer state and the action ledger: on-demand, point-in-time recovery everywhere. */
export class AgentTables extends Construct {
  readonly incidents: Table;
  readonly baselines: Table;
  readonly scorerState: Table;
  readonly actionLedger: Table;

  constructor(scope: Construct, id: string, props: AgentTablesProps = {}) {
    super(scope, id);
    const protectData = props.protectData ?? true;
    const build = (tableId: string, definition: TableDefinition): Table => {
      const table = new Table(this, tableId, {
        partitionKey: { name: definition.partitionKey, type: AttributeType.STRING },
        sortKey: definition.sortKey ? { name: definition.sortKey, type: AttributeType.STRING } : undefined,
        billingMode: BillingMode.PAY_PER_REQUEST,
        pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
        deletionProtection: protectData,
        removalPolicy: protectData ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY,
        timeToLiveAttribute: definition.timeToLive,
      });
      for (const index of definition.indexes ?? []) {
        table.addGlobalSecondaryIndex({
          indexName: index.name,
          partitionKey: { name: index.partitionKey, type: AttributeType.STRING },
          sortKey: index.sortKey ? { name: index.sortKey, type: AttributeType.STRING } : undefined,
          projectionType: ProjectionType.ALL,
        });
      }
      return table;
    };
    this.incidents = build('Incidents', TABLES.incidents);
    this.baselines = build('Baselines', TABLES.baselines);
    this.scorerState = build('ScorerState', TABLES.scorerState);
    this.actionLedger = build('ActionLedger', TABLES.actionLedger);
  }
}
