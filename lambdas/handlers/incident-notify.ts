// Lambda: the incident workflow's notices (outcome, diagnosis-only report, page, rejection, escalation, failure).
// Each is logged and appended to the incident's audit chain. The alert manager then hears of the incident, so the
// engines' alerts and the agent's own findings about one problem share one group, one Slack thread and one page,
// and what it decides is delivered; last, the notice itself goes out: to PagerDuty, Jira and the webhook when
// configured, and to Slack as a reply in the incident's thread (the alert group's, or its own in the approvals
// channel). No channel's failure fails the step: the audit chain already holds the notice, and failures are counted.

import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import { DynamoAlertStateStore, updateAlertState } from '../adapters/dynamodb/alert-state-store';
import type { DeliveryReport } from '../adapters/notify/alert-delivery';
import { channelsFromConfig, type FanoutReport, NotificationFanout } from '../adapters/notify/fanout';
import { incidentThreadChannel } from '../adapters/notify/slack-threads';
import { auditStep } from '../core/action/audit-steps';
import type { CaseNotice } from '../core/action/ports';
import {
  type AgentIncidentUpdate,
  AlertManager,
  type AlertManagerOptions,
  type AlertManagerSnapshot,
  type Notification,
} from '../core/alerting/alert-manager';
import { type IncidentCase, outcomeOf } from '../core/decision/incident-case';
import { ServiceGraph } from '../core/topology';
import { countDeliveryMetric, DELIVERY_METRIC } from './delivery-metrics';
import { ALERT_STATE_VARIABLE, alertDelivery, recordDelivery, slackThreads } from './delivery-runtime';
import { auditLog } from './incident-runtime';
import { agentMetrics, publishMetrics } from './metrics';
import { bundledConfig, dynamoClient, logger, readSecret, requiredEnv } from './runtime';

const { config } = bundledConfig();
const audit = auditLog();
const metrics = agentMetrics(config.environment);
const managerOptions: AlertManagerOptions = {
  config: config.alerting,
  graph: new ServiceGraph(config.topology),
  changeFreezes: config.guardrails.changeFreezes,
};
const stateStore = new DynamoAlertStateStore(dynamoClient(), requiredEnv(ALERT_STATE_VARIABLE));
const threads = slackThreads(config);
// The alert manager's notifications first, then the notice (up to integrations.deadlineMs): both inside 60 s.
const delivery = alertDelivery(config, threads, { deadlineMs: 10_000 });
// Built once, so the Jira client's memory of tickets lasts as long as the container.
const integrationChannels = config.integrations ? channelsFromConfig(config.integrations, { secrets: readSecret }) : [];

/** Where the incident stands in the alert manager after this notice. */
export interface IncidentAlerting {
  readonly notifications: readonly Notification[];
  /** The alert group the incident is in, and the channel of that group's thread, when it is in one. */
  readonly groupThread?: { readonly subject: string; readonly channelName: string };
}

export const handler = middy(async (event: { step: string; case: IncidentCase }): Promise<IncidentCase> => {
  const c = event.case;
  logger.warn('incident notice', {
    notice: event.step,
    incidentId: c.incidentId,
    tier: c.risk?.tier,
    rootCause: c.diagnosis?.rootCause,
    refused: c.guardrails?.refused,
    failure: c.failure,
  });
  await auditStep(audit, event.step, c, new Date().toISOString());
  await audit.flush();

  const alerting = await tellAlertManager(c);
  let alertReport: DeliveryReport | undefined;
  if (alerting.notifications.length > 0) alertReport = await delivery.deliver(alerting.notifications);

  const approvalsChannel = config.approvals?.channel;
  // An incident the alert manager grouped is paged and ticketed by its group (one PagerDuty alert keyed by the
  // group, one Jira issue): the notice then goes to the thread and the webhook only, so one problem never pages
  // twice. Ungrouped (the alert manager could not be told), the notice pages and tickets on its own.
  const channels = alerting.groupThread
    ? integrationChannels.filter((channel) => channel.name !== 'pagerduty' && channel.name !== 'jira')
    : integrationChannels;
  const fanout = new NotificationFanout(
    [
      ...channels,
      ...(threads && approvalsChannel
        ? [
            incidentThreadChannel(threads, {
              channel: approvalsChannel,
              ...(alerting.groupThread ? { groupThread: alerting.groupThread } : {}),
            }),
          ]
        : []),
    ],
    config.integrations ? { deadlineMs: config.integrations.deadlineMs } : {},
  );
  const report = await fanout.deliver(event.step as CaseNotice, withOutcome(c));
  logNotice(report);
  await auditFailedChannels(report);

  recordDelivery(
    metrics,
    alertReport ?? { notifications: [], delivered: 0, failed: 0, skipped: 0, undelivered: 0 },
    alerting.notifications,
    {
      delivered: report.delivered.length,
      failed: report.failed.length,
      undelivered: report.undelivered ? 1 : 0,
    },
  );
  return c;
})
  .use(injectLambdaContext(logger))
  .use(publishMetrics(metrics));

