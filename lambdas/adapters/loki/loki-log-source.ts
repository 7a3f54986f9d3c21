// LogSource over Loki's HTTP API (GET /loki/api/v1/query_range): self-hosted Loki, Grafana Cloud Logs, GEL.
// Failures come back as values naming the LogQL, never thrown; transient ones (429, 5xx, timeouts) are retried.

import type { LogSourceAuth, LogSourceConfig } from '../../core/config/log-source-schema';
import {
  compareLogLines,
  countRangeProblem,
  countTimestamps,
  type ErrorCountsResult,
  type ErrorLinesResult,
  errorCountQuery,
  errorLinesQuery,
  type LogDirection,
  type LogErrorKind,
  type LogLine,
  type LogQueryError,
  type LogSource,
  linesRangeProblem,
} from '../../core/perception/log-source';
import { fail, ok } from '../../core/result';
import { causeCode, isRecord, isTimeout, networkCause, snippet } from '../http/failures';
import { retryAfterMs } from '../http/retry-after';
import { QueryAttemptFailure, withRetries } from '../http/retrying';
import { SecretAuthorization } from '../http/secret-auth';

/** What the source reports besides results: server warnings and retries. Meant for a debug logger. */
export type LogSourceEvent =
  | { readonly type: 'warnings'; readonly query: string; readonly warnings: readonly string[] }
  | {
      readonly type: 'retry';
      readonly query: string;
      readonly attempt: number;
      readonly kind: LogErrorKind;
      readonly message: string;
      readonly waitMs?: number;
    };

export interface LokiLogSourceDeps {
  /** Defaults to the global fetch. */
  readonly fetch?: typeof fetch;
  /** Reads a secret by name (basic: `user:password` or {"username","password"}; bearer: the token). */
  readonly secrets?: (name: string) => Promise<string>;
  /** Waits honouring a server's Retry-After. */
  readonly sleep?: (ms: number) => Promise<void>;
  /** Receives server warnings and retry notices. */
  readonly log?: (event: LogSourceEvent) => void;
  /** First backoff delay in ms (full jitter, doubling, capped at 5 s). */
  readonly backoffStartMs?: number;
}

export const QUERY_RANGE_PATH = '/loki/api/v1/query_range';
/** Longest wait a Retry-After header can impose between two attempts. */
export const MAX_RETRY_AFTER_MS = 10_000;
const MAX_BACKOFF_MS = 5_000;
const DEFAULT_BACKOFF_START_MS = 200;
// Loki answers 429 when the query scheduler queue is full and 500/502/503/504 when a querier or ingester is busy,
// restarting or timed out: all worth another try. 400 is a LogQL or limit error and never is.
const RETRYABLE_STATUSES = new Set([429, 500, 502, 503, 504]);
const TLS_ERROR_CODE = /CERT|TLS|SSL|SELF_SIGNED|UNABLE_TO_VERIFY/i;
const NS_PER_MS = 1_000_000n;

type Range = LogQueryError['range'];

/** Outcome of one failed attempt; `retryable` decides whether the shared retry policy tries again. */
class AttemptFailure extends QueryAttemptFailure<LogErrorKind> {}

const isAttemptFailure = (error: unknown): error is AttemptFailure => error instanceof AttemptFailure;

interface SuccessData {
  readonly resultType: string;
  readonly result: unknown;
  readonly attempts: number;
}

/** Epoch seconds as Loki's nanosecond timestamp text; millisecond precision, as the rest of the agent keeps. */
export function toNanoseconds(seconds: number): bigint {
  return BigInt(Math.round(seconds * 1000)) * NS_PER_MS;
}

const defaultSleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

function parseLabels(value: unknown): Readonly<Record<string, string>> | undefined {
  if (value === undefined) return {};
  if (!isRecord(value)) return undefined;
  for (const label of Object.values(value)) {
    if (typeof label !== 'string') return undefined;
  }
  return value as Record<string, string>;
}

/** Loki's error text: plain text in most versions, {"message"} or {"error"} JSON in some gateways. */
function serverMessage(text: string): string {
  try {
    const json: unknown = JSON.parse(text);
    if (isRecord(json)) {
      for (const key of ['error', 'message']) {
        const value = json[key];
        if (typeof value === 'string' && value.trim()) return snippet(value);
      }
    }
  } catch {
    // plain text, as Loki sends
  }
  return snippet(text);
}

