// IncidentStore on DynamoDB: conditional writes make a duplicated or concurrent tick harmless.

import { ConditionalCheckFailedException, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, GetCommand, PutCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import type { Incident } from '../../core/cognition/incident';
import type { IncidentStore, WriteOutcome } from '../../core/ports';

const OPEN = 'open';

export class DynamoIncidentStore implements IncidentStore {
  private readonly doc: DynamoDBDocumentClient;

  constructor(
    client: DynamoDBClient,
    private readonly tableName: string,
  ) {
    this.doc = DynamoDBDocumentClient.from(client, { marshallOptions: { removeUndefinedValues: true } });
  }

  async listOpen(): Promise<Incident[]> {
    const incidents: Incident[] = [];
    let startKey: Record<string, unknown> | undefined;
    do {
      const page = await this.doc.send(
        new QueryCommand({
          TableName: this.tableName,
          IndexName: 'open-incidents',
          KeyConditionExpression: 'openFlag = :open',
          ExpressionAttributeValues: { ':open': OPEN },
          ExclusiveStartKey: startKey,
        }),
      );
      for (const item of page.Items ?? []) incidents.push(fromItem(item));
      startKey = page.LastEvaluatedKey;
    } while (startKey);
    return incidents;
  }

  async get(id: string): Promise<Incident | undefined> {
    const answer = await this.doc.send(
      new GetCommand({ TableName: this.tableName, Key: { id }, ConsistentRead: true }),
    );
    return answer.Item ? fromItem(answer.Item) : undefined;
  }

  async create(incident: Incident): Promise<WriteOutcome> {
    return this.conditionalPut(incident, 'attribute_not_exists(id)', undefined);
  }

  async update(incident: Incident): Promise<WriteOutcome> {
    return this.conditionalPut(incident, 'version = :previous', { ':previous': incident.version - 1 });
  }

  private async conditionalPut(
    incident: Incident,
    condition: string,
    values: Record<string, unknown> | undefined,
  ): Promise<WriteOutcome> {
    try {
      await this.doc.send(
        new PutCommand({
          TableName: this.tableName,
          Item: toItem(incident),
          ConditionExpression: condition,
          ExpressionAttributeValues: values,
        }),
      );
      return 'written';
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return 'conflict';
      throw error;
    }
  }
}

function toItem(incident: Incident): Record<string, unknown> {
  // NaN cannot be stored in DynamoDB; a gap at the peak is stored as absent.
  const signals = incident.signals.map((s) =>
    Object.fromEntries(Object.entries(s).filter(([, v]) => !(typeof v === 'number' && !Number.isFinite(v)))),
  );
  return { ...incident, signals, ...(incident.status === 'open' ? { openFlag: OPEN } : {}) };
}

function fromItem(item: Record<string, unknown>): Incident {
  const { openFlag: _openFlag, ...incident } = item;
  const signals = (incident.signals as Record<string, unknown>[]).map((s) => ({
    valueAtPeak: Number.NaN,
    expectedAtPeak: Number.NaN,
    peakZ: Number.NaN,
    ...s,
  }));
  return { ...incident, signals } as unknown as Incident;
}
