// The deploy-events consumer as Lambda runs it, against dynalite: an MSK batch with one malformed record stores
// every good deploy, logs the bad one by topic, partition and offset and still returns normally; a redelivered
// batch stores nothing twice; only a storage failure is thrown back for the mapping to retry.

import { CreateTableCommand, DeleteTableCommand, ScanCommand } from '@aws-sdk/client-dynamodb';
import type { Context, MSKEvent, MSKRecord } from 'aws-lambda';
import { DEPLOY_EVENTS_TABLE } from '../../lambdas/adapters/dynamodb/deploy-event-store';
import type { DeployEventsSummary } from '../../lambdas/handlers/deploy-events';
import { type LocalDynamo, startLocalDynamo } from '../../lambdas/local/local-dynamodb';

const TOPIC = 'deploy-events';
const TABLE = 'deploy-events-handler-test';

let dynamo: LocalDynamo;
let handler: (event: MSKEvent, context: Context) => Promise<DeployEventsSummary>;
let logged: { level: 'error' | 'warn'; message: string; details: Record<string, unknown> }[] = [];

const context = {
  functionName: 'sre-agent-prod-deploy-events',
  functionVersion: '$LATEST',
  invokedFunctionArn: 'arn:aws:lambda:ap-northeast-1:123456789012:function:sre-agent-prod-deploy-events',
  memoryLimitInMB: '512',
  awsRequestId: '3f1c2d4e-5b6a-4c7d-8e9f-0a1b2c3d4e5f',
  logGroupName: '/aws/lambda/sre-agent-prod-deploy-events',
  logStreamName: '2026/11/04/[$LATEST]0f1e2d3c',
  callbackWaitsForEmptyEventLoop: true,
  getRemainingTimeInMillis: () => 30_000,
} as unknown as Context;

