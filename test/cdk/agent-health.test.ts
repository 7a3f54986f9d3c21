// The agent's health alarms and dashboard as `cdk synth` builds them: each alarm's metric, statistic, window,
// threshold and missing-data rule, the SNS topic they notify (with the email subscription only when configured),
// and the dashboard's widgets. Synths prod as configured and dev with an alarm email added.

import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Match } from 'aws-cdk-lib/assertions';
import type { Alarm } from 'aws-cdk-lib/aws-cloudwatch';
import { DELIVERY_METRIC } from '../../lambdas/handlers/delivery-metrics';
import { METRIC, METRICS_NAMESPACE } from '../../lambdas/handlers/metrics';
import { type HealthAlarms, SLOW_SCORING_SHARE } from '../../lib/agent-health';
import { copyConfigDir, type Resource, resourcesOfType, type Synthesized, synthesize } from './synth';

type Json = Record<string, unknown>;

const ALARM_EMAIL = 'sre-oncall@example.com';
let prod: Synthesized;
let devWithEmail: Synthesized;
let configDir: string;

beforeAll(() => {
  prod = synthesize({ env: 'prod' });
  configDir = copyConfigDir();
  const devFile = join(configDir, 'dev.yaml');
  writeFileSync(devFile, `${readFileSync(devFile, 'utf8')}\nalarmEmail: ${ALARM_EMAIL}\n`);
  devWithEmail = synthesize({ env: 'dev', configDir });
});

afterAll(() => {
  for (const synth of [prod, devWithEmail]) synth?.dispose();
  if (configDir) rmSync(configDir, { recursive: true, force: true });
});

const alarmOf = (synth: Synthesized, key: keyof HealthAlarms): Json => {
  const alarm = synth.stack.health.alarms[key] as Alarm;
  return synth.resources[synth.logicalId(alarm)].Properties;
};
const agentDimension = [{ Name: 'environment', Value: 'prod' }];

