// ApprovalStore on DynamoDB: a decision, its votes and the requests refused about it share one partition.
// Conditional writes carry the rules: one vote per person, only one request ever moves a decision out of
// `pending`, so only that request tells the workflow, and a verified Slack request is accepted once only.

import { randomInt } from 'node:crypto';
import { ConditionalCheckFailedException, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, GetCommand, PutCommand, QueryCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type {
  ApprovalContext,
  ApprovalStore,
  CreateOutcome,
  Decision,
  DecisionNotes,
  FinalStatus,
  Refusal,
  StoredDecision,
} from '../../core/decision/approval';
import type { Vote } from '../../core/decision/types';

const DECISION_SK = 'decision';
const VOTE_PREFIX = 'vote#';
const REFUSAL_PREFIX = 'refusal#';
/** The context keeps the incident's strongest signals only: the message shows five, items stop at 400 KB. */
const MAX_STORED_SIGNALS = 20;

export const decisionKey = (decisionId: string) => `decision#${decisionId}`;
/** Refusals that name no known decision (forged, stale, malformed requests) go to one partition per day. */
export const refusalDayKey = (at: string) => `refusals#${at.slice(0, 10)}`;
/** The marker of a request already seen, by its fingerprint; DynamoDB's TTL removes it after `purgeAt`. */
export const replayKey = (fingerprint: string) => `replay#${fingerprint}`;
const REPLAY_SK = 'seen';

export interface DynamoApprovalStoreOptions {
  /**
   * Days a refusal is kept before DynamoDB's TTL removes it; decisions and votes are kept.
   * @default 90
   */
  readonly refusalRetentionDays?: number;
}

export class DynamoApprovalStore implements ApprovalStore {
  private readonly doc: DynamoDBDocumentClient;
  private readonly refusalRetentionDays: number;

  constructor(
    client: DynamoDBClient,
    private readonly tableName: string,
    options: DynamoApprovalStoreOptions = {},
  ) {
    this.doc = DynamoDBDocumentClient.from(client, { marshallOptions: { removeUndefinedValues: true } });
    this.refusalRetentionDays = options.refusalRetentionDays ?? 90;
  }

  async createDecision(decision: Decision, context: ApprovalContext): Promise<CreateOutcome> {
    // Channel and message ts are never assigned here, so a retried request keeps the message already posted.
    const { channel: _channel, messageTs: _messageTs, ...fields } = decision;
    const item: Record<string, unknown> = { ...fields, context: JSON.stringify(trimContext(context)) };
    const names: Record<string, string> = { '#status': 'status', '#incident': 'incidentId', '#tier': 'tier' };
    const values: Record<string, unknown> = {
      ':pending': 'pending',
      ':incident': decision.incidentId,
      ':tier': decision.tier,
    };
    const assignments = Object.entries(item).map(([name, value], index) => {
      names[`#f${index}`] = name;
      values[`:v${index}`] = value;
      return `#f${index} = :v${index}`;
    });
    try {
      const answer = await this.doc.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: { pk: decisionKey(decision.decisionId), sk: DECISION_SK },
          UpdateExpression: `SET ${assignments.join(', ')}`,
          // Replacing is allowed only for the same pending decision: a retried invocation with a new token.
          ConditionExpression:
            'attribute_not_exists(pk) OR (#status = :pending AND #incident = :incident AND #tier = :tier)',
          ExpressionAttributeNames: names,
          ExpressionAttributeValues: values,
          ReturnValues: 'ALL_OLD',
        }),
      );
      return answer.Attributes ? { kind: 'replaced', previous: toDecision(answer.Attributes) } : { kind: 'created' };
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
      const existing = await this.getDecision(decision.decisionId);
      if (!existing) throw error;
      return { kind: 'conflict', existing: existing.decision };
    }
  }

  async getDecision(decisionId: string): Promise<StoredDecision | undefined> {
    const answer = await this.doc.send(
      new GetCommand({
        TableName: this.tableName,
        Key: { pk: decisionKey(decisionId), sk: DECISION_SK },
        ConsistentRead: true,
      }),
    );
    if (!answer.Item) return undefined;
    return { decision: toDecision(answer.Item), context: JSON.parse(answer.Item.context as string) as ApprovalContext };
  }

  async attachMessage(decisionId: string, channel: string, messageTs: string): Promise<void> {
    await this.doc.send(
      new UpdateCommand({
        TableName: this.tableName,
        Key: { pk: decisionKey(decisionId), sk: DECISION_SK },
        UpdateExpression: 'SET #channel = :channel, messageTs = :ts',
        ConditionExpression: 'attribute_exists(pk)',
        ExpressionAttributeNames: { '#channel': 'channel' },
        ExpressionAttributeValues: { ':channel': channel, ':ts': messageTs },
      }),
    );
  }

  async recordVote(vote: Vote): Promise<'recorded' | 'duplicate'> {
    try {
      await this.doc.send(
        new PutCommand({
          TableName: this.tableName,
          Item: { pk: decisionKey(vote.decisionId), sk: `${VOTE_PREFIX}${vote.userId}`, ...vote },
          ConditionExpression: 'attribute_not_exists(sk)',
        }),
      );
      return 'recorded';
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return 'duplicate';
      throw error;
    }
  }

  async listVotes(decisionId: string): Promise<Vote[]> {
    const items = await this.queryPrefix(decisionKey(decisionId), VOTE_PREFIX);
    return items
      .map(({ pk: _pk, sk: _sk, ...vote }) => vote as unknown as Vote)
      .sort((a, b) => a.at.localeCompare(b.at));
  }

  async finish(
    decisionId: string,
    status: FinalStatus,
    details: { readonly at: string; readonly by: string; readonly reason?: string },
  ): Promise<'finished' | 'conflict'> {
    const reason = details.reason ? ', closeReason = :reason' : '';
    try {
      await this.doc.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: { pk: decisionKey(decisionId), sk: DECISION_SK },
          UpdateExpression: `SET #status = :to, closedAt = :at, closedBy = :by${reason}`,
          ConditionExpression: '#status = :pending',
          ExpressionAttributeNames: { '#status': 'status' },
          ExpressionAttributeValues: {
            ':to': status,
            ':pending': 'pending',
            ':at': details.at,
            ':by': details.by,
            ...(details.reason ? { ':reason': details.reason } : {}),
          },
        }),
      );
      return 'finished';
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return 'conflict';
      throw error;
    }
  }

  async annotate(decisionId: string, notes: DecisionNotes): Promise<void> {
    const entries = Object.entries(notes).filter(([, value]) => value !== undefined);
    if (entries.length === 0) return;
    await this.doc.send(
      new UpdateCommand({
        TableName: this.tableName,
        Key: { pk: decisionKey(decisionId), sk: DECISION_SK },
        UpdateExpression: `SET ${entries.map(([name]) => `${name} = :${name}`).join(', ')}`,
        ConditionExpression: 'attribute_exists(pk)',
        ExpressionAttributeValues: Object.fromEntries(entries.map(([name, value]) => [`:${name}`, value])),
      }),
    );
  }

  async recordRefusal(refusal: Refusal): Promise<void> {
    const pk = refusal.decisionId ? decisionKey(refusal.decisionId) : refusalDayKey(refusal.at);
    const purgeAt = Math.floor(Date.parse(refusal.at) / 1000) + this.refusalRetentionDays * 86_400;
    // Two refusals in the same millisecond differ by the random counter; a clash is retried with another.
    for (let attempt = 0; ; attempt++) {
      const n = randomInt(0, 1_000_000).toString().padStart(6, '0');
      try {
        await this.doc.send(
          new PutCommand({
            TableName: this.tableName,
            Item: { pk, sk: `${REFUSAL_PREFIX}${refusal.at}#${n}`, ...refusal, purgeAt },
            ConditionExpression: 'attribute_not_exists(sk)',
          }),
        );
        return;
      } catch (error) {
        if (!(error instanceof ConditionalCheckFailedException) || attempt >= 3) throw error;
      }
    }
  }

  async claimRequest(fingerprint: string, keepUntil: Date): Promise<'first' | 'replayed'> {
    try {
      await this.doc.send(
        new PutCommand({
          TableName: this.tableName,
          // A marker past its purgeAt that the TTL has not removed yet still refuses: its request is stale anyway.
          Item: { pk: replayKey(fingerprint), sk: REPLAY_SK, purgeAt: Math.ceil(keepUntil.getTime() / 1000) },
          ConditionExpression: 'attribute_not_exists(pk)',
        }),
      );
      return 'first';
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return 'replayed';
      throw error;
    }
  }

  /** Refusals about one decision, or (`{ day: 'YYYY-MM-DD' }`) those that named none, oldest first. */
  async listRefusals(scope: { readonly decisionId: string } | { readonly day: string }): Promise<Refusal[]> {
    const pk = 'decisionId' in scope ? decisionKey(scope.decisionId) : `refusals#${scope.day}`;
    const items = await this.queryPrefix(pk, REFUSAL_PREFIX);
    return items.map(({ pk: _pk, sk: _sk, purgeAt: _purgeAt, ...refusal }) => refusal as unknown as Refusal);
  }

  private async queryPrefix(pk: string, prefix: string): Promise<Record<string, unknown>[]> {
    const items: Record<string, unknown>[] = [];
    let startKey: Record<string, unknown> | undefined;
    do {
      const page = await this.doc.send(
        new QueryCommand({
          TableName: this.tableName,
          KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
          ExpressionAttributeValues: { ':pk': pk, ':prefix': prefix },
          ConsistentRead: true,
          ExclusiveStartKey: startKey,
        }),
      );
      items.push(...(page.Items ?? []));
      startKey = page.LastEvaluatedKey;
    } while (startKey);
    return items;
  }
}

function toDecision(item: Record<string, unknown>): Decision {
  const { pk: _pk, sk: _sk, context: _context, ...decision } = item;
  return decision as unknown as Decision;
}

/** Keeps the stored context small: the strongest signals only (the message never shows more). */
function trimContext(context: ApprovalContext): ApprovalContext {
  const { incident } = context;
  if (incident.signals.length <= MAX_STORED_SIGNALS) return context;
  const signals = [...incident.signals].sort((a, b) => b.peakScore - a.peakScore).slice(0, MAX_STORED_SIGNALS);
  return { ...context, incident: { ...incident, signals } };
}