const createTable = () =>
  dynamo.client.send(
    new CreateTableCommand({
      TableName: TABLE,
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

const storedKeys = async () =>
  ((await dynamo.client.send(new ScanCommand({ TableName: TABLE }))).Items ?? [])
    .map((item) => `${item.pk.S} ${item.sk.S}`)
    .sort();

beforeAll(async () => {
  dynamo = await startLocalDynamo('deploy-events-handler-test');
  await createTable();
  process.env.DEPLOY_EVENTS_TABLE = TABLE;
  process.env.AWS_ENDPOINT_URL_DYNAMODB = dynamo.endpoint;
  process.env.AWS_ACCESS_KEY_ID = 'local';
  process.env.AWS_SECRET_ACCESS_KEY = 'local';
  // Errors and warnings are captured below; the per-batch summary line would only be noise.
  process.env.POWERTOOLS_LOG_LEVEL = 'WARN';
  const { logger } = await import('../../lambdas/handlers/runtime');
  for (const level of ['error', 'warn'] as const) {
    jest.spyOn(logger, level).mockImplementation((message: unknown, ...rest: unknown[]) => {
      logged.push({ level, message: String(message), details: (rest[0] ?? {}) as Record<string, unknown> });
    });
  }
  ({ handler } = await import('../../lambdas/handlers/deploy-events'));
});

afterAll(async () => {
  jest.restoreAllMocks();
  await dynamo.close();
  delete process.env.AWS_ENDPOINT_URL_DYNAMODB;
  delete process.env.DEPLOY_EVENTS_TABLE;
});

beforeEach(() => {
  logged = [];
});

const bytes = (text: string) => [...Buffer.from(text, 'utf8')];
const b64 = (text: string) => Buffer.from(text, 'utf8').toString('base64');

/** A record as the MSK event source mapping delivers it: base64 key and value, headers as byte arrays. */
function record(partition: number, offset: number, value: string, key = 'order-api'): MSKRecord {
  return {
    topic: TOPIC,
    partition,
    offset,
    timestamp: Date.parse('2026-11-04T03:02:01.250Z') + offset,
    timestampType: 'CREATE_TIME',
    key: b64(key),
    value: b64(value),
    headers: [{ 'content-type': bytes('application/json') }, { producer: bytes('argocd-notifications') }],
  };
}

const deploy = (fields: Record<string, string>) => JSON.stringify(fields);

/** Two partitions, as a batch from a real cluster; partition 0 offset 4812 is not JSON. */
const batch: MSKEvent = {
  eventSource: 'aws:kafka',
  eventSourceArn:
    'arn:aws:kafka:ap-northeast-1:123456789012:cluster/exchange-events/7c1d2a9e-0b3f-4e5d-9a8b-1c2d3e4f5a6b-2',
  bootstrapServers:
    'b-1.exchangeevents.x1y2z3.c2.kafka.ap-northeast-1.amazonaws.com:9098,' +
    'b-2.exchangeevents.x1y2z3.c2.kafka.ap-northeast-1.amazonaws.com:9098',
  records: {
    [`${TOPIC}-0`]: [
      record(
        0,
        4811,
        deploy({
          time: '2026-11-04T03:02:00Z',
          service: 'order-api',
          namespace: 'trading',
          version: 'v2.3.1',
          previousVersion: 'v2.3.0',
          actor: 'argocd',
          source: 'argocd',
        }),
      ),
      record(0, 4812, 'order-api synced to v2.3.2 (sync id 88f1)'),
      record(0, 4813, deploy({ time: '2026-11-04T03:09:30Z', service: 'order-api', version: 'v2.3.2' })),
    ],
    [`${TOPIC}-1`]: [
      record(1, 977, deploy({ time: '2026-11-04T02:58:00+09:00', service: 'market-data', version: 'v5.1.0' }), 'md'),
    ],
  },
};

describe('deploy-events handler', () => {
  it('stores every good deploy, logs the malformed record by its place in the topic, and returns normally', async () => {
    const summary = await handler(batch, context);
    expect(summary).toEqual({ deploys: 3, written: 3, duplicates: 0, collisions: 0, rejected: 1 });
    expect(await storedKeys()).toEqual([
      'deploy#market-data 2026-11-03T17:58:00.000Z#977',
      'deploy#order-api 2026-11-04T03:02:00.000Z#4811',
      'deploy#order-api 2026-11-04T03:09:30.000Z#4813',
    ]);
    expect(logged).toEqual([
      {
        level: 'error',
        message: 'deploy event rejected',
        details: expect.objectContaining({ topic: TOPIC, partition: 0, offset: 4812, field: 'value' }),
      },
    ]);
    expect(String(logged[0].details.problem)).toMatch(/^deploy-events partition 0 offset 4812: value: is not JSON/);
  });

  it('stores nothing twice when the mapping redelivers the batch', async () => {
    const summary = await handler(batch, context);
    expect(summary).toEqual({ deploys: 3, written: 0, duplicates: 3, collisions: 0, rejected: 1 });
    expect(await storedKeys()).toHaveLength(3);
  });

  it('logs a record that lands on a key another record holds, and keeps the first', async () => {
    const twin = record(2, 4811, deploy({ time: '2026-11-04T03:02:00Z', service: 'order-api', version: 'v9.9.9' }));
    const summary = await handler({ ...batch, records: { [`${TOPIC}-2`]: [twin] } }, context);
    expect(summary).toEqual({ deploys: 1, written: 0, duplicates: 0, collisions: 1, rejected: 0 });
    expect(logged).toEqual([
      {
        level: 'warn',
        message: 'deploy event not stored: another record holds its key',
        details: expect.objectContaining({ topic: TOPIC, partition: 2, offset: 4811, service: 'order-api' }),
      },
    ]);
  });

  it('throws when the table cannot be written, so the mapping retries the batch', async () => {
    await dynamo.client.send(new DeleteTableCommand({ TableName: TABLE }));
    try {
      await expect(handler(batch, context)).rejects.toMatchObject({ name: 'ResourceNotFoundException' });
    } finally {
      await createTable();
    }
  });
});
