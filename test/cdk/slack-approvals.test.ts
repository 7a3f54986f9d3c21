// The SlackApprovals construct in a small stack of its own (with the audit trail it appends to): table
// protection, the three functions and exactly what each may do, the one public route with its throttle and
// access logs. One synth for the whole file.

import { App, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { loadEnvironmentConfig } from '../../lambdas/adapters/config-files';
import { ConfigError } from '../../lambdas/core/config/load';
import { AuditTrail } from '../../lib/audit-trail';
import { SlackApprovals } from '../../lib/slack-approvals';
import { CDK_JSON_CONTEXT } from './synth';

type Json = Record<string, unknown>;
type Statement = { Effect: string; Action: string | string[]; Resource: unknown };

const agent = loadEnvironmentConfig('dev');
const env = { account: '123456789012', region: 'ap-northeast-1' };
let prod: { stack: Stack; construct: SlackApprovals; audit: AuditTrail; template: Template };
let dev: Template;

beforeAll(() => {
  const app = new App({ context: CDK_JSON_CONTEXT });
  const prodStack = new Stack(app, 'ApprovalsProtected', { env });
  const audit = new AuditTrail(prodStack, 'AuditTrail', { environment: 'prod' });
  const construct = new SlackApprovals(prodStack, 'SlackApprovals', { agent, audit });
  const devStack = new Stack(app, 'ApprovalsDev', { env });
  const devAudit = new AuditTrail(devStack, 'AuditTrail', { environment: 'dev' });
  new SlackApprovals(devStack, 'SlackApprovals', { agent, audit: devAudit, protectData: false, throttleRateLimit: 2 });
  prod = { stack: prodStack, construct, audit, template: Template.fromStack(prodStack) };
  dev = Template.fromStack(devStack);
});

const asArray = <T>(value: T | T[]): T[] => (Array.isArray(value) ? value : [value]);

/** Logical id of the role of one of the construct's functions. */
function roleOf(fn: 'requestApproval' | 'interactions' | 'closeApproval'): string {
  const role = prod.construct[fn].role!;
  return prod.stack.getLogicalId(role.node.defaultChild as never);
}

/** [action, resource] pairs allowed to a role by the policies attached to it. */
function grantsOf(roleId: string): [string, unknown][] {
  const grants: [string, unknown][] = [];
  for (const policy of Object.values(prod.template.findResources('AWS::IAM::Policy')) as { Properties: Json }[]) {
    const roles = policy.Properties.Roles as Json[];
    if (!roles.some((role) => JSON.stringify(role) === JSON.stringify({ Ref: roleId }))) continue;
    for (const statement of (policy.Properties.PolicyDocument as { Statement: Statement[] }).Statement) {
      if (statement.Effect !== 'Allow') continue;
      for (const action of asArray(statement.Action)) {
        for (const resource of asArray(statement.Resource)) grants.push([action, resource]);
      }
    }
  }
  // CDK merges and orders statements as it likes: compare grants as a sorted set.
  return grants.sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b)));
}

const tableArn = () => ({
  'Fn::GetAtt': [prod.stack.getLogicalId(prod.construct.table.node.defaultChild as never), 'Arn'],
});
const auditTableArn = () => ({
  'Fn::GetAtt': [prod.stack.getLogicalId(prod.audit.table.node.defaultChild as never), 'Arn'],
});
const FUNCTIONS = ['requestApproval', 'interactions', 'closeApproval'] as const;
const secretArn = (name: string) =>
  `arn:aws:secretsmanager:ap-northeast-1:123456789012:secret:sre-agent/dev/${name}-??????`;
const logsActions = (grants: [string, unknown][]) => grants.filter(([action]) => action.startsWith('logs:'));
const nonLogs = (grants: [string, unknown][]) =>
  grants.filter(([action]) => !action.startsWith('logs:') && !action.startsWith('xray:'));

describe('the approvals table', () => {
  it('has the shared key schema, point-in-time recovery, TTL on refusals, and protection outside dev', () => {
    prod.template.hasResource('AWS::DynamoDB::Table', {
      DeletionPolicy: 'Retain',
      Properties: {
        KeySchema: [
          { AttributeName: 'pk', KeyType: 'HASH' },
          { AttributeName: 'sk', KeyType: 'RANGE' },
        ],
        BillingMode: 'PAY_PER_REQUEST',
        PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
        DeletionProtectionEnabled: true,
        TimeToLiveSpecification: { AttributeName: 'purgeAt', Enabled: true },
      },
    });
    dev.hasResource('AWS::DynamoDB::Table', {
      DeletionPolicy: 'Delete',
      Properties: {
        PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
        DeletionProtectionEnabled: false,
      },
    });
  });
});

