// NotificationFanout with real channel adapters against one loopback server that answers as Slack, PagerDuty,
// Jira and a webhook receiver do: concurrency, isolation of failures, fallbacks, redaction, the per-notice policy
// of each channel, and the integrations config that builds them.

import { createServer, type IncomingHttpHeaders, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { JiraCloud } from '../../lambdas/adapters/jira/jira-cloud';
import {
  type ChannelContext,
  channelsFromConfig,
  type FanoutReport,
  jiraChannel,
  type NotificationChannel,
  NotificationFanout,
  noticeText,
  pagerDutyChannel,
  slackChannel,
  webhookChannel,
} from '../../lambdas/adapters/notify/fanout';
import { PagerDutyEvents } from '../../lambdas/adapters/pagerduty/events-v2';
import { SlackWebApi } from '../../lambdas/adapters/slack/web-api';
import { GenericWebhook } from '../../lambdas/adapters/webhook/generic-webhook';
import type { CaseNotice } from '../../lambdas/core/action/ports';
import { integrationsSchema } from '../../lambdas/core/config/integrations-schema';
import type { IncidentCase } from '../../lambdas/core/decision/incident-case';

const INCIDENT = 'inc-20261104T0307-order-api';
const ROUTING_KEY = 'R0a1b2c3d4e5f60718293a4b5c6d7e8f';
const SECRETS: Record<string, string> = {
  'sre-agent/test/pagerduty': ROUTING_KEY,
  'sre-agent/test/jira': 'sre-bot@example.com:ATATT3x-test-token',
  'sre-agent/test/webhook': 'whsec_test_signing_key',
};
const secrets = async (name: string): Promise<string> => {
  const value = SECRETS[name];
  if (value === undefined) throw new Error(`ResourceNotFoundException: ${name}`);
  return value;
};

type Service = 'slack' | 'pagerduty' | 'jira' | 'webhook';

interface Call {
  readonly service: Service;
  readonly method: string;
  readonly path: string;
  readonly headers: IncomingHttpHeaders;
  readonly raw: string;
  readonly body: Record<string, unknown>;
}

let server: Server;
let base: string;
let calls: Call[] = [];
let down = new Set<Service>();
/** Requests held back until this many services have each sent one: a sequential sender would never get there. */
let barrier: { size: number; held: (() => void)[]; seen: Set<Service> } | undefined;
let jiraIssues: { key: string; labels: string[]; done: boolean; comments: number }[] = [];

const json = (response: ServerResponse, status: number, body?: unknown) => {
  if (body === undefined) {
    response.writeHead(status);
    response.end();
    return;
  }
  response.writeHead(status, { 'content-type': 'application/json' });
  response.end(JSON.stringify(body));
};

interface Reply {
  readonly status: number;
  readonly body?: unknown;
}
const reply = (status: number, body: unknown): Reply => ({ status, body });

/** Each service's answer (or failure, when marked down), in the shapes the real APIs use. */
function answer(call: Call): Reply {
  if (call.service === 'slack') {
    if (down.has('slack')) return reply(200, { ok: false, error: 'channel_not_found' });
    return reply(200, { ok: true, channel: 'C0INCIDENTS', ts: '1700000000.000100' });
  }
  if (call.service === 'pagerduty') {
    if (down.has('pagerduty')) return reply(500, { status: 'error', message: 'Internal Server Error' });
    return reply(202, { status: 'success', message: 'Event processed', dedup_key: call.body.dedup_key });
  }
  if (call.service === 'webhook') {
    if (down.has('webhook')) return reply(503, { error: 'receiver down' });
    return { status: 204 };
  }
  if (down.has('jira')) return reply(503, { errorMessages: ['Service Unavailable'], errors: {} });
  const path = call.path.replace(/^\/jira/, '').split('?')[0]!;
  const key = path.split('/')[5] ?? '';
  const issue = jiraIssues.find((i) => i.key === key);
  if (path === '/rest/api/3/search/jql') {
    const label = /labels = "([^"]+)"/.exec(new URL(call.path, base).searchParams.get('jql') ?? '')?.[1] ?? '';
    const found = jiraIssues.filter((i) => i.labels.includes(label));
    return reply(200, {
      issues: found.map((i) => ({ id: i.key.slice(4), key: i.key, self: '' })),
      isLast: true,
    });
  }
  if (path === '/rest/api/3/issue' && call.method === 'POST') {
    const fields = call.body.fields as { labels: string[] };
    const created = { key: `OPS-${jiraIssues.length + 1}`, labels: fields.labels, done: false, comments: 0 };
    jiraIssues.push(created);
    return reply(201, { id: created.key.slice(4), key: created.key, self: '' });
  }
  if (!issue) return reply(404, { errorMessages: ['Issue does not exist'], errors: {} });
  if (path.endsWith('/comment')) {
    issue.comments++;
    return reply(201, { id: String(issue.comments) });
  }
  if (path.endsWith('/transitions') && call.method === 'GET') {
    return reply(200, { transitions: [{ id: '31', name: 'Done' }] });
  }
  if (path.endsWith('/transitions')) {
    issue.done = true;
    return { status: 204 };
  }
  const category = issue.done ? 'done' : 'new';
  return reply(200, {
    key: issue.key,
    fields: { status: { name: issue.done ? 'Done' : 'To Do', statusCategory: { key: category } } },
  });
}

