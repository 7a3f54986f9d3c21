// One Jira Cloud ticket per incident (REST API v3): created idempotently, found again by its label, commented on
// and moved to done as the incident progresses; every remote failure comes back as a result value.
//
// Idempotency rests on the label `sre-agent-<incidentId>`: search by it before creating, and when a create's answer
// is lost (timeout, connection reset, 5xx) the request may still have landed, so search again before retrying
// rather than risk a second ticket. Jira's search is eventually consistent (a new issue can take seconds to show
// up in JQL results), so that second search is repeated after short waits, and keys this process has seen are
// remembered so a comment right after a create does not depend on the index.

import { redact } from '../../core/action/redact';
import type { Incident } from '../../core/cognition/incident';
import type { IncidentCase } from '../../core/decision/incident-case';
import { formatTarget } from '../../core/decision/types';
import { networkCode } from '../http/failures';
import { retryAfterMs } from '../http/retry-after';
import { withRetries } from '../http/retrying';

export const ISSUE_PATH = '/rest/api/3/issue';
export const SEARCH_PATH = '/rest/api/3/search/jql';

/** Jira's own limits: summary is a 255-character field, text fields hold 32 767 characters. */
export const JIRA_LIMITS = { summary: 255, label: 255, listItems: 30, itemText: 500, commentText: 30_000 } as const;

export type JiraFailureCode =
  | 'bad_request'
  | 'unauthorized'
  | 'forbidden'
  | 'not_found'
  | 'rate_limited'
  | 'server_error'
  | 'http_error'
  | 'timeout'
  | 'unreachable'
  | 'invalid_response'
  | 'credentials_unavailable'
  | 'issue_not_found'
  | 'transition_not_found'
  | 'create_unconfirmed';

export interface JiraFailure {
  readonly code: JiraFailureCode;
  readonly detail: string;
  readonly status?: number;
  /** Jira's `errorMessages`. */
  readonly errorMessages: readonly string[];
  /** Jira's `errors`: field id -> what is wrong with it, e.g. {"summary": "You must specify a summary of the issue."}. */
  readonly fieldErrors: Readonly<Record<string, string>>;
}

export type JiraResult<T> = ({ readonly ok: true } & T) | { readonly ok: false; readonly failure: JiraFailure };

export interface JiraIssueRef {
  readonly id: string;
  readonly key: string;
  readonly self: string;
}

/** How ensureIssue came by the issue: it existed, this call created it, or a create whose answer was lost landed. */
export type EnsureOutcome = 'existing' | 'created' | 'recovered';

export type JiraEvent =
  | {
      readonly type: 'retry';
      readonly operation: string;
      readonly attempt: number;
      readonly code: JiraFailureCode;
      readonly waitMs?: number;
    }
  | { readonly type: 'reconcile'; readonly incidentId: string; readonly found: boolean; readonly search: number };

export interface JiraCloudOptions {
  /** https://<site>.atlassian.net */
  readonly siteUrl: string;
  readonly projectKey: string;
  /** Issue type name as the project knows it, e.g. Task, Bug or Incident. */
  readonly issueType: string;
  /** Secret holding {"email": "...", "apiToken": "..."} or "email:api_token". */
  readonly credentialsSecret: string;
  /** Name of the transition that closes a ticket, e.g. Done or Resolve. */
  readonly doneTransition: string;
  readonly secrets: (name: string) => Promise<string>;
  /** Per attempt. @default 3000 */
  readonly timeoutMs?: number;
  /** Attempts after the first, for timeouts, connection errors, 429 and 5xx. @default 2 */
  readonly retries?: number;
  /** A Retry-After longer than this fails at once instead of holding the workflow. @default 5000 */
  readonly maxRetryAfterMs?: number;
  /** First backoff delay, doubled each time, full jitter. @default 200 */
  readonly backoffStartMs?: number;
  /** @default 2000 */
  readonly maxBackoffMs?: number;
  /**
   * After a create whose answer was lost, the label search runs at once and again after each of these waits
   * before a retry may create: the search index trails writes. @default [1500]
   */
  readonly reconcileDelaysMs?: readonly number[];
  readonly fetch?: typeof fetch;
  readonly sleep?: (ms: number) => Promise<void>;
  readonly log?: (event: JiraEvent) => void;
}

