// The alert webhook function delivering what the alert manager decides, as Lambda runs it: module-scope wiring
// from the bundled config (dev, with PagerDuty configured), the state and Slack threads in DynamoDB through
// dynalite, Slack and PagerDuty on loopback servers, secrets through aws-sdk-client-mock. Covers delivery after
// the commit, a retried webhook delivering nothing twice, a failing channel counted without failing the
// invocation, and the minute check EventBridge invokes: a heartbeat that stops arriving, and its return.

import { CreateTableCommand } from '@aws-sdk/client-dynamodb';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { Context } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { loadEnvironmentConfig } from '../../lambdas/adapters/config-files';
import {
  ALERT_STATE_TABLE,
  DynamoAlertStateStore,
  updateAlertState,
} from '../../lambdas/adapters/dynamodb/alert-state-store';
import { DynamoAlertThreadStore } from '../../lambdas/adapters/dynamodb/alert-thread-store';
import { DynamoIncidentStore } from '../../lambdas/adapters/dynamodb/incident-store';
import { AlertManager, type AlertManagerOptions } from '../../lambdas/core/alerting/alert-manager';
import type { Incident } from '../../lambdas/core/cognition/incident';
import { ServiceGraph } from '../../lambdas/core/topology';
import type {
  ScheduledSummary,
  WebhookEvent,
  WebhookResult,
  WebhookSummary,
} from '../../lambdas/handlers/alert-webhook';
import { type LocalDynamo, startLocalDynamo } from '../../lambdas/local/local-dynamodb';
import { json, PagerDutyLoopback, SlackLoopback } from '../support/notify-loopbacks';

const TOKEN_SECRET = 'arn:aws:secretsmanager:ap-northeast-1:123456789012:secret:AlertmanagerToken-AbCdEf';
const N9E_SECRET = 'arn:aws:secretsmanager:ap-northeast-1:123456789012:secret:NightingaleSigningKey-GhIjKl';
const TOKEN = 'k2Jd9vQp4XzR7tLm1sWc8nBy3hGf6aEu0iOoPlUyTxRe5WqZ';
const BOT_TOKEN = 'xoxb-3333-4444-alert-webhook';
const ROUTING_KEY = 'R0UT1NGKEY0123456789ABCDEFGHIJKL';
const MINUTE = 60_000;

const secrets = mockClient(SecretsManagerClient);
const slack = new SlackLoopback(BOT_TOKEN);
const pagerDuty = new PagerDutyLoopback();
let dynamo: LocalDynamo;
let store: DynamoAlertStateStore;
let tableName: string;
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
  getRemainingTimeInMillis: () => 25_000,
} as unknown as Context;

beforeAll(async () => {
  await Promise.all([slack.start(), pagerDuty.start()]);
  dynamo = await startLocalDynamo('alert-webhook-delivery-test');
  tableName = 'alert-webhook-delivery-test-alertState';
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
  const integrations = {
    pagerduty: { routingKeySecret: 'sre-agent/dev/pagerduty', eventsUrl: pagerDuty.eventsUrl, retries: 0 },
  };
  process.env.SRE_AGENT_BUNDLED_CONFIG = JSON.stringify({ config: { ...config, integrations }, catalog, playbooks });
  process.env.ALERT_STATE_TABLE = tableName;
  process.env.INCIDENTS_TABLE = dynamo.tables.incidents;
  process.env.ALERTMANAGER_TOKEN_SECRET = TOKEN_SECRET;
  process.env.N9E_SIGNING_SECRET = N9E_SECRET;
  process.env.SLACK_API_URL = slack.apiUrl;
  process.env.AWS_ENDPOINT_URL_DYNAMODB = dynamo.endpoint;
  process.env.AWS_ACCESS_KEY_ID = 'local';
  process.env.AWS_SECRET_ACCESS_KEY = 'local';
  process.env.POWERTOOLS_LOG_LEVEL = 'ERROR';

  secrets.on(GetSecretValueCommand, { SecretId: TOKEN_SECRET }).resolves({ SecretString: TOKEN });
  secrets.on(GetSecretValueCommand, { SecretId: N9E_SECRET }).resolves({ SecretString: 'n9e-key' });
  secrets
    .on(GetSecretValueCommand, { SecretId: config.approvals?.botTokenSecretName })
    .resolves({ SecretString: JSON.stringify({ token: BOT_TOKEN }) });
  secrets.on(GetSecretValueCommand, { SecretId: 'sre-agent/dev/pagerduty' }).resolves({ SecretString: ROUTING_KEY });
  handler = (await import('../../lambdas/handlers/alert-webhook')).handler as typeof handler;
});

