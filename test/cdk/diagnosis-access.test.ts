// What each configured diagnosis source costs in IAM, resources and environment, and that an unconfigured one
// costs nothing: Loki, Qdrant and Claude API secrets, Bedrock models and inference profiles, the embedded
// knowledge base, the EKS reader identity, the deploy-events table and its Kafka consumer (MSK and self-managed),
// the audit stream, and the metric source the key series is read from (the collector's own grant). Stacks are
// synthesized from edited copies of config/, bundling skipped.

import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { App, Stack } from 'aws-cdk-lib';
import { Match } from 'aws-cdk-lib/assertions';
import type { Role } from 'aws-cdk-lib/aws-iam';
import { parse, stringify } from 'yaml';
import { loadEnvironmentConfig } from '../../lambdas/adapters/config-files';
import { ConfigError } from '../../lambdas/core/config/load';
import { agentConfigSchema } from '../../lambdas/core/config/schema';
import type { AgentFunction } from '../../lib/agent-function';
import { DeployEvents } from '../../lib/deploy-events';
import { bedrockModelStatements, decideTimeout, diagnosisStatements, llmStatements } from '../../lib/diagnosis-access';
import { CDK_JSON_CONTEXT, copyConfigDir, type Resource, resourcesOfType, type Synthesized, synthesize } from './synth';

type Json = Record<string, unknown>;
type Statement = { Effect: string; Action: string | string[]; Resource: unknown; Condition?: unknown };
/** One allowed (action, resource) pair, with the statement's condition when it has one. */
type Grant = { action: string; resource: unknown; condition?: unknown };

const ACCOUNT = '123456789012';
const REGION = 'ap-northeast-1';
const MSK_ARN = `arn:aws:kafka:${REGION}:${ACCOUNT}:cluster/exchange-events/7c1d2a9e-0b3f-4e5d-9a8b-1c2d3e4f5a6b-2`;
const MSK_PATH = 'exchange-events/7c1d2a9e-0b3f-4e5d-9a8b-1c2d3e4f5a6b-2';
const secret = (name: string) => `arn:aws:secretsmanager:${REGION}:${ACCOUNT}:secret:${name}-??????`;
const model = (region: string, id: string) => `arn:aws:bedrock:${region}::foundation-model/${id}`;
const SONNET_PROFILE = `arn:aws:bedrock:${REGION}:${ACCOUNT}:inference-profile/global.anthropic.claude-sonnet-4-6`;
const AUDIT_BROKERS = ['b-1.audit.example.com:9096', 'b-2.audit.example.com:9096'];
/** Staging's Mimir token (config/staging.yaml), which the collector and Decide both read. */
const MIMIR_TOKEN = secret('sre-agent/staging/mimir-token');
/** Prod's AMP workspace (config/prod.yaml). */
const AMP_WORKSPACE = `arn:aws:aps:${REGION}:${ACCOUNT}:workspace/ws-00000000-0000-0000-0000-000000000000`;

/** Every source at once: Loki with a token, Bedrock's default model, Qdrant with Titan, EKS, MSK with IAM auth. */
const EVERYTHING = {
  account: ACCOUNT,
  cluster: { name: 'exchange-staging' },
  diagnosis: {
    logs: {
      url: 'https://loki.monitoring.internal',
      tenant: 'exchange',
      auth: { type: 'bearer', secretName: 'sre-agent/staging/loki-token' },
    },
    llm: { provider: 'bedrock' },
    cloudwatch: {
      resources: [
        { service: 'mysql-main', resource: 'orders-db', type: 'rds', dimensions: { DBClusterIdentifier: 'orders' } },
      ],
    },
    knowledge: {
      store: 'qdrant',
      qdrant: { url: 'https://qdrant.monitoring.internal:6333', apiKeySecret: 'sre-agent/staging/qdrant-api-key' },
      embeddings: 'bedrock-titan',
    },
  },
  kafka: {
    deployEvents: { mskClusterArn: MSK_ARN },
    auditStream: { brokers: AUDIT_BROKERS, saslScramSecret: 'AmazonMSK_sre-agent-audit' },
  },
};

