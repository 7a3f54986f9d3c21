// The agent's own health metrics: one Powertools Metrics instance per Lambda container, written as CloudWatch
// embedded metric format (EMF) log lines under the namespace `SreAgent` with the single dimension `environment`,
// and the metric names the alarms and dashboard of lib/agent-health.ts read.

import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';

export { MetricUnit };

export const METRICS_NAMESPACE = 'SreAgent';
export const ENVIRONMENT_DIMENSION = 'environment';

/**
 * Every metric the agent emits. Names are part of the contract with the alarms and the dashboard: renaming one
 * silently turns its alarm into one that watches nothing.
 */
export const METRIC = {
  // Detection loop (score-tick, collect-metrics).
  /** A tick scored and committed (duplicates of an already scored tick are not counted). */
  TicksCompleted: 'TicksCompleted',
  /** A delivery of a tick that had already been scored (EventBridge delivers at least once). */
  DuplicateTicks: 'DuplicateTicks',
  SeriesScored: 'SeriesScored',
  /** Wall time of the whole scoring step, S3 reads and DynamoDB writes included: what must fit in the 60 s tick. */
  ScoringDurationMs: 'ScoringDurationMs',
  IncidentsOpened: 'IncidentsOpened',
  IncidentsResolved: 'IncidentsResolved',
  PointsCollected: 'PointsCollected',
  /** Signals the collector could not query this tick. */
  CollectionErrors: 'CollectionErrors',

  // Approvals (request-approval, slack-interactions, close-approval).
  ApprovalsRequested: 'ApprovalsRequested',
  VotesRecorded: 'VotesRecorded',
  ApprovalsGranted: 'ApprovalsGranted',
  ApprovalsRejected: 'ApprovalsRejected',
  /** Votes refused (not an approver, decision closed, duplicate vote, ...). */
  VotesRefused: 'VotesRefused',
  /** Requests to the Slack endpoint refused before any vote: bad signature or replay (401), unreadable payload (400). */
  InteractionsRefused: 'InteractionsRefused',
  /** A decision reached by vote that the workflow could not be told of (it then times out and escalates). */
  ApprovalDeliveryFailures: 'ApprovalDeliveryFailures',
  /** Approval waits that ran out: the workflow escalated instead of remediating. */
  ApprovalTimeouts: 'ApprovalTimeouts',
  /** Votes, refusals or closings the approval path could not confirm in the audit trail (the vote itself stands). */
  AuditAppendFailures: 'AuditAppendFailures',

  // External alerts (alert-webhook).
  AlertsReceived: 'AlertsReceived',
  AlertNotifications: 'AlertNotifications',
  AlertsSuppressed: 'AlertsSuppressed',
  /** Webhook deliveries refused: authentication (401), size (413) or body (400). */
  AlertWebhooksRefused: 'AlertWebhooksRefused',
  /** Conditional writes of the alert state lost to a concurrent delivery and retried. */
  AlertStateConflicts: 'AlertStateConflicts',

  // Incident workflow (emitted by the incident handlers).
  ActionsExecuted: 'ActionsExecuted',
  ActionsFailed: 'ActionsFailed',
  /** Every attempt to ask the model, answered or not: the denominator of the fallback rate. */
  LlmCalls: 'LlmCalls',
  LlmTokens: 'LlmTokens',
  /** Diagnoses that fell back to the rules because the model was slow, wrong-shaped or down. */
  LlmFallbacks: 'LlmFallbacks',
  RecoveriesConfirmed: 'RecoveriesConfirmed',
  RecoveriesFailed: 'RecoveriesFailed',
} as const;
export type MetricName = (typeof METRIC)[keyof typeof METRIC];

// Named exports of the incident workflow's metrics, for the handlers that emit them.
export const ActionsExecuted = METRIC.ActionsExecuted;
export const ActionsFailed = METRIC.ActionsFailed;
export const LlmCalls = METRIC.LlmCalls;
export const LlmTokens = METRIC.LlmTokens;
export const LlmFallbacks = METRIC.LlmFallbacks;
export const RecoveriesConfirmed = METRIC.RecoveriesConfirmed;
export const RecoveriesFailed = METRIC.RecoveriesFailed;

let instance: Metrics | undefined;

/**
 * The container's Metrics instance, its one dimension set to `environment`. Created on first use, so that
 * importing this module for the names (the CDK app does) builds nothing.
 */
export function agentMetrics(environment: string): Metrics {
  if (!instance) {
    instance = new Metrics({ namespace: METRICS_NAMESPACE, serviceName: 'sre-agent' });
    // Powertools adds a `service` dimension of its own; the alarms match the dimension set exactly, and one
    // dimension keeps each metric a single CloudWatch metric per environment.
    instance.clearDefaultDimensions();
  }
  instance.setDefaultDimensions({ [ENVIRONMENT_DIMENSION]: environment });
  return instance;
}

/** Middy middleware that writes the metrics stored during an invocation when it ends, failed or not. */
export const publishMetrics = (metrics: Metrics): ReturnType<typeof logMetrics> => logMetrics(metrics);

/** Adds `value` to a count metric (0 is written too: a flat line on the dashboard beats a gap). */
export function count(metrics: Metrics, name: MetricName, value = 1): void {
  metrics.addMetric(name, MetricUnit.Count, value);
}

/** Records a duration in milliseconds. */
export function milliseconds(metrics: Metrics, name: MetricName, value: number): void {
  metrics.addMetric(name, MetricUnit.Milliseconds, value);
}
