// The alert webhook as Lambda runs it behind API Gateway: module-scope wiring from the bundled config, the alert
// state in DynamoDB through dynalite, the engines' secrets through aws-sdk-client-mock. Covers refusals (401, 413,
// 400, 404), good Alertmanager and Nightingale deliveries, duplicates, racing deliveries and the EMF metrics.

import { randomBytes } from 'node:crypto';
import { CreateTableCommand } from '@aws-sdk/client-dynamodb';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { Context } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { loadEnvironmentConfig } from '../../lambdas/adapters/config-files';
import {
  ALERT_STATE_TABLE,
  AlertStateTooLargeError,
  DynamoAlertStateStore,
  updateAlertState,
} from '../../lambdas/adapters/dynamodb/alert-state-store';
import { webhookSignature } from '../../lambdas/adapters/http/webhook-auth';
import type { AlertManagerSnapshot } from '../../lambdas/core/alerting/alert-manager';
import type { WebhookEvent, WebhookResult, WebhookSummary } from '../../lambdas/handlers/alert-webhook';
import { type LocalDynamo, startLocalDynamo } from '../../lambdas/local/local-dynamodb';

const TOKEN_SECRET = 'arn:aws:secretsmanager:ap-northeast-1:123456789012:secret:AlertmanagerToken-AbCdEf';
const N9E_SECRET = 'arn:aws:secretsmanager:ap-northeast-1:123456789012:secret:NightingaleSigningKey-GhIjKl';
const TOKEN = 'k2Jd9vQp4XzR7tLm1sWc8nBy3hGf6aEu0iOoPlUyTxRe5WqZ';
const N9E_KEY = 'n9e-key-7d0a2f94a55b0c1d2e3f4a5b6c7e4b1c';

const secrets = mockClient(SecretsManagerClient);
let dynamo: LocalDynamo;
let tableName: string;
let store: DynamoAlertStateStore;
let handler: (event: WebhookEvent, context: Context) => Promise<WebhookResult>;
let stdout: string[] = [];

const context = {
  functionName: 'sre-agent-dev-alert-webhook',
  functionVersion: '$LATEST',
  invokedFunctionArn: 'arn:aws:lambda:ap-northeast-1:123456789012:function:sre-agent-dev-alert-webhook',
  memoryLimitInMB: '1024',
  awsRequestId: 'c6af9ac6-7b61-11e6-9a41-93e812345678',
  logGroupName: '/aws/lambda/sre-agent-dev-alert-webhook',
  logStreamName: '2026/11/04/[$LATEST]abc',
  callbackWaitsForEmptyEventLoop: true,
  getRemainingTimeInMillis: () => 15_000,
} as unknown as Context;

beforeAll(async () => {
  dynamo = await startLocalDynamo('alert-webhook-test');
  tableName = 'alert-webhook-test-alertState';
  await dynamo.client.send(
    new CreateTableCommand({
      TableName: tableName,
      KeySchema: [{ AttributeName: ALERT_STATE_TABLE.partitionKey, KeyType: 'HASH' }],
      AttributeDefinitions: [{ AttributeName: ALERT_STATE_TABLE.partitionKey, AttributeType: 'S' }],
      BillingMode: 'PAY_PER_REQUEST',
    }),
  );
  store = new DynamoAlertStateStore(dynamo.client, tableName);

  const { config, catalog, playbooks } = loadEnvironmentConfig('dev');
  process.env.SRE_AGENT_BUNDLED_CONFIG = JSON.stringify({ config, catalog, playbooks });
  process.env.ALERT_STATE_TABLE = tableName;
  process.env.ALERTMANAGER_TOKEN_SECRET = TOKEN_SECRET;
  process.env.N9E_SIGNING_SECRET = N9E_SECRET;
  process.env.AWS_ENDPOINT_URL_DYNAMODB = dynamo.endpoint;
  process.env.AWS_ACCESS_KEY_ID = 'local';
  process.env.AWS_SECRET_ACCESS_KEY = 'local';
  process.env.POWERTOOLS_LOG_LEVEL = 'ERROR';

  secrets.on(GetSecretValueCommand, { SecretId: TOKEN_SECRET }).resolves({ SecretString: TOKEN });
  // A console-made key/value secret: JSON with the key under "secret".
  secrets.on(GetSecretValueCommand, { SecretId: N9E_SECRET }).resolves({
    SecretString: JSON.stringify({ secret: N9E_KEY }),
  });
  handler = (await import('../../lambdas/handlers/alert-webhook')).handler as typeof handler;
});