describe('the functions', () => {
  it('are three agent functions on Node.js 22, arm64, each with its own table variable', () => {
    const functions = prod.template.findResources('AWS::Lambda::Function', {
      Properties: { Description: Match.stringLikeRegexp('^Approvals: ') },
    });
    expect(Object.keys(functions)).toHaveLength(3);
    for (const fn of Object.values(functions) as { Properties: Json }[]) {
      expect(fn.Properties).toMatchObject({ Runtime: 'nodejs22.x', Architectures: ['arm64'] });
      expect((fn.Properties.Environment as { Variables: Json }).Variables.APPROVALS_TABLE).toEqual({
        Ref: prod.stack.getLogicalId(prod.construct.table.node.defaultChild as never),
      });
    }
    prod.template.hasResourceProperties('AWS::Lambda::Function', {
      Description: Match.stringLikeRegexp('verifies Slack button clicks'),
      MemorySize: 1024,
      Timeout: 10,
    });
  });

  it('only the interactions function may answer task tokens, on "*" (the task-token APIs take no resource)', () => {
    const interactions = nonLogs(grantsOf(roleOf('interactions')));
    expect(interactions.filter(([action]) => action.startsWith('states:'))).toEqual([
      ['states:SendTaskFailure', '*'],
      ['states:SendTaskSuccess', '*'],
    ]);
    for (const fn of ['requestApproval', 'closeApproval'] as const) {
      expect(grantsOf(roleOf(fn)).filter(([action]) => action.startsWith('states:'))).toEqual([]);
    }
    // The only "*" anywhere is on those two actions (and X-Ray, which takes no resource either).
    for (const fn of ['requestApproval', 'interactions', 'closeApproval'] as const) {
      const wildcards = nonLogs(grantsOf(roleOf(fn))).filter(([, resource]) => resource === '*');
      expect(
        wildcards.every(([action]) => action === 'states:SendTaskSuccess' || action === 'states:SendTaskFailure'),
      ).toBe(true);
    }
  });

  it('each reads exactly the secrets it needs, by name', () => {
    const secretsOf = (fn: 'requestApproval' | 'interactions' | 'closeApproval') =>
      grantsOf(roleOf(fn))
        .filter(([action]) => action.startsWith('secretsmanager:'))
        .map(([action, resource]) => [action, prod.stack.resolve(resource)]);
    expect(secretsOf('interactions')).toEqual([
      ['secretsmanager:GetSecretValue', secretArn('slack-bot-token')],
      ['secretsmanager:GetSecretValue', secretArn('slack-signing-secret')],
    ]);
    expect(secretsOf('requestApproval')).toEqual([['secretsmanager:GetSecretValue', secretArn('slack-bot-token')]]);
    expect(secretsOf('closeApproval')).toEqual([['secretsmanager:GetSecretValue', secretArn('slack-bot-token')]]);
  });

  it('each may do on the approvals table only the item operations it uses', () => {
    const dynamo = (fn: 'requestApproval' | 'interactions' | 'closeApproval') =>
      grantsOf(roleOf(fn)).filter(
        ([action, resource]) =>
          action.startsWith('dynamodb:') && JSON.stringify(resource) !== JSON.stringify(auditTableArn()),
      );
    const on = (actions: string[]) => actions.sort().map((action) => [`dynamodb:${action}`, tableArn()]);
    expect(dynamo('requestApproval')).toEqual(on(['GetItem', 'UpdateItem', 'Query']));
    expect(dynamo('interactions')).toEqual(on(['GetItem', 'PutItem', 'UpdateItem', 'Query']));
    expect(dynamo('closeApproval')).toEqual(on(['GetItem', 'UpdateItem', 'Query']));
    for (const fn of ['requestApproval', 'interactions', 'closeApproval'] as const) {
      expect(logsActions(grantsOf(roleOf(fn))).length).toBeGreaterThan(0); // its own log group only
    }
  });

  it('each appends to the audit trail, as the audit trail grants it, and may change nothing in it', () => {
    const onAudit = (fn: (typeof FUNCTIONS)[number]) =>
      grantsOf(roleOf(fn))
        .filter(([, resource]) => JSON.stringify(resource) === JSON.stringify(auditTableArn()))
        .map(([action]) => action);
    const [first, ...others] = FUNCTIONS.map(onAudit);
    expect(first).toContain('dynamodb:Query');
    for (const grants of others) expect(grants).toEqual(first);
    for (const action of ['dynamodb:UpdateItem', 'dynamodb:DeleteItem', 'dynamodb:BatchWriteItem']) {
      expect(first).not.toContain(action);
    }
    const auditTable = { Ref: prod.stack.getLogicalId(prod.audit.table.node.defaultChild as never) };
    const resources = prod.template.toJSON().Resources as Record<string, { Properties: Json }>;
    for (const fn of FUNCTIONS) {
      const id = prod.stack.getLogicalId(prod.construct[fn].node.defaultChild as never);
      const variables = (resources[id].Properties.Environment as { Variables: Json }).Variables;
      expect(variables.AUDIT_TABLE).toEqual(auditTable);
    }
  });
});

