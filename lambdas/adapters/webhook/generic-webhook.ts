// Posts incident events to any HTTP endpoint as signed JSON: HMAC-SHA256 over "<timestamp>.<body>" so the receiver
// can check origin and freshness, retried with backoff, and keyed "<incidentId>:<event>" so retries can be dropped.

import { createHmac, timingSafeEqual } from 'node:crypto';
import { redact, redactDeep } from '../../core/action/redact';
import type { Incident } from '../../core/cognition/incident';
import type { CaseOutcome, IncidentCase } from '../../core/decision/incident-case';
import type { Tier } from '../../core/decision/types';
import { networkCode } from '../http/failures';
import { retryAfterMs } from '../http/retry-after';
import { withRetries } from '../http/retrying';

export const SIGNATURE_HEADER = 'X-SRE-Agent-Signature';
export const TIMESTAMP_HEADER = 'X-SRE-Agent-Timestamp';
export const EVENT_HEADER = 'X-SRE-Agent-Event';
export const IDEMPOTENCY_HEADER = 'Idempotency-Key';

/** What the receiver gets. `case` is the whole incident case, redacted. */
export interface WebhookEventBody {
  readonly type: string;
  readonly incidentId: string;
  readonly tier: Tier | null;
  readonly outcome: CaseOutcome | null;
  readonly summary: string;
  readonly sentAt: string;
  readonly case: IncidentCase;
}

export type WebhookFailureCode =
  | 'rejected'
  | 'rate_limited'
  | 'server_error'
  | 'timeout'
  | 'unreachable'
  | 'secret_unavailable';

export interface WebhookFailure {
  readonly code: WebhookFailureCode;
  readonly detail: string;
  readonly status?: number;
}

export type WebhookResult =
  | { readonly ok: true; readonly status: number; readonly attempts: number; readonly idempotencyKey: string }
  | {
      readonly ok: false;
      readonly attempts: number;
      readonly idempotencyKey: string;
      readonly failure: WebhookFailure;
    };

export type WebhookLogEvent = {
  readonly type: 'retry';
  readonly idempotencyKey: string;
  readonly attempt: number;
  readonly code: WebhookFailureCode;
  readonly waitMs?: number;
};

export interface GenericWebhookOptions {
  readonly url: string;
  /** Secret holding the signing key, raw or as JSON {"secret": "..."}. */
  readonly signingSecret: string;
  readonly secrets: (name: string) => Promise<string>;
  /** Per attempt. @default 3000 */
  readonly timeoutMs?: number;
  /** Attempts after the first, for timeouts, connection errors, 408, 429 and 5xx. @default 2 */
  readonly retries?: number;
  /** A Retry-After longer than this fails at once instead of holding the workflow. @default 5000 */
  readonly maxRetryAfterMs?: number;
  /** First backoff delay, doubled each time, full jitter. @default 200 */
  readonly backoffStartMs?: number;
  /** @default 2000 */
  readonly maxBackoffMs?: number;
  readonly fetch?: typeof fetch;
  readonly sleep?: (ms: number) => Promise<void>;
  readonly now?: () => number;
  readonly log?: (event: WebhookLogEvent) => void;
}