export class LokiLogSource implements LogSource {
  private readonly base: URL;
  private readonly basePath: string;
  private readonly fetchFn: typeof fetch;
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly log: (event: LogSourceEvent) => void;
  private readonly backoffStartMs: number;
  private readonly secrets: ((name: string) => Promise<string>) | undefined;
  /** Resolved auth header and the secret strings to keep out of messages. */
  private readonly auth: SecretAuthorization;

  constructor(
    private readonly config: LogSourceConfig,
    deps: LokiLogSourceDeps = {},
  ) {
    this.base = new URL(config.url);
    this.basePath = this.base.pathname.replace(/\/+$/, '');
    this.fetchFn = deps.fetch ?? ((input, init) => fetch(input, init));
    this.sleep = deps.sleep ?? defaultSleep;
    this.log = deps.log ?? (() => {});
    this.backoffStartMs = deps.backoffStartMs ?? DEFAULT_BACKOFF_START_MS;
    this.secrets = deps.secrets;
    const secrets = this.secrets;
    this.auth = new SecretAuthorization(async (name) => {
      if (!secrets) throw new Error('no secrets reader was given');
      return secrets(name);
    });
    const auth: LogSourceAuth = config.auth;
    if (auth.type !== 'none' && !this.secrets) {
      throw new Error(
        `log source auth "${auth.type}" reads secret "${auth.secretName}" but no secrets reader was given`,
      );
    }
  }

  async errorCounts(
    service: string,
    startSec: number,
    endSec: number,
    stepSeconds: number,
  ): Promise<ErrorCountsResult> {
    const range: Range = { start: startSec, end: endSec, stepSeconds };
    const query = errorCountQuery(this.config, service, stepSeconds);
    const problem = countRangeProblem(startSec, endSec, stepSeconds);
    if (problem) return fail({ kind: 'query', service, query, message: problem, range, attempts: 0 });

    // Loki evaluates at start, start + step, ... <= end, each over (t - step, t]: starting one step in makes the
    // windows tile (startSec, last window end] exactly.
    const timestamps = countTimestamps(startSec, endSec, stepSeconds);
    const first = timestamps[0];
    const last = timestamps[timestamps.length - 1];
    const params = {
      query,
      start: toNanoseconds(first).toString(),
      end: toNanoseconds(last).toString(),
      step: String(stepSeconds),
    };
    const outcome = await this.query(service, query, params, range);
    if (!outcome.ok) return outcome;
    const { resultType, result, attempts } = outcome.value;
    const malformed = (what: string) => this.malformed(service, query, range, attempts, what);
    if (resultType !== 'matrix') return malformed(`resultType "${resultType}", expected "matrix"`);
    if (!Array.isArray(result)) return malformed('matrix result is not an array');

    // Series are summed: a selector template without a service label still yields one count per window.
    const counts = new Array<number>(timestamps.length).fill(0);
    for (const element of result) {
      const labels = isRecord(element) ? parseLabels(element.metric) : undefined;
      if (!isRecord(element) || !labels) return malformed('matrix element without a label set');
      const points = element.values;
      if (!Array.isArray(points)) return malformed('matrix element without values');
      for (const point of points) {
        const time = Array.isArray(point) ? point[0] : undefined;
        const value = Array.isArray(point) && typeof point[1] === 'string' ? Number(point[1]) : Number.NaN;
        if (typeof time !== 'number' || !Number.isFinite(value) || value < 0) {
          return malformed(`point ${snippet(JSON.stringify(point))} is not [seconds, "count"]`);
        }
        const index = Math.round((time - first) / stepSeconds);
        if (index < 0 || index >= counts.length || Math.abs(first + index * stepSeconds - time) > 0.001) {
          return malformed(
            `point at ${time} is not one of the evaluation times ${first}, ${first + stepSeconds}, ... ${last} ` +
              '(a query frontend aligning to the step? align start to the step)',
          );
        }
        counts[index] += value;
      }
    }
    const total = counts.reduce((sum, count) => sum + count, 0);
    return ok({ service, query, stepSeconds, timestamps, counts, total });
  }

