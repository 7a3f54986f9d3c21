// Alert ingestion: the public endpoint Prometheus Alertmanager and Nightingale post their webhooks to, the function
// behind it, the secret each engine authenticates with, and the table the alert manager keeps its state in.

import { CfnOutput, Duration, RemovalPolicy } from 'aws-cdk-lib';
import { AccessLogFormat } from 'aws-cdk-lib/aws-apigateway';
import { HttpApi, HttpMethod, HttpStage, LogGroupLogDestination } from 'aws-cdk-lib/aws-apigatewayv2';
import { HttpLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import { AttributeType, BillingMode, Table } from 'aws-cdk-lib/aws-dynamodb';
import { PolicyStatement } from 'aws-cdk-lib/aws-iam';
import { LogGroup } from 'aws-cdk-lib/aws-logs';
import { Secret } from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import type { LoadedConfig } from '../lambdas/adapters/config-files';
import { ALERT_STATE_TABLE } from '../lambdas/adapters/dynamodb/alert-state-store';
import { WEBHOOK_ROUTES, type WebhookRouteName } from '../lambdas/adapters/http/webhook-auth';
import { AgentFunction, type LogLevel, retentionOf } from './agent-function';

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
 * each body with the other. The alert manager's state is one item of its own table, written conditionally.
 */
export class AlertIngest extends Construct {
  readonly table: Table;
  readonly webhook: AgentFunction;
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
      description: 'Alerts: authenticates Alertmanager and Nightingale webhooks and feeds the alert manager',
      // Parsing and deciding a large delivery is CPU work; memory buys the CPU and a quicker cold start.
      memorySize: 1024,
      // Alertmanager waits for the answer; a few conditional-write retries fit easily.
      timeout: Duration.seconds(15),
    });
    this.webhook.bindTable('ALERT_STATE_TABLE', this.table, { actions: ['GetItem', 'PutItem'] });
    this.webhook.addEnvironment(WEBHOOK_ROUTES.alertmanager.secretVariable, this.alertmanagerToken.secretArn);
    this.webhook.addEnvironment(WEBHOOK_ROUTES.n9e.secretVariable, this.nightingaleSigningKey.secretArn);
    this.webhook.addToRolePolicy(
      new PolicyStatement({
        actions: ['secretsmanager:GetSecretValue'],
        resources: [this.alertmanagerToken.secretArn, this.nightingaleSigningKey.secretArn],
      }),
    );

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
