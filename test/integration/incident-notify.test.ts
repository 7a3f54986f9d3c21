// The incident notify function as Lambda runs it: module-scope wiring from the bundled config (dev, with PagerDuty
// and a maintenance window), the audit trail and the alert manager's state in DynamoDB through dynalite, Slack and
// PagerDuty on loopback servers, secrets through aws-sdk-client-mock. Covers the alert manager hearing of the
// incident and its notifications going out, the notice replying in the alert group's thread (or in the incident's
// own thread in the approvals channel), a recovery resolving both pages, and a broken alert state not costing the
// notice.

import { CreateTableCommand, PutItemCommand } from '@aws-sdk/client-dynamodb';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { Context } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { loadEnvironmentConfig } from '../../lambdas/adapters/config-files';
import {
  ALERT_STATE_KEY,
  ALERT_STATE_TABLE,
  DynamoAlertStateStore,
} from '../../lambdas/adapters/dynamodb/alert-state-store';
import { DynamoAuditLog } from '../../lambdas/adapters/dynamodb/audit-log';
import type { Incident } from '../../lambdas/core/cognition/incident';
import type { IncidentCase } from '../../lambdas/core/decision/incident-case';
import type { Tier } from '../../lambdas/core/decision/types';
import { type LocalDynamo, startLocalDynamo } from '../../lambdas/local/local-dynamodb';
import { json, PagerDutyLoopback, SlackLoopback } from '../support/notify-loopbacks';

const BOT_TOKEN = 'xoxb-5555-6666-incident-notify';
const ROUTING_KEY = 'R0UT1NGKEY0123456789ABCDEFGHIJKL';
const APPROVALS_CHANNEL = 'C0SREAPPROVALS';

const secrets = mockClient(SecretsManagerClient);
const slack = new SlackLoopback(BOT_TOKEN);
const pagerDuty = new PagerDutyLoopback();
let dynamo: LocalDynamo;
let alertTable: string;
let store: DynamoAlertStateStore;
let handler: (event: { step: string; case: IncidentCase }, context: Context) => Promise<IncidentCase>;
let stdout: string[] = [];

const context = {
  functionName: 'sre-agent-dev-incident-notify',
  functionVersion: '$LATEST',
  invokedFunctionArn: 'arn:aws:lambda:ap-northeast-1:123456789012:function:sre-agent-dev-incident-notify',
  memoryLimitInMB: '512',
  awsRequestId: 'c6af9ac6-7b61-11e6-9a41-93e812345678',
  logGroupName: '/aws/lambda/sre-agent-dev-incident-notify',
  logStreamName: '2026/11/04/[$LATEST]abc',
  callbackWaitsForEmptyEventLoop: true,
  getRemainingTimeInMillis: () => 60_000,
} as unknown as Context;