/** The other choices: Loki with basic auth, the Claude API, the embedded store, a self-managed cluster. */
const ALTERNATIVES = {
  account: ACCOUNT,
  diagnosis: {
    logs: { url: 'http://loki-gateway.monitoring', auth: { type: 'basic', secretName: 'sre-agent/dev/loki' } },
    llm: { provider: 'anthropic', apiKeySecret: 'sre-agent/dev/anthropic-api-key', timeoutMs: 30_000 },
  },
  kafka: {
    deployEvents: {
      bootstrapServers: ['kafka-1.events.example.com:9096', 'kafka-2.events.example.com:9096'],
      topic: 'deploys',
      consumerGroup: 'sre-agent-dev',
      saslScramSecret: 'sre-agent/dev/kafka-deploy-events',
    },
    auditStream: { brokers: AUDIT_BROKERS },
  },
};

/** MSK with SASL/SCRAM instead of IAM authentication. */
const MSK_SCRAM = {
  account: ACCOUNT,
  kafka: { deployEvents: { mskClusterArn: MSK_ARN, saslScramSecret: 'AmazonMSK_sre-agent-deploys' } },
};

const dirs: string[] = [];

/** config/ copied with `sections` merged into `<environment>.yaml`. */
function configDir(environment: string, sections: Json): string {
  const dir = copyConfigDir();
  dirs.push(dir);
  const file = join(dir, `${environment}.yaml`);
  writeFileSync(file, stringify({ ...parse(readFileSync(file, 'utf8')), ...sections }));
  return dir;
}

const synth = (environment: string, sections: Json) =>
  synthesize({ env: environment, configDir: configDir(environment, sections), 'aws:cdk:bundling-stacks': [] });

let everything: Synthesized;
let alternatives: Synthesized;
let mskScram: Synthesized;
let plain: Synthesized;

beforeAll(() => {
  everything = synth('staging', EVERYTHING);
  alternatives = synth('dev', ALTERNATIVES);
  mskScram = synth('prod', MSK_SCRAM);
  plain = synth('staging', { account: ACCOUNT });
});

afterAll(() => {
  for (const s of [everything, alternatives, mskScram, plain]) s?.dispose();
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

const asArray = <T>(value: T | T[] | undefined): T[] =>
  value === undefined ? [] : Array.isArray(value) ? value : [value];
const arnOf = (logicalId: string) => ({ 'Fn::GetAtt': [logicalId, 'Arn'] });
const refOf = (logicalId: string) => ({ Ref: logicalId });
const roleOf = (fn: AgentFunction) => fn.role as Role;

/** Allowed grants of a role, logs and X-Ray left out (every function writes its own log group and traces). */
function grantsOf(s: Synthesized, role: Role): Grant[] {
  const roleId = s.logicalId(role);
  const grants: Grant[] = [];
  for (const [, policy] of resourcesOfType(s.resources, 'AWS::IAM::Policy')) {
    if (!asArray(policy.Properties.Roles as unknown[]).some((r) => JSON.stringify(r) === JSON.stringify(refOf(roleId))))
      continue;
    for (const statement of asArray((policy.Properties.PolicyDocument as { Statement: Statement[] }).Statement)) {
      if (statement.Effect !== 'Allow') continue;
      for (const action of asArray(statement.Action)) {
        if (action.startsWith('logs:') || action.startsWith('xray:')) continue;
        for (const resource of asArray(statement.Resource)) {
          grants.push(
            statement.Condition ? { action, resource, condition: statement.Condition } : { action, resource },
          );
        }
      }
    }
  }
  return grants;
}

const sorted = (grants: Grant[]) => [...grants].sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b)));

function functionProps(s: Synthesized, fn: AgentFunction): Json {
  return s.resources[s.logicalId(fn)].Properties;
}
const variablesOf = (s: Synthesized, fn: AgentFunction) =>
  (functionProps(s, fn).Environment as { Variables: Json }).Variables;

/** Appenders of the audit trail: every function granted AUDIT_TABLE. */
const appenders = (s: Synthesized) => [
  s.stack.incidentWorkflow.decide,
  s.stack.incidentWorkflow.remediate,
  s.stack.incidentWorkflow.notify,
  s.stack.approvals.requestApproval,
  s.stack.approvals.interactions,
  s.stack.approvals.closeApproval,
];

