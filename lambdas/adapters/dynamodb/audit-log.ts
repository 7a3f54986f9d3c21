// AuditLog on DynamoDB: one item per record under (chain, seq). Records are only ever created, never replaced: with
// a PartiQL INSERT on AWS, or a put that fails if the key exists on the local stand-in. A writer that loses the race
// for a seq re-reads the head and seals after it.

import { ConditionalCheckFailedException, DuplicateItemException, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  DynamoDBDocumentClient,
  ExecuteStatementCommand,
  PutCommand,
  QueryCommand,
  ScanCommand,
} from '@aws-sdk/lib-dynamodb';
import { type AuditEntry, type AuditRecord, canonicalJson, type JsonObject, nextRecord } from '../../core/action/audit';
import type { AuditLog } from '../../core/ports';
import { TABLES } from './table-definitions';

const CHAIN = TABLES.audit.partitionKey;

/**
 * How a record is created. Neither way replaces an existing record, but only the first is append-only by IAM:
 * `dynamodb:PartiQLInsert` cannot overwrite, while `dynamodb:PutItem` allows any put and only the request's own
 * condition keeps it an append.
 * - `'partiql-insert'`: `INSERT INTO "<table>" VALUE {...}` through ExecuteStatement, which DynamoDB refuses with
 *   DuplicateItemException when the key exists. The Lambdas' way: their roles hold PartiQLInsert, not PutItem.
 * - `'conditional-put'`: PutItem with `attribute_not_exists` on the key, refused with ConditionalCheckFailedException.
 *   The local runtime's way: dynalite has no ExecuteStatement. The stack denies PutItem on the audit table, so on
 *   AWS this way fails loudly instead of weakening anything.
 */
export type AuditAppendMode = 'partiql-insert' | 'conditional-put';

export interface DynamoAuditLogOptions {
  /**
   * How records are created (see AuditAppendMode). The default is the one that works on dynalite; a function
   * deployed on AWS must pass `'partiql-insert'` (see `appendModeFor`).
   * @default 'conditional-put'
   */
  readonly append?: AuditAppendMode;
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

/**
 * The append mode of a function running with `env`: `'partiql-insert'`, unless DynamoDB is reached on this
 * machine's loopback interface, where only a local stand-in can listen (dynalite in the integration tests, which
 * has no ExecuteStatement). DynamoDB itself is never on loopback, so a deployed function always inserts.
 */
export function appendModeFor(env: Readonly<Record<string, string | undefined>>): AuditAppendMode {
  const endpoint = env.AWS_ENDPOINT_URL_DYNAMODB ?? env.AWS_ENDPOINT_URL;
  if (!endpoint || !URL.canParse(endpoint)) return 'partiql-insert';
  const host = new URL(endpoint).hostname;
  const loopback = host === 'localhost' || host === '[::1]' || /^127\.\d+\.\d+\.\d+$/.test(host);
  return loopback ? 'conditional-put' : 'partiql-insert';
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

/**
 * An append failed for another reason than a lost race (access denied, throttling, a missing table, the network);
 * `cause` is DynamoDB's error. The message names the table, the chain and the mode, which is what an operator
 * needs to tell a missing grant from a wrong table.
 */
export class AuditAppendError extends Error {
  override readonly name = 'AuditAppendError';
  constructor(
    readonly chain: string,
    readonly table: string,
    readonly mode: AuditAppendMode,
    cause: unknown,
  ) {
    const reason = cause instanceof Error ? `${cause.name}: ${cause.message}` : String(cause);
    super(`could not append to audit chain "${chain}" in table "${table}" (${mode}): ${reason}`, { cause });
  }
}

/**
 * The attributes of an item, in the order the INSERT names them. `satisfies` makes a field added to AuditRecord a
 * compile error here, so the INSERT can never drop one that the put would have kept.
 */
const ATTRIBUTES = Object.keys({
  chain: true,
  seq: true,
  at: true,
  actor: true,
  kind: true,
  summary: true,
  detail: true,
  prevHash: true,
  hash: true,
} satisfies Record<keyof AuditRecord, true>) as (keyof AuditRecord)[];

export class DynamoAuditLog implements AuditLog {
  private readonly doc: DynamoDBDocumentClient;
  private readonly mode: AuditAppendMode;
  private readonly insert: string;
  private readonly now: () => Date;
  private readonly maxAttempts: number;
  private readonly backoffMs: number;

  constructor(
    client: DynamoDBClient,
    private readonly tableName: string,
    options: DynamoAuditLogOptions = {},
  ) {
    this.doc = DynamoDBDocumentClient.from(client);
    this.mode = options.append ?? 'conditional-put';
    // Values travel only as `?` parameters: the statement is the same text for every record.
    const tuple = ATTRIBUTES.map((name) => `${partiqlString(name)}: ?`).join(', ');
    this.insert = `INSERT INTO ${partiqlIdentifier(tableName)} VALUE {${tuple}}`;
    this.now = options.now ?? (() => new Date());
    this.maxAttempts = options.maxAttempts ?? 10;
    this.backoffMs = options.backoffMs ?? 10;
  }

  async append(chain: string, entry: AuditEntry): Promise<AuditRecord> {
    const at = entry.at ?? this.now().toISOString();
    let lastConflict: unknown;
    for (let attempt = 1; attempt <= this.maxAttempts; attempt++) {
      if (attempt > 1) await pause(Math.random() * Math.min(1000, this.backoffMs * 2 ** (attempt - 2)));
      const head = await this.head(chain).catch((error: unknown) => {
        throw new AuditAppendError(chain, this.tableName, this.mode, error);
      });
      const record = nextRecord(head, { ...entry, chain, at });
      try {
        await this.create(record);
        return record;
      } catch (error) {
        if (!this.lostTheRace(error)) throw new AuditAppendError(chain, this.tableName, this.mode, error);
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

  /** Writes `record` under its key if, and only if, nothing is there yet: a record is never overwritten. */
  private async create(record: AuditRecord): Promise<void> {
    const item = toItem(record);
    if (this.mode === 'partiql-insert') {
      await this.doc.send(
        new ExecuteStatementCommand({ Statement: this.insert, Parameters: ATTRIBUTES.map((name) => item[name]) }),
      );
      return;
    }
    await this.doc.send(
      new PutCommand({
        TableName: this.tableName,
        Item: item,
        // On the full key: a record, once written, is never overwritten, not even by an identical one.
        ConditionExpression: 'attribute_not_exists(#chain)',
        ExpressionAttributeNames: { '#chain': CHAIN },
      }),
    );
  }

  /** The key was taken between reading the head and writing: another record landed first. */
  private lostTheRace(error: unknown): boolean {
    return this.mode === 'partiql-insert'
      ? error instanceof DuplicateItemException
      : error instanceof ConditionalCheckFailedException;
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

/** A PartiQL identifier (the table's name): double-quoted, inner double quotes doubled. */
const partiqlIdentifier = (name: string) => `"${name.replaceAll('"', '""')}"`;

/** A PartiQL string (an attribute name in a tuple): single-quoted, inner single quotes doubled. */
const partiqlString = (text: string) => `'${text.replaceAll("'", "''")}'`;

const pause = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