  async errorLines(
    service: string,
    startSec: number,
    endSec: number,
    limit: number,
    direction: LogDirection = 'backward',
  ): Promise<ErrorLinesResult> {
    const range: Range = { start: startSec, end: endSec };
    const query = errorLinesQuery(this.config, service);
    const problem = linesRangeProblem(startSec, endSec, limit);
    if (problem) return fail({ kind: 'query', service, query, message: problem, range, attempts: 0 });

    // Loki returns lines with start <= t < end; one nanosecond later on both ends gives (start, end], the window
    // errorCounts covers.
    const params = {
      query,
      start: (toNanoseconds(startSec) + 1n).toString(),
      end: (toNanoseconds(endSec) + 1n).toString(),
      limit: String(limit),
      direction,
    };
    const outcome = await this.query(service, query, params, range);
    if (!outcome.ok) return outcome;
    const { resultType, result, attempts } = outcome.value;
    const malformed = (what: string) => this.malformed(service, query, range, attempts, what);
    if (resultType !== 'streams') return malformed(`resultType "${resultType}", expected "streams"`);
    if (!Array.isArray(result)) return malformed('streams result is not an array');

    const lines: LogLine[] = [];
    for (const element of result) {
      const labels = isRecord(element) ? parseLabels(element.stream) : undefined;
      if (!isRecord(element) || !labels) return malformed('stream without a label set');
      if (!Array.isArray(element.values)) return malformed('stream without values');
      for (const entry of element.values) {
        const ns = Array.isArray(entry) ? entry[0] : undefined;
        const line = Array.isArray(entry) ? entry[1] : undefined;
        if (typeof ns !== 'string' || !/^\d+$/.test(ns) || typeof line !== 'string') {
          return malformed(`entry ${snippet(JSON.stringify(entry))} is not ["<unix ns>", "<line>"]`);
        }
        lines.push({ time: Number(BigInt(ns) / NS_PER_MS), labels, line });
      }
    }
    lines.sort(compareLogLines);
    return ok({ service, query, lines, truncated: lines.length >= limit });
  }

  private malformed(service: string, query: string, range: Range, attempts: number, what: string) {
    return fail<LogQueryError>({
      kind: 'response',
      service,
      query,
      message: this.redact(
        `${this.basePath}${QUERY_RANGE_PATH}: unexpected answer for ${JSON.stringify(query)}: ${what}`,
      ),
      range,
      attempts,
    });
  }

  /** Runs one query_range call with retries; returns the `data` of a success answer or a LogQueryError. */
  private async query(
    service: string,
    query: string,
    params: Record<string, string>,
    range: Range,
  ): Promise<{ ok: true; value: SuccessData } | { ok: false; error: LogQueryError }> {
    const path = `${this.basePath}${QUERY_RANGE_PATH}`;
    const context = `GET ${path} for ${JSON.stringify(query)} over (${range.start}, ${range.end}]${
      range.stepSeconds !== undefined ? ` step ${range.stepSeconds}s` : ''
    }`;
    const search = new URLSearchParams(params).toString();
    const maxAttempts = this.config.retries + 1;
    let attempts = 0;
    try {
      const data = await withRetries(
        () => {
          attempts++;
          return this.attempt(path, search, query);
        },
        isAttemptFailure,
        { attempts: maxAttempts, startMs: this.backoffStartMs, maxMs: MAX_BACKOFF_MS, sleep: this.sleep },
        (notice, error) =>
          this.log({
            type: 'retry',
            query,
            attempt: notice.attempt,
            kind: error.kind,
            message: this.redact(error.message),
            ...(notice.waitMs !== undefined ? { waitMs: notice.waitMs } : {}),
          }),
      );
      return { ok: true, value: { ...data, attempts } };
    } catch (error) {
      const failure =
        error instanceof AttemptFailure ? error : new AttemptFailure('unreachable', networkCause(error), false);
      const tries = attempts === 1 ? '1 attempt' : `${attempts} attempts`;
      return fail({
        kind: failure.kind,
        service,
        query,
        message: this.redact(`${context}: ${failure.message} (${tries})`),
        ...(failure.status !== undefined ? { status: failure.status } : {}),
        range,
        attempts,
      });
    }
  }

