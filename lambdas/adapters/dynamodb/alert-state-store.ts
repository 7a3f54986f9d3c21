// The alert manager's state between webhook deliveries: one DynamoDB item holding the gzip-compressed snapshot and
// a version number. A delivery commits only if nobody has committed since it loaded; otherwise it reloads and
// decides again on the fresh state, so two deliveries racing each other never lose one another's alerts.

import { gunzipSync, gzipSync } from 'node:zlib';
import { ConditionalCheckFailedException, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import type { AlertManagerSnapshot } from '../../core/alerting/alert-manager';
import type { TableDefinition } from './table-definitions';

/** Key schema of the alert-state table, for CDK and for the local DynamoDB of tests. */
export const ALERT_STATE_TABLE = { partitionKey: 'pk' } as const satisfies TableDefinition;

/** The one item: every source feeds the same manager, which is what lets it group across engines. */
export const ALERT_STATE_KEY = 'alert-manager';

/**
 * DynamoDB refuses items over 400 KB; the other attributes need a few bytes. Snapshots hold labels and
 * annotations, which compress about tenfold, so this is thousands of firing alerts.
 */
export const MAX_SNAPSHOT_BYTES = 390 * 1024;

export interface StoredAlertState {
  readonly snapshot: AlertManagerSnapshot;
  /** Starts at 1 with the first commit; each commit adds one. */
  readonly version: number;
}

/** The compressed snapshot would not fit in one item: the state must shrink (fewer firing alerts, shorter windows). */
export class AlertStateTooLargeError extends Error {
  override readonly name = 'AlertStateTooLargeError';
}

/** Every attempt lost its conditional write to another delivery. */
export class AlertStateConflictError extends Error {
  override readonly name = 'AlertStateConflictError';
}

export class DynamoAlertStateStore {
  private readonly doc: DynamoDBDocumentClient;

  constructor(
    client: DynamoDBClient,
    private readonly tableName: string,
    private readonly key = ALERT_STATE_KEY,
  ) {
    this.doc = DynamoDBDocumentClient.from(client);
  }

  /** The last committed state (strongly consistent), or undefined before the first commit. */
  async load(): Promise<StoredAlertState | undefined> {
    const answer = await this.doc.send(
      new GetCommand({ TableName: this.tableName, Key: { pk: this.key }, ConsistentRead: true }),
    );
    const item = answer.Item;
    if (!item) return undefined;
    const compressed = item.snapshot as Uint8Array;
    const snapshot = JSON.parse(gunzipSync(compressed).toString('utf8')) as AlertManagerSnapshot;
    return { snapshot, version: item.version as number };
  }

  /**
   * Commits `snapshot` as the version after `loadedVersion` (undefined: nothing was stored when it loaded).
   * 'conflict' when another delivery committed first.
   */
  async save(snapshot: AlertManagerSnapshot, loadedVersion: number | undefined): Promise<'saved' | 'conflict'> {
    const compressed = gzipSync(Buffer.from(JSON.stringify(snapshot), 'utf8'));
    if (compressed.length > MAX_SNAPSHOT_BYTES) {
      throw new AlertStateTooLargeError(
        `alert state is ${compressed.length} bytes compressed (${snapshot.alerts.length} alerts, ${snapshot.groups.length} groups); one item holds at most ${MAX_SNAPSHOT_BYTES}`,
      );
    }
    try {
      await this.doc.send(
        new PutCommand({
          TableName: this.tableName,
          Item: {
            pk: this.key,
            version: (loadedVersion ?? 0) + 1,
            snapshot: compressed,
            snapshotBytes: compressed.length,
            updatedAt: new Date().toISOString(),
          },
          ...(loadedVersion === undefined
            ? { ConditionExpression: 'attribute_not_exists(pk)' }
            : {
                ConditionExpression: '#version = :loaded',
                ExpressionAttributeNames: { '#version': 'version' },
                ExpressionAttributeValues: { ':loaded': loadedVersion },
              }),
        }),
      );
      return 'saved';
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return 'conflict';
      throw error;
    }
  }
}

export interface AlertStateUpdateOptions {
  /**
   * Loads and decisions tried before giving up. Each lost race means another delivery committed, so this many
   * deliveries arriving at once all get through.
   * @default 8
   */
  readonly attempts?: number;
  /** Pause before a retry; jittered so racing deliveries spread out. @default 10-50 ms times the attempt */
  readonly backoffMs?: (attempt: number) => number;
  readonly sleep?: (ms: number) => Promise<void>;
}

export interface AlertStateUpdate<T> {
  readonly result: T;
  /** The version committed. */
  readonly version: number;
  /** Attempts lost to other deliveries before this one committed. */
  readonly conflicts: number;
}

/**
 * Load, decide, commit; on a lost race, load the other delivery's state and decide again. `decide` must be pure
 * with respect to the state it is given (it runs once per attempt), and only the committed attempt's result is
 * returned, so what the caller reports is what was stored.
 */
export async function updateAlertState<T>(
  store: Pick<DynamoAlertStateStore, 'load' | 'save'>,
  decide: (current: AlertManagerSnapshot | undefined) => {
    readonly snapshot: AlertManagerSnapshot;
    readonly result: T;
  },
  options: AlertStateUpdateOptions = {},
): Promise<AlertStateUpdate<T>> {
  const attempts = options.attempts ?? 8;
  const backoff = options.backoffMs ?? ((attempt: number) => attempt * (10 + Math.random() * 40));
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  for (let attempt = 1; attempt <= attempts; attempt++) {
    const stored = await store.load();
    const { snapshot, result } = decide(stored?.snapshot);
    if ((await store.save(snapshot, stored?.version)) === 'saved') {
      return { result, version: (stored?.version ?? 0) + 1, conflicts: attempt - 1 };
    }
    if (attempt < attempts) await sleep(backoff(attempt));
  }
  throw new AlertStateConflictError(`alert state changed under every one of ${attempts} attempts`);
}
