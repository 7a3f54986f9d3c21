// Webhook bodies from external alert engines (Prometheus Alertmanager v4, Nightingale/n9e callbacks) checked and
// normalised into one ExternalAlert shape that the alert manager reasons about. Pure: no I/O.
//
// Identity matters more than anything else here: an HA pair of Prometheus replicas sends every alert twice with
// label sets that differ only in the replica label, so Alertmanager gives the two copies different fingerprints.
// The fingerprint computed below leaves the replica labels out, which makes the copies one alert.

import { createHash } from 'node:crypto';
import { z } from 'zod';

export const SEVERITIES = ['info', 'warning', 'critical'] as const;
export type Severity = (typeof SEVERITIES)[number];

/** Orders severities so that a rise can be detected: info < warning < critical. */
export const severityRank = (severity: Severity): number => SEVERITIES.indexOf(severity);

export type AlertSource = 'alertmanager' | 'nightingale';
export type AlertStatus = 'firing' | 'resolved';

/** One alert from any engine, in the shape the alert manager works on. */
export interface ExternalAlert {
  readonly source: AlertSource;
  /** Stable identity of the alert across repeats and HA replicas (replica labels excluded). */
  readonly fingerprint: string;
  /** Alert rule name: Alertmanager `alertname`, n9e `rule_name`. */
  readonly name: string;
  readonly status: AlertStatus;
  readonly severity: Severity;
  /** Service the alert is about, from the `service`, `job` or `app` label (n9e: tag); absent when none is set. */
  readonly service?: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly annotations: Readonly<Record<string, string>>;
  /** Epoch ms the alert started firing. */
  readonly startsAt: number;
  /** Epoch ms the alert stopped firing; only on resolved alerts. */
  readonly endsAt?: number;
  readonly summary: string;
  /** Link back to the rule in the engine that raised it, when the engine gave one. */
  readonly generatorURL?: string;
}

/** A webhook body that cannot be used, with one line per problem naming the field and what is wrong. */
export class WebhookFormatError extends Error {
  override readonly name = 'WebhookFormatError';
  constructor(
    readonly source: AlertSource | 'unknown',
    readonly problems: readonly string[],
  ) {
    super(`invalid ${source === 'unknown' ? 'alert webhook' : `${source} webhook`}: ${problems.join('; ')}`);
  }
}

/** Labels that only tell HA replicas apart; they are left out of the fingerprint. */
export const DEFAULT_REPLICA_LABELS: readonly string[] = ['prometheus_replica', 'replica', '__replica__'];

export interface NormaliseOptions {
  /** Labels ignored when deciding whether two alerts are the same (default DEFAULT_REPLICA_LABELS). */
  readonly replicaLabels?: readonly string[];
}

// ---------------------------------------------------------------------------------------------------------------
// Times

const RFC3339 = /^(\d{4}-\d{2}-\d{2})[Tt](\d{2}:\d{2}:\d{2})(?:\.(\d+))?([Zz]|[+-]\d{2}:\d{2})$/;

/** Epoch ms of an RFC 3339 time (fractions beyond milliseconds truncated), or undefined. */
function parseTime(text: string): number | undefined {
  const m = RFC3339.exec(text);
  if (!m) return undefined;
  const fraction = m[3] ? `.${m[3].slice(0, 3).padEnd(3, '0')}` : '';
  const ms = Date.parse(`${m[1]}T${m[2]}${fraction}${m[4].toUpperCase()}`);
  return Number.isNaN(ms) ? undefined : ms;
}

/** Alertmanager writes Go's zero time (0001-01-01T00:00:00Z) for "no end yet"; anything before 1970 means unset. */
const setTime = (ms: number | undefined): number | undefined => (ms !== undefined && ms > 0 ? ms : undefined);

// ---------------------------------------------------------------------------------------------------------------
// Schemas

const requiredString = (what = 'a string') =>
  z.string({ error: (issue) => (issue.input === undefined ? 'required' : `must be ${what}`) });

const rfc3339 = requiredString('an RFC 3339 time such as 2026-11-04T03:02:00Z').refine(
  (s) => parseTime(s) !== undefined,
  'must be an RFC 3339 time such as 2026-11-04T03:02:00Z',
);