afterAll(async () => {
  await dynamo.close();
  delete process.env.AWS_ENDPOINT_URL_DYNAMODB;
});

beforeEach(() => {
  stdout = [];
  // Powertools Metrics writes EMF lines straight to stdout; keep them for the metrics assertions.
  jest.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    stdout.push(typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8'));
    return true;
  });
});

afterEach(() => jest.restoreAllMocks());

// ---------------------------------------------------------------------------------------------------------
// Requests as API Gateway (HTTP API, payload 2.0) hands them over

function post(path: string, body: string, headers: Record<string, string> = {}): Promise<WebhookResult> {
  return handler(
    {
      rawPath: path,
      body,
      isBase64Encoded: false,
      headers: { 'content-type': 'application/json', ...headers },
      requestContext: { http: { path, sourceIp: '198.51.100.7' } },
    },
    context,
  );
}

const postAlertmanager = (body: unknown, token = TOKEN) =>
  post('/alerts/alertmanager', typeof body === 'string' ? body : JSON.stringify(body), {
    authorization: `Bearer ${token}`,
  });

function postNightingale(body: unknown, options: { key?: string; timestamp?: number } = {}): Promise<WebhookResult> {
  const text = JSON.stringify(body);
  const timestamp = String(options.timestamp ?? Math.floor(Date.now() / 1000));
  return post('/alerts/n9e', text, {
    'x-sre-agent-timestamp': timestamp,
    'x-sre-agent-signature': webhookSignature(options.key ?? N9E_KEY, timestamp, text),
  });
}

const json = <T>(result: WebhookResult): T => JSON.parse(result.body) as T;

const minutesAgo = (minutes: number) => new Date(Date.now() - minutes * 60_000).toISOString();

function alertmanagerBody(alerts: { name: string; service: string; severity?: string; status?: string }[]) {
  return {
    version: '4',
    groupKey: '{}:{alertname="HighErrorRate"}',
    truncatedAlerts: 0,
    status: 'firing',
    receiver: 'sre-agent',
    groupLabels: { alertname: 'HighErrorRate' },
    commonLabels: {},
    commonAnnotations: {},
    externalURL: 'http://alertmanager.monitoring:9093',
    alerts: alerts.map((alert) => ({
      status: alert.status ?? 'firing',
      labels: {
        alertname: alert.name,
        service: alert.service,
        severity: alert.severity ?? 'critical',
        prometheus_replica: 'prometheus-0',
      },
      annotations: { summary: `${alert.name} on ${alert.service}` },
      startsAt: minutesAgo(2),
      endsAt: '0001-01-01T00:00:00Z',
      generatorURL: 'http://prometheus.monitoring:9090/graph',
    })),
  };
}

