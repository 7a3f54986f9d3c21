// A small Kubernetes REST client: TLS verified against the cluster's own CA, a bearer token per request,
// JSON and patch bodies, server-side dry run, timeouts and retries. Failures come back as typed values.

import { Agent, request as httpsRequest } from 'node:https';
import { backOff } from 'exponential-backoff';
import { fail, ok, type Result } from '../../core/result';

export type KubeErrorKind =
  | 'forbidden'
  | 'unauthorized'
  | 'not-found'
  | 'conflict'
  | 'invalid'
  | 'server'
  | 'http'
  | 'timeout'
  | 'unreachable'
  | 'tls'
  | 'response'
  | 'refused';

export interface KubeError {
  readonly kind: KubeErrorKind;
  readonly message: string;
  readonly status?: number;
  /** The API server's own `message` (a Status object's), when it sent one. */
  readonly apiMessage?: string;
  readonly attempts: number;
}

export type KubeResult<T> = Result<T, KubeError>;

/** What a request does, in RBAC terms, so errors can name it. */
export interface KubeOperation {
  readonly verb: 'get' | 'list' | 'patch' | 'delete' | 'update' | 'create';
  /** Plural resource, with subresource: `deployments`, `deployments/scale`, `pods`. */
  readonly resource: string;
  readonly name?: string;
  readonly namespace?: string;
}

/** What a read-modify-patch flow does with the object it read: send a patch, or refuse with a reason. */
export type PatchPlan = { readonly patch: Record<string, unknown> } | { readonly refuse: string };

export type PatchType = 'strategic' | 'merge';
export const PATCH_CONTENT_TYPE: Record<PatchType, string> = {
  strategic: 'application/strategic-merge-patch+json',
  merge: 'application/merge-patch+json',
};

export interface KubeClientOptions {
  /** API server URL, e.g. https://ABC.gr7.eu-west-1.eks.amazonaws.com. */
  readonly endpoint: string;
  /** Base64 of the PEM CA bundle (DescribeCluster certificateAuthority.data). */
  readonly caData: string;
  /** Bearer token source; called for every attempt, so a cache decides when to refresh. */
  readonly token: () => Promise<string>;
  /** Per-attempt timeout, ms (default 10 s). */
  readonly timeoutMs?: number;
  /** Retries after 5xx, 429, timeouts and connection errors (default 3). */
  readonly retries?: number;
  /** First backoff delay, ms (full jitter, doubling, capped at 5 s; default 200). */
  readonly backoffStartMs?: number;
  /** Re-read-and-reapply rounds after a 409 in readModifyPatch (default 3). */
  readonly conflictRetries?: number;
  /**
   * Forgets the cached token. Called on a 401 (the token expired early, or the access entry was just
   * re-created), after which the request is tried once more with a fresh token.
   */
  readonly invalidateToken?: () => void;
  /** Sees every request and its answer (never the token), for the audit trail. */
  readonly onExchange?: (exchange: KubeExchange) => void;
}

/** One request to the API server and what came back: an audit record, without credentials. */
export interface KubeExchange {
  readonly at: string;
  readonly method: string;
  /** Path and query string, e.g. `/apis/apps/v1/namespaces/trading/deployments/order-api?dryRun=All`. */
  readonly path: string;
  readonly verb: KubeOperation['verb'];
  readonly resource: string;
  readonly namespace?: string;
  readonly name?: string;
  readonly dryRun: boolean;
  /** The patch or body sent, if any. */
  readonly requestBody?: unknown;
  /** HTTP status, absent when no answer came (timeout, connection error). */
  readonly status?: number;
  /** What the answer said: the object's resourceVersion, or the error. */
  readonly outcome: string;
  readonly durationMs: number;
}

export interface RequestOptions {
  readonly query?: Readonly<Record<string, string>>;
  readonly body?: unknown;
  readonly contentType?: string;
  /** Adds dryRun=All: the server validates and admits the change without persisting it. */
  readonly dryRun?: boolean;
}