const stringMap = z.record(z.string(), z.string({ error: 'must be a string' }), {
  error: (issue) => (issue.input === undefined ? 'required' : 'must be an object of string values'),
});

const alertStatusSchema = z.enum(['firing', 'resolved'], {
  error: (issue) => (issue.input === undefined ? 'required' : 'must be "firing" or "resolved"'),
});

const alertmanagerLabelsSchema = z
  .object(
    { alertname: requiredString().min(1, 'must not be empty') },
    { error: (issue) => (issue.input === undefined ? 'required' : 'must be an object of string values') },
  )
  .catchall(z.string({ error: 'must be a string' }));

export const alertmanagerAlertSchema = z.looseObject(
  {
    status: alertStatusSchema,
    labels: alertmanagerLabelsSchema,
    annotations: stringMap.default({}),
    startsAt: rfc3339,
    endsAt: rfc3339.optional(),
    generatorURL: z.string({ error: 'must be a string' }).optional(),
    fingerprint: z.string({ error: 'must be a string' }).optional(),
  },
  { error: (issue) => (issue.input === undefined ? 'required' : 'must be an object') },
);

/** Alertmanager webhook body, version 4 (https://prometheus.io/docs/alerting/latest/configuration/#webhook_config). */
export const alertmanagerWebhookSchema = z.looseObject(
  {
    version: z.literal('4', {
      error: (issue) =>
        issue.input === undefined ? 'required' : 'must be "4" (only Alertmanager webhook version 4 is understood)',
    }),
    groupKey: requiredString(),
    truncatedAlerts: z.number().int().nonnegative().optional(),
    status: alertStatusSchema,
    receiver: requiredString(),
    groupLabels: stringMap.default({}),
    commonLabels: stringMap.default({}),
    commonAnnotations: stringMap.default({}),
    externalURL: z.string({ error: 'must be a string' }).optional(),
    alerts: z.array(alertmanagerAlertSchema, {
      error: (issue) => (issue.input === undefined ? 'required' : 'must be an array of alerts'),
    }),
  },
  { error: 'must be a JSON object (the Alertmanager webhook body)' },
);
export type AlertmanagerWebhookBody = z.infer<typeof alertmanagerWebhookSchema>;

const epochSeconds = z
  .number({ error: (issue) => (issue.input === undefined ? 'required' : 'must be a Unix time in seconds') })
  .int('must be a Unix time in whole seconds')
  .nonnegative('must be a Unix time in seconds');

/**
 * One Nightingale alert event as its callback sends it (models.AlertCurEvent in n9e v6; v7+ callbacks post an
 * array of them). Only the fields the alert manager uses are checked; the rest pass through.
 */
export const nightingaleEventSchema = z.looseObject(
  {
    hash: requiredString().min(1, 'must not be empty'),
    rule_id: z.number().int().optional(),
    rule_name: requiredString().min(1, 'must not be empty'),
    rule_note: z.string().optional(),
    severity: z
      .number({ error: (issue) => (issue.input === undefined ? 'required' : 'must be 1, 2 or 3') })
      .int('must be 1, 2 or 3')
      .min(1, 'must be 1, 2 or 3')
      .max(3, 'must be 1, 2 or 3'),
    is_recovered: z.boolean({ error: (issue) => (issue.input === undefined ? 'required' : 'must be true or false') }),
    trigger_time: epochSeconds,
    first_trigger_time: epochSeconds.optional(),
    last_eval_time: epochSeconds.optional(),
    trigger_value: z.string().optional(),
    target_ident: z.string().optional(),
    group_name: z.string().optional(),
    cluster: z.string().optional(),
    tags: z.array(z.string({ error: 'must be a "key=value" string' })).nullish(),
    tags_map: z.record(z.string(), z.string({ error: 'must be a string' })).nullish(),
    annotations: z.record(z.string(), z.string({ error: 'must be a string' })).nullish(),
    runbook_url: z.string().optional(),
  },
  { error: 'must be a JSON object (a Nightingale alert event)' },
);
export type NightingaleEvent = z.infer<typeof nightingaleEventSchema>;

// ---------------------------------------------------------------------------------------------------------------
// Helpers

