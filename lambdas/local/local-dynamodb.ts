// The local stand-in for DynamoDB: dynalite (the DynamoDB API over LevelDB) on a loopback port, so the
// agent's real DynamoDB adapters run unchanged in replay and tests.

import type { AddressInfo } from 'node:net';
import {
  type AttributeDefinition,
  CreateTableCommand,
  DynamoDBClient,
  type GlobalSecondaryIndex,
  type KeySchemaElement,
} from '@aws-sdk/client-dynamodb';
import dynalite from 'dynalite';
import { TABLES, type TableDefinition } from '../adapters/dynamodb/table-definitions';

export interface LocalDynamo {
  readonly client: DynamoDBClient;
  readonly endpoint: string;
  /** Table names by role, as the adapters expect them. */
  readonly tables: Record<keyof typeof TABLES, string>;
  close(): Promise<void>;
}

/** Starts an in-memory dynalite and creates the agent's tables (names prefixed to keep runs apart). */
export async function startLocalDynamo(prefix = 'sre-agent-local'): Promise<LocalDynamo> {
  const server = dynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
  // Long replays pause between ticks (baseline learning); keep idle sockets open so the SDK never writes
  // into one the server is closing.
  server.keepAliveTimeout = 10 * 60_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', (error: Error) =>
      reject(
        new LocalDynamoError(
          `cannot start the embedded DynamoDB (dynalite) on 127.0.0.1: ${error.message} (the local runtime needs the loopback interface)`,
        ),
      ),
    );
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const endpoint = `http://127.0.0.1:${port}`;
  const client = new DynamoDBClient({
    endpoint,
    region: 'local',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    maxAttempts: 3,
  });
  const close = async () => {
    client.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };
  const tables = {} as Record<keyof typeof TABLES, string>;
  for (const [role, definition] of Object.entries(TABLES) as [keyof typeof TABLES, TableDefinition][]) {
    tables[role] = `${prefix}-${role}`;
    try {
      await client.send(createTableCommand(tables[role], definition));
    } catch (error) {
      // A server left listening would keep the process alive after the error is printed.
      await close();
      throw new LocalDynamoError(
        `cannot create the local table ${tables[role]} in the embedded DynamoDB: ${(error as Error).message}`,
      );
    }
  }
  return { client, endpoint, tables, close };
}

/** The embedded DynamoDB could not be started or prepared. */
export class LocalDynamoError extends Error {
  override readonly name = 'LocalDynamoError';
}

function createTableCommand(name: string, definition: TableDefinition): CreateTableCommand {
  const attributes = new Map<string, AttributeDefinition>();
  const key = (partition: string, sort?: string, sortType: 'S' | 'N' = 'S'): KeySchemaElement[] => {
    attributes.set(partition, { AttributeName: partition, AttributeType: 'S' });
    if (sort) attributes.set(sort, { AttributeName: sort, AttributeType: sortType });
    return [
      { AttributeName: partition, KeyType: 'HASH' },
      ...(sort ? [{ AttributeName: sort, KeyType: 'RANGE' as const }] : []),
    ];
  };
  const keySchema = key(definition.partitionKey, definition.sortKey, definition.sortKeyType);
  const indexes: GlobalSecondaryIndex[] | undefined = definition.indexes?.map((index) => ({
    IndexName: index.name,
    KeySchema: key(index.partitionKey, index.sortKey),
    Projection: { ProjectionType: 'ALL' },
  }));
  return new CreateTableCommand({
    TableName: name,
    KeySchema: keySchema,
    AttributeDefinitions: [...attributes.values()],
    BillingMode: 'PAY_PER_REQUEST',
    ...(indexes ? { GlobalSecondaryIndexes: indexes } : {}),
  });
}
