// Pages the on-call engineer through the PagerDuty Events API v2: trigger, acknowledge and resolve one alert per
// incident (the incident id is the dedup_key), retried on 429/5xx/network errors, answered as a result value.

import { redact, redactDeep } from '../../core/action/redact';
import type { Incident } from '../../core/cognition/incident';
import type { IncidentCase } from '../../core/decision/incident-case';
import { formatTarget, type Tier } from '../../core/decision/types';
import { networkCode } from '../http/failures';
import { retryAfterMs } from '../http/retry-after';
import { withRetries } from '../http/retrying';

export const PAGERDUTY_EVENTS_URL = 'https://events.pagerduty.com/v2/enqueue';

export const PAGERDUTY_SEVERITIES = ['critical', 'error', 'warning', 'info'] as const;
export type PagerDutySeverity = (typeof PAGERDUTY_SEVERITIES)[number];
export type PagerDutyAction = 'trigger' | 'acknowledge' | 'resolve';

/** Limits PagerDuty enforces on an event; longer values are rejected with 400, so they are cut before sending. */
export const PAGERDUTY_LIMITS = { summary: 1024, dedupKey: 255 } as const;

/** How loud a page is for each risk tier. A case with no tier yet (it failed early) pages as `error`. */
export const SEVERITY_BY_TIER: Readonly<Record<Tier, PagerDutySeverity>> = {
  CRITICAL: 'critical',
  HIGH: 'error',
  MEDIUM: 'warning',
  LOW: 'info',
};
const UNTIERED_SEVERITY: PagerDutySeverity = 'error';

export type PagerDutyFailureCode =
  | 'invalid_event'
  | 'rate_limited'
  | 'server_error'
  | 'http_error'
  | 'timeout'
  | 'unreachable'
  | 'invalid_response'
  | 'routing_key_unavailable';

export interface PagerDutyFailure {
  readonly code: PagerDutyFailureCode;
  readonly detail: string;
  readonly status?: number;
  /** PagerDuty's own reasons for an `invalid event` (400), e.g. "'payload.summary' is missing or blank". */
  readonly errors: readonly string[];
}

export type PagerDutyResult =
  | {
      readonly ok: true;
      readonly action: PagerDutyAction;
      readonly dedupKey: string;
      readonly attempts: number;
      /** PagerDuty's `message`, normally "Event processed". */
      readonly message: string;
    }
  | {
      readonly ok: false;
      readonly action: PagerDutyAction;
      readonly dedupKey: string;
      readonly attempts: number;
      readonly failure: PagerDutyFailure;
    };

export type PagerDutyEvent = {
  readonly type: 'retry';
  readonly action: PagerDutyAction;
  readonly dedupKey: string;
  readonly attempt: number;
  readonly code: PagerDutyFailureCode;
  readonly waitMs?: number;
};

export interface PagerDutyEventsOptions {
  /** Reads a Secrets Manager secret by name (see secretsReader); called per event so rotation takes effect. */
  readonly secrets: (name: string) => Promise<string>;
  /** Secret holding the integration (routing) key, raw or as JSON {"routingKey": "..."}. */
  readonly routingKeySecret: string;
  /** Severities that page a different PagerDuty service: severity -> secret holding that service's routing key. */
  readonly serviceBySeverity?: Readonly<Partial<Record<PagerDutySeverity, string>>>;
  /** `payload.source` when the case names no service yet. @default 'sre-agent' */
  readonly source?: string;
  /** `payload.group`, e.g. the environment, so one PagerDuty service can tell dev from prod. */
  readonly group?: string;
  /** @default PAGERDUTY_EVENTS_URL (the EU region uses https://events.eu.pagerduty.com/v2/enqueue) */
  readonly url?: string;
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
  readonly fetch?: typeof fetch;
  readonly sleep?: (ms: number) => Promise<void>;
  readonly log?: (event: PagerDutyEvent) => void;
}

