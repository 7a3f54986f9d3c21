// SnapshotStore on DynamoDB: each object snapshot taken before a change is kept beside its incident
// (id `<incident>#snapshot#<snapshotId>`), written once and never overwritten, so the undo step (minutes
// later, in another Lambda container) restores exactly what was there.

import { ConditionalCheckFailedException, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import type { SnapshotStore, TargetSnapshot } from '../../core/action/ports';

const keyOf = (incidentId: string, snapshotId: string) => ({ id: `${incidentId}#snapshot#${snapshotId}` });

export class SnapshotConflictError extends Error {
  override readonly name = 'SnapshotConflictError';
}

export class DynamoSnapshotStore implements SnapshotStore {
  private readonly doc: DynamoDBDocumentClient;

  constructor(
    client: DynamoDBClient,
    private readonly tableName: string,
  ) {
    this.doc = DynamoDBDocumentClient.from(client);
  }

  async put(incidentId: string, snapshot: TargetSnapshot): Promise<void> {
    try {
      await this.doc.send(
        new PutCommand({
          TableName: this.tableName,
          Item: {
            ...keyOf(incidentId, snapshot.snapshotId),
            incidentId,
            takenAt: snapshot.takenAt,
            // Kept as text: a Kubernetes object has keys DynamoDB maps would mangle (empty strings, dots).
            body: JSON.stringify(snapshot),
          },
          ConditionExpression: 'attribute_not_exists(id)',
        }),
      );
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) {
        throw new SnapshotConflictError(`snapshot ${snapshot.snapshotId} of incident ${incidentId} is already stored`);
      }
      throw error;
    }
  }

  async get(incidentId: string, snapshotId: string): Promise<TargetSnapshot | undefined> {
    const answer = await this.doc.send(
      new GetCommand({ TableName: this.tableName, Key: keyOf(incidentId, snapshotId), ConsistentRead: true }),
    );
    return answer.Item ? (JSON.parse(answer.Item.body as string) as TargetSnapshot) : undefined;
  }
}
