// The AlertIngest construct in small stacks of its own: the two webhook routes to one function, the state table's
// protection and TTL, the generated secrets, exactly what the function may do (the engines' secrets, and the Slack
// bot token only when approvals are configured), the throttled, logged stage, and the one-minute check schedule.

import { App, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { loadEnvironmentConfig } from '../../lambdas/adapters/config-files';
import { ALERT_STATE_TABLE } from '../../lambdas/adapters/dynamodb/alert-state-store';
import { ALERT_STATE_TTL_ATTRIBUTE } from '../../lambdas/adapters/dynamodb/alert-thread-store';
import { WEBHOOK_ROUTES } from '../../lambdas/adapters/http/webhook-auth';
import { ALERTMANAGER_PATH, AlertIngest, NIGHTINGALE_PATH } from '../../lib/alert-ingest';
import { CDK_JSON_CONTEXT } from './synth';

type Json = Record<string, unknown>;
type Statement = { Effect: string; Action: string | string[]; Resource: unknown };

const agent = loadEnvironmentConfig('prod');
const env = { account: '123456789012', region: 'ap-northeast-1' };
let prod: { stack: Stack; construct: AlertIngest; template: Template };
let dev: Template;
let withoutApprovals: { stack: Stack; construct: AlertIngest; template: Template };

beforeAll(() => {
  const app = new App({ context: CDK_JSON_CONTEXT });
  const prodStack = new Stack(app, 'AlertsProtected', { env });
  const construct = new AlertIngest(prodStack, 'AlertIngest', { agent });
  const devStack = new Stack(app, 'AlertsDev', { env });
  new AlertIngest(devStack, 'AlertIngest', { agent, protectData: false, throttleRateLimit: 5 });
  const bare = new Stack(app, 'AlertsWithoutApprovals', { env });
  const bareConstruct = new AlertIngest(bare, 'AlertIngest', {
    agent: { ...agent, config: { ...agent.config, approvals: undefined } },
  });
  // Every stack exists before the first synth (Template.fromStack synthesizes the whole app).
  prod = { stack: prodStack, construct, template: Template.fromStack(prodStack) };
  dev = Template.fromStack(devStack);
  withoutApprovals = { stack: bare, construct: bareConstruct, template: Template.fromStack(bare) };
});

const asArray = <T>(value: T | T[]): T[] => (Array.isArray(value) ? value : [value]);
const idOf = (construct: { node: { defaultChild?: unknown } }) =>
  prod.stack.getLogicalId(construct.node.defaultChild as never);

/** [action, resource] pairs the webhook function's role is allowed, sorted. */
function grants(of: { stack: Stack; construct: AlertIngest; template: Template } = prod): [string, unknown][] {
  const roleId = of.stack.getLogicalId(of.construct.webhook.role?.node.defaultChild as never);
  const found: [string, unknown][] = [];
  for (const policy of Object.values(of.template.findResources('AWS::IAM::Policy')) as { Properties: Json }[]) {
    const roles = policy.Properties.Roles as Json[];
    if (!roles.some((role) => JSON.stringify(role) === JSON.stringify({ Ref: roleId }))) continue;
    for (const statement of (policy.Properties.PolicyDocument as { Statement: Statement[] }).Statement) {
      if (statement.Effect !== 'Allow') continue;
      for (const action of asArray(statement.Action)) {
        for (const resource of asArray(statement.Resource)) found.push([action, resource]);
      }
    }
  }
  return found.sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b)));
}

