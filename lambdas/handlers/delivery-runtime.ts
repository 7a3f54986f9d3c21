// Module-scope wiring of notification delivery for the alert webhook and incident-notify functions: the Slack bot
// of the approvals app (when configured) with its threads remembered in the alert-state table, the PagerDuty and
// Jira clients of `integrations`, and how a batch's delivery is logged and counted.

import type { Metrics } from '@aws-lambda-powertools/metrics';
import { DynamoAlertThreadStore } from '../adapters/dynamodb/alert-thread-store';
import { AlertDelivery, type DeliveryReport, integrationClients } from '../adapters/notify/alert-delivery';
import { SlackThreads } from '../adapters/notify/slack-threads';
import type { Notification } from '../core/alerting/alert-manager';
import type { AgentConfig } from '../core/config/schema';
import { countDeliveries } from './delivery-metrics';
import { dynamoClient, logger, readSecret, requiredEnv, slackWebApi } from './runtime';

/** The variable naming the alert-state table, which also holds the Slack threads. */
export const ALERT_STATE_VARIABLE = 'ALERT_STATE_TABLE';

/** Slack threads through the approvals app's bot; undefined when no approvals (hence no bot token) are configured. */
export function slackThreads(config: AgentConfig): SlackThreads | undefined {
  if (!config.approvals) return undefined;
  return new SlackThreads(
    slackWebApi(config.approvals),
    new DynamoAlertThreadStore(dynamoClient(), requiredEnv(ALERT_STATE_VARIABLE)),
  );
}

/** Delivery of the alert manager's notifications with every channel the configuration turns on. */
export function alertDelivery(
  config: AgentConfig,
  threads: SlackThreads | undefined,
  options: { readonly deadlineMs?: number } = {},
): AlertDelivery {
  return new AlertDelivery({
    ...(threads ? { slack: threads } : {}),
    ...integrationClients(config.integrations, { secrets: readSecret }),
    ...(options.deadlineMs !== undefined ? { deadlineMs: options.deadlineMs } : {}),
  });
}

/**
 * Logs a batch's delivery (failures with the whole notification, so a person can still act on one nobody heard of)
 * and counts it. Skipped channels are logged, not counted: they are configuration, known before anything fails.
 */
export function recordDelivery(
  metrics: Metrics,
  report: DeliveryReport,
  notifications: readonly Notification[],
  extra: { readonly delivered?: number; readonly failed?: number; readonly undelivered?: number } = {},
): void {
  const byId = new Map(notifications.map((n) => [n.id, n]));
  for (const result of report.notifications) {
    const failed = result.channels.filter((c) => c.status === 'failed');
    const skipped = result.channels.filter((c) => c.status === 'skipped');
    if (failed.length > 0 || result.undelivered) {
      logger.error('alert notification delivery failed', {
        delivery: result,
        notification: byId.get(result.notification),
      });
    } else if (skipped.length > 0) {
      logger.warn('alert notification channels skipped', { delivery: result });
    } else {
      logger.info('alert notification delivered', { delivery: result });
    }
  }
  countDeliveries(metrics, {
    delivered: report.delivered + (extra.delivered ?? 0),
    failed: report.failed + (extra.failed ?? 0),
    undelivered: report.undelivered + (extra.undelivered ?? 0),
  });
}