beforeAll(async () => {
  await Promise.all([slack.start(), pagerDuty.start()]);
  dynamo = await startLocalDynamo('incident-notify-test');
  alertTable = 'incident-notify-test-alertState';
  await dynamo.client.send(
    new CreateTableCommand({
      TableName: alertTable,
      KeySchema: [{ AttributeName: ALERT_STATE_TABLE.partitionKey, KeyType: 'HASH' }],
      AttributeDefinitions: [{ AttributeName: ALERT_STATE_TABLE.partitionKey, AttributeType: 'S' }],
      BillingMode: 'PAY_PER_REQUEST',
    }),
  );
  store = new DynamoAlertStateStore(dynamo.client, alertTable);

  const { config, catalog, playbooks } = loadEnvironmentConfig('dev');
  const now = Date.now();
  const bundled = {
    ...config,
    integrations: {
      pagerduty: { routingKeySecret: 'sre-agent/dev/pagerduty', eventsUrl: pagerDuty.eventsUrl, retries: 0 },
    },
    alerting: {
      ...config.alerting,
      maintenance: [
        {
          services: ['market-data'],
          start: new Date(now - 3_600_000).toISOString(),
          end: new Date(now + 3_600_000).toISOString(),
          reason: 'market-data feed migration',
        },
      ],
    },
  };
  expect(config.approvals?.channel).toBe(APPROVALS_CHANNEL);
  process.env.SRE_AGENT_BUNDLED_CONFIG = JSON.stringify({ config: bundled, catalog, playbooks });
  process.env.AUDIT_TABLE = dynamo.tables.audit;
  process.env.ALERT_STATE_TABLE = alertTable;
  process.env.SLACK_API_URL = slack.apiUrl;
  process.env.AWS_ENDPOINT_URL_DYNAMODB = dynamo.endpoint;
  process.env.AWS_ACCESS_KEY_ID = 'local';
  process.env.AWS_SECRET_ACCESS_KEY = 'local';
  process.env.POWERTOOLS_LOG_LEVEL = 'ERROR';

  secrets
    .on(GetSecretValueCommand, { SecretId: config.approvals?.botTokenSecretName })
    .resolves({ SecretString: BOT_TOKEN });
  secrets.on(GetSecretValueCommand, { SecretId: 'sre-agent/dev/pagerduty' }).resolves({ SecretString: ROUTING_KEY });
  handler = (await import('../../lambdas/handlers/incident-notify')).handler as typeof handler;
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

afterEach(() => jest.restoreAllMocks());

// ---------------------------------------------------------------------------------------------------------

function caseOf(service: string, tier: Tier, extra: Partial<IncidentCase> = {}): IncidentCase {
  const openedAt = new Date(Date.now() - 5 * 60_000).toISOString();
  const id = `inc-test-${service}-${tier.toLowerCase()}`;
  const incident: Incident = {
    id,
    status: 'open',
    kind: 'anomaly',
    openedAt,
    updatedAt: openedAt,
    lastAnomalyAt: openedAt,
    services: [service, 'api-gateway'],
    signals: [],
    version: 1,
  };
  return {
    incidentId: id,
    incident,
    diagnosis: {
      rootCause: { service, kind: 'bad-deploy', confidence: 0.9 },
      candidates: [],
      evidence: [`release of ${service} precedes the errors`],
      method: 'rules',
    },
    risk: { score: 0.7, tier, factors: [], overrides: [] },
    ...extra,
  };
}

const notify = (step: string, c: IncidentCase) => handler({ step, case: c }, context);

/** The order-api incident after its rollback ran and recovery was confirmed. */
function recoveredCase(): IncidentCase {
  const now = Date.now();
  return caseOf('order-api', 'HIGH', {
    execution: [
      {
        action: 'rollback-deploy',
        target: 'trading/deployment/order-api',
        dryRun: false,
        result: 'succeeded',
        detail: 'rolled back to v1',
      },
    ],
    verification: {
      status: 'recovered',
      recovered: true,
      startedAt: new Date(now - 120_000).toISOString(),
      deadline: new Date(now + 600_000).toISOString(),
      checkedAt: new Date(now).toISOString(),
      checks: 2,
      recheckSeconds: 60,
      detail: ['error ratio back under its baseline'],
    },
  });
}

const metricTotal = (name: string): number =>
  stdout
    .join('')
    .split('\n')
    .filter((line) => line.includes('"_aws"'))
    .map((line) => JSON.parse(line) as Record<string, unknown>)
    .reduce((total, record) => total + (typeof record[name] === 'number' ? (record[name] as number) : 0), 0);

// ---------------------------------------------------------------------------------------------------------

describe('an incident the alert manager groups', () => {
  const c = caseOf('order-api', 'HIGH');
  let groupId: string;
  let threadTs: string;

  it('Page: the alert manager opens a group (posted, paged by group id), and the notice replies in its thread', async () => {
    const returned = await notify('Page', c);
    expect(returned).toEqual(c);

    const stored = await store.load();
    const entry = stored?.snapshot.incidents.find(([id]) => id === c.incidentId)?.[1];
    expect(entry).toMatchObject({ effective: 'firing', disposition: 'notified' });
    groupId = String(entry?.groupId);

    const [post, reply] = slack.posts();
    expect(slack.posts()).toHaveLength(2);
    // HIGH is critical; order-api is core: the critical channel, paged.
    expect(post).toMatchObject({
      channel: '#sre-critical',
      text: expect.stringContaining(`agent incident ${c.incidentId}`),
    });
    expect(post.thread_ts).toBeUndefined();
    threadTs = '1700000000.000001';
    expect(reply).toMatchObject({
      channel: SlackLoopback.channelId('#sre-critical'),
      thread_ts: threadTs,
      text: expect.stringContaining(`A human must act: incident ${c.incidentId}`),
    });

    // One page for one problem: the group's (dedup_key = group id); the grouped notice goes to the thread only.
    expect(pagerDuty.events().map((e) => [e.event_action, e.dedup_key])).toEqual([['trigger', groupId]]);
    expect(metricTotal('NotificationsDelivered')).toBe(3);
    expect(metricTotal('NotificationDeliveryFailures')).toBe(0);
    expect(metricTotal('NotificationsUndelivered')).toBe(0);
  });

  it('NotifyOutcome after a confirmed recovery: the group resolves (page resolved) and the notice says remediated', async () => {
    const recovered = recoveredCase();
    const returned = await notify('NotifyOutcome', recovered);
    // The workflow's Close step sets the outcome; this step hands the case back as it came.
    expect(returned.outcome).toBeUndefined();

    const posts = slack.posts();
    expect(posts).toHaveLength(2);
    for (const post of posts) expect(post).toMatchObject({ thread_ts: threadTs });
    expect(String(posts[0].text)).toContain('Resolved');
    expect(String(posts[1].text)).toContain('outcome remediated');
    expect(pagerDuty.events().map((e) => [e.event_action, e.dedup_key])).toEqual([['resolve', groupId]]);
    const group = (await store.load())?.snapshot.groups.find((g) => g.id === groupId);
    expect(group?.status).toBe('resolved');
  });

  it('a notice delivered again (a Step Functions retry) finds the incident already told: nothing new is decided', async () => {
    await notify('NotifyOutcome', recoveredCase());
    // Only the notice itself, in the group's thread; the alert manager's resolve is not sent twice.
    expect(slack.posts()).toEqual([expect.objectContaining({ thread_ts: threadTs })]);
    expect(pagerDuty.events()).toEqual([]);
  });
});

describe('an incident in no alert group', () => {
  it('starts its own thread in the approvals channel, and its next notice replies there', async () => {
    // market-data is under maintenance: the alert manager holds its incident back, so there is no group thread.
    const c = caseOf('market-data', 'MEDIUM');
    await notify('Page', c);
    const entry = (await store.load())?.snapshot.incidents.find(([id]) => id === c.incidentId)?.[1];
    expect(entry).toMatchObject({ disposition: 'maintenance' });
    expect(slack.posts()).toEqual([
      expect.objectContaining({ channel: APPROVALS_CHANNEL, text: expect.stringContaining('A human must act') }),
    ]);
    expect(slack.posts()[0].thread_ts).toBeUndefined();

    slack.reset();
    await notify('NotifyFailure', { ...c, failure: { Error: 'States.Timeout', Cause: 'VerifyRecovery timed out' } });
    expect(slack.posts()).toEqual([
      expect.objectContaining({
        channel: APPROVALS_CHANNEL,
        thread_ts: expect.stringMatching(/^1700000000\.\d{6}$/),
        text: expect.stringContaining('The incident workflow failed'),
      }),
    ]);
  });

  it("a channel that fails is written to the incident's audit chain, and the others still deliver", async () => {
    const c = caseOf('market-data', 'HIGH');
    pagerDuty.answerNext(
      'enqueue',
      json(400, { status: 'invalid event', message: 'Event object is invalid', errors: ['bad'] }),
    );
    await notify('Page', c);
    expect(slack.posts()).toHaveLength(1);
    const chain = await new DynamoAuditLog(dynamo.client, dynamo.tables.audit).read(c.incidentId);
    expect(chain.map((r) => `${r.kind}:${r.actor}`)).toContain('error:notify:pagerduty');
    expect(chain.find((r) => r.actor === 'notify:pagerduty')?.summary).toBe('Page not delivered by pagerduty');
  });

  it('an alert state that cannot be read costs the grouping, not the notice, and is counted', async () => {
    await dynamo.client.send(
      new PutItemCommand({
        TableName: alertTable,
        Item: { pk: { S: ALERT_STATE_KEY }, version: { N: '99' }, snapshot: { B: Buffer.from('not gzip') } },
      }),
    );
    const c = caseOf('wallet-service', 'CRITICAL');
    await notify('Page', c);
    expect(metricTotal('AlertManagerUpdateFailures')).toBe(1);
    expect(slack.posts()).toEqual([expect.objectContaining({ channel: APPROVALS_CHANNEL })]);
    expect(pagerDuty.events().map((e) => [e.event_action, e.dedup_key])).toEqual([['trigger', c.incidentId]]);
    expect(metricTotal('NotificationsDelivered')).toBe(2);
  });
});
