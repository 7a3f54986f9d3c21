// JiraCloud against a loopback Jira that keeps issues, checks basic auth, validates create bodies (ADF included),
// lags its search index behind writes as Jira Cloud does, and can lose answers after a write has landed.

import { createServer, type IncomingHttpHeaders, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  type AdfNode,
  incidentLabel,
  JiraCloud,
  type JiraCloudOptions,
  type JiraEvent,
} from '../../lambdas/adapters/jira/jira-cloud';
import type { IncidentCase } from '../../lambdas/core/decision/incident-case';

const EMAIL = 'sre-bot@example.com';
const API_TOKEN = 'ATATT3xFfGF0-test-token';
const SECRET_NAME = 'sre-agent/test/jira';
const INCIDENT = 'inc-20261104T0307-order-api';

type Route = 'search' | 'create' | 'status' | 'transitions' | 'transition' | 'comment';

interface JiraCall {
  readonly route: Route | 'unknown';
  readonly method: string;
  readonly url: URL;
  readonly headers: IncomingHttpHeaders;
  readonly body: Record<string, unknown> | undefined;
}

interface StoredIssue {
  readonly id: string;
  readonly key: string;
  readonly self: string;
  readonly fields: Record<string, unknown>;
  status: { name: string; category: 'new' | 'indeterminate' | 'done' };
  readonly comments: unknown[];
  /** When search starts to see it. */
  readonly indexedAt: number;
}

/** What the server does with the next request on a route instead of its usual answer. */
type Fault =
  | {
      readonly kind: 'answer';
      readonly status: number;
      readonly body?: unknown;
      readonly headers?: Record<string, string>;
      readonly apply?: boolean;
    }
  | { readonly kind: 'late'; readonly ms: number; readonly apply: boolean }
  | { readonly kind: 'drop'; readonly apply: boolean };

let server: Server;
let siteUrl: string;
let calls: JiraCall[] = [];
let issues: StoredIssue[] = [];
let faults = new Map<Route, Fault[]>();
let indexLagMs = 0;
let counter = 0;

const TRANSITIONS = [
  { id: '11', name: 'To Do', to: { name: 'To Do', statusCategory: { key: 'new' } } },
  { id: '21', name: 'In Progress', to: { name: 'In Progress', statusCategory: { key: 'indeterminate' } } },
  { id: '31', name: 'Done', to: { name: 'Done', statusCategory: { key: 'done' } } },
] as const;

function fault(route: Route, ...next: Fault[]): void {
  faults.set(route, [...(faults.get(route) ?? []), ...next]);
}

const send = (response: ServerResponse, status: number, body?: unknown, headers: Record<string, string> = {}) => {
  if (body === undefined) {
    response.writeHead(status, headers);
    response.end();
    return;
  }
  response.writeHead(status, { 'content-type': 'application/json;charset=UTF-8', ...headers });
  response.end(JSON.stringify(body));
};

/** ADF as Jira checks it: a doc of version 1, every node typed, no empty text nodes. */
function adfProblem(doc: unknown): string | undefined {
  const d = doc as { type?: unknown; version?: unknown; content?: unknown };
  if (d?.type !== 'doc' || d.version !== 1 || !Array.isArray(d.content))
    return 'Operation value must be an Atlassian Document';
  const walk = (node: AdfNode): string | undefined => {
    if (typeof node.type !== 'string') return 'INVALID_INPUT';
    if (node.type === 'text' && (typeof node.text !== 'string' || node.text === '')) return 'INVALID_INPUT';
    for (const child of node.content ?? []) {
      const problem = walk(child);
      if (problem) return problem;
    }
    return undefined;
  };
  for (const node of d.content as AdfNode[]) {
    const problem = walk(node);
    if (problem) return problem;
  }
  return undefined;
}

