// The agent watching itself: CloudWatch alarms on its own health metrics (lambdas/handlers/metrics.ts), workflows
// and dead-letter queues, an SNS topic they notify (with an email subscription when `alarmEmail` is set), and one
// dashboard with the figures an on-call engineer looks at first.

import { Duration, Stack } from 'aws-cdk-lib';
import {
  Alarm,
  AlarmStatusWidget,
  ComparisonOperator,
  Dashboard,
  GraphWidget,
  type IMetric,
  MathExpression,
  Metric,
  Stats,
  TextWidget,
  TreatMissingData,
} from 'aws-cdk-lib/aws-cloudwatch';
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import { Topic } from 'aws-cdk-lib/aws-sns';
import { EmailSubscription } from 'aws-cdk-lib/aws-sns-subscriptions';
import type { IQueue } from 'aws-cdk-lib/aws-sqs';
import type { IStateMachine } from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import type { LoadedConfig } from '../lambdas/adapters/config-files';
import { DELIVERY_METRIC, type DeliveryMetricName } from '../lambdas/handlers/delivery-metrics';
import { ENVIRONMENT_DIMENSION, METRIC, METRICS_NAMESPACE, type MetricName } from '../lambdas/handlers/metrics';
import type { AlertIngest } from './alert-ingest';
import type { BaselineJob } from './baseline-job';
import type { DetectionLoop } from './detection-loop';
import type { IncidentWorkflow } from './incident-workflow';

/** Share of the scorer's Lambda timeout at which a tick counts as dangerously slow. */
export const SLOW_SCORING_SHARE = 0.75;

export interface AgentHealthProps {
  /** Validated configuration: the environment (the metrics' dimension) and `alarmEmail`. */
  readonly agent: Pick<LoadedConfig, 'config'>;
  readonly detectionLoop: DetectionLoop;
  readonly incidentWorkflow: IncidentWorkflow;
  readonly baselineJob: BaselineJob;
  /**
   * The alert webhook, when deployed: its errors mean alerts are being lost.
   * @default - no alarm on alert ingestion
   */
  readonly alertIngest?: AlertIngest;
}

/** What each alarm watches; the keys are stable names for tests and outputs. */
export interface HealthAlarms {
  readonly missedTick: Alarm;
  readonly slowScoring: Alarm;
  readonly tickWorkflowFailed: Alarm;
  readonly incidentWorkflowFailed: Alarm;
  readonly baselineJobFailed: Alarm;
  readonly failedTicksQueued: Alarm;
  readonly undeliveredTicksQueued: Alarm;
  readonly undeliveredBaselineRunsQueued: Alarm;
  readonly approvalTimeouts: Alarm;
  readonly auditAppendFailures: Alarm;
  readonly llmFallbackRate: Alarm;
  readonly notificationDeliveryFailures: Alarm;
  readonly alertWebhookErrors?: Alarm;
}

export class AgentHealth extends Construct {
  readonly topic: Topic;
  readonly alarms: HealthAlarms;
  readonly dashboard: Dashboard;
  /** ScoringDurationMs above this (ms) for 3 of 5 ticks raises the slow-scoring alarm. */
  readonly slowScoringThresholdMs: number;

