// Delivery of the alert manager's notifications with the real adapters: notifications decided by a real
// AlertManager, Slack, PagerDuty and Jira on loopback servers that answer as the services do, and the Slack threads
// in DynamoDB through dynalite. Covers threading, the PagerDuty dedup_key through trigger and resolve, the ticket
// per group, Slack's 429 with Retry-After, one channel failing or hanging while the others deliver, and channels
// that are not configured.

import { CreateTableCommand } from '@aws-sdk/client-dynamodb';
import { ALERT_STATE_TABLE } from '../../lambdas/adapters/dynamodb/alert-state-store';
import { DynamoAlertThreadStore, threadKey } from '../../lambdas/adapters/dynamodb/alert-thread-store';
import {
  AlertDelivery,
  type AlertDeliveryDeps,
  integrationClients,
} from '../../lambdas/adapters/notify/alert-delivery';
import { incidentThreadChannel, SlackThreads } from '../../lambdas/adapters/notify/slack-threads';
import { threadedApprovalMessenger } from '../../lambdas/adapters/notify/threaded-approvals';
import { SlackWebApi } from '../../lambdas/adapters/slack/web-api';
import { AlertManager, type Notification } from '../../lambdas/core/alerting/alert-manager';
import { alertingConfigSchema } from '../../lambdas/core/alerting/alerting-config';
import type { ExternalAlert, Severity } from '../../lambdas/core/alerting/webhooks';
import { integrationsSchema } from '../../lambdas/core/config/integrations-schema';
import { topologySchema } from '../../lambdas/core/config/schema';
import { ServiceGraph } from '../../lambdas/core/topology';
import { type LocalDynamo, startLocalDynamo } from '../../lambdas/local/local-dynamodb';
import { type Answer, JiraLoopback, json, PagerDutyLoopback, SlackLoopback } from '../support/notify-loopbacks';

const BOT_TOKEN = 'xoxb-1111-2222-alert-delivery';
const ROUTING_KEY = 'R0UT1NGKEY0123456789ABCDEFGHIJKL';
const SECRETS: Record<string, string> = {
  'sre-agent/test/pagerduty': ROUTING_KEY,
  'sre-agent/test/jira': JSON.stringify({ email: 'sre-agent@example.com', apiToken: 'jira-api-token' }),
};

const topology = topologySchema.parse({
  services: [
    { name: 'api-gateway', criticality: 'core', namespace: 'edge', replicas: 6, dependsOn: ['order-api'] },
    { name: 'order-api', criticality: 'core', namespace: 'trading', replicas: 6, dependsOn: ['mysql-main'] },
    { name: 'market-data', criticality: 'standard', namespace: 'market', replicas: 4 },
    { name: 'mysql-main', kind: 'datastore', criticality: 'core', namespace: 'data' },
  ],
});
const graph = new ServiceGraph(topology);
/** A Wednesday, 11:00 in the on-call team's UTC+8: business hours, so critical alerts page. */
const T0 = Date.parse('2026-11-04T03:00:00Z');
const MINUTE = 60_000;

const slack = new SlackLoopback(BOT_TOKEN);
const pagerDuty = new PagerDutyLoopback();
const jira = new JiraLoopback();
let dynamo: LocalDynamo;
let tableName: string;
let threadStore: DynamoAlertThreadStore;
let slackSleeps: number[] = [];

beforeAll(async () => {
  await Promise.all([slack.start(), pagerDuty.start(), jira.start()]);
  dynamo = await startLocalDynamo('alert-delivery-test');
  tableName = 'alert-delivery-test-alertState';
  await dynamo.client.send(
    new CreateTableCommand({
      TableName: tableName,
      KeySchema: [{ AttributeName: ALERT_STATE_TABLE.partitionKey, KeyType: 'HASH' }],
      AttributeDefinitions: [{ AttributeName: ALERT_STATE_TABLE.partitionKey, AttributeType: 'S' }],
      BillingMode: 'PAY_PER_REQUEST',
    }),
  );
  threadStore = new DynamoAlertThreadStore(dynamo.client, tableName);
});

afterAll(async () => {
  await Promise.all([slack.stop(), pagerDuty.stop(), jira.stop()]);
  await dynamo.close();
});

beforeEach(() => {
  slack.reset();
  pagerDuty.reset();
  jira.reset();
  slackSleeps = [];
});

// ---------------------------------------------------------------------------------------------------------

const integrations = () =>
  integrationsSchema.parse({
    pagerduty: { routingKeySecret: 'sre-agent/test/pagerduty', eventsUrl: pagerDuty.eventsUrl, retries: 1 },
    jira: { siteUrl: jira.url, projectKey: 'OPS', credentialsSecret: 'sre-agent/test/jira', retries: 0 },
  });