beforeAll(async () => {
  server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const path = request.url ?? '';
      const service: Service = path.startsWith('/slack/')
        ? 'slack'
        : path.startsWith('/pd/')
          ? 'pagerduty'
          : path.startsWith('/jira/')
            ? 'jira'
            : 'webhook';
      const raw = Buffer.concat(chunks).toString('utf8');
      const call: Call = {
        service,
        method: request.method ?? '',
        path,
        headers: request.headers,
        raw,
        body: raw ? (JSON.parse(raw) as Record<string, unknown>) : {},
      };
      calls.push(call);
      const gate = barrier;
      const respond = () => {
        const { status, body } = answer(call);
        json(response, status, body);
      };
      if (!gate) {
        respond();
        return;
      }
      gate.seen.add(service);
      gate.held.push(respond);
      if (gate.seen.size >= gate.size) {
        barrier = undefined;
        for (const release of gate.held) release();
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

beforeEach(() => {
  calls = [];
  down = new Set();
  barrier = undefined;
  jiraIssues = [];
});

const theCase: IncidentCase = {
  incidentId: INCIDENT,
  incident: {
    id: INCIDENT,
    status: 'open',
    kind: 'anomaly',
    openedAt: '2026-11-04T03:07:00Z',
    updatedAt: '2026-11-04T03:07:00Z',
    lastAnomalyAt: '2026-11-04T03:07:00Z',
    services: ['order-api'],
    signals: [],
    version: 1,
  },
  diagnosis: {
    rootCause: { service: 'order-api', kind: 'bad-deploy', confidence: 0.72 },
    candidates: [],
    evidence: [
      'deploy of order-api at 03:03',
      'api_key=sk_live_51Habcdef0123456789 in the failing request from 10.0.3.7',
    ],
    method: 'rules',
  },
  risk: { score: 0.3, tier: 'LOW', factors: [], overrides: [] },
  outcome: 'diagnosis-only',
};

const fast = { timeoutMs: 500, retries: 1, backoffStartMs: 1, maxBackoffMs: 2, sleep: async () => {} };

const slack = (options: { role?: 'primary' | 'fallback' } = {}) =>
  slackChannel(
    new SlackWebApi({ token: async () => 'xoxb-test', baseUrl: `${base}/slack/api/`, ...fast }),
    'C0INCIDENTS',
    options,
  );
const pagerDuty = (options: { role?: 'primary' | 'fallback' } = {}) =>
  pagerDutyChannel(
    new PagerDutyEvents({
      secrets,
      routingKeySecret: 'sre-agent/test/pagerduty',
      url: `${base}/pd/v2/enqueue`,
      ...fast,
    }),
    options,
  );
const webhook = (options: { role?: 'primary' | 'fallback' } = {}) =>
  webhookChannel(
    new GenericWebhook({ secrets, signingSecret: 'sre-agent/test/webhook', url: `${base}/hook`, ...fast }),
    options,
  );
const jira = () =>
  jiraChannel(
    new JiraCloud({
      siteUrl: `${base}/jira`,
      projectKey: 'OPS',
      issueType: 'Task',
      credentialsSecret: 'sre-agent/test/jira',
      doneTransition: 'Done',
      secrets,
      reconcileDelaysMs: [],
      ...fast,
    }),
  );

const callsTo = (service: Service) => calls.filter((c) => c.service === service);
const resultOf = (report: FanoutReport, channel: string) => report.results.find((r) => r.channel === channel);

describe('delivery', () => {
  it('sends to every channel concurrently and reports each', async () => {
    barrier = { size: 3, held: [], seen: new Set() };
    const fanout = new NotificationFanout([slack(), pagerDuty(), webhook()], { deadlineMs: 3_000 });

    const report = await fanout.deliver('Page', theCase);

    expect(report.delivered).toEqual(['slack', 'pagerduty', 'webhook']);
    expect(report.failed).toEqual([]);
    expect(report.undelivered).toBe(false);
    expect(report.results.map((r) => [r.channel, r.role, r.ok, r.skipped])).toEqual([
      ['slack', 'primary', true, false],
      ['pagerduty', 'primary', true, false],
      ['webhook', 'primary', true, false],
    ]);
    expect(resultOf(report, 'pagerduty')!.detail).toBe('trigger accepted after 1 attempt(s)');
    expect(callsTo('pagerduty')[0]!.body).toMatchObject({ event_action: 'trigger', dedup_key: INCIDENT });
    // Page means a person must act: a LOW tier still pages at error severity.
    expect((callsTo('pagerduty')[0]!.body.payload as { severity: string }).severity).toBe('error');
    expect(callsTo('webhook')[0]!.headers['idempotency-key']).toBe(`${INCIDENT}:Page`);
  });

  it('still pages through PagerDuty when Slack fails, and says which channel failed', async () => {
    down.add('slack');
    const reports: FanoutReport[] = [];
    const fanout = new NotificationFanout([slack(), pagerDuty()], { onReport: (r) => reports.push(r) });

    await expect(fanout.notify('Page', theCase)).resolves.toBeUndefined();

    expect(reports).toHaveLength(1);
    const report = reports[0]!;
    expect(report.failed).toEqual(['slack']);
    expect(report.delivered).toEqual(['pagerduty']);
    expect(report.undelivered).toBe(false);
    expect(resultOf(report, 'slack')!.detail).toBe('chat.postMessage: channel_not_found');
    expect(callsTo('pagerduty')).toHaveLength(1);
  });

  it('flags a notice nothing delivered', async () => {
    down = new Set(['slack', 'pagerduty', 'webhook']);

    const report = await new NotificationFanout([slack(), pagerDuty(), webhook()]).deliver('NotifyFailure', theCase);

    expect(report.failed).toEqual(['slack', 'pagerduty', 'webhook']);
    expect(report.delivered).toEqual([]);
    expect(report.undelivered).toBe(true);
    expect(resultOf(report, 'pagerduty')!.detail).toBe(
      'trigger failed: server_error - HTTP 500: Internal Server Error',
    );
    expect(resultOf(report, 'webhook')!.detail).toContain('server_error - HTTP 503');
  });

  it('contains a channel that throws and one that never answers', async () => {
    const throwing: NotificationChannel = {
      name: 'broken',
      send: async () => {
        throw new Error('socket hang up');
      },
    };
    const hanging: NotificationChannel = { name: 'stuck', send: () => new Promise(() => {}) };
    const started = Date.now();

    const report = await new NotificationFanout([throwing, hanging, pagerDuty()], { deadlineMs: 200 }).deliver(
      'Page',
      theCase,
    );

    expect(Date.now() - started).toBeLessThan(2_000);
    expect(report.results.map((r) => [r.channel, r.ok, r.detail])).toEqual([
      ['broken', false, 'threw: socket hang up'],
      ['stuck', false, 'no answer within 200 ms'],
      ['pagerduty', true, 'trigger accepted after 1 attempt(s)'],
    ]);
  });

  it('survives an audit hook that throws', async () => {
    const fanout = new NotificationFanout([pagerDuty()], {
      onReport: () => {
        throw new Error('audit table missing');
      },
    });

    await expect(fanout.notify('Page', theCase)).resolves.toBeUndefined();
    expect(callsTo('pagerduty')).toHaveLength(1);
  });
});

describe('fallback channels', () => {
  it('stay quiet while the primaries deliver', async () => {
    const report = await new NotificationFanout([slack(), webhook({ role: 'fallback' })]).deliver(
      'DiagnosisOnlyReport',
      theCase,
    );

    expect(report.results.map((r) => r.channel)).toEqual(['slack']);
    expect(callsTo('webhook')).toHaveLength(0);
  });

  it('carry the notice when a primary fails, saying which one', async () => {
    down.add('slack');

    const report = await new NotificationFanout([
      slack(),
      webhook({ role: 'fallback' }),
      pagerDuty({ role: 'fallback' }),
    ]).deliver('DiagnosisOnlyReport', theCase);

    expect(report.results.map((r) => [r.channel, r.role, r.ok])).toEqual([
      ['slack', 'primary', false],
      ['webhook', 'fallback', true],
      ['pagerduty', 'fallback', true],
    ]);
    expect(report.delivered).toEqual(['webhook', 'pagerduty']);
    const hook = JSON.parse(callsTo('webhook')[0]!.raw) as { summary: string };
    expect(hook.summary).toContain('(delivered here because slack failed)');
    // PagerDuty does not page for a diagnosis-only report on its own, but does as the fallback.
    const pd = callsTo('pagerduty')[0]!.body as {
      event_action: string;
      payload: { summary: string; custom_details: { notes: string[] } };
    };
    expect(pd.event_action).toBe('trigger');
    expect(pd.payload.summary).toContain('(delivered here because slack failed)');
    expect(pd.payload.custom_details.notes).toEqual(['notice DiagnosisOnlyReport could not be delivered by: slack']);
  });
});

describe('redaction', () => {
  it('hands every channel a redacted case, so nothing secret leaves by any route', async () => {
    const seen: { c: IncidentCase; context: ChannelContext }[] = [];
    const spy: NotificationChannel = {
      name: 'spy',
      send: async (_notice, c, context) => {
        seen.push({ c, context });
        return { ok: true, detail: 'seen' };
      },
    };
    const leaky: IncidentCase = {
      ...theCase,
      rejection: { Error: 'Rejected', Cause: 'on-call ops@example.com says: password=hunter2 is in the plan' },
    };

    const report = await new NotificationFanout([spy, slack(), pagerDuty(), webhook(), jira()]).deliver(
      'RecordRejection',
      leaky,
    );

    expect(report.failed).toEqual([]);
    for (const secret of ['sk_live_51Habcdef0123456789', '10.0.3.7', 'ops@example.com', 'hunter2']) {
      for (const call of calls) expect(call.raw).not.toContain(secret);
      expect(JSON.stringify(seen)).not.toContain(secret);
    }
    expect(seen[0]!.c.diagnosis!.evidence[1]).toBe(
      'api_key=[REDACTED:secret] in the failing request from [REDACTED:ipv4]',
    );
    expect(seen[0]!.context.text).toContain('reason: on-call [REDACTED:email] says: password=[REDACTED:secret]');
    expect(report.redactions.map((f) => f.kind).sort()).toEqual(['email', 'ipv4', 'secret']);
    // The ticket was filed with the redacted case.
    expect(callsTo('jira').some((c) => c.method === 'POST' && c.path === '/jira/rest/api/3/issue')).toBe(true);
  });
});

describe('channel policy', () => {
  it('PagerDuty skips notices that need nobody now, without counting them as failures', async () => {
    const report = await new NotificationFanout([pagerDuty()]).deliver('RecordRejection', theCase);

    expect(report.results).toEqual([
      expect.objectContaining({
        channel: 'pagerduty',
        ok: true,
        skipped: true,
        detail: 'RecordRejection does not page',
      }),
    ]);
    expect(report.delivered).toEqual([]);
    expect(report.failed).toEqual([]);
    expect(report.undelivered).toBe(false);
    expect(callsTo('pagerduty')).toHaveLength(0);
  });

  it.each<[CaseNotice, IncidentCase['outcome'], string]>([
    ['Escalate', 'approval-timed-out', 'trigger'],
    ['NotifyNoRecovery', 'not-recovered', 'trigger'],
    ['NotifyFailure', 'workflow-failed', 'trigger'],
    ['NotifyOutcome', 'remediation-failed', 'trigger'],
    ['NotifyOutcome', 'remediated', 'resolve'],
  ])('PagerDuty answers %s (%s) with %s', async (notice, outcome, action) => {
    await new NotificationFanout([pagerDuty()]).deliver(notice, { ...theCase, outcome });

    expect(callsTo('pagerduty').map((c) => c.body.event_action)).toEqual([action]);
  });

  it('Jira files the ticket once, comments on later notices and closes it on recovery', async () => {
    const fanout = new NotificationFanout([jira()]);

    const first = await fanout.deliver('DiagnosisOnlyReport', theCase);
    const second = await fanout.deliver('Page', theCase);
    const last = await fanout.deliver('NotifyOutcome', { ...theCase, outcome: 'remediated' });

    expect([first, second, last].map((r) => resultOf(r, 'jira')!.detail)).toEqual([
      'filed OPS-1',
      'found OPS-1, commented',
      'found OPS-1, commented, resolved',
    ]);
    expect(jiraIssues).toEqual([
      { key: 'OPS-1', labels: ['sre-agent', `sre-agent-${INCIDENT}`], done: true, comments: 2 },
    ]);
  });

  it('Jira reports a failure with the step that failed', async () => {
    down.add('jira');

    const report = await new NotificationFanout([jira()]).deliver('Page', theCase);

    expect(resultOf(report, 'jira')).toMatchObject({
      ok: false,
      detail: 'ticket: server_error - GET /rest/api/3/search/jql: HTTP 503 - Service Unavailable',
    });
  });
});

describe('noticeText', () => {
  it('says what kind of notice it is, the diagnosis, the tier and the outcome', () => {
    expect(noticeText('Page', theCase)).toBe(
      `A human must act: incident ${INCIDENT}; order-api bad-deploy (confidence 0.72); tier LOW (score 0.3); outcome diagnosis-only`,
    );
  });

  it('describes a case the workflow could not fill in', () => {
    const bare = { incidentId: INCIDENT, failure: { Error: 'States.Timeout' } } as unknown as IncidentCase;

    expect(noticeText('NotifyFailure', bare)).toBe(
      `The incident workflow failed: incident ${INCIDENT}; unknown service, not diagnosed; no tier; failure: States.Timeout`,
    );
  });
});

describe('integrations config', () => {
  it('fills in defaults for the parts left out', () => {
    const config = integrationsSchema.parse({
      pagerduty: { routingKeySecret: 'sre-agent/prod/pagerduty' },
      jira: { siteUrl: 'https://exchange.atlassian.net', projectKey: 'OPS', credentialsSecret: 'sre-agent/prod/jira' },
      webhook: { url: 'https://hooks.example.com/sre', signingSecret: 'sre-agent/prod/webhook' },
    });

    expect(config).toEqual({
      pagerduty: {
        routingKeySecret: 'sre-agent/prod/pagerduty',
        serviceBySeverity: {},
        eventsUrl: 'https://events.pagerduty.com/v2/enqueue',
        timeoutMs: 3000,
        retries: 2,
      },
      jira: {
        siteUrl: 'https://exchange.atlassian.net',
        projectKey: 'OPS',
        issueType: 'Task',
        credentialsSecret: 'sre-agent/prod/jira',
        doneTransition: 'Done',
        resolveWhenRemediated: true,
        timeoutMs: 3000,
        retries: 2,
      },
      webhook: {
        url: 'https://hooks.example.com/sre',
        signingSecret: 'sre-agent/prod/webhook',
        timeoutMs: 3000,
        retries: 2,
      },
      deadlineMs: 20000,
    });
    expect(integrationsSchema.parse({})).toEqual({ deadlineMs: 20000 });
  });

  it.each<[string, unknown, string]>([
    ['a URL that does not parse', { webhook: { url: 'not a url', signingSecret: 's' } }, 'webhook.url'],
    [
      'plain http to a remote host',
      { webhook: { url: 'http://hooks.example.com/sre', signingSecret: 's' } },
      'webhook.url',
    ],
    [
      'a project key Jira would refuse',
      { jira: { siteUrl: 'https://x.atlassian.net', projectKey: 'ops', credentialsSecret: 's' } },
      'jira.projectKey',
    ],
    [
      'an unknown severity',
      { pagerduty: { routingKeySecret: 's', serviceBySeverity: { urgent: 's2' } } },
      'pagerduty.serviceBySeverity',
    ],
    [
      'a worst case longer than the budget',
      { pagerduty: { routingKeySecret: 's', timeoutMs: 8000, retries: 2 } },
      'pagerduty.timeoutMs',
    ],
    [
      'an inline secret field',
      { webhook: { url: 'https://h.example.com', signingSecret: 's', secret: 'x' } },
      'webhook',
    ],
  ])('rejects %s', (_what, input, path) => {
    const result = integrationsSchema.safeParse(input);

    expect(result.success).toBe(false);
    expect(result.error?.issues.map((i) => i.path.join('.'))).toContain(path);
  });

  it('builds working channels from the config', async () => {
    const config = integrationsSchema.parse({
      pagerduty: { routingKeySecret: 'sre-agent/test/pagerduty', eventsUrl: `${base}/pd/v2/enqueue`, retries: 0 },
      jira: { siteUrl: `${base}/jira`, projectKey: 'OPS', credentialsSecret: 'sre-agent/test/jira', retries: 0 },
      webhook: { url: `${base}/hook`, signingSecret: 'sre-agent/test/webhook', retries: 0 },
    });
    const channels = channelsFromConfig(config, { secrets });

    const report = await new NotificationFanout(channels, { deadlineMs: config.deadlineMs }).deliver('Page', theCase);

    expect(channels.map((c) => c.name)).toEqual(['pagerduty', 'jira', 'webhook']);
    expect(report.delivered).toEqual(['pagerduty', 'jira', 'webhook']);
    expect(jiraIssues).toHaveLength(1);
  });
});
