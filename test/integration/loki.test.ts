// LokiLogSource against a loopback server that speaks Loki's query_range wire format, and its agreement with the
// scenario log source when both see the same lines.

import { appendFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  type LogSourceEvent,
  LokiLogSource,
  type LokiLogSourceDeps,
  MAX_RETRY_AFTER_MS,
  toNanoseconds,
} from '../../lambdas/adapters/loki/loki-log-source';
import { loadScenario } from '../../lambdas/adapters/scenario/load-scenario';
import { ScenarioLogSource } from '../../lambdas/adapters/scenario/scenario-log-source';
import { logSourceSchema } from '../../lambdas/core/config/log-source-schema';
import type { LogQueryError } from '../../lambdas/core/perception/log-source';
import type { Result } from '../../lambdas/core/result';
import { buildScenario, type ScenarioSpec } from '../support/scenario-builder';

interface Received {
  readonly method: string;
  readonly path: string;
  readonly params: URLSearchParams;
  readonly headers: IncomingHttpHeaders;
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
    response.writeHead(status, { 'content-type': 'application/json; charset=utf-8', ...headers });
    response.end(JSON.stringify(body));
  };
}

function text(status: number, body: string, headers: Record<string, string> = {}): Handler {
  return (_request, response) => {
    response.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', ...headers });
    response.end(body);
  };
}

/** Loki's success envelope, with the stats block it always sends. */
const success = (resultType: string, result: unknown): Handler =>
  json(200, {
    status: 'success',
    data: {
      resultType,
      result,
      stats: { summary: { bytesProcessedPerSecond: 52_000, execTime: 0.0042, totalEntriesReturned: 0 } },
    },
  });

const hang: Handler = () => {
  // never answers: the client's timeout has to end the request
};