describe('the public endpoint', () => {
  it('routes POST /alerts/alertmanager and POST /alerts/n9e, and nothing else, to the webhook function', () => {
    prod.template.resourceCountIs('AWS::ApiGatewayV2::Api', 1);
    prod.template.resourceCountIs('AWS::ApiGatewayV2::Route', 2);
    const routeKeys = Object.values(prod.template.findResources('AWS::ApiGatewayV2::Route')).map(
      (route) => (route as { Properties: Json }).Properties.RouteKey,
    );
    expect(routeKeys.sort()).toEqual(['POST /alerts/alertmanager', 'POST /alerts/n9e']);
    // The handler reads the engine off the same paths.
    expect([ALERTMANAGER_PATH, NIGHTINGALE_PATH]).toEqual(Object.keys(WEBHOOK_ROUTES).map((name) => `/alerts/${name}`));
    prod.template.hasResourceProperties('AWS::ApiGatewayV2::Integration', {
      IntegrationType: 'AWS_PROXY',
      PayloadFormatVersion: '2.0',
      IntegrationUri: { 'Fn::GetAtt': [idOf(prod.construct.webhook), 'Arn'] },
    });
  });

  it('throttles, and writes access logs without bodies or headers (they carry the token and signature)', () => {
    prod.template.hasResourceProperties('AWS::ApiGatewayV2::Stage', {
      StageName: '$default',
      AutoDeploy: true,
      DefaultRouteSettings: { ThrottlingRateLimit: 20, ThrottlingBurstLimit: 50 },
      AccessLogSettings: { DestinationArn: Match.anyValue(), Format: Match.stringLikeRegexp('\\$context.requestId') },
    });
    const [stage] = Object.values(prod.template.findResources('AWS::ApiGatewayV2::Stage')) as { Properties: Json }[];
    expect((stage.Properties.AccessLogSettings as { Format: string }).Format).not.toMatch(
      /body|header|authorization|signature/i,
    );
    dev.hasResourceProperties('AWS::ApiGatewayV2::Stage', {
      DefaultRouteSettings: { ThrottlingRateLimit: 5, ThrottlingBurstLimit: 50 },
    });
  });

  it('outputs both webhook URLs and the secrets to configure the engines with', () => {
    const outputs = prod.template.findOutputs('*');
    const outputValue = (fragment: string) =>
      JSON.stringify(Object.entries(outputs).find(([id]) => id.includes(fragment))?.[1]?.Value);
    expect(outputValue('AlertmanagerWebhookUrl')).toContain('/alerts/alertmanager');
    expect(outputValue('NightingaleWebhookUrl')).toContain('/alerts/n9e');
    expect(outputValue('AlertmanagerTokenSecretArn')).toContain(idOf(prod.construct.alertmanagerToken));
    expect(outputValue('NightingaleSigningSecretArn')).toContain(idOf(prod.construct.nightingaleSigningKey));
  });
});

describe('the webhook function', () => {
  it('is an agent function with the table and both secrets in its environment', () => {
    prod.template.resourceCountIs('AWS::Lambda::Function', 1);
    const [fn] = Object.values(prod.template.findResources('AWS::Lambda::Function')) as { Properties: Json }[];
    expect(fn.Properties).toMatchObject({
      Runtime: 'nodejs22.x',
      Architectures: ['arm64'],
      MemorySize: 1024,
      Timeout: 25,
      TracingConfig: { Mode: 'Active' },
    });
    expect((fn.Properties.Environment as { Variables: Json }).Variables).toMatchObject({
      ALERT_STATE_TABLE: { Ref: idOf(prod.construct.table) },
      [WEBHOOK_ROUTES.alertmanager.secretVariable]: { Ref: idOf(prod.construct.alertmanagerToken) },
      [WEBHOOK_ROUTES.n9e.secretVariable]: { Ref: idOf(prod.construct.nightingaleSigningKey) },
    });
  });

  it('may get and put items of the alert-state table, read its two secrets and the Slack bot token, nothing more', () => {
    const tableArn = { 'Fn::GetAtt': [idOf(prod.construct.table), 'Arn'] };
    const nonLogs = grants().filter(([action]) => !action.startsWith('logs:') && !action.startsWith('xray:'));
    expect(nonLogs).toEqual(
      [
        ['dynamodb:GetItem', tableArn],
        ['dynamodb:PutItem', tableArn],
        ['secretsmanager:GetSecretValue', { Ref: idOf(prod.construct.alertmanagerToken) }],
        ['secretsmanager:GetSecretValue', { Ref: idOf(prod.construct.nightingaleSigningKey) }],
        // Slack delivery goes through the approvals app's bot, by the secret's name.
        [
          'secretsmanager:GetSecretValue',
          `arn:aws:secretsmanager:${env.region}:${env.account}:secret:sre-agent/prod/slack-bot-token-??????`,
        ],
      ].sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b))),
    );
    expect(prod.construct.notificationSecrets).toEqual(['sre-agent/prod/slack-bot-token']);
    const logGroupArn = {
      'Fn::GetAtt': [prod.stack.getLogicalId(prod.construct.webhook.logGroup.node.defaultChild as never), 'Arn'],
    };
    expect(grants().filter(([action]) => action.startsWith('logs:'))).toEqual([
      ['logs:CreateLogStream', logGroupArn],
      ['logs:PutLogEvents', logGroupArn],
    ]);
  });

  it('without approvals there is no Slack bot to deliver through, and no token to read', () => {
    const secrets = grants(withoutApprovals).filter(([action]) => action === 'secretsmanager:GetSecretValue');
    expect(secrets).toHaveLength(2);
    expect(JSON.stringify(secrets)).not.toContain('slack-bot-token');
    expect(withoutApprovals.construct.notificationSecrets).toEqual([]);
  });

  it('is not retried when a scheduled check fails: the next minute does its work', () => {
    prod.template.hasResourceProperties('AWS::Lambda::EventInvokeConfig', {
      FunctionName: { Ref: idOf(prod.construct.webhook) },
      MaximumRetryAttempts: 0,
    });
  });
});

