// Lambda behind POST /alerts/alertmanager and POST /alerts/n9e (API Gateway HTTP API): authenticates the alert
// engine before reading anything, checks size and shape, and feeds every alert of the delivery to the alert
// manager, whose state is one versioned DynamoDB item. The notifications it decides are then delivered (Slack
// threads, PagerDuty, Jira) and listed in the answer. The same function runs the alert manager's minute check:
// an EventBridge schedule invokes it with a scheduled event (no HTTP fields), which runs the time-driven work
// (flapping alerts settling, missing heartbeats) and delivers what that decides.
//
// Answers: 401 when the engine is not authenticated, 413 for a body over 1 MB, 400 for a body that is not JSON or
// not the engine's webhook (the message names the field), 404 for another path, 200 with the decisions. Anything
// else (DynamoDB, Secrets Manager) fails the invocation, and API Gateway answers 500: Alertmanager retries 5xx
// deliveries and never 4xx ones, which is why a bad request is never a 5xx here. A channel that cannot be reached
// never fails the invocation: the state is already committed, so a retry would only find duplicates.
//
// Delivery comes after the commit, never before: a decision is final only once its state is stored (a lost race
// decides again on another delivery's state, possibly differently), and once stored, a retried webhook or a
// repeated schedule event finds its alerts already known and decides nothing new. A notification is therefore
// delivered at most once; the price is that a crash between the commit and the delivery loses it, which the
// function's error alarm and the logged decisions make visible.

import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import { DynamoAlertStateStore, updateAlertState } from '../adapters/dynamodb/alert-state-store';
import { DynamoIncidentStore } from '../adapters/dynamodb/incident-store';
import {
  AUTHORIZATION_HEADER,
  type WebhookRouteName as RouteName,
  SIGNATURE_HEADER,
  sharedSecretFrom,
  TIMESTAMP_HEADER,
  verifyBearerToken,
  verifyWebhookHmac,
  WEBHOOK_ROUTES,
  type WebhookAuthFailure,
} from '../adapters/http/webhook-auth';
import type { DeliveryReport } from '../adapters/notify/alert-delivery';
import { headerValue } from '../adapters/slack/signature';
import {
  type AlertDecision,
  AlertManager,
  type AlertManagerOptions,
  type Notification,
  type SuppressionReason,
} from '../core/alerting/alert-manager';
import {
  type AlertSource,
  detectSource,
  type ExternalAlert,
  normaliseAlertmanagerWebhook,
  normaliseNightingaleEvents,
  WebhookFormatError,
} from '../core/alerting/webhooks';
import type { Incident } from '../core/cognition/incident';
import { ServiceGraph } from '../core/topology';
import { ALERT_STATE_VARIABLE, alertDelivery, recordDelivery, slackThreads } from './delivery-runtime';
import { agentMetrics, count, METRIC, publishMetrics } from './metrics';
import { bundledConfig, dynamoClient, logger, readSecret, requiredEnv } from './runtime';

/** Largest body accepted: an Alertmanager group of a few thousand alerts, far below API Gateway's own limits. */
export const MAX_BODY_BYTES = 1024 * 1024;

const { config } = bundledConfig();
const managerOptions: AlertManagerOptions = {
  config: config.alerting,
  graph: new ServiceGraph(config.topology),
  changeFreezes: config.guardrails.changeFreezes,
};
const metrics = agentMetrics(config.environment);
const store = new DynamoAlertStateStore(dynamoClient(), requiredEnv(ALERT_STATE_VARIABLE));
const incidents = process.env.INCIDENTS_TABLE
  ? new DynamoIncidentStore(dynamoClient(), process.env.INCIDENTS_TABLE)
  : undefined;
// Alertmanager waits for the answer and API Gateway gives up after 30 s: delivery gets a third of that.
const delivery = alertDelivery(config, slackThreads(config), { deadlineMs: 10_000 });

/** The parts of an API Gateway proxy event (HTTP API payload 2.0, or REST) this function reads. */
export interface WebhookEvent {
  readonly rawPath?: string;
  readonly path?: string;
  readonly body?: string | null;
  readonly isBase64Encoded?: boolean;
  readonly headers?: Readonly<Record<string, string | undefined>> | null;
  readonly requestContext?: {
    readonly http?: { readonly path?: string; readonly sourceIp?: string };
    readonly identity?: { readonly sourceIp?: string };
  };
  /** EventBridge's fields: a scheduled event has `detail-type` "Scheduled Event" and source "aws.events". */
  readonly source?: string;
  readonly 'detail-type'?: string;
  readonly time?: string;
}