describe('alarms', () => {
  it('every alarm has a name, a description that says what to do, and notifies the topic', () => {
    const { resources, stack, logicalId } = prod;
    const alarms = resourcesOfType(resources, 'AWS::CloudWatch::Alarm');
    expect(alarms.length).toBe(Object.keys(stack.health.alarms).length);
    expect(alarms.length).toBe(13);
    const names = new Set<unknown>();
    for (const [, alarm] of alarms) {
      const properties = alarm.Properties;
      expect(properties.AlarmName).toMatch(/^SreAgent-prod-[a-z-]+$/);
      names.add(properties.AlarmName);
      expect(String(properties.AlarmDescription).length).toBeGreaterThan(60);
      expect(properties.AlarmActions).toEqual([{ Ref: logicalId(stack.health.topic) }]);
    }
    expect(names.size).toBe(alarms.length);
  });

  it('missed tick: no TicksCompleted in 3 consecutive minutes, and no data at all counts as missed', () => {
    expect(alarmOf(prod, 'missedTick')).toMatchObject({
      AlarmName: 'SreAgent-prod-missed-tick',
      Namespace: METRICS_NAMESPACE,
      MetricName: METRIC.TicksCompleted,
      Dimensions: agentDimension,
      Statistic: 'Sum',
      Period: 60,
      EvaluationPeriods: 3,
      DatapointsToAlarm: 3,
      Threshold: 1,
      ComparisonOperator: 'LessThanThreshold',
      TreatMissingData: 'breaching',
    });
  });

  it("slow scoring: the slowest tick above three quarters of the scorer's 45 s timeout in 3 of 5 minutes", () => {
    const timeoutSeconds = prod.resources[prod.logicalId(prod.stack.detectionLoop.scoreTick)].Properties.Timeout;
    expect(timeoutSeconds).toBe(45);
    expect(prod.stack.health.slowScoringThresholdMs).toBe(45_000 * SLOW_SCORING_SHARE);
    expect(alarmOf(prod, 'slowScoring')).toMatchObject({
      Namespace: METRICS_NAMESPACE,
      MetricName: METRIC.ScoringDurationMs,
      Dimensions: agentDimension,
      Statistic: 'Maximum',
      Period: 60,
      EvaluationPeriods: 5,
      DatapointsToAlarm: 3,
      Threshold: 33_750,
      ComparisonOperator: 'GreaterThanThreshold',
      TreatMissingData: 'notBreaching',
    });
  });

  it.each([
    ['tickWorkflowFailed', (s: Synthesized) => s.stack.detectionLoop.stateMachine],
    ['incidentWorkflowFailed', (s: Synthesized) => s.stack.incidentWorkflow.stateMachine],
    ['baselineJobFailed', (s: Synthesized) => s.stack.baselineJob.stateMachine],
  ] as const)('%s: any failed execution of that state machine in 5 minutes', (key, machineOf) => {
    expect(alarmOf(prod, key)).toMatchObject({
      Namespace: 'AWS/States',
      MetricName: 'ExecutionsFailed',
      Dimensions: [{ Name: 'StateMachineArn', Value: { Ref: prod.logicalId(machineOf(prod)) } }],
      Statistic: 'Sum',
      Period: 300,
      Threshold: 0,
      ComparisonOperator: 'GreaterThanThreshold',
      TreatMissingData: 'notBreaching',
    });
  });

  it.each([
    ['failedTicksQueued', (s: Synthesized) => s.stack.detectionLoop.failedTicks],
    ['undeliveredTicksQueued', (s: Synthesized) => s.stack.detectionLoop.undeliveredTicks],
    ['undeliveredBaselineRunsQueued', (s: Synthesized) => s.stack.baselineJob.undeliveredRuns],
  ] as const)('%s: any message visible in that dead-letter queue', (key, queueOf) => {
    expect(alarmOf(prod, key)).toMatchObject({
      Namespace: 'AWS/SQS',
      MetricName: 'ApproximateNumberOfMessagesVisible',
      Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [prod.logicalId(queueOf(prod)), 'QueueName'] } }],
      Statistic: 'Maximum',
      Period: 300,
      Threshold: 0,
      ComparisonOperator: 'GreaterThanThreshold',
    });
  });

  it('approval timeouts: any ApprovalTimeouts (counted by close-approval) in 15 minutes', () => {
    expect(alarmOf(prod, 'approvalTimeouts')).toMatchObject({
      Namespace: METRICS_NAMESPACE,
      MetricName: METRIC.ApprovalTimeouts,
      Dimensions: agentDimension,
      Statistic: 'Sum',
      Period: 900,
      Threshold: 0,
      ComparisonOperator: 'GreaterThanThreshold',
      TreatMissingData: 'notBreaching',
    });
  });

  it('audit append failures: any vote, refusal or closing left unconfirmed in the audit trail in 5 minutes', () => {
    expect(alarmOf(prod, 'auditAppendFailures')).toMatchObject({
      AlarmName: 'SreAgent-prod-audit-append-failures',
      MetricName: METRIC.AuditAppendFailures,
      Dimensions: agentDimension,
      Statistic: 'Sum',
      Period: 300,
      Threshold: 0,
      ComparisonOperator: 'GreaterThanThreshold',
      TreatMissingData: 'notBreaching',
    });
  });

  it('LLM fallback rate: fallbacks / calls over 15 minutes above one half; no calls is not a breach', () => {
    const alarm = alarmOf(prod, 'llmFallbackRate');
    expect(alarm).toMatchObject({
      Threshold: 0.5,
      ComparisonOperator: 'GreaterThanThreshold',
      TreatMissingData: 'notBreaching',
      EvaluationPeriods: 1,
    });
    expect(alarm.MetricName).toBeUndefined();
    const queries = alarm.Metrics as Json[];
    const stat = (id: string) => queries.find((query) => query.Id === id)?.MetricStat;
    expect(queries.find((query) => query.Expression)).toMatchObject({
      Expression: 'FILL(fallbacks, 0) / calls',
      ReturnData: true,
    });
    for (const [id, name] of [
      ['fallbacks', METRIC.LlmFallbacks],
      ['calls', METRIC.LlmCalls],
    ]) {
      expect(stat(id)).toEqual({
        Metric: { Namespace: METRICS_NAMESPACE, MetricName: name, Dimensions: agentDimension },
        Period: 900,
        Stat: 'Sum',
      });
      expect(queries.find((query) => query.Id === id)?.ReturnData).toBe(false);
    }
  });

  it('alert webhook errors: any failed invocation of the webhook function in 5 minutes', () => {
    expect(alarmOf(prod, 'alertWebhookErrors')).toMatchObject({
      Namespace: 'AWS/Lambda',
      MetricName: 'Errors',
      Dimensions: [{ Name: 'FunctionName', Value: { Ref: prod.logicalId(prod.stack.alertIngest.webhook) } }],
      Statistic: 'Sum',
      Period: 300,
      Threshold: 0,
      ComparisonOperator: 'GreaterThanThreshold',
    });
  });

  it('notification delivery failures: any channel delivery that failed after retries in 5 minutes', () => {
    expect(alarmOf(prod, 'notificationDeliveryFailures')).toMatchObject({
      AlarmName: 'SreAgent-prod-notification-delivery-failures',
      Namespace: METRICS_NAMESPACE,
      MetricName: DELIVERY_METRIC.NotificationDeliveryFailures,
      Dimensions: agentDimension,
      Statistic: 'Sum',
      Period: 300,
      EvaluationPeriods: 1,
      Threshold: 0,
      ComparisonOperator: 'GreaterThanThreshold',
      TreatMissingData: 'notBreaching',
    });
  });
});

