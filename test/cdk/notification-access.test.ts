// What delivering notifications costs in IAM and environment: with PagerDuty, Jira and a webhook configured, the
// alert webhook and the incident notify function each read exactly the secrets their channels use (by name, with
// Secrets Manager's random suffix), share the alert-state table for the alert manager and its Slack threads, and the
// notify function has the time to deliver both the alert manager's notifications and the notice.

import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Role } from 'aws-cdk-lib/aws-iam';
import { parse, stringify } from 'yaml';
import { integrationsSchema } from '../../lambdas/core/config/integrations-schema';
import { agentConfigSchema } from '../../lambdas/core/config/schema';
import type { AgentFunction } from '../../lib/agent-function';
import { notificationSecretNames } from '../../lib/notification-access';
import { copyConfigDir, resourcesOfType, type Synthesized, synthesize } from './synth';

type Json = Record<string, unknown>;
type Statement = { Effect: string; Action: string | string[]; Resource: unknown };
type Grant = { action: string; resource: unknown };

const ACCOUNT = '123456789012';
const REGION = 'ap-northeast-1';
const secret = (name: string) => `arn:aws:secretsmanager:${REGION}:${ACCOUNT}:secret:${name}-??????`;

const INTEGRATIONS = {
  pagerduty: {
    routingKeySecret: 'sre-agent/staging/pagerduty-routing-key',
    serviceBySeverity: { critical: 'sre-agent/staging/pagerduty-critical-key' },
  },
  jira: {
    siteUrl: 'https://exchange.atlassian.net',
    projectKey: 'OPS',
    credentialsSecret: 'sre-agent/staging/jira-credentials',
  },
  webhook: { url: 'https://hooks.example.com/sre-agent', signingSecret: 'sre-agent/staging/webhook-signing-key' },
};

let dir: string;
let s: Synthesized;

beforeAll(() => {
  dir = copyConfigDir();
  const file = join(dir, 'staging.yaml');
  writeFileSync(
    file,
    stringify({ ...parse(readFileSync(file, 'utf8')), account: ACCOUNT, integrations: INTEGRATIONS }),
  );
  s = synthesize({ env: 'staging', configDir: dir, 'aws:cdk:bundling-stacks': [] });
});

afterAll(() => {
  s?.dispose();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const asArray = <T>(value: T | T[] | undefined): T[] =>
  value === undefined ? [] : Array.isArray(value) ? value : [value];
const arnOf = (logicalId: string) => ({ 'Fn::GetAtt': [logicalId, 'Arn'] });
const sorted = (grants: Grant[]) => [...grants].sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b)));

/** Allowed grants of a function's role, logs and X-Ray left out. */
function grantsOf(fn: AgentFunction): Grant[] {
  const roleId = s.logicalId(fn.role as Role);
  const grants: Grant[] = [];
  for (const [, policy] of resourcesOfType(s.resources, 'AWS::IAM::Policy')) {
    if (
      !asArray(policy.Properties.Roles as unknown[]).some((r) => JSON.stringify(r) === JSON.stringify({ Ref: roleId }))
    )
      continue;
    for (const statement of asArray((policy.Properties.PolicyDocument as { Statement: Statement[] }).Statement)) {
      if (statement.Effect !== 'Allow') continue;
      for (const action of asArray(statement.Action)) {
        if (action.startsWith('logs:') || action.startsWith('xray:')) continue;
        for (const resource of asArray(statement.Resource)) grants.push({ action, resource });
      }
    }
  }
  return grants;
}

const propertiesOf = (fn: AgentFunction): Json => s.resources[s.logicalId(fn)].Properties;

