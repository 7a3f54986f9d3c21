// What querying the metric source costs in IAM, per auth type: nothing, one secret, or one AMP workspace.

import { App, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { ConfigError } from '../../lambdas/core/config/load';
import { metricSourceSchema } from '../../lambdas/core/config/schema';
import { ampWorkspace, metricSourceStatements } from '../../lib/metric-source-access';
import { CDK_JSON_CONTEXT } from './synth';

const CONFIG_FILE = '/config/prod.yaml';

/** The statements a role gets for `source`, as CloudFormation would see them. */
function statementsFor(source: unknown): unknown[] {
  const stack = new Stack(new App({ context: CDK_JSON_CONTEXT }), 'Test', {
    env: { account: '123456789012', region: 'ap-northeast-1' },
  });
  const role = new Role(stack, 'Role', { assumedBy: new ServicePrincipal('lambda.amazonaws.com') });
  for (const statement of metricSourceStatements(stack, metricSourceSchema.parse(source), CONFIG_FILE)) {
    role.addToPolicy(statement);
  }
  const policies = Template.fromStack(stack).findResources('AWS::IAM::Policy');
  return Object.values(policies).flatMap(
    (policy) =>
      (policy as { Properties: { PolicyDocument: { Statement: unknown[] } } }).Properties.PolicyDocument.Statement,
  );
}

test('an open Prometheus needs no AWS permission', () => {
  expect(statementsFor({ flavor: 'prometheus', url: 'http://prometheus:9090' })).toEqual([]);
});

test.each(['basic', 'bearer'])('%s auth may read its one secret, whatever suffix Secrets Manager gave it', (type) => {
  const source = { flavor: 'mimir', url: 'https://mimir', tenant: 't', auth: { type, secretName: 'sre-agent/token' } };
  expect(statementsFor(source)).toEqual([
    {
      Effect: 'Allow',
      Action: 'secretsmanager:GetSecretValue',
      Resource: 'arn:aws:secretsmanager:ap-northeast-1:123456789012:secret:sre-agent/token-??????',
    },
  ]);
});

test('a secret given by full ARN is granted as is', () => {
  const arn = 'arn:aws:secretsmanager:eu-west-1:210987654321:secret:shared/mimir-AbCdEf';
  const source = { flavor: 'prometheus', url: 'https://p', auth: { type: 'bearer', secretName: arn } };
  expect(statementsFor(source)).toEqual([{ Effect: 'Allow', Action: 'secretsmanager:GetSecretValue', Resource: arn }]);
});

test('SigV4 against AMP may query that workspace only, in the region of its URL', () => {
  const source = {
    flavor: 'amp',
    url: 'https://aps-workspaces.us-west-2.amazonaws.com/workspaces/ws-1234abcd-12ab-34cd-56ef-1234567890ab/',
    auth: { type: 'sigv4' },
  };
  expect(statementsFor(source)).toEqual([
    {
      Effect: 'Allow',
      Action: 'aps:QueryMetrics',
      Resource: 'arn:aws:aps:us-west-2:123456789012:workspace/ws-1234abcd-12ab-34cd-56ef-1234567890ab',
    },
  ]);
});

test('SigV4 to something that is not an AMP workspace fails synth on metricSource.url', () => {
  const source = {
    flavor: 'prometheus',
    url: 'https://prometheus.internal',
    auth: { type: 'sigv4', region: 'eu-west-1' },
  };
  expect(() => statementsFor(source)).toThrow(ConfigError);
  expect(() => statementsFor(source)).toThrow(`${CONFIG_FILE}: invalid configuration`);
  expect(() => statementsFor(source)).toThrow('metricSource.url: SigV4 auth needs an Amazon Managed Prometheus');
});

test('AMP workspace URLs are recognised directly and through a VPC endpoint', () => {
  expect(ampWorkspace('https://aps-workspaces.ap-northeast-1.amazonaws.com/workspaces/ws-abc')).toEqual({
    region: 'ap-northeast-1',
    workspaceId: 'ws-abc',
  });
  expect(ampWorkspace('https://aps-workspaces.eu-west-1.vpce.amazonaws.com/workspaces/ws-x1/api/v1/query')).toEqual({
    region: 'eu-west-1',
    workspaceId: 'ws-x1',
  });
  expect(ampWorkspace('https://aps-workspaces.eu-west-1.amazonaws.com/')).toBeUndefined();
  expect(ampWorkspace('https://mimir.example.com/workspaces/ws-x1')).toBeUndefined();
});
