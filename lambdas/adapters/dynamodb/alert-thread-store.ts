// The Slack threads of alert groups and incidents on DynamoDB: one small item per subject and channel, kept in the
// alert-state table beside the alert manager's state item (`slack-thread#` keys never meet the state's own key), so
// the webhook, the minute check and the incident notices all reply in the thread whichever of them started it.

import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import type { ThreadRef, ThreadStore } from '../notify/slack-threads';
import { ALERT_STATE_TABLE } from './alert-state-store';

/** TTL attribute of the alert-state table: thread items age out, the state item (which has none) never does. */
export const ALERT_STATE_TTL_ATTRIBUTE = 'expiresAt';

/** The key of a subject's thread in a channel; it can never collide with the state item's own key. */
export const threadKey = (subject: string, channelName: string): string => `slack-thread#${subject}#${channelName}`;

export interface DynamoAlertThreadStoreOptions {
  /**
   * Days a thread is remembered after it started. Groups resolve within hours; a group still open after this
   * starts a new thread, which is the lesser harm than keeping every thread forever.
   * @default 30
   */
  readonly retentionDays?: number;
  readonly now?: () => number;
}

export class DynamoAlertThreadStore implements ThreadStore {
  private readonly doc: DynamoDBDocumentClient;
  private readonly retentionDays: number;
  private readonly now: () => number;

  constructor(
    client: DynamoDBClient,
    private readonly tableName: string,
    options: DynamoAlertThreadStoreOptions = {},
  ) {
    this.doc = DynamoDBDocumentClient.from(client);
    this.retentionDays = options.retentionDays ?? 30;
    this.now = options.now ?? Date.now;
  }

  async get(subject: string, channelName: string): Promise<ThreadRef | undefined> {
    const answer = await this.doc.send(
      new GetCommand({
        TableName: this.tableName,
        Key: { [ALERT_STATE_TABLE.partitionKey]: threadKey(subject, channelName) },
        // A reply often follows the post by milliseconds, from another Lambda.
        ConsistentRead: true,
      }),
    );
    const item = answer.Item;
    if (!item || typeof item.channel !== 'string' || typeof item.ts !== 'string') return undefined;
    // DynamoDB deletes expired items up to days late; an expired thread is as good as gone.
    if (typeof item[ALERT_STATE_TTL_ATTRIBUTE] === 'number' && item[ALERT_STATE_TTL_ATTRIBUTE] * 1000 < this.now()) {
      return undefined;
    }
    return { channel: item.channel, ts: item.ts };
  }

  async put(subject: string, channelName: string, thread: ThreadRef, startedBy: string): Promise<void> {
    const now = this.now();
    await this.doc.send(
      new PutCommand({
        TableName: this.tableName,
        Item: {
          [ALERT_STATE_TABLE.partitionKey]: threadKey(subject, channelName),
          subject,
          channelName,
          channel: thread.channel,
          ts: thread.ts,
          startedBy,
          startedAt: new Date(now).toISOString(),
          [ALERT_STATE_TTL_ATTRIBUTE]: Math.floor(now / 1000) + this.retentionDays * 86_400,
        },
      }),
    );
  }
}
