// PrometheusHttpSource against a loopback server that speaks the Prometheus HTTP API wire format.

import { createHash, createHmac } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  createMetricSource,
  MAX_RETRY_AFTER_MS,
  type MetricSourceEvent,
  PrometheusHttpSource,
  type PrometheusHttpSourceDeps,
  parseRetryAfter,
  parseSampleValue,
  regionFromAmpUrl,
} from '../../lambdas/adapters/prometheus/http-metric-source';
import { metricSourceSchema } from '../../lambdas/core/config/schema';
import type { MetricQueryError } from '../../lambdas/core/perception/metric-source';
import type { Result } from '../../lambdas/core/result';

interface Received {
  readonly method: string;
  readonly path: string;
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
  readonly form: URLSearchParams;
}
type Handler = (request: Received, response: ServerResponse) => void;

let server: Server;
let baseUrl: string;
let received: Received[] = [];
let handlers: Handler[] = [];

/** Each request takes the next handler; the last one answers every request after it. */
function answer(...next: Handler[]): void {
  handlers = next;
}

function json(status: number, body: unknown, headers: Record<string, string> = {}): Handler {
  return (_request, response) => {
    response.writeHead(status, { 'content-type': 'application/json', ...headers });
    response.end(JSON.stringify(body));
  };
}

function text(status: number, body: string, headers: Record<string, string> = {}): Handler {
  return (_request, response) => {
    response.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', ...headers });
    response.end(body);
  };
}

const success = (data: unknown, extra: Record<string, unknown> = {}) =>
  json(200, { status: 'success', data, ...extra });

