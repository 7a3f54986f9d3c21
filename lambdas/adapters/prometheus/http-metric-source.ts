// MetricSource over the Prometheus HTTP API: Prometheus, Grafana Mimir and Amazon Managed Service for Prometheus.
// Queries are POSTed form-encoded (as Grafana does) so long PromQL fits; failures come back as values, never thrown.

import { Sha256 } from '@aws-crypto/sha256-js';
import { defaultProvider } from '@aws-sdk/credential-provider-node';
import { HttpRequest } from '@smithy/protocol-http';
import { SignatureV4 } from '@smithy/signature-v4';
import type { MetricSourceAuth, MetricSourceConfig } from '../../core/config/schema';
import type {
  InstantResult,
  InstantSample,
  MetricErrorKind,
  MetricQueryError,
  MetricSource,
  RangeResult,
  RangeSeries,
} from '../../core/perception/metric-source';
import { fail, ok } from '../../core/result';
import { causeCode, isRecord, isTimeout, networkCause, snippet } from '../http/failures';
import { retryAfterMs } from '../http/retry-after';
import { QueryAttemptFailure, withRetries } from '../http/retrying';
import { SecretAuthorization } from '../http/secret-auth';

/** AWS credentials as the SDK credential providers resolve them. */
export interface AwsCredentialIdentity {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly sessionToken?: string;
  readonly expiration?: Date;
}
export type AwsCredentialIdentityProvider = () => Promise<AwsCredentialIdentity>;

/** What the source reports besides results: server warnings and retries. Meant for a debug logger. */
export type MetricSourceEvent =
  | { readonly type: 'warnings'; readonly path: string; readonly query: string; readonly warnings: readonly string[] }
  | {
      /** One element of an otherwise good answer could not be read; the rest of the answer is kept. */
      readonly type: 'malformed-element';
      readonly path: string;
      readonly query: string;
      readonly detail: string;
    }
  | {
      readonly type: 'retry';
      readonly path: string;
      readonly query: string;
      readonly attempt: number;
      readonly kind: MetricErrorKind;
      readonly message: string;
      readonly waitMs?: number;
    };

export interface PrometheusHttpSourceDeps {
  /** Defaults to the global fetch. */
  readonly fetch?: typeof fetch;
  /** SigV4 credentials; defaults to the Node provider chain (env, SSO, web identity, profile, container, instance). */
  readonly credentials?: AwsCredentialIdentityProvider;
  /** Reads a secret by name (basic: `user:password` or {"username","password"}; bearer: the token). */
  readonly secrets?: (name: string) => Promise<string>;
  /** Waits honouring a server's Retry-After. */
  readonly sleep?: (ms: number) => Promise<void>;
  /** Signing clock, for reproducible signatures. */
  readonly clock?: () => Date;
  /** Receives server warnings and retry notices. */
  readonly log?: (event: MetricSourceEvent) => void;
  /** First backoff delay in ms (full jitter, doubling, capped at 5 s). */
  readonly backoffStartMs?: number;
}

/** Longest wait a Retry-After header can impose between two attempts. */
export const MAX_RETRY_AFTER_MS = 10_000;
const MAX_BACKOFF_MS = 5_000;
const DEFAULT_BACKOFF_START_MS = 200;
const RETRYABLE_STATUSES = new Set([429, 502, 503, 504]);
const TLS_ERROR_CODE = /CERT|TLS|SSL|SELF_SIGNED|UNABLE_TO_VERIFY/i;
const AMP_HOST = /(?:^|\.)aps-workspaces\.([a-z]{2}(?:-[a-z]+)+-\d)\.(?:vpce\.)?amazonaws\.com(?:\.cn)?$/;

type Where = Pick<MetricQueryError, 'time' | 'range'>;

/** Outcome of one failed attempt; `retryable` decides whether the shared retry policy tries again. */
class AttemptFailure extends QueryAttemptFailure<MetricErrorKind> {}

const isAttemptFailure = (error: unknown): error is AttemptFailure => error instanceof AttemptFailure;

interface SuccessData {
  readonly resultType: string;
  readonly result: unknown;
}

/** Extracts the AWS region from an AMP workspace URL host (aps-workspaces.<region>.amazonaws.com). */
export function regionFromAmpUrl(url: string): string | undefined {
  return AMP_HOST.exec(new URL(url).hostname)?.[1];
}