function formatPath(path: readonly PropertyKey[]): string {
  if (path.length === 0) return '(top level)';
  return path.reduce<string>((out, key) => {
    if (typeof key === 'number') return `${out}[${key}]`;
    return out ? `${out}.${String(key)}` : String(key);
  }, '');
}

function describe(issues: readonly z.core.$ZodIssue[], prefix: readonly PropertyKey[] = []): string[] {
  return issues.map((issue) => `${formatPath([...prefix, ...issue.path])}: ${issue.message}`);
}

/** Stable identity of a label set: sorted key=value pairs, hashed so it stays short. */
export function labelFingerprint(
  labels: Readonly<Record<string, string>>,
  ignore: readonly string[] = DEFAULT_REPLICA_LABELS,
): string {
  const canonical = Object.keys(labels)
    .filter((key) => !ignore.includes(key))
    .sort()
    .map((key) => `${key}=${JSON.stringify(labels[key])}`)
    .join(',');
  return createHash('sha256').update(canonical).digest('hex').slice(0, 16);
}

const SEVERITY_WORDS: Readonly<Record<string, Severity>> = {
  critical: 'critical',
  crit: 'critical',
  error: 'critical',
  page: 'critical',
  high: 'critical',
  emergency: 'critical',
  fatal: 'critical',
  p1: 'critical',
  warning: 'warning',
  warn: 'warning',
  medium: 'warning',
  major: 'warning',
  p2: 'warning',
  info: 'info',
  none: 'info',
  low: 'info',
  minor: 'info',
  notice: 'info',
  p3: 'info',
  p4: 'info',
};

/** Severity from the conventional `severity` label; an unknown or missing one is a warning, never dropped. */
export function severityFromLabel(value: string | undefined): Severity {
  return (value && SEVERITY_WORDS[value.trim().toLowerCase()]) || 'warning';
}

const SERVICE_LABELS = ['service', 'job', 'app'] as const;

function serviceOf(labels: Readonly<Record<string, string>>): string | undefined {
  for (const key of SERVICE_LABELS) {
    const value = labels[key]?.trim();
    if (value) return value;
  }
  return undefined;
}

function summaryOf(annotations: Readonly<Record<string, string>>, fallback: string): string {
  return annotations.summary || annotations.description || annotations.message || fallback;
}

// ---------------------------------------------------------------------------------------------------------------
// Alertmanager

/** Checks an Alertmanager webhook body; throws WebhookFormatError naming every field at fault. */
export function parseAlertmanagerWebhook(body: unknown): AlertmanagerWebhookBody {
  const parsed = alertmanagerWebhookSchema.safeParse(body);
  if (!parsed.success) throw new WebhookFormatError('alertmanager', describe(parsed.error.issues));
  return parsed.data;
}

/** The alerts of one Alertmanager webhook body (version 4) as ExternalAlerts. */
export function normaliseAlertmanagerWebhook(body: unknown, options: NormaliseOptions = {}): ExternalAlert[] {
  const webhook = parseAlertmanagerWebhook(body);
  const ignore = options.replicaLabels ?? DEFAULT_REPLICA_LABELS;
  return webhook.alerts.map((alert): ExternalAlert => {
    const labels: Record<string, string> = { ...alert.labels };
    const service = serviceOf(labels);
    const endsAt = alert.status === 'resolved' && alert.endsAt ? setTime(parseTime(alert.endsAt)) : undefined;
    return {
      source: 'alertmanager',
      fingerprint: `am:${labelFingerprint(labels, ignore)}`,
      name: alert.labels.alertname,
      status: alert.status,
      severity: severityFromLabel(labels.severity),
      ...(service ? { service } : {}),
      labels,
      annotations: { ...alert.annotations },
      startsAt: parseTime(alert.startsAt) ?? 0,
      ...(endsAt !== undefined ? { endsAt } : {}),
      summary: summaryOf(
        alert.annotations,
        service ? `${alert.labels.alertname} on ${service}` : alert.labels.alertname,
      ),
      ...(alert.generatorURL ? { generatorURL: alert.generatorURL } : {}),
    };
  });
}

// ---------------------------------------------------------------------------------------------------------------
// Nightingale