export interface TriggerOptions {
  /** @default from the case's tier (SEVERITY_BY_TIER) */
  readonly severity?: PagerDutySeverity;
  /** Replaces the summary built from the case; redacted and cut to 1024 characters all the same. */
  readonly summary?: string;
  /** Extra lines for custom_details.notes, e.g. which other channels failed. */
  readonly notes?: readonly string[];
  readonly links?: readonly { readonly href: string; readonly text?: string }[];
}

/** One failed attempt; `retryable` decides whether backOff tries again. */
class Attempt extends Error {
  constructor(
    readonly failure: PagerDutyFailure,
    readonly retryable: boolean,
    readonly retryAfterMs?: number,
  ) {
    super(failure.detail);
  }
}

const isAttempt = (error: unknown): error is Attempt => error instanceof Attempt;

const defaultSleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

const MAX_LIST = 20;
const MAX_ITEM = 500;

/** The routing key from a secret holding it raw or as JSON {"routingKey"} / {"routing_key"}. */
export function routingKeyFrom(secret: string): string {
  const trimmed = secret.trim();
  if (trimmed.startsWith('{')) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(trimmed);
    } catch {
      throw new Error('the routing key secret looks like JSON but does not parse');
    }
    const record = (parsed ?? {}) as { routingKey?: unknown; routing_key?: unknown };
    const key = record.routingKey ?? record.routing_key;
    if (typeof key !== 'string' || key.trim() === '') throw new Error('the routing key secret has no "routingKey"');
    return key.trim();
  }
  if (trimmed === '') throw new Error('the routing key secret is empty');
  return trimmed;
}

export const severityOf = (c: IncidentCase): PagerDutySeverity =>
  c.risk ? SEVERITY_BY_TIER[c.risk.tier] : UNTIERED_SEVERITY;

const clip = (text: string, max: number): string => (text.length <= max ? text : `${text.slice(0, max - 1)}…`);

/** One line an on-call engineer reads on a phone lock screen: tier, service, fault, incident, outcome. */
export function summaryOf(c: IncidentCase): string {
  const tier = c.risk ? `[${c.risk.tier}]` : '[untiered]';
  const root = c.diagnosis?.rootCause;
  const incident = c.incident as Incident | undefined;
  const what = root
    ? `${root.service}: ${root.kind} (confidence ${root.confidence})`
    : `${incident?.services.join(', ') || 'unknown service'}: not yet diagnosed`;
  const failure = c.failure ? ` - workflow failed: ${c.failure.Error}` : '';
  const outcome = c.outcome ? ` - ${c.outcome}` : '';
  return clip(redact(`${tier} ${what} - incident ${c.incidentId}${outcome}${failure}`).text, PAGERDUTY_LIMITS.summary);
}

/** What the responder needs without opening another tool; bounded so the event stays far below the 512 KB limit. */
function customDetails(c: IncidentCase, notes: readonly string[]): Record<string, unknown> {
  const incident = c.incident as Incident | undefined;
  const item = (text: string) => clip(text, MAX_ITEM);
  const details: Record<string, unknown> = {
    incident_id: c.incidentId,
    tier: c.risk?.tier ?? null,
    risk_score: c.risk?.score ?? null,
    risk_overrides: c.risk?.overrides ?? [],
    outcome: c.outcome ?? null,
    opened_at: incident?.openedAt ?? null,
    services: incident?.services ?? [],
    root_cause: c.diagnosis?.rootCause ?? null,
    evidence: (c.diagnosis?.evidence ?? []).slice(0, MAX_LIST).map(item),
    signals: (incident?.signals ?? []).slice(0, MAX_LIST).map((s) => ({
      signal: s.signalId,
      entity: s.entity,
      value: s.valueAtPeak,
      expected: s.expectedAtPeak,
      hard_limit_breached: s.hardLimitBreached,
    })),
    plan: (c.plan ?? []).slice(0, MAX_LIST).map((p) => item(`${p.action} ${formatTarget(p.target)}: ${p.reason}`)),
    refused: (c.guardrails?.refused ?? [])
      .slice(0, MAX_LIST)
      .map((r) => item(`${r.action} ${r.target}: ${r.rule} (${r.detail})`)),
    execution: (c.execution ?? []).slice(0, MAX_LIST).map((e) => item(`${e.action} ${e.target}: ${e.result}`)),
  };
  if (c.failure) details.failure = { error: c.failure.Error, cause: item(c.failure.Cause ?? '') };
  if (notes.length > 0) details.notes = notes.slice(0, MAX_LIST).map(item);
  return redactDeep(details).value;
}

