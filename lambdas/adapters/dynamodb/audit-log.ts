// AuditLog on DynamoDB: one item per record under (chain, seq). Records are only ever created, with a put that
// fails if the key exists; a writer that loses the race for a seq re-reads the head and seals after it.

import { ConditionalCheckFailedException, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, PutCommand, QueryCommand, ScanCommand } from '@aws-sdk/lib-dynamodb';
import { type AuditEntry, type AuditRecord, canonicalJson, type JsonObject, nextRecord } from '../../core/action/audit';
import type { AuditLog } from '../../core/ports';
import { TABLES } from './table-definitions';

const CHAIN = TABLES.audit.partitionKey;

export interface DynamoAuditLogOptions {
  /**
   * Clock stamping entries that carry no time of their own.
   * @default () => new Date()
   */
  readonly now?: () => Date;
  /**
   * Attempts at taking the next seq before giving up; every lost race means another record landed.
   * @default 10
   */
  readonly maxAttempts?: number;
  /**
   * Upper bound, in ms, of the random pause after the first lost race; it doubles with every further one
   * (capped at 1 s), so writers that collided spread out.
   * @default 10
   */
  readonly backoffMs?: number;
}

/** Every attempt at appending lost the race for the next seq: the chain is too busy, nothing was written. */
export class AuditAppendConflictError extends Error {
  override readonly name = 'AuditAppendConflictError';
  constructor(
    readonly chain: string,
    readonly attempts: number,
    options?: ErrorOptions,
  ) {
    super(`could not append to audit chain "${chain}": ${attempts} attempts lost the race for the next seq`, options);
  }
}

export class DynamoAuditLog implements AuditLog {
  private readonly doc: DynamoDBDocumentClient;
  private readonly now: () => Date;
  private readonly maxAttempts: number;
  private readonly backoffMs: number;

  constructor(
    client: DynamoDBClient,
    private readonly tableName: string,
    options: DynamoAuditLogOptions = {},
  ) {
    this.doc = DynamoDBDocumentClient.from(client);
    this.now = options.now ?? (() => new Date());
    this.maxAttempts = options.maxAttempts ?? 10;
    this.backoffMs = options.backoffMs ?? 10;
  }

  async append(chain: string, entry: AuditEntry): Promise<AuditRecord> {
    const at = entry.at ?? this.now().toISOString();
    let lastConflict: unknown;
    for (let attempt = 1; attempt <= this.maxAttempts; attempt++) {
      if (attempt > 1) await pause(Math.random() * Math.min(1000, this.backoffMs * 2 ** (attempt - 2)));
      const record = nextRecord(await this.head(chain), { ...entry, chain, at });
      try {
        await this.doc.send(
          new PutCommand({
            TableName: this.tableName,
            Item: toItem(record),
            // On the full key: a record, once written, is never overwritten, not even by an identical one.
            ConditionExpression: 'attribute_not_exists(#chain)',
            ExpressionAttributeNames: { '#chain': CHAIN },
          }),
        );
        return record;
      } catch (error) {
        if (!(error instanceof ConditionalCheckFailedException)) throw error;
        lastConflict = error;
      }
    }
    throw new AuditAppendConflictError(chain, this.maxAttempts, { cause: lastConflict });
  }

  async read(chain: string): Promise<AuditRecord[]> {
    const records: AuditRecord[] = [];
    let startKey: Record<string, unknown> | undefined;
    do {
      const page = await this.doc.send(
        new QueryCommand({
          TableName: this.tableName,
          KeyConditionExpression: '#chain = :chain',
          ExpressionAttributeNames: { '#chain': CHAIN },
          ExpressionAttributeValues: { ':chain': chain },
          ConsistentRead: true,
          ExclusiveStartKey: startKey,
        }),
      );
      for (const item of page.Items ?? []) records.push(fromItem(item));
      startKey = page.LastEvaluatedKey;
    } while (startKey);
    return records;
  }

  async chains(): Promise<string[]> {
    // Every item, not only seq 1: a chain whose first record was deleted must still be listed (and fail).
    const chains = new Set<string>();
    let startKey: Record<string, unknown> | undefined;
    do {
      const page = await this.doc.send(
        new ScanCommand({
          TableName: this.tableName,
          ProjectionExpression: '#chain',
          ExpressionAttributeNames: { '#chain': CHAIN },
          ConsistentRead: true,
          ExclusiveStartKey: startKey,
        }),
      );
      for (const item of page.Items ?? []) chains.add(String(item[CHAIN]));
      startKey = page.LastEvaluatedKey;
    } while (startKey);
    return [...chains].sort();
  }

  /** The chain's last record, read consistently so a record written a moment ago is seen. */
  private async head(chain: string): Promise<AuditRecord | undefined> {
    const answer = await this.doc.send(
      new QueryCommand({
        TableName: this.tableName,
        KeyConditionExpression: '#chain = :chain',
        ExpressionAttributeNames: { '#chain': CHAIN },
        ExpressionAttributeValues: { ':chain': chain },
        ScanIndexForward: false,
        Limit: 1,
        ConsistentRead: true,
      }),
    );
    const item = answer.Items?.[0];
    return item ? fromItem(item) : undefined;
  }
}

/**
 * `detail` is stored as its canonical JSON text: numbers, empty values and key order then come back exactly as
 * they were hashed, whatever DynamoDB's own number and map handling does.
 */
function toItem(record: AuditRecord): Record<string, unknown> {
  return { ...record, detail: canonicalJson(record.detail) };
}

/** Reads an item as it is, however it was altered: verifyChain, not the reader, judges it. */
function fromItem(item: Record<string, unknown>): AuditRecord {
  let detail: unknown = item.detail;
  if (typeof detail === 'string') {
    try {
      detail = JSON.parse(detail) as JsonObject;
    } catch {
      // Left as text: verifyChain reports the record as malformed.
    }
  }
  const { chain, seq, at, actor, kind, summary, prevHash, hash } = item;
  return { chain, seq, at, actor, kind, summary, detail, prevHash, hash } as AuditRecord;
}

const pause = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
