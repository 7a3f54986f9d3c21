// The incident workflow: a Standard state machine per incident (state-machines/incident.asl.json) and the
// Lambdas its states invoke, each allowed exactly what its step does.

import { join } from 'node:path';
import { Duration, type RemovalPolicy, Stack } from 'aws-cdk-lib';
import type { ITable } from 'aws-cdk-lib/aws-dynamodb';
import { PolicyStatement } from 'aws-cdk-lib/aws-iam';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import { LogGroup } from 'aws-cdk-lib/aws-logs';
import type { IBucket } from 'aws-cdk-lib/aws-s3';
import { LogLevel, StateMachine, StateMachineType } from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import type { LoadedConfig } from '../lambdas/adapters/config-files';
import { ConfigError } from '../lambdas/core/config/load';
import { AgentFunction, type LogLevel as FunctionLogLevel, PROJECT_ROOT, retentionOf } from './agent-function';
import type { AgentTables } from './agent-tables';
import { aslDefinition } from './asl-definition';
import type { AuditTrail } from './audit-trail';
import { DeployEvents } from './deploy-events';
import { decideTimeout, describeClusterStatement, diagnosisStatements } from './diagnosis-access';
import { grantNotificationSecrets } from './notification-access';
import { WorkBucket } from './work-bucket';

export const INCIDENT_DEFINITION_FILE = join(PROJECT_ROOT, 'state-machines', 'incident.asl.json');

export interface IncidentWorkflowProps {
  readonly agent: LoadedConfig;
  readonly tables: AgentTables;
  readonly audit: AuditTrail;
  /** The work bucket: the embedded knowledge base lives under WorkBucket.KNOWLEDGE_PREFIX. */
  readonly bucket: IBucket;
  /**
   * The deploy-events table Diagnose queries; required when `kafka.deployEvents` is configured.
   * @default - none
   */
  readonly deployEvents?: ITable;
  /** The function behind RequestApproval and RequestQuorumApproval (`lambda:invoke.waitForTaskToken`). */
  readonly requestApproval: IFunction;
  /** The function that marks a decision timed out, closed or failed and updates its Slack message. */
  readonly closeApproval: IFunction;
  /**
   * The alert manager's state table (AlertIngest): the notices tell the alert manager of each incident and reply in
   * the Slack threads kept there.
   */
  readonly alertState: ITable;
  /**
   * Powertools log level of the functions.
   * @default 'INFO'
   */
  readonly logLevel?: FunctionLogLevel;
  /**
   * What happens to the execution log group when it leaves the stack.
   * @default RemovalPolicy.RETAIN
   */
  readonly logRemovalPolicy?: RemovalPolicy;
}

export class IncidentWorkflow extends Construct {
  /**
   * Diagnose, PlanRemediation, AssessRisk, CheckGuardrails and Close. Diagnose reads the configured evidence
   * (deploys, Loki, the cluster read-only), past cases and the model; Close writes the case to the knowledge base.
   */
  readonly decide: AgentFunction;
  /** Remediate, VerifyRecovery and UndoRemediation: the only function that may change a cluster. */
  readonly remediate: AgentFunction;
  /** Outcome, diagnosis-only report, page, rejection, escalation and failure notices. */
  readonly notify: AgentFunction;
  /** Secrets the notify function reads to deliver notices (bot token, integrations), by name. */
  readonly notificationSecrets: readonly string[];
  readonly stateMachine: StateMachine;