/** Parses a Prometheus sample value ("1.5", "NaN", "+Inf", "-Inf", "1e-05"); undefined when it is not a number. */
export function parseSampleValue(text: unknown): number | undefined {
  if (typeof text !== 'string') return undefined;
  switch (text) {
    case 'NaN':
      return Number.NaN;
    case '+Inf':
    case 'Inf':
      return Number.POSITIVE_INFINITY;
    case '-Inf':
      return Number.NEGATIVE_INFINITY;
  }
  if (text.trim() === '') return undefined;
  const value = Number(text);
  return Number.isNaN(value) ? undefined : value;
}

/** Parses Retry-After (delta seconds or HTTP date) into ms, capped; undefined when absent or unreadable. */
export function parseRetryAfter(header: string | null, now = Date.now()): number | undefined {
  const ms = retryAfterMs(header, now);
  return ms === undefined ? undefined : Math.min(ms, MAX_RETRY_AFTER_MS);
}

const defaultSleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

function parseLabels(metric: unknown): Readonly<Record<string, string>> | undefined {
  if (metric === undefined) return {};
  if (!isRecord(metric)) return undefined;
  for (const value of Object.values(metric)) {
    if (typeof value !== 'string') return undefined;
  }
  return metric as Record<string, string>;
}

function describeLabels(labels: Readonly<Record<string, string>>): string {
  return `{${Object.entries(labels)
    .map(([name, value]) => `${name}="${value}"`)
    .join(', ')}}`;
}

export class PrometheusHttpSource implements MetricSource {
  private readonly base: URL;
  private readonly basePath: string;
  private readonly fetchFn: typeof fetch;
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly clock: () => Date;
  private readonly log: (event: MetricSourceEvent) => void;
  private readonly backoffStartMs: number;
  private readonly signer: SignatureV4 | undefined;
  private readonly secrets: ((name: string) => Promise<string>) | undefined;
  /** Resolved auth header and the secret strings to keep out of messages. */
  private readonly auth: SecretAuthorization;

  constructor(
    private readonly config: MetricSourceConfig,
    deps: PrometheusHttpSourceDeps = {},
  ) {
    this.base = new URL(config.url);
    this.basePath = this.base.pathname.replace(/\/+$/, '');
    this.fetchFn = deps.fetch ?? ((input, init) => fetch(input, init));
    this.sleep = deps.sleep ?? defaultSleep;
    this.clock = deps.clock ?? (() => new Date());
    this.log = deps.log ?? (() => {});
    this.backoffStartMs = deps.backoffStartMs ?? DEFAULT_BACKOFF_START_MS;
    this.secrets = deps.secrets;
    const secrets = this.secrets;
    this.auth = new SecretAuthorization(async (name) => {
      if (!secrets) throw new Error('no secrets reader was given');
      return secrets(name);
    });
    const auth: MetricSourceAuth = config.auth;
    if ((auth.type === 'basic' || auth.type === 'bearer') && !this.secrets) {
      throw new Error(
        `metric source auth "${auth.type}" reads secret "${auth.secretName}" but no secrets reader was given`,
      );
    }
    if (auth.type === 'sigv4') {
      const region = auth.region ?? regionFromAmpUrl(config.url) ?? process.env.AWS_REGION;
      if (!region) {
        throw new Error(
          `metric source ${this.base.host}: no SigV4 region (set auth.region or use an aps-workspaces.<region>.amazonaws.com URL)`,
        );
      }
      this.signer = new SignatureV4({
        service: auth.service,
        region,
        credentials: deps.credentials ?? defaultProvider(),
        sha256: Sha256,
      });
    }
  }

  async instant(query: string, time: number): Promise<InstantResult> {
    const where = { time };
    const apiPath = '/api/v1/query';
    const outcome = await this.query(apiPath, query, { query, time: String(time) }, where);
    if (!outcome.ok) return outcome;
    const { resultType, result, attempts } = outcome.value;
    const malformed = (what: string) => this.malformed(apiPath, query, where, attempts, what);
    if (resultType === 'scalar') {
      const value = Array.isArray(result) ? parseSampleValue(result[1]) : undefined;
      if (value === undefined) return malformed(`scalar result ${snippet(JSON.stringify(result))}`);
      return ok([{ labels: {}, value }]);
    }
    if (resultType !== 'vector') {
      return this.wrongType(apiPath, query, where, attempts, `a ${resultType}`, 'an instant vector or a scalar');
    }
    if (!Array.isArray(result)) return malformed('vector result is not an array');
    // One unreadable element must not cost the other series their tick: it is left out (no labels) or kept as a
    // gap (NaN: neither confirms nor clears), and reported.
    const samples: InstantSample[] = [];
    const skip = (detail: string) =>
      this.log({ type: 'malformed-element', path: `${this.basePath}${apiPath}`, query, detail });
    for (const element of result) {
      const labels = isRecord(element) ? parseLabels(element.metric) : undefined;
      if (!isRecord(element) || !labels) {
        skip(`vector element without a label set: ${snippet(JSON.stringify(element) ?? String(element))}`);
        continue;
      }
      if (element.value === undefined && element.histogram !== undefined) continue; // native histograms: not scored
      const value = Array.isArray(element.value) ? parseSampleValue(element.value[1]) : undefined;
      if (value === undefined) {
        skip(`vector element ${describeLabels(labels)} has no numeric value, kept as a gap`);
        samples.push({ labels, value: Number.NaN });
        continue;
      }
      samples.push({ labels, value });
    }
    return ok(samples);
  }