const RETRYABLE_STATUSES = new Set([429, 500, 502, 503, 504]);
const TLS_ERROR_CODE = /CERT|TLS|SSL|SELF_SIGNED|UNABLE_TO_VERIFY|ALTNAME/i;
const MAX_BACKOFF_MS = 5_000;
const SNIPPET_CHARS = 300;

class AttemptFailure extends Error {
  constructor(
    readonly failure: Omit<KubeError, 'attempts'>,
    readonly retryable: boolean,
  ) {
    super(failure.message);
  }
}

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

function snippet(text: string): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  if (flat === '') return '(empty body)';
  return flat.length > SNIPPET_CHARS ? `${flat.slice(0, SNIPPET_CHARS)}…` : flat;
}

/** `deployments/scale "order-api" in namespace "trading"` */
export function describeOperation(op: KubeOperation): string {
  const name = op.name ? ` "${op.name}"` : '';
  const namespace = op.namespace ? ` in namespace "${op.namespace}"` : '';
  return `${op.resource}${name}${namespace}`;
}

/** Decodes DescribeCluster's certificateAuthority.data; accepts a PEM given as is. */
export function caPem(caData: string): string {
  const trimmed = caData.trim();
  if (trimmed.startsWith('-----BEGIN')) return trimmed;
  const pem = Buffer.from(trimmed, 'base64').toString('utf8');
  if (!pem.includes('-----BEGIN CERTIFICATE-----')) throw new Error('cluster CA data is not a base64 PEM certificate');
  return pem;
}

export class KubeClient {
  private readonly base: URL;
  private readonly agent: Agent;
  private readonly timeoutMs: number;
  private readonly retries: number;
  private readonly backoffStartMs: number;
  private readonly conflictRetries: number;

  constructor(private readonly options: KubeClientOptions) {
    this.base = new URL(options.endpoint);
    if (this.base.protocol !== 'https:') throw new Error(`API server endpoint must be https: ${options.endpoint}`);
    this.agent = new Agent({ ca: caPem(options.caData), keepAlive: true, maxSockets: 8 });
    this.timeoutMs = options.timeoutMs ?? 10_000;
    this.retries = options.retries ?? 3;
    this.backoffStartMs = options.backoffStartMs ?? 200;
    this.conflictRetries = options.conflictRetries ?? 3;
  }

  /** Closes pooled connections. */
  close(): void {
    this.agent.destroy();
  }

  get<T>(path: string, op: KubeOperation, query?: Readonly<Record<string, string>>): Promise<KubeResult<T>> {
    return this.request<T>('GET', path, op, query ? { query } : {});
  }

  patch<T>(
    path: string,
    body: unknown,
    op: KubeOperation,
    options: { readonly type?: PatchType; readonly dryRun?: boolean } = {},
  ): Promise<KubeResult<T>> {
    return this.request<T>('PATCH', path, op, {
      body,
      contentType: PATCH_CONTENT_TYPE[options.type ?? 'merge'],
      dryRun: options.dryRun ?? false,
    });
  }

  delete<T>(path: string, op: KubeOperation, options: { readonly dryRun?: boolean } = {}): Promise<KubeResult<T>> {
    return this.request<T>('DELETE', path, op, { dryRun: options.dryRun ?? false });
  }

  /**
   * Optimistic read-modify-write: reads the object at `path`, asks `plan` for a patch, sends it with the
   * read metadata.resourceVersion as a precondition, and on 409 reads again and re-plans, up to
   * `conflictRetries` times. `plan` may refuse (a value with `refuse`), which ends the flow unchanged.
   */
  async readModifyPatch<T extends { metadata?: { resourceVersion?: string } }, R = T>(
    path: string,
    op: KubeOperation,
    plan: (current: T) => PatchPlan | Promise<PatchPlan>,
    options: { readonly type?: PatchType; readonly dryRun?: boolean } = {},
  ): Promise<KubeResult<{ readonly before: T; readonly after: R; readonly conflicts: number }>> {
    let conflicts = 0;
    for (;;) {
      const read = await this.get<T>(path, { ...op, verb: 'get' });
      if (!read.ok) return read;
      // A plan that throws (e.g. a failed read of its own) ends the flow with that exception.
      const decided = await plan(read.value);
      if ('refuse' in decided) {
        return fail({ kind: 'refused', message: decided.refuse, attempts: conflicts + 1 });
      }
      const resourceVersion = read.value.metadata?.resourceVersion;
      const metadata = isRecord(decided.patch.metadata) ? decided.patch.metadata : {};
      const body = resourceVersion
        ? { ...decided.patch, metadata: { ...metadata, resourceVersion } }
        : { ...decided.patch };
      const written = await this.patch<R>(path, body, op, options);
      if (written.ok) return ok({ before: read.value, after: written.value, conflicts });
      if (written.error.kind !== 'conflict' || conflicts >= this.conflictRetries) {
        return conflicts > 0
          ? fail({ ...written.error, message: `${written.error.message} (after ${conflicts} conflict retries)` })
          : written;
      }
      conflicts++;
    }
  }