export class PagerDutyEvents {
  private readonly url: string;
  private readonly timeoutMs: number;
  private readonly retries: number;
  private readonly maxRetryAfterMs: number;
  private readonly backoffStartMs: number;
  private readonly maxBackoffMs: number;
  private readonly fetchFn: typeof fetch;
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly log: (event: PagerDutyEvent) => void;

  constructor(private readonly options: PagerDutyEventsOptions) {
    this.url = options.url ?? PAGERDUTY_EVENTS_URL;
    this.timeoutMs = options.timeoutMs ?? 3_000;
    this.retries = options.retries ?? 2;
    this.maxRetryAfterMs = options.maxRetryAfterMs ?? 5_000;
    this.backoffStartMs = options.backoffStartMs ?? 200;
    this.maxBackoffMs = options.maxBackoffMs ?? 2_000;
    this.fetchFn = options.fetch ?? ((input, init) => fetch(input, init));
    this.sleep = options.sleep ?? defaultSleep;
    this.log = options.log ?? (() => {});
  }

  /** Opens (or adds to) the incident's alert on the service its severity routes to. */
  async trigger(c: IncidentCase, options: TriggerOptions = {}): Promise<PagerDutyResult> {
    const severity = options.severity ?? severityOf(c);
    const incident = c.incident as Incident | undefined;
    const root = c.diagnosis?.rootCause;
    const source = root?.service ?? incident?.services[0] ?? this.options.source ?? 'sre-agent';
    const summary = options.summary ? clip(redact(options.summary).text, PAGERDUTY_LIMITS.summary) : summaryOf(c);
    const payload: Record<string, unknown> = {
      summary,
      source: redact(source).text,
      severity,
      timestamp: incident?.openedAt ?? new Date().toISOString(),
      component: root?.service ?? source,
      class: root?.kind ?? 'undiagnosed',
      custom_details: customDetails(c, options.notes ?? []),
    };
    if (this.options.group) payload.group = this.options.group;
    const event: Record<string, unknown> = {
      event_action: 'trigger',
      dedup_key: dedupKeyOf(c.incidentId),
      payload,
      client: 'sre-agent',
    };
    if (options.links && options.links.length > 0) {
      event.links = options.links.map((l) => (l.text ? { href: l.href, text: redact(l.text).text } : { href: l.href }));
    }
    return this.send(this.routeFor(severity), 'trigger', event);
  }

  /** Marks the alert as being worked on, so PagerDuty stops escalating it. */
  acknowledge(incidentId: string): Promise<PagerDutyResult> {
    return this.followUp('acknowledge', incidentId);
  }

  /** Closes the alert. */
  resolve(incidentId: string): Promise<PagerDutyResult> {
    return this.followUp('resolve', incidentId);
  }

  private routeFor(severity: PagerDutySeverity): string {
    return this.options.serviceBySeverity?.[severity] ?? this.options.routingKeySecret;
  }

  /**
   * PagerDuty drops an acknowledge or resolve that arrives through a different routing key than the trigger, and
   * the tier (hence the route) may have changed since the trigger, so follow-ups go through every configured route;
   * a route that holds no alert for the key answers 202 and ignores it.
   */
  private async followUp(action: 'acknowledge' | 'resolve', incidentId: string): Promise<PagerDutyResult> {
    const routes = [
      ...new Set([this.options.routingKeySecret, ...Object.values(this.options.serviceBySeverity ?? {})]),
    ].filter((route): route is string => typeof route === 'string' && route !== '');
    const event = { event_action: action, dedup_key: dedupKeyOf(incidentId) };
    const results = await Promise.all(routes.map((route) => this.send(route, action, event)));
    const attempts = results.reduce((sum, r) => sum + r.attempts, 0);
    const failed = results.find((r) => !r.ok);
    return failed ? { ...failed, attempts } : { ...results[0]!, attempts };
  }