describe('the minute check', () => {
  it('an EventBridge rule invokes the webhook function every minute with the scheduled event itself', () => {
    prod.template.resourceCountIs('AWS::Events::Rule', 1);
    const [rule] = Object.values(prod.template.findResources('AWS::Events::Rule')) as { Properties: Json }[];
    expect(rule.Properties).toMatchObject({ ScheduleExpression: 'rate(1 minute)', State: 'ENABLED' });
    const targets = rule.Properties.Targets as Json[];
    expect(targets).toHaveLength(1);
    expect(targets[0]).toMatchObject({
      Arn: { 'Fn::GetAtt': [idOf(prod.construct.webhook), 'Arn'] },
      RetryPolicy: { MaximumEventAgeInSeconds: 120, MaximumRetryAttempts: 2 },
    });
    // No Input or InputTransformer: the function recognises the scheduled event by its fields.
    expect(targets[0].Input).toBeUndefined();
    expect(targets[0].InputTransformer).toBeUndefined();
  });

  it('EventBridge may invoke the function, from this rule only', () => {
    prod.template.hasResourceProperties('AWS::Lambda::Permission', {
      Action: 'lambda:InvokeFunction',
      FunctionName: { 'Fn::GetAtt': [idOf(prod.construct.webhook), 'Arn'] },
      Principal: 'events.amazonaws.com',
      SourceArn: { 'Fn::GetAtt': [idOf(prod.construct.minuteCheck), 'Arn'] },
    });
  });
});

describe('state and secrets', () => {
  it('the alert-state table: one string key, on-demand, point-in-time recovery, protected outside dev', () => {
    prod.template.resourceCountIs('AWS::DynamoDB::Table', 1);
    prod.template.hasResource('AWS::DynamoDB::Table', {
      DeletionPolicy: 'Retain',
      Properties: {
        KeySchema: [{ AttributeName: ALERT_STATE_TABLE.partitionKey, KeyType: 'HASH' }],
        AttributeDefinitions: [{ AttributeName: 'pk', AttributeType: 'S' }],
        BillingMode: 'PAY_PER_REQUEST',
        PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
        DeletionProtectionEnabled: true,
        // The Slack thread items expire; the state item has no such attribute.
        TimeToLiveSpecification: { AttributeName: ALERT_STATE_TTL_ATTRIBUTE, Enabled: true },
      },
    });
    dev.hasResource('AWS::DynamoDB::Table', {
      DeletionPolicy: 'Delete',
      Properties: {
        DeletionProtectionEnabled: false,
        PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
      },
    });
  });

  it('two generated secrets, retained outside dev so configured engines keep working', () => {
    prod.template.resourceCountIs('AWS::SecretsManager::Secret', 2);
    for (const secret of Object.values(prod.template.findResources('AWS::SecretsManager::Secret')) as {
      Properties: Json;
      DeletionPolicy: string;
    }[]) {
      expect(secret.DeletionPolicy).toBe('Retain');
      expect(secret.Properties.GenerateSecretString).toEqual({ ExcludePunctuation: true, PasswordLength: 48 });
      expect(secret.Properties.SecretString).toBeUndefined();
    }
    for (const secret of Object.values(dev.findResources('AWS::SecretsManager::Secret')) as {
      DeletionPolicy: string;
    }[]) {
      expect(secret.DeletionPolicy).toBe('Delete');
    }
  });
});
