// A small Slack Web API client over fetch: the methods the approval flow uses, JSON bodies, a per-attempt
// timeout, jittered retries that honour HTTP 429 Retry-After, `{ok: false}` answers as typed errors, and an
// optional limit on a whole call (retries included) for calls made while someone waits for the answer.

import type { ChatCallLimits } from '../../core/decision/approval';
import { networkCode } from '../http/failures';
import { retryAfterMs } from '../http/retry-after';
import { withRetries } from '../http/retrying';

export const SLACK_API_URL = 'https://slack.com/api/';

/** A Slack method failed: `code` is Slack's error string (channel_not_found, invalid_auth, ratelimited, ...). */
export class SlackApiError extends Error {
  override readonly name = 'SlackApiError';
  constructor(
    readonly method: string,
    readonly code: string,
    detail: string,
    readonly status?: number,
  ) {
    super(`${method}: ${code}${detail ? ` (${detail})` : ''}`);
  }
}

export type SlackApiEvent = {
  readonly type: 'retry';
  readonly method: string;
  readonly attempt: number;
  readonly code: string;
  readonly waitMs?: number;
};

export interface SlackWebApiOptions {
  /** Returns the bot token (xoxb-...); called for each request, so a cached secret reader fits. */
  readonly token: () => Promise<string>;
  /** @default 'https://slack.com/api/' */
  readonly baseUrl?: string;
  /** Per attempt. @default 3000 */
  readonly timeoutMs?: number;
  /** Attempts after the first, for timeouts, connection errors, 429 and 5xx. @default 2 */
  readonly retries?: number;
  /** A Retry-After longer than this fails at once (code `ratelimited`) instead of waiting. @default 5000 */
  readonly maxRetryAfterMs?: number;
  /** First backoff delay, doubled each time, full jitter. @default 200 */
  readonly backoffStartMs?: number;
  readonly fetch?: typeof fetch;
  readonly sleep?: (ms: number) => Promise<void>;
  readonly log?: (event: SlackApiEvent) => void;
}

export type Block = Readonly<Record<string, unknown>>;

export interface SlackMessage {
  /** Notification and accessibility text; the blocks are what people see. */
  readonly text: string;
  readonly blocks: readonly Block[];
}

/** Where a message lives. */
export interface MessageRef {
  readonly channel: string;
  readonly ts: string;
}

const MAX_BACKOFF_MS = 2_000;
/** Under a call limit, an attempt is not started (nor a retry planned) with less time than this left. */
const MIN_ATTEMPT_MS = 50;
const RETRYABLE_CODES = new Set(['ratelimited', 'internal_error', 'fatal_error', 'service_unavailable']);

/** One failed attempt; `retryable` decides whether backOff tries again. */
class Attempt extends Error {
  constructor(
    readonly failure: SlackApiError,
    readonly retryable: boolean,
    readonly retryAfterMs?: number,
  ) {
    super(failure.message);
  }
}

const isAttempt = (error: unknown): error is Attempt => error instanceof Attempt;

const defaultSleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** The bot token from a secret holding it raw or as JSON {"token": "..."}. */
export function botTokenFrom(secret: string): string {
  const trimmed = secret.trim();
  if (trimmed.startsWith('{')) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(trimmed);
    } catch {
      throw new Error('the bot token secret looks like JSON but does not parse');
    }
    const token = (parsed as { token?: unknown }).token;
    if (typeof token !== 'string' || token.trim() === '') throw new Error('the bot token secret has no "token"');
    return token.trim();
  }
  if (trimmed === '') throw new Error('the bot token secret is empty');
  return trimmed;
}

export class SlackWebApi {
  private readonly baseUrl: string;
  private readonly timeoutMs: number;
  private readonly retries: number;
  private readonly maxRetryAfterMs: number;
  private readonly backoffStartMs: number;
  private readonly fetchFn: typeof fetch;
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly log: (event: SlackApiEvent) => void;