describe('the Decide function with every source configured', () => {
  test('is granted exactly what its sources need, each on its one resource', () => {
    const s = everything;
    const { incidentWorkflow, tables, audit, deployEvents } = s.stack;
    const id = (construct: Parameters<typeof s.logicalId>[0]) => s.logicalId(construct);
    expect(sorted(grantsOf(s, roleOf(incidentWorkflow.decide)))).toEqual(
      sorted([
        // Its own steps, as before.
        { action: 'dynamodb:GetItem', resource: arnOf(id(tables.incidents)) },
        { action: 'dynamodb:PutItem', resource: arnOf(id(tables.incidents)) },
        // Appends to the audit trail: a PartiQL INSERT, which cannot overwrite (lib/audit-trail.ts).
        { action: 'dynamodb:PartiQLInsert', resource: arnOf(id(audit.table)) },
        { action: 'dynamodb:Query', resource: arnOf(id(audit.table)) },
        // Deploys: one Query per service.
        { action: 'dynamodb:Query', resource: arnOf(id(deployEvents!.table)) },
        // Loki's token, Qdrant's API key, and the audit stream's SASL/SCRAM credentials.
        { action: 'secretsmanager:GetSecretValue', resource: secret('sre-agent/staging/loki-token') },
        // Mimir's token, for the key series.
        { action: 'secretsmanager:GetSecretValue', resource: MIMIR_TOKEN },
        { action: 'secretsmanager:GetSecretValue', resource: secret('sre-agent/staging/qdrant-api-key') },
        { action: 'secretsmanager:GetSecretValue', resource: secret('AmazonMSK_sre-agent-audit') },
        // Titan embeddings in the function's Region.
        { action: 'bedrock:InvokeModel', resource: model(REGION, 'amazon.titan-embed-text-v2:0') },
        // The global inference profile, and the model it routes to only through it.
        { action: 'bedrock:InvokeModel', resource: SONNET_PROFILE },
        ...[model(REGION, 'anthropic.claude-sonnet-4-6'), model('', 'anthropic.claude-sonnet-4-6')].map((resource) => ({
          action: 'bedrock:InvokeModel',
          resource,
          condition: { StringEquals: { 'bedrock:InferenceProfileArn': SONNET_PROFILE } },
        })),
        // The cluster's endpoint; what it reads inside is the reader group's RBAC.
        { action: 'eks:DescribeCluster', resource: `arn:aws:eks:${REGION}:${ACCOUNT}:cluster/exchange-staging` },
        // RDS metrics: GetMetricData takes no resource, so the action is the narrow part.
        { action: 'cloudwatch:GetMetricData', resource: '*' },
      ]),
    );
  });

  test('names the deploy-events table and the work bucket, and waits for the model and Loki', () => {
    const s = everything;
    const decide = s.stack.incidentWorkflow.decide;
    expect(variablesOf(s, decide)).toMatchObject({
      DEPLOY_EVENTS_TABLE: refOf(s.logicalId(s.stack.deployEvents!.table)),
      // diagnosis-runtime.ts builds the knowledge base with the bucket named even for Qdrant; no object is granted.
      WORK_BUCKET: refOf(s.logicalId(s.stack.workBucket)),
    });
    // Loki 5 s x 3 tries, two Qdrant searches of 3 s, the model's 20 s, Mimir 5 s x 3 tries, 10 s to spare.
    expect(functionProps(s, decide)).toMatchObject({ Timeout: 66, MemorySize: 1024 });
  });

  test('maps the Decide role to the reader group, beside the executor', () => {
    const { template, stack, logicalId } = everything;
    template.resourceCountIs('AWS::EKS::AccessEntry', 2);
    template.hasResourceProperties('AWS::EKS::AccessEntry', {
      ClusterName: 'exchange-staging',
      PrincipalArn: arnOf(logicalId(stack.incidentWorkflow.decide.role!)),
      Type: 'STANDARD',
      KubernetesGroups: ['sre-agent:reader'],
      AccessPolicies: Match.absent(),
    });
    template.hasResourceProperties('AWS::EKS::AccessEntry', {
      PrincipalArn: arnOf(logicalId(stack.incidentWorkflow.remediate.role!)),
      KubernetesGroups: ['sre-agent:executor'],
    });
  });
});

