// Slack approvals: the table of decisions and votes, the function the workflow's RequestApproval task invokes,
// the public endpoint Slack posts button clicks to, and the function that closes a decision for the workflow.
// All three append to the audit trail: requests, votes, refusals and closings.

import { ArnFormat, CfnOutput, Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import { AccessLogFormat } from 'aws-cdk-lib/aws-apigateway';
import { HttpApi, HttpMethod, HttpStage, LogGroupLogDestination } from 'aws-cdk-lib/aws-apigatewayv2';
import { HttpLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import { AttributeType, BillingMode, Table } from 'aws-cdk-lib/aws-dynamodb';
import { PolicyStatement } from 'aws-cdk-lib/aws-iam';
import { LogGroup } from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import type { LoadedConfig } from '../lambdas/adapters/config-files';
import { TABLES } from '../lambdas/adapters/dynamodb/table-definitions';
import { ConfigError } from '../lambdas/core/config/load';
import type { ApprovalTier } from '../lambdas/core/decision/approval';
import { AgentFunction, type LogLevel, retentionOf } from './agent-function';
import type { AuditTrail } from './audit-trail';

export const INTERACTIONS_PATH = '/slack/interactions';

export interface SlackApprovalsProps {
  /** Validated configuration of the environment; it must have an `approvals` section. */
  readonly agent: LoadedConfig;
  /** The audit trail every function of the construct appends to. */
  readonly audit: AuditTrail;
  /**
   * Deletion protection on the table, and the table and logs retained when removed from the stack.
   * @default true
   */
  readonly protectData?: boolean;
  /**
   * Steady-state requests per second the interactions endpoint accepts before answering 429.
   * @default 10
   */
  readonly throttleRateLimit?: number;
  /**
   * Burst of requests the interactions endpoint accepts.
   * @default 20
   */
  readonly throttleBurstLimit?: number;
  /**
   * Powertools log level of the functions.
   * @default 'INFO'
   */
  readonly logLevel?: LogLevel;
}

/**
 * Decisions wait in the workflow on task tokens; people answer them in Slack through an HTTP API whose only
 * route is POST /slack/interactions. Each function may touch only the table, secrets and APIs it needs.
 */
export class SlackApprovals extends Construct {
  readonly table: Table;
  /** Invoked by the workflow's RequestApproval task (lambda:invoke.waitForTaskToken). */
  readonly requestApproval: AgentFunction;
  /** Behind POST /slack/interactions: verifies, refuses replays, records votes, answers the task token. */
  readonly interactions: AgentFunction;
  /** Invoked by the workflow on its approval timeout, at its end and when it fails. */
  readonly closeApproval: AgentFunction;
  readonly api: HttpApi;
  /** The Request URL to enter under Interactivity in the Slack app's settings. */
  readonly interactionsUrl: string;
  /** How long each tier waits, from the configuration: the RequestApproval states' TimeoutSeconds. */
  readonly timeouts: Readonly<Record<ApprovalTier, Duration>>;

  constructor(scope: Construct, id: string, props: SlackApprovalsProps) {
    super(scope, id);
    const { agent } = props;
    const approvals = agent.config.approvals;
    if (!approvals) {
      throw new ConfigError(agent.files.config, ['approvals: required to deploy Slack approvals']);
    }
    const protectData = props.protectData ?? true;
    const removalPolicy = protectData ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY;
    const common = { agent, logLevel: props.logLevel, logRemovalPolicy: removalPolicy };
    this.timeouts = {
      MEDIUM: Duration.minutes(approvals.timeoutMinutes.MEDIUM),
      HIGH: Duration.minutes(approvals.timeoutMinutes.HIGH),
    };

    const definition = TABLES.approvals;
    this.table = new Table(this, 'Approvals', {
      partitionKey: { name: definition.partitionKey, type: AttributeType.STRING },
      sortKey: { name: definition.sortKey, type: AttributeType.STRING },
      billingMode: BillingMode.PAY_PER_REQUEST,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      deletionProtection: protectData,
      removalPolicy,
      timeToLiveAttribute: definition.timeToLive,
    });

    this.requestApproval = new AgentFunction(this, 'RequestApproval', {
      ...common,
      handler: 'request-approval',
      description: 'Approvals: stores a decision with its task token and posts it to Slack',
      timeout: Duration.seconds(30),
    });
    this.requestApproval.bindTable('APPROVALS_TABLE', this.table, { actions: ['GetItem', 'UpdateItem', 'Query'] });

    this.interactions = new AgentFunction(this, 'SlackInteractions', {
      ...common,
      handler: 'slack-interactions',
      description: 'Approvals: verifies Slack button clicks, records votes, answers the workflow on quorum or reject',
      // Slack waits 3 s for the answer: memory buys a faster cold start. The timeout is longer than Slack's
      // patience on purpose: a vote, once written, is always carried through to the workflow.
      memorySize: 1024,
      timeout: Duration.seconds(10),
    });
    this.interactions.bindTable('APPROVALS_TABLE', this.table, {
      actions: ['GetItem', 'PutItem', 'UpdateItem', 'Query'],
    });
    // SendTaskSuccess and SendTaskFailure take no resource-level permissions (the Service Authorization
    // Reference lists no resource type for them): the task token names the task, so `*` is the resource IAM
    // documents. Only this function gets them, and only these two actions (no heartbeat).
    this.interactions.addToRolePolicy(
      new PolicyStatement({ actions: ['states:SendTaskSuccess', 'states:SendTaskFailure'], resources: ['*'] }),
    );

    this.closeApproval = new AgentFunction(this, 'CloseApproval', {
      ...common,
      handler: 'close-approval',
      description: 'Approvals: closes a decision on the workflow timeout or end and updates its Slack message',
      timeout: Duration.seconds(30),
    });
    this.closeApproval.bindTable('APPROVALS_TABLE', this.table, { actions: ['GetItem', 'UpdateItem', 'Query'] });

    const readSecrets = (fn: AgentFunction, names: readonly string[]) =>
      fn.addToRolePolicy(
        new PolicyStatement({
          actions: ['secretsmanager:GetSecretValue'],
          resources: names.map((name) => secretArn(this, name)),
        }),
      );
    readSecrets(this.requestApproval, [approvals.botTokenSecretName]);
    readSecrets(this.interactions, [approvals.signingSecretName, approvals.botTokenSecretName]);
    readSecrets(this.closeApproval, [approvals.botTokenSecretName]);
    for (const fn of [this.requestApproval, this.interactions, this.closeApproval]) props.audit.grantAppend(fn);

    // An HTTP API: the cheapest and quickest front for one Lambda route. Anyone on the internet can reach it;
    // the Slack signature is the authentication, and the stage throttle caps what a flood of forgeries costs.
    this.api = new HttpApi(this, 'Api', {
      description: 'Slack interactivity endpoint of the SRE agent',
      createDefaultStage: false,
    });
    this.api.addRoutes({
      path: INTERACTIONS_PATH,
      methods: [HttpMethod.POST],
      integration: new HttpLambdaIntegration('SlackInteractionsIntegration', this.interactions),
    });
    const accessLogs = new LogGroup(this, 'ApiAccessLogs', { retention: retentionOf(agent.config), removalPolicy });
    const stage = new HttpStage(this, 'DefaultStage', {
      httpApi: this.api,
      stageName: '$default',
      autoDeploy: true,
      throttle: { rateLimit: props.throttleRateLimit ?? 10, burstLimit: props.throttleBurstLimit ?? 20 },
      accessLogSettings: {
        destination: new LogGroupLogDestination(accessLogs),
        // No body and no headers: requests carry Slack's signature, and payloads a verification token.
        format: AccessLogFormat.custom(
          JSON.stringify({
            requestId: '$context.requestId',
            time: '$context.requestTime',
            ip: '$context.identity.sourceIp',
            userAgent: '$context.identity.userAgent',
            method: '$context.httpMethod',
            path: '$context.path',
            status: '$context.status',
            latencyMs: '$context.responseLatency',
            integrationStatus: '$context.integrationStatus',
            integrationError: '$context.integrationErrorMessage',
          }),
        ),
      },
    });
    this.interactionsUrl = `${stage.url.replace(/\/$/, '')}${INTERACTIONS_PATH}`;

    new CfnOutput(this, 'InteractionsUrl', {
      value: this.interactionsUrl,
      description: 'Slack app > Interactivity & Shortcuts > Request URL',
    });
    new CfnOutput(this, 'ApprovalsTableName', {
      value: this.table.tableName,
      description: 'Approval decisions, votes and refused requests',
    });
  }
}

/**
 * The ARN pattern of the secret with exactly this name: Secrets Manager appends a hyphen and six random
 * characters to the name in the ARN. A name given as a full ARN is used as is.
 */
export function secretArn(scope: Construct, name: string): string {
  if (name.startsWith('arn:')) return name;
  return Stack.of(scope).formatArn({
    service: 'secretsmanager',
    resource: 'secret',
    resourceName: `${name}-??????`,
    arnFormat: ArnFormat.COLON_RESOURCE_NAME,
  });
}