describe('alarm topic', () => {
  it('is TLS-only, and has no subscription when the config names no alarm email', () => {
    prod.template.resourceCountIs('AWS::SNS::Topic', 1);
    prod.template.resourceCountIs('AWS::SNS::Subscription', 0);
    prod.template.hasResourceProperties('AWS::SNS::TopicPolicy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
        ]),
      },
    });
    prod.template.hasOutput('AlarmTopicArn', {});
  });

  it('subscribes the configured alarm email', () => {
    devWithEmail.template.hasResourceProperties('AWS::SNS::Subscription', {
      Protocol: 'email',
      Endpoint: ALARM_EMAIL,
      TopicArn: { Ref: devWithEmail.logicalId(devWithEmail.stack.health.topic) },
    });
    // And the dev alarms watch dev's metrics.
    expect(alarmOf(devWithEmail, 'missedTick').Dimensions).toEqual([{ Name: 'environment', Value: 'dev' }]);
  });
});

describe('dashboard', () => {
  interface Widget {
    readonly type: string;
    readonly properties: {
      readonly title?: string;
      readonly metrics?: unknown[][];
      readonly alarms?: unknown[];
      readonly annotations?: { horizontal?: { value: number }[] };
    };
  }

  /** The dashboard body with CloudFormation tokens (ARNs, names) replaced by a placeholder, parsed. */
  function widgets(synth: Synthesized): Widget[] {
    const [, dashboard] = resourcesOfType(synth.resources, 'AWS::CloudWatch::Dashboard')[0] as [string, Resource];
    const body = dashboard.Properties.DashboardBody as { 'Fn::Join': [string, unknown[]] } | string;
    const text =
      typeof body === 'string'
        ? body
        : body['Fn::Join'][1].map((part) => (typeof part === 'string' ? part : 'TOKEN')).join('');
    return (JSON.parse(text) as { widgets: Widget[] }).widgets;
  }

  const metricNames = (widget: Widget | undefined): string[] =>
    (widget?.properties.metrics ?? []).flatMap((row) => row.filter((cell): cell is string => typeof cell === 'string'));

  it('is one dashboard, named after the stack', () => {
    prod.template.resourceCountIs('AWS::CloudWatch::Dashboard', 1);
    prod.template.hasResourceProperties('AWS::CloudWatch::Dashboard', { DashboardName: 'SreAgent-prod-health' });
  });

  it('has the key widgets, each graphing the metrics it is named after', () => {
    const all = widgets(prod);
    const titled = (title: string) => all.find((widget) => widget.properties.title === title);
    const expected: [string, string[]][] = [
      ['Ticks', [METRIC.TicksCompleted, METRIC.SeriesScored]],
      ['Scoring duration (ms)', [METRIC.ScoringDurationMs]],
      ['Incidents', [METRIC.IncidentsOpened, METRIC.IncidentsResolved]],
      ['Actions and recoveries', [METRIC.ActionsExecuted, METRIC.ActionsFailed, METRIC.RecoveriesConfirmed]],
      ['Approvals', [METRIC.ApprovalsRequested, METRIC.ApprovalsGranted, METRIC.ApprovalTimeouts]],
      ['LLM', [METRIC.LlmCalls, METRIC.LlmFallbacks, METRIC.LlmTokens]],
      ['Dead-letter queues (messages visible)', ['ApproximateNumberOfMessagesVisible']],
      ['Workflow executions', ['ExecutionsStarted', 'ExecutionsFailed']],
      ['External alerts', [METRIC.AlertsReceived, METRIC.AlertNotifications, METRIC.AlertsSuppressed]],
      [
        'Notification delivery',
        [
          DELIVERY_METRIC.NotificationsDelivered,
          DELIVERY_METRIC.NotificationDeliveryFailures,
          DELIVERY_METRIC.NotificationsUndelivered,
          DELIVERY_METRIC.AlertManagerUpdateFailures,
        ],
      ],
    ];
    for (const [title, names] of expected) {
      expect({ title, present: titled(title) !== undefined }).toEqual({ title, present: true });
      for (const name of names) expect(metricNames(titled(title))).toContain(name);
    }
    expect(metricNames(titled('Dead-letter queues (messages visible)')).filter((c) => c === 'AWS/SQS')).toHaveLength(3);
    expect(metricNames(titled('Workflow executions')).filter((c) => c === 'ExecutionsFailed')).toHaveLength(3);
    // The slow-scoring threshold is drawn on the duration graph.
    expect(titled('Scoring duration (ms)')?.properties.annotations?.horizontal?.[0]?.value).toBe(33_750);
  });

  it('shows the state of every alarm', () => {
    const status = widgets(prod).find((widget) => widget.type === 'alarm');
    expect(status?.properties.alarms).toHaveLength(13);
    prod.template.hasOutput('HealthDashboardName', {});
  });
});
