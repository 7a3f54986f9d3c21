// BaselineStore on DynamoDB: baselines are published in binary chunks under a version, then a pointer
// item swings to it, so a scorer never sees half a publication. Chunks expire by TTL after 30 days.

import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { BatchWriteCommand, DynamoDBDocumentClient, GetCommand, PutCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import type { SeriesBaseline } from '../../core/cognition/baseline';
import type { BaselineSet, BaselineStore } from '../../core/ports';
import { decodeBaselines, encodeBaselines } from '../blob/codec';

const POINTER = { pk: 'current', sk: 'current' };
/** Items stay well under DynamoDB's 400 KB limit: a 5-minute profile is ~1.3 KB per series before gzip. */
const SERIES_PER_CHUNK = 200;
/**
 * Every chunk expires this long after it was written. Long enough that a daily job failing for weeks (it is
 * alarmed long before) never leaves the scorer without baselines; short enough to bound storage.
 */
const CHUNK_LIFETIME_SECONDS = 30 * 86_400;

export class DynamoBaselineStore implements BaselineStore {
  private readonly doc: DynamoDBDocumentClient;

  constructor(
    client: DynamoDBClient,
    private readonly tableName: string,
    private readonly now: () => number = () => Date.now() / 1000,
  ) {
    this.doc = DynamoDBDocumentClient.from(client);
  }

  async currentVersion(): Promise<string | undefined> {
    const answer = await this.doc.send(
      new GetCommand({ TableName: this.tableName, Key: POINTER, ConsistentRead: true }),
    );
    return answer.Item?.version as string | undefined;
  }

  async load(): Promise<BaselineSet | undefined> {
    const version = await this.currentVersion();
    if (!version) return undefined;
    const baselines: SeriesBaseline[] = [];
    let startKey: Record<string, unknown> | undefined;
    do {
      const page = await this.doc.send(
        new QueryCommand({
          TableName: this.tableName,
          KeyConditionExpression: 'pk = :pk',
          ExpressionAttributeValues: { ':pk': `version#${version}` },
          ExclusiveStartKey: startKey,
          ConsistentRead: true,
        }),
      );
      for (const item of page.Items ?? []) baselines.push(...decodeBaselines(item.body as Uint8Array));
      startKey = page.LastEvaluatedKey;
    } while (startKey);
    return { version, baselines };
  }

  async publish(version: string, baselines: readonly SeriesBaseline[]): Promise<void> {
    const expiresAt = Math.floor(this.now()) + CHUNK_LIFETIME_SECONDS;
    const items: Record<string, unknown>[] = [];
    for (let i = 0; i < baselines.length; i += SERIES_PER_CHUNK) {
      items.push({
        pk: `version#${version}`,
        sk: `chunk#${String(i / SERIES_PER_CHUNK).padStart(6, '0')}`,
        body: encodeBaselines(baselines.slice(i, i + SERIES_PER_CHUNK)),
        expiresAt,
      });
    }
    for (let i = 0; i < items.length; i += 25) await this.writeBatch(items.slice(i, i + 25));
    await this.doc.send(
      new PutCommand({ TableName: this.tableName, Item: { ...POINTER, version, publishedAt: Math.floor(this.now()) } }),
    );
  }

  /** BatchWrite may leave items unprocessed under throttling; resend them with a growing pause. */
  private async writeBatch(items: Record<string, unknown>[]): Promise<void> {
    let pending: { PutRequest?: { Item: Record<string, unknown> } }[] = items.map((Item) => ({ PutRequest: { Item } }));
    for (let attempt = 0; pending.length > 0; attempt++) {
      if (attempt > 8) throw new Error(`baselines table ${this.tableName}: ${pending.length} chunks left unwritten`);
      if (attempt > 0) await new Promise((r) => setTimeout(r, 50 * 2 ** attempt));
      const answer = await this.doc.send(new BatchWriteCommand({ RequestItems: { [this.tableName]: pending } }));
      pending = (answer.UnprocessedItems?.[this.tableName] ?? []) as typeof pending;
    }
  }
}
