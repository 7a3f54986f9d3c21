// ActionLedger on DynamoDB: the operations on one resource within the window live in one item, replaced
// with an optimistic lock, so concurrent executions can never exceed the limit between them.

import { ConditionalCheckFailedException, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import type { ActionLedger, Reservation } from '../../core/action/ports';

const MAX_ATTEMPTS = 8;

export class DynamoActionLedger implements ActionLedger {
  private readonly doc: DynamoDBDocumentClient;

  constructor(
    client: DynamoDBClient,
    private readonly tableName: string,
  ) {
    this.doc = DynamoDBDocumentClient.from(client);
  }

  async reserve(resource: string, nowMs: number, max: number, windowMs: number): Promise<Reservation> {
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const current = await this.doc.send(
        new GetCommand({ TableName: this.tableName, Key: { resource }, ConsistentRead: true }),
      );
      const version = (current.Item?.version as number | undefined) ?? 0;
      const recent = ((current.Item?.operations as number[] | undefined) ?? []).filter((t) => t > nowMs - windowMs);
      if (recent.length >= max) return 'limit-reached';
      try {
        await this.doc.send(
          new PutCommand({
            TableName: this.tableName,
            Item: {
              resource,
              operations: [...recent, nowMs],
              version: version + 1,
              expiresAt: Math.ceil((nowMs + windowMs) / 1000) + 86_400,
            },
            ...(version === 0
              ? {
                  ConditionExpression: 'attribute_not_exists(#resource)',
                  ExpressionAttributeNames: { '#resource': 'resource' },
                }
              : { ConditionExpression: 'version = :version', ExpressionAttributeValues: { ':version': version } }),
          }),
        );
        return 'reserved';
      } catch (error) {
        if (!(error instanceof ConditionalCheckFailedException)) throw error;
        // Someone else reserved first: re-read and count again.
      }
    }
    throw new Error(`action ledger: could not reserve ${resource} after ${MAX_ATTEMPTS} contended attempts`);
  }
}