/** `sha256=<hex>` of HMAC-SHA256(secret, "<timestamp>.<body>"); the timestamp is bound in so a replay goes stale. */
export function signWebhook(secret: string, timestamp: string, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`;
}

/** For receivers: the signature matches and the timestamp is within `toleranceSeconds` of now. */
export function verifyWebhookSignature(
  secret: string,
  request: { readonly signature: string; readonly timestamp: string; readonly body: string },
  nowSeconds = Math.floor(Date.now() / 1000),
  toleranceSeconds = 300,
): boolean {
  if (!/^\d+$/.test(request.timestamp)) return false;
  if (Math.abs(nowSeconds - Number(request.timestamp)) > toleranceSeconds) return false;
  const expected = Buffer.from(signWebhook(secret, request.timestamp, request.body));
  const given = Buffer.from(request.signature);
  return expected.length === given.length && timingSafeEqual(expected, given);
}

/** The signing key from a secret holding it raw or as JSON {"secret"} / {"signingSecret"}. */
export function signingKeyFrom(secret: string): string {
  const trimmed = secret.trim();
  if (trimmed.startsWith('{')) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(trimmed);
    } catch {
      throw new Error('the signing secret looks like JSON but does not parse');
    }
    const record = (parsed ?? {}) as { secret?: unknown; signingSecret?: unknown };
    const key = record.secret ?? record.signingSecret;
    if (typeof key !== 'string' || key === '') throw new Error('the signing secret has no "secret"');
    return key;
  }
  if (trimmed === '') throw new Error('the signing secret is empty');
  return trimmed;
}

function defaultSummary(c: IncidentCase): string {
  const root = c.diagnosis?.rootCause;
  const services = (c.incident as Incident | undefined)?.services.join(', ') || 'unknown service';
  const what = root ? `${root.service}: ${root.kind} (confidence ${root.confidence})` : `${services}: not diagnosed`;
  return `${c.risk ? `[${c.risk.tier}] ` : ''}${what} - incident ${c.incidentId}${c.outcome ? ` - ${c.outcome}` : ''}`;
}

class Attempt extends Error {
  constructor(
    readonly failure: WebhookFailure,
    readonly retryable: boolean,
    readonly retryAfterMs?: number,
  ) {
    super(failure.detail);
  }
}

const isAttempt = (error: unknown): error is Attempt => error instanceof Attempt;

const defaultSleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

export class GenericWebhook {
  private readonly timeoutMs: number;
  private readonly retries: number;
  private readonly maxRetryAfterMs: number;
  private readonly backoffStartMs: number;
  private readonly maxBackoffMs: number;
  private readonly fetchFn: typeof fetch;
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly now: () => number;
  private readonly log: (event: WebhookLogEvent) => void;

  constructor(private readonly options: GenericWebhookOptions) {
    this.timeoutMs = options.timeoutMs ?? 3_000;
    this.retries = options.retries ?? 2;
    this.maxRetryAfterMs = options.maxRetryAfterMs ?? 5_000;
    this.backoffStartMs = options.backoffStartMs ?? 200;
    this.maxBackoffMs = options.maxBackoffMs ?? 2_000;
    this.fetchFn = options.fetch ?? ((input, init) => fetch(input, init));
    this.sleep = options.sleep ?? defaultSleep;
    this.now = options.now ?? Date.now;
    this.log = options.log ?? (() => {});
  }

  /** Posts event `type` (e.g. a workflow notice such as Page) for the case; never throws. */
  async send(type: string, c: IncidentCase, summary?: string): Promise<WebhookResult> {
    const idempotencyKey = `${c.incidentId}:${type}`;
    let key: string;
    try {
      key = signingKeyFrom(await this.options.secrets(this.options.signingSecret));
    } catch (error) {
      const detail = `secret "${this.options.signingSecret}": ${error instanceof Error ? error.message : String(error)}`;
      return { ok: false, attempts: 0, idempotencyKey, failure: { code: 'secret_unavailable', detail } };
    }
    const event: WebhookEventBody = {
      type,
      incidentId: c.incidentId,
      tier: c.risk?.tier ?? null,
      outcome: c.outcome ?? null,
      summary: redact(summary ?? defaultSummary(c)).text,
      sentAt: new Date(this.now()).toISOString(),
      case: redactDeep(c).value,
    };
    // The body is fixed across retries so the receiver sees one event; only the timestamp and signature change.
    const body = JSON.stringify(event);
    const maxAttempts = this.retries + 1;
    let attempts = 0;
    try {
      const status = await withRetries(
        () => {
          attempts++;
          return this.attempt(key, body, type, idempotencyKey);
        },
        isAttempt,
        { attempts: maxAttempts, startMs: this.backoffStartMs, maxMs: this.maxBackoffMs, sleep: this.sleep },
        (notice) => this.log({ type: 'retry', idempotencyKey, ...notice }),
      );
      return { ok: true, status, attempts, idempotencyKey };
    } catch (error) {
      const failure: WebhookFailure =
        error instanceof Attempt
          ? error.failure
          : { code: 'unreachable', detail: error instanceof Error ? error.message : String(error) };
      return { ok: false, attempts, idempotencyKey, failure };
    }
  }

  private async attempt(key: string, body: string, type: string, idempotencyKey: string): Promise<number> {
    const timestamp = String(Math.floor(this.now() / 1000));
    const signal = AbortSignal.timeout(this.timeoutMs);
    let response: Response;
    let text: string;
    try {
      response = await this.fetchFn(this.options.url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          [TIMESTAMP_HEADER]: timestamp,
          [SIGNATURE_HEADER]: signWebhook(key, timestamp, body),
          [EVENT_HEADER]: type,
          [IDEMPOTENCY_HEADER]: idempotencyKey,
        },
        body,
        signal,
      });
      text = await response.text();
    } catch (error) {
      const timedOut = signal.aborted || (error as { name?: string } | undefined)?.name === 'TimeoutError';
      const failure: WebhookFailure = timedOut
        ? { code: 'timeout', detail: `no answer within ${this.timeoutMs} ms` }
        : { code: 'unreachable', detail: networkCode(error) };
      throw new Attempt(failure, true);
    }
    const status = response.status;
    if (status >= 200 && status < 300) return status;
    // The receiver's words help whoever reads the audit; they are cut short and never echo our secret.
    const said = text.trim().slice(0, 200);
    const detail = `HTTP ${status}${said ? `: ${said}` : ''}`;
    const wait = retryAfterMs(response.headers.get('retry-after'));
    if (status === 429) {
      throw new Attempt(
        { code: 'rate_limited', detail, status },
        wait === undefined || wait <= this.maxRetryAfterMs,
        wait,
      );
    }
    if (status >= 500 || status === 408) {
      const within = wait !== undefined && wait <= this.maxRetryAfterMs ? wait : undefined;
      throw new Attempt({ code: status === 408 ? 'timeout' : 'server_error', detail, status }, true, within);
    }
    throw new Attempt({ code: 'rejected', detail, status }, false);
  }
}