describe('the Decide function with the alternative sources', () => {
  test('reads the Loki and Claude API secrets and keeps the embedded knowledge base in the work bucket', () => {
    const s = alternatives;
    const { incidentWorkflow, tables, audit, deployEvents, workBucket } = s.stack;
    const id = (construct: Parameters<typeof s.logicalId>[0]) => s.logicalId(construct);
    const knowledge = { 'Fn::Join': ['', [arnOf(id(workBucket)), '/knowledge/*']] };
    expect(sorted(grantsOf(s, roleOf(incidentWorkflow.decide)))).toEqual(
      sorted([
        { action: 'dynamodb:GetItem', resource: arnOf(id(tables.incidents)) },
        { action: 'dynamodb:PutItem', resource: arnOf(id(tables.incidents)) },
        // Appends to the audit trail: a PartiQL INSERT, which cannot overwrite (lib/audit-trail.ts).
        { action: 'dynamodb:PartiQLInsert', resource: arnOf(id(audit.table)) },
        { action: 'dynamodb:Query', resource: arnOf(id(audit.table)) },
        { action: 'dynamodb:Query', resource: arnOf(id(deployEvents!.table)) },
        { action: 'secretsmanager:GetSecretValue', resource: secret('sre-agent/dev/loki') },
        { action: 'secretsmanager:GetSecretValue', resource: secret('sre-agent/dev/anthropic-api-key') },
        // Read on Diagnose, rewritten on Close; listing only there, so a first run finds no object (404, not 403).
        { action: 's3:GetObject', resource: knowledge },
        { action: 's3:PutObject', resource: knowledge },
        {
          action: 's3:ListBucket',
          resource: arnOf(id(workBucket)),
          condition: { StringLike: { 's3:prefix': ['knowledge/*'] } },
        },
      ]),
    );
    // Loki 5 s x 3 tries, the model's 30 s, Prometheus 5 s x 3 tries, 10 s to spare.
    expect(functionProps(s, incidentWorkflow.decide)).toMatchObject({ Timeout: 70 });
  });
});

describe('the key series: Decide reads the metric source as the collector does', () => {
  const metricSourceGrants = (s: Synthesized, fn: AgentFunction) =>
    grantsOf(s, roleOf(fn)).filter(
      (grant) => grant.action.startsWith('aps:') || JSON.stringify(grant.resource).includes('mimir-token'),
    );

  test.each([
    [
      'staging: the Mimir token',
      () => everything,
      [{ action: 'secretsmanager:GetSecretValue', resource: MIMIR_TOKEN }],
    ],
    [
      'prod: aps:QueryMetrics on the AMP workspace',
      () => mskScram,
      [{ action: 'aps:QueryMetrics', resource: AMP_WORKSPACE }],
    ],
    ['dev: nothing for an open Prometheus', () => alternatives, []],
  ])('%s', (_, get, expected) => {
    const s = get();
    expect(metricSourceGrants(s, s.stack.incidentWorkflow.decide)).toEqual(expected);
    expect(metricSourceGrants(s, s.stack.detectionLoop.collectMetrics)).toEqual(expected);
  });

  test('the metric source of a configuration that cannot be granted fails synth on the field', () => {
    const stack = new Stack(new App({ context: CDK_JSON_CONTEXT }), 'Blocks', {
      env: { account: ACCOUNT, region: REGION },
    });
    const config = agentConfigSchema.parse({
      ...loadEnvironmentConfig('dev').config,
      metricSource: { flavor: 'prometheus', url: 'https://prometheus.example.com', auth: { type: 'sigv4' } },
    });
    expect(() => diagnosisStatements(stack, config, 'config/dev.yaml')).toThrow(ConfigError);
    expect(() => diagnosisStatements(stack, config, 'config/dev.yaml')).toThrow(
      /config\/dev\.yaml: invalid configuration\n {2}- metricSource\.url: SigV4 auth needs an Amazon Managed Prometheus/,
    );
  });
});