// ---------------------------------------------------------------------------------------------------------
// Atlassian Document Format: the rich-text JSON v3 takes for descriptions and comments.

export interface AdfMark {
  readonly type: 'strong' | 'code' | 'em';
}

export interface AdfNode {
  readonly type: string;
  readonly attrs?: Readonly<Record<string, string | number>>;
  readonly content?: readonly AdfNode[];
  readonly text?: string;
  readonly marks?: readonly AdfMark[];
}

export interface AdfDocument {
  readonly type: 'doc';
  readonly version: 1;
  readonly content: readonly AdfNode[];
}

const clip = (text: string, max: number): string => (text.length <= max ? text : `${text.slice(0, max - 1)}…`);

/** A text node, redacted; Jira rejects empty text nodes, so empty text yields none. */
function text(value: string, mark?: AdfMark['type']): AdfNode[] {
  const clean = redact(value).text;
  if (clean === '') return [];
  return [mark ? { type: 'text', text: clean, marks: [{ type: mark }] } : { type: 'text', text: clean }];
}

const paragraph = (...inline: AdfNode[][]): AdfNode => ({ type: 'paragraph', content: inline.flat() });
const heading = (title: string): AdfNode => ({ type: 'heading', attrs: { level: 3 }, content: text(title) });

function bulletList(items: readonly string[]): AdfNode[] {
  const shown = items.filter((item) => item.trim() !== '').slice(0, JIRA_LIMITS.listItems);
  if (shown.length === 0) return [];
  const rest = items.length - shown.length;
  const listed = rest > 0 ? [...shown, `... and ${rest} more`] : shown;
  return [
    {
      type: 'bulletList',
      content: listed.map((item) => ({
        type: 'listItem',
        content: [paragraph(text(clip(item, JIRA_LIMITS.itemText)))],
      })),
    },
  ];
}

function section(title: string, body: AdfNode[]): AdfNode[] {
  return body.length > 0 ? [heading(title), ...body] : [];
}

/** Plain text as ADF: one paragraph per non-empty line. */
export function textDocument(value: string): AdfDocument {
  const lines = clip(value, JIRA_LIMITS.commentText)
    .split(/\r?\n/)
    .filter((line) => line.trim() !== '');
  return { type: 'doc', version: 1, content: lines.map((line) => paragraph(text(line))) };
}

