// Integration tests of the Anthropic LlmClient through the real SDK against a loopback server that speaks the
// Messages API (request and error body shapes, Retry-After, a server that never answers), end to end through rerank().

import { createServer, type IncomingHttpHeaders, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { anthropicLlmClient } from '../../lambdas/adapters/llm/anthropic-client';
import type { Candidate } from '../../lambdas/core/cognition/rank';
import { buildRerankRequest, type RerankOutcome, rerank } from '../../lambdas/core/diagnosis/rerank';

const API_KEY = 'sk-ant-api03-loopback-test-key';
const SECRET_NAME = 'sre-agent/anthropic-api-key';
const AWS_KEY = 'AKIAIOSFODNN7EXAMPLE';

interface Received {
  readonly method: string;
  readonly url: string;
  readonly headers: IncomingHttpHeaders;
  readonly body: Record<string, unknown>;
  readonly at: number;
}

type Reply = { readonly status: number; readonly body: unknown; readonly headers?: Record<string, string> } | 'never';

interface Loopback {
  readonly url: string;
  readonly received: Received[];
  close(): Promise<void>;
}

const apiError = (type: string, message: string) => ({ type: 'error', error: { type, message } });

/** Answers POST /v1/messages as the Messages API does: authentication first, then whatever `reply` says. */
async function startApi(reply: (request: Received, index: number) => Reply): Promise<Loopback> {
  const received: Received[] = [];
  const send = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
    res.writeHead(status, {
      'content-type': 'application/json',
      'request-id': `req_loopback_${received.length}`,
      ...headers,
    });
    res.end(JSON.stringify(body));
  };
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      const parsed: unknown = text ? JSON.parse(text) : {};
      const request: Received = {
        method: req.method ?? '',
        url: req.url ?? '',
        headers: req.headers,
        body: typeof parsed === 'object' && parsed !== null ? (parsed as Record<string, unknown>) : {},
        at: Date.now(),
      };
      received.push(request);
      if (request.method !== 'POST' || request.url !== '/v1/messages') {
        send(res, 404, apiError('not_found_error', `Not found: ${request.method} ${request.url}`));
        return;
      }
      // The API takes the key as x-api-key or as a bearer token.
      const bearer = request.headers.authorization?.replace(/^Bearer /, '');
      if (request.headers['x-api-key'] !== API_KEY && bearer !== API_KEY) {
        send(res, 401, apiError('authentication_error', 'invalid x-api-key'));
        return;
      }
      const answer = reply(request, received.length - 1);
      if (answer === 'never') return;
      send(res, answer.status, answer.body, answer.headers);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    received,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function message(content: unknown[], stopReason: string, model = 'claude-sonnet-5-5') {
  return {
    id: 'msg_01XFDUDYJgAACzvnptvVoYEL',
    type: 'message',
    role: 'assistant',
    model,
    content,
    stop_reason: stopReason,
    stop_sequence: null,
    usage: {
      input_tokens: 2095,
      output_tokens: 143,
      cache_creation_input_tokens: 0,
      cache_read_input_tokens: 1436,
    },
  };
}

const toolUse = (input: unknown) =>
  message([{ type: 'tool_use', id: 'toolu_01A09q90qw90lq917835lq9', name: 'report_root_cause', input }], 'tool_use');

const answer = {
  candidateIndex: 1,
  service: 'orders-db',
  kind: 'datastore-saturation',
  confidence: 0.81,
  explanation: 'orders-db is at 498 of 500 connections and order-api times out connecting to it.',
  suggestedActions: ['db-failover'],
};

const candidates: Candidate[] = [
  { service: 'order-api', kind: 'unknown', score: 0.75, evidence: ['first anomalous service'] },
  { service: 'orders-db', kind: 'unknown', score: 0.55, evidence: ['anomalous 2 min after the first'] },
];

const request = buildRerankRequest({
  incident: {
    id: 'inc-20250301T1200-order-api',
    services: ['order-api', 'orders-db'],
    openedAt: '2025-03-01T12:00:00Z',
    onsets: [
      { service: 'order-api', at: '2025-03-01T11:58:00Z' },
      { service: 'orders-db', at: '2025-03-01T12:00:00Z' },
    ],
  },
  candidates,
  evidence: {
    signals: ['orders-db datastore_connections 498/500'],
    deploys: [],
    logSignatures: [`order-api: S3 upload failed for key ${AWS_KEY} (x1200)`],
    kubeEvents: [],
  },
});

let api: Loopback | undefined;
afterEach(async () => {
  await api?.close();
  api = undefined;
});

async function run(
  reply: (request: Received, index: number) => Reply,
  settings: { model?: string; maxRetries?: number; timeoutMs?: number } = {},
): Promise<{ outcome: RerankOutcome; loopback: Loopback; elapsedMs: number }> {
  api = await startApi(reply);
  const client = anthropicLlmClient({
    secrets: async (name) => {
      if (name !== SECRET_NAME) throw new Error(`no secret ${name}`);
      return JSON.stringify({ apiKey: API_KEY });
    },
    apiKeySecret: SECRET_NAME,
    baseUrl: api.url,
    maxRetries: settings.maxRetries ?? 0,
    ...(settings.model === undefined ? {} : { model: settings.model }),
  });
  const started = Date.now();
  const outcome = await rerank(request, client, {
    tokensPerIncident: 30_000,
    maxTokens: 1024,
    timeoutMs: settings.timeoutMs ?? 5_000,
  });
  return { outcome, loopback: api, elapsedMs: Date.now() - started };
}

describe('anthropicLlmClient through rerank()', () => {
  it('posts a Messages request with the key, the version, the tool and cache breakpoints, and reads the answer', async () => {
    const { outcome, loopback } = await run(() => ({ status: 200, body: toolUse(answer) }), {
      model: 'claude-sonnet-4-6',
    });
    expect(loopback.received).toHaveLength(1);
    const [sent] = loopback.received;
    expect(sent.method).toBe('POST');
    expect(sent.url).toBe('/v1/messages');
    // SDK 1.x sends the API key as a bearer token rather than x-api-key; the API takes either.
    expect(sent.headers.authorization).toBe(`Bearer ${API_KEY}`);
    expect(sent.headers['anthropic-version']).toBe('2026-10-21');
    expect(sent.headers['content-type']).toBe('application/json');
    expect(sent.body).toMatchObject({
      model: 'claude-sonnet-4-6',
      max_tokens: 1024,
      tool_choice: { type: 'tool', name: 'report_root_cause', disable_parallel_tool_use: true },
      system: [{ type: 'text', cache_control: { type: 'ephemeral' } }],
      tools: [
        {
          name: 'report_root_cause',
          cache_control: { type: 'ephemeral' },
          input_schema: { type: 'object', additionalProperties: false },
        },
      ],
      messages: [{ role: 'user' }],
    });
    const tools = sent.body.tools as { input_schema: { properties: Record<string, unknown> } }[];
    expect(Object.keys(tools[0].input_schema.properties).sort()).toEqual(
      ['candidateIndex', 'confidence', 'explanation', 'kind', 'service', 'suggestedActions'].sort(),
    );
    // The 2026-10-21 API removed the sampling parameters; sending one would be a 400.
    expect(sent.body).not.toHaveProperty('temperature');
    expect(sent.body).not.toHaveProperty('output_config');
    const wire = JSON.stringify(sent.body);
    expect(wire).toContain('[1] orders-db');
    expect(wire).not.toContain(AWS_KEY);
    expect(wire).toContain('[REDACTED:aws_access_key_id]');

    expect(outcome).toMatchObject({
      source: 'llm',
      chosen: { service: 'orders-db', kind: 'datastore-saturation' },
      ranking: [{ service: 'orders-db' }, { service: 'order-api' }],
      confidence: 0.81,
      suggestedActions: ['db-failover'],
      model: 'claude-sonnet-5-5',
      usage: { inputTokens: 2095, outputTokens: 143, cacheReadTokens: 1436, cacheCreationTokens: 0 },
    });
    expect(outcome.fallbackReason).toBeUndefined();
  });

  it('offers the tool without forcing it, at low effort, on the default model, which rejects a forced choice', async () => {
    const { outcome, loopback } = await run(() => ({ status: 200, body: toolUse(answer) }));
    expect(loopback.received[0].body).toMatchObject({
      model: 'claude-sonnet-5-5',
      tool_choice: { type: 'auto', disable_parallel_tool_use: true },
      output_config: { effort: 'low' },
    });
    expect(outcome.source).toBe('llm');
  });

  it('waits out a 429 Retry-After and succeeds on the SDK retry', async () => {
    const { outcome, loopback } = await run(
      (_, index) =>
        index === 0
          ? {
              status: 429,
              headers: { 'retry-after': '1' },
              body: apiError('rate_limit_error', 'Number of request tokens has exceeded your per-minute rate limit'),
            }
          : { status: 200, body: toolUse(answer) },
      { maxRetries: 2 },
    );
    expect(loopback.received).toHaveLength(2);
    expect(loopback.received[1].headers['x-stainless-retry-count']).toBe('1');
    expect(loopback.received[1].at - loopback.received[0].at).toBeGreaterThanOrEqual(900);
    expect(outcome).toMatchObject({ source: 'llm', chosen: { service: 'orders-db' } });
  });

  it('falls back as rate-limited, with the wait the API asked for, once the retries are used up', async () => {
    const { outcome, loopback } = await run(
      () => ({
        status: 429,
        headers: { 'retry-after': '1' },
        body: apiError('rate_limit_error', 'Number of request tokens has exceeded your per-minute rate limit'),
      }),
      { maxRetries: 1 },
    );
    expect(loopback.received).toHaveLength(2);
    expect(outcome).toMatchObject({
      source: 'rules',
      ranking: candidates,
      chosen: candidates[0],
      fallbackReason: 'rate-limited',
      retryAfterMs: 1000,
    });
    expect(outcome.fallbackDetail).toContain('429 rate_limit_error: Number of request tokens has exceeded');
  });

  it('falls back as overloaded on a 529', async () => {
    const { outcome } = await run(() => ({ status: 529, body: apiError('overloaded_error', 'Overloaded') }));
    expect(outcome).toMatchObject({ source: 'rules', ranking: candidates, fallbackReason: 'overloaded' });
    expect(outcome.fallbackDetail).toBe('the Claude API is overloaded (529 overloaded_error: Overloaded)');
  });

  it('falls back as http on a 400, with the API message', async () => {
    const { outcome } = await run(() => ({
      status: 400,
      body: apiError('invalid_request_error', 'tool_choice: forced tool use is not supported for this model'),
    }));
    expect(outcome).toMatchObject({ source: 'rules', fallbackReason: 'http' });
    expect(outcome.fallbackDetail).toBe(
      'the Claude API answered 400 invalid_request_error: tool_choice: forced tool use is not supported for this model',
    );
  });

  it('falls back as malformed when the reply is text without a tool call', async () => {
    const { outcome } = await run(() => ({
      status: 200,
      body: message([{ type: 'text', text: 'The root cause is most likely orders-db.' }], 'end_turn'),
    }));
    expect(outcome).toMatchObject({
      source: 'rules',
      ranking: candidates,
      fallbackReason: 'malformed',
      fallbackDetail: 'the model called no tool (stop reason end_turn)',
      usage: { inputTokens: 2095, outputTokens: 143 },
    });
  });

  it('falls back as out-of-list when the tool names a service that is not a candidate', async () => {
    const { outcome } = await run(() => ({
      status: 200,
      body: toolUse({ ...answer, candidateIndex: 0, service: 'wallet-api' }),
    }));
    expect(outcome).toMatchObject({ source: 'rules', ranking: candidates, fallbackReason: 'out-of-list' });
    expect(outcome.fallbackDetail).toContain('"wallet-api"');
  });

  it('falls back as timeout, quickly, when the server never answers', async () => {
    const { outcome, elapsedMs, loopback } = await run(() => 'never', { timeoutMs: 300, maxRetries: 0 });
    expect(loopback.received).toHaveLength(1);
    expect(outcome).toMatchObject({
      source: 'rules',
      ranking: candidates,
      fallbackReason: 'timeout',
      fallbackDetail: 'no answer from the Claude API within 300 ms',
    });
    expect(elapsedMs).toBeLessThan(2_000);
  });

  it('falls back as auth when the API refuses the key', async () => {
    api = await startApi(() => ({ status: 200, body: toolUse(answer) }));
    const client = anthropicLlmClient({
      secrets: async () => 'sk-ant-api03-revoked',
      apiKeySecret: SECRET_NAME,
      baseUrl: api.url,
      maxRetries: 0,
    });
    const outcome = await rerank(request, client, { tokensPerIncident: 30_000, maxTokens: 1024, timeoutMs: 5_000 });
    expect(outcome).toMatchObject({ source: 'rules', fallbackReason: 'auth' });
    expect(outcome.fallbackDetail).toContain('401 authentication_error');
  });

  it('falls back as auth without sending anything when the key cannot be read', async () => {
    api = await startApi(() => ({ status: 200, body: toolUse(answer) }));
    const client = anthropicLlmClient({
      secrets: async (name) => {
        throw new Error(`Secrets Manager can't find the specified secret ${name}`);
      },
      apiKeySecret: SECRET_NAME,
      baseUrl: api.url,
      maxRetries: 0,
    });
    const outcome = await rerank(request, client, { tokensPerIncident: 30_000, maxTokens: 1024, timeoutMs: 5_000 });
    expect(outcome).toMatchObject({ source: 'rules', fallbackReason: 'auth' });
    expect(outcome.fallbackDetail).toBe(
      `could not read the API key from secret "${SECRET_NAME}": Secrets Manager can't find the specified secret ${SECRET_NAME}`,
    );
    expect(api.received).toHaveLength(0);
  });
});