beforeAll(async () => {
  server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const entry: Received = {
        method: request.method ?? '',
        path: request.url ?? '',
        headers: request.headers,
        body,
        form: new URLSearchParams(body),
      };
      received.push(entry);
      const handler = handlers.length > 1 ? handlers.shift()! : handlers[0];
      if (handler) handler(entry, response);
      else text(500, 'no handler')(entry, response);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

beforeEach(() => {
  received = [];
  handlers = [];
});

function source(overrides: Record<string, unknown> = {}, deps: PrometheusHttpSourceDeps = {}): PrometheusHttpSource {
  const config = metricSourceSchema.parse({ flavor: 'prometheus', url: baseUrl, retries: 2, ...overrides });
  return new PrometheusHttpSource(config, { backoffStartMs: 5, ...deps });
}

function expectOk<T>(result: Result<T, MetricQueryError>): T {
  if (!result.ok) throw new Error(`expected success, got ${JSON.stringify(result.error)}`);
  return result.value;
}

function expectFail<T>(result: Result<T, MetricQueryError>): MetricQueryError {
  if (result.ok) throw new Error(`expected a failure, got ${JSON.stringify(result.value)}`);
  return result.error;
}

const T = 1_714_566_896.5;
const LONG_QUERY =
  'sum by (service) (rate(http_requests_total{namespace="exchange", code=~"5.."}[5m])) ' +
  '/ sum by (service) (rate(http_requests_total{namespace="exchange"}[5m])) > 0.01 and on() vector(1) + 0 # & ? =';

describe('PrometheusHttpSource: results', () => {
  it('posts the exact query and time form-encoded and parses a vector', async () => {
    answer(
      success({
        resultType: 'vector',
        result: [
          { metric: { service: 'order-api', namespace: 'exchange' }, value: [T, '0.125'] },
          { metric: { service: 'wallet' }, value: [T, 'NaN'] },
          { metric: { service: 'matching' }, value: [T, '+Inf'] },
          { metric: { service: 'ledger' }, value: [T, '-Inf'] },
          { metric: {}, value: [T, '1e-05'] },
        ],
      }),
    );
    const samples = expectOk(await source().instant(LONG_QUERY, T));

    expect(received).toHaveLength(1);
    const [request] = received;
    expect(request.method).toBe('POST');
    expect(request.path).toBe('/api/v1/query');
    expect(request.headers['content-type']).toBe('application/x-www-form-urlencoded');
    expect(request.form.get('query')).toBe(LONG_QUERY);
    expect(request.form.get('time')).toBe('1714566896.5');
    expect([...request.form.keys()].sort()).toEqual(['query', 'time']);
    expect(request.headers.authorization).toBeUndefined();
    expect(request.headers['x-scope-orgid']).toBeUndefined();

    expect(samples).toEqual([
      { labels: { service: 'order-api', namespace: 'exchange' }, value: 0.125 },
      { labels: { service: 'wallet' }, value: Number.NaN },
      { labels: { service: 'matching' }, value: Number.POSITIVE_INFINITY },
      { labels: { service: 'ledger' }, value: Number.NEGATIVE_INFINITY },
      { labels: {}, value: 0.00001 },
    ]);
  });

  it('posts start, end and step and parses a matrix into Float64Arrays', async () => {
    answer(
      success({
        resultType: 'matrix',
        result: [
          {
            metric: { __name__: 'service:http_requests:rate1m', service: 'order-api' },
            values: [
              [1714566840, '10'],
              [1714566900, '12.5'],
              [1714566960, 'NaN'],
            ],
          },
          { metric: { service: 'wallet' }, values: [[1714566840, '+Inf']] },
        ],
      }),
    );
    const series = expectOk(await source().range('service:http_requests:rate1m', 1714566840, 1714566960, 60));

    const [request] = received;
    expect(request.path).toBe('/api/v1/query_range');
    expect(Object.fromEntries(request.form)).toEqual({
      query: 'service:http_requests:rate1m',
      start: '1714566840',
      end: '1714566960',
      step: '60',
    });
    expect(series).toHaveLength(2);
    expect(series[0].labels).toEqual({ __name__: 'service:http_requests:rate1m', service: 'order-api' });
    expect(series[0].timestamps).toBeInstanceOf(Float64Array);
    expect(series[0].values).toBeInstanceOf(Float64Array);
    expect([...series[0].timestamps]).toEqual([1714566840, 1714566900, 1714566960]);
    expect([...series[0].values]).toEqual([10, 12.5, Number.NaN]);
    expect([...series[1].values]).toEqual([Number.POSITIVE_INFINITY]);
  });

  it('turns a scalar answer into one sample without labels', async () => {
    answer(success({ resultType: 'scalar', result: [T, '42'] }));
    expect(expectOk(await source().instant('scalar(vector(42))', T))).toEqual([{ labels: {}, value: 42 }]);
  });

  it('returns an empty list for an empty vector', async () => {
    answer(success({ resultType: 'vector', result: [] }));
    expect(expectOk(await source().instant('absent_metric', T))).toEqual([]);
  });

  it('hands server warnings to the log callback and still returns the data', async () => {
    const events: MetricSourceEvent[] = [];
    answer(
      success(
        { resultType: 'vector', result: [{ metric: { service: 'a' }, value: [T, '1'] }] },
        { warnings: ['PromQL info: metric might not be a counter, name does not end in _total'] },
      ),
    );
    const samples = expectOk(await source({}, { log: (event) => events.push(event) }).instant('rate(x[5m])', T));
    expect(samples).toEqual([{ labels: { service: 'a' }, value: 1 }]);
    expect(events).toEqual([
      {
        type: 'warnings',
        path: '/api/v1/query',
        query: 'rate(x[5m])',
        warnings: ['PromQL info: metric might not be a counter, name does not end in _total'],
      },
    ]);
  });

  it('reports a range-vector answer to an instant query as a query problem', async () => {
    answer(success({ resultType: 'matrix', result: [{ metric: {}, values: [[T, '1']] }] }));
    const error = expectFail(await source().instant('up[5m]', T));
    expect(error).toMatchObject({ kind: 'query', query: 'up[5m]', time: T, attempts: 1 });
    expect(error.message).toContain('matrix');
    expect(error.message).toContain('/api/v1/query');
  });

  it('keeps the good series of an answer with one malformed element: a gap for it, and a report naming it', async () => {
    answer(
      success({
        resultType: 'vector',
        result: [
          { metric: { service: 'a' }, value: [T, '1.5'] },
          { metric: { service: 'b' }, value: [T, 'lots'] },
          { metric: 'not-a-label-set', value: [T, '3'] },
          { metric: { service: 'c' }, value: [T, '2'] },
        ],
      }),
    );
    const events: MetricSourceEvent[] = [];
    const samples = expectOk(await source({}, { log: (event) => events.push(event) }).instant('up', T));
    expect(samples.map((s) => [s.labels.service, s.value])).toEqual([
      ['a', 1.5],
      ['b', Number.NaN],
      ['c', 2],
    ]);
    expect(events).toEqual([
      expect.objectContaining({
        type: 'malformed-element',
        query: 'up',
        detail: expect.stringContaining('service="b"'),
      }),
      expect.objectContaining({ type: 'malformed-element', detail: expect.stringContaining('without a label set') }),
    ]);
  });

  it('reports an answer that is not a vector at all as a response problem', async () => {
    answer(success({ resultType: 'vector', result: { service: 'a' } }));
    const error = expectFail(await source().instant('up', T));
    expect(error).toMatchObject({ kind: 'response', query: 'up', attempts: 1 });
    expect(error.message).toContain('not an array');
  });
});

describe('PrometheusHttpSource: auth and tenancy', () => {
  it('sends basic auth from a user:password secret, read once and cached', async () => {
    const secrets = jest.fn(async (_name: string) => 'grafana-agent:s3cr3t-p4ss');
    answer(success({ resultType: 'vector', result: [] }), success({ resultType: 'matrix', result: [] }));
    const metrics = source({ auth: { type: 'basic', secretName: 'prod/prometheus/basic' } }, { secrets });
    expectOk(await metrics.instant('up', T));
    expectOk(await metrics.range('up', T - 60, T, 15));

    const expected = `Basic ${Buffer.from('grafana-agent:s3cr3t-p4ss').toString('base64')}`;
    expect(received.map((request) => request.headers.authorization)).toEqual([expected, expected]);
    expect(secrets).toHaveBeenCalledTimes(1);
    expect(secrets).toHaveBeenCalledWith('prod/prometheus/basic');
  });

  it('accepts a JSON {"username","password"} secret for basic auth', async () => {
    const secrets = async () => JSON.stringify({ username: 'reader', password: 'pa:ss' });
    answer(success({ resultType: 'vector', result: [] }));
    expectOk(await source({ auth: { type: 'basic', secretName: 'basic-json' } }, { secrets }).instant('up', T));
    expect(received[0].headers.authorization).toBe(`Basic ${Buffer.from('reader:pa:ss').toString('base64')}`);
  });

  it('sends a bearer token', async () => {
    answer(success({ resultType: 'vector', result: [] }));
    const metrics = source({ auth: { type: 'bearer', secretName: 'token' } }, { secrets: async () => 'tok-123\n' });
    expectOk(await metrics.instant('up', T));
    expect(received[0].headers.authorization).toBe('Bearer tok-123');
  });

  it('sends the Mimir tenant as X-Scope-OrgID under the /prometheus prefix', async () => {
    answer(success({ resultType: 'vector', result: [] }), success({ resultType: 'matrix', result: [] }));
    const metrics = source({ flavor: 'mimir', url: `${baseUrl}/prometheus/`, tenant: 'exchange-prod' });
    expectOk(await metrics.instant('up', T));
    expectOk(await metrics.range('up', T - 60, T, 30));
    expect(received.map((request) => request.path)).toEqual([
      '/prometheus/api/v1/query',
      '/prometheus/api/v1/query_range',
    ]);
    expect(received.map((request) => request.headers['x-scope-orgid'])).toEqual(['exchange-prod', 'exchange-prod']);
  });

  it('refuses to build basic or bearer auth without a secrets reader', () => {
    expect(() => source({ auth: { type: 'bearer', secretName: 'token' } })).toThrow(/secret "token"/);
  });

  it('reports an unreadable secret by name, without querying', async () => {
    const secrets = async () => {
      throw new Error('AccessDeniedException');
    };
    const error = expectFail(
      await source({ auth: { type: 'bearer', secretName: 'prod/token' } }, { secrets }).instant('up', T),
    );
    expect(error).toMatchObject({ kind: 'unreachable', query: 'up', attempts: 1 });
    expect(error.message).toContain('"prod/token"');
    expect(error.message).toContain('AccessDeniedException');
    expect(received).toHaveLength(0);
  });
});

describe('PrometheusHttpSource: errors and retries', () => {
  it('maps 400 bad_data to kind query with the server message and exact query, without retrying', async () => {
    const serverError = 'invalid parameter "query": 1:9: parse error: unexpected end of input inside braces';
    answer(json(400, { status: 'error', errorType: 'bad_data', error: serverError }));
    const error = expectFail(await source({ retries: 3 }).instant('sum by (', T));
    expect(error).toMatchObject({ kind: 'query', query: 'sum by (', status: 400, time: T, attempts: 1 });
    expect(error.message).toContain(serverError);
    expect(error.message).toContain('"sum by ("');
    expect(error.message).toContain('/api/v1/query');
    expect(received).toHaveLength(1);
  });

  it('maps 422 execution errors to kind query, without retrying', async () => {
    const serverError = 'query processing would load too many samples into memory in query execution';
    answer(json(422, { status: 'error', errorType: 'execution', error: serverError }));
    const error = expectFail(await source().range('count_over_time(x[30d])', T - 3600, T, 1));
    expect(error).toMatchObject({
      kind: 'query',
      status: 422,
      range: { start: T - 3600, end: T, stepSeconds: 1 },
      attempts: 1,
    });
    expect(error.message).toContain(serverError);
    expect(received).toHaveLength(1);
  });

  it('retries a 503 and succeeds on the second attempt', async () => {
    const events: MetricSourceEvent[] = [];
    answer(
      text(503, 'Service Unavailable'),
      success({ resultType: 'vector', result: [{ metric: { service: 'a' }, value: [T, '3'] }] }),
    );
    const samples = expectOk(await source({}, { log: (event) => events.push(event) }).instant('up', T));
    expect(samples).toEqual([{ labels: { service: 'a' }, value: 3 }]);
    expect(received).toHaveLength(2);
    expect(events).toEqual([expect.objectContaining({ type: 'retry', attempt: 1, kind: 'http' })]);
  });

  it('gives up after retries+1 attempts on a persistent 502 and says so', async () => {
    answer(text(502, '<html><body>Bad Gateway</body></html>'));
    const error = expectFail(await source({ retries: 2 }).instant('up', T));
    expect(error).toMatchObject({ kind: 'http', status: 502, attempts: 3 });
    expect(error.message).toContain('HTTP 502');
    expect(error.message).toContain('3 attempts');
    expect(received).toHaveLength(3);
  });

  it('honours Retry-After on 429 and succeeds', async () => {
    const sleep = jest.fn(async (_ms: number) => {});
    answer(
      json(429, { status: 'error', errorType: 'too_many_requests', error: 'rate limited' }, { 'retry-after': '2' }),
      success({ resultType: 'vector', result: [] }),
    );
    expectOk(await source({}, { sleep }).instant('up', T));
    expect(sleep).toHaveBeenCalledWith(2000);
    expect(received).toHaveLength(2);
  });

  it('caps a long Retry-After', async () => {
    const sleep = jest.fn(async (_ms: number) => {});
    answer(text(429, 'slow down', { 'retry-after': '3600' }), success({ resultType: 'vector', result: [] }));
    expectOk(await source({}, { sleep }).instant('up', T));
    expect(sleep).toHaveBeenCalledWith(MAX_RETRY_AFTER_MS);
  });

  it('does not retry 401 and names the auth to check', async () => {
    answer(text(401, 'Unauthorized'));
    const metrics = source({ auth: { type: 'bearer', secretName: 'token' } }, { secrets: async () => 'tok-123' });
    const error = expectFail(await metrics.instant('up', T));
    expect(error).toMatchObject({ kind: 'http', status: 401, attempts: 1 });
    expect(error.message).toContain('secret "token"');
    expect(received).toHaveLength(1);
  });

  it('does not retry 403', async () => {
    answer(json(403, { message: 'User is not authorized to perform: aps:QueryMetrics' }));
    const error = expectFail(await source({ retries: 3 }).instant('up', T));
    expect(error).toMatchObject({ kind: 'http', status: 403, attempts: 1 });
    expect(error.message).toContain('aps:QueryMetrics');
  });

  it('times out a server that never answers, retrying each timeout', async () => {
    answer(() => {
      /* never answers */
    });
    const started = Date.now();
    const error = expectFail(await source({ timeoutMs: 100, retries: 1 }).instant('up', T));
    expect(error).toMatchObject({ kind: 'timeout', query: 'up', time: T, attempts: 2 });
    expect(error.message).toContain('100 ms');
    expect(error.message).toContain('/api/v1/query');
    expect(received).toHaveLength(2);
    expect(Date.now() - started).toBeLessThan(3000);
  });

  it('reports a refused connection as unreachable after retrying', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));

    const error = expectFail(await source({ url: `http://127.0.0.1:${port}`, retries: 1 }).instant('up', T));
    expect(error).toMatchObject({ kind: 'unreachable', query: 'up', attempts: 2 });
    expect(error.status).toBeUndefined();
    expect(error.message).toContain('ECONNREFUSED');
  });

  it('reports a non-JSON 200 answer as a response problem, without retrying', async () => {
    answer(text(200, '<!doctype html><title>Grafana</title>'));
    const error = expectFail(await source().instant('up', T));
    expect(error).toMatchObject({ kind: 'response', status: 200, attempts: 1 });
    expect(error.message).toContain('not JSON');
    expect(received).toHaveLength(1);
  });

  it('reports JSON that is not a Prometheus answer as a response problem', async () => {
    answer(json(200, { hello: 'world' }));
    expect(expectFail(await source().instant('up', T))).toMatchObject({ kind: 'response', attempts: 1 });
  });

  it('maps a server-side query timeout (503 errorType timeout) to kind timeout', async () => {
    answer(json(503, { status: 'error', errorType: 'timeout', error: 'query timed out in expression evaluation' }));
    const error = expectFail(await source({ retries: 0 }).instant('up', T));
    expect(error).toMatchObject({ kind: 'timeout', status: 503, attempts: 1 });
    expect(error.message).toContain('query timed out in expression evaluation');
  });

  it('never puts secrets in messages, even when the server echoes them', async () => {
    const echo: Handler = (request, response) => {
      response.writeHead(500, { 'content-type': 'text/plain' });
      response.end(`internal error handling Authorization: ${request.headers.authorization}`);
    };
    answer(echo);
    const basic = source(
      { auth: { type: 'basic', secretName: 'basic' }, retries: 0 },
      { secrets: async () => 'agent:hunter2-secret' },
    );
    const basicError = expectFail(await basic.instant('up', T));
    expect(basicError.kind).toBe('http');
    expect(basicError.message).toContain('internal error');
    expect(basicError.message).not.toContain('hunter2-secret');
    expect(basicError.message).not.toContain(Buffer.from('agent:hunter2-secret').toString('base64'));

    const bearer = source(
      { auth: { type: 'bearer', secretName: 'bearer' }, retries: 0 },
      { secrets: async () => 'glsa_abcdef0123456789' },
    );
    const bearerError = expectFail(await bearer.instant('up', T));
    expect(bearerError.message).not.toContain('glsa_abcdef0123456789');

    answer(() => {
      /* never answers */
    });
    const slow = source(
      { auth: { type: 'bearer', secretName: 'bearer' }, retries: 0, timeoutMs: 50 },
      { secrets: async () => 'glsa_abcdef0123456789' },
    );
    const timeoutError = expectFail(await slow.instant('up', T));
    expect(timeoutError.kind).toBe('timeout');
    expect(JSON.stringify(timeoutError)).not.toContain('glsa_abcdef0123456789');
  });
});