/** The ticket body: what happened, the diagnosis with its evidence, the plan, the risk, what ran and how it ended. */
export function incidentDescription(c: IncidentCase): AdfDocument {
  const incident = c.incident as Incident | undefined;
  const d = c.diagnosis;
  const opened = incident
    ? [text(` opened ${incident.openedAt} on ${incident.services.join(', ') || 'no service'}.`)]
    : [text(' (the incident record was not available).')];
  const content: AdfNode[] = [
    paragraph(text('Incident '), text(c.incidentId, 'code'), ...opened),
    ...section(
      'Diagnosis',
      d
        ? [
            paragraph(
              text('Root cause: '),
              text(d.rootCause.service, 'strong'),
              text(` - ${d.rootCause.kind}, confidence ${d.rootCause.confidence} (${d.method}).`),
            ),
          ]
        : [paragraph(text('Not diagnosed.'))],
    ),
    ...section('Evidence', bulletList(d?.evidence ?? [])),
    ...section(
      'Signals',
      bulletList(
        (incident?.signals ?? []).map(
          (s) =>
            `${s.signalId} on ${s.entity}: ${s.valueAtPeak} (expected ${s.expectedAtPeak})${s.hardLimitBreached ? ', hard limit breached' : ''}`,
        ),
      ),
    ),
    ...section('Plan', bulletList((c.plan ?? []).map((p) => `${p.action} ${formatTarget(p.target)}: ${p.reason}`))),
    ...section(
      'Risk',
      c.risk ? [paragraph(text(`Tier ${c.risk.tier}, score ${c.risk.score}.`)), ...bulletList(c.risk.overrides)] : [],
    ),
    ...section(
      'Refused by guardrails',
      bulletList((c.guardrails?.refused ?? []).map((r) => `${r.action} ${r.target}: ${r.rule} (${r.detail})`)),
    ),
    ...section(
      'Execution',
      bulletList(
        (c.execution ?? []).map(
          (e) => `${e.action} ${e.target}${e.dryRun ? ' (dry run)' : ''}: ${e.result} - ${e.detail}`,
        ),
      ),
    ),
    ...section('Outcome', c.outcome ? [paragraph(text(c.outcome))] : []),
    ...section('Workflow failure', c.failure ? [paragraph(text(`${c.failure.Error}: ${c.failure.Cause ?? ''}`))] : []),
  ];
  return { type: 'doc', version: 1, content };
}

/** The label that ties a ticket to its incident: labels hold no spaces. */
export const incidentLabel = (incidentId: string): string =>
  clip(`sre-agent-${incidentId.replace(/\s+/g, '-')}`, JIRA_LIMITS.label);

