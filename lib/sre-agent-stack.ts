// One environment of the agent: storage, the detection loop, the baseline job, the incident workflow with its
// Slack approvals, the audit trail, alert ingestion from Alertmanager and Nightingale, deploy events from Kafka
// when configured, and the agent's own health alarms and dashboard.

import { CfnOutput, RemovalPolicy, Stack, type StackProps } from 'aws-cdk-lib';
import type { Construct } from 'constructs';
import type { LoadedConfig } from '../lambdas/adapters/config-files';
import { AgentHealth } from './agent-health';
import { AgentTables } from './agent-tables';
import { AlertIngest } from './alert-ingest';
import { AuditTrail } from './audit-trail';
import { BaselineJob } from './baseline-job';
import { DeployEvents } from './deploy-events';
import { DetectionLoop } from './detection-loop';
import { ExecutorAccess } from './executor-access';
import { IncidentWorkflow } from './incident-workflow';
import { executorNamespaces } from './rbac-manifests';
import { SlackApprovals } from './slack-approvals';
import { WorkBucket } from './work-bucket';

export interface SreAgentStackProps extends StackProps {
  /** Validated configuration of the environment (`config/<env>.yaml` and its signal catalog). */
  readonly agent: LoadedConfig;
}

export class SreAgentStack extends Stack {
  readonly tables: AgentTables;
  readonly workBucket: WorkBucket;
  readonly detectionLoop: DetectionLoop;
  readonly baselineJob: BaselineJob;
  readonly audit: AuditTrail;
  /** Present when `kafka.deployEvents` is configured. */
  readonly deployEvents?: DeployEvents;
  readonly approvals: SlackApprovals;
  readonly incidentWorkflow: IncidentWorkflow;
  readonly alertIngest: AlertIngest;
  readonly health: AgentHealth;

  constructor(scope: Construct, id: string, props: SreAgentStackProps) {
    super(scope, id, props);
    const { agent } = props;
    // Only dev may lose its data with the stack; everywhere else tables, bucket and logs outlive it.
    const protectData = agent.config.environment !== 'dev';
    const removalPolicy = protectData ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY;

    this.tables = new AgentTables(this, 'Tables', { protectData });
    this.workBucket = new WorkBucket(this, 'WorkBucket', { removalPolicy });
    this.audit = new AuditTrail(this, 'AuditTrail', {
      environment: agent.config.environment,
      stream: agent.config.kafka?.auditStream,
    });
    this.approvals = new SlackApprovals(this, 'SlackApprovals', { agent, protectData, audit: this.audit });
    if (agent.config.kafka?.deployEvents) {
      this.deployEvents = new DeployEvents(this, 'DeployEvents', {
        agent,
        protectData,
        logRemovalPolicy: removalPolicy,
      });
    }
    // Before the workflow: its notices feed the alert manager whose state table this creates.
    this.alertIngest = new AlertIngest(this, 'AlertIngest', { agent, protectData, incidents: this.tables.incidents });
    // The approval request opens the incident's Slack thread, remembered beside the alert manager's threads.
    this.approvals.requestApproval.bindTable('ALERT_STATE_TABLE', this.alertIngest.table, {
      actions: ['GetItem', 'PutItem'],
    });
    this.incidentWorkflow = new IncidentWorkflow(this, 'IncidentWorkflow', {
      agent,
      tables: this.tables,
      audit: this.audit,
      bucket: this.workBucket,
      deployEvents: this.deployEvents?.table,
      requestApproval: this.approvals.requestApproval,
      closeApproval: this.approvals.closeApproval,
      alertState: this.alertIngest.table,
      logRemovalPolicy: removalPolicy,
    });
    const cluster = agent.config.cluster;
    if (cluster) {
      // The remediation role's identity inside the cluster, and Diagnose's read-only one (the reader group of
      // k8s/rbac/reader.yaml): only the project's RBAC grants either anything.
      new ExecutorAccess(this, 'ExecutorAccess', {
        clusterName: cluster.name,
        executorRole: this.incidentWorkflow.remediate.role!,
        namespaces: executorNamespaces(agent.config),
        readOnlyRoles: [this.incidentWorkflow.decide.role!],
      });
    }
    this.detectionLoop = new DetectionLoop(this, 'DetectionLoop', {
      agent,
      tables: this.tables,
      bucket: this.workBucket,
      incidentWorkflow: this.incidentWorkflow.stateMachine,
      logRemovalPolicy: removalPolicy,
    });
    this.baselineJob = new BaselineJob(this, 'BaselineJob', {
      agent,
      baselines: this.tables.baselines,
      logRemovalPolicy: removalPolicy,
    });

    this.health = new AgentHealth(this, 'Health', {
      agent,
      detectionLoop: this.detectionLoop,
      incidentWorkflow: this.incidentWorkflow,
      baselineJob: this.baselineJob,
      alertIngest: this.alertIngest,
    });

    const output = (id: string, value: string, description: string) => new CfnOutput(this, id, { value, description });
    output('TickStateMachineArn', this.detectionLoop.stateMachine.stateMachineArn, 'Tick workflow (Express)');
    output(
      'IncidentStateMachineArn',
      this.incidentWorkflow.stateMachine.stateMachineArn,
      'Incident workflow (Standard)',
    );
    output(
      'BaselineJobStateMachineArn',
      this.baselineJob.stateMachine.stateMachineArn,
      'Daily baseline job (Standard)',
    );
    output('AuditTableName', this.audit.table.tableName, 'Append-only audit trail, one hash chain per incident');
    output('ActionLedgerTableName', this.tables.actionLedger.tableName, 'Operations per resource, for the rate limit');
    output('IncidentsTableName', this.tables.incidents.tableName, 'Incidents, open ones on index open-incidents');
    output('BaselinesTableName', this.tables.baselines.tableName, 'Published baselines and the current pointer');
    output('ScorerStateTableName', this.tables.scorerState.tableName, 'Scorer commit pointers');
    if (this.deployEvents) {
      output('DeployEventsTableName', this.deployEvents.table.tableName, 'Deploys from Kafka, per service and time');
    }
    output('WorkBucketName', this.workBucket.bucketName, 'Tick snapshots and scorer state');
    output('FailedTicksQueueUrl', this.detectionLoop.failedTicks.queueUrl, 'Ticks the workflow could not complete');
    output(
      'UndeliveredTicksQueueUrl',
      this.detectionLoop.undeliveredTicks.queueUrl,
      'Schedule events EventBridge could not deliver',
    );
    output('AlarmTopicArn', this.health.topic.topicArn, "SNS topic the agent's health alarms notify");
    output('HealthDashboardName', this.health.dashboard.dashboardName, 'CloudWatch dashboard of the agent itself');
  }
}