  async range(query: string, start: number, end: number, stepSeconds: number): Promise<RangeResult> {
    const where = { range: { start, end, stepSeconds } };
    const form = { query, start: String(start), end: String(end), step: String(stepSeconds) };
    const apiPath = '/api/v1/query_range';
    const outcome = await this.query(apiPath, query, form, where);
    if (!outcome.ok) return outcome;
    const { resultType, result, attempts } = outcome.value;
    const malformed = (what: string) => this.malformed(apiPath, query, where, attempts, what);
    if (resultType !== 'matrix') {
      return this.wrongType(apiPath, query, where, attempts, `a ${resultType}`, 'a range vector (matrix)');
    }
    if (!Array.isArray(result)) return malformed('matrix result is not an array');
    const series: RangeSeries[] = [];
    for (const element of result) {
      const labels = isRecord(element) ? parseLabels(element.metric) : undefined;
      if (!isRecord(element) || !labels) return malformed('matrix element without a label set');
      const points = element.values ?? [];
      if (!Array.isArray(points)) return malformed(`series ${describeLabels(labels)} has no values`);
      if (points.length === 0 && element.histograms !== undefined) continue; // native histograms: not scored
      const timestamps = new Float64Array(points.length);
      const values = new Float64Array(points.length);
      for (let i = 0; i < points.length; i++) {
        const point = points[i];
        const value = Array.isArray(point) ? parseSampleValue(point[1]) : undefined;
        if (value === undefined || typeof point[0] !== 'number') {
          return malformed(`series ${describeLabels(labels)} point ${i} is not [time, "value"]`);
        }
        timestamps[i] = point[0];
        values[i] = value;
      }
      series.push({ labels, timestamps, values });
    }
    return ok(series);
  }

  private wrongType(apiPath: string, query: string, where: Where, attempts: number, got: string, expected: string) {
    return fail<MetricQueryError>({
      kind: 'query',
      query,
      message: `${this.basePath}${apiPath}: query ${JSON.stringify(query)} returned ${got} result, expected ${expected}`,
      ...where,
      attempts,
    });
  }

  private malformed(apiPath: string, query: string, where: Where, attempts: number, what: string) {
    return fail<MetricQueryError>({
      kind: 'response',
      query,
      message: this.redact(`${this.basePath}${apiPath}: unexpected answer for ${JSON.stringify(query)}: ${what}`),
      ...where,
      attempts,
    });
  }

