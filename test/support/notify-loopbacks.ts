// Loopback stand-ins for the services notifications go to, answering as the real ones do: the Slack Web API
// (chat.postMessage with threads, 429 with Retry-After), the PagerDuty Events API v2 (202 with the dedup_key) and
// the Jira Cloud REST calls tickets need (search by label, create, comment). Each records every call and can be
// told what to answer next, so tests see exactly what left and can make any call fail.

import { createServer, type IncomingHttpHeaders, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

type Json = Record<string, unknown>;

export interface RecordedCall {
  readonly method: string;
  readonly path: string;
  readonly query: URLSearchParams;
  readonly headers: IncomingHttpHeaders;
  readonly body: Json;
}

/** An answer to send instead of the service's usual one. */
export type Answer = (response: ServerResponse, call: RecordedCall) => void;

export const json =
  (status: number, body: unknown, headers: Record<string, string> = {}): Answer =>
  (response) => {
    response.writeHead(status, { 'content-type': 'application/json; charset=utf-8', ...headers });
    response.end(JSON.stringify(body));
  };

/** Never answers: for deadlines. The socket is closed when the server stops. */
export const hang: Answer = () => undefined;

abstract class Loopback {
  calls: RecordedCall[] = [];
  private server?: Server;
  private readonly queued = new Map<string, Answer[]>();
  url = '';

  /** The next answers calls to `route` get, before the usual ones resume. */
  answerNext(route: string, ...answers: Answer[]): void {
    this.queued.set(route, [...(this.queued.get(route) ?? []), ...answers]);
  }

  reset(): void {
    this.calls = [];
    this.queued.clear();
  }

  async start(): Promise<this> {
    this.server = createServer((request, response) => {
      const chunks: Buffer[] = [];
      request.on('data', (chunk: Buffer) => chunks.push(chunk));
      request.on('end', () => {
        const url = new URL(request.url ?? '/', 'http://loopback');
        const text = Buffer.concat(chunks).toString('utf8');
        const call: RecordedCall = {
          method: request.method ?? '',
          path: url.pathname,
          query: url.searchParams,
          headers: request.headers,
          body: text ? (JSON.parse(text) as Json) : {},
        };
        this.calls.push(call);
        const route = this.routeOf(call);
        const next = this.queued.get(route)?.shift();
        if (next) next(response, call);
        else this.answer(response, call, route);
      });
    });
    await new Promise<void>((resolve) => this.server?.listen(0, '127.0.0.1', () => resolve()));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  protected abstract routeOf(call: RecordedCall): string;
  protected abstract answer(response: ServerResponse, call: RecordedCall, route: string): void;
}

/** Slack's Web API under `/api/`: posts get a channel id and an increasing ts; anything without the token fails. */
export class SlackLoopback extends Loopback {
  private counter = 0;

  constructor(private readonly token: string) {
    super();
  }

  get apiUrl(): string {
    return `${this.url}/api/`;
  }

  /** The chat.postMessage calls, in order. */
  posts(): Json[] {
    return this.calls.filter((c) => c.path === '/api/chat.postMessage').map((c) => c.body);
  }

  /** The channel id Slack gives a channel name (`#sre-critical` -> `C-SRE-CRITICAL`); ids stay as they are. */
  static channelId(name: string): string {
    return name.startsWith('#') ? `C-${name.slice(1).toUpperCase()}` : name;
  }

  protected routeOf(call: RecordedCall): string {
    return call.path.replace(/^\/api\//, '');
  }

  protected answer(response: ServerResponse, call: RecordedCall, route: string): void {
    if (call.headers.authorization !== `Bearer ${this.token}`) {
      json(200, { ok: false, error: 'not_authed' })(response, call);
      return;
    }
    if (route !== 'chat.postMessage') {
      json(200, { ok: false, error: 'unknown_method' })(response, call);
      return;
    }
    if (typeof call.body.channel !== 'string' || typeof call.body.text !== 'string') {
      json(200, { ok: false, error: 'invalid_arguments' })(response, call);
      return;
    }
    this.counter++;
    const ts = `1700000000.${String(this.counter).padStart(6, '0')}`;
    json(200, {
      ok: true,
      channel: SlackLoopback.channelId(call.body.channel),
      ts,
      message: {
        type: 'message',
        text: call.body.text,
        ts,
        ...(call.body.thread_ts ? { thread_ts: call.body.thread_ts } : {}),
      },
    })(response, call);
  }
}

/** PagerDuty's Events API v2 at `/v2/enqueue`. */
export class PagerDutyLoopback extends Loopback {
  get eventsUrl(): string {
    return `${this.url}/v2/enqueue`;
  }

  /** The events accepted or not, in order. */
  events(): Json[] {
    return this.calls.map((c) => c.body);
  }

  protected routeOf(): string {
    return 'enqueue';
  }

  protected answer(response: ServerResponse, call: RecordedCall): void {
    const { routing_key: key, event_action: action, dedup_key: dedup } = call.body;
    if (typeof key !== 'string' || key.length !== 32) {
      json(400, { status: 'invalid event', message: 'Event object is invalid', errors: ['Invalid routing key'] })(
        response,
        call,
      );
      return;
    }
    if (!['trigger', 'acknowledge', 'resolve'].includes(String(action)) || typeof dedup !== 'string') {
      json(400, { status: 'invalid event', message: 'Event object is invalid', errors: ['bad event'] })(response, call);
      return;
    }
    json(202, { status: 'success', message: 'Event processed', dedup_key: dedup })(response, call);
  }
}

interface Issue {
  readonly id: string;
  readonly key: string;
  readonly labels: readonly string[];
  readonly summary: string;
  readonly comments: unknown[];
}

/** The Jira Cloud calls a ticket per group needs: search by label, create, comment. */
export class JiraLoopback extends Loopback {
  issues: Issue[] = [];

  override reset(): void {
    super.reset();
    this.issues = [];
  }

  protected routeOf(call: RecordedCall): string {
    if (call.method === 'GET' && call.path === '/rest/api/3/search/jql') return 'search';
    if (call.method === 'POST' && call.path === '/rest/api/3/issue') return 'create';
    if (call.method === 'POST' && /^\/rest\/api\/3\/issue\/[^/]+\/comment$/.test(call.path)) return 'comment';
    return 'unknown';
  }

  protected answer(response: ServerResponse, call: RecordedCall, route: string): void {
    if (route === 'search') {
      const jql = call.query.get('jql') ?? '';
      const found = this.issues.filter((issue) => issue.labels.some((label) => jql.includes(`"${label}"`)));
      json(200, {
        issues: found.map((i) => ({ id: i.id, key: i.key, self: `${this.url}/rest/api/3/issue/${i.id}`, fields: {} })),
        isLast: true,
      })(response, call);
      return;
    }
    if (route === 'create') {
      const fields = call.body.fields as { summary: string; labels: string[] };
      const n = this.issues.length + 1;
      const issue: Issue = {
        id: String(10_000 + n),
        key: `OPS-${n}`,
        labels: fields.labels,
        summary: fields.summary,
        comments: [],
      };
      this.issues.push(issue);
      json(201, { id: issue.id, key: issue.key, self: `${this.url}/rest/api/3/issue/${issue.id}` })(response, call);
      return;
    }
    if (route === 'comment') {
      const key = call.path.split('/')[5];
      const issue = this.issues.find((i) => i.key === key || i.id === key);
      if (!issue) {
        json(404, { errorMessages: ['Issue does not exist or you do not have permission to see it.'], errors: {} })(
          response,
          call,
        );
        return;
      }
      issue.comments.push(call.body.body);
      json(201, { id: String(20_000 + issue.comments.length) })(response, call);
      return;
    }
    json(404, { errorMessages: ['No route'], errors: {} })(response, call);
  }
}