describe('PrometheusHttpSource: SigV4 for Amazon Managed Service for Prometheus', () => {
  const credentials = { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY' };
  const clock = () => new Date('2024-05-01T12:34:56.000Z');

  const sha256Hex = (data: string) => createHash('sha256').update(data, 'utf8').digest('hex');
  const hmac = (key: string | Buffer, data: string) => createHmac('sha256', key).update(data, 'utf8').digest();

  /** Recomputes the SigV4 signature from what the server received, independently of the signer under test. */
  function expectedSignature(request: Received, secretAccessKey: string): string {
    const authorization = String(request.headers.authorization);
    const match =
      /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request, SignedHeaders=([^,]+), Signature=([0-9a-f]{64})$/.exec(
        authorization,
      );
    if (!match) throw new Error(`unexpected Authorization header: ${authorization}`);
    const [, , date, region, service, signedHeaders] = match;
    const names = signedHeaders.split(';');
    const canonicalHeaders = names
      .map(
        (name) =>
          `${name}:${String(request.headers[name] ?? '')
            .trim()
            .replace(/\s+/g, ' ')}\n`,
      )
      .join('');
    const [path, queryString = ''] = request.path.split('?');
    const canonicalRequest = [
      request.method,
      path,
      queryString,
      canonicalHeaders,
      signedHeaders,
      sha256Hex(request.body),
    ].join('\n');
    const amzDate = String(request.headers['x-amz-date']);
    const scope = `${date}/${region}/${service}/aws4_request`;
    const stringToSign = ['AWS4-HMAC-SHA256', amzDate, scope, sha256Hex(canonicalRequest)].join('\n');
    const kDate = hmac(`AWS4${secretAccessKey}`, date);
    const kRegion = hmac(kDate, region);
    const kService = hmac(kRegion, service);
    const kSigning = hmac(kService, 'aws4_request');
    return createHmac('sha256', kSigning).update(stringToSign, 'utf8').digest('hex');
  }

  it('signs the POST with service aps, the body hash and the host header', async () => {
    answer(success({ resultType: 'vector', result: [{ metric: { service: 'a' }, value: [T, '1'] }] }));
    const metrics = source(
      { flavor: 'amp', url: `${baseUrl}/workspaces/ws-1234abcd/`, auth: { type: 'sigv4', region: 'us-west-2' } },
      { credentials: async () => credentials, clock },
    );
    expectOk(await metrics.instant(LONG_QUERY, T));

    const [request] = received;
    expect(request.path).toBe('/workspaces/ws-1234abcd/api/v1/query');
    expect(request.form.get('query')).toBe(LONG_QUERY);
    expect(request.headers['x-amz-date']).toBe('20240501T123456Z');
    expect(request.headers['x-amz-content-sha256']).toBe(sha256Hex(request.body));
    const authorization = String(request.headers.authorization);
    expect(authorization).toMatch(
      /^AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE\/20240501\/us-west-2\/aps\/aws4_request, SignedHeaders=[a-z0-9;-]+, Signature=[0-9a-f]{64}$/,
    );
    const signedHeaders = /SignedHeaders=([^,]+)/.exec(authorization)![1].split(';');
    expect(signedHeaders).toEqual(
      expect.arrayContaining(['host', 'content-type', 'x-amz-content-sha256', 'x-amz-date']),
    );
    expect(request.headers.host).toBe(new URL(baseUrl).host);

    const signature = /Signature=([0-9a-f]{64})$/.exec(authorization)![1];
    expect(signature).toBe(expectedSignature(request, credentials.secretAccessKey));
  });

  it('signs range queries and sends the session token of temporary credentials', async () => {
    answer(success({ resultType: 'matrix', result: [] }));
    const temporary = { ...credentials, sessionToken: 'FQoGZXIvYXdzEXAMPLETOKEN' };
    const metrics = source(
      { flavor: 'amp', url: `${baseUrl}/workspaces/ws-1`, auth: { type: 'sigv4', region: 'eu-west-1' } },
      { credentials: async () => temporary, clock },
    );
    expectOk(await metrics.range('up', T - 300, T, 60));
    const [request] = received;
    expect(request.headers['x-amz-security-token']).toBe(temporary.sessionToken);
    expect(String(request.headers.authorization)).toContain('/eu-west-1/aps/aws4_request');
    expect(String(request.headers.authorization)).toContain('x-amz-security-token');
    const signature = /Signature=([0-9a-f]{64})$/.exec(String(request.headers.authorization))![1];
    expect(signature).toBe(expectedSignature(request, credentials.secretAccessKey));
  });

  it('takes the region from the AMP workspace URL and lets fetch set Host', async () => {
    const calls: { url: string; headers: Record<string, string> }[] = [];
    const fakeFetch = (async (input: string | URL | Request, init?: RequestInit) => {
      calls.push({ url: String(input), headers: init?.headers as Record<string, string> });
      return new Response(JSON.stringify({ status: 'success', data: { resultType: 'vector', result: [] } }), {
        status: 200,
        headers: { 'content-type': 'application/json' },
      });
    }) as typeof fetch;
    const metrics = createMetricSource(
      metricSourceSchema.parse({
        flavor: 'amp',
        url: 'https://aps-workspaces.ap-northeast-1.amazonaws.com/workspaces/ws-abc',
        auth: { type: 'sigv4' },
      }),
      { fetch: fakeFetch, credentials: async () => credentials, clock },
    );
    expect(metrics).toBeInstanceOf(PrometheusHttpSource);
    expectOk(await metrics.instant('up', T));
    expect(calls).toHaveLength(1);
    expect(calls[0].url).toBe('https://aps-workspaces.ap-northeast-1.amazonaws.com/workspaces/ws-abc/api/v1/query');
    expect(calls[0].headers.authorization).toMatch(
      /^AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE\/20240501\/ap-northeast-1\/aps\/aws4_request, SignedHeaders=[^,]*host[^,]*, Signature=[0-9a-f]{64}$/,
    );
    expect(calls[0].headers.host).toBeUndefined();
  });

  it('reports failing credentials as unreachable without sending anything', async () => {
    const metrics = source(
      { flavor: 'amp', url: `${baseUrl}/workspaces/ws-1`, auth: { type: 'sigv4', region: 'us-east-1' } },
      {
        credentials: async () => {
          throw new Error('Could not load credentials from any providers');
        },
      },
    );
    const error = expectFail(await metrics.instant('up', T));
    expect(error).toMatchObject({ kind: 'unreachable', attempts: 1 });
    expect(error.message).toContain('Could not load credentials');
    expect(received).toHaveLength(0);
  });
});

describe('helpers', () => {
  it('parses Prometheus sample values', () => {
    expect(parseSampleValue('NaN')).toBeNaN();
    expect(parseSampleValue('+Inf')).toBe(Number.POSITIVE_INFINITY);
    expect(parseSampleValue('-Inf')).toBe(Number.NEGATIVE_INFINITY);
    expect(parseSampleValue('1.5e+06')).toBe(1_500_000);
    expect(parseSampleValue('-0.25')).toBe(-0.25);
    expect(parseSampleValue('')).toBeUndefined();
    expect(parseSampleValue('abc')).toBeUndefined();
    expect(parseSampleValue(3)).toBeUndefined();
  });

  it('parses Retry-After seconds and HTTP dates, capped', () => {
    const now = Date.parse('2024-05-01T12:00:00Z');
    expect(parseRetryAfter('5', now)).toBe(5000);
    expect(parseRetryAfter('Wed, 01 May 2024 12:00:03 GMT', now)).toBe(3000);
    expect(parseRetryAfter('Wed, 01 May 2024 11:00:00 GMT', now)).toBe(0);
    expect(parseRetryAfter('86400', now)).toBe(MAX_RETRY_AFTER_MS);
    expect(parseRetryAfter(null, now)).toBeUndefined();
    expect(parseRetryAfter('soon', now)).toBeUndefined();
  });

  it('finds the region in AMP workspace URLs', () => {
    expect(regionFromAmpUrl('https://aps-workspaces.us-east-1.amazonaws.com/workspaces/ws-1')).toBe('us-east-1');
    expect(regionFromAmpUrl('https://vpce-0abc.aps-workspaces.eu-central-1.vpce.amazonaws.com/workspaces/ws-1')).toBe(
      'eu-central-1',
    );
    expect(regionFromAmpUrl('https://prometheus.monitoring:9090')).toBeUndefined();
  });
});