  /** Runs one API call with retries; returns the `data` of a success answer or a MetricQueryError. */
  private async query(
    apiPath: string,
    query: string,
    form: Record<string, string>,
    where: Where,
  ): Promise<{ ok: true; value: SuccessData & { attempts: number } } | { ok: false; error: MetricQueryError }> {
    const path = `${this.basePath}${apiPath}`;
    const context = `POST ${path} for ${JSON.stringify(query)} ${
      where.range
        ? `over [${where.range.start}, ${where.range.end}] step ${where.range.stepSeconds}s`
        : `at ${where.time}`
    }`;
    const body = new URLSearchParams(form).toString();
    const maxAttempts = this.config.retries + 1;
    let attempts = 0;
    try {
      const data = await withRetries(
        () => {
          attempts++;
          return this.attempt(path, body, query);
        },
        isAttemptFailure,
        { attempts: maxAttempts, startMs: this.backoffStartMs, maxMs: MAX_BACKOFF_MS, sleep: this.sleep },
        (notice, error) =>
          this.log({
            type: 'retry',
            path,
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
        query,
        message: this.redact(`${context}: ${failure.message} (${tries})`),
        ...(failure.status !== undefined ? { status: failure.status } : {}),
        ...where,
        attempts,
      });
    }
  }

  /** One HTTP round trip; throws AttemptFailure for anything but a success answer. */
  private async attempt(path: string, body: string, query: string): Promise<SuccessData> {
    const headers = await this.headers(path, body);
    const url = new URL(this.base);
    url.pathname = path;
    url.search = '';
    url.username = ''; // credentials belong in auth secrets, never in a URL that may end up in a message
    url.password = '';
    const signal = AbortSignal.timeout(this.config.timeoutMs);
    let status: number;
    let text: string;
    let retryAfter: string | null;
    let statusText: string;
    try {
      const response = await this.fetchFn(url, { method: 'POST', headers, body, signal });
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
    return this.interpret(status, statusText, retryAfter, text, path, query);
  }

  private interpret(
    status: number,
    statusText: string,
    retryAfterHeader: string | null,
    text: string,
    path: string,
    query: string,
  ): SuccessData {
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
    const retryable = RETRYABLE_STATUSES.has(status);
    const retryAfterMs = retryable ? parseRetryAfter(retryAfterHeader) : undefined;
    const httpStatus = `HTTP ${status}${statusText ? ` ${statusText}` : ''}`;

    if (isRecord(json) && json.status === 'error') {
      const errorType = typeof json.errorType === 'string' ? json.errorType : 'unknown';
      const serverMessage = typeof json.error === 'string' ? json.error : snippet(text);
      if (errorType === 'bad_data' || errorType === 'execution' || status === 400 || status === 422) {
        throw new AttemptFailure('query', `${errorType}: ${serverMessage}`, false, status);
      }
      const kind: MetricErrorKind = errorType === 'timeout' ? 'timeout' : 'http';
      throw new AttemptFailure(kind, `${httpStatus}, ${errorType}: ${serverMessage}`, retryable, status, retryAfterMs);
    }
    if (status < 200 || status > 299) {
      throw new AttemptFailure(
        'http',
        `${httpStatus}: ${snippet(text)}${this.hint(status)}`,
        retryable,
        status,
        retryAfterMs,
      );
    }
    if (json === undefined) {
      throw new AttemptFailure(
        'response',
        `${httpStatus} with a body that is not JSON: ${snippet(text)}`,
        false,
        status,
      );
    }
    if (!isRecord(json) || json.status !== 'success' || !isRecord(json.data)) {
      throw new AttemptFailure('response', `not a Prometheus API answer: ${snippet(text)}`, false, status);
    }
    const warnings = [json.warnings, json.infos].flatMap((list) =>
      Array.isArray(list) ? list.filter((item): item is string => typeof item === 'string') : [],
    );
    if (warnings.length > 0) this.log({ type: 'warnings', path, query, warnings });
    const { resultType, result } = json.data;
    if (typeof resultType !== 'string') {
      throw new AttemptFailure('response', `answer has no data.resultType: ${snippet(text)}`, false, status);
    }
    return { resultType, result };
  }

  private hint(status: number): string {
    if (status === 401 || status === 403) {
      const auth = this.config.auth;
      const how =
        auth.type === 'basic' || auth.type === 'bearer'
          ? `${auth.type} auth from secret "${auth.secretName}"`
          : auth.type === 'sigv4'
            ? 'SigV4 credentials (aps:QueryMetrics permission)'
            : 'no auth configured';
      return ` (check ${how})`;
    }
    if (status === 404) {
      return ' (check that the URL is the Prometheus API root; Mimir usually ends in /prometheus, AMP in /workspaces/<id>)';
    }
    return '';
  }

  private async headers(path: string, body: string): Promise<Record<string, string>> {
    const headers: Record<string, string> = {
      'content-type': 'application/x-www-form-urlencoded',
      accept: 'application/json',
    };
    if (this.config.tenant) headers['x-scope-orgid'] = this.config.tenant;
    const auth = this.config.auth;
    if (auth.type === 'basic' || auth.type === 'bearer') {
      headers.authorization = await this.authorization(auth.type, auth.secretName);
    }
    if (!this.signer) return headers;
    const request = new HttpRequest({
      method: 'POST',
      protocol: this.base.protocol,
      hostname: this.base.hostname,
      ...(this.base.port ? { port: Number(this.base.port) } : {}),
      path,
      headers: { ...headers, host: this.base.host },
      body,
    });
    let signed: HttpRequest;
    try {
      signed = (await this.signer.sign(request, { signingDate: this.clock() })) as HttpRequest;
    } catch (error) {
      throw new AttemptFailure('unreachable', `cannot sign the request (SigV4): ${networkCause(error)}`, false);
    }
    // fetch sets Host from the URL itself, identical to the signed value.
    const { host: _host, ...rest } = signed.headers;
    return rest;
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

/** Builds the MetricSource for the configured flavor (all three speak the Prometheus HTTP API). */
export function createMetricSource(config: MetricSourceConfig, deps: PrometheusHttpSourceDeps = {}): MetricSource {
  return new PrometheusHttpSource(config, deps);
}