describe('nothing is granted for what is not configured', () => {
  test('Decide keeps its steps, the default embedded knowledge base and the metric source, and nothing else', () => {
    const s = plain;
    const { incidentWorkflow, tables, audit, workBucket } = s.stack;
    const actions = new Set(grantsOf(s, roleOf(incidentWorkflow.decide)).map((grant) => grant.action));
    expect([...actions].sort()).toEqual([
      'dynamodb:GetItem',
      'dynamodb:PartiQLInsert',
      'dynamodb:PutItem',
      'dynamodb:Query',
      's3:GetObject',
      's3:ListBucket',
      's3:PutObject',
      'secretsmanager:GetSecretValue',
    ]);
    // Its one secret is the metric source's.
    expect(
      grantsOf(s, roleOf(incidentWorkflow.decide)).filter((g) => g.action === 'secretsmanager:GetSecretValue'),
    ).toEqual([{ action: 'secretsmanager:GetSecretValue', resource: MIMIR_TOKEN }]);
    const dynamo = grantsOf(s, roleOf(incidentWorkflow.decide)).filter((g) => g.action.startsWith('dynamodb:'));
    for (const grant of dynamo) {
      expect([arnOf(s.logicalId(tables.incidents)), arnOf(s.logicalId(audit.table))]).toContainEqual(grant.resource);
    }
    const variables = Object.keys(variablesOf(s, incidentWorkflow.decide));
    expect(variables).toContain('WORK_BUCKET');
    expect(variables).not.toContain('DEPLOY_EVENTS_TABLE');
    expect(variablesOf(s, incidentWorkflow.decide).WORK_BUCKET).toEqual(refOf(s.logicalId(workBucket)));
    // The 10 s evidence floor, Mimir 5 s x 3 tries, 10 s to spare.
    expect(functionProps(s, incidentWorkflow.decide).Timeout).toBe(35);
  });

  test('no deploy-events table, consumer, event source mapping, reader entry or audit stream', () => {
    const { template, stack, resources } = plain;
    expect(stack.deployEvents).toBeUndefined();
    template.resourceCountIs('AWS::DynamoDB::Table', 7);
    template.resourceCountIs('AWS::Lambda::EventSourceMapping', 0);
    template.resourceCountIs('AWS::EKS::AccessEntry', 0);
    for (const [, fn] of resourcesOfType(resources, 'AWS::Lambda::Function')) {
      const names = Object.keys((fn.Properties.Environment as { Variables: Json }).Variables);
      expect(names.filter((name) => name.startsWith('AUDIT_STREAM_') || name === 'DEPLOY_EVENTS_TABLE')).toEqual([]);
    }
    const actions = resourcesOfType(resources, 'AWS::IAM::Policy').flatMap(([, policy]) =>
      asArray((policy.Properties.PolicyDocument as { Statement: Statement[] }).Statement).flatMap((st) =>
        asArray(st.Action),
      ),
    );
    expect(actions.filter((action) => /^(bedrock|eks|kafka|kafka-cluster|ec2):/.test(action))).toEqual([]);
  });
});

describe('the deploy-events table', () => {
  const tableOf = (s: Synthesized): Resource => s.resources[s.logicalId(s.stack.deployEvents!.table)];

  test.each([
    ['staging', () => everything],
    ['prod', () => mskScram],
  ])('in %s: keyed pk/sk, on demand, point-in-time recovery, TTL, deletion protection, retained', (_, get) => {
    const table = tableOf(get());
    expect(table.Properties).toMatchObject({
      KeySchema: [
        { AttributeName: 'pk', KeyType: 'HASH' },
        { AttributeName: 'sk', KeyType: 'RANGE' },
      ],
      BillingMode: 'PAY_PER_REQUEST',
      PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
      TimeToLiveSpecification: { AttributeName: 'expiresAt', Enabled: true },
      DeletionProtectionEnabled: true,
    });
    expect(table.DeletionPolicy).toBe('Retain');
  });

  test('in dev: no deletion protection, deleted with the stack', () => {
    const table = tableOf(alternatives);
    expect(table.Properties.DeletionProtectionEnabled).toBe(false);
    expect(table.DeletionPolicy).toBe('Delete');
    alternatives.template.hasOutput('DeployEventsTableName', {});
  });
});

