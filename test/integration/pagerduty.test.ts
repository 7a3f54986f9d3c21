// PagerDutyEvents against a loopback server that validates events and answers as the Events API v2 does:
// 202 on success, 400 "invalid event" with its reasons, 429 and 5xx that a client should retry.

import { createServer, type IncomingHttpHeaders, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  PAGERDUTY_LIMITS,
  type PagerDutyEvent,
  PagerDutyEvents,
  type PagerDutyEventsOptions,
} from '../../lambdas/adapters/pagerduty/events-v2';
import type { IncidentCase } from '../../lambdas/core/decision/incident-case';

const ROUTING_KEY = 'R0a1b2c3d4e5f60718293a4b5c6d7e8f';
const CRITICAL_ROUTING_KEY = 'Rcccccccccccccccccccccccccccccc1';
const SECRETS: Record<string, string> = {
  'sre-agent/test/pagerduty': JSON.stringify({ routingKey: ROUTING_KEY }),
  'sre-agent/test/pagerduty-critical': CRITICAL_ROUTING_KEY,
  'sre-agent/test/pagerduty-short': 'too-short',
};

interface EnqueueCall {
  readonly method: string;
  readonly path: string;
  readonly headers: IncomingHttpHeaders;
  readonly raw: string;
  readonly body: Record<string, unknown>;
}
type Answer = (response: ServerResponse) => void;

let server: Server;
let baseUrl: string;
let calls: EnqueueCall[] = [];
let queued: Answer[] = [];

const json =
  (status: number, body: unknown, headers: Record<string, string> = {}): Answer =>
  (response) => {
    response.writeHead(status, { 'content-type': 'application/json', ...headers });
    response.end(JSON.stringify(body));
  };

/** The checks PagerDuty applies before accepting an event; each broken rule is one entry in `errors`. */
function validate(body: Record<string, unknown>): string[] {
  const errors: string[] = [];
  if (typeof body.routing_key !== 'string' || body.routing_key.length !== 32) {
    errors.push("Length of 'routing_key' is incorrect (should be 32 characters)");
  }
  if (!['trigger', 'acknowledge', 'resolve'].includes(String(body.event_action))) {
    errors.push("'event_action' is invalid (must be one of: trigger, acknowledge, resolve)");
  }
  if (typeof body.dedup_key === 'string' && body.dedup_key.length > PAGERDUTY_LIMITS.dedupKey) {
    errors.push("'dedup_key' is too long");
  }
  if (body.event_action === 'trigger') {
    const payload = (body.payload ?? {}) as Record<string, unknown>;
    if (typeof payload.summary !== 'string' || payload.summary.trim() === '') {
      errors.push("'payload.summary' is missing or blank");
    } else if (payload.summary.length > PAGERDUTY_LIMITS.summary) {
      errors.push("'payload.summary' is too long (maximum is 1024 characters)");
    }
    if (typeof payload.source !== 'string' || payload.source === '')
      errors.push("'payload.source' is missing or blank");
    if (!['critical', 'error', 'warning', 'info'].includes(String(payload.severity))) {
      errors.push("'payload.severity' is invalid (must be one of: critical, error, warning, info)");
    }
  }
  return errors;
}