/** The EMF records written since the test began. */
function emf(): Record<string, unknown>[] {
  return stdout
    .join('')
    .split('\n')
    .filter((line) => line.includes('"_aws"'))
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

const metricTotal = (name: string): number =>
  emf().reduce((total, record) => total + (typeof record[name] === 'number' ? (record[name] as number) : 0), 0);

// ---------------------------------------------------------------------------------------------------------

describe('refusals', () => {
  it('401 for a forged or missing Alertmanager token, with a Bearer challenge and nothing stored', async () => {
    const body = alertmanagerBody([{ name: 'HighErrorRate', service: 'order-api' }]);
    const forged = await postAlertmanager(body, `${TOKEN.slice(0, -1)}x`);
    expect(forged.statusCode).toBe(401);
    expect(forged.headers['www-authenticate']).toBe('Bearer');
    expect(json(forged)).toEqual({ error: 'unauthorized', message: 'not authenticated' });
    const missing = await post('/alerts/alertmanager', JSON.stringify(body));
    expect(missing.statusCode).toBe(401);
    expect(await store.load()).toBeUndefined();
    expect(metricTotal('AlertWebhooksRefused')).toBe(2);
  });

  it('401 for a Nightingale delivery signed with another key, or signed too long ago', async () => {
    const event = { hash: 'h-forged', rule_name: 'HighErrorRate', severity: 1, is_recovered: false, trigger_time: 1 };
    expect((await postNightingale([event], { key: 'not-the-key' })).statusCode).toBe(401);
    const tenMinutesAgo = Math.floor(Date.now() / 1000) - 600;
    expect((await postNightingale([event], { timestamp: tenMinutesAgo })).statusCode).toBe(401);
    // A body signed correctly but then altered in transit.
    const timestamp = String(Math.floor(Date.now() / 1000));
    const signature = webhookSignature(N9E_KEY, timestamp, JSON.stringify([event]));
    const altered = await post('/alerts/n9e', JSON.stringify([{ ...event, severity: 3 }]), {
      'x-sre-agent-timestamp': timestamp,
      'x-sre-agent-signature': signature,
    });
    expect(altered.statusCode).toBe(401);
    expect(await store.load()).toBeUndefined();
  });

  it('413 for a body over 1 MB, before anything else is looked at', async () => {
    const padding = 'x'.repeat(1024 * 1024);
    const body = JSON.stringify({ ...alertmanagerBody([]), padding });
    const result = await postAlertmanager(body);
    expect(result.statusCode).toBe(413);
    expect(json<{ error: string }>(result).error).toBe('body-too-large');
    // Exactly at the limit is not refused for its size (it fails on its content instead).
    const atLimit = await postAlertmanager('x'.repeat(1024 * 1024));
    expect(atLimit.statusCode).toBe(400);
  });

  it('400 for a body that is not JSON', async () => {
    const result = await postAlertmanager('{"version": "4", "alerts": [');
    expect(result.statusCode).toBe(400);
    const answer = json<{ error: string; message: string }>(result);
    expect(answer.error).toBe('malformed-json');
    expect(answer.message).toMatch(/^the body is not JSON: /);
  });

  it('400 naming the field for a body that is JSON but not the webhook', async () => {
    const body = alertmanagerBody([{ name: 'HighErrorRate', service: 'order-api' }]);
    const broken = {
      ...body,
      version: '3',
      alerts: [{ ...body.alerts[0], labels: { service: 'order-api' }, startsAt: 'yesterday' }],
    };
    const result = await postAlertmanager(broken);
    expect(result.statusCode).toBe(400);
    const answer = json<{ error: string; message: string; problems: string[] }>(result);
    expect(answer.error).toBe('invalid-webhook');
    expect(answer.problems).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^version: must be "4"/),
        'alerts[0].labels.alertname: required',
        expect.stringMatching(/^alerts\[0\]\.startsAt: must be an RFC 3339 time/),
      ]),
    );
    expect(answer.message).toContain('alerts[0].labels.alertname: required');
  });

  it('400 pointing at the right path when a Nightingale body is posted to the Alertmanager route', async () => {
    const event = { hash: 'h1', rule_name: 'HighErrorRate', severity: 1, is_recovered: false, trigger_time: 1 };
    const result = await postAlertmanager([event]);
    expect(result.statusCode).toBe(400);
    expect(json<{ problems: string[] }>(result).problems[0]).toBe(
      '(top level): this is a Nightingale body; post it to /alerts/n9e',
    );
  });

  it('404 for any other path', async () => {
    const result = await post('/alerts/zabbix', '{}', { authorization: `Bearer ${TOKEN}` });
    expect(result.statusCode).toBe(404);
    expect(json<{ error: string }>(result).error).toBe('unknown-source');
    expect((await post('/alerts/alertmanager/extra', '{}')).statusCode).toBe(404);
    // A named stage prefixes the path: the route is still recognised (and here refused for its missing token).
    expect((await post('/prod/alerts/alertmanager', '{}')).statusCode).toBe(401);
  });
});