afterAll(async () => {
  await Promise.all([slack.stop(), pagerDuty.stop()]);
  await dynamo.close();
  delete process.env.AWS_ENDPOINT_URL_DYNAMODB;
  delete process.env.SLACK_API_URL;
});

beforeEach(() => {
  stdout = [];
  slack.reset();
  pagerDuty.reset();
  jest.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    stdout.push(typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8'));
    return true;
  });
});

afterEach(() => {
  jest.restoreAllMocks();
  clockOffset = 0;
});

// ---------------------------------------------------------------------------------------------------------

const body = <T>(result: WebhookResult): T => JSON.parse(result.body) as T;

function postAlerts(alerts: { name: string; service?: string; severity: string; status?: string }[]) {
  const now = Date.now();
  const payload = {
    version: '4',
    groupKey: '{}:{alertname="any"}',
    truncatedAlerts: 0,
    status: 'firing',
    receiver: 'sre-agent',
    groupLabels: {},
    commonLabels: {},
    commonAnnotations: {},
    externalURL: 'http://alertmanager.monitoring:9093',
    alerts: alerts.map((alert) => ({
      status: alert.status ?? 'firing',
      labels: {
        alertname: alert.name,
        severity: alert.severity,
        ...(alert.service ? { service: alert.service } : {}),
      },
      annotations: { summary: `${alert.name}${alert.service ? ` on ${alert.service}` : ''}` },
      startsAt: new Date(now - MINUTE).toISOString(),
      endsAt: alert.status === 'resolved' ? new Date(now).toISOString() : '0001-01-01T00:00:00Z',
      generatorURL: 'http://prometheus.monitoring:9090/graph',
    })),
  };
  const path = '/alerts/alertmanager';
  return handler(
    {
      rawPath: path,
      body: JSON.stringify(payload),
      isBase64Encoded: false,
      headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` },
      requestContext: { http: { path, sourceIp: '198.51.100.7' } },
    },
    context,
  );
}

/** What EventBridge hands the function for a rate(1 minute) rule. */
const scheduledEvent = (): WebhookEvent =>
  ({
    version: '0',
    id: '53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa',
    'detail-type': 'Scheduled Event',
    source: 'aws.events',
    account: '123456789012',
    time: new Date(Date.now()).toISOString(),
    region: 'ap-northeast-1',
    resources: ['arn:aws:events:ap-northeast-1:123456789012:rule/SreAgent-dev-AlertMinuteCheck'],
    detail: {},
  }) as WebhookEvent;

const minuteCheck = async (): Promise<ScheduledSummary> => body(await handler(scheduledEvent(), context));

/** Makes the function's clock read `offsetMs` ahead of the real one (until the test's mocks are restored). */
let clockOffset = 0;
function clockAhead(offsetMs: number): void {
  if (clockOffset === 0) {
    const real = Date.now.bind(Date);
    jest.spyOn(Date, 'now').mockImplementation(() => real() + clockOffset);
  }
  clockOffset = offsetMs;
}

const metricTotal = (name: string): number =>
  stdout
    .join('')
    .split('\n')
    .filter((line) => line.includes('"_aws"'))
    .map((line) => JSON.parse(line) as Record<string, unknown>)
    .reduce((total, record) => total + (typeof record[name] === 'number' ? (record[name] as number) : 0), 0);

// ---------------------------------------------------------------------------------------------------------

describe('the minute check before anything was stored', () => {
  it('finds nothing to check and writes nothing', async () => {
    const summary = await minuteCheck();
    expect(summary).toEqual({ scheduled: true, checked: false, notifications: [] });
    expect(await store.load()).toBeUndefined();
    expect(slack.calls).toEqual([]);
  });

  it('an invocation with no HTTP fields that is not EventBridge schedule is still refused as an unknown path', async () => {
    const result = await handler({ source: 'aws.events', 'detail-type': 'Object Created' } as WebhookEvent, context);
    expect(result.statusCode).toBe(404);
  });
});

describe('webhook deliveries', () => {
  it('delivers the notification after its state is committed: Slack post, PagerDuty trigger by group id', async () => {
    // Slack answers only once it has checked what DynamoDB holds at the moment the post arrives.
    let committedAtPost: number | undefined;
    slack.answerNext('chat.postMessage', (response, call) => {
      void store.load().then((stored) => {
        committedAtPost = stored?.snapshot.counters.raw;
        json(200, { ok: true, channel: 'C-SRE-CRITICAL', ts: '1700000200.000001' })(response, call);
      });
    });
    const result = await postAlerts([{ name: 'HighErrorRate', service: 'order-api', severity: 'critical' }]);
    expect(result.statusCode).toBe(200);
    const summary = body<WebhookSummary>(result);
    expect(summary.notifications).toHaveLength(1);
    const [notification] = summary.notifications;
    // Critical on a core service pages at any hour, in the critical channel; dev has no Jira, so no ticket.
    expect(summary.delivery).toEqual({ delivered: 2, failed: 0, skipped: 1, undelivered: 0 });
    expect(committedAtPost).toBe(1);
    expect(slack.posts()).toEqual([
      expect.objectContaining({
        channel: '#sre-critical',
        text: expect.stringContaining('HighErrorRate on order-api'),
      }),
    ]);
    expect(pagerDuty.events()).toEqual([
      expect.objectContaining({ event_action: 'trigger', dedup_key: notification.groupId, routing_key: ROUTING_KEY }),
    ]);
    expect(metricTotal('NotificationsDelivered')).toBe(2);
    expect(metricTotal('NotificationDeliveryFailures')).toBe(0);
  });

  it('the same delivery retried decides nothing new, so nothing is delivered twice', async () => {
    const summary = body<WebhookSummary>(
      await postAlerts([{ name: 'HighErrorRate', service: 'order-api', severity: 'critical' }]),
    );
    expect(summary.decisions.map((d) => d.reason)).toEqual(['duplicate']);
    expect(summary.delivery).toBeUndefined();
    expect(slack.calls).toEqual([]);
    expect(pagerDuty.calls).toEqual([]);
  });

  it('a PagerDuty outage is logged and counted, the Slack post still goes out, and the webhook is answered 200', async () => {
    pagerDuty.answerNext('enqueue', json(503, { status: 'error', message: 'Service Unavailable' }));
    const result = await postAlerts([{ name: 'WithdrawalsFailing', service: 'wallet-service', severity: 'critical' }]);
    expect(result.statusCode).toBe(200);
    const summary = body<WebhookSummary>(result);
    expect(summary.delivery).toEqual({ delivered: 1, failed: 1, skipped: 1, undelivered: 0 });
    expect(slack.posts()).toHaveLength(1);
    expect(metricTotal('NotificationDeliveryFailures')).toBe(1);
    expect(metricTotal('NotificationsDelivered')).toBe(1);
  });
});

describe('the minute check', () => {
  it('a heartbeat that stops arriving is notified once; its return replies in that thread and resolves the page', async () => {
    const heartbeat = body<WebhookSummary>(await postAlerts([{ name: 'Watchdog', severity: 'none' }]));
    expect(heartbeat.decisions.map((d) => d.reason)).toEqual(['heartbeat']);
    const versionBefore = (await store.load())?.version ?? 0;

    // While it keeps arriving, the check finds nothing.
    const quiet = await minuteCheck();
    expect(quiet).toMatchObject({ scheduled: true, checked: true, notifications: [], stateVersion: versionBefore + 1 });
    expect(slack.calls).toEqual([]);

    // Eleven minutes without it: past the 5-minute interval plus 5 minutes of grace.
    clockAhead(11 * MINUTE);
    const missing = await minuteCheck();
    expect(missing.notifications).toHaveLength(1);
    const [lost] = missing.notifications;
    expect(lost).toMatchObject({ kind: 'open', delivery: { slack: { channel: '#sre-critical', mode: 'post' } } });
    expect(lost.title).toContain('Heartbeat Watchdog missing');
    expect(missing.delivery).toEqual({ delivered: 2, failed: 0, skipped: 0, undelivered: 0 });
    const [post] = slack.posts();
    expect(post).toMatchObject({ channel: '#sre-critical' });
    expect(pagerDuty.events()).toEqual([expect.objectContaining({ event_action: 'trigger', dedup_key: lost.groupId })]);
    expect((await store.load())?.snapshot.heartbeats[0]?.missingSince).toBeDefined();

    const thread = await new DynamoAlertThreadStore(dynamo.client, tableName).get(lost.groupId, '#sre-critical');
    expect(thread).toEqual({ channel: SlackLoopback.channelId('#sre-critical'), ts: expect.any(String) });

    // Notified once: the next minute says nothing more.
    clockAhead(12 * MINUTE);
    expect((await minuteCheck()).notifications).toEqual([]);

    // It arrives again; the next check announces its return in the same thread and resolves the page.
    clockAhead(13 * MINUTE);
    await postAlerts([{ name: 'Watchdog', severity: 'none' }]);
    clockAhead(14 * MINUTE);
    slack.reset();
    pagerDuty.reset();
    const back = await minuteCheck();
    expect(back.notifications.map((n) => [n.kind, n.groupId])).toEqual([['resolve', lost.groupId]]);
    const [reply] = slack.posts();
    expect(reply).toMatchObject({ channel: thread?.channel, thread_ts: thread?.ts });
    expect(reply.text).toContain('Heartbeat Watchdog is back');
    expect(pagerDuty.events()).toEqual([expect.objectContaining({ event_action: 'resolve', dedup_key: lost.groupId })]);
  });
});

describe('the minute check and the detection loop', () => {
  it('resolves a group opened by an incident once the loop has resolved the incident, remediated or not', async () => {
    const incidents = new DynamoIncidentStore(dynamo.client, dynamo.tables.incidents);
    const opened = new Date(Date.now()).toISOString();
    const incident: Incident = {
      id: 'inc-minute-check-redis-cache',
      status: 'open',
      kind: 'anomaly',
      openedAt: opened,
      updatedAt: opened,
      lastAnomalyAt: opened,
      services: ['redis-cache'],
      signals: [],
      version: 1,
    };
    await incidents.create(incident);
    // The incident workflow told the alert manager (a HIGH incident opens a group of its own).
    await updateAlertState(store, (current) => {
      const manager = current ? AlertManager.restore(current, managerOptions()) : new AlertManager(managerOptions());
      manager.incident({ incident, rootCause: { service: 'redis-cache' }, tier: 'HIGH' }, Date.now());
      return { snapshot: manager.snapshot(), result: undefined };
    });
    slack.reset();
    pagerDuty.reset();
    const effective = async () =>
      new Map((await store.load())?.snapshot.incidents ?? []).get(incident.id)?.effective ?? 'unknown';
    // Still open in the loop: the alert manager keeps it firing.
    await minuteCheck();
    expect(await effective()).toBe('firing');

    // Resolved by the loop: the next minute's check tells the alert manager, which lets its group resolve.
    await incidents.update({ ...incident, status: 'resolved', resolvedAt: opened, version: 2 });
    await minuteCheck();
    expect(await effective()).toBe('resolved');
  });
});

function managerOptions(): AlertManagerOptions {
  const { config } = loadEnvironmentConfig('dev');
  return { config: config.alerting, graph: new ServiceGraph(config.topology) };
}