function slackThreads(options: { lookups?: number } = {}): SlackThreads {
  const api = new SlackWebApi({
    token: async () => BOT_TOKEN,
    baseUrl: slack.apiUrl,
    retries: 2,
    // Retry-After waits are recorded instead of slept, so the test sees exactly what was honoured.
    sleep: async (ms) => {
      slackSleeps.push(ms);
    },
  });
  return new SlackThreads(api, threadStore, { threadLookups: options.lookups ?? 3, threadLookupDelayMs: 200 });
}

function delivery(overrides: Partial<AlertDeliveryDeps> = {}): AlertDelivery {
  return new AlertDelivery({
    slack: slackThreads(),
    ...integrationClients(integrations(), { secrets: async (name) => SECRETS[name] ?? '' }),
    ...overrides,
  });
}

function alert(
  name: string,
  service: string,
  severity: Severity,
  status: 'firing' | 'resolved',
  at: number,
): ExternalAlert {
  return {
    source: 'alertmanager',
    fingerprint: `am:${name}:${service}`,
    name,
    status,
    severity,
    service,
    labels: { alertname: name, service, severity },
    annotations: { summary: `${name} on ${service}` },
    startsAt: T0 - MINUTE,
    ...(status === 'resolved' ? { endsAt: at } : {}),
    summary: `${name} on ${service}`,
  };
}

let problems = 0;

/**
 * A manager fed one problem: order-api fails, the cause turns out to be mysql-main, then both resolve. Each problem
 * starts a quarter of an hour after the last (still business hours), so its group id, hence its thread, is its own.
 */
function oneProblem(): { open: Notification; rootCause: Notification; resolve: Notification } {
  const manager = new AlertManager({ config: alertingConfigSchema.parse({}), graph });
  const start = T0 + problems++ * 15 * MINUTE;
  const at = (minutes: number) => start + minutes * MINUTE;
  const notified = (decision: ReturnType<AlertManager['ingest']>): Notification => {
    if (decision.action !== 'notify') throw new Error(`expected a notification, got ${decision.reason}`);
    return decision.notification;
  };
  const open = notified(manager.ingest(alert('HighErrorRate', 'order-api', 'critical', 'firing', at(0)), at(0)));
  const rootCause = notified(manager.ingest(alert('MySQLDown', 'mysql-main', 'critical', 'firing', at(2)), at(2)));
  manager.ingest(alert('HighErrorRate', 'order-api', 'critical', 'resolved', at(9)), at(9));
  const resolve = notified(manager.ingest(alert('MySQLDown', 'mysql-main', 'critical', 'resolved', at(10)), at(10)));
  return { open, rootCause, resolve };
}

const channelOf = (report: Awaited<ReturnType<AlertDelivery['deliver']>>, index: number, channel: string) =>
  report.notifications[index]?.channels.find((c) => c.channel === channel);

// ---------------------------------------------------------------------------------------------------------