beforeAll(async () => {
  server = createServer((request, response) => {
    const url = new URL(request.url ?? '/', 'http://loopback');
    const entry: Received = {
      method: request.method ?? '',
      path: url.pathname,
      params: url.searchParams,
      headers: request.headers,
    };
    received.push(entry);
    const handler = handlers.length > 1 ? handlers.shift()! : handlers[0];
    if (handler) handler(entry, response);
    else text(500, 'no handler')(entry, response);
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

function source(overrides: Record<string, unknown> = {}, deps: LokiLogSourceDeps = {}): LokiLogSource {
  const config = logSourceSchema.parse({ url: baseUrl, retries: 2, ...overrides });
  return new LokiLogSource(config, { backoffStartMs: 1, ...deps });
}

function expectOk<T>(result: Result<T, LogQueryError>): T {
  if (!result.ok) throw new Error(`expected success, got ${JSON.stringify(result.error)}`);
  return result.value;
}

function expectFail<T>(result: Result<T, LogQueryError>): LogQueryError {
  if (result.ok) throw new Error(`expected a failure, got ${JSON.stringify(result.value)}`);
  return result.error;
}

// 2026-11-04T03:00:00Z, minute-aligned as the diagnosis engine asks.
const T0 = 1_793_761_200;
const COUNT_QUERY =
  'sum by (service) (count_over_time({service="order-api"} |~ "(?i)(error|exception|fatal|panic|fail|timed? ?out|refused)" [60s]))';
const LINES_QUERY = '{service="order-api"} |~ "(?i)(error|exception|fatal|panic|fail|timed? ?out|refused)"';
const ns = (seconds: number): string => toNanoseconds(seconds).toString();

describe('LokiLogSource: errorCounts', () => {
  it('sends the count LogQL with nanosecond bounds one step in, and fills the windows Loki leaves out', async () => {
    answer(
      success('matrix', [
        {
          metric: { service: 'order-api' },
          values: [
            [T0 + 120, '3'],
            [T0 + 300, '41'],
          ],
        },
      ]),
    );
    const counts = expectOk(await source().errorCounts('order-api', T0, T0 + 300, 60));

    expect(received).toHaveLength(1);
    const [request] = received;
    expect(request.method).toBe('GET');
    expect(request.path).toBe('/loki/api/v1/query_range');
    expect(Object.fromEntries(request.params)).toEqual({
      query: COUNT_QUERY,
      start: '1793761260000000000',
      end: '1793761500000000000',
      step: '60',
    });
    expect(request.headers['x-scope-orgid']).toBeUndefined();
    expect(request.headers.authorization).toBeUndefined();

    expect(counts).toEqual({
      service: 'order-api',
      query: COUNT_QUERY,
      stepSeconds: 60,
      timestamps: [T0 + 60, T0 + 120, T0 + 180, T0 + 240, T0 + 300],
      counts: [0, 3, 0, 0, 41],
      total: 44,
    });
  });

  it('sums the series of every stream the selector matched', async () => {
    answer(
      success('matrix', [
        { metric: { service: 'order-api', namespace: 'trading' }, values: [[T0 + 60, '2']] },
        { metric: { service: 'order-api', namespace: 'canary' }, values: [[T0 + 60, '5']] },
      ]),
    );
    const counts = expectOk(await source().errorCounts('order-api', T0, T0 + 60, 60));
    expect(counts.counts).toEqual([7]);
    expect(counts.total).toBe(7);
  });

  it('answers all zeros for an empty matrix', async () => {
    answer(success('matrix', []));
    const counts = expectOk(await source().errorCounts('order-api', T0, T0 + 180, 60));
    expect(counts.counts).toEqual([0, 0, 0]);
    expect(counts.total).toBe(0);
  });

  it('uses the configured selector template and filter, escaping the service name where it stands', async () => {
    answer(success('matrix', []));
    const logs = source({ selector: '{namespace="trading", app=~"<svc>"}', errorFilter: '|= "ERROR" != "healthz"' });
    await logs.errorCounts('order.api"v2', T0, T0 + 60, 60);
    expect(received[0].params.get('query')).toBe(
      'sum by (service) (count_over_time({namespace="trading", app=~"order\\\\.api\\"v2"} |= "ERROR" != "healthz" [60s]))',
    );
  });

  it('reports a point off the evaluation grid as a response error', async () => {
    answer(success('matrix', [{ metric: { service: 'order-api' }, values: [[T0 + 30, '1']] }]));
    const error = expectFail(await source().errorCounts('order-api', T0, T0 + 120, 60));
    expect(error).toMatchObject({ kind: 'response', query: COUNT_QUERY, attempts: 1 });
    expect(error.message).toContain('not one of the evaluation times');
  });

  it('reports a streams answer to a count query as a response error', async () => {
    answer(success('streams', []));
    const error = expectFail(await source().errorCounts('order-api', T0, T0 + 120, 60));
    expect(error).toMatchObject({ kind: 'response', attempts: 1 });
    expect(error.message).toContain('expected "matrix"');
  });

  it('refuses a range shorter than a step without calling Loki', async () => {
    const error = expectFail(await source().errorCounts('order-api', T0, T0 + 30, 60));
    expect(error).toMatchObject({ kind: 'query', query: COUNT_QUERY, attempts: 0 });
    expect(received).toHaveLength(0);
  });
});

describe('LokiLogSource: errorLines', () => {
  const STREAMS = [
    {
      stream: { service: 'order-api', namespace: 'trading', pod: 'order-api-7d9f8b6c5-x2k4q' },
      values: [
        ['1793761390123456789', 'ERROR upstream timeout after 3012ms calling 10.0.4.7:9000'],
        ['1793761385000000000', 'ERROR upstream timeout after 2999ms calling 10.0.4.8:9000'],
      ],
    },
    {
      stream: { service: 'order-api', namespace: 'trading', pod: 'order-api-7d9f8b6c5-m8r2t' },
      values: [['1793761388500000000', 'panic: runtime error: invalid memory address', { trace_id: 'abc123' }]],
    },
  ];

  it('asks for (start, end] with limit and direction, and returns the lines oldest first', async () => {
    answer(success('streams', STREAMS));
    const lines = expectOk(await source().errorLines('order-api', T0, T0 + 600, 3, 'forward'));

    const [request] = received;
    expect(request.path).toBe('/loki/api/v1/query_range');
    expect(Object.fromEntries(request.params)).toEqual({
      query: LINES_QUERY,
      start: '1793761200000000001',
      end: '1793761800000000001',
      limit: '3',
      direction: 'forward',
    });
    expect(lines).toEqual({
      service: 'order-api',
      query: LINES_QUERY,
      truncated: true,
      lines: [
        {
          time: 1_793_761_385_000,
          labels: STREAMS[0].stream,
          line: 'ERROR upstream timeout after 2999ms calling 10.0.4.8:9000',
        },
        { time: 1_793_761_388_500, labels: STREAMS[1].stream, line: 'panic: runtime error: invalid memory address' },
        {
          time: 1_793_761_390_123,
          labels: STREAMS[0].stream,
          line: 'ERROR upstream timeout after 3012ms calling 10.0.4.7:9000',
        },
      ],
    });
  });

  it('defaults to backward and is not truncated below the limit', async () => {
    answer(success('streams', STREAMS));
    const lines = expectOk(await source().errorLines('order-api', T0, T0 + 600, 100));
    expect(received[0].params.get('direction')).toBe('backward');
    expect(lines.truncated).toBe(false);
    expect(lines.lines).toHaveLength(3);
  });

  it('reports an entry without a nanosecond timestamp as a response error', async () => {
    answer(success('streams', [{ stream: { service: 'order-api' }, values: [[1_793_761_385, 'x']] }]));
    const error = expectFail(await source().errorLines('order-api', T0, T0 + 600, 100));
    expect(error).toMatchObject({ kind: 'response', query: LINES_QUERY, attempts: 1 });
  });

  it('refuses a limit above Loki’s default max_entries_limit_per_query without calling it', async () => {
    const error = expectFail(await source().errorLines('order-api', T0, T0 + 600, 5001));
    expect(error).toMatchObject({ kind: 'query', attempts: 0 });
    expect(error.message).toContain('5000');
    expect(received).toHaveLength(0);
  });
});

describe('LokiLogSource: tenant and auth', () => {
  it('sends the tenant and basic auth read once from a user:password secret', async () => {
    answer(success('matrix', []), success('streams', []));
    const reads: string[] = [];
    const logs = source(
      { tenant: 'exchange-prod', auth: { type: 'basic', secretName: 'loki/reader' } },
      {
        secrets: async (name) => {
          reads.push(name);
          return '812345:glc_secret-token-value';
        },
      },
    );
    expectOk(await logs.errorCounts('order-api', T0, T0 + 60, 60));
    expectOk(await logs.errorLines('order-api', T0, T0 + 60, 10));

    const expected = `Basic ${Buffer.from('812345:glc_secret-token-value').toString('base64')}`;
    expect(received.map((request) => request.headers['x-scope-orgid'])).toEqual(['exchange-prod', 'exchange-prod']);
    expect(received.map((request) => request.headers.authorization)).toEqual([expected, expected]);
    expect(reads).toEqual(['loki/reader']);
  });

  it('reads a JSON basic secret and a bearer token', async () => {
    answer(success('matrix', []));
    const basic = source(
      { auth: { type: 'basic', secretName: 'b' } },
      { secrets: async () => '{"username":"loki","password":"p@ss:word"}' },
    );
    const bearer = source({ auth: { type: 'bearer', secretName: 't' } }, { secrets: async () => ' glsa_token123 \n' });
    await basic.errorCounts('order-api', T0, T0 + 60, 60);
    await bearer.errorCounts('order-api', T0, T0 + 60, 60);
    expect(received[0].headers.authorization).toBe(`Basic ${Buffer.from('loki:p@ss:word').toString('base64')}`);
    expect(received[1].headers.authorization).toBe('Bearer glsa_token123');
  });

  it('reports a 401 with the secret to check, not retried, with the token kept out of the message', async () => {
    answer(text(401, 'no org id\n'));
    const logs = source(
      { auth: { type: 'bearer', secretName: 'loki/token' }, tenant: 'ops' },
      { secrets: async () => 'glsa_abcdef0123456789' },
    );
    const error = expectFail(await logs.errorCounts('order-api', T0, T0 + 60, 60));
    expect(error).toMatchObject({ kind: 'http', status: 401, attempts: 1 });
    expect(error.message).toContain('bearer auth from secret "loki/token"');
    expect(JSON.stringify(error)).not.toContain('glsa_abcdef0123456789');
  });

  it('refuses basic or bearer auth without a secrets reader', () => {
    const config = logSourceSchema.parse({ url: baseUrl, auth: { type: 'bearer', secretName: 'x' } });
    expect(() => new LokiLogSource(config)).toThrow('no secrets reader');
  });
});

describe('LokiLogSource: failures', () => {
  it('names the query in a 400 LogQL parse error and does not retry it', async () => {
    answer(text(400, 'parse error at line 1, col 22: syntax error: unexpected IDENTIFIER, expecting STRING\n'));
    const error = expectFail(await source().errorCounts('order-api', T0, T0 + 60, 60));
    expect(error).toMatchObject({
      kind: 'query',
      status: 400,
      attempts: 1,
      service: 'order-api',
      query: COUNT_QUERY,
      range: { start: T0, end: T0 + 60, stepSeconds: 60 },
    });
    expect(error.message).toContain(
      'Loki rejected the query: parse error at line 1, col 22: syntax error: unexpected IDENTIFIER',
    );
    expect(error.message).toContain(JSON.stringify(COUNT_QUERY));
    expect(received).toHaveLength(1);
  });

  it('retries a 429 after the Retry-After it asks for', async () => {
    answer(
      text(429, 'too many outstanding requests\n', { 'retry-after': '2' }),
      success('streams', [{ stream: { service: 'order-api' }, values: [['1793761385000000000', 'ERROR x']] }]),
    );
    const waits: number[] = [];
    const events: LogSourceEvent[] = [];
    const logs = source(
      {},
      {
        sleep: async (ms) => {
          waits.push(ms);
        },
        log: (event) => events.push(event),
      },
    );
    const lines = expectOk(await logs.errorLines('order-api', T0, T0 + 600, 10));
    expect(lines.lines.map((line) => line.line)).toEqual(['ERROR x']);
    expect(received).toHaveLength(2);
    expect(waits).toEqual([2000]);
    expect(events).toEqual([
      expect.objectContaining({ type: 'retry', attempt: 1, kind: 'http', query: LINES_QUERY, waitMs: 2000 }),
    ]);
  });

  it('caps a Retry-After that would stall the diagnosis', async () => {
    answer(text(429, 'too many outstanding requests', { 'retry-after': '3600' }), success('matrix', []));
    const waits: number[] = [];
    const logs = source({}, { sleep: async (ms) => void waits.push(ms) });
    expectOk(await logs.errorCounts('order-api', T0, T0 + 60, 60));
    expect(waits).toEqual([MAX_RETRY_AFTER_MS]);
  });

  it('retries a 500 and reports it with the body and the number of attempts', async () => {
    answer(text(500, 'rpc error: code = Unavailable desc = no healthy ingesters\n'));
    const error = expectFail(await source({ retries: 2 }).errorCounts('order-api', T0, T0 + 60, 60));
    expect(error).toMatchObject({ kind: 'http', status: 500, attempts: 3, query: COUNT_QUERY });
    expect(error.message).toContain('HTTP 500');
    expect(error.message).toContain('no healthy ingesters');
    expect(error.message).toContain('(3 attempts)');
    expect(received).toHaveLength(3);
  });

  it('recovers when a 503 is followed by a success', async () => {
    answer(text(503, 'Service Unavailable'), success('matrix', [{ metric: {}, values: [[T0 + 60, '9']] }]));
    const counts = expectOk(await source().errorCounts('order-api', T0, T0 + 60, 60));
    expect(counts.total).toBe(9);
    expect(received).toHaveLength(2);
  });

  it('times out a server that never answers, retrying each timeout', async () => {
    answer(hang);
    const started = Date.now();
    const error = expectFail(await source({ timeoutMs: 100, retries: 1 }).errorLines('order-api', T0, T0 + 60, 10));
    expect(error).toMatchObject({ kind: 'timeout', attempts: 2, query: LINES_QUERY });
    expect(error.message).toContain('no answer within 100 ms');
    expect(received).toHaveLength(2);
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it('reports a success status with a body that is not JSON as a response error, not retried', async () => {
    answer(text(200, '{"status":"success","data":{"resultType":"matrix","result":['));
    const error = expectFail(await source().errorCounts('order-api', T0, T0 + 60, 60));
    expect(error).toMatchObject({ kind: 'response', status: 200, attempts: 1 });
    expect(error.message).toContain('not JSON');
    expect(received).toHaveLength(1);
  });

  it('reports JSON that is not a Loki answer as a response error', async () => {
    answer(json(200, { status: 'error', error: 'nope' }));
    const error = expectFail(await source().errorCounts('order-api', T0, T0 + 60, 60));
    expect(error).toMatchObject({ kind: 'response', attempts: 1 });
  });

  it('reports a 404 with a hint about the URL', async () => {
    answer(text(404, '404 page not found'));
    const error = expectFail(await source({ url: `${baseUrl}/loki/api/v1` }).errorCounts('order-api', T0, T0 + 60, 60));
    expect(error).toMatchObject({ kind: 'http', status: 404, attempts: 1 });
    expect(received[0].path).toBe('/loki/api/v1/loki/api/v1/query_range');
    expect(error.message).toContain('without /loki/api/v1');
  });

  it('reports a closed port as unreachable', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const error = expectFail(
      await source({ url: `http://127.0.0.1:${port}`, retries: 1 }).errorCounts('order-api', T0, T0 + 60, 60),
    );
    expect(error).toMatchObject({ kind: 'unreachable', attempts: 2 });
    expect(error.message).toContain('ECONNREFUSED');
  });
});

// ---------------------------------------------------------------------------------------------------------------
// Replay and production agree: a loopback Loki serving a scenario's logs.jsonl answers as the scenario source does.

interface PushedLine {
  readonly ns: bigint;
  readonly labels: Readonly<Record<string, string>>;
  readonly line: string;
}

/** Reads Loki push bodies keeping the nanosecond timestamps, as Loki stores them. */
function readPushes(textBody: string): PushedLine[] {
  const lines: PushedLine[] = [];
  for (const row of textBody.split('\n')) {
    if (!row.trim()) continue;
    const push = JSON.parse(row) as { streams: { stream: Record<string, string>; values: [string, string][] }[] };
    for (const stream of push.streams) {
      for (const [time, line] of stream.values) lines.push({ ns: BigInt(time), labels: stream.stream, line });
    }
  }
  return lines;
}

/** Label matchers `name="value"` and an optional `|~ "re"`: the queries the sources build by default. */
function compileQuery(logQuery: string): (entry: PushedLine) => boolean {
  const match = /^\{(.*)\}\s*(?:\|~ ("(?:[^"\\]|\\.)*"))?$/.exec(logQuery);
  if (!match) throw new Error(`fake Loki cannot run ${logQuery}`);
  const matchers = [...match[1].matchAll(/(\w+)\s*=\s*("(?:[^"\\]|\\.)*")/g)].map(
    ([, name, value]) => [name, JSON.parse(value) as string] as const,
  );
  let filter: RegExp | undefined;
  if (match[2]) {
    const pattern = JSON.parse(match[2]) as string;
    filter = pattern.startsWith('(?i)') ? new RegExp(pattern.slice(4), 'i') : new RegExp(pattern);
  }
  return (entry) =>
    matchers.every(([name, value]) => (entry.labels[name] ?? '') === value) && (!filter || filter.test(entry.line));
}

/** Answers query_range the way Loki does: count_over_time over (t - step, t], log lines in [start, end). */
function fakeLoki(pushed: readonly PushedLine[]): Handler {
  return (request, response) => {
    const query = request.params.get('query') ?? '';
    const start = BigInt(request.params.get('start') ?? '0');
    const end = BigInt(request.params.get('end') ?? '0');
    const metric = /^sum by \(service\) \(count_over_time\((.*) \[(\d+)s\]\)\)$/.exec(query);
    if (metric) {
      const keep = compileQuery(metric[1]);
      const stepNs = BigInt(metric[2]) * 1_000_000_000n;
      const series = new Map<string, [number, string][]>();
      for (let t = start; t <= end; t += stepNs) {
        const perService = new Map<string, number>();
        for (const entry of pushed) {
          if (entry.ns > t - stepNs && entry.ns <= t && keep(entry)) {
            const service = entry.labels.service ?? '';
            perService.set(service, (perService.get(service) ?? 0) + 1);
          }
        }
        for (const [service, count] of perService) {
          const points = series.get(service) ?? [];
          points.push([Number(t / 1_000_000n) / 1000, String(count)]);
          series.set(service, points);
        }
      }
      const result = [...series].map(([service, values]) => ({ metric: { service }, values }));
      success('matrix', result)(request, response);
      return;
    }
    const keep = compileQuery(query);
    const limit = Number(request.params.get('limit'));
    const forward = request.params.get('direction') === 'forward';
    const selected = pushed
      .filter((entry) => entry.ns >= start && entry.ns < end && keep(entry))
      .sort((a, b) => (a.ns === b.ns ? 0 : a.ns < b.ns === forward ? -1 : 1))
      .slice(0, limit);
    const streams = new Map<string, { stream: Readonly<Record<string, string>>; values: [string, string][] }>();
    for (const entry of selected) {
      const key = JSON.stringify(entry.labels);
      const stream = streams.get(key) ?? { stream: entry.labels, values: [] };
      stream.values.push([entry.ns.toString(), entry.line]);
      streams.set(key, stream);
    }
    success('streams', [...streams.values()])(request, response);
  };
}

describe('LokiLogSource and ScenarioLogSource on the same lines', () => {
  const workDir = mkdtempSync(join(tmpdir(), 'sre-agent-loki-'));
  const dir = join(workDir, 'order-api-bad-deploy');
  let scenarioSource: ScenarioLogSource;
  let pushed: PushedLine[];
  let incidentStart: number;

  beforeAll(async () => {
    const specFile = join(__dirname, '..', 'fixtures', 'specs', 'order-api-bad-deploy.json');
    buildScenario(JSON.parse(readFileSync(specFile, 'utf8')) as ScenarioSpec, dir, {});
    const logsFile = join(dir, 'logs.jsonl');
    const firstError = readPushes(readFileSync(logsFile, 'utf8')).find(
      (entry) => entry.labels.service === 'order-api' && /error/i.test(entry.line),
    );
    if (!firstError) throw new Error('the built scenario has no order-api error line');
    incidentStart = Math.floor(Number(firstError.ns / 1_000_000_000n) / 3600) * 3600;
    // Lines exactly on window boundaries, where (t - step, t] and [start, end) differ from each other.
    const edge = (seconds: number, line: string) =>
      JSON.stringify({
        streams: [
          { stream: { service: 'order-api', namespace: 'trading', level: 'error' }, values: [[ns(seconds), line]] },
        ],
      });
    appendFileSync(
      logsFile,
      `${[
        edge(incidentStart, 'ERROR on the incident start'),
        edge(incidentStart + 60, 'ERROR on the first window end'),
        edge(incidentStart + 3600, 'ERROR on the incident end'),
        edge(incidentStart - 6 * 3600, 'ERROR on the baseline start'),
      ].join('\n')}\n`,
    );
    const scenario = await loadScenario(dir);
    scenarioSource = new ScenarioLogSource(scenario.logs);
    pushed = readPushes(readFileSync(logsFile, 'utf8'));
  }, 60_000);

  afterAll(() => rmSync(workDir, { recursive: true, force: true }));

  const SERVICES = ['order-api', 'api-gateway', 'matching-engine', 'wallet-service'];

  it('gives the same error counts per service and window', async () => {
    answer(fakeLoki(pushed));
    const loki = source();
    const windows: [number, number, number][] = [
      [incidentStart, incidentStart + 3600, 60],
      [incidentStart - 6 * 3600, incidentStart, 300],
      [incidentStart - 86_400, incidentStart + 7200, 3600],
    ];
    let incidentTotal = 0;
    for (const service of SERVICES) {
      for (const [start, end, step] of windows) {
        const fromLoki = expectOk(await loki.errorCounts(service, start, end, step));
        const fromScenario = expectOk(await scenarioSource.errorCounts(service, start, end, step));
        expect(fromLoki).toEqual(fromScenario);
        if (service === 'order-api' && start === incidentStart) incidentTotal = fromLoki.total;
      }
    }
    expect(incidentTotal).toBeGreaterThan(100);
    // A line on a window end belongs to that window, a line on its start to the one before.
    const first = expectOk(await loki.errorLines('order-api', incidentStart, incidentStart + 60, 100));
    const firstCount = expectOk(await loki.errorCounts('order-api', incidentStart, incidentStart + 60, 60));
    expect(first.lines.map((line) => line.line)).toContain('ERROR on the first window end');
    expect(first.lines.map((line) => line.line)).not.toContain('ERROR on the incident start');
    expect(firstCount.total).toBe(first.lines.length);
  });

  it('gives the same error lines, both directions, with and without hitting the limit', async () => {
    answer(fakeLoki(pushed));
    const loki = source();
    for (const service of SERVICES) {
      for (const [limit, direction] of [
        [40, 'forward'],
        [40, 'backward'],
        [5000, 'backward'],
      ] as const) {
        const fromLoki = expectOk(
          await loki.errorLines(service, incidentStart, incidentStart + 3600, limit, direction),
        );
        const fromScenario = expectOk(
          await scenarioSource.errorLines(service, incidentStart, incidentStart + 3600, limit, direction),
        );
        expect(fromLoki).toEqual(fromScenario);
      }
    }
    const all = expectOk(await loki.errorLines('order-api', incidentStart, incidentStart + 3600, 5000));
    const counted = expectOk(await loki.errorCounts('order-api', incidentStart, incidentStart + 3600, 60));
    expect(all.lines).toHaveLength(counted.total);
    expect(all.lines.map((line) => line.line)).not.toContain('ERROR on the incident start');
    expect(all.lines.map((line) => line.line)).toContain('ERROR on the incident end');
  });
});