export interface WebhookResult {
  readonly statusCode: number;
  readonly headers: Record<string, string>;
  readonly body: string;
}

/** One alert's decision as the response lists it. */
export interface DecisionSummary {
  readonly fingerprint: string;
  readonly name: string;
  readonly status: ExternalAlert['status'];
  readonly action: AlertDecision['action'];
  /** The notification's id, when notified. */
  readonly notification?: string;
  readonly reason?: SuppressionReason;
  readonly groupId?: string;
  readonly detail?: string;
}

/** The 200 answer. */
export interface WebhookSummary {
  readonly source: AlertSource;
  readonly received: number;
  readonly notified: number;
  readonly suppressed: number;
  readonly suppressedBy: Partial<Record<SuppressionReason, number>>;
  readonly decisions: readonly DecisionSummary[];
  /** Everything to send: the delivery's own, and those time released (a flapping alert settling, a lost heartbeat). */
  readonly notifications: readonly Notification[];
  readonly stateVersion?: number;
  /** How the notifications were delivered. */
  readonly delivery?: DeliverySummary;
}

/** Channel deliveries of a batch, counted (the log has each one). */
export interface DeliverySummary {
  readonly delivered: number;
  readonly failed: number;
  readonly skipped: number;
  readonly undelivered: number;
}

/** The answer to a scheduled invocation (EventBridge ignores it; the log and tests read it). */
export interface ScheduledSummary {
  readonly scheduled: true;
  /** False when no state was stored yet: nothing can be held or missing before the first delivery. */
  readonly checked: boolean;
  readonly notifications: readonly Notification[];
  readonly stateVersion?: number;
  readonly delivery?: DeliverySummary;
}

export const handler = middy(async (event: WebhookEvent): Promise<WebhookResult> => {
  if (isScheduledEvent(event)) return runMinuteCheck();
  const path = event.rawPath ?? event.requestContext?.http?.path ?? event.path ?? '';
  const sourceIp = event.requestContext?.http?.sourceIp ?? event.requestContext?.identity?.sourceIp;
  const route = routeOf(path);
  if (!route) return refuse(404, 'unknown-source', `no alert source at ${path.slice(0, 100)}`, { path });
  const { source } = WEBHOOK_ROUTES[route];
  const seen = { source, ...(sourceIp ? { sourceIp } : {}) };

  const rawBody = Buffer.from(event.body ?? '', event.isBase64Encoded ? 'base64' : 'utf8');
  if (rawBody.length > MAX_BODY_BYTES) {
    return refuse(413, 'body-too-large', `the body is ${rawBody.length} bytes; at most ${MAX_BODY_BYTES} accepted`, {
      ...seen,
    });
  }

  const denied = await authenticate(route, event, rawBody);
  if (denied) {
    // The caller learns only that it is not authenticated; the reason goes to the log.
    return refuse(
      401,
      'unauthorized',
      'not authenticated',
      { ...seen, ...denied },
      WEBHOOK_ROUTES[route].scheme === 'bearer',
    );
  }

  const parsed = readAlerts(route, rawBody);
  if (!parsed.ok) return refuse(400, parsed.code, parsed.message, { ...seen }, false, parsed.problems);
  const alerts = parsed.alerts;
  if (alerts.length === 0) {
    count(metrics, METRIC.AlertsReceived, 0);
    return respond(200, summarise(source, [], [], []));
  }

  const now = Date.now();
  const update = await updateAlertState(store, (current) => {
    const manager = current ? AlertManager.restore(current, managerOptions) : new AlertManager(managerOptions);
    // Time-driven work first, so what time released is decided before this delivery's alerts.
    const released = manager.tick(now);
    const decisions = alerts.map((alert) => manager.ingest(alert, now));
    return { snapshot: manager.snapshot(), result: { released, decisions } };
  });
  const { released, decisions } = update.result;
  const summary = {
    ...summarise(source, alerts, decisions, released),
    stateVersion: update.version,
  };

  count(metrics, METRIC.AlertsReceived, summary.received);
  count(metrics, METRIC.AlertNotifications, summary.notifications.length);
  count(metrics, METRIC.AlertsSuppressed, summary.suppressed);
  count(metrics, METRIC.AlertStateConflicts, update.conflicts);
  for (const notification of summary.notifications) logger.info('alert notification', { notification });
  const delivered = await deliver(summary.notifications);
  logger.info('alert webhook handled', {
    ...seen,
    received: summary.received,
    notified: summary.notified,
    suppressedBy: summary.suppressedBy,
    notifications: summary.notifications.length,
    stateVersion: update.version,
    conflicts: update.conflicts,
    ...(delivered ? { delivery: delivered } : {}),
  });
  return respond(200, { ...summary, ...(delivered ? { delivery: delivered } : {}) });
})
  .use(injectLambdaContext(logger))
  .use(publishMetrics(metrics));