describe('the deploy-events consumer', () => {
  test('writes the table with conditional puts only and reads nothing else', () => {
    for (const s of [everything, alternatives, mskScram]) {
      const { consumer, table } = s.stack.deployEvents!;
      const onTable = grantsOf(s, roleOf(consumer)).filter((grant) => grant.action.startsWith('dynamodb:'));
      expect(onTable).toEqual([{ action: 'dynamodb:PutItem', resource: arnOf(s.logicalId(table)) }]);
      expect(variablesOf(s, consumer).DEPLOY_EVENTS_TABLE).toEqual(refOf(s.logicalId(table)));
      expect(s.resources[s.logicalId(consumer)].Properties.Handler).toBe('index.handler');
      expect(s.resources[s.logicalId(roleOf(consumer))].Properties.ManagedPolicyArns).toBeUndefined();
    }
  });

  test('MSK with IAM authentication: the topic from LATEST in the consumer group, and its documented grants', () => {
    const s = everything;
    const { consumer } = s.stack.deployEvents!;
    s.template.resourceCountIs('AWS::Lambda::EventSourceMapping', 1);
    s.template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      FunctionName: refOf(s.logicalId(consumer)),
      EventSourceArn: MSK_ARN,
      Topics: ['deploy-events'],
      AmazonManagedKafkaEventSourceConfig: { ConsumerGroupId: 'sre-agent-deploy-events' },
      StartingPosition: 'LATEST',
      BatchSize: 100,
      SourceAccessConfigurations: Match.absent(),
    });
    const ec2 = (type: string) => `arn:aws:ec2:${REGION}:${ACCOUNT}:${type}/*`;
    const kafka = (type: string, name: string) => `arn:aws:kafka:${REGION}:${ACCOUNT}:${type}/${MSK_PATH}/${name}`;
    expect(sorted(grantsOf(s, roleOf(consumer)).filter((g) => !g.action.startsWith('dynamodb:')))).toEqual(
      sorted([
        { action: 'kafka:DescribeClusterV2', resource: MSK_ARN },
        { action: 'kafka:GetBootstrapBrokers', resource: MSK_ARN },
        // Describe calls take no resource-level permission; creating and deleting stay in the cluster's account.
        ...['DescribeNetworkInterfaces', 'DescribeSecurityGroups', 'DescribeSubnets', 'DescribeVpcs'].map((a) => ({
          action: `ec2:${a}`,
          resource: '*',
        })),
        ...['network-interface', 'subnet', 'security-group'].map((type) => ({
          action: 'ec2:CreateNetworkInterface',
          resource: ec2(type),
        })),
        { action: 'ec2:DeleteNetworkInterface', resource: ec2('network-interface') },
        { action: 'kafka-cluster:Connect', resource: MSK_ARN },
        { action: 'kafka-cluster:DescribeClusterDynamicConfiguration', resource: MSK_ARN },
        { action: 'kafka-cluster:DescribeTopic', resource: kafka('topic', 'deploy-events') },
        { action: 'kafka-cluster:ReadData', resource: kafka('topic', 'deploy-events') },
        { action: 'kafka-cluster:AlterGroup', resource: kafka('group', 'sre-agent-deploy-events') },
        { action: 'kafka-cluster:DescribeGroup', resource: kafka('group', 'sre-agent-deploy-events') },
      ]),
    );
  });

  test('MSK with SASL/SCRAM: the secret instead of the kafka-cluster actions', () => {
    const s = mskScram;
    const { consumer } = s.stack.deployEvents!;
    s.template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      EventSourceArn: MSK_ARN,
      Topics: ['deploy-events'],
      StartingPosition: 'LATEST',
      SourceAccessConfigurations: [
        {
          Type: 'SASL_SCRAM_512_AUTH',
          URI: `arn:aws:secretsmanager:${REGION}:${ACCOUNT}:secret:AmazonMSK_sre-agent-deploys`,
        },
      ],
    });
    const grants = grantsOf(s, roleOf(consumer));
    expect(grants.filter((g) => g.action.startsWith('secretsmanager:'))).toEqual(
      expect.arrayContaining([
        { action: 'secretsmanager:GetSecretValue', resource: secret('AmazonMSK_sre-agent-deploys') },
        { action: 'secretsmanager:DescribeSecret', resource: secret('AmazonMSK_sre-agent-deploys') },
      ]),
    );
    expect(grants.filter((g) => g.action.startsWith('kafka-cluster:'))).toEqual([]);
    expect(grants.map((g) => g.action)).toEqual(
      expect.arrayContaining(['kafka:DescribeClusterV2', 'kafka:GetBootstrapBrokers']),
    );
  });

  test('self-managed Kafka: its brokers with SASL/SCRAM, and no MSK or network grants', () => {
    const s = alternatives;
    const { consumer } = s.stack.deployEvents!;
    s.template.resourceCountIs('AWS::Lambda::EventSourceMapping', 1);
    s.template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      FunctionName: refOf(s.logicalId(consumer)),
      SelfManagedEventSource: {
        Endpoints: { KafkaBootstrapServers: ['kafka-1.events.example.com:9096', 'kafka-2.events.example.com:9096'] },
      },
      SelfManagedKafkaEventSourceConfig: { ConsumerGroupId: 'sre-agent-dev' },
      Topics: ['deploys'],
      StartingPosition: 'LATEST',
      BatchSize: 100,
      SourceAccessConfigurations: [
        {
          Type: 'SASL_SCRAM_512_AUTH',
          URI: `arn:aws:secretsmanager:${REGION}:${ACCOUNT}:secret:sre-agent/dev/kafka-deploy-events`,
        },
      ],
    });
    expect(sorted(grantsOf(s, roleOf(consumer)).filter((g) => !g.action.startsWith('dynamodb:')))).toEqual(
      sorted([
        { action: 'secretsmanager:GetSecretValue', resource: secret('sre-agent/dev/kafka-deploy-events') },
        { action: 'secretsmanager:DescribeSecret', resource: secret('sre-agent/dev/kafka-deploy-events') },
      ]),
    );
  });
});