  /** One HTTP round trip; throws AttemptFailure for anything but a success answer. */
  private async attempt(path: string, search: string, query: string): Promise<Omit<SuccessData, 'attempts'>> {
    const headers = await this.headers();
    const url = new URL(this.base);
    url.pathname = path;
    url.search = search;
    url.username = ''; // credentials belong in auth secrets, never in a URL that may end up in a message
    url.password = '';
    const signal = AbortSignal.timeout(this.config.timeoutMs);
    let status: number;
    let statusText: string;
    let retryAfter: string | null;
    let text: string;
    try {
      const response = await this.fetchFn(url, { method: 'GET', headers, signal });
      status = response.status;
      statusText = response.statusText;
      retryAfter = response.headers.get('retry-after');
      text = await response.text();
    } catch (error) {
      if (isTimeout(error) || signal.aborted) {
        throw new AttemptFailure('timeout', `no answer within ${this.config.timeoutMs} ms`, true);
      }
      const code = causeCode(error);
      const retryable = !(code && TLS_ERROR_CODE.test(code));
      throw new AttemptFailure('unreachable', `cannot connect to ${this.base.host}: ${networkCause(error)}`, retryable);
    }
    if (status === 401 || status === 403) this.auth.forget(); // a rotated secret is read again next time
    return this.interpret(status, statusText, retryAfter, text, query);
  }

  private interpret(
    status: number,
    statusText: string,
    retryAfterHeader: string | null,
    text: string,
    query: string,
  ): Omit<SuccessData, 'attempts'> {
    const httpStatus = `HTTP ${status}${statusText ? ` ${statusText}` : ''}`;
    if (status === 400) {
      // Loki's LogQL parse errors and limit refusals ("max entries limit per query exceeded"), as plain text.
      throw new AttemptFailure('query', `Loki rejected the query: ${serverMessage(text)}`, false, status);
    }
    if (status < 200 || status > 299) {
      const retryable = RETRYABLE_STATUSES.has(status);
      const waitMs = retryable ? retryAfterMs(retryAfterHeader) : undefined;
      throw new AttemptFailure(
        'http',
        `${httpStatus}: ${serverMessage(text)}${this.hint(status)}`,
        retryable,
        status,
        waitMs === undefined ? undefined : Math.min(waitMs, MAX_RETRY_AFTER_MS),
      );
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      throw new AttemptFailure(
        'response',
        `${httpStatus} with a body that is not JSON: ${snippet(text)}`,
        false,
        status,
      );
    }
    if (!isRecord(json) || json.status !== 'success' || !isRecord(json.data)) {
      throw new AttemptFailure('response', `not a Loki query answer: ${snippet(text)}`, false, status);
    }
    const warnings = Array.isArray(json.warnings)
      ? json.warnings.filter((item): item is string => typeof item === 'string')
      : [];
    if (warnings.length > 0) this.log({ type: 'warnings', query, warnings });
    const { resultType, result } = json.data;
    if (typeof resultType !== 'string') {
      throw new AttemptFailure('response', `answer has no data.resultType: ${snippet(text)}`, false, status);
    }
    return { resultType, result };
  }

  private hint(status: number): string {
    if (status === 401 || status === 403) {
      const auth = this.config.auth;
      const how = auth.type === 'none' ? 'no auth configured' : `${auth.type} auth from secret "${auth.secretName}"`;
      return ` (check ${how}${this.config.tenant ? ` and tenant "${this.config.tenant}"` : ''})`;
    }
    if (status === 404) return ' (check that the URL is the Loki root, without /loki/api/v1)';
    return '';
  }

  private async headers(): Promise<Record<string, string>> {
    const headers: Record<string, string> = { accept: 'application/json' };
    if (this.config.tenant) headers['x-scope-orgid'] = this.config.tenant;
    const auth = this.config.auth;
    if (auth.type !== 'none') headers.authorization = await this.authorization(auth.type, auth.secretName);
    return headers;
  }

  private async authorization(type: 'basic' | 'bearer', secretName: string): Promise<string> {
    try {
      return await this.auth.header(type, secretName);
    } catch (error) {
      throw new AttemptFailure('unreachable', (error as Error).message, false);
    }
  }

  private redact(message: string): string {
    return this.auth.redact(message);
  }
}