/** An EventBridge scheduled event: none of the HTTP fields, and EventBridge's own. */
export function isScheduledEvent(event: WebhookEvent): boolean {
  const http = event.rawPath !== undefined || event.path !== undefined || event.requestContext !== undefined;
  return !http && event['detail-type'] === 'Scheduled Event' && event.source === 'aws.events';
}

/**
 * The alert manager's time-driven work, once a minute: releases flapping alerts that have settled, notices missing
 * heartbeats and forgets what can no longer matter; commits, then delivers what that decided.
 */
async function runMinuteCheck(): Promise<WebhookResult> {
  if (!(await store.load())) {
    logger.info('alert minute check: no state stored yet');
    count(metrics, METRIC.AlertNotifications, 0);
    return respond(200, { scheduled: true, checked: false, notifications: [] } satisfies ScheduledSummary);
  }
  const now = Date.now();
  const resolved = await resolvedIncidents();
  const update = await updateAlertState(store, (current) => {
    const manager = current ? AlertManager.restore(current, managerOptions) : new AlertManager(managerOptions);
    const told: Notification[] = [];
    for (const incident of resolved) {
      const decision = manager.incident({ incident }, now);
      if (decision.action === 'notify') told.push(decision.notification);
    }
    // As the replay runs them: tick also checks the heartbeats, so the second call only finds what the first left.
    const notifications = [...told, ...manager.tick(now), ...manager.checkHeartbeats(now)];
    return { snapshot: manager.snapshot(), result: notifications };
  });
  const notifications = update.result;
  count(metrics, METRIC.AlertNotifications, notifications.length);
  count(metrics, METRIC.AlertStateConflicts, update.conflicts);
  for (const notification of notifications) logger.info('alert notification', { notification });
  const delivered = await deliver(notifications);
  const summary: ScheduledSummary = {
    scheduled: true,
    checked: true,
    notifications,
    stateVersion: update.version,
    ...(delivered ? { delivery: delivered } : {}),
  };
  logger.info('alert minute check done', {
    notifications: notifications.length,
    stateVersion: update.version,
    conflicts: update.conflicts,
    ...(delivered ? { delivery: delivered } : {}),
  });
  return respond(200, summary);
}

/**
 * Incidents the alert manager still counts as firing that the detection loop has resolved since: without this a
 * group opened by an incident nobody remediated would never resolve. A read that fails is retried next minute.
 */
async function resolvedIncidents(): Promise<Pick<Incident, 'id' | 'status' | 'services'>[]> {
  if (!incidents) return [];
  const state = await store.load();
  const firing = (state?.snapshot.incidents ?? [])
    .filter(([, entry]) => entry.effective === 'firing')
    .map(([id]) => id);
  const found = await Promise.all(
    firing.map(async (id) => {
      try {
        return await incidents.get(id);
      } catch (error) {
        logger.warn('alert minute check: cannot read incident', { incidentId: id, error: (error as Error).message });
        return undefined;
      }
    }),
  );
  return found
    .filter((i): i is Incident => i?.status === 'resolved')
    .map((i) => ({ id: i.id, status: i.status, services: i.services }));
}

/** Delivers committed notifications; counts and logs how it went. Never throws: the state is already stored. */
async function deliver(notifications: readonly Notification[]): Promise<DeliverySummary | undefined> {
  if (notifications.length === 0) {
    recordDelivery(metrics, emptyReport, notifications);
    return undefined;
  }
  let report: DeliveryReport;
  try {
    report = await delivery.deliver(notifications);
  } catch (error) {
    // AlertDelivery reports failures rather than throwing; this is the last line against a bug in it.
    logger.error('alert notification delivery threw', { error, notifications });
    recordDelivery(metrics, emptyReport, notifications, {
      failed: notifications.length,
      undelivered: notifications.length,
    });
    return { delivered: 0, failed: notifications.length, skipped: 0, undelivered: notifications.length };
  }
  recordDelivery(metrics, report, notifications);
  return {
    delivered: report.delivered,
    failed: report.failed,
    skipped: report.skipped,
    undelivered: report.undelivered,
  };
}

const emptyReport: DeliveryReport = { notifications: [], delivered: 0, failed: 0, skipped: 0, undelivered: 0 };