  constructor(private readonly options: SlackWebApiOptions) {
    this.baseUrl = (options.baseUrl ?? SLACK_API_URL).replace(/\/*$/, '/');
    this.timeoutMs = options.timeoutMs ?? 3_000;
    this.retries = options.retries ?? 2;
    this.maxRetryAfterMs = options.maxRetryAfterMs ?? 5_000;
    this.backoffStartMs = options.backoffStartMs ?? 200;
    this.fetchFn = options.fetch ?? ((input, init) => fetch(input, init));
    this.sleep = options.sleep ?? defaultSleep;
    this.log = options.log ?? (() => {});
  }

  async postMessage(channel: string, message: SlackMessage, limits?: ChatCallLimits): Promise<MessageRef> {
    const method = 'chat.postMessage';
    const answer = await this.call(method, { channel, text: message.text, blocks: message.blocks }, limits);
    return { channel: stringField(answer, 'channel', method), ts: stringField(answer, 'ts', method) };
  }

  async update(ref: MessageRef, message: SlackMessage, limits?: ChatCallLimits): Promise<MessageRef> {
    const method = 'chat.update';
    const answer = await this.call(
      method,
      { channel: ref.channel, ts: ref.ts, text: message.text, blocks: message.blocks },
      limits,
    );
    return { channel: stringField(answer, 'channel', method), ts: stringField(answer, 'ts', method) };
  }

  /** A message only `user` sees, in `channel`. */
  async postEphemeral(channel: string, user: string, text: string, limits?: ChatCallLimits): Promise<void> {
    await this.call('chat.postEphemeral', { channel, user, text }, limits);
  }

  /** Opens a modal; `triggerId` comes from the interaction and is valid for 3 seconds. */
  async openView(triggerId: string, view: Block, limits?: ChatCallLimits): Promise<void> {
    await this.call('views.open', { trigger_id: triggerId, view }, limits);
  }

  /**
   * Calls any Web API method with a JSON body; resolves to the `{ok: true}` answer. With `limits` the whole call
   * gives up once they are spent: each attempt's timeout is cut to what is left, and no retry (nor Retry-After
   * wait) is planned that would not fit; a call with no time left fails at once with code `deadline`.
   */
  async call(method: string, body: Record<string, unknown>, limits?: ChatCallLimits): Promise<Record<string, unknown>> {
    const maxAttempts = this.retries + 1;
    const deadline = limits ? Date.now() + limits.timeoutMs : undefined;
    let attempt = 0;
    try {
      return await withRetries(
        () => this.attempt(method, body, deadline, ++attempt),
        isAttempt,
        { attempts: maxAttempts, startMs: this.backoffStartMs, maxMs: MAX_BACKOFF_MS, sleep: this.sleep },
        (notice) => this.log({ type: 'retry', method, ...notice }),
      );
    } catch (error) {
      if (error instanceof Attempt) throw error.failure;
      throw error;
    }
  }

  private async attempt(
    method: string,
    body: Record<string, unknown>,
    deadline: number | undefined,
    attempt: number,
  ): Promise<Record<string, unknown>> {
    const left = deadline === undefined ? Number.POSITIVE_INFINITY : deadline - Date.now();
    if (left < MIN_ATTEMPT_MS) {
      throw new Attempt(new SlackApiError(method, 'deadline', 'no time left for the call'), false);
    }
    // Whether another attempt fits after waiting `waitMs` (a Retry-After) and the longest backoff before it.
    const retryFits = (waitMs = 0): boolean =>
      deadline === undefined ||
      Date.now() + waitMs + Math.min(MAX_BACKOFF_MS, this.backoffStartMs * 2 ** (attempt - 1)) + MIN_ATTEMPT_MS <=
        deadline;
    const timeoutMs = Math.min(this.timeoutMs, left);
    let token: string;
    try {
      token = await this.options.token();
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      throw new Attempt(new SlackApiError(method, 'token_unavailable', reason), false);
    }
    const signal = AbortSignal.timeout(timeoutMs);
    let response: Response;
    let text: string;
    try {
      response = await this.fetchFn(new URL(method, this.baseUrl), {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json; charset=utf-8' },
        body: JSON.stringify(body),
        signal,
      });
      text = await response.text();
    } catch (error) {
      const timedOut = signal.aborted || (error as { name?: string } | undefined)?.name === 'TimeoutError';
      const failure = timedOut
        ? new SlackApiError(method, 'timeout', `no answer within ${timeoutMs} ms`)
        : new SlackApiError(method, 'unreachable', networkCode(error));
      throw new Attempt(failure, retryFits());
    }

    const status = response.status;
    if (status === 429) {
      const wait = retryAfterMs(response.headers.get('retry-after'));
      const failure = new SlackApiError(method, 'ratelimited', `HTTP 429, retry after ${wait ?? '?'} ms`, status);
      throw new Attempt(failure, (wait === undefined || wait <= this.maxRetryAfterMs) && retryFits(wait), wait);
    }
    if (status >= 500) {
      throw new Attempt(new SlackApiError(method, 'http_error', `HTTP ${status}`, status), retryFits());
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      throw new Attempt(
        new SlackApiError(method, 'invalid_response', `HTTP ${status}, body is not JSON`, status),
        false,
      );
    }
    if (typeof json !== 'object' || json === null || Array.isArray(json)) {
      throw new Attempt(new SlackApiError(method, 'invalid_response', `HTTP ${status}, not an object`, status), false);
    }
    const answer = json as Record<string, unknown>;
    if (answer.ok === true) return answer;
    const code = typeof answer.error === 'string' ? answer.error : 'unknown_error';
    throw new Attempt(
      new SlackApiError(method, code, detailOf(answer), status),
      RETRYABLE_CODES.has(code) && retryFits(),
    );
  }
}

function stringField(answer: Record<string, unknown>, field: string, method: string): string {
  const value = answer[field];
  if (typeof value !== 'string' || value === '') {
    throw new SlackApiError(method, 'invalid_response', `the answer has no "${field}"`);
  }
  return value;
}

/** Slack's own explanation of a failure (e.g. which block is invalid); it never echoes the token. */
function detailOf(answer: Record<string, unknown>): string {
  const metadata = answer.response_metadata as { messages?: unknown } | undefined;
  const messages = Array.isArray(metadata?.messages) ? metadata.messages.filter((m) => typeof m === 'string') : [];
  return messages.slice(0, 3).join('; ');
}
