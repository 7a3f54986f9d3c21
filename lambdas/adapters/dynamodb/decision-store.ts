// DecisionStore on DynamoDB: the incident workflow's case, kept beside its incident (id `<incident>#decision`)
// so the report, the ticket and an auditor read what was decided and why in one place.

import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import type { DecisionStore } from '../../core/action/ports';
import type { IncidentCase } from '../../core/decision/incident-case';

const keyOf = (incidentId: string) => ({ id: `${incidentId}#decision` });

export class DynamoDecisionStore implements DecisionStore {
  private readonly doc: DynamoDBDocumentClient;

  constructor(
    client: DynamoDBClient,
    private readonly tableName: string,
  ) {
    this.doc = DynamoDBDocumentClient.from(client);
  }

  async record(c: IncidentCase): Promise<void> {
    // The case is JSON already (it travels through the workflow); kept as text it reads back exactly.
    await this.doc.send(
      new PutCommand({
        TableName: this.tableName,
        Item: {
          ...keyOf(c.incidentId),
          incidentId: c.incidentId,
          outcome: c.outcome ?? 'open',
          body: JSON.stringify(c),
        },
      }),
    );
  }

  async get(incidentId: string): Promise<IncidentCase | undefined> {
    const answer = await this.doc.send(
      new GetCommand({ TableName: this.tableName, Key: keyOf(incidentId), ConsistentRead: true }),
    );
    return answer.Item ? (JSON.parse(answer.Item.body as string) as IncidentCase) : undefined;
  }
}
