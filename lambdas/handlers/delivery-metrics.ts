// The notification delivery metrics of the alert webhook and incident-notify functions: written with the agent's
// other EMF metrics (same namespace and `environment` dimension), named here so lib/agent-health.ts alarms on the
// very names the functions write. Importing this module for the names builds nothing.

import type { Metrics } from '@aws-lambda-powertools/metrics';
import { MetricUnit } from './metrics';

export const DELIVERY_METRIC = {
  /** Channel deliveries that went out: a Slack post or reply, a PagerDuty event, a ticket comment, a webhook. */
  NotificationsDelivered: 'NotificationsDelivered',
  /** Channel deliveries that failed (after the adapters' own retries): someone may not have heard. */
  NotificationDeliveryFailures: 'NotificationDeliveryFailures',
  /** Notifications no channel delivered at all. */
  NotificationsUndelivered: 'NotificationsUndelivered',
  /** Updates of the alert manager's state from incident notices that failed (the notice itself still went out). */
  AlertManagerUpdateFailures: 'AlertManagerUpdateFailures',
} as const;
export type DeliveryMetricName = (typeof DELIVERY_METRIC)[keyof typeof DELIVERY_METRIC];

/** What one batch of deliveries amounted to. */
export interface DeliveryCounts {
  readonly delivered: number;
  readonly failed: number;
  readonly undelivered: number;
}

/** Adds a batch's counts (zeros too: a flat line on the dashboard beats a gap). */
export function countDeliveries(metrics: Metrics, counts: DeliveryCounts): void {
  metrics.addMetric(DELIVERY_METRIC.NotificationsDelivered, MetricUnit.Count, counts.delivered);
  metrics.addMetric(DELIVERY_METRIC.NotificationDeliveryFailures, MetricUnit.Count, counts.failed);
  metrics.addMetric(DELIVERY_METRIC.NotificationsUndelivered, MetricUnit.Count, counts.undelivered);
}

export function countDeliveryMetric(metrics: Metrics, name: DeliveryMetricName, value = 1): void {
  metrics.addMetric(name, MetricUnit.Count, value);
}