/** n9e severities: 1 is the most severe (S1), 3 the least. */
const N9E_SEVERITY: Readonly<Record<number, Severity>> = { 1: 'critical', 2: 'warning', 3: 'info' };

function nightingaleLabels(event: NightingaleEvent): Record<string, string> {
  const labels: Record<string, string> = {};
  // `tags` is the "key=value" list; `tags_map` the same as an object, which wins where both are given.
  for (const tag of event.tags ?? []) {
    const at = tag.indexOf('=');
    if (at > 0) labels[tag.slice(0, at)] = tag.slice(at + 1);
  }
  Object.assign(labels, event.tags_map ?? {});
  if (!labels.alertname) labels.alertname = event.rule_name;
  if (event.target_ident && !labels.ident) labels.ident = event.target_ident;
  return labels;
}

function normaliseNightingaleEvent(event: NightingaleEvent): ExternalAlert {
  const labels = nightingaleLabels(event);
  const service = serviceOf(labels);
  const annotations = { ...(event.annotations ?? {}) };
  const started = event.first_trigger_time || event.trigger_time;
  // A recovery event carries the time of the evaluation that found the alert gone in last_eval_time.
  const endsAt = event.is_recovered ? setTime((event.last_eval_time || event.trigger_time) * 1000) : undefined;
  const subject = service ?? event.target_ident;
  return {
    source: 'nightingale',
    // n9e's hash is rule id + series key: the same for repeats and across alerting engines of one cluster.
    fingerprint: `n9e:${event.hash}`,
    name: event.rule_name,
    status: event.is_recovered ? 'resolved' : 'firing',
    severity: N9E_SEVERITY[event.severity] ?? 'warning',
    ...(service ? { service } : {}),
    labels,
    annotations,
    startsAt: started * 1000,
    ...(endsAt !== undefined ? { endsAt } : {}),
    summary: summaryOf(
      annotations,
      event.rule_note || (subject ? `${event.rule_name} on ${subject}` : event.rule_name),
    ),
  };
}

/** Checks a Nightingale callback body (one event, or an array of events); throws WebhookFormatError. */
export function parseNightingaleEvents(body: unknown): NightingaleEvent[] {
  if (Array.isArray(body)) {
    const problems: string[] = [];
    const events: NightingaleEvent[] = [];
    body.forEach((item, index) => {
      const parsed = nightingaleEventSchema.safeParse(item);
      if (parsed.success) events.push(parsed.data);
      else problems.push(...describe(parsed.error.issues, [index]));
    });
    if (problems.length > 0) throw new WebhookFormatError('nightingale', problems);
    return events;
  }
  const parsed = nightingaleEventSchema.safeParse(body);
  if (!parsed.success) throw new WebhookFormatError('nightingale', describe(parsed.error.issues));
  return [parsed.data];
}

/** The events of one Nightingale callback body as ExternalAlerts. */
export function normaliseNightingaleEvents(body: unknown): ExternalAlert[] {
  return parseNightingaleEvents(body).map(normaliseNightingaleEvent);
}

// ---------------------------------------------------------------------------------------------------------------
// Either

/** Which engine sent a body: Alertmanager bodies carry `version` and `alerts`, n9e events `rule_name` and `hash`. */
export function detectSource(body: unknown): AlertSource | undefined {
  const first = Array.isArray(body) ? body[0] : body;
  if (typeof first !== 'object' || first === null) return undefined;
  if ('alerts' in first || 'version' in first || 'groupKey' in first) return 'alertmanager';
  if ('rule_name' in first || 'hash' in first || 'is_recovered' in first) return 'nightingale';
  return undefined;
}

/** Normalises a body from either engine, telling them apart by shape. */
export function normaliseWebhook(body: unknown, options: NormaliseOptions = {}): ExternalAlert[] {
  const source = detectSource(body);
  if (source === 'alertmanager') return normaliseAlertmanagerWebhook(body, options);
  if (source === 'nightingale') return normaliseNightingaleEvents(body);
  if (Array.isArray(body) && body.length === 0) return [];
  throw new WebhookFormatError('unknown', [
    '(top level): not an Alertmanager webhook (needs version "4" and alerts) nor a Nightingale event (needs rule_name and hash)',
  ]);
}
