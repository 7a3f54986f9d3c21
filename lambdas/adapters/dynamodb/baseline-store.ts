// BaselineStore on DynamoDB: baselines are published in binary chunks under a version, then a pointer
// item swings to it, so a scorer never sees half a publication. Chunks expire by TTL after 30 days.
//
// Items (pk / sk):
//   version#<v> / chunk#000042               a chunk of a whole publication (`publish`, the local runtime)
//   version#<v> / shard#<id>                 a shard's completion marker, written after all its chunks
//   version#<v>#shard#<id> / chunk#000003    a chunk of one shard (`writeShard`, the sharded daily job)
// Each shard writes under its own partition key: one key takes about 1,000 write units a second, and forty
// shards finishing together would otherwise throttle each other on a 100 MB version.

import { ConditionalCheckFailedException, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { BatchWriteCommand, DynamoDBDocumentClient, GetCommand, PutCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import type { SeriesBaseline } from '../../core/cognition/baseline';
import type { BaselinePublisher, BaselineSet, BaselineStore, CompletedShard, PublishOutcome } from '../../core/ports';
import { decodeBaselines, encodeBaselines } from '../blob/codec';

const POINTER = { pk: 'current', sk: 'current' };
/** Items stay well under DynamoDB's 400 KB limit: a 5-minute profile is ~1.3 KB per series before gzip. */
const SERIES_PER_CHUNK = 200;
/**
 * Every chunk expires this long after it was written. Long enough that a daily job failing for weeks (it is
 * alarmed long before) never leaves the scorer without baselines; short enough to bound storage.
 */
const CHUNK_LIFETIME_SECONDS = 30 * 86_400;

const CHUNK = 'chunk#';
const SHARD = 'shard#';
const chunkKey = (index: number): string => `${CHUNK}${String(index).padStart(6, '0')}`;
const versionKey = (version: string): string => `version#${version}`;
const shardKey = (version: string, shardId: string): string => `${versionKey(version)}#${SHARD}${shardId}`;
/** Shards read at once when loading a version. */
const LOAD_CONCURRENCY = 8;

/** Writing would leave a shard part ambiguous: its id must not contain the key separator. */
export class InvalidShardIdError extends Error {
  override readonly name = 'InvalidShardIdError';
}

export class DynamoBaselineStore implements BaselineStore, BaselinePublisher {
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
    const whole: Uint8Array[] = [];
    const shards: { shardId: string; chunks: number }[] = [];
    for await (const item of this.items(versionKey(version))) {
      const sk = item.sk as string;
      if (sk.startsWith(CHUNK)) whole.push(item.body as Uint8Array);
      else if (sk.startsWith(SHARD)) shards.push({ shardId: sk.slice(SHARD.length), chunks: item.chunks as number });
    }
    // Only completed shards count, and only up to the chunk count their marker names: a retried shard that
    // learned fewer series than its first attempt leaves stale chunks behind.
    const ofShard: Uint8Array[][] = shards.map(() => []);
    let next = 0;
    const worker = async () => {
      for (let i = next++; i < shards.length; i = next++) {
        const { shardId, chunks } = shards[i];
        for await (const item of this.items(shardKey(version, shardId))) {
          if (Number((item.sk as string).slice(CHUNK.length)) < chunks) ofShard[i].push(item.body as Uint8Array);
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(LOAD_CONCURRENCY, shards.length) }, worker));
    return { version, baselines: [whole, ...ofShard].flat().flatMap((body) => decodeBaselines(body)) };
  }

  async publish(version: string, baselines: readonly SeriesBaseline[]): Promise<void> {
    await this.writeChunks(versionKey(version), baselines);
    await this.doc.send(
      new PutCommand({ TableName: this.tableName, Item: { ...POINTER, version, publishedAt: Math.floor(this.now()) } }),
    );
  }

  async writeShard(version: string, shardId: string, baselines: readonly SeriesBaseline[]): Promise<void> {
    if (!/^[A-Za-z0-9_.-]+$/.test(shardId)) {
      throw new InvalidShardIdError(`shard id "${shardId}" must be letters, digits, "_", "." or "-"`);
    }
    const chunks = await this.writeChunks(shardKey(version, shardId), baselines);
    await this.doc.send(
      new PutCommand({
        TableName: this.tableName,
        Item: {
          pk: versionKey(version),
          sk: `${SHARD}${shardId}`,
          chunks,
          series: baselines.length,
          writtenAt: Math.floor(this.now()),
          expiresAt: Math.floor(this.now()) + CHUNK_LIFETIME_SECONDS,
        },
      }),
    );
  }

  async completedShards(version: string): Promise<CompletedShard[]> {
    const shards: CompletedShard[] = [];
    for await (const item of this.items(versionKey(version), SHARD)) {
      shards.push({ shardId: (item.sk as string).slice(SHARD.length), series: item.series as number });
    }
    return shards;
  }

  async publishVersion(version: string, trainedUntil: number): Promise<PublishOutcome> {
    try {
      await this.doc.send(
        new PutCommand({
          TableName: this.tableName,
          Item: { ...POINTER, version, trainedUntil, publishedAt: Math.floor(this.now()) },
          // A pointer written by `publish` has no trainedUntil and may always be replaced.
          ConditionExpression: 'attribute_not_exists(trainedUntil) OR trainedUntil <= :trainedUntil',
          ExpressionAttributeValues: { ':trainedUntil': trainedUntil },
        }),
      );
      return 'published';
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return 'superseded';
      throw error;
    }
  }

  /** Every item under partition key `pk` (optionally only sort keys starting with `prefix`), page by page. */
  private async *items(pk: string, prefix?: string): AsyncGenerator<Record<string, unknown>> {
    let startKey: Record<string, unknown> | undefined;
    do {
      const page = await this.doc.send(
        new QueryCommand({
          TableName: this.tableName,
          KeyConditionExpression: prefix ? 'pk = :pk AND begins_with(sk, :prefix)' : 'pk = :pk',
          ExpressionAttributeValues: { ':pk': pk, ...(prefix ? { ':prefix': prefix } : {}) },
          ExclusiveStartKey: startKey,
          ConsistentRead: true,
        }),
      );
      yield* page.Items ?? [];
      startKey = page.LastEvaluatedKey;
    } while (startKey);
  }

  /** Writes `baselines` in chunks under partition key `pk`; returns how many chunks were written. */
  private async writeChunks(pk: string, baselines: readonly SeriesBaseline[]): Promise<number> {
    const expiresAt = Math.floor(this.now()) + CHUNK_LIFETIME_SECONDS;
    const items: Record<string, unknown>[] = [];
    for (let i = 0; i < baselines.length; i += SERIES_PER_CHUNK) {
      items.push({
        pk,
        sk: chunkKey(i / SERIES_PER_CHUNK),
        body: encodeBaselines(baselines.slice(i, i + SERIES_PER_CHUNK)),
        expiresAt,
      });
    }
    for (let i = 0; i < items.length; i += 25) await this.writeBatch(items.slice(i, i + 25));
    return items.length;
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