beforeAll(async () => {
  server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const raw = Buffer.concat(chunks).toString('utf8');
      let body: Record<string, unknown> = {};
      try {
        body = JSON.parse(raw) as Record<string, unknown>;
      } catch {
        json(400, { status: 'invalid event', message: 'Event object is invalid', errors: ['Invalid JSON'] })(response);
        return;
      }
      calls.push({ method: request.method ?? '', path: request.url ?? '', headers: request.headers, raw, body });
      if (request.method !== 'POST' || request.url !== '/v2/enqueue') {
        json(404, { status: 'not found' })(response);
        return;
      }
      const next = queued.shift();
      if (next) {
        next(response);
        return;
      }
      const errors = validate(body);
      if (errors.length > 0) {
        json(400, { status: 'invalid event', message: 'Event object is invalid', errors })(response);
        return;
      }
      json(202, { status: 'success', message: 'Event processed', dedup_key: body.dedup_key })(response);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

beforeEach(() => {
  calls = [];
  queued = [];
});

const theCase: IncidentCase = {
  incidentId: 'inc-20261104T0307-order-api',
  incident: {
    id: 'inc-20261104T0307-order-api',
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
    evidence: ['deploy of order-api at 03:03', 'connection refused by 10.0.3.7:5432 (password=hunter2)'],
    method: 'rules',
  },
  risk: { score: 0.91, tier: 'CRITICAL', factors: [], overrides: ['guardrails: money involved'] },
  outcome: 'diagnosis-only',
};

let waits: number[] = [];
let events: PagerDutyEvent[] = [];

function client(overrides: Partial<PagerDutyEventsOptions> = {}): PagerDutyEvents {
  waits = [];
  events = [];
  return new PagerDutyEvents({
    secrets: async (name) => {
      const value = SECRETS[name];
      if (value === undefined) throw new Error(`ResourceNotFoundException: ${name}`);
      return value;
    },
    routingKeySecret: 'sre-agent/test/pagerduty',
    url: `${baseUrl}/v2/enqueue`,
    group: 'dev',
    timeoutMs: 500,
    retries: 2,
    backoffStartMs: 1,
    maxBackoffMs: 5,
    sleep: async (ms) => {
      waits.push(ms);
    },
    log: (event) => events.push(event),
    ...overrides,
  });
}

describe('trigger', () => {
  it('posts a valid event keyed by the incident id and gets 202', async () => {
    const result = await client().trigger(theCase);

    expect(result).toEqual({
      ok: true,
      action: 'trigger',
      dedupKey: 'inc-20261104T0307-order-api',
      attempts: 1,
      message: 'Event processed',
    });
    expect(calls).toHaveLength(1);
    const call = calls[0]!;
    expect(call.method).toBe('POST');
    expect(call.path).toBe('/v2/enqueue');
    expect(call.headers['content-type']).toBe('application/json');
    expect(call.body).toMatchObject({
      routing_key: ROUTING_KEY,
      event_action: 'trigger',
      dedup_key: 'inc-20261104T0307-order-api',
      client: 'sre-agent',
    });
    const payload = call.body.payload as Record<string, unknown>;
    expect(payload).toMatchObject({
      source: 'order-api',
      severity: 'critical',
      timestamp: '2026-11-04T03:07:00Z',
      component: 'order-api',
      class: 'bad-deploy',
      group: 'dev',
    });
    expect(payload.summary).toBe(
      '[CRITICAL] order-api: bad-deploy (confidence 0.72) - incident inc-20261104T0307-order-api - diagnosis-only',
    );
    const details = payload.custom_details as Record<string, unknown>;
    expect(details.root_cause).toEqual({ service: 'order-api', kind: 'bad-deploy', confidence: 0.72 });
    expect(details.signals).toEqual([
      { signal: 'http_error_ratio', entity: 'order-api', value: 0.2, expected: 0.002, hard_limit_breached: true },
    ]);
    expect(details.risk_overrides).toEqual(['guardrails: money involved']);
  });

  it('redacts secrets and addresses from everything it sends', async () => {
    await client().trigger(theCase);

    const raw = calls[0]!.raw;
    expect(raw).not.toContain('10.0.3.7');
    expect(raw).not.toContain('hunter2');
    const details = (calls[0]!.body.payload as { custom_details: { evidence: string[] } }).custom_details;
    expect(details.evidence[1]).toBe('connection refused by [REDACTED:ipv4]:5432 (password=[REDACTED:secret])');
  });

  it('maps tiers to severities and pages through the service configured for a severity', async () => {
    const pd = client({ serviceBySeverity: { critical: 'sre-agent/test/pagerduty-critical' } });

    await pd.trigger(theCase);
    await pd.trigger({ ...theCase, risk: { score: 0.5, tier: 'MEDIUM', factors: [], overrides: [] } });
    await pd.trigger({ ...theCase, risk: undefined }, { severity: 'info' });

    expect(calls.map((c) => [c.body.routing_key, (c.body.payload as { severity: string }).severity])).toEqual([
      [CRITICAL_ROUTING_KEY, 'critical'],
      [ROUTING_KEY, 'warning'],
      [ROUTING_KEY, 'info'],
    ]);
  });

  it('cuts a long summary to the 1024 characters PagerDuty accepts', async () => {
    const result = await client().trigger(theCase, { summary: `order-api ${'x'.repeat(5000)}` });

    expect(result.ok).toBe(true);
    const summary = (calls[0]!.body.payload as { summary: string }).summary;
    expect(summary).toHaveLength(1024);
    expect(summary.endsWith('…')).toBe(true);
  });

  it('describes a case that failed before it was diagnosed', async () => {
    const failed = {
      incidentId: 'inc-20261104T0307-order-api',
      failure: { Error: 'States.TaskFailed', Cause: 'DynamoDB throttled' },
    } as unknown as IncidentCase;

    const result = await client().trigger(failed);

    expect(result.ok).toBe(true);
    const payload = calls[0]!.body.payload as Record<string, unknown>;
    expect(payload.severity).toBe('error');
    expect(payload.source).toBe('sre-agent');
    expect(payload.summary).toBe(
      '[untiered] unknown service: not yet diagnosed - incident inc-20261104T0307-order-api - workflow failed: States.TaskFailed',
    );
  });
});

describe('acknowledge and resolve', () => {
  it('sends only routing_key, dedup_key and event_action', async () => {
    const pd = client();

    const acked = await pd.acknowledge('inc-20261104T0307-order-api');
    const resolved = await pd.resolve('inc-20261104T0307-order-api');

    expect(acked).toMatchObject({ ok: true, action: 'acknowledge', attempts: 1 });
    expect(resolved).toMatchObject({ ok: true, action: 'resolve', attempts: 1 });
    expect(calls.map((c) => c.body)).toEqual([
      { routing_key: ROUTING_KEY, event_action: 'acknowledge', dedup_key: 'inc-20261104T0307-order-api' },
      { routing_key: ROUTING_KEY, event_action: 'resolve', dedup_key: 'inc-20261104T0307-order-api' },
    ]);
  });

  it('resolves through every configured route, since PagerDuty drops a resolve sent via another key', async () => {
    const result = await client({ serviceBySeverity: { critical: 'sre-agent/test/pagerduty-critical' } }).resolve(
      'inc-20261104T0307-order-api',
    );

    expect(result).toMatchObject({ ok: true, attempts: 2 });
    expect(calls.map((c) => c.body.routing_key).sort()).toEqual([CRITICAL_ROUTING_KEY, ROUTING_KEY].sort());
  });

  it('reports a failed route even when the other accepted', async () => {
    const result = await client({ serviceBySeverity: { warning: 'sre-agent/test/pagerduty-short' } }).resolve(
      'inc-20261104T0307-order-api',
    );

    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.failure.code).toBe('invalid_event');
  });
});

describe('failures', () => {
  it('does not retry a 400 and reports PagerDuty’s reasons', async () => {
    const result = await client({ routingKeySecret: 'sre-agent/test/pagerduty-short' }).trigger(theCase);

    expect(calls).toHaveLength(1);
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.attempts).toBe(1);
    expect(result.failure).toEqual({
      code: 'invalid_event',
      status: 400,
      errors: ["Length of 'routing_key' is incorrect (should be 32 characters)"],
      detail: "HTTP 400: Event object is invalid; Length of 'routing_key' is incorrect (should be 32 characters)",
    });
  });

  it('waits as long as a 429’s Retry-After says, then delivers', async () => {
    queued.push(
      json(
        429,
        { status: 'throttle event', message: 'Requests for this service are arriving too quickly.' },
        { 'retry-after': '1' },
      ),
    );

    const result = await client().trigger(theCase);

    expect(result).toMatchObject({ ok: true, attempts: 2 });
    expect(calls).toHaveLength(2);
    expect(waits).toEqual([1000]);
    expect(events).toEqual([
      {
        type: 'retry',
        action: 'trigger',
        dedupKey: 'inc-20261104T0307-order-api',
        attempt: 1,
        code: 'rate_limited',
        waitMs: 1000,
      },
    ]);
    expect(calls[1]!.raw).toBe(calls[0]!.raw);
  });

  it('retries a 429 without Retry-After on its own backoff', async () => {
    queued.push(json(429, { status: 'throttle event' }), json(429, { status: 'throttle event' }));

    const result = await client().trigger(theCase);

    expect(result).toMatchObject({ ok: true, attempts: 3 });
    expect(waits).toEqual([]);
  });

  it('gives up at once when Retry-After is longer than the bound', async () => {
    queued.push(json(429, { status: 'throttle event' }, { 'retry-after': '120' }));

    const result = await client({ maxRetryAfterMs: 5_000 }).trigger(theCase);

    expect(calls).toHaveLength(1);
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.failure).toMatchObject({
      code: 'rate_limited',
      status: 429,
      detail: 'HTTP 429, retry after 120000 ms',
    });
    expect(waits).toEqual([]);
  });

  it('retries 5xx and reports the last one when every attempt fails', async () => {
    for (let i = 0; i < 3; i++) queued.push(json(500, { status: 'error', message: 'Internal server error' }));

    const result = await client().trigger(theCase);

    expect(calls).toHaveLength(3);
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.attempts).toBe(3);
    expect(result.failure).toMatchObject({
      code: 'server_error',
      status: 500,
      detail: 'HTTP 500: Internal server error',
    });
    expect(events.map((e) => [e.attempt, e.code])).toEqual([
      [1, 'server_error'],
      [2, 'server_error'],
    ]);
  });

  it('retries after a timeout and after a dropped connection', async () => {
    queued.push(
      (response) => {
        setTimeout(() => json(202, { status: 'success', message: 'Event processed' })(response), 400);
      },
      (response) => {
        response.socket?.destroy();
      },
    );

    const result = await client({ timeoutMs: 100 }).trigger(theCase);

    expect(result).toMatchObject({ ok: true, attempts: 3 });
    expect(events.map((e) => e.code)).toEqual(['timeout', 'unreachable']);
  });

  it('reports an unreadable routing-key secret without calling PagerDuty', async () => {
    const result = await client({ routingKeySecret: 'sre-agent/test/missing' }).trigger(theCase);

    expect(calls).toHaveLength(0);
    expect(result).toMatchObject({
      ok: false,
      attempts: 0,
      failure: { code: 'routing_key_unavailable', detail: expect.stringContaining('sre-agent/test/missing') },
    });
  });

  it('never leaks the routing key into a failure', async () => {
    for (let i = 0; i < 3; i++) queued.push(json(503, { status: 'unavailable' }));

    const result = await client().trigger(theCase);

    expect(JSON.stringify(result)).not.toContain(ROUTING_KEY);
  });
});
