// ScorerStateStore: the state blob lives in the BlobStore under its tick; a DynamoDB pointer item moves to it
// with a condition on the previous tick, so exactly one execution commits each tick.

import { ConditionalCheckFailedException, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import { emptyScorerState, type ScorerStateSnapshot } from '../../core/cognition/scorer';
import type { CommitOutcome, ScorerStateStore } from '../../core/ports';
import { BlobNotFoundError, type BlobStore } from '../blob/blob-store';
import { decodeScorerState, encodeScorerState } from '../blob/codec';

export class DynamoScorerStateStore implements ScorerStateStore {
  private readonly doc: DynamoDBDocumentClient;

  constructor(
    client: DynamoDBClient,
    private readonly tableName: string,
    private readonly blobs: BlobStore,
    private readonly shard = 'all',
  ) {
    this.doc = DynamoDBDocumentClient.from(client);
  }

  async load(): Promise<ScorerStateSnapshot | undefined> {
    const pointer = await this.doc.send(
      new GetCommand({ TableName: this.tableName, Key: { shard: this.shard }, ConsistentRead: true }),
    );
    if (!pointer.Item) return undefined;
    try {
      return decodeScorerState(await this.blobs.get(pointer.Item.stateKey as string));
    } catch (error) {
      // The bucket expires state objects after a long stall; start the series afresh but keep the pointer's
      // tick, so the next commit still moves the pointer conditionally.
      if (error instanceof BlobNotFoundError) return emptyScorerState(pointer.Item.lastTick as number);
      throw error;
    }
  }

  async commit(state: ScorerStateSnapshot, previousTick: number | undefined): Promise<CommitOutcome> {
    const stateKey = `scorer-state/${this.shard}/${state.lastTick}`;
    await this.blobs.put(stateKey, encodeScorerState(state));
    try {
      await this.doc.send(
        new PutCommand({
          TableName: this.tableName,
          Item: { shard: this.shard, lastTick: state.lastTick, stateKey, series: state.keys.length },
          ...(previousTick === undefined
            ? { ConditionExpression: 'attribute_not_exists(#shard)', ExpressionAttributeNames: { '#shard': 'shard' } }
            : {
                ConditionExpression: 'lastTick = :previous',
                ExpressionAttributeValues: { ':previous': previousTick },
              }),
        }),
      );
      return 'committed';
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return 'superseded';
      throw error;
    }
  }
}
