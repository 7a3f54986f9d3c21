// DynamoDeployEventStore against dynalite (the real DynamoDB API): decoded Kafka deploys stored once however
// often they are redelivered, and read back per service and time window for diagnosis.

import { CreateTableCommand, DescribeTableCommand, QueryCommand, ScanCommand } from '@aws-sdk/client-dynamodb';
import type { MSKEvent, MSKRecord } from 'aws-lambda';
import {
  DEPLOY_EVENTS_TABLE,
  DynamoDeployEventStore,
  deployPartitionKey,
  deploySortKey,
} from '../../lambdas/adapters/dynamodb/deploy-event-store';
import { decodeDeployEvents, type KafkaDeployEvent } from '../../lambdas/adapters/kafka/deploy-events';
import type { DecideDeps } from '../../lambdas/core/decision/incident-case';
import { type LocalDynamo, startLocalDynamo } from '../../lambdas/local/local-dynamodb';

const TOPIC = 'deploy-events';
let dynamo: LocalDynamo;
let table: string;
let tables = 0;

beforeAll(async () => {
  dynamo = await startLocalDynamo('deploy-store-test');
});
afterAll(async () => {
  await dynamo.close();
});

/** A fresh table per test, made from the exported definition as CDK and the local runtime would. */
beforeEach(async () => {
  table = `deploy-store-test-deploys-${++tables}`;
  await dynamo.client.send(
    new CreateTableCommand({
      TableName: table,
      KeySchema: [
        { AttributeName: DEPLOY_EVENTS_TABLE.partitionKey, KeyType: 'HASH' },
        { AttributeName: DEPLOY_EVENTS_TABLE.sortKey, KeyType: 'RANGE' },
      ],
      AttributeDefinitions: [
        { AttributeName: DEPLOY_EVENTS_TABLE.partitionKey, AttributeType: 'S' },
        { AttributeName: DEPLOY_EVENTS_TABLE.sortKey, AttributeType: 'S' },
      ],
      BillingMode: 'PAY_PER_REQUEST',
    }),
  );
});

const b64 = (value: unknown) => Buffer.from(JSON.stringify(value), 'utf8').toString('base64');
const record = (partition: number, offset: number, value: Record<string, unknown>): MSKRecord => ({
  topic: TOPIC,
  partition,
  offset,
  timestamp: Date.parse(String(value.time)) + 1500,
  timestampType: 'CREATE_TIME',
  key: Buffer.from(String(value.service)).toString('base64'),
  value: b64(value),
  headers: [],
});
const mskEvent = (records: MSKRecord[]): MSKEvent => {
  const byPartition: MSKEvent['records'] = {};
  for (const r of records) {
    const key = `${r.topic}-${r.partition}`;
    byPartition[key] = [...(byPartition[key] ?? []), r];
  }
  return {
    eventSource: 'aws:kafka',
    eventSourceArn: 'arn:aws:kafka:eu-west-1:111122223333:cluster/prod-events/6a3e9f2c',
    bootstrapServers: 'b-1.prodevents.abc123.c3.kafka.eu-west-1.amazonaws.com:9098',
    records: byPartition,
  };
};

const batch = mskEvent([
  record(0, 100, { time: '2026-11-04T02:10:00Z', service: 'order-api', version: 'v2.3.0', previousVersion: 'v2.2.9' }),
  record(0, 101, {
    time: '2026-11-04T03:02:00Z',
    service: 'order-api',
    namespace: 'trading',
    version: 'v2.3.1',
    previousVersion: 'v2.3.0',
    actor: 'argocd',
    source: 'argocd',
  }),
  record(1, 7, { time: '2026-11-04T03:02:00Z', service: 'market-data', version: 'v5.1.0' }),
  record(0, 102, { time: '2026-11-04T04:30:00Z', service: 'order-api', version: 'v2.3.2' }),
]);