describe('the audit stream', () => {
  test('every appender learns the topic and brokers and may read the SASL/SCRAM secret', () => {
    const s = everything;
    for (const fn of appenders(s)) {
      expect(variablesOf(s, fn)).toMatchObject({
        AUDIT_TABLE: refOf(s.logicalId(s.stack.audit.table)),
        AUDIT_STREAM_TOPIC: 'sre-agent-audit',
        AUDIT_STREAM_BROKERS: AUDIT_BROKERS.join(','),
      });
      expect(grantsOf(s, roleOf(fn))).toContainEqual({
        action: 'secretsmanager:GetSecretValue',
        resource: secret('AmazonMSK_sre-agent-audit'),
      });
    }
    // Functions that do not append learn nothing about it.
    for (const fn of [s.stack.detectionLoop.collectMetrics, s.stack.detectionLoop.scoreTick]) {
      expect(Object.keys(variablesOf(s, fn)).filter((name) => name.startsWith('AUDIT_'))).toEqual([]);
    }
  });

  test('without a secret, the appenders get the topic and brokers and no secret read for it', () => {
    const s = alternatives;
    for (const fn of appenders(s)) {
      expect(variablesOf(s, fn)).toMatchObject({ AUDIT_STREAM_TOPIC: 'sre-agent-audit' });
    }
    const requestApproval = grantsOf(s, roleOf(s.stack.approvals.requestApproval));
    // Its only secret remains the Slack bot token.
    expect(requestApproval.filter((g) => g.action.startsWith('secretsmanager:'))).toEqual([
      { action: 'secretsmanager:GetSecretValue', resource: secret('sre-agent/dev/slack-bot-token') },
    ]);
  });
});