  /** One API call with retries on transient failures. */
  async request<T>(
    method: string,
    path: string,
    op: KubeOperation,
    options: RequestOptions = {},
  ): Promise<KubeResult<T>> {
    const url = new URL(path, this.base);
    for (const [name, value] of Object.entries(options.query ?? {})) url.searchParams.set(name, value);
    if (options.dryRun) url.searchParams.set('dryRun', 'All');
    const body = options.body === undefined ? undefined : JSON.stringify(options.body);
    let attempts = 0;
    let reauthenticated = false;
    try {
      const value = await backOff(
        () => {
          attempts++;
          return this.attempt<T>(method, url, body, options, op);
        },
        {
          // One more attempt is kept for a retry with a fresh token after a 401.
          numOfAttempts: this.retries + 2,
          startingDelay: this.backoffStartMs,
          timeMultiple: 2,
          maxDelay: MAX_BACKOFF_MS,
          jitter: 'full',
          retry: (error: unknown, attempt: number) => {
            if (!(error instanceof AttemptFailure)) return false;
            if (error.failure.status === 401 && !reauthenticated && this.options.invalidateToken) {
              reauthenticated = true;
              this.options.invalidateToken();
              return true;
            }
            return error.retryable && attempt - (reauthenticated ? 1 : 0) <= this.retries;
          },
        },
      );
      return ok(value);
    } catch (error) {
      const failure =
        error instanceof AttemptFailure
          ? error.failure
          : { kind: 'unreachable' as const, message: error instanceof Error ? error.message : String(error) };
      const suffix = attempts > 1 ? ` (${attempts} attempts)` : '';
      return fail({ ...failure, message: `${failure.message}${suffix}`, attempts });
    }
  }

  private async attempt<T>(
    method: string,
    url: URL,
    body: string | undefined,
    options: RequestOptions,
    op: KubeOperation,
  ): Promise<T> {
    const started = Date.now();
    const record = (status: number | undefined, outcome: string) =>
      this.options.onExchange?.({
        at: new Date(started).toISOString(),
        method,
        path: `${url.pathname}${url.search}`,
        verb: op.verb,
        resource: op.resource,
        ...(op.namespace !== undefined ? { namespace: op.namespace } : {}),
        ...(op.name !== undefined ? { name: op.name } : {}),
        dryRun: options.dryRun ?? false,
        ...(options.body !== undefined ? { requestBody: options.body } : {}),
        ...(status !== undefined ? { status } : {}),
        outcome,
        durationMs: Date.now() - started,
      });
    try {
      const { value, status } = await this.attemptOnce<T>(method, url, body, options.contentType, op);
      const meta = isRecord(value) && isRecord(value.metadata) ? value.metadata : undefined;
      const version = typeof meta?.resourceVersion === 'string' ? ` resourceVersion ${meta.resourceVersion}` : '';
      record(status, `ok${version}`);
      return value;
    } catch (error) {
      const failure = error instanceof AttemptFailure ? error.failure : undefined;
      record(failure?.status, failure ? failure.message : (error as Error).message);
      throw error;
    }
  }