  constructor(scope: Construct, id: string, props: IncidentWorkflowProps) {
    super(scope, id);
    const { agent, tables, audit } = props;
    const common = { agent, logLevel: props.logLevel, logRemovalPolicy: props.logRemovalPolicy };

    const config = agent.config;
    this.decide = new AgentFunction(this, 'Decide', {
      ...common,
      handler: 'incident-decide',
      description: 'Incident workflow: diagnose, plan, assess risk, check guardrails, close',
      // The bundle carries every diagnosis client (Bedrock, EKS, Qdrant, the Claude API): more memory, more CPU
      // for the cold start, and the embedded knowledge base is searched in process.
      memorySize: 1024,
      timeout: decideTimeout(config),
    });
    this.decide.bindTable('INCIDENTS_TABLE', tables.incidents, { actions: ['GetItem', 'PutItem'] });
    audit.grantAppend(this.decide);
    if (config.kafka?.deployEvents) {
      if (!props.deployEvents) {
        throw new ConfigError(props.agent.files.config, [
          'kafka.deployEvents: configured, but the incident workflow was given no deploy-events table to read',
        ]);
      }
      // deploysFor: one Query per service on its partition, nothing else.
      this.decide.bindTable(DeployEvents.TABLE_VARIABLE, props.deployEvents, { actions: ['Query'] });
    }
    // The knowledge base is built with the work bucket named even when it lives in Qdrant (diagnosis-runtime.ts),
    // so the variable is always set; the objects are granted only to the embedded store, which reads them on
    // Diagnose and rewrites them on Close.
    const knowledge = config.diagnosis.knowledge.store === 'embedded' ? [WorkBucket.KNOWLEDGE_PREFIX] : [];
    this.decide.bindBucket('WORK_BUCKET', props.bucket, { read: knowledge, write: knowledge });
    for (const statement of diagnosisStatements(this, config)) this.decide.addToRolePolicy(statement);

    this.remediate = new AgentFunction(this, 'Remediate', {
      ...common,
      handler: 'incident-remediate',
      description: 'Incident workflow: snapshot, rate-limit and run the allowed actions; verify recovery; undo',
      timeout: Duration.minutes(5),
    });
    this.remediate.bindTable('ACTION_LEDGER_TABLE', tables.actionLedger, { actions: ['GetItem', 'PutItem'] });
    // Reads incidents (recovery is the detector's verdict on them), but writes only beside them: the snapshots
    // taken before each change and the case. It can never rewrite an incident the 60-second loop owns.
    this.remediate.bindTable('INCIDENTS_TABLE', tables.incidents, { actions: ['GetItem'] });
    this.remediate.addToRolePolicy(
      new PolicyStatement({
        actions: ['dynamodb:PutItem'],
        resources: [tables.incidents.tableArn],
        conditions: { 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': ['*#snapshot#*', '*#decision'] } },
      }),
    );
    const cluster = config.cluster;
    if (cluster) this.remediate.addToRolePolicy(describeClusterStatement(this, cluster, config.region));
    audit.grantAppend(this.remediate);

    this.notify = new AgentFunction(this, 'Notify', {
      ...common,
      handler: 'incident-notify',
      description: 'Incident workflow: outcome, report, page, rejection, escalation and failure notices',
      // The alert manager's notifications (a 10 s delivery deadline), then the notice (integrations.deadlineMs, at
      // most 25 s): with the state update and a cold start, well inside a minute.
      timeout: Duration.seconds(60),
    });
    audit.grantAppend(this.notify);
    // The alert manager's state item and the Slack thread items beside it: read and written whole.
    this.notify.bindTable('ALERT_STATE_TABLE', props.alertState, { actions: ['GetItem', 'PutItem'] });
    this.notificationSecrets = grantNotificationSecrets(this, this.notify, config, { webhook: true });

    const executionLogs = new LogGroup(this, 'IncidentExecutionLogs', {
      logGroupName: `/aws/vendedlogs/states/${Stack.of(this).stackName}-incident`,
      retention: retentionOf(agent.config),
      removalPolicy: props.logRemovalPolicy,
    });
    this.stateMachine = new StateMachine(this, 'IncidentStateMachine', {
      comment: 'One execution per incident: diagnose, decide by risk tier, approve, remediate, report',
      // Standard: an approval may wait an hour, and the execution history is the incident's story.
      stateMachineType: StateMachineType.STANDARD,
      ...aslDefinition(INCIDENT_DEFINITION_FILE, {
        DecideFunctionArn: this.decide.functionArn,
        RemediateFunctionArn: this.remediate.functionArn,
        NotifyFunctionArn: this.notify.functionArn,
        RequestApprovalFunctionArn: props.requestApproval.functionArn,
        CloseApprovalFunctionArn: props.closeApproval.functionArn,
      }),
      logs: { destination: executionLogs, level: LogLevel.ERROR, includeExecutionData: false },
      tracingEnabled: true,
    });
    // CDK derives no permissions from an ASL file: the role gets exactly what the definition invokes.
    for (const fn of [this.decide, this.remediate, this.notify, props.requestApproval])
      fn.grantInvoke(this.stateMachine);
    // CloseApprovalMessage, MarkApprovalTimedOut and CloseApprovalOnFailure invoke the close-approval function:
    // without this grant every approved plan and every approval timeout would end in NotifyFailure, and a failed
    // workflow would leave its approval message open.
    props.closeApproval.grantInvoke(this.stateMachine);
  }
}