describe('the public endpoint', () => {
  it('is an HTTP API with one route, POST /slack/interactions, to the interactions function', () => {
    prod.template.resourceCountIs('AWS::ApiGatewayV2::Api', 1);
    prod.template.hasResourceProperties('AWS::ApiGatewayV2::Api', { ProtocolType: 'HTTP' });
    prod.template.resourceCountIs('AWS::ApiGatewayV2::Route', 1);
    prod.template.hasResourceProperties('AWS::ApiGatewayV2::Route', { RouteKey: 'POST /slack/interactions' });
    prod.template.hasResourceProperties('AWS::ApiGatewayV2::Integration', {
      IntegrationType: 'AWS_PROXY',
      PayloadFormatVersion: '2.0',
    });
    prod.template.hasResourceProperties('AWS::Lambda::Permission', {
      Action: 'lambda:InvokeFunction',
      Principal: 'apigateway.amazonaws.com',
    });
  });

  it('throttles, and writes access logs without bodies or headers', () => {
    prod.template.hasResourceProperties('AWS::ApiGatewayV2::Stage', {
      StageName: '$default',
      AutoDeploy: true,
      DefaultRouteSettings: { ThrottlingRateLimit: 10, ThrottlingBurstLimit: 20 },
      AccessLogSettings: { DestinationArn: Match.anyValue(), Format: Match.stringLikeRegexp('\\$context.requestId') },
    });
    const [stage] = Object.values(prod.template.findResources('AWS::ApiGatewayV2::Stage')) as { Properties: Json }[];
    const format = (stage.Properties.AccessLogSettings as { Format: string }).Format;
    expect(format).not.toMatch(/body|header|signature/i);
    dev.hasResourceProperties('AWS::ApiGatewayV2::Stage', {
      DefaultRouteSettings: { ThrottlingRateLimit: 2, ThrottlingBurstLimit: 20 },
    });
  });

  it('outputs the Request URL to enter in the Slack app', () => {
    const outputs = prod.template.findOutputs('*');
    const url = Object.entries(outputs).find(([id]) => id.includes('InteractionsUrl'))?.[1] as { Value: unknown };
    expect(JSON.stringify(url.Value)).toContain('/slack/interactions');
    expect(prod.construct.timeouts.MEDIUM.toMinutes()).toBe(30);
    expect(prod.construct.timeouts.HIGH.toMinutes()).toBe(60);
  });
});

it('fails synth, naming the file, when the configuration has no approvals section', () => {
  const { approvals: _approvals, ...config } = agent.config;
  const stack = new Stack(new App({ context: CDK_JSON_CONTEXT }), 'NoApprovals', { env });
  const audit = new AuditTrail(stack, 'AuditTrail', { environment: 'dev' });
  expect(() => new SlackApprovals(stack, 'SlackApprovals', { agent: { ...agent, config }, audit })).toThrow(
    ConfigError,
  );
  expect(() => new SlackApprovals(stack, 'Again', { agent: { ...agent, config }, audit })).toThrow(
    'approvals: required to deploy Slack approvals',
  );
});