  private async send(
    routeSecret: string,
    action: PagerDutyAction,
    event: Record<string, unknown>,
  ): Promise<PagerDutyResult> {
    const dedupKey = String(event.dedup_key);
    let routingKey: string;
    try {
      routingKey = routingKeyFrom(await this.options.secrets(routeSecret));
    } catch (error) {
      const detail = `secret "${routeSecret}": ${error instanceof Error ? error.message : String(error)}`;
      return {
        ok: false,
        action,
        dedupKey,
        attempts: 0,
        failure: { code: 'routing_key_unavailable', detail, errors: [] },
      };
    }
    const body = JSON.stringify({ routing_key: routingKey, ...event });
    const maxAttempts = this.retries + 1;
    let attempts = 0;
    try {
      const answer = await withRetries(
        () => {
          attempts++;
          return this.attempt(body);
        },
        isAttempt,
        { attempts: maxAttempts, startMs: this.backoffStartMs, maxMs: this.maxBackoffMs, sleep: this.sleep },
        (notice) => this.log({ type: 'retry', action, dedupKey, ...notice }),
      );
      return { ok: true, action, dedupKey: answer.dedupKey ?? dedupKey, attempts, message: answer.message };
    } catch (error) {
      const failure: PagerDutyFailure =
        error instanceof Attempt
          ? error.failure
          : { code: 'unreachable', detail: error instanceof Error ? error.message : String(error), errors: [] };
      return { ok: false, action, dedupKey, attempts, failure };
    }
  }

  private async attempt(body: string): Promise<{ message: string; dedupKey?: string }> {
    const signal = AbortSignal.timeout(this.timeoutMs);
    let response: Response;
    let text: string;
    try {
      response = await this.fetchFn(this.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/json' },
        body,
        signal,
      });
      text = await response.text();
    } catch (error) {
      const timedOut = signal.aborted || (error as { name?: string } | undefined)?.name === 'TimeoutError';
      const failure: PagerDutyFailure = timedOut
        ? { code: 'timeout', detail: `no answer within ${this.timeoutMs} ms`, errors: [] }
        : { code: 'unreachable', detail: networkCode(error), errors: [] };
      throw new Attempt(failure, true);
    }

    const status = response.status;
    const answer = parseObject(text);
    const message = typeof answer?.message === 'string' ? answer.message : '';
    if (status >= 200 && status < 300) {
      // 202 is the documented answer; its body is informative only, so an odd body does not undo the delivery.
      const dedupKey = typeof answer?.dedup_key === 'string' ? answer.dedup_key : undefined;
      return { message: message || `HTTP ${status}`, ...(dedupKey ? { dedupKey } : {}) };
    }
    const wait = retryAfterMs(response.headers.get('retry-after'));
    if (status === 429) {
      const detail = `HTTP 429, retry after ${wait ?? '?'} ms`;
      throw new Attempt(
        { code: 'rate_limited', detail, status, errors: [] },
        wait === undefined || wait <= this.maxRetryAfterMs,
        wait,
      );
    }
    if (status >= 500) {
      const detail = `HTTP ${status}${message ? `: ${message}` : ''}`;
      const waitWithin = wait !== undefined && wait <= this.maxRetryAfterMs ? wait : undefined;
      throw new Attempt({ code: 'server_error', detail, status, errors: [] }, true, waitWithin);
    }
    const errors = Array.isArray(answer?.errors) ? answer.errors.filter((e) => typeof e === 'string') : [];
    if (status === 400) {
      const detail = [`HTTP 400: ${message || 'invalid event'}`, ...errors].join('; ');
      throw new Attempt({ code: 'invalid_event', detail, status, errors }, false);
    }
    throw new Attempt(
      { code: 'http_error', detail: `HTTP ${status}${message ? `: ${message}` : ''}`, status, errors },
      false,
    );
  }
}

/** Longer keys are rejected by PagerDuty; incident ids are far shorter, so this only guards against odd input. */
const dedupKeyOf = (incidentId: string): string => incidentId.slice(0, PAGERDUTY_LIMITS.dedupKey);

function parseObject(text: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === 'object' && value !== null && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}