/** The route a path names; a stage prefix (`/prod/alerts/n9e`, on a named stage) is allowed. */
function routeOf(path: string): RouteName | undefined {
  const match = /(?:^|\/)alerts\/([a-z0-9-]+)\/?$/.exec(path);
  const name = match?.[1];
  return name && Object.hasOwn(WEBHOOK_ROUTES, name) ? (name as RouteName) : undefined;
}

/** Undefined when the request carries the route's credentials; otherwise why not. */
async function authenticate(
  route: RouteName,
  event: WebhookEvent,
  rawBody: Buffer,
): Promise<WebhookAuthFailure | undefined> {
  const secret = sharedSecretFrom(await readSecret(requiredEnv(WEBHOOK_ROUTES[route].secretVariable)));
  const verified =
    WEBHOOK_ROUTES[route].scheme === 'bearer'
      ? verifyBearerToken(headerValue(event.headers, AUTHORIZATION_HEADER), secret)
      : verifyWebhookHmac(
          {
            rawBody,
            timestamp: headerValue(event.headers, TIMESTAMP_HEADER),
            signature: headerValue(event.headers, SIGNATURE_HEADER),
          },
          secret,
        );
  return verified.ok ? undefined : verified.error;
}

type ReadAlerts =
  | { readonly ok: true; readonly alerts: ExternalAlert[] }
  | { readonly ok: false; readonly code: string; readonly message: string; readonly problems?: readonly string[] };

/** The body as the route's engine's alerts, or what is wrong with it. */
function readAlerts(route: RouteName, rawBody: Buffer): ReadAlerts {
  let body: unknown;
  try {
    body = JSON.parse(rawBody.toString('utf8'));
  } catch (error) {
    const why = error instanceof Error ? error.message : String(error);
    return { ok: false, code: 'malformed-json', message: `the body is not JSON: ${why}` };
  }
  const source = WEBHOOK_ROUTES[route].source;
  try {
    return {
      ok: true,
      alerts:
        source === 'alertmanager'
          ? normaliseAlertmanagerWebhook(body, { replicaLabels: config.alerting.replicaLabels })
          : normaliseNightingaleEvents(body),
    };
  } catch (error) {
    if (!(error instanceof WebhookFormatError)) throw error;
    const detected = detectSource(body);
    const problems =
      detected && detected !== source
        ? [
            `(top level): this is ${detected === 'alertmanager' ? 'an Alertmanager' : 'a Nightingale'} body; post it to /alerts/${detected === 'alertmanager' ? 'alertmanager' : 'n9e'}`,
            ...error.problems,
          ]
        : error.problems;
    return {
      ok: false,
      code: 'invalid-webhook',
      message: `invalid ${source} webhook: ${problems.join('; ')}`,
      problems,
    };
  }
}

function summarise(
  source: AlertSource,
  alerts: readonly ExternalAlert[],
  decisions: readonly AlertDecision[],
  released: readonly Notification[],
): WebhookSummary {
  const suppressedBy: Partial<Record<SuppressionReason, number>> = {};
  const summaries = decisions.map((decision, index): DecisionSummary => {
    const alert = alerts[index];
    const about = { fingerprint: alert.fingerprint, name: alert.name, status: alert.status };
    if (decision.action === 'notify') {
      return { ...about, action: 'notify', notification: decision.notification.id };
    }
    suppressedBy[decision.reason] = (suppressedBy[decision.reason] ?? 0) + 1;
    return {
      ...about,
      action: 'suppress',
      reason: decision.reason,
      ...(decision.groupId ? { groupId: decision.groupId } : {}),
      detail: decision.detail,
    };
  });
  const delivered = decisions.flatMap((decision) => (decision.action === 'notify' ? [decision.notification] : []));
  return {
    source,
    received: alerts.length,
    notified: delivered.length,
    suppressed: decisions.length - delivered.length,
    suppressedBy,
    decisions: summaries,
    notifications: [...released, ...delivered],
  };
}

function refuse(
  status: number,
  code: string,
  message: string,
  logged: Record<string, unknown>,
  bearerChallenge = false,
  problems?: readonly string[],
): WebhookResult {
  logger.warn('alert webhook refused', { status, code, message, ...logged });
  count(metrics, METRIC.AlertWebhooksRefused);
  return respond(
    status,
    { error: code, message, ...(problems ? { problems } : {}) },
    bearerChallenge ? { 'www-authenticate': 'Bearer' } : {},
  );
}

function respond(statusCode: number, body: unknown, headers: Record<string, string> = {}): WebhookResult {
  return { statusCode, headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) };
}