/**
 * Feeds the incident to the alert manager (through the same optimistic retry as the webhook) and returns what it
 * decided. A failure is logged and counted, never thrown: the notice matters more than the grouping.
 */
async function tellAlertManager(c: IncidentCase): Promise<IncidentAlerting> {
  const update = incidentUpdate(c);
  if (!update) {
    logger.warn('incident notice without an incident: the alert manager is not told', { incidentId: c.incidentId });
    return { notifications: [] };
  }
  const now = Date.now();
  try {
    const committed = await updateAlertState(stateStore, (current) => {
      const manager = current ? AlertManager.restore(current, managerOptions) : new AlertManager(managerOptions);
      const decision = manager.incident(update, now);
      const snapshot = manager.snapshot();
      const groupThread = groupThreadOf(snapshot, update.incident.id);
      return {
        snapshot,
        result: {
          decision,
          notifications: decision.action === 'notify' ? [decision.notification] : [],
          ...(groupThread ? { groupThread } : {}),
        },
      };
    });
    const { decision, notifications, groupThread } = committed.result;
    logger.info('alert manager told of the incident', {
      incidentId: c.incidentId,
      decision: decision.action === 'notify' ? { action: 'notify', notification: decision.notification.id } : decision,
      stateVersion: committed.version,
      conflicts: committed.conflicts,
    });
    return { notifications, ...(groupThread ? { groupThread } : {}) };
  } catch (error) {
    logger.error('alert manager update failed; the notice goes out without it', { incidentId: c.incidentId, error });
    countDeliveryMetric(metrics, DELIVERY_METRIC.AlertManagerUpdateFailures);
    return { notifications: [] };
  }
}

/**
 * What the alert manager learns from a case. A confirmed recovery resolves the incident as far as alerting goes:
 * the detection loop closes it only after a quiet period, and the group should not page on until then.
 */
export function incidentUpdate(c: IncidentCase): AgentIncidentUpdate | undefined {
  const incident = c.incident;
  if (!incident || !Array.isArray(incident.services)) return undefined;
  const root = c.diagnosis?.rootCause;
  return {
    incident: {
      id: c.incidentId,
      status: c.verification?.status === 'recovered' ? 'resolved' : incident.status,
      services: incident.services,
    },
    ...(root ? { rootCause: { service: root.service, kind: root.kind } } : {}),
    ...(c.risk ? { tier: c.risk.tier } : {}),
  };
}

/** The group the incident is in, with the channel its thread was started in, from a committed snapshot. */
export function groupThreadOf(
  snapshot: AlertManagerSnapshot,
  incidentId: string,
): IncidentAlerting['groupThread'] | undefined {
  const entry = snapshot.incidents.find(([id]) => id === incidentId)?.[1];
  if (!entry?.groupId) return undefined;
  const group = snapshot.groups.find((g) => g.id === entry.groupId);
  return group?.channel ? { subject: group.id, channelName: group.channel } : undefined;
}

/**
 * The case as the notice describes it: the workflow stores the outcome only when it closes, after the notices, but
 * the channels need it now (PagerDuty resolves a recovered incident, Jira closes its ticket, the text says it).
 */
function withOutcome(c: IncidentCase): IncidentCase {
  if (c.outcome) return c;
  try {
    return { ...c, outcome: outcomeOf(c) };
  } catch {
    // A case broken enough to fail this is announced as it is: NotifyFailure must still go out.
    return c;
  }
}

/** A channel that failed is part of the incident's story: who was not told, and why (already redacted). */
async function auditFailedChannels(report: FanoutReport): Promise<void> {
  const failed = report.results.filter((r) => !r.ok && !r.skipped);
  if (failed.length === 0) return;
  try {
    for (const result of failed) {
      await audit.append(report.incidentId, {
        actor: `notify:${result.channel}`,
        kind: 'error',
        summary: `${report.notice} not delivered by ${result.channel}${report.undelivered ? ' (no channel delivered it)' : ''}`,
        detail: { notice: report.notice, channel: result.channel, detail: result.detail },
        at: new Date().toISOString(),
      });
    }
    await audit.flush();
  } catch (error) {
    logger.error('could not audit failed notice channels', { incidentId: report.incidentId, error });
  }
}

function logNotice(report: FanoutReport): void {
  const details = {
    notice: report.notice,
    incidentId: report.incidentId,
    delivered: report.delivered,
    failed: report.failed,
    results: report.results,
  };
  if (report.undelivered) logger.error('incident notice reached no channel', details);
  else if (report.failed.length > 0) logger.warn('incident notice failed on some channels', details);
  else logger.info('incident notice delivered', details);
}