function createIssue(body: Record<string, unknown> | undefined): { status: number; answer: unknown } {
  const fields = (body?.fields ?? {}) as Record<string, unknown>;
  const errors: Record<string, string> = {};
  if ((fields.project as { key?: unknown } | undefined)?.key !== 'OPS') errors.project = 'valid project is required';
  if (!['Task', 'Bug', 'Incident'].includes(String((fields.issuetype as { name?: unknown } | undefined)?.name))) {
    errors.issuetype = 'Specify a valid issue type';
  }
  if (typeof fields.summary !== 'string' || fields.summary.trim() === '') {
    errors.summary = 'You must specify a summary of the issue.';
  } else if (fields.summary.length > 255) {
    errors.summary = 'Summary must be less than 255 characters.';
  }
  const descriptionProblem = adfProblem(fields.description);
  if (descriptionProblem) errors.description = descriptionProblem;
  const labels = fields.labels;
  if (!Array.isArray(labels) || labels.some((l) => typeof l !== 'string' || /\s/.test(l))) {
    errors.labels = 'The label cannot contain spaces.';
  }
  if (Object.keys(errors).length > 0) return { status: 400, answer: { errorMessages: [], errors } };
  counter++;
  const issue: StoredIssue = {
    id: String(10_000 + counter),
    key: `OPS-${counter}`,
    self: `${siteUrl}/rest/api/3/issue/${10_000 + counter}`,
    fields,
    status: { name: 'To Do', category: 'new' },
    comments: [],
    indexedAt: Date.now() + indexLagMs,
  };
  issues.push(issue);
  return { status: 201, answer: { id: issue.id, key: issue.key, self: issue.self } };
}

const byKey = (key: string) => issues.find((i) => i.key === decodeURIComponent(key));
const notFound = { errorMessages: ['Issue does not exist or you do not have permission to see it.'], errors: {} };

/** The usual answer of each route; `apply` false means the request is dropped before it changes anything. */
function handle(call: JiraCall): { status: number; answer?: unknown } {
  const path = call.url.pathname;
  switch (call.route) {
    case 'search': {
      const jql = call.url.searchParams.get('jql') ?? '';
      const label = /labels = "([^"]+)"/.exec(jql)?.[1];
      if (!label)
        return {
          status: 400,
          answer: { errorMessages: ["Error in the JQL Query: Expecting a 'labels' clause."], errors: {} },
        };
      const now = Date.now();
      const max = Number(call.url.searchParams.get('maxResults') ?? '50');
      const found = issues
        .filter((i) => i.indexedAt <= now && (i.fields.labels as string[]).includes(label))
        .slice(0, max)
        .map((i) => ({
          id: i.id,
          key: i.key,
          self: i.self,
          fields: {
            summary: i.fields.summary,
            status: { name: i.status.name, statusCategory: { key: i.status.category } },
          },
        }));
      return { status: 200, answer: { issues: found, isLast: true } };
    }
    case 'create': {
      const created = createIssue(call.body);
      return { status: created.status, answer: created.answer };
    }
    case 'status': {
      const issue = byKey(path.split('/')[5]!);
      if (!issue) return { status: 404, answer: notFound };
      return {
        status: 200,
        answer: {
          id: issue.id,
          key: issue.key,
          self: issue.self,
          fields: { status: { name: issue.status.name, statusCategory: { key: issue.status.category } } },
        },
      };
    }
    case 'transitions': {
      const issue = byKey(path.split('/')[5]!);
      if (!issue) return { status: 404, answer: notFound };
      return {
        status: 200,
        answer: { expand: 'transitions', transitions: TRANSITIONS.filter((t) => t.name !== issue.status.name) },
      };
    }
    case 'transition': {
      const issue = byKey(path.split('/')[5]!);
      if (!issue) return { status: 404, answer: notFound };
      const id = (call.body?.transition as { id?: unknown } | undefined)?.id;
      const transition = TRANSITIONS.find((t) => t.id === id && t.name !== issue.status.name);
      if (!transition) {
        return {
          status: 400,
          answer: { errorMessages: [`Transition id '${String(id)}' is not valid for this issue.`], errors: {} },
        };
      }
      issue.status = { name: transition.to.name, category: transition.to.statusCategory.key };
      return { status: 204 };
    }
    case 'comment': {
      const issue = byKey(path.split('/')[5]!);
      if (!issue) return { status: 404, answer: notFound };
      const problem = adfProblem(call.body?.body);
      if (problem) return { status: 400, answer: { errorMessages: [], errors: { comment: problem } } };
      issue.comments.push(call.body?.body);
      return { status: 201, answer: { id: String(20_000 + issue.comments.length), body: call.body?.body } };
    }
    default:
      return { status: 404, answer: { errorMessages: ['No route'], errors: {} } };
  }
}