describe('deliveries', () => {
  it('a good Alertmanager delivery: 200 with the decisions, the state persisted, metrics written', async () => {
    const body = alertmanagerBody([
      { name: 'HighErrorRate', service: 'order-api' },
      // api-gateway calls order-api: a symptom of the group that is already paging.
      { name: 'HighLatency', service: 'api-gateway' },
    ]);
    const result = await postAlertmanager(body);
    expect(result.statusCode).toBe(200);
    expect(result.headers['content-type']).toBe('application/json');
    const summary = json<WebhookSummary>(result);
    expect(summary).toMatchObject({ source: 'alertmanager', received: 2, notified: 1, suppressed: 1, stateVersion: 1 });
    expect(summary.decisions.map((d) => [d.name, d.action, d.reason])).toEqual([
      ['HighErrorRate', 'notify', undefined],
      ['HighLatency', 'suppress', 'inhibited'],
    ]);
    expect(summary.notifications).toHaveLength(1);
    const [notification] = summary.notifications;
    expect(notification).toMatchObject({ kind: 'open', rootService: 'order-api', severity: 'critical' });
    expect(notification.delivery.slack.mode).toBe('post');
    expect(summary.decisions[0].notification).toBe(notification.id);

    const stored = await store.load();
    expect(stored?.version).toBe(1);
    const snapshot = stored?.snapshot as AlertManagerSnapshot;
    expect(snapshot.alerts.map(([fingerprint]) => fingerprint).sort()).toEqual(
      summary.decisions.map((d) => d.fingerprint).sort(),
    );
    expect(snapshot.counters.raw).toBe(2);
    expect(snapshot.groups).toHaveLength(1);

    const records = emf();
    expect(records.length).toBeGreaterThan(0);
    for (const record of records) {
      expect(record._aws).toMatchObject({
        CloudWatchMetrics: [{ Namespace: 'SreAgent', Dimensions: [['environment']] }],
      });
      expect(record.environment).toBe('dev');
      expect(record.service).toBeUndefined();
    }
    expect(metricTotal('AlertsReceived')).toBe(2);
    expect(metricTotal('AlertNotifications')).toBe(1);
    expect(metricTotal('AlertsSuppressed')).toBe(1);
  });

  it('the same delivery again (an HA twin, a retry): every alert suppressed as a duplicate, nothing notified', async () => {
    const body = alertmanagerBody([
      { name: 'HighErrorRate', service: 'order-api' },
      { name: 'HighLatency', service: 'api-gateway' },
    ]);
    // The other Prometheus replica: only the replica label differs, which the fingerprint leaves out.
    for (const alert of body.alerts) alert.labels.prometheus_replica = 'prometheus-1';
    const summary = json<WebhookSummary>(await postAlertmanager(body));
    expect(summary.notified).toBe(0);
    expect(summary.notifications).toEqual([]);
    expect(summary.decisions.map((d) => [d.action, d.reason])).toEqual([
      ['suppress', 'duplicate'],
      ['suppress', 'duplicate'],
    ]);
    expect(summary.suppressedBy).toEqual({ duplicate: 2 });
    const stored = await store.load();
    expect(stored?.version).toBe(2);
    expect(stored?.snapshot.counters.raw).toBe(4);
    expect(stored?.snapshot.counters.suppressed.duplicate).toBe(2);
  });

  it('a signed Nightingale delivery joins the same manager', async () => {
    const now = Math.floor(Date.now() / 1000);
    const event = {
      hash: 'n9e-mysql-conn',
      rule_id: 7,
      rule_name: 'MySQLConnectionsHigh',
      severity: 2,
      is_recovered: false,
      trigger_time: now - 60,
      tags: ['service=mysql-main', 'cluster=prod-1'],
    };
    const result = await postNightingale([event]);
    expect(result.statusCode).toBe(200);
    const summary = json<WebhookSummary>(result);
    expect(summary).toMatchObject({ source: 'nightingale', received: 1, stateVersion: 3 });
    expect(summary.decisions[0]).toMatchObject({ fingerprint: 'n9e:n9e-mysql-conn', name: 'MySQLConnectionsHigh' });
    const stored = await store.load();
    expect(stored?.snapshot.alerts.map(([fingerprint]) => fingerprint)).toContain('n9e:n9e-mysql-conn');
  });

  it('an empty delivery is answered 200 and stores nothing', async () => {
    const before = await store.load();
    const summary = json<WebhookSummary>(await postAlertmanager(alertmanagerBody([])));
    expect(summary).toMatchObject({ received: 0, notified: 0, decisions: [], notifications: [] });
    expect((await store.load())?.version).toBe(before?.version);
  });

  it('deliveries racing each other all commit, and none loses the alerts of another', async () => {
    const before = (await store.load())?.snapshot.counters.raw ?? 0;
    const services = ['market-data', 'redis-cache', 'wallet-service', 'matching-engine', 'mysql-main'];
    const results = await Promise.all(
      services.map((service, index) =>
        postAlertmanager(alertmanagerBody([{ name: `RaceAlert${index}`, service, severity: 'warning' }])),
      ),
    );
    expect(results.map((r) => r.statusCode)).toEqual(services.map(() => 200));
    const stored = await store.load();
    const fingerprints = new Set(stored?.snapshot.alerts.map(([fingerprint]) => fingerprint));
    for (const result of results) {
      for (const decision of json<WebhookSummary>(result).decisions)
        expect(fingerprints).toContain(decision.fingerprint);
    }
    expect(stored?.snapshot.counters.raw).toBe(before + services.length);
    // Each committed exactly one version on top of the others.
    const versions = results.map((r) => json<WebhookSummary>(r).stateVersion).sort((a, b) => Number(a) - Number(b));
    expect(new Set(versions).size).toBe(services.length);
    // They did race: at least one lost its conditional write, reloaded and decided again.
    expect(metricTotal('AlertStateConflicts')).toBeGreaterThan(0);
  });
});