describe('one group through its life', () => {
  it('the first notification posts, the later ones reply in its thread; PagerDuty and the ticket follow the group', async () => {
    const { open, rootCause, resolve } = oneProblem();
    expect([open.kind, rootCause.kind, resolve.kind]).toEqual(['open', 'root-cause', 'resolve']);
    expect(open.delivery).toEqual({
      slack: { channel: '#sre-critical', mode: 'post' },
      pagerduty: { service: 'sre-primary', action: 'trigger' },
      ticket: 'create',
    });
    const alerts = delivery();

    const first = await alerts.deliver([open]);
    expect(first).toMatchObject({ delivered: 3, failed: 0, skipped: 0, undelivered: 0 });
    // The next two in one batch, as one webhook delivery could carry them: they go in order.
    const rest = await alerts.deliver([rootCause, resolve]);
    expect(rest).toMatchObject({ delivered: 5, failed: 0, skipped: 0, undelivered: 0 });

    const posts = slack.posts();
    expect(posts).toHaveLength(3);
    expect(posts[0]).toMatchObject({ channel: '#sre-critical', text: expect.stringContaining('HighErrorRate') });
    expect(posts[0].thread_ts).toBeUndefined();
    const threadTs = '1700000000.000001';
    for (const reply of posts.slice(1)) {
      expect(reply).toMatchObject({ channel: 'C-SRE-CRITICAL', thread_ts: threadTs });
    }
    expect(String(posts[1].text)).toContain('Root cause now looks like mysql-main');
    expect(String(posts[2].text)).toContain('Resolved');
    expect(await threadStore.get(open.groupId, '#sre-critical')).toEqual({ channel: 'C-SRE-CRITICAL', ts: threadTs });
    expect(channelOf(rest, 0, 'slack')?.detail).toBe(`replied in C-SRE-CRITICAL/${threadTs}`);

    // One PagerDuty alert for the group: triggered once (the root-cause move does not page again), then resolved
    // with the same dedup_key.
    const events = pagerDuty.events();
    expect(events.map((e) => [e.event_action, e.dedup_key, e.routing_key])).toEqual([
      ['trigger', open.groupId, ROUTING_KEY],
      ['resolve', open.groupId, ROUTING_KEY],
    ]);
    expect(events[0].payload).toMatchObject({ summary: open.title, severity: 'critical', source: 'order-api' });
    expect(JSON.stringify(events[0].payload)).toContain('PagerDuty service of the route: sre-primary');

    // One ticket, found again by the group's label for the update, with every notification as a comment.
    expect(jira.issues).toHaveLength(1);
    expect(jira.issues[0].labels).toContain(`sre-agent-${open.groupId}`);
    expect(jira.issues[0].comments).toHaveLength(3);
    expect(channelOf(first, 0, 'ticket')?.detail).toBe('filed OPS-1, commented');
    expect(channelOf(rest, 1, 'ticket')?.detail).toBe('found OPS-1, commented');
  });

  it('a reply decided while the post is still on its way waits for the thread instead of starting another', async () => {
    const { open, rootCause } = oneProblem();
    // The post is answered after 150 ms; the reply looks for the thread every 200 ms.
    const slow: Answer = (response, call) => {
      const answer = { ok: true, channel: SlackLoopback.channelId(String(call.body.channel)), ts: '1700000100.000001' };
      setTimeout(() => json(200, answer)(response, call), 150);
    };
    slack.answerNext('chat.postMessage', slow);
    // Two webhook deliveries committed one after the other, delivering at the same time in two Lambdas.
    const slackOnly = { pagerDuty: undefined, jira: undefined };
    const [posted, replied] = await Promise.all([
      delivery(slackOnly).deliver([open]),
      delivery(slackOnly).deliver([rootCause]),
    ]);
    expect(channelOf(posted, 0, 'slack')?.status).toBe('delivered');
    expect(channelOf(replied, 0, 'slack')?.detail).toBe('replied in C-SRE-CRITICAL/1700000100.000001');
    expect(slack.posts().filter((p) => p.thread_ts === undefined)).toHaveLength(1);
  });

  it('a reply with no thread at all (its post failed) starts one rather than being lost', async () => {
    const { rootCause } = oneProblem();
    const report = await delivery({ slack: slackThreads({ lookups: 2 }) }).deliver([rootCause]);
    const posted = channelOf(report, 0, 'slack');
    expect(posted?.status).toBe('delivered');
    expect(posted?.detail).toMatch(/^no thread of grp-.* in #sre-critical; started 1700000000\.\d+$/);
    expect(slack.posts()).toEqual([expect.not.objectContaining({ thread_ts: expect.anything() })]);
    expect(await threadStore.get(rootCause.groupId, '#sre-critical')).toBeDefined();
  });
});

describe('failures', () => {
  it("honours Slack's 429 Retry-After, then posts", async () => {
    const { open } = oneProblem();
    slack.answerNext('chat.postMessage', json(429, { ok: false, error: 'ratelimited' }, { 'retry-after': '2' }));
    const report = await delivery({ pagerDuty: undefined, jira: undefined }).deliver([open]);
    expect(channelOf(report, 0, 'slack')?.status).toBe('delivered');
    expect(slackSleeps).toEqual([2_000]);
    expect(slack.posts()).toHaveLength(2);
  });

  it('a Retry-After longer than a delivery can wait fails the Slack post at once, and says so', async () => {
    const { open } = oneProblem();
    slack.answerNext('chat.postMessage', json(429, { ok: false, error: 'ratelimited' }, { 'retry-after': '60' }));
    const report = await delivery({ pagerDuty: undefined, jira: undefined }).deliver([open]);
    expect(channelOf(report, 0, 'slack')).toMatchObject({
      status: 'failed',
      detail: expect.stringContaining('ratelimited'),
    });
    expect(slackSleeps).toEqual([]);
    expect(report).toMatchObject({ delivered: 0, failed: 1, undelivered: 1 });
  });

  it('PagerDuty failing does not stop the Slack post or the ticket, and is counted', async () => {
    const { open } = oneProblem();
    const outage = json(500, { status: 'error', message: 'Internal Server Error' });
    pagerDuty.answerNext('enqueue', outage, outage);
    const report = await delivery().deliver([open]);
    expect(report).toMatchObject({ delivered: 2, failed: 1, skipped: 0, undelivered: 0 });
    expect(channelOf(report, 0, 'pagerduty')).toMatchObject({
      status: 'failed',
      detail: expect.stringMatching(/^trigger grp-.*: server_error - HTTP 500/),
    });
    expect(pagerDuty.calls).toHaveLength(2);
    expect(slack.posts()).toHaveLength(1);
    expect(channelOf(report, 0, 'slack')?.status).toBe('delivered');
    expect(channelOf(report, 0, 'ticket')?.status).toBe('delivered');
  });

  it('a channel that never answers is cut off at the deadline while the others deliver', async () => {
    const { open } = oneProblem();
    pagerDuty.answerNext('enqueue', () => undefined);
    const started = Date.now();
    const report = await delivery({ deadlineMs: 400, jira: undefined }).deliver([open]);
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(channelOf(report, 0, 'pagerduty')).toMatchObject({
      status: 'failed',
      detail: 'no answer within the 400 ms delivery deadline',
    });
    expect(channelOf(report, 0, 'slack')?.status).toBe('delivered');
  });

  it('channels that are not configured are skipped, and a notification no channel carried is undelivered', async () => {
    const { open } = oneProblem();
    const report = await new AlertDelivery({}).deliver([open]);
    expect(report.notifications[0].channels.map((c) => [c.channel, c.status])).toEqual([
      ['slack', 'skipped'],
      ['pagerduty', 'skipped'],
      ['ticket', 'skipped'],
    ]);
    expect(channelOf(report, 0, 'pagerduty')?.detail).toBe(
      'the route pages PagerDuty service sre-primary, but integrations.pagerduty is not configured',
    );
    expect(report).toMatchObject({ delivered: 0, failed: 0, skipped: 3, undelivered: 1 });
    expect(slack.calls).toEqual([]);
    expect(pagerDuty.calls).toEqual([]);
  });
});

describe('the thread store', () => {
  it('keeps one thread per subject and channel, and forgets a thread once it has expired', async () => {
    await threadStore.put('grp-x', '#sre-alerts', { channel: 'C1', ts: '1.1' }, 'grp-x#1');
    await threadStore.put('grp-x', '#sre-critical', { channel: 'C2', ts: '2.2' }, 'grp-x#2');
    expect(await threadStore.get('grp-x', '#sre-alerts')).toEqual({ channel: 'C1', ts: '1.1' });
    expect(await threadStore.get('grp-x', '#sre-critical')).toEqual({ channel: 'C2', ts: '2.2' });
    expect(threadKey('grp-x', '#sre-alerts')).toBe('slack-thread#grp-x##sre-alerts');
    const later = new DynamoAlertThreadStore(dynamo.client, tableName, { now: () => Date.now() + 31 * 86_400_000 });
    expect(await later.get('grp-x', '#sre-alerts')).toBeUndefined();
  });
});

describe('the approval request and the notices of one incident', () => {
  it('share one thread: the request starts it, the notices reply in it, even when the incident joined a group', async () => {
    const threads = slackThreads();
    const unused = async () => {
      throw new Error('not used');
    };
    const messenger = threadedApprovalMessenger(
      { post: unused, update: unused, tell: unused, askRejectReason: unused },
      threads,
      (view) => ({ text: `Approve rollback for ${view.decision.incidentId}?`, blocks: [] }),
    );
    const incidentId = 'inc-20261104T0307-order-api-thread';
    const view = {
      decision: { decisionId: incidentId, incidentId },
      context: {},
      votes: [],
      quorum: {},
    } as unknown as Parameters<typeof messenger.post>[1];
    const request = await messenger.post('#sre-approvals', view);
    const [root] = slack.posts();
    expect(root).toMatchObject({ channel: '#sre-approvals', text: `Approve rollback for ${incidentId}?` });
    expect(root.thread_ts).toBeUndefined();
    expect(request).toEqual({ channel: SlackLoopback.channelId('#sre-approvals'), ts: expect.any(String) });

    // The incident also joined an alert group with its own thread; the notice still goes under the approval.
    await threadStore.put(
      'group-elsewhere',
      '#sre-critical',
      { channel: SlackLoopback.channelId('#sre-critical'), ts: '1700000000.000009' },
      'test',
    );
    const channel = incidentThreadChannel(threads, {
      channel: '#sre-approvals',
      groupThread: { subject: 'group-elsewhere', channelName: '#sre-critical' },
    });
    const sent = await channel.send(
      'NotifyOutcome',
      { incidentId } as never,
      {
        text: 'rolled back; recovered',
      } as never,
    );
    expect(sent.ok).toBe(true);
    const reply = slack.posts()[1];
    expect(reply).toMatchObject({ channel: request.channel, thread_ts: request.ts, text: 'rolled back; recovered' });
  });
});
