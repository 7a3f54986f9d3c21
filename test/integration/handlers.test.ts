// The Lambda handlers as Lambda runs them: bundled config from the build-time variable, DynamoDB through
// dynalite (AWS_ENDPOINT_URL_DYNAMODB), S3 through aws-sdk-client-mock, Prometheus on a loopback server.

import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { GetObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import type { Context } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { loadEnvironmentConfig } from '../../lambdas/adapters/config-files';
import type { CollectSummary, ScoreSummary } from '../../lambdas/core/pipeline';
import { type LocalDynamo, startLocalDynamo } from '../../lambdas/local/local-dynamodb';

const s3Mock = mockClient(S3Client);
const objects = new Map<string, Uint8Array>();
let dynamo: LocalDynamo;
let prometheus: Server;
let errorRatio = 0.002;
const queries: string[] = [];

const context = {
  functionName: 'sre-agent-dev-collect-metrics',
  functionVersion: '$LATEST',
  invokedFunctionArn: 'arn:aws:lambda:ap-northeast-1:123456789012:function:sre-agent-dev-collect-metrics',
  memoryLimitInMB: '512',
  awsRequestId: 'c6af9ac6-7b61-11e6-9a41-93e812345678',
  logGroupName: '/aws/lambda/sre-agent-dev-collect-metrics',
  logStreamName: '2026/11/04/[$LATEST]abc',
  callbackWaitsForEmptyEventLoop: true,
  getRemainingTimeInMillis: () => 30_000,
} as unknown as Context;

beforeAll(async () => {
  dynamo = await startLocalDynamo('handlers-test');
  prometheus = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk) => {
      body += chunk;
    });
    req.on('end', () => {
      const query = new URLSearchParams(body).get('query') ?? '';
      queries.push(query);
      const result = query.includes('http_errors')
        ? [
            { metric: { service: 'order-api', namespace: 'trading' }, value: [0, String(errorRatio)] },
            { metric: { service: 'api-gateway', namespace: 'edge' }, value: [0, '0.002'] },
          ]
        : [];
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ status: 'success', data: { resultType: 'vector', result } }));
    });
  });
  await new Promise<void>((resolve) => prometheus.listen(0, '127.0.0.1', () => resolve()));
  const { port } = prometheus.address() as AddressInfo;

  const { config, catalog, playbooks } = loadEnvironmentConfig('dev');
  const bundled = {
    config: { ...config, metricSource: { ...config.metricSource, url: `http://127.0.0.1:${port}` } },
    catalog,
    playbooks,
  };
  process.env.SRE_AGENT_BUNDLED_CONFIG = JSON.stringify(bundled);
  process.env.WORK_BUCKET = 'sre-agent-dev-work';
  process.env.INCIDENTS_TABLE = dynamo.tables.incidents;
  process.env.BASELINES_TABLE = dynamo.tables.baselines;
  process.env.SCORER_STATE_TABLE = dynamo.tables.scorerState;
  process.env.AWS_ENDPOINT_URL_DYNAMODB = dynamo.endpoint;
  process.env.AWS_ACCESS_KEY_ID = 'local';
  process.env.AWS_SECRET_ACCESS_KEY = 'local';
  process.env.POWERTOOLS_LOG_LEVEL = 'ERROR';

  s3Mock.on(PutObjectCommand).callsFake(async (input: { Key: string; Body: Uint8Array }) => {
    objects.set(input.Key, input.Body);
    return {};
  });
  s3Mock.on(GetObjectCommand).callsFake(async (input: { Key: string }) => {
    const body = objects.get(input.Key);
    return { Body: { transformToByteArray: async () => body } };
  });
});

afterAll(async () => {
  prometheus.close();
  await dynamo.close();
  delete process.env.AWS_ENDPOINT_URL_DYNAMODB;
});

describe('collect-metrics and score-tick handlers', () => {
  it('collect every catalog signal, hand the points over through S3, and open an incident after persistence', async () => {
    const collect = (await import('../../lambdas/handlers/collect-metrics')).handler;
    const score = (await import('../../lambdas/handlers/score-tick')).handler;
    const tick = async (minute: number): Promise<ScoreSummary> => {
      const tickTime = `2026-11-04T03:${String(minute).padStart(2, '0')}:00Z`;
      const summary = (await collect({ tickTime, eventId: `e-${minute}` }, context)) as CollectSummary;
      return (await score({ tickTime, collected: [{ source: 'metrics', summary }] }, context)) as ScoreSummary;
    };

    for (let minute = 0; minute < 35; minute++) await tick(minute); // warm-up: no baselines learned yet
    expect(queries).toContain('max by (service, namespace) (service:http_errors:ratio_rate1m)');
    expect([...objects.keys()].some((k) => k.startsWith('ticks/2026-11-04/2026-11-04T03:00:00.000Z/metrics'))).toBe(
      true,
    );

    errorRatio = 0.2; // above the 5 % hard limit as well
    const summaries = [await tick(35), await tick(36), await tick(37)];
    expect(summaries.map((s) => s.raised)).toEqual([0, 0, 1]);
    expect(summaries[2].opened).toEqual(['inc-20261104T0337-order-api']);

    const duplicate = await tick(37);
    expect(duplicate).toMatchObject({ duplicate: true, opened: [] });
  });

  it('rejects a tick without a valid time with a named error (Step Functions catches it by name)', async () => {
    const collect = (await import('../../lambdas/handlers/collect-metrics')).handler;
    await expect(collect({ tickTime: 'yesterday' }, context)).rejects.toMatchObject({
      name: 'TickInputError',
      message: 'tickTime must be an ISO 8601 time, got "yesterday"',
    });
  });
});
