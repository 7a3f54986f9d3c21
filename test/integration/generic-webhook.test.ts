// GenericWebhook against a loopback receiver that verifies the HMAC-SHA256 signature with the shared secret the
// way a third-party receiver would (node:crypto only), rejects stale timestamps and records idempotency keys.

import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  GenericWebhook,
  type GenericWebhookOptions,
  verifyWebhookSignature,
  type WebhookEventBody,
  type WebhookLogEvent,
} from '../../lambdas/adapters/webhook/generic-webhook';
import type { IncidentCase } from '../../lambdas/core/decision/incident-case';

const SIGNING_KEY = 'whsec_6f1e0c9b2a8d4e7f9a0b1c2d3e4f5a6b';
const SECRETS: Record<string, string> = {
  'sre-agent/test/webhook': SIGNING_KEY,
  'sre-agent/test/webhook-json': JSON.stringify({ secret: SIGNING_KEY }),
  'sre-agent/test/webhook-wrong': 'not-the-shared-key',
};
const INCIDENT = 'inc-20261104T0307-order-api';

interface Delivery {
  readonly method: string;
  readonly path: string;
  readonly headers: IncomingHttpHeaders;
  readonly raw: string;
  /** What the receiver concluded from the signature headers. */
  readonly verified: boolean;
}
type Answer = (response: ServerResponse) => void;

let server: Server;
let url: string;
let deliveries: Delivery[] = [];
let queued: Answer[] = [];

const reply =
  (status: number, body = '', headers: Record<string, string> = {}): Answer =>
  (response) => {
    response.writeHead(status, { 'content-type': 'text/plain', ...headers });
    response.end(body);
  };

/** The receiver's check, written from the documented scheme rather than with the sender's helper. */
function receiverVerifies(headers: IncomingHttpHeaders, raw: string): boolean {
  const timestamp = String(headers['x-sre-agent-timestamp'] ?? '');
  const signature = String(headers['x-sre-agent-signature'] ?? '');
  if (!/^\d+$/.test(timestamp) || Math.abs(Date.now() / 1000 - Number(timestamp)) > 300) return false;
  const expected = `sha256=${createHmac('sha256', SIGNING_KEY).update(`${timestamp}.${raw}`).digest('hex')}`;
  return expected.length === signature.length && timingSafeEqual(Buffer.from(expected), Buffer.from(signature));
}