describe('DynamoDeployEventStore', () => {
  it('stores decoded deploys under deploy#<service>, keyed by time and offset', async () => {
    const store = new DynamoDeployEventStore(dynamo.client, table);
    const { deploys, errors } = decodeDeployEvents(batch);
    expect(errors).toEqual([]);
    expect(await store.put(deploys)).toEqual({ written: 4, duplicates: 0, collisions: [] });

    const items = (await dynamo.client.send(new ScanCommand({ TableName: table }))).Items ?? [];
    const keys = items.map((i) => `${i.pk.S} ${i.sk.S}`).sort();
    expect(keys).toEqual([
      'deploy#market-data 2026-11-04T03:02:00.000Z#7',
      'deploy#order-api 2026-11-04T02:10:00.000Z#100',
      'deploy#order-api 2026-11-04T03:02:00.000Z#101',
      'deploy#order-api 2026-11-04T04:30:00.000Z#102',
    ]);
    const item = items.find((i) => i.sk.S?.endsWith('#101'))!;
    // Kept for 90 days after the deploy, through DynamoDB's TTL.
    expect(Number(item.expiresAt.N)).toBe(Date.parse('2026-11-04T03:02:00Z') / 1000 + 90 * 86_400);
    expect(deployPartitionKey('order-api')).toBe('deploy#order-api');
    expect(deploySortKey(Date.parse('2026-11-04T03:02:00Z'), 101)).toBe('2026-11-04T03:02:00.000Z#101');
  });

  it('stores a redelivered batch only once', async () => {
    const store = new DynamoDeployEventStore(dynamo.client, table);
    const { deploys } = decodeDeployEvents(batch);
    await store.put(deploys.slice(0, 2));
    // The event source mapping retried the whole batch after a timeout: the first two come again.
    expect(await store.put(deploys)).toEqual({ written: 2, duplicates: 2, collisions: [] });
    expect(await store.put(deploys)).toEqual({ written: 0, duplicates: 4, collisions: [] });
    const count = (await dynamo.client.send(new ScanCommand({ TableName: table, Select: 'COUNT' }))).Count;
    expect(count).toBe(4);
  });

  it('refuses to overwrite another record that lands on the same key', async () => {
    const store = new DynamoDeployEventStore(dynamo.client, table);
    const [first] = decodeDeployEvents(batch).deploys;
    const other: KafkaDeployEvent = { ...first, version: 'v9.9.9', origin: { ...first.origin, partition: 5 } };
    expect(await store.put([first])).toEqual({ written: 1, duplicates: 0, collisions: [] });
    expect(await store.put([other])).toEqual({ written: 0, duplicates: 0, collisions: [other] });
    expect(await store.deploysFor('order-api', 0, Date.parse('2027-01-01T00:00:00Z'))).toEqual([first]);
  });

  it('reads a service’s deploys in a time window, both ends included, oldest first', async () => {
    const store = new DynamoDeployEventStore(dynamo.client, table);
    await store.put(decodeDeployEvents(batch).deploys);
    const window = await store.deploysFor(
      'order-api',
      Date.parse('2026-11-04T02:10:00Z'),
      Date.parse('2026-11-04T03:02:00Z'),
    );
    expect(window).toEqual([
      {
        time: Date.parse('2026-11-04T02:10:00Z'),
        service: 'order-api',
        version: 'v2.3.0',
        previousVersion: 'v2.2.9',
        origin: { topic: TOPIC, partition: 0, offset: 100, timestamp: Date.parse('2026-11-04T02:10:01.500Z') },
      },
      {
        time: Date.parse('2026-11-04T03:02:00Z'),
        service: 'order-api',
        namespace: 'trading',
        version: 'v2.3.1',
        previousVersion: 'v2.3.0',
        actor: 'argocd',
        source: 'argocd',
        origin: { topic: TOPIC, partition: 0, offset: 101, timestamp: Date.parse('2026-11-04T03:02:01.500Z') },
      },
    ]);
    expect(
      await store.deploysFor('order-api', Date.parse('2026-11-04T03:02:00.001Z'), Date.parse('2026-11-04T04:00:00Z')),
    ).toEqual([]);
    expect(await store.deploysFor('wallet-service', 0, Date.now())).toEqual([]);
    expect(await store.deploysFor('order-api', 10, 5)).toEqual([]);

    // It plugs into diagnosis as is.
    const deploysFor: DecideDeps['deploysFor'] = (service, from, to) => store.deploysFor(service, from, to);
    expect((await deploysFor('market-data', 0, Date.parse('2026-11-05T00:00:00Z'))).map((d) => d.version)).toEqual([
      'v5.1.0',
    ]);
  });

  it('pages through a long history', async () => {
    const store = new DynamoDeployEventStore(dynamo.client, table, { concurrency: 4 });
    // ~1.2 KB per item: 1200 items pass the 1 MB page limit of a query.
    const pad = 'x'.repeat(1100);
    const deploys: KafkaDeployEvent[] = Array.from({ length: 1200 }, (_, i) => ({
      time: Date.parse('2026-10-01T00:00:00Z') + i * 60_000,
      service: 'order-api',
      version: `v${i}`,
      actor: pad,
      origin: { topic: TOPIC, partition: 0, offset: i, timestamp: 0 },
    }));
    expect((await store.put(deploys)).written).toBe(1200);
    // One query does not return them all: the store must follow LastEvaluatedKey.
    const firstPage = await dynamo.client.send(
      new QueryCommand({
        TableName: table,
        KeyConditionExpression: 'pk = :pk',
        ExpressionAttributeValues: { ':pk': { S: 'deploy#order-api' } },
      }),
    );
    expect(firstPage.LastEvaluatedKey).toBeDefined();
    expect(firstPage.Count).toBeLessThan(1200);
    const back = await store.deploysFor('order-api', 0, Date.parse('2027-01-01T00:00:00Z'));
    expect(back).toHaveLength(1200);
    expect(back.map((d) => d.version)).toEqual(deploys.map((d) => d.version));
  });

  it('describes the table it needs', async () => {
    expect(DEPLOY_EVENTS_TABLE).toEqual({ partitionKey: 'pk', sortKey: 'sk', timeToLive: 'expiresAt' });
    const described = await dynamo.client.send(new DescribeTableCommand({ TableName: table }));
    expect(described.Table?.KeySchema).toEqual([
      { AttributeName: 'pk', KeyType: 'HASH' },
      { AttributeName: 'sk', KeyType: 'RANGE' },
    ]);
  });
});