  constructor(scope: Construct, id: string, props: AgentHealthProps) {
    super(scope, id);
    const { config } = props.agent;
    const { detectionLoop, incidentWorkflow, baselineJob, alertIngest } = props;
    const prefix = Stack.of(this).stackName;
    const environment = config.environment;

    this.topic = new Topic(this, 'AlarmTopic', {
      displayName: `SRE agent ${environment} alarms`,
      enforceSSL: true,
    });
    if (config.alarmEmail) this.topic.addSubscription(new EmailSubscription(config.alarmEmail));
    const action = new SnsAction(this.topic);

    const agentMetric = (
      name: MetricName | DeliveryMetricName,
      statistic: string,
      period = Duration.minutes(1),
      label?: string,
    ) =>
      new Metric({
        namespace: METRICS_NAMESPACE,
        metricName: name,
        dimensionsMap: { [ENVIRONMENT_DIMENSION]: environment },
        statistic,
        period,
        ...(label ? { label } : {}),
      });

    const alarm = (
      alarmId: string,
      slug: string,
      description: string,
      metric: IMetric,
      options: {
        readonly threshold: number;
        readonly comparison: ComparisonOperator;
        readonly evaluationPeriods?: number;
        readonly datapointsToAlarm?: number;
        readonly missing?: TreatMissingData;
      },
    ): Alarm => {
      const created = new Alarm(this, alarmId, {
        alarmName: `${prefix}-${slug}`,
        alarmDescription: description,
        metric,
        threshold: options.threshold,
        comparisonOperator: options.comparison,
        evaluationPeriods: options.evaluationPeriods ?? 1,
        datapointsToAlarm: options.datapointsToAlarm ?? options.evaluationPeriods ?? 1,
        treatMissingData: options.missing ?? TreatMissingData.NOT_BREACHING,
      });
      created.addAlarmAction(action);
      return created;
    };

    // The scorer's own timeout bounds what ScoringDurationMs can ever report (a tick that times out emits
    // nothing), so a fixed 45 s threshold on a 45 s function could never fire. Three quarters of the timeout
    // warns while there is still headroom, well inside the 60 s tick.
    const scorerTimeout = detectionLoop.scoreTick.timeout ?? Duration.seconds(45);
    this.slowScoringThresholdMs = Math.round(scorerTimeout.toMilliseconds() * SLOW_SCORING_SHARE);

    const workflowFailed = (alarmId: string, slug: string, machine: IStateMachine, what: string) =>
      alarm(
        alarmId,
        slug,
        `${what} failed in the last 5 minutes. Open the state machine's executions in the Step Functions console: ` +
          'the failed state and its cause are in the execution history.',
        machine.metricFailed({ period: Duration.minutes(5), statistic: Stats.SUM }),
        { threshold: 0, comparison: ComparisonOperator.GREATER_THAN_THRESHOLD },
      );
    const queued = (alarmId: string, slug: string, queue: IQueue, what: string) =>
      alarm(
        alarmId,
        slug,
        `${what} are waiting in a dead-letter queue. Read the messages for the error, fix the cause, then redrive ` +
          'or purge the queue: the alarm stays on while anything is in it.',
        queue.metricApproximateNumberOfMessagesVisible({ period: Duration.minutes(5), statistic: Stats.MAXIMUM }),
        { threshold: 0, comparison: ComparisonOperator.GREATER_THAN_THRESHOLD },
      );

    const llmRate = new MathExpression({
      // Calls count every attempt, so the rate is the share of diagnoses the rules had to make alone.
      expression: 'FILL(fallbacks, 0) / calls',
      usingMetrics: {
        fallbacks: agentMetric(METRIC.LlmFallbacks, Stats.SUM, Duration.minutes(15)),
        calls: agentMetric(METRIC.LlmCalls, Stats.SUM, Duration.minutes(15)),
      },
      period: Duration.minutes(15),
      label: 'LLM fallback rate',
    });

    this.alarms = {
      missedTick: alarm(
        'MissedTickAlarm',
        'missed-tick',
        'No detection tick completed in 3 minutes: the agent is blind. Check the TickSchedule rule is enabled, ' +
          'the tick workflow executions, and the undelivered-ticks dead-letter queue.',
        agentMetric(METRIC.TicksCompleted, Stats.SUM),
        {
          threshold: 1,
          comparison: ComparisonOperator.LESS_THAN_THRESHOLD,
          evaluationPeriods: 3,
          // No metric at all is the loudest symptom of a stopped loop.
          missing: TreatMissingData.BREACHING,
        },
      ),
      slowScoring: alarm(
        'SlowScoringAlarm',
        'slow-scoring',
        `Scoring took over ${this.slowScoringThresholdMs} ms (${SLOW_SCORING_SHARE * 100}% of the scorer's ` +
          `${scorerTimeout.toSeconds()} s timeout) in 3 of the last 5 ticks; a tick must finish inside 60 s. ` +
          'Usually more series than the catalog was sized for, or a slow baseline or DynamoDB read: raise the ' +
          "scorer's memory (CPU) or shard the catalog.",
        agentMetric(METRIC.ScoringDurationMs, Stats.MAXIMUM),
        {
          threshold: this.slowScoringThresholdMs,
          comparison: ComparisonOperator.GREATER_THAN_THRESHOLD,
          evaluationPeriods: 5,
          datapointsToAlarm: 3,
        },
      ),
      tickWorkflowFailed: workflowFailed(
        'TickWorkflowFailedAlarm',
        'tick-workflow-failed',
        detectionLoop.stateMachine,
        'A detection tick workflow execution',
      ),
      incidentWorkflowFailed: workflowFailed(
        'IncidentWorkflowFailedAlarm',
        'incident-workflow-failed',
        incidentWorkflow.stateMachine,
        'An incident workflow execution (its incident was reported as failed and needs a person)',
      ),
      baselineJobFailed: workflowFailed(
        'BaselineJobFailedAlarm',
        'baseline-job-failed',
        baselineJob.stateMachine,
        'The daily baseline job (the scorer keeps the previous baselines)',
      ),
      failedTicksQueued: queued(
        'FailedTicksQueuedAlarm',
        'failed-ticks-queued',
        detectionLoop.failedTicks,
        'Ticks the workflow could not complete',
      ),
      undeliveredTicksQueued: queued(
        'UndeliveredTicksQueuedAlarm',
        'undelivered-ticks-queued',
        detectionLoop.undeliveredTicks,
        'Schedule events EventBridge could not deliver to the tick workflow',
      ),
      undeliveredBaselineRunsQueued: queued(
        'UndeliveredBaselineRunsQueuedAlarm',
        'undelivered-baseline-runs-queued',
        baselineJob.undeliveredRuns,
        'Daily baseline job starts EventBridge could not deliver',
      ),
      approvalTimeouts: alarm(
        'ApprovalTimeoutsAlarm',
        'approval-timeouts',
        'An approval request went unanswered until its timeout; the incident workflow escalated it instead of ' +
          'remediating. Counted by the close-approval function when the workflow marks the decision timed out. ' +
          'Check the approvers are reachable in the approval channel and the Slack app still posts there.',
        agentMetric(METRIC.ApprovalTimeouts, Stats.SUM, Duration.minutes(15)),
        { threshold: 0, comparison: ComparisonOperator.GREATER_THAN_THRESHOLD },
      ),
      auditAppendFailures: alarm(
        'AuditAppendFailuresAlarm',
        'audit-append-failures',
        'A vote, a refused Slack request or an approval closing could not be confirmed in the audit trail within ' +
          'its deadline in the last 5 minutes. The vote itself stands and moved the workflow; the approval ' +
          "functions' logs hold each record in full: check the audit table (throttling, AccessDenied) and add the " +
          'record to the incident review by hand.',
        agentMetric(METRIC.AuditAppendFailures, Stats.SUM, Duration.minutes(5)),
        { threshold: 0, comparison: ComparisonOperator.GREATER_THAN_THRESHOLD },
      ),
      llmFallbackRate: alarm(
        'LlmFallbackRateAlarm',
        'llm-fallback-rate',
        'More than half of the model calls in 15 minutes fell back to rules-only diagnosis (model slow, ' +
          'wrong-shaped or down). Diagnoses still happen, less well: check the LLM provider status, the API key ' +
          'secret and the diagnosis function logs.',
        llmRate,
        { threshold: 0.5, comparison: ComparisonOperator.GREATER_THAN_THRESHOLD },
      ),
      notificationDeliveryFailures: alarm(
        'NotificationDeliveryFailuresAlarm',
        'notification-delivery-failures',
        'A notification could not be delivered to Slack, PagerDuty, Jira or the webhook in the last 5 minutes ' +
          '(after retries), so someone may not have been told or paged. The alert-webhook and incident-notify logs ' +
          'hold each failed notification in full: act on it by hand, then check the channel (token, routing key, ' +
          'credentials, rate limits).',
        agentMetric(DELIVERY_METRIC.NotificationDeliveryFailures, Stats.SUM, Duration.minutes(5)),
        { threshold: 0, comparison: ComparisonOperator.GREATER_THAN_THRESHOLD },
      ),
      ...(alertIngest
        ? {
            alertWebhookErrors: alarm(
              'AlertWebhookErrorsAlarm',
              'alert-webhook-errors',
              'The alert webhook function failed (answered 500) in the last 5 minutes. Alertmanager retries, but ' +
                'alerts are delayed and may be lost: check the function logs (DynamoDB, Secrets Manager).',
              alertIngest.webhook.metricErrors({ period: Duration.minutes(5), statistic: Stats.SUM }),
              { threshold: 0, comparison: ComparisonOperator.GREATER_THAN_THRESHOLD },
            ),
          }
        : {}),
    };

    this.dashboard = new Dashboard(this, 'Dashboard', {
      dashboardName: `${prefix}-health`,
      defaultInterval: Duration.hours(6),
    });
    const graph = (title: string, left: IMetric[], right: IMetric[] = [], width = 8) =>
      new GraphWidget({ title, left, right, width, height: 6 });
    const sum = (name: MetricName | DeliveryMetricName, label?: string) =>
      agentMetric(name, Stats.SUM, Duration.minutes(1), label);
    const sum5 = (name: MetricName | DeliveryMetricName) => agentMetric(name, Stats.SUM, Duration.minutes(5));
    const machines: [string, IStateMachine][] = [
      ['tick', detectionLoop.stateMachine],
      ['incident', incidentWorkflow.stateMachine],
      ['baseline', baselineJob.stateMachine],
    ];
    const queues: [string, IQueue][] = [
      ['failed ticks', detectionLoop.failedTicks],
      ['undelivered ticks', detectionLoop.undeliveredTicks],
      ['undelivered baseline runs', baselineJob.undeliveredRuns],
    ];

    this.dashboard.addWidgets(
      new TextWidget({
        markdown:
          `# SRE agent (${environment})\nDetection ticks every 60 s, incident workflows, approvals and the model. ` +
          `Metrics: namespace \`${METRICS_NAMESPACE}\`, dimension \`${ENVIRONMENT_DIMENSION}=${environment}\`.`,
        width: 8,
        height: 6,
      }),
      new AlarmStatusWidget({
        title: 'Alarms',
        alarms: Object.values(this.alarms).filter((a): a is Alarm => a !== undefined),
        width: 16,
        height: 6,
      }),
    );
    this.dashboard.addWidgets(
      graph(
        'Ticks',
        [sum(METRIC.TicksCompleted), sum(METRIC.DuplicateTicks)],
        [agentMetric(METRIC.SeriesScored, Stats.MAXIMUM, Duration.minutes(1), 'SeriesScored')],
      ),
      new GraphWidget({
        title: 'Scoring duration (ms)',
        left: [
          agentMetric(METRIC.ScoringDurationMs, Stats.p(50), Duration.minutes(5), 'p50'),
          agentMetric(METRIC.ScoringDurationMs, Stats.p(99), Duration.minutes(5), 'p99'),
          agentMetric(METRIC.ScoringDurationMs, Stats.MAXIMUM, Duration.minutes(5), 'max'),
        ],
        leftAnnotations: [{ value: this.slowScoringThresholdMs, label: 'slow-scoring alarm' }],
        width: 8,
        height: 6,
      }),
      graph('Collection', [sum(METRIC.CollectionErrors)], [sum(METRIC.PointsCollected)]),
    );
    this.dashboard.addWidgets(
      graph('Incidents', [sum5(METRIC.IncidentsOpened), sum5(METRIC.IncidentsResolved)]),
      graph('Actions and recoveries', [
        sum5(METRIC.ActionsExecuted),
        sum5(METRIC.ActionsFailed),
        sum5(METRIC.RecoveriesConfirmed),
        sum5(METRIC.RecoveriesFailed),
      ]),
      graph('Approvals', [
        sum5(METRIC.ApprovalsRequested),
        sum5(METRIC.ApprovalsGranted),
        sum5(METRIC.ApprovalsRejected),
        sum5(METRIC.ApprovalTimeouts),
        sum5(METRIC.VotesRefused),
        sum5(METRIC.ApprovalDeliveryFailures),
        sum5(METRIC.AuditAppendFailures),
      ]),
    );
    this.dashboard.addWidgets(
      graph('LLM', [sum5(METRIC.LlmCalls), sum5(METRIC.LlmFallbacks), llmRate], [sum5(METRIC.LlmTokens)]),
      graph(
        'Dead-letter queues (messages visible)',
        queues.map(([label, queue]) =>
          queue.metricApproximateNumberOfMessagesVisible({ label, period: Duration.minutes(5), statistic: 'Maximum' }),
        ),
      ),
      graph(
        'Workflow executions',
        machines.flatMap(([label, machine]) => [
          machine.metricStarted({ label: `${label} started`, period: Duration.minutes(5) }),
          machine.metricFailed({ label: `${label} failed`, period: Duration.minutes(5) }),
        ]),
      ),
    );
    this.dashboard.addWidgets(
      graph(
        'External alerts',
        [sum5(METRIC.AlertsReceived), sum5(METRIC.AlertNotifications), sum5(METRIC.AlertsSuppressed)],
        [sum5(METRIC.AlertWebhooksRefused), sum5(METRIC.AlertStateConflicts)],
        12,
      ),
      graph(
        'Notification delivery',
        [sum5(DELIVERY_METRIC.NotificationsDelivered)],
        [
          sum5(DELIVERY_METRIC.NotificationDeliveryFailures),
          sum5(DELIVERY_METRIC.NotificationsUndelivered),
          sum5(DELIVERY_METRIC.AlertManagerUpdateFailures),
        ],
        12,
      ),
    );
  }
}