describe('the alert state store', () => {
  it('refuses a commit on top of a version it did not load, and re-decides on the fresh state', async () => {
    const local = new DynamoAlertStateStore(dynamo.client, tableName, 'conflict-test');
    const empty = (raw: number): AlertManagerSnapshot => ({
      version: 1,
      alerts: [],
      incidents: [],
      groups: [],
      heartbeats: [],
      counters: {
        raw,
        incidentUpdates: 0,
        notifications: 0,
        messages: 0,
        byKind: { open: 0, escalation: 0, 'root-cause': 0, resolve: 0 },
        suppressed: {
          duplicate: 0,
          grouped: 0,
          inhibited: 0,
          flapping: 0,
          maintenance: 0,
          heartbeat: 0,
          'resolved-unnotified': 0,
        },
      },
    });
    expect(await local.save(empty(1), undefined)).toBe('saved');
    expect(await local.save(empty(2), undefined)).toBe('conflict');
    expect(await local.save(empty(2), 7)).toBe('conflict');

    // Another delivery commits between this one's load and its save, once.
    let interfered = false;
    const seen: number[] = [];
    const racing = {
      load: () => local.load(),
      save: async (snapshot: AlertManagerSnapshot, loaded: number | undefined) => {
        if (!interfered) {
          interfered = true;
          await local.save(empty(100), loaded);
        }
        return local.save(snapshot, loaded);
      },
    };
    const update = await updateAlertState(
      racing,
      (current) => {
        seen.push(current?.counters.raw ?? -1);
        const next = empty((current?.counters.raw ?? 0) + 1);
        return { snapshot: next, result: next.counters.raw };
      },
      { sleep: async () => undefined },
    );
    // The first decision saw raw 1 and lost; the second saw the other delivery's 100 and won.
    expect(seen).toEqual([1, 100]);
    expect(update).toEqual({ result: 101, version: 3, conflicts: 1 });
    expect((await local.load())?.snapshot.counters.raw).toBe(101);
  });

  it('gives up after the configured attempts when it loses every race', async () => {
    const local = new DynamoAlertStateStore(dynamo.client, tableName, 'always-losing');
    const losing = { load: () => local.load(), save: async () => 'conflict' as const };
    let decisions = 0;
    await expect(
      updateAlertState(
        losing,
        () => {
          decisions++;
          return { snapshot: { version: 1 } as AlertManagerSnapshot, result: undefined };
        },
        { attempts: 3, sleep: async () => undefined },
      ),
    ).rejects.toThrow('alert state changed under every one of 3 attempts');
    expect(decisions).toBe(3);
  });

  it('refuses a state too large for one item rather than losing part of it', async () => {
    const local = new DynamoAlertStateStore(dynamo.client, tableName, 'too-large');
    // Random bytes do not compress: 600 KB of them cannot fit in a 400 KB item.
    const noise = Array.from({ length: 600 }, () => randomBytes(1024).toString('base64'));
    const snapshot = {
      version: 1,
      alerts: noise.map((text, index) => [`am:${index}`, { annotations: { text } }]),
      incidents: [],
      groups: [],
      heartbeats: [],
      counters: {},
    } as unknown as AlertManagerSnapshot;
    await expect(local.save(snapshot, undefined)).rejects.toBeInstanceOf(AlertStateTooLargeError);
    expect(await local.load()).toBeUndefined();
  });
});