describe('building blocks', () => {
  const env = { account: ACCOUNT, region: REGION };
  /** The statements as CloudFormation sees them, in a throwaway stack. */
  function rendered(build: (stack: Stack) => { toStatementJson(): unknown }[]): unknown[] {
    const stack = new Stack(new App({ context: CDK_JSON_CONTEXT }), 'Blocks', { env });
    return build(stack).map((statement) => stack.resolve(statement.toStatementJson()));
  }

  test('a foundation model id is granted in its Region; an ARN as given', () => {
    expect(rendered((stack) => bedrockModelStatements(stack, 'anthropic.claude-opus-4-6-v1', 'us-west-2'))).toEqual([
      { Effect: 'Allow', Action: 'bedrock:InvokeModel', Resource: model('us-west-2', 'anthropic.claude-opus-4-6-v1') },
    ]);
    const arn = `arn:aws:bedrock:${REGION}:${ACCOUNT}:application-inference-profile/a1b2c3`;
    expect(rendered((stack) => bedrockModelStatements(stack, arn, REGION))).toEqual([
      { Effect: 'Allow', Action: 'bedrock:InvokeModel', Resource: arn },
    ]);
  });

  test('a geographic profile routes to the model in any of its Regions, only through the profile', () => {
    const profile = `arn:aws:bedrock:us-east-1:${ACCOUNT}:inference-profile/us.anthropic.claude-opus-4-6-v1`;
    expect(rendered((stack) => bedrockModelStatements(stack, 'us.anthropic.claude-opus-4-6-v1', 'us-east-1'))).toEqual([
      { Effect: 'Allow', Action: 'bedrock:InvokeModel', Resource: profile },
      {
        Effect: 'Allow',
        Action: 'bedrock:InvokeModel',
        Resource: model('*', 'anthropic.claude-opus-4-6-v1'),
        Condition: { StringEquals: { 'bedrock:InferenceProfileArn': profile } },
      },
    ]);
  });

  test('Bedrock in another Region than the stack is granted there', () => {
    const llm = agentConfigSchema.shape.diagnosis.parse({ llm: { provider: 'bedrock', region: 'us-east-1' } }).llm;
    const [profile] = rendered((stack) => llmStatements(stack, llm, REGION)) as { Resource: string }[];
    expect(profile.Resource).toBe(
      `arn:aws:bedrock:us-east-1:${ACCOUNT}:inference-profile/global.anthropic.claude-sonnet-4-6`,
    );
    expect(rendered((stack) => llmStatements(stack, { provider: 'none' }, REGION))).toEqual([]);
  });

  test('the Decide timeout follows the configured deadlines, never below 30 s', () => {
    const dev = loadEnvironmentConfig('dev').config;
    const config = (diagnosis: Json, metricSource: Json = {}) =>
      agentConfigSchema.parse({ ...dev, diagnosis, metricSource: { ...dev.metricSource, ...metricSource } });
    // The 10 s evidence floor, dev's Prometheus 5 s x 3 tries for the key series, 10 s to spare.
    expect(decideTimeout(config({})).toSeconds()).toBe(35);
    expect(decideTimeout(config({ llm: { provider: 'none' } })).toSeconds()).toBe(35);
    // Plus the model's default 20 s.
    expect(decideTimeout(config({ llm: { provider: 'bedrock' } })).toSeconds()).toBe(55);
    expect(decideTimeout(config({ llm: { provider: 'bedrock', timeoutMs: 120_000 } })).toSeconds()).toBe(155);
    // A 2 s key-series query without retries: 22 s, raised to the floor.
    expect(decideTimeout(config({}, { timeoutMs: 2_000, retries: 0 })).toSeconds()).toBe(30);
    expect(decideTimeout(config({}, { timeoutMs: 10_000, retries: 2 })).toSeconds()).toBe(50);
  });

  test('a self-managed cluster without SASL/SCRAM credentials, or a partial MSK ARN, fails synth on the field', () => {
    const agent = loadEnvironmentConfig('dev');
    const build = (deployEvents: Json) => () => {
      const stack = new Stack(new App({ context: { ...CDK_JSON_CONTEXT, 'aws:cdk:bundling-stacks': [] } }), 'K', {
        env,
      });
      const config = agentConfigSchema.parse({ ...agent.config, kafka: { deployEvents } });
      new DeployEvents(stack, 'DeployEvents', { agent: { ...agent, config } });
    };
    const selfManaged = build({ bootstrapServers: ['kafka-1.events.example.com:9096'] });
    expect(selfManaged).toThrow(ConfigError);
    expect(selfManaged).toThrow('kafka.deployEvents.saslScramSecret: required with bootstrapServers');
    const partialArn = build({ mskClusterArn: `arn:aws:kafka:${REGION}:${ACCOUNT}:cluster/exchange-events` });
    expect(partialArn).toThrow(ConfigError);
    expect(partialArn).toThrow('kafka.deployEvents.mskClusterArn: must be arn:aws:kafka:<region>:<account>:cluster/');
  });
});
