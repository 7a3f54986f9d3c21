// The audit trail construct: its table per environment, the exact grant of an appender (PartiQLInsert, which
// cannot overwrite, and Query; no PutItem), and the stack-wide deny that keeps puts, updates and deletes out
// whatever is granted later.

import { App, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { loadEnvironmentConfig } from '../../lambdas/adapters/config-files';
import type { AgentConfig } from '../../lambdas/core/config/schema';
import { AgentFunction } from '../../lib/agent-function';
import { AUDIT_TABLE_MUTATIONS, AuditTrail, type AuditTrailProps } from '../../lib/audit-trail';
import { CDK_JSON_CONTEXT, type Synthesized, synthesize } from './synth';

type Statement = { Effect: string; Action: string | string[]; Resource: unknown; Sid?: string };
type Resource = { Type: string; Properties: Record<string, unknown>; DeletionPolicy?: string };

const agent = loadEnvironmentConfig('dev');
const asArray = <T>(value: T | T[]): T[] => (Array.isArray(value) ? value : [value]);

interface Built {
  readonly template: Template;
  readonly resources: Record<string, Resource>;
  readonly tableId: string;
  readonly writerRoleId: string;
  readonly bystanderRoleId: string;
}

/**
 * A small stack with the trail, one appending function and one unrelated role that was (wrongly) granted full
 * access to the table. Bundling is skipped: only the template matters here.
 */
function build(environment: AgentConfig['environment'], props: Partial<AuditTrailProps> = {}): Built {
  const app = new App({ context: { ...CDK_JSON_CONTEXT, 'aws:cdk:bundling-stacks': [] } });
  const stack = new Stack(app, 'AuditTest', { env: { account: '123456789012', region: 'ap-northeast-1' } });
  const trail = new AuditTrail(stack, 'AuditTrail', { environment, ...props });
  const writer = new AgentFunction(stack, 'Writer', { handler: 'collect-metrics', description: 'appends', agent });
  trail.grantAppend(writer);
  const bystander = new Role(stack, 'Bystander', { assumedBy: new ServicePrincipal('lambda.amazonaws.com') });
  trail.table.grantReadWriteData(bystander);
  const template = Template.fromStack(stack);
  const id = (construct: { node: { defaultChild?: unknown } }) =>
    stack.getLogicalId(construct.node.defaultChild as Parameters<Stack['getLogicalId']>[0]);
  return {
    template,
    resources: template.toJSON().Resources as Record<string, Resource>,
    tableId: id(trail.table),
    writerRoleId: id(writer.role as Role),
    bystanderRoleId: id(bystander),
  };
}

/** The statements of the policies attached to `roleId`. */
function statementsOf({ resources }: Built, roleId: string): Statement[] {
  return Object.values(resources)
    .filter((r) => r.Type === 'AWS::IAM::Policy')
    .filter((r) => (r.Properties.Roles as unknown[]).some((role) => JSON.stringify(role) === `{"Ref":"${roleId}"}`))
    .flatMap((r) => asArray((r.Properties.PolicyDocument as { Statement: Statement | Statement[] }).Statement));
}

const onTable = (built: Built, statement: Statement) =>
  JSON.stringify(asArray(statement.Resource)).includes(`"${built.tableId}"`);

/** DynamoDB actions `roleId` is allowed on the audit table (or its indexes). */
const allowedOnTable = (built: Built, roleId: string) =>
  statementsOf(built, roleId)
    .filter((s) => s.Effect === 'Allow' && onTable(built, s))
    .flatMap((s) => asArray(s.Action))
    .sort();

let dev: Built;
let prod: Built;
let staging: Built;

beforeAll(() => {
  dev = build('dev');
  staging = build('staging');
  prod = build('prod');
});

test('the table is keyed (chain, seq number), on demand, with point-in-time recovery', () => {
  for (const built of [dev, prod]) {
    built.template.resourceCountIs('AWS::DynamoDB::Table', 1);
    built.template.hasResourceProperties('AWS::DynamoDB::Table', {
      KeySchema: [
        { AttributeName: 'chain', KeyType: 'HASH' },
        { AttributeName: 'seq', KeyType: 'RANGE' },
      ],
      AttributeDefinitions: [
        { AttributeName: 'chain', AttributeType: 'S' },
        { AttributeName: 'seq', AttributeType: 'N' },
      ],
      BillingMode: 'PAY_PER_REQUEST',
      PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
    });
  }
});

test('outside dev the table has deletion protection and outlives the stack', () => {
  for (const built of [staging, prod]) {
    const table = built.resources[built.tableId];
    expect(table.Properties.DeletionProtectionEnabled).toBe(true);
    expect(table.DeletionPolicy).toBe('Retain');
  }
  const table = dev.resources[dev.tableId];
  expect(table.Properties.DeletionProtectionEnabled).toBe(false);
  expect(table.DeletionPolicy).toBe('Delete');
});

test('an appender holds PartiQLInsert and Query on the table, no PutItem, UpdateItem or DeleteItem; AUDIT_TABLE names it', () => {
  expect(allowedOnTable(prod, prod.writerRoleId)).toEqual(['dynamodb:PartiQLInsert', 'dynamodb:Query']);
  const dynamoActions = statementsOf(prod, prod.writerRoleId)
    .filter((s) => s.Effect === 'Allow')
    .flatMap((s) => asArray(s.Action))
    .filter((action) => action.startsWith('dynamodb:'));
  expect(dynamoActions.sort()).toEqual(['dynamodb:PartiQLInsert', 'dynamodb:Query']);
  // Every action that can replace or remove an item is absent, whatever the deny below adds.
  for (const action of ['PutItem', 'UpdateItem', 'DeleteItem', 'BatchWriteItem', 'PartiQLUpdate', 'PartiQLDelete']) {
    expect(dynamoActions).not.toContain(`dynamodb:${action}`);
  }
  // Granted on the table itself, not its indexes nor a wildcard.
  for (const statement of statementsOf(prod, prod.writerRoleId).filter((s) => s.Effect === 'Allow')) {
    if (!asArray(statement.Action).some((action) => action.startsWith('dynamodb:'))) continue;
    expect(statement.Resource).toEqual({ 'Fn::GetAtt': [prod.tableId, 'Arn'] });
  }
  prod.template.hasResourceProperties('AWS::Lambda::Function', {
    Environment: { Variables: { AUDIT_TABLE: { Ref: prod.tableId } } },
  });
});

test('every role of the stack, even one granted them, is explicitly denied puts, updates, deletes and table changes', () => {
  const roleIds = Object.entries(prod.resources)
    .filter(([, r]) => r.Type === 'AWS::IAM::Role')
    .map(([id]) => id);
  expect(roleIds).toEqual(expect.arrayContaining([prod.writerRoleId, prod.bystanderRoleId]));
  for (const roleId of roleIds) {
    const denies = statementsOf(prod, roleId).filter((s) => s.Effect === 'Deny');
    expect({ roleId, denies }).toEqual({
      roleId,
      denies: [
        {
          Sid: 'AuditTrailIsAppendOnly',
          Effect: 'Deny',
          Action: [...AUDIT_TABLE_MUTATIONS].sort(),
          Resource: { 'Fn::GetAtt': [prod.tableId, 'Arn'] },
        },
      ],
    });
  }
  for (const action of [
    'dynamodb:PutItem',
    'dynamodb:UpdateItem',
    'dynamodb:DeleteItem',
    'dynamodb:BatchWriteItem',
    'dynamodb:PartiQLUpdate',
    'dynamodb:PartiQLDelete',
  ]) {
    expect(AUDIT_TABLE_MUTATIONS).toContain(action);
  }
  // The one write the appenders need stays allowed: denying it would stop the trail.
  expect(AUDIT_TABLE_MUTATIONS).not.toContain('dynamodb:PartiQLInsert');
  expect(AUDIT_TABLE_MUTATIONS).not.toContain('dynamodb:Query');
  // The wrongly granted role shows what the deny is for: its allows no longer count.
  expect(allowedOnTable(prod, prod.bystanderRoleId)).toEqual(
    expect.arrayContaining(['dynamodb:PutItem', 'dynamodb:DeleteItem']),
  );
});

test('the stack-wide deny can be left out', () => {
  const without = build('prod', { denyMutationsToStackRoles: false });
  expect(statementsOf(without, without.writerRoleId).filter((s) => s.Effect === 'Deny')).toEqual([]);
  expect(allowedOnTable(without, without.writerRoleId)).toEqual(['dynamodb:PartiQLInsert', 'dynamodb:Query']);
});

describe('in the deployed stack', () => {
  let stack: Synthesized;
  beforeAll(() => {
    stack = synthesize({ env: 'prod', 'aws:cdk:bundling-stacks': [] });
  });
  afterAll(() => stack?.dispose());

  /** Every statement of every inline policy, with the logical ids of the roles it is attached to. */
  const statements = () =>
    Object.values(stack.resources)
      .filter((r) => r.Type === 'AWS::IAM::Policy')
      .flatMap((policy) => {
        const roles = (policy.Properties.Roles as { Ref: string }[]).map((role) => role.Ref);
        const document = policy.Properties.PolicyDocument as { Statement: Statement | Statement[] };
        return asArray(document.Statement).map((statement) => ({ roles, statement }));
      });

  test('only the six appenders may write the audit table, by PartiQLInsert; every role is denied PutItem and the rest', () => {
    const tableId = stack.logicalId(stack.stack.audit.table);
    const onAudit = (statement: Statement) => JSON.stringify(statement.Resource).includes(`"${tableId}"`);
    const allows = statements().filter(({ statement }) => statement.Effect === 'Allow' && onAudit(statement));
    const actions = new Set(allows.flatMap(({ statement }) => asArray(statement.Action)));
    expect([...actions].sort()).toEqual(['dynamodb:PartiQLInsert', 'dynamodb:Query']);

    const { incidentWorkflow, approvals } = stack.stack;
    const appenderRoles = [
      incidentWorkflow.decide,
      incidentWorkflow.remediate,
      incidentWorkflow.notify,
      approvals.requestApproval,
      approvals.interactions,
      approvals.closeApproval,
    ].map((fn) => stack.logicalId(fn.role as Role));
    const inserters = allows
      .filter(({ statement }) => asArray(statement.Action).includes('dynamodb:PartiQLInsert'))
      .flatMap(({ roles }) => roles);
    expect(new Set(inserters)).toEqual(new Set(appenderRoles));

    const roleIds = Object.entries(stack.resources)
      .filter(([, r]) => r.Type === 'AWS::IAM::Role')
      .map(([id]) => id);
    for (const roleId of roleIds) {
      const denied = statements()
        .filter(({ roles, statement }) => roles.includes(roleId) && statement.Effect === 'Deny' && onAudit(statement))
        .flatMap(({ statement }) => asArray(statement.Action));
      expect({ roleId, denied: denied.sort() }).toEqual({ roleId, denied: [...AUDIT_TABLE_MUTATIONS].sort() });
    }
  });
});
