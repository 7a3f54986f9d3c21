// Alert ingestion: the public endpoint Prometheus Alertmanager and Nightingale post their webhooks to, the function
// behind it, the secret each engine authenticates with, the table the alert manager keeps its state (and the Slack
// threads of its groups) in, and the one-minute schedule that runs its time-driven checks (flapping, heartbeats).

import { CfnOutput, Duration, RemovalPolicy } from 'aws-cdk-lib';
import { AccessLogFormat } from 'aws-cdk-lib/aws-apigateway';
import { HttpApi, HttpMethod, HttpStage, LogGroupLogDestination } from 'aws-cdk-lib/aws-apigatewayv2';
import { HttpLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import type { ITable } from 'aws-cdk-lib/aws-dynamodb';
import { AttributeType, BillingMode, Table } from 'aws-cdk-lib/aws-dynamodb';
import { Rule, Schedule } from 'aws-cdk-lib/aws-events';
import { LambdaFunction } from 'aws-cdk-lib/aws-events-targets';
import { PolicyStatement } from 'aws-cdk-lib/aws-iam';
import { LogGroup } from 'aws-cdk-lib/aws-logs';
import { Secret } from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import type { LoadedConfig } from '../lambdas/adapters/config-files';
import { ALERT_STATE_TABLE } from '../lambdas/adapters/dynamodb/alert-state-store';
import { ALERT_STATE_TTL_ATTRIBUTE } from '../lambdas/adapters/dynamodb/alert-thread-store';
import { WEBHOOK_ROUTES, type WebhookRouteName } from '../lambdas/adapters/http/webhook-auth';
import { AgentFunction, type LogLevel, retentionOf } from './agent-function';
import { grantNotificationSecrets } from './notification-access';

/** The handler tells the engines apart by these paths (WEBHOOK_ROUTES). */
const routePath = (name: WebhookRouteName): string => `/alerts/${name}`;
export const ALERTMANAGER_PATH = routePath('alertmanager');
export const NIGHTINGALE_PATH = routePath('n9e');

export interface AlertIngestProps {
  /** Validated configuration of the environment. */
  readonly agent: LoadedConfig;
  /**
   * Deletion protection on the table; the table, the secrets and the logs retained when removed from the stack.
   * @default true
   */
  readonly protectData?: boolean;
  /**
   * The detection loop's incidents table: the minute check reads the incidents the alert manager still counts as
   * firing, so a group opened by an incident resolves when the incident does, remediated or not.
   */
  readonly incidents?: ITable;
  /**
   * Steady-state requests per second the endpoint accepts before answering 429 (Alertmanager retries those).
   * @default 20
   */
  readonly throttleRateLimit?: number;
  /**
   * Burst of requests the endpoint accepts: a market move makes every rule fire at once.
   * @default 50
   */
  readonly throttleBurstLimit?: number;
  /**
   * Powertools log level of the function.
   * @default 'INFO'
   */
  readonly logLevel?: LogLevel;
}

/**
 * An HTTP API with two routes, one per engine, in front of one function. The engines authenticate with secrets
 * generated here (never typed into a config file): Alertmanager sends one as a bearer token, Nightingale signs
 * each body with the other. The alert manager's state is one item of its own table, written conditionally; the
 * same function delivers the notifications it decides, and an EventBridge rule invokes it every minute for the
 * checks that depend on time alone.
 */
export class AlertIngest extends Construct {
  readonly table: Table;
  readonly webhook: AgentFunction;
  /** Invokes the webhook function every minute with a scheduled event: settled flapping alerts, lost heartbeats. */
  readonly minuteCheck: Rule;
  /** Secrets the function reads to deliver notifications (bot token, integrations), by name. */
  readonly notificationSecrets: readonly string[];
  /** The bearer token Alertmanager sends (`http_config.authorization.credentials_file`). */
  readonly alertmanagerToken: Secret;
  /** The HMAC-SHA256 key Nightingale's deliveries are signed with. */
  readonly nightingaleSigningKey: Secret;
  readonly api: HttpApi;
  readonly alertmanagerUrl: string;
  readonly nightingaleUrl: string;

  constructor(scope: Construct, id: string, props: AlertIngestProps) {
    super(scope, id);
    const { agent } = props;
    const protectData = props.protectData ?? true;
    const removalPolicy = protectData ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY;

    this.table = new Table(this, 'AlertState', {
      partitionKey: { name: ALERT_STATE_TABLE.partitionKey, type: AttributeType.STRING },
      billingMode: BillingMode.PAY_PER_REQUEST,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      deletionProtection: protectData,
      removalPolicy,
      // Slack thread items age out; the state item carries no expiry and stays.
      timeToLiveAttribute: ALERT_STATE_TTL_ATTRIBUTE,
    });

    // Generated rather than named in the config: nobody has to invent one, and it exists before the first request.
    // Retained outside dev, since replacing one breaks every engine configured with it.
    const secret = (secretId: string, description: string) =>
      new Secret(this, secretId, {
        description,
        generateSecretString: { passwordLength: 48, excludePunctuation: true },
        removalPolicy,
      });
    this.alertmanagerToken = secret(
      'AlertmanagerToken',
      `Bearer token Alertmanager sends to ${ALERTMANAGER_PATH} (${agent.config.environment})`,
    );
    this.nightingaleSigningKey = secret(
      'NightingaleSigningKey',
      `HMAC-SHA256 key Nightingale deliveries to ${NIGHTINGALE_PATH} are signed with (${agent.config.environment})`,
    );

    this.webhook = new AgentFunction(this, 'AlertWebhook', {
      agent,
      logLevel: props.logLevel,
      logRemovalPolicy: removalPolicy,
      handler: 'alert-webhook',
      description: 'Alerts: authenticates webhooks, feeds the alert manager, delivers its notifications; minute checks',
      // Parsing and deciding a large delivery is CPU work; memory buys the CPU and a quicker cold start.
      memorySize: 1024,
      // Alertmanager waits for the answer, and API Gateway for at most 30 s: the state's conditional-write retries
      // and the delivery (its own 10 s deadline) fit, with room for a cold start.
      timeout: Duration.seconds(25),
      // Only the schedule invokes it asynchronously, and the next minute's check does whatever a failed one missed.
      retryAttempts: 0,
    });
    // The state item, and the Slack thread items beside it: read and written whole, never updated or deleted.
    this.webhook.bindTable('ALERT_STATE_TABLE', this.table, { actions: ['GetItem', 'PutItem'] });
    if (props.incidents) this.webhook.bindTable('INCIDENTS_TABLE', props.incidents, { actions: ['GetItem'] });
    this.webhook.addEnvironment(WEBHOOK_ROUTES.alertmanager.secretVariable, this.alertmanagerToken.secretArn);
    this.webhook.addEnvironment(WEBHOOK_ROUTES.n9e.secretVariable, this.nightingaleSigningKey.secretArn);
    this.webhook.addToRolePolicy(
      new PolicyStatement({
        actions: ['secretsmanager:GetSecretValue'],
        resources: [this.alertmanagerToken.secretArn, this.nightingaleSigningKey.secretArn],
      }),
    );

    this.notificationSecrets = grantNotificationSecrets(this, this.webhook, agent.config);

    this.minuteCheck = new Rule(this, 'AlertMinuteCheck', {
      description: 'Alert manager minute check: flapping alerts that settled, missing heartbeats',
      schedule: Schedule.rate(Duration.minutes(1)),
      targets: [
        // The scheduled event itself is the input: the function tells it from a webhook by its missing HTTP fields.
        // A check older than two minutes is superseded by the next one, so it is dropped rather than retried late.
        new LambdaFunction(this.webhook, { maxEventAge: Duration.minutes(2), retryAttempts: 2 }),
      ],
    });

    // Anyone on the internet can reach the API: the secrets are the authentication, the function refuses bodies
    // over 1 MB, and the stage throttle caps what a flood of forgeries costs.
    this.api = new HttpApi(this, 'Api', {
      description: 'Alert webhooks (Alertmanager, Nightingale) of the SRE agent',
      createDefaultStage: false,
    });
    const integration = new HttpLambdaIntegration('AlertWebhookIntegration', this.webhook);
    for (const path of [ALERTMANAGER_PATH, NIGHTINGALE_PATH]) {
      this.api.addRoutes({ path, methods: [HttpMethod.POST], integration });
    }
    const accessLogs = new LogGroup(this, 'ApiAccessLogs', { retention: retentionOf(agent.config), removalPolicy });
    const stage = new HttpStage(this, 'DefaultStage', {
      httpApi: this.api,
      stageName: '$default',
      autoDeploy: true,
      throttle: { rateLimit: props.throttleRateLimit ?? 20, burstLimit: props.throttleBurstLimit ?? 50 },
      accessLogSettings: {
        destination: new LogGroupLogDestination(accessLogs),
        // No body and no headers: requests carry the bearer token or the signature.
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
    const base = stage.url.replace(/\/$/, '');
    this.alertmanagerUrl = `${base}${ALERTMANAGER_PATH}`;
    this.nightingaleUrl = `${base}${NIGHTINGALE_PATH}`;

    const output = (outputId: string, value: string, description: string) =>
      new CfnOutput(this, outputId, { value, description });
    output('AlertmanagerWebhookUrl', this.alertmanagerUrl, 'Alertmanager receiver > webhook_configs > url');
    output('NightingaleWebhookUrl', this.nightingaleUrl, 'Nightingale callback URL (signed deliveries)');
    output(
      'AlertmanagerTokenSecretArn',
      this.alertmanagerToken.secretArn,
      'Secret whose value Alertmanager sends as its bearer token (http_config.authorization)',
    );
    output(
      'NightingaleSigningSecretArn',
      this.nightingaleSigningKey.secretArn,
      'Secret whose value signs Nightingale deliveries (X-SRE-Agent-Signature over "<timestamp>.<body>")',
    );
    output('AlertStateTableName', this.table.tableName, 'Alert manager state, one versioned item');
  }
}