const jqlString = (value: string): string => `"${value.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;

export function issueSummary(c: IncidentCase): string {
  const tier = c.risk ? `[${c.risk.tier}] ` : '';
  const root = c.diagnosis?.rootCause;
  const what = root
    ? `${root.service}: ${root.kind}`
    : `${(c.incident as Incident | undefined)?.services.join(', ') || 'incident'}: not diagnosed`;
  return clip(redact(`${tier}${what} (${c.incidentId})`).text, JIRA_LIMITS.summary);
}

/** Credentials from a secret holding JSON {"email", "apiToken"} or the text "email:api_token". */
export function jiraCredentialsFrom(secret: string): { readonly email: string; readonly apiToken: string } {
  const trimmed = secret.trim();
  if (trimmed.startsWith('{')) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(trimmed);
    } catch {
      throw new Error('the Jira credentials secret looks like JSON but does not parse');
    }
    const record = (parsed ?? {}) as { email?: unknown; apiToken?: unknown; api_token?: unknown };
    const token = record.apiToken ?? record.api_token;
    if (typeof record.email !== 'string' || record.email === '' || typeof token !== 'string' || token === '') {
      throw new Error('the Jira credentials secret needs "email" and "apiToken"');
    }
    return { email: record.email, apiToken: token };
  }
  const colon = trimmed.indexOf(':');
  if (colon <= 0 || colon === trimmed.length - 1) {
    throw new Error('the Jira credentials secret must be JSON {"email", "apiToken"} or "email:api_token"');
  }
  return { email: trimmed.slice(0, colon), apiToken: trimmed.slice(colon + 1) };
}

// ---------------------------------------------------------------------------------------------------------
// The client

interface Answer {
  readonly status: number;
  readonly body: unknown;
}

/**
 * One failed request. `retryable`: trying again may succeed. `ambiguous`: the request may have taken effect even
 * though no success came back (a timeout, a dropped connection, a 5xx), which matters for non-idempotent writes.
 */
class Attempt extends Error {
  constructor(
    readonly failure: JiraFailure,
    readonly retryable: boolean,
    readonly ambiguous: boolean,
    readonly retryAfterMs?: number,
  ) {
    super(failure.detail);
  }
}

const isAttempt = (error: unknown): error is Attempt => error instanceof Attempt;

const failureOf = (code: JiraFailureCode, detail: string, status?: number): JiraFailure => ({
  code,
  detail,
  ...(status !== undefined ? { status } : {}),
  errorMessages: [],
  fieldErrors: {},
});

const defaultSleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

export class JiraCloud {
  private readonly siteUrl: string;
  private readonly timeoutMs: number;
  private readonly retries: number;
  private readonly maxRetryAfterMs: number;
  private readonly backoffStartMs: number;
  private readonly maxBackoffMs: number;
  private readonly reconcileDelaysMs: readonly number[];
  private readonly fetchFn: typeof fetch;
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly log: (event: JiraEvent) => void;
  /** Incident id -> its ticket, for the life of the container: the search index lags writes. */
  private readonly known = new Map<string, JiraIssueRef>();

  constructor(private readonly options: JiraCloudOptions) {
    this.siteUrl = options.siteUrl.replace(/\/+$/, '');
    this.timeoutMs = options.timeoutMs ?? 3_000;
    this.retries = options.retries ?? 2;
    this.maxRetryAfterMs = options.maxRetryAfterMs ?? 5_000;
    this.backoffStartMs = options.backoffStartMs ?? 200;
    this.maxBackoffMs = options.maxBackoffMs ?? 2_000;
    this.reconcileDelaysMs = options.reconcileDelaysMs ?? [1_500];
    this.fetchFn = options.fetch ?? ((input, init) => fetch(input, init));
    this.sleep = options.sleep ?? defaultSleep;
    this.log = options.log ?? (() => {});
  }

  /** The incident's ticket, created with the diagnosis and evidence if there is none yet. */
  ensureIssue(c: IncidentCase): Promise<JiraResult<{ issue: JiraIssueRef; outcome: EnsureOutcome }>> {
    return this.result(async () => {
      const existing = await this.locate(c.incidentId);
      if (existing) return { issue: existing, outcome: 'existing' as const };
      const created = await this.create(c);
      this.known.set(c.incidentId, created.issue);
      return created;
    });
  }

  /** The incident's ticket, if any. */
  findIssue(incidentId: string): Promise<JiraResult<{ issue: JiraIssueRef | undefined }>> {
    return this.result(async () => ({ issue: await this.locate(incidentId) }));
  }

  /**
   * Adds a comment (plain text, one paragraph per line, redacted) to the incident's ticket. A comment whose answer
   * was lost is sent again: a repeated comment costs less than a missing one.
   */
  comment(incidentId: string, body: string): Promise<JiraResult<{ issue: JiraIssueRef; commentId: string }>> {
    return this.result(async () => {
      const issue = await this.require(incidentId);
      const answer = await this.evictOnNotFound(incidentId, () =>
        this.request('comment', 'POST', `${issuePath(issue.key)}/comment`, { body: textDocument(body) }),
      );
      const id = (answer.body as { id?: unknown } | undefined)?.id;
      return { issue, commentId: typeof id === 'string' || typeof id === 'number' ? String(id) : '' };
    });
  }

  /**
   * Moves the ticket through the configured done transition, looked up by name. A ticket already in a done status
   * counts as resolved, which also makes a retried resolve (whose first transition may have landed) succeed.
   */
  resolve(incidentId: string): Promise<JiraResult<{ issue: JiraIssueRef; transitioned: boolean }>> {
    return this.result(async () => {
      const issue = await this.require(incidentId);
      const wanted = this.options.doneTransition.trim().toLowerCase();
      const maxAttempts = this.retries + 1;
      let mayHaveLanded = false;
      for (let attempt = 1; ; attempt++) {
        const status = await this.evictOnNotFound(incidentId, () => this.status(issue.key));
        if (status.category === 'done') return { issue, transitioned: mayHaveLanded };
        const answer = await this.request('transitions', 'GET', `${issuePath(issue.key)}/transitions`);
        const transitions = transitionsOf(answer.body);
        const match = transitions.find((t) => t.name.trim().toLowerCase() === wanted);
        if (!match) {
          const available = transitions.map((t) => `"${t.name}"`).join(', ') || 'none';
          throw new Attempt(
            failureOf(
              'transition_not_found',
              `${issue.key} in status "${status.name}" has no transition "${this.options.doneTransition}" (available: ${available})`,
            ),
            false,
            false,
          );
        }
        try {
          await this.attempt('POST', `${issuePath(issue.key)}/transitions`, { transition: { id: match.id } });
          return { issue, transitioned: true };
        } catch (error) {
          if (!(error instanceof Attempt) || !error.retryable || attempt >= maxAttempts) throw error;
          mayHaveLanded ||= error.ambiguous;
          await this.pause('transition', attempt, error);
        }
      }
    });
  }

  // -------------------------------------------------------------------------------------------------------

  private async result<T>(work: () => Promise<T>): Promise<JiraResult<T>> {
    try {
      return { ok: true as const, ...(await work()) };
    } catch (error) {
      if (error instanceof Attempt) return { ok: false, failure: error.failure };
      return { ok: false, failure: failureOf('unreachable', error instanceof Error ? error.message : String(error)) };
    }
  }

  private async locate(incidentId: string): Promise<JiraIssueRef | undefined> {
    const cached = this.known.get(incidentId);
    if (cached) return cached;
    const found = await this.search(incidentLabel(incidentId));
    if (found) this.known.set(incidentId, found);
    return found;
  }

  private async require(incidentId: string): Promise<JiraIssueRef> {
    const issue = await this.locate(incidentId);
    if (issue) return issue;
    throw new Attempt(
      failureOf('issue_not_found', `no ticket labelled "${incidentLabel(incidentId)}" (yet: search trails creates)`),
      false,
      false,
    );
  }

  /** A ticket deleted since it was remembered must be searched for again next time, not reused. */
  private async evictOnNotFound<T>(incidentId: string, work: () => Promise<T>): Promise<T> {
    try {
      return await work();
    } catch (error) {
      if (error instanceof Attempt && error.failure.code === 'not_found') this.known.delete(incidentId);
      throw error;
    }
  }

  /** The oldest ticket carrying the label: if duplicates were ever made by hand, the first one stays the one. */
  private async search(label: string): Promise<JiraIssueRef | undefined> {
    const query = new URLSearchParams({
      jql: `labels = ${jqlString(label)} ORDER BY created ASC`,
      fields: 'summary,status',
      maxResults: '1',
    });
    const answer = await this.request('search', 'GET', `${SEARCH_PATH}?${query.toString()}`);
    const issues = (answer.body as { issues?: unknown } | undefined)?.issues;
    if (!Array.isArray(issues)) {
      throw new Attempt(failureOf('invalid_response', 'search answer has no "issues"', answer.status), false, false);
    }
    return issues.length > 0 ? issueRefOf(issues[0], answer.status) : undefined;
  }

  private async status(key: string): Promise<{ name: string; category: string }> {
    const answer = await this.request('status', 'GET', `${issuePath(key)}?fields=status`);
    const status = (answer.body as { fields?: { status?: { name?: unknown; statusCategory?: { key?: unknown } } } })
      ?.fields?.status;
    return {
      name: typeof status?.name === 'string' ? status.name : '?',
      category: typeof status?.statusCategory?.key === 'string' ? status.statusCategory.key : '?',
    };
  }

  /** Creates the ticket; a create that may have landed is confirmed by search before any retry. */
  private async create(c: IncidentCase): Promise<{ issue: JiraIssueRef; outcome: EnsureOutcome }> {
    const label = incidentLabel(c.incidentId);
    const fields = {
      project: { key: this.options.projectKey },
      issuetype: { name: this.options.issueType },
      summary: issueSummary(c),
      description: incidentDescription(c),
      labels: ['sre-agent', label],
    };
    const maxAttempts = this.retries + 1;
    for (let attempt = 1; ; attempt++) {
      try {
        const answer = await this.attempt('POST', ISSUE_PATH, { fields });
        return { issue: createdRefOf(answer), outcome: 'created' };
      } catch (error) {
        if (!(error instanceof Attempt) || !error.retryable) throw error;
        if (error.ambiguous) {
          const landed = await this.reconcile(c.incidentId, label, error);
          if (landed) return { issue: landed, outcome: 'recovered' };
        }
        if (attempt >= maxAttempts) throw error;
        await this.pause('create', attempt, error);
      }
    }
  }

  /**
   * Searches for a ticket a lost create may have made, at once and after each reconcile delay. If the search
   * itself fails nothing more is created: no ticket now is recoverable on the next notice, a duplicate is not.
   */
  private async reconcile(incidentId: string, label: string, cause: Attempt): Promise<JiraIssueRef | undefined> {
    const waits = [0, ...this.reconcileDelaysMs];
    for (let i = 0; i < waits.length; i++) {
      const wait = waits[i]!;
      if (wait > 0) await this.sleep(wait);
      let found: JiraIssueRef | undefined;
      try {
        found = await this.search(label);
      } catch (error) {
        const reason = error instanceof Attempt ? error.failure.detail : String(error);
        throw new Attempt(
          {
            ...cause.failure,
            code: 'create_unconfirmed',
            detail: `the create may have landed (${cause.failure.detail}) and the search to confirm it failed (${reason})`,
          },
          false,
          false,
        );
      }
      this.log({ type: 'reconcile', incidentId, found: found !== undefined, search: i + 1 });
      if (found) return found;
    }
    return undefined;
  }

  private async pause(operation: string, attempt: number, error: Attempt): Promise<void> {
    const cap = Math.min(this.maxBackoffMs, this.backoffStartMs * 2 ** (attempt - 1));
    const waitMs = error.retryAfterMs ?? Math.round(Math.random() * cap);
    this.log({ type: 'retry', operation, attempt, code: error.failure.code, waitMs });
    await this.sleep(waitMs);
  }

  /** A request that is safe to repeat (reads, and writes whose repetition does no harm), with retries. */
  private async request(operation: string, method: string, path: string, body?: unknown): Promise<Answer> {
    const maxAttempts = this.retries + 1;
    return withRetries(
      () => this.attempt(method, path, body),
      isAttempt,
      { attempts: maxAttempts, startMs: this.backoffStartMs, maxMs: this.maxBackoffMs, sleep: this.sleep },
      (notice) => this.log({ type: 'retry', operation, ...notice }),
    );
  }

  private async authorization(): Promise<string> {
    try {
      const { email, apiToken } = jiraCredentialsFrom(await this.options.secrets(this.options.credentialsSecret));
      return `Basic ${Buffer.from(`${email}:${apiToken}`).toString('base64')}`;
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      throw new Attempt(
        failureOf('credentials_unavailable', `secret "${this.options.credentialsSecret}": ${reason}`),
        false,
        false,
      );
    }
  }

  private async attempt(method: string, path: string, body?: unknown): Promise<Answer> {
    const authorization = await this.authorization();
    const signal = AbortSignal.timeout(this.timeoutMs);
    const headers: Record<string, string> = { authorization, accept: 'application/json' };
    if (body !== undefined) headers['content-type'] = 'application/json';
    let response: Response;
    let raw: string;
    try {
      response = await this.fetchFn(`${this.siteUrl}${path}`, {
        method,
        headers,
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
        signal,
      });
      raw = await response.text();
    } catch (error) {
      const timedOut = signal.aborted || (error as { name?: string } | undefined)?.name === 'TimeoutError';
      const failure = timedOut
        ? failureOf('timeout', `${method} ${pathOnly(path)}: no answer within ${this.timeoutMs} ms`)
        : failureOf('unreachable', `${method} ${pathOnly(path)}: ${networkCode(error)}`);
      throw new Attempt(failure, true, true);
    }

    const status = response.status;
    const parsed = parseJson(raw);
    if (status >= 200 && status < 300) return { status, body: parsed };

    const errorMessages = stringsOf((parsed as { errorMessages?: unknown } | undefined)?.errorMessages);
    const fieldErrors = fieldErrorsOf((parsed as { errors?: unknown } | undefined)?.errors);
    const reasons = [
      ...errorMessages,
      ...Object.entries(fieldErrors).map(([field, message]) => `${field}: ${message}`),
    ];
    // Jira answers some errors (401 among them) with plain text rather than JSON.
    const said = reasons.length > 0 ? reasons.join('; ') : parsed === undefined ? clip(raw.trim(), 200) : '';
    const detail = `${method} ${pathOnly(path)}: HTTP ${status}${said ? ` - ${said}` : ''}`;
    const failure: JiraFailure = { code: codeOf(status), detail, status, errorMessages, fieldErrors };
    const wait = retryAfterMs(response.headers.get('retry-after'));
    if (status === 429) {
      // Rejected by the rate limiter before any work: never ambiguous.
      throw new Attempt(failure, wait === undefined || wait <= this.maxRetryAfterMs, false, wait);
    }
    if (status >= 500) {
      throw new Attempt(failure, true, true, wait !== undefined && wait <= this.maxRetryAfterMs ? wait : undefined);
    }
    throw new Attempt(failure, false, false);
  }
}

const issuePath = (key: string): string => `${ISSUE_PATH}/${encodeURIComponent(key)}`;

/** The path without its query, for messages: JQL is long and says nothing the label does not. */
const pathOnly = (path: string): string => path.split('?')[0]!;

function codeOf(status: number): JiraFailureCode {
  if (status === 400) return 'bad_request';
  if (status === 401) return 'unauthorized';
  if (status === 403) return 'forbidden';
  if (status === 404) return 'not_found';
  if (status === 429) return 'rate_limited';
  if (status >= 500) return 'server_error';
  return 'http_error';
}

function issueRefOf(value: unknown, status: number): JiraIssueRef {
  const v = (value ?? {}) as { id?: unknown; key?: unknown; self?: unknown };
  if ((typeof v.id !== 'string' && typeof v.id !== 'number') || typeof v.key !== 'string' || v.key === '') {
    throw new Attempt(failureOf('invalid_response', 'an issue without "id" and "key"', status), false, false);
  }
  return { id: String(v.id), key: v.key, self: typeof v.self === 'string' ? v.self : '' };
}

/** A 2xx to a create whose body cannot be read still means the ticket exists: ambiguous, so search finds it. */
function createdRefOf(answer: Answer): JiraIssueRef {
  try {
    return issueRefOf(answer.body, answer.status);
  } catch (error) {
    if (error instanceof Attempt) throw new Attempt(error.failure, true, true);
    throw error;
  }
}

function transitionsOf(body: unknown): { id: string; name: string }[] {
  const list = (body as { transitions?: unknown } | undefined)?.transitions;
  if (!Array.isArray(list)) return [];
  return list.flatMap((t: { id?: unknown; name?: unknown }) =>
    (typeof t?.id === 'string' || typeof t?.id === 'number') && typeof t.name === 'string'
      ? [{ id: String(t.id), name: t.name }]
      : [],
  );
}

function parseJson(raw: string): unknown {
  if (raw.trim() === '') return undefined;
  try {
    return JSON.parse(raw);
  } catch {
    return undefined;
  }
}

const stringsOf = (value: unknown): string[] =>
  Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : [];

function fieldErrorsOf(value: unknown): Record<string, string> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return {};
  return Object.fromEntries(
    Object.entries(value as Record<string, unknown>).flatMap(([field, message]) =>
      typeof message === 'string' ? [[field, message]] : [],
    ),
  );
}