  private async attemptOnce<T>(
    method: string,
    url: URL,
    body: string | undefined,
    contentType: string | undefined,
    op: KubeOperation,
  ): Promise<{ value: T; status: number }> {
    let token: string;
    try {
      token = await this.options.token();
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      throw new AttemptFailure({ kind: 'unauthorized', message: `cannot make a cluster token: ${reason}` }, false);
    }
    const headers: Record<string, string> = {
      accept: 'application/json',
      authorization: `Bearer ${token}`,
      'user-agent': 'sre-agent',
    };
    if (body !== undefined) {
      headers['content-type'] = contentType ?? 'application/json';
      headers['content-length'] = String(Buffer.byteLength(body));
    }
    const { status, text } = await this.send(method, url, headers, body);
    return { value: this.interpret<T>(status, text, method, op), status };
  }

  private send(
    method: string,
    url: URL,
    headers: Record<string, string>,
    body: string | undefined,
  ): Promise<{ status: number; text: string }> {
    const where = `${method} ${url.pathname}`;
    return new Promise((resolve, reject) => {
      const req = httpsRequest(
        {
          protocol: url.protocol,
          hostname: url.hostname,
          port: url.port || 443,
          path: `${url.pathname}${url.search}`,
          method,
          headers,
          agent: this.agent,
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (chunk: Buffer) => chunks.push(chunk));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
          res.on('error', (error) => reject(this.networkFailure(where, error)));
        },
      );
      req.setTimeout(this.timeoutMs, () => {
        req.destroy(
          new AttemptFailure({ kind: 'timeout', message: `${where}: no answer within ${this.timeoutMs} ms` }, true),
        );
      });
      req.on('error', (error) => reject(error instanceof AttemptFailure ? error : this.networkFailure(where, error)));
      req.end(body);
    });
  }

  private networkFailure(where: string, error: Error): AttemptFailure {
    const code = (error as { code?: unknown }).code;
    const text = typeof code === 'string' ? `${code}: ${error.message}` : error.message;
    if (typeof code === 'string' && TLS_ERROR_CODE.test(code)) {
      return new AttemptFailure(
        { kind: 'tls', message: `${where}: TLS verification against the cluster CA failed: ${text}` },
        false,
      );
    }
    return new AttemptFailure(
      { kind: 'unreachable', message: `${where}: cannot reach ${this.base.host}: ${text}` },
      true,
    );
  }

  private interpret<T>(status: number, text: string, method: string, op: KubeOperation): T {
    let json: unknown;
    try {
      json = text === '' ? undefined : JSON.parse(text);
    } catch {
      json = undefined;
    }
    if (status >= 200 && status <= 299) {
      if (json === undefined) {
        throw new AttemptFailure(
          {
            kind: 'response',
            status,
            message: `${method} ${describeOperation(op)}: answer is not JSON: ${snippet(text)}`,
          },
          false,
        );
      }
      return json as T;
    }
    const apiMessage = isRecord(json) && typeof json.message === 'string' ? json.message : undefined;
    const said = apiMessage ?? snippet(text);
    const what = describeOperation(op);
    const base = { status, ...(apiMessage !== undefined ? { apiMessage } : {}) };
    switch (status) {
      case 401:
        throw new AttemptFailure(
          { ...base, kind: 'unauthorized', message: `unauthorized: the API server rejected the token (${said})` },
          false,
        );
      case 403:
        throw new AttemptFailure(
          { ...base, kind: 'forbidden', message: `forbidden: cannot ${op.verb} ${what}` },
          false,
        );
      case 404:
        throw new AttemptFailure({ ...base, kind: 'not-found', message: `not found: ${what}` }, false);
      case 409:
        throw new AttemptFailure(
          { ...base, kind: 'conflict', message: `conflict: ${op.verb} ${what}: ${said}` },
          false,
        );
      case 422:
        throw new AttemptFailure({ ...base, kind: 'invalid', message: `invalid: ${op.verb} ${what}: ${said}` }, false);
    }
    const retryable = RETRYABLE_STATUSES.has(status);
    throw new AttemptFailure(
      { ...base, kind: status >= 500 ? 'server' : 'http', message: `HTTP ${status} on ${op.verb} ${what}: ${said}` },
      retryable,
    );
  }
}
