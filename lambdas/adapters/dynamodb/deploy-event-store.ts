// DeployEventStore on DynamoDB: one item per deploy under `deploy#<service>`, sorted by time, so diagnosis reads a
// service's deploys around an incident with one query. Keys are deterministic from the event and its Kafka
// offset, and writes are conditional, so a redelivered batch stores nothing twice.

import { ConditionalCheckFailedException, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, PutCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import type { DeployEventStore, KafkaDeployEvent } from '../kafka/deploy-events';
import type { TableDefinition } from './table-definitions';

/** The deploy-events table, in the style of TABLES: items age out through `expiresAt`. */
export const DEPLOY_EVENTS_TABLE = {
  partitionKey: 'pk',
  sortKey: 'sk',
  timeToLive: 'expiresAt',
} as const satisfies TableDefinition;

export const deployPartitionKey = (service: string): string => `deploy#${service}`;
/** `<ISO time>#<offset>`: sorts by time, and the same record always lands on the same key. */
export const deploySortKey = (time: number, offset: number): string => `${new Date(time).toISOString()}#${offset}`;

export interface DynamoDeployEventStoreOptions {
  /**
   * Days a deploy is kept before DynamoDB's TTL removes it.
   * @default 90
   */
  readonly retentionDays?: number;
  /**
   * Puts in flight at once.
   * @default 16
   */
  readonly concurrency?: number;
}

interface DeployItem {
  readonly pk: string;
  readonly sk: string;
  readonly service: string;
  readonly time: number;
  readonly namespace?: string;
  readonly version?: string;
  readonly previousVersion?: string;
  readonly actor?: string;
  readonly source?: string;
  readonly topic: string;
  readonly partition: number;
  readonly offset: number;
  readonly kafkaTimestamp: number;
  readonly expiresAt: number;
}

const OPTIONAL = ['namespace', 'version', 'previousVersion', 'actor', 'source'] as const;

export class DynamoDeployEventStore implements DeployEventStore {
  private readonly doc: DynamoDBDocumentClient;
  private readonly retentionSeconds: number;
  private readonly concurrency: number;

  constructor(
    client: DynamoDBClient,
    private readonly tableName: string,
    options: DynamoDeployEventStoreOptions = {},
  ) {
    this.doc = DynamoDBDocumentClient.from(client, { marshallOptions: { removeUndefinedValues: true } });
    this.retentionSeconds = (options.retentionDays ?? 90) * 86_400;
    this.concurrency = Math.max(1, options.concurrency ?? 16);
  }

  async put(
    deploys: readonly KafkaDeployEvent[],
  ): Promise<{ written: number; duplicates: number; collisions: KafkaDeployEvent[] }> {
    let written = 0;
    let duplicates = 0;
    const collisions: KafkaDeployEvent[] = [];
    let next = 0;
    const worker = async () => {
      while (next < deploys.length) {
        const deploy = deploys[next++];
        const outcome = await this.putOne(deploy);
        if (outcome === 'written') written++;
        else if (outcome === 'duplicate') duplicates++;
        else collisions.push(deploy);
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.concurrency, deploys.length) }, worker));
    return { written, duplicates, collisions };
  }

  /**
   * Writes the item unless its key is taken. The same Kafka record again (same topic and partition at that
   * offset) rewrites identical content and reports a duplicate; any other record on the key is a collision.
   */
  private async putOne(deploy: KafkaDeployEvent): Promise<'written' | 'duplicate' | 'collision'> {
    const item: DeployItem = {
      pk: deployPartitionKey(deploy.service),
      sk: deploySortKey(deploy.time, deploy.origin.offset),
      service: deploy.service,
      time: deploy.time,
      ...Object.fromEntries(OPTIONAL.filter((f) => deploy[f] !== undefined).map((f) => [f, deploy[f]])),
      topic: deploy.origin.topic,
      partition: deploy.origin.partition,
      offset: deploy.origin.offset,
      kafkaTimestamp: deploy.origin.timestamp,
      expiresAt: Math.floor(deploy.time / 1000) + this.retentionSeconds,
    };
    try {
      const answer = await this.doc.send(
        new PutCommand({
          TableName: this.tableName,
          Item: item,
          ConditionExpression: 'attribute_not_exists(pk) OR (#topic = :topic AND #partition = :partition)',
          ExpressionAttributeNames: { '#topic': 'topic', '#partition': 'partition' },
          ExpressionAttributeValues: { ':topic': item.topic, ':partition': item.partition },
          ReturnValues: 'ALL_OLD',
        }),
      );
      return answer.Attributes ? 'duplicate' : 'written';
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return 'collision';
      throw error;
    }
  }

  async deploysFor(service: string, fromMs: number, toMs: number): Promise<KafkaDeployEvent[]> {
    if (!(toMs >= fromMs)) return [];
    const out: KafkaDeployEvent[] = [];
    let start: Record<string, unknown> | undefined;
    do {
      const page = await this.doc.send(
        new QueryCommand({
          TableName: this.tableName,
          KeyConditionExpression: 'pk = :pk AND sk BETWEEN :from AND :to',
          ExpressionAttributeValues: {
            ':pk': deployPartitionKey(service),
            ':from': new Date(fromMs).toISOString(),
            // '~' sorts after every offset digit, so deploys at exactly toMs are included.
            ':to': `${new Date(toMs).toISOString()}#~`,
          },
          ConsistentRead: true,
          ...(start ? { ExclusiveStartKey: start } : {}),
        }),
      );
      for (const item of (page.Items ?? []) as DeployItem[]) out.push(toDeploy(item));
      start = page.LastEvaluatedKey;
    } while (start);
    return out;
  }
}

function toDeploy(item: DeployItem): KafkaDeployEvent {
  return {
    time: item.time,
    service: item.service,
    ...Object.fromEntries(OPTIONAL.filter((f) => item[f] !== undefined).map((f) => [f, item[f]])),
    origin: { topic: item.topic, partition: item.partition, offset: item.offset, timestamp: item.kafkaTimestamp },
  };
}