function routeOf(method: string, path: string): Route | 'unknown' {
  if (method === 'GET' && path === '/rest/api/3/search/jql') return 'search';
  if (method === 'POST' && path === '/rest/api/3/issue') return 'create';
  if (method === 'GET' && /^\/rest\/api\/3\/issue\/[^/]+$/.test(path)) return 'status';
  if (method === 'GET' && /^\/rest\/api\/3\/issue\/[^/]+\/transitions$/.test(path)) return 'transitions';
  if (method === 'POST' && /^\/rest\/api\/3\/issue\/[^/]+\/transitions$/.test(path)) return 'transition';
  if (method === 'POST' && /^\/rest\/api\/3\/issue\/[^/]+\/comment$/.test(path)) return 'comment';
  return 'unknown';
}

beforeAll(async () => {
  server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const raw = Buffer.concat(chunks).toString('utf8');
      const url = new URL(request.url ?? '/', siteUrl);
      const method = request.method ?? '';
      const call: JiraCall = {
        route: routeOf(method, url.pathname),
        method,
        url,
        headers: request.headers,
        body: raw ? (JSON.parse(raw) as Record<string, unknown>) : undefined,
      };
      calls.push(call);
      const expected = `Basic ${Buffer.from(`${EMAIL}:${API_TOKEN}`).toString('base64')}`;
      if (request.headers.authorization !== expected) {
        response.writeHead(401, { 'content-type': 'text/plain;charset=UTF-8' });
        response.end('Client must be authenticated to access this resource.');
        return;
      }
      if (raw && request.headers['content-type'] !== 'application/json') {
        send(response, 415, { errorMessages: ['Unsupported media type'], errors: {} });
        return;
      }
      const next = call.route === 'unknown' ? undefined : faults.get(call.route)?.shift();
      if (!next) {
        const { status, answer } = handle(call);
        send(response, status, answer);
        return;
      }
      if (next.kind === 'answer') {
        if (next.apply) handle(call);
        send(response, next.status, next.body, next.headers);
      } else if (next.kind === 'late') {
        // The write lands now; its answer arrives after the client has given up.
        const { status, answer } = next.apply ? handle(call) : { status: 503, answer: undefined };
        setTimeout(() => send(response, status, answer), next.ms);
      } else {
        if (next.apply) handle(call);
        response.socket?.destroy();
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  siteUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

beforeEach(() => {
  calls = [];
  issues = [];
  faults = new Map();
  indexLagMs = 0;
  counter = 0;
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
    services: ['order-api', 'api-gateway'],
    signals: [
      {
        key: 'http_error_ratio{order-api}',
        signalId: 'http_error_ratio',
        entity: 'order-api',
        firstAnomalousAt: '2026-11-04T03:04:00Z',
        lastRaisedAt: '2026-11-04T03:07:00Z',
        peakZ: 41.5,
        peakScore: 0.93,
        valueAtPeak: 0.2,
        expectedAtPeak: 0.002,
        hardLimitBreached: true,
      },
    ],
    version: 1,
  },
  diagnosis: {
    rootCause: { service: 'order-api', kind: 'bad-deploy', confidence: 0.72 },
    candidates: [],
    evidence: ['first anomalous service', 'deploy of order-api at 03:03', 'upstream 10.0.3.7 refused connections'],
    method: 'rules',
  },
  plan: [
    {
      action: 'rollback',
      service: 'order-api',
      target: { namespace: 'trading', kind: 'deployment', name: 'order-api' },
      params: {},
      reason: 'release at 03:03 precedes the errors',
    },
  ],
  risk: { score: 0.52, tier: 'MEDIUM', factors: [], overrides: [] },
};

let events: JiraEvent[] = [];
let waits: number[] = [];

function jira(overrides: Partial<JiraCloudOptions> = {}): JiraCloud {
  events = [];
  waits = [];
  return new JiraCloud({
    siteUrl: `${siteUrl}/`,
    projectKey: 'OPS',
    issueType: 'Task',
    credentialsSecret: SECRET_NAME,
    doneTransition: 'done',
    secrets: async (name) => {
      if (name !== SECRET_NAME) throw new Error(`ResourceNotFoundException: ${name}`);
      return JSON.stringify({ email: EMAIL, apiToken: API_TOKEN });
    },
    timeoutMs: 150,
    retries: 2,
    backoffStartMs: 1,
    maxBackoffMs: 5,
    reconcileDelaysMs: [],
    log: (event) => events.push(event),
    ...overrides,
  });
}

/** Records a wait and really waits it, capped, so time-based behaviour such as index lag plays out. */
const recordingSleep = (ms: number) => {
  waits.push(ms);
  return new Promise<void>((resolve) => setTimeout(resolve, Math.min(ms, 500)));
};

const routes = () => calls.map((c) => c.route);

function seedIssue(label: string): StoredIssue {
  const issue: StoredIssue = {
    id: '10500',
    key: 'OPS-500',
    self: `${siteUrl}/rest/api/3/issue/10500`,
    fields: { summary: 'filed earlier', labels: ['sre-agent', label] },
    status: { name: 'To Do', category: 'new' },
    comments: [],
    indexedAt: 0,
  };
  issues.push(issue);
  return issue;
}

/** The text of every text node under `node`, concatenated. */
const textOf = (node: AdfNode): string => (node.text ?? '') + (node.content ?? []).map(textOf).join('');

describe('ensureIssue', () => {
  it('searches by the incident label, finds nothing and creates one ticket with the case in ADF', async () => {
    const result = await jira().ensureIssue(theCase);

    expect(result).toEqual({
      ok: true,
      outcome: 'created',
      issue: { id: '10001', key: 'OPS-1', self: `${siteUrl}/rest/api/3/issue/10001` },
    });
    expect(routes()).toEqual(['search', 'create']);
    const [search, create] = calls;
    expect(search!.url.searchParams.get('jql')).toBe(`labels = "sre-agent-${INCIDENT}" ORDER BY created ASC`);
    expect(search!.headers.accept).toBe('application/json');
    expect(create!.headers['content-type']).toBe('application/json');
    expect(create!.headers.authorization).toBe(`Basic ${Buffer.from(`${EMAIL}:${API_TOKEN}`).toString('base64')}`);

    const fields = create!.body!.fields as Record<string, unknown>;
    expect(fields.project).toEqual({ key: 'OPS' });
    expect(fields.issuetype).toEqual({ name: 'Task' });
    expect(fields.summary).toBe(`[MEDIUM] order-api: bad-deploy (${INCIDENT})`);
    expect(fields.labels).toEqual(['sre-agent', `sre-agent-${INCIDENT}`]);

    const description = fields.description as { type: string; version: number; content: AdfNode[] };
    expect(description.type).toBe('doc');
    expect(description.version).toBe(1);
    const headings = description.content.filter((n) => n.type === 'heading');
    expect(headings.map(textOf)).toEqual(['Diagnosis', 'Evidence', 'Signals', 'Plan', 'Risk']);
    expect(headings.every((h) => h.attrs?.level === 3)).toBe(true);
    const evidenceAt = description.content.findIndex((n) => n.type === 'heading' && textOf(n) === 'Evidence');
    const evidence = description.content[evidenceAt + 1]!;
    expect(evidence.type).toBe('bulletList');
    expect(evidence.content!.map((item) => item.type)).toEqual(['listItem', 'listItem', 'listItem']);
    expect(evidence.content!.map((item) => item.content![0]!.type)).toEqual(['paragraph', 'paragraph', 'paragraph']);
    expect(evidence.content!.map(textOf)).toEqual([
      'first anomalous service',
      'deploy of order-api at 03:03',
      'upstream [REDACTED:ipv4] refused connections',
    ]);
    const diagnosis = description.content[description.content.findIndex((n) => textOf(n) === 'Diagnosis') + 1]!;
    expect(diagnosis.content).toEqual([
      { type: 'text', text: 'Root cause: ' },
      { type: 'text', text: 'order-api', marks: [{ type: 'strong' }] },
      { type: 'text', text: ' - bad-deploy, confidence 0.72 (rules).' },
    ]);
    expect(JSON.stringify(create!.body)).not.toContain('10.0.3.7');
    expect(issues).toHaveLength(1);
  });

  it('returns the existing ticket and creates nothing', async () => {
    seedIssue(incidentLabel(INCIDENT));

    const result = await jira().ensureIssue(theCase);

    expect(result).toMatchObject({ ok: true, outcome: 'existing', issue: { key: 'OPS-500', id: '10500' } });
    expect(routes()).toEqual(['search']);
    expect(issues).toHaveLength(1);
  });

  it('never files a second ticket when the call is repeated, even by a fresh process', async () => {
    const first = await jira().ensureIssue(theCase);
    const again = await jira().ensureIssue(theCase);

    expect(first).toMatchObject({ ok: true, outcome: 'created', issue: { key: 'OPS-1' } });
    expect(again).toMatchObject({ ok: true, outcome: 'existing', issue: { key: 'OPS-1' } });
    expect(issues).toHaveLength(1);
  });

  it('finds the ticket a timed-out create stored instead of creating a second one', async () => {
    fault('create', { kind: 'late', ms: 400, apply: true });

    const result = await jira({ timeoutMs: 150 }).ensureIssue(theCase);

    expect(result).toMatchObject({ ok: true, outcome: 'recovered', issue: { key: 'OPS-1' } });
    expect(routes()).toEqual(['search', 'create', 'search']);
    expect(issues).toHaveLength(1);
  });

  it('waits out search-index lag after a 500 whose create landed', async () => {
    indexLagMs = 150;
    fault('create', {
      kind: 'answer',
      status: 500,
      body: { errorMessages: ['Internal server error'], errors: {} },
      apply: true,
    });

    const result = await jira({ reconcileDelaysMs: [20, 300], sleep: recordingSleep }).ensureIssue(theCase);

    expect(result).toMatchObject({ ok: true, outcome: 'recovered', issue: { key: 'OPS-1' } });
    expect(routes()).toEqual(['search', 'create', 'search', 'search', 'search']);
    expect(events.filter((e) => e.type === 'reconcile')).toEqual([
      { type: 'reconcile', incidentId: INCIDENT, found: false, search: 1 },
      { type: 'reconcile', incidentId: INCIDENT, found: false, search: 2 },
      { type: 'reconcile', incidentId: INCIDENT, found: true, search: 3 },
    ]);
    expect(waits).toEqual([20, 300]);
    expect(issues).toHaveLength(1);
  });

  it('finds the ticket after a dropped connection whose create landed', async () => {
    fault('create', { kind: 'drop', apply: true });

    const result = await jira().ensureIssue(theCase);

    expect(result).toMatchObject({ ok: true, outcome: 'recovered' });
    expect(issues).toHaveLength(1);
  });

  it('creates again when the search confirms a failed create did not land', async () => {
    fault('create', { kind: 'answer', status: 503, body: { errorMessages: ['Service Unavailable'], errors: {} } });

    const result = await jira().ensureIssue(theCase);

    expect(result).toMatchObject({ ok: true, outcome: 'created', issue: { key: 'OPS-1' } });
    expect(routes()).toEqual(['search', 'create', 'search', 'create']);
    expect(issues).toHaveLength(1);
  });

  it('creates nothing more when the create may have landed and the search cannot tell', async () => {
    fault('create', { kind: 'late', ms: 400, apply: true });
    const searchDown = {
      kind: 'answer',
      status: 500,
      body: { errorMessages: ['search unavailable'], errors: {} },
    } as const;
    fault(
      'search',
      { kind: 'answer', status: 200, body: { issues: [], isLast: true } },
      searchDown,
      searchDown,
      searchDown,
    );

    const result = await jira().ensureIssue(theCase);

    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.failure.code).toBe('create_unconfirmed');
    expect(result.failure.detail).toContain('no answer within 150 ms');
    expect(result.failure.detail).toContain('search unavailable');
    expect(routes().filter((r) => r === 'create')).toHaveLength(1);
    expect(issues).toHaveLength(1);
  });

  it('honours Retry-After on a 429, and retries a rate-limited create without searching again', async () => {
    fault('search', {
      kind: 'answer',
      status: 429,
      body: { errorMessages: ['Rate limit exceeded.'], errors: {} },
      headers: { 'retry-after': '1' },
    });
    fault('create', {
      kind: 'answer',
      status: 429,
      body: { errorMessages: ['Rate limit exceeded.'], errors: {} },
      headers: { 'retry-after': '2' },
    });

    const result = await jira({ sleep: async (ms) => void waits.push(ms) }).ensureIssue(theCase);

    expect(result).toMatchObject({ ok: true, outcome: 'created' });
    expect(routes()).toEqual(['search', 'search', 'create', 'create']);
    expect(waits).toEqual([1000, 2000]);
    expect(
      events.filter((e) => e.type === 'retry').map((e) => e.type === 'retry' && [e.operation, e.code, e.waitMs]),
    ).toEqual([
      ['search', 'rate_limited', 1000],
      ['create', 'rate_limited', 2000],
    ]);
    expect(issues).toHaveLength(1);
  });

  it('reports 400 field errors by field name and does not retry them', async () => {
    const result = await jira({ issueType: 'Story' }).ensureIssue(theCase);

    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.failure).toEqual({
      code: 'bad_request',
      status: 400,
      errorMessages: [],
      fieldErrors: { issuetype: 'Specify a valid issue type' },
      detail: 'POST /rest/api/3/issue: HTTP 400 - issuetype: Specify a valid issue type',
    });
    expect(routes()).toEqual(['search', 'create']);
    expect(issues).toHaveLength(0);
  });

  it('reports rejected credentials with what Jira said', async () => {
    const result = await jira({
      secrets: async () => `${EMAIL}:wrong-token`,
    }).ensureIssue(theCase);

    expect(result).toMatchObject({
      ok: false,
      failure: {
        code: 'unauthorized',
        status: 401,
        detail: 'GET /rest/api/3/search/jql: HTTP 401 - Client must be authenticated to access this resource.',
      },
    });
    expect(calls).toHaveLength(1);
  });

  it('reports an unreadable credentials secret without calling Jira', async () => {
    const result = await jira({ secrets: async () => 'no-colon-here' }).ensureIssue(theCase);

    expect(result).toMatchObject({ ok: false, failure: { code: 'credentials_unavailable' } });
    expect(calls).toHaveLength(0);
  });
});

describe('comment', () => {
  it('adds an ADF comment to the incident’s ticket, one paragraph per line, redacted', async () => {
    const issue = seedIssue(incidentLabel(INCIDENT));

    const result = await jira().comment(INCIDENT, 'Rollback started.\n\nTarget db at 10.0.3.7 answered again.');

    expect(result).toEqual({ ok: true, issue: { id: '10500', key: 'OPS-500', self: issue.self }, commentId: '20001' });
    expect(issue.comments).toEqual([
      {
        type: 'doc',
        version: 1,
        content: [
          { type: 'paragraph', content: [{ type: 'text', text: 'Rollback started.' }] },
          { type: 'paragraph', content: [{ type: 'text', text: 'Target db at [REDACTED:ipv4] answered again.' }] },
        ],
      },
    ]);
    expect(calls.at(-1)!.url.pathname).toBe('/rest/api/3/issue/OPS-500/comment');
  });

  it('comments on a ticket it just created although search does not show it yet', async () => {
    indexLagMs = 60_000;
    const client = jira();

    await client.ensureIssue(theCase);
    const result = await client.comment(INCIDENT, 'Plan approved.');

    expect(result).toMatchObject({ ok: true, issue: { key: 'OPS-1' } });
    expect(issues[0]!.comments).toHaveLength(1);
  });

  it('fails cleanly when the incident has no ticket', async () => {
    const result = await jira().comment('inc-unknown', 'hello');

    expect(result).toMatchObject({ ok: false, failure: { code: 'issue_not_found' } });
    expect(routes()).toEqual(['search']);
  });
});

describe('resolve', () => {
  it('looks the done transition up by name and applies it', async () => {
    const issue = seedIssue(incidentLabel(INCIDENT));

    const result = await jira().resolve(INCIDENT);

    expect(result).toMatchObject({ ok: true, transitioned: true, issue: { key: 'OPS-500' } });
    expect(routes()).toEqual(['search', 'status', 'transitions', 'transition']);
    expect(calls.at(-1)!.body).toEqual({ transition: { id: '31' } });
    expect(calls.at(-1)!.headers['content-type']).toBe('application/json');
    expect(issue.status).toEqual({ name: 'Done', category: 'done' });
  });

  it('leaves a ticket that is already done alone', async () => {
    const issue = seedIssue(incidentLabel(INCIDENT));
    issue.status = { name: 'Done', category: 'done' };

    const result = await jira().resolve(INCIDENT);

    expect(result).toMatchObject({ ok: true, transitioned: false });
    expect(routes()).toEqual(['search', 'status']);
  });

  it('names the transitions on offer when the configured one is not among them', async () => {
    seedIssue(incidentLabel(INCIDENT));

    const result = await jira({ doneTransition: 'Close Issue' }).resolve(INCIDENT);

    expect(result).toMatchObject({
      ok: false,
      failure: {
        code: 'transition_not_found',
        detail: 'OPS-500 in status "To Do" has no transition "Close Issue" (available: "In Progress", "Done")',
      },
    });
    expect(routes()).not.toContain('transition');
  });

  it('sees that a transition whose answer was lost did land, and does not apply it twice', async () => {
    const issue = seedIssue(incidentLabel(INCIDENT));
    fault('transition', { kind: 'late', ms: 400, apply: true });

    const result = await jira().resolve(INCIDENT);

    expect(result).toMatchObject({ ok: true, transitioned: true });
    expect(routes()).toEqual(['search', 'status', 'transitions', 'transition', 'status']);
    expect(issue.status.category).toBe('done');
  });
});