describe('the incident notify function', () => {
  test('tells the alert manager and reads the bot token and every integration secret, nothing more', () => {
    const { incidentWorkflow, alertIngest, audit } = s.stack;
    const alertState = arnOf(s.logicalId(alertIngest.table));
    expect(sorted(grantsOf(incidentWorkflow.notify))).toEqual(
      sorted([
        { action: 'dynamodb:PartiQLInsert', resource: arnOf(s.logicalId(audit.table)) },
        { action: 'dynamodb:Query', resource: arnOf(s.logicalId(audit.table)) },
        { action: 'dynamodb:GetItem', resource: alertState },
        { action: 'dynamodb:PutItem', resource: alertState },
        { action: 'secretsmanager:GetSecretValue', resource: secret('sre-agent/staging/slack-bot-token') },
        { action: 'secretsmanager:GetSecretValue', resource: secret('sre-agent/staging/pagerduty-routing-key') },
        { action: 'secretsmanager:GetSecretValue', resource: secret('sre-agent/staging/pagerduty-critical-key') },
        { action: 'secretsmanager:GetSecretValue', resource: secret('sre-agent/staging/jira-credentials') },
        { action: 'secretsmanager:GetSecretValue', resource: secret('sre-agent/staging/webhook-signing-key') },
      ]),
    );
  });

  test('names the alert-state table and has a minute for both deliveries', () => {
    const { incidentWorkflow, alertIngest } = s.stack;
    const properties = propertiesOf(incidentWorkflow.notify);
    expect((properties.Environment as { Variables: Json }).Variables).toMatchObject({
      ALERT_STATE_TABLE: { Ref: s.logicalId(alertIngest.table) },
      AUDIT_TABLE: { Ref: s.logicalId(s.stack.audit.table) },
    });
    expect(properties.Timeout).toBe(60);
  });
});

describe('the alert webhook function', () => {
  test('reads the bot token, PagerDuty and Jira secrets, but not the webhook key it never uses', () => {
    const { alertIngest } = s.stack;
    const secrets = grantsOf(alertIngest.webhook)
      .filter((grant) => grant.action === 'secretsmanager:GetSecretValue')
      .map((grant) => grant.resource);
    expect(secrets).toEqual(
      expect.arrayContaining([
        secret('sre-agent/staging/slack-bot-token'),
        secret('sre-agent/staging/pagerduty-routing-key'),
        secret('sre-agent/staging/pagerduty-critical-key'),
        secret('sre-agent/staging/jira-credentials'),
      ]),
    );
    // The two engine secrets it generates, and the four notification secrets: six in all.
    expect(secrets).toHaveLength(6);
    expect(JSON.stringify(secrets)).not.toContain('webhook-signing-key');
  });

  test('the minute check is part of the stack, invoking the webhook function', () => {
    const { alertIngest } = s.stack;
    s.template.hasResourceProperties('AWS::Events::Rule', {
      ScheduleExpression: 'rate(1 minute)',
      Targets: [{ Arn: arnOf(s.logicalId(alertIngest.webhook)), Id: 'Target0' }],
    });
  });
});

describe('notificationSecretNames', () => {
  const { approvals } = agentConfigSchema.parse({
    ...parse(readFileSync(join(__dirname, '../../config/staging.yaml'), 'utf8')),
    account: ACCOUNT,
  });

  test('lists each secret once, sorted, the webhook key only for the function that posts to it', () => {
    const integrations = integrationsSchema.parse({
      ...INTEGRATIONS,
      // The same key for two severities is one secret to read.
      pagerduty: {
        routingKeySecret: 'sre-agent/staging/pagerduty-routing-key',
        serviceBySeverity: { critical: 'sre-agent/staging/pagerduty-routing-key' },
      },
    });
    expect(notificationSecretNames({ approvals, integrations })).toEqual([
      'sre-agent/staging/jira-credentials',
      'sre-agent/staging/pagerduty-routing-key',
      'sre-agent/staging/slack-bot-token',
    ]);
    expect(notificationSecretNames({ approvals, integrations }, { webhook: true })).toEqual([
      'sre-agent/staging/jira-credentials',
      'sre-agent/staging/pagerduty-routing-key',
      'sre-agent/staging/slack-bot-token',
      'sre-agent/staging/webhook-signing-key',
    ]);
  });

  test('nothing to read without approvals or integrations', () => {
    expect(notificationSecretNames({ approvals: undefined, integrations: undefined }, { webhook: true })).toEqual([]);
    expect(notificationSecretNames({ approvals, integrations: undefined })).toEqual([
      'sre-agent/staging/slack-bot-token',
    ]);
  });
});