beforeAll(async () => {
  server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const raw = Buffer.concat(chunks).toString('utf8');
      const verified = receiverVerifies(request.headers, raw);
      deliveries.push({
        method: request.method ?? '',
        path: request.url ?? '',
        headers: request.headers,
        raw,
        verified,
      });
      if (!verified) {
        reply(401, 'bad signature')(response);
        return;
      }
      const next = queued.shift();
      if (next) next(response);
      else reply(204)(response);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks/sre-agent`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

beforeEach(() => {
  deliveries = [];
  queued = [];
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
    evidence: ['deploy of order-api at 03:03', 'DB_PASSWORD=s3cr3t-value seen in a crash log from 10.0.3.7'],
    method: 'rules',
  },
  risk: { score: 0.91, tier: 'CRITICAL', factors: [], overrides: [] },
  outcome: 'diagnosis-only',
};

let waits: number[] = [];
let events: WebhookLogEvent[] = [];

function webhook(overrides: Partial<GenericWebhookOptions> = {}): GenericWebhook {
  waits = [];
  events = [];
  return new GenericWebhook({
    url,
    signingSecret: 'sre-agent/test/webhook',
    secrets: async (name) => {
      const value = SECRETS[name];
      if (value === undefined) throw new Error(`ResourceNotFoundException: ${name}`);
      return value;
    },
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

describe('delivery', () => {
  it('posts a signed JSON event the receiver can verify with the shared secret', async () => {
    const result = await webhook().send('Page', theCase);

    expect(result).toEqual({ ok: true, status: 204, attempts: 1, idempotencyKey: `${INCIDENT}:Page` });
    expect(deliveries).toHaveLength(1);
    const delivery = deliveries[0]!;
    expect(delivery.verified).toBe(true);
    expect(delivery.method).toBe('POST');
    expect(delivery.path).toBe('/hooks/sre-agent');
    expect(delivery.headers['content-type']).toBe('application/json');
    expect(delivery.headers['idempotency-key']).toBe(`${INCIDENT}:Page`);
    expect(delivery.headers['x-sre-agent-event']).toBe('Page');
    expect(delivery.headers['x-sre-agent-signature']).toMatch(/^sha256=[0-9a-f]{64}$/);

    const body = JSON.parse(delivery.raw) as WebhookEventBody;
    expect(body).toMatchObject({
      type: 'Page',
      incidentId: INCIDENT,
      tier: 'CRITICAL',
      outcome: 'diagnosis-only',
      summary: `[CRITICAL] order-api: bad-deploy (confidence 0.72) - incident ${INCIDENT} - diagnosis-only`,
    });
    expect(Number.isNaN(Date.parse(body.sentAt))).toBe(false);
    expect(body.case.diagnosis?.rootCause).toEqual({ service: 'order-api', kind: 'bad-deploy', confidence: 0.72 });
  });

  it('redacts the case and the summary before sending', async () => {
    await webhook().send('Page', theCase, 'operator note: token=abc123def456 leaked');

    const raw = deliveries[0]!.raw;
    expect(raw).not.toContain('s3cr3t-value');
    expect(raw).not.toContain('10.0.3.7');
    expect(raw).not.toContain('abc123def456');
    const body = JSON.parse(raw) as WebhookEventBody;
    expect(body.summary).toBe('operator note: token=[REDACTED:secret] leaked');
    expect(body.case.diagnosis?.evidence[1]).toBe(
      'DB_PASSWORD=[REDACTED:secret] seen in a crash log from [REDACTED:ipv4]',
    );
  });

  it('reads a signing secret stored as JSON', async () => {
    const result = await webhook({ signingSecret: 'sre-agent/test/webhook-json' }).send('NotifyOutcome', theCase);

    expect(result.ok).toBe(true);
    expect(deliveries[0]!.verified).toBe(true);
  });

  it('is refused by the receiver when signed with another key, and does not retry that', async () => {
    const result = await webhook({ signingSecret: 'sre-agent/test/webhook-wrong' }).send('Page', theCase);

    expect(deliveries).toHaveLength(1);
    expect(deliveries[0]!.verified).toBe(false);
    expect(result).toEqual({
      ok: false,
      attempts: 1,
      idempotencyKey: `${INCIDENT}:Page`,
      failure: { code: 'rejected', status: 401, detail: 'HTTP 401: bad signature' },
    });
  });

  it('signs a timestamp the receiver rejects once it is stale', async () => {
    const result = await webhook({ now: () => Date.now() - 10 * 60_000 }).send('Page', theCase);

    expect(result).toMatchObject({ ok: false, failure: { code: 'rejected', status: 401 } });
    expect(deliveries[0]!.verified).toBe(false);
  });
});

describe('retries', () => {
  it('retries a 5xx with the same body and idempotency key, each attempt freshly signed', async () => {
    queued.push(reply(502, 'bad gateway'), reply(503, 'unavailable'));

    const result = await webhook().send('Escalate', theCase);

    expect(result).toMatchObject({ ok: true, status: 204, attempts: 3 });
    expect(deliveries).toHaveLength(3);
    expect(deliveries.every((d) => d.verified)).toBe(true);
    expect(new Set(deliveries.map((d) => d.raw)).size).toBe(1);
    expect(deliveries.map((d) => d.headers['idempotency-key'])).toEqual([
      `${INCIDENT}:Escalate`,
      `${INCIDENT}:Escalate`,
      `${INCIDENT}:Escalate`,
    ]);
    expect(events.map((e) => [e.attempt, e.code])).toEqual([
      [1, 'server_error'],
      [2, 'server_error'],
    ]);
  });

  it('honours Retry-After on a 429', async () => {
    queued.push(reply(429, 'slow down', { 'retry-after': '2' }));

    const result = await webhook().send('Page', theCase);

    expect(result).toMatchObject({ ok: true, attempts: 2 });
    expect(waits).toEqual([2000]);
  });

  it('fails at once when Retry-After is beyond the bound', async () => {
    queued.push(reply(429, 'slow down', { 'retry-after': '600' }));

    const result = await webhook().send('Page', theCase);

    expect(result).toMatchObject({ ok: false, attempts: 1, failure: { code: 'rate_limited', status: 429 } });
  });

  it('reports the last failure when every attempt fails', async () => {
    for (let i = 0; i < 3; i++) queued.push(reply(500, 'boom'));

    const result = await webhook().send('Page', theCase);

    expect(result).toEqual({
      ok: false,
      attempts: 3,
      idempotencyKey: `${INCIDENT}:Page`,
      failure: { code: 'server_error', status: 500, detail: 'HTTP 500: boom' },
    });
  });

  it('retries after a timeout', async () => {
    queued.push((response) => {
      setTimeout(() => reply(200, 'ok')(response), 400);
    });

    const result = await webhook({ timeoutMs: 100 }).send('Page', theCase);

    expect(result).toMatchObject({ ok: true, status: 204, attempts: 2 });
    expect(events.map((e) => e.code)).toEqual(['timeout']);
  });

  it('does not call the receiver when the signing secret cannot be read', async () => {
    const result = await webhook({ signingSecret: 'sre-agent/test/missing' }).send('Page', theCase);

    expect(result).toMatchObject({ ok: false, attempts: 0, failure: { code: 'secret_unavailable' } });
    expect(deliveries).toHaveLength(0);
  });
});

describe('verifyWebhookSignature', () => {
  it('accepts what the sender signed and nothing altered', async () => {
    await webhook().send('Page', theCase);
    const { headers, raw } = deliveries[0]!;
    const signed = {
      signature: String(headers['x-sre-agent-signature']),
      timestamp: String(headers['x-sre-agent-timestamp']),
      body: raw,
    };
    const now = Number(signed.timestamp);

    expect(verifyWebhookSignature(SIGNING_KEY, signed, now)).toBe(true);
    expect(verifyWebhookSignature(SIGNING_KEY, { ...signed, body: raw.replace('CRITICAL', 'LOW') }, now)).toBe(false);
    expect(verifyWebhookSignature('another-key', signed, now)).toBe(false);
    expect(verifyWebhookSignature(SIGNING_KEY, { ...signed, timestamp: String(now + 1) }, now)).toBe(false);
    expect(verifyWebhookSignature(SIGNING_KEY, signed, now + 301)).toBe(false);
  });
});
