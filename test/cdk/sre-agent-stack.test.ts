// The dev and prod stacks as `cdk synth` builds them: schedules, the tick workflow and its grants, tables,
// bucket, queues, Lambda defaults and least-privilege IAM. One synth per environment for the whole file.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Match } from 'aws-cdk-lib/assertions';
import { aslPlaceholders } from '../../lib/asl-definition';
import { TICK_DEFINITION_FILE } from '../../lib/detection-loop';
import { type Resource, resourcesOfType, type Synthesized, synthesize } from './synth';

type Statement = {
  Effect: string;
  Action?: string | string[];
  NotAction?: unknown;
  Resource?: unknown;
  Condition?: unknown;
};
type Grant = { action: string; resource: unknown };

let dev: Synthesized;
let prod: Synthesized;

beforeAll(() => {
  dev = synthesize({ env: 'dev' });
  prod = synthesize({ env: 'prod' });
});

afterAll(() => {
  for (const synth of [dev, prod]) synth?.dispose();
});

const asArray = <T>(value: T | T[] | undefined): T[] =>
  value === undefined ? [] : Array.isArray(value) ? value : [value];

/** Every IAM statement in the template: managed and attached policies, and roles' inline policies. */
function allStatements(resources: Record<string, Resource>): { owner: string; statement: Statement }[] {
  const found: { owner: string; statement: Statement }[] = [];
  for (const [id, resource] of Object.entries(resources)) {
    const properties = resource.Properties;
    const documents: unknown[] = [];
    if (resource.Type === 'AWS::IAM::Policy' || resource.Type === 'AWS::IAM::ManagedPolicy') {
      documents.push(properties.PolicyDocument);
    }
    if (resource.Type === 'AWS::IAM::Role') {
      for (const policy of asArray(properties.Policies as { PolicyDocument: unknown }[])) {
        documents.push(policy.PolicyDocument);
      }
    }
    for (const document of documents) {
      for (const statement of asArray((document as { Statement: Statement | Statement[] }).Statement)) {
        found.push({ owner: id, statement });
      }
    }
  }
  return found;
}

/** (action, resource) pairs a role is allowed, from the policies attached to it and its inline policies. */
function grantsOf(synth: Synthesized, roleId: string): Grant[] {
  const grants: Grant[] = [];
  for (const { owner, statement } of allStatements(synth.resources)) {
    const policy = synth.resources[owner];
    const attached = asArray(policy.Properties.Roles as unknown[]).some(
      (role) => JSON.stringify(role) === JSON.stringify({ Ref: roleId }),
    );
    if (owner !== roleId && !attached) continue;
    if (statement.Effect !== 'Allow') continue;
    for (const action of asArray(statement.Action)) {
      for (const resource of asArray(statement.Resource)) grants.push({ action, resource });
    }
  }
  return grants;
}

const actionsOf = (grants: Grant[]) => [...new Set(grants.map((grant) => grant.action))].sort();
const arnOf = (logicalId: string) => ({ 'Fn::GetAtt': [logicalId, 'Arn'] });
const objectsUnder = (bucketId: string, prefix: string) => ({
  'Fn::Join': ['', [arnOf(bucketId), `/${prefix}*`]],
});

describe.each([
  ['dev', () => dev, 7],
  ['prod', () => prod, 90],
])('%s stack', (environment, get, logRetentionDays) => {
  test('ticks every minute through the state machine, with a dead-letter queue and a short retry window', () => {
    const { template, stack, logicalId } = get();
    const loop = stack.detectionLoop;
    template.hasResourceProperties('AWS::Events::Rule', {
      ScheduleExpression: 'rate(1 minute)',
      State: 'ENABLED',
      Targets: [
        Match.objectLike({
          Arn: { Ref: logicalId(loop.stateMachine) },
          DeadLetterConfig: { Arn: arnOf(logicalId(loop.undeliveredTicks)) },
          RetryPolicy: { MaximumEventAgeInSeconds: 120, MaximumRetryAttempts: 2 },
        }),
      ],
    });
  });

  test('learns baselines daily at 03:00 UTC through the sharded baseline workflow', () => {
    const { template, stack, logicalId } = get();
    template.hasResourceProperties('AWS::Events::Rule', {
      ScheduleExpression: 'cron(0 3 * * ? *)',
      Targets: [Match.objectLike({ Arn: { Ref: logicalId(stack.baselineJob.stateMachine) } })],
    });
    // test/cdk/baseline-job.test.ts holds the workflow's own assertions.
    const shard = get().resources[logicalId(stack.baselineJob.learnShard)].Properties;
    expect(shard.Timeout).toBeLessThanOrEqual(300);
    expect(shard.MemorySize).toBeGreaterThanOrEqual(1769);
  });

  test('tick state machine is Express, from the ASL file, with every placeholder substituted', () => {
    const { resources, stack, logicalId, assembly } = get();
    const machine = resources[logicalId(stack.detectionLoop.stateMachine)].Properties;
    expect(machine.StateMachineType).toBe('EXPRESS');
    // fromFile ships the definition as an asset; CloudFormation fills DefinitionSubstitutions in at deploy.
    expect(machine.DefinitionString).toBeUndefined();
    const location = machine.DefinitionS3Location as { Key: string };
    const deployed = readFileSync(join(assembly.directory, `asset.${location.Key}`), 'utf8');
    expect(deployed).toBe(readFileSync(TICK_DEFINITION_FILE, 'utf8'));

    const substitutions = machine.DefinitionSubstitutions as Record<string, unknown>;
    const rendered = deployed.replace(/\$\{(\w+)\}/g, (whole, name: string) =>
      name in substitutions ? `@substituted:${name}` : whole,
    );
    expect(rendered).not.toMatch(/\$\{/);
    expect(Object.keys(substitutions).sort()).toEqual(aslPlaceholders(deployed));
    expect(JSON.stringify(substitutions)).not.toMatch(/\$\{/);
  });

  test('the state machine role may invoke exactly the functions its definition invokes, and send to the DLQ', () => {
    const synth = get();
    const { resources, stack, logicalId } = synth;
    const loop = stack.detectionLoop;
    const machine = resources[logicalId(loop.stateMachine)].Properties;
    const substitutions = machine.DefinitionSubstitutions as Record<string, unknown>;
    const roleId = logicalId(loop.stateMachine.role);
    const grants = grantsOf(synth, roleId);

    const states = allStates(JSON.parse(readFileSync(TICK_DEFINITION_FILE, 'utf8')));
    const placeholderOf = (value: unknown) => /^\$\{(\w+)\}$/.exec(String(value))?.[1] as string;

    const invoked = states
      .filter((state) => state.Resource === 'arn:aws:states:::lambda:invoke')
      .map((state) => substitutions[placeholderOf(state.Parameters?.FunctionName)]);
    expect(invoked).toEqual([arnOf(logicalId(loop.collectMetrics)), arnOf(logicalId(loop.scoreTick))]);
    for (const functionArn of invoked) {
      expect(grants).toContainEqual({ action: 'lambda:InvokeFunction', resource: functionArn });
    }
    const invokable = grants.filter((grant) => grant.action === 'lambda:InvokeFunction');
    for (const grant of invokable) {
      // Each granted resource is one of the invoked functions (or its version-qualified ARN).
      expect(invoked.some((arn) => JSON.stringify(grant.resource).includes(JSON.stringify(arn)))).toBe(true);
    }

    const queues = states
      .filter((state) => state.Resource === 'arn:aws:states:::sqs:sendMessage')
      .map((state) => substitutions[placeholderOf(state.Parameters?.QueueUrl)]);
    expect(queues).toEqual([{ Ref: logicalId(loop.failedTicks) }]);
    expect(grants).toContainEqual({ action: 'sqs:SendMessage', resource: arnOf(logicalId(loop.failedTicks)) });
    expect(actionsOf(grants).filter((action) => !action.startsWith('logs:') && !action.startsWith('xray:'))).toEqual([
      'lambda:InvokeFunction',
      'sqs:SendMessage',
      'states:StartExecution',
    ]);
    // It may start the incident workflow, and nothing else.
    expect(grants.filter((grant) => grant.action === 'states:StartExecution')).toEqual([
      { action: 'states:StartExecution', resource: { Ref: logicalId(stack.incidentWorkflow.stateMachine) } },
    ]);
  });

  test('the incident workflow is a Standard state machine whose role may invoke exactly its five functions', () => {
    const synth = get();
    const { template, stack, logicalId } = synth;
    const workflow = stack.incidentWorkflow;
    template.hasResourceProperties('AWS::StepFunctions::StateMachine', {
      StateMachineType: 'STANDARD',
      DefinitionSubstitutions: {
        DecideFunctionArn: { 'Fn::GetAtt': [logicalId(workflow.decide), 'Arn'] },
        RemediateFunctionArn: { 'Fn::GetAtt': [logicalId(workflow.remediate), 'Arn'] },
        NotifyFunctionArn: { 'Fn::GetAtt': [logicalId(workflow.notify), 'Arn'] },
        RequestApprovalFunctionArn: { 'Fn::GetAtt': [logicalId(stack.approvals.requestApproval), 'Arn'] },
        CloseApprovalFunctionArn: { 'Fn::GetAtt': [logicalId(stack.approvals.closeApproval), 'Arn'] },
      },
    });
    const role = workflow.stateMachine.role;
    const grants = grantsOf(synth, logicalId(role));
    const actions = [...new Set(grants.map((grant) => grant.action))].filter(
      (action) => !action.startsWith('logs:') && !action.startsWith('xray:'),
    );
    expect(actions).toEqual(['lambda:InvokeFunction']);
    const invoked = [
      workflow.decide,
      workflow.remediate,
      workflow.notify,
      stack.approvals.requestApproval,
      stack.approvals.closeApproval,
    ].map((fn) => logicalId(fn));
    for (const grant of grants.filter((g) => g.action === 'lambda:InvokeFunction')) {
      expect(invoked.some((id) => JSON.stringify(grant.resource).includes(id))).toBe(true);
    }
    // And every one of the five is granted: a state the role cannot invoke fails its execution at run time.
    for (const id of invoked) {
      expect(grants).toContainEqual({ action: 'lambda:InvokeFunction', resource: arnOf(id) });
    }
  });

  test('audit writers hold PartiQLInsert and Query on the audit table only: no put, update or delete', () => {
    const synth = get();
    const { stack, logicalId } = synth;
    const auditArn = arnOf(logicalId(stack.audit.table));
    for (const fn of [stack.incidentWorkflow.decide, stack.incidentWorkflow.remediate, stack.incidentWorkflow.notify]) {
      const onAudit = grantsOf(synth, logicalId(fn.role!))
        .filter((grant) => JSON.stringify(grant.resource).includes(JSON.stringify(auditArn).slice(1, -1)))
        .map((grant) => grant.action)
        .sort();
      expect(onAudit).toEqual(['dynamodb:PartiQLInsert', 'dynamodb:Query']);
    }
  });

  test('the APIs have the Slack interactions route and the two alert webhook routes', () => {
    for (const routeKey of ['POST /slack/interactions', 'POST /alerts/alertmanager', 'POST /alerts/n9e']) {
      get().template.hasResourceProperties('AWS::ApiGatewayV2::Route', { RouteKey: routeKey });
    }
  });

  test('tables: on-demand, point-in-time recovery, keys and TTL from the table definitions', () => {
    const { template, resources } = get();
    // Incidents, baselines, scorer state, action ledger, audit trail, approvals, alert state.
    template.resourceCountIs('AWS::DynamoDB::Table', 7);
    for (const [, table] of resourcesOfType(resources, 'AWS::DynamoDB::Table')) {
      expect(table.Properties.BillingMode).toBe('PAY_PER_REQUEST');
      expect(table.Properties.PointInTimeRecoverySpecification).toEqual({ PointInTimeRecoveryEnabled: true });
    }
    template.hasResourceProperties('AWS::DynamoDB::Table', {
      KeySchema: [{ AttributeName: 'id', KeyType: 'HASH' }],
      GlobalSecondaryIndexes: [
        Match.objectLike({
          IndexName: 'open-incidents',
          KeySchema: [
            { AttributeName: 'openFlag', KeyType: 'HASH' },
            { AttributeName: 'openedAt', KeyType: 'RANGE' },
          ],
        }),
      ],
    });
    template.hasResourceProperties('AWS::DynamoDB::Table', {
      KeySchema: [
        { AttributeName: 'pk', KeyType: 'HASH' },
        { AttributeName: 'sk', KeyType: 'RANGE' },
      ],
      TimeToLiveSpecification: { AttributeName: 'expiresAt', Enabled: true },
    });
  });

  test('every Lambda is arm64 on a supported Node.js runtime, with its own log group and retention', () => {
    const { template, resources } = get();
    const functions = resourcesOfType(resources, 'AWS::Lambda::Function');
    // Twelve agent functions and nothing else: no custom-resource Lambdas with their own runtime choices.
    // Tick: 2; baseline job: 3; incident workflow: 3; Slack approvals: 3; alert webhook: 1.
    template.resourceCountIs('AWS::Lambda::Function', 12);
    for (const [, fn] of functions) {
      expect(fn.Properties.Architectures).toEqual(['arm64']);
      expect(['nodejs22.x', 'nodejs24.x']).toContain(fn.Properties.Runtime);
      expect(fn.Properties.TracingConfig).toEqual({ Mode: 'Active' });
      const logGroupRef = (fn.Properties.LoggingConfig as { LogGroup: { Ref: string } }).LogGroup.Ref;
      expect(resources[logGroupRef].Properties.RetentionInDays).toBe(logRetentionDays);
      const variables = (fn.Properties.Environment as { Variables: Record<string, unknown> }).Variables;
      expect(variables).toMatchObject({ POWERTOOLS_SERVICE_NAME: 'sre-agent', LOG_LEVEL: 'INFO' });
      // The configuration is compiled into the bundle, never passed as an environment variable.
      expect(Object.keys(variables)).not.toContain('SRE_AGENT_BUNDLED_CONFIG');
    }
  });

  test('each function gets exactly the environment variables runtime.ts reads for it', () => {
    const { resources, stack, logicalId } = get();
    const variablesOf = (fn: Parameters<typeof logicalId>[0]) =>
      Object.keys((resources[logicalId(fn)].Properties.Environment as { Variables: Record<string, unknown> }).Variables)
        .filter((name) => /_(TABLE|BUCKET)$/.test(name))
        .sort();
    expect(variablesOf(stack.detectionLoop.collectMetrics)).toEqual(['WORK_BUCKET']);
    expect(variablesOf(stack.detectionLoop.scoreTick)).toEqual([
      'BASELINES_TABLE',
      'INCIDENTS_TABLE',
      'SCORER_STATE_TABLE',
      'WORK_BUCKET',
    ]);
    expect(variablesOf(stack.baselineJob.planShards)).toEqual([]);
    expect(variablesOf(stack.baselineJob.learnShard)).toEqual(['BASELINES_TABLE']);
    expect(variablesOf(stack.baselineJob.publishBaselines)).toEqual(['BASELINES_TABLE']);
  });

  test('no IAM statement anywhere allows a wildcard action, and no role carries a managed policy', () => {
    const { resources } = get();
    const statements = allStatements(resources);
    expect(statements.length).toBeGreaterThan(0);
    for (const { owner, statement } of statements) {
      expect({ owner, notAction: statement.NotAction }).toEqual({ owner, notAction: undefined });
      for (const action of asArray(statement.Action)) {
        expect({ owner, action, wildcard: action.includes('*') }).toEqual({ owner, action, wildcard: false });
      }
    }
    for (const [id, role] of resourcesOfType(resources, 'AWS::IAM::Role')) {
      expect({ id, managed: role.Properties.ManagedPolicyArns }).toEqual({ id, managed: undefined });
    }
  });

  test('S3 access is scoped to key prefixes: ticks, scorer state, and the knowledge base Decide keeps', () => {
    const synth = get();
    const { stack, logicalId } = synth;
    const bucketId = logicalId(stack.workBucket);
    const s3Grants = (fn: { role?: Parameters<typeof logicalId>[0] }) =>
      grantsOf(synth, logicalId(fn.role!)).filter((grant) => grant.action.startsWith('s3:'));

    expect(s3Grants(stack.detectionLoop.collectMetrics)).toEqual([
      { action: 's3:PutObject', resource: objectsUnder(bucketId, 'ticks/') },
    ]);
    expect(s3Grants(stack.detectionLoop.scoreTick)).toEqual(
      expect.arrayContaining([
        { action: 's3:GetObject', resource: objectsUnder(bucketId, 'ticks/') },
        { action: 's3:GetObject', resource: objectsUnder(bucketId, 'scorer-state/') },
        { action: 's3:PutObject', resource: objectsUnder(bucketId, 'scorer-state/') },
        { action: 's3:ListBucket', resource: arnOf(bucketId) },
      ]),
    );
    expect(s3Grants(stack.detectionLoop.scoreTick)).toHaveLength(4);
    // The embedded knowledge base (the default store): one object, read on Diagnose and rewritten on Close.
    expect(s3Grants(stack.incidentWorkflow.decide)).toEqual(
      expect.arrayContaining([
        { action: 's3:GetObject', resource: objectsUnder(bucketId, 'knowledge/') },
        { action: 's3:PutObject', resource: objectsUnder(bucketId, 'knowledge/') },
        { action: 's3:ListBucket', resource: arnOf(bucketId) },
      ]),
    );
    expect(s3Grants(stack.incidentWorkflow.decide)).toHaveLength(3);
    // Listing (so a missing key is a 404, not a 403) is limited to the prefixes each function reads.
    const listing = allStatements(synth.resources).filter(({ statement }) =>
      asArray(statement.Action).includes('s3:ListBucket'),
    );
    const conditionOf = (fn: { role?: Parameters<typeof logicalId>[0] }) =>
      listing.find(({ owner }) =>
        asArray(synth.resources[owner].Properties.Roles as unknown[]).some(
          (role) => JSON.stringify(role) === JSON.stringify({ Ref: logicalId(fn.role!) }),
        ),
      )?.statement.Condition;
    expect(listing).toHaveLength(2);
    expect(conditionOf(stack.detectionLoop.scoreTick)).toEqual({
      StringLike: { 's3:prefix': ['ticks/*', 'scorer-state/*'] },
    });
    expect(conditionOf(stack.incidentWorkflow.decide)).toEqual({ StringLike: { 's3:prefix': ['knowledge/*'] } });
    for (const fn of [stack.baselineJob.planShards, stack.baselineJob.learnShard, stack.baselineJob.publishBaselines]) {
      expect(s3Grants(fn)).toEqual([]);
    }
  });

  test('DynamoDB access matches the adapters call for call', () => {
    const synth = get();
    const { stack, logicalId } = synth;
    const tables = stack.tables;
    const dynamoGrants = (fn: { role?: Parameters<typeof logicalId>[0] }) =>
      grantsOf(synth, logicalId(fn.role!))
        .filter((grant) => grant.action.startsWith('dynamodb:'))
        .map((grant) => `${grant.action} ${JSON.stringify(grant.resource)}`)
        .sort();
    const on = (action: string, resource: unknown) => `dynamodb:${action} ${JSON.stringify(resource)}`;
    const incidents = arnOf(logicalId(tables.incidents));
    const baselines = arnOf(logicalId(tables.baselines));
    const scorerState = arnOf(logicalId(tables.scorerState));

    expect(dynamoGrants(stack.detectionLoop.collectMetrics)).toEqual([]);
    expect(dynamoGrants(stack.detectionLoop.scoreTick)).toEqual(
      [
        on('GetItem', baselines),
        on('Query', baselines),
        on('GetItem', scorerState),
        on('PutItem', scorerState),
        on('GetItem', incidents),
        on('PutItem', incidents),
        on('Query', { 'Fn::Join': ['', [incidents, '/index/open-incidents']] }),
      ].sort(),
    );
    expect(dynamoGrants(stack.baselineJob.planShards)).toEqual([]);
    expect(dynamoGrants(stack.baselineJob.learnShard)).toEqual(
      [on('BatchWriteItem', baselines), on('PutItem', baselines)].sort(),
    );
    expect(dynamoGrants(stack.baselineJob.publishBaselines)).toEqual(
      [on('Query', baselines), on('PutItem', baselines)].sort(),
    );
  });

  test('Lambda roles write only their own log group', () => {
    const synth = get();
    const { stack, logicalId } = synth;
    for (const fn of [
      stack.detectionLoop.collectMetrics,
      stack.detectionLoop.scoreTick,
      stack.baselineJob.planShards,
      stack.baselineJob.learnShard,
      stack.baselineJob.publishBaselines,
    ]) {
      const logs = grantsOf(synth, logicalId(fn.role!)).filter((grant) => grant.action.startsWith('logs:'));
      expect(logs).toEqual([
        { action: 'logs:CreateLogStream', resource: arnOf(logicalId(fn.logGroup)) },
        { action: 'logs:PutLogEvents', resource: arnOf(logicalId(fn.logGroup)) },
      ]);
    }
  });

  test('the work bucket is private, encrypted, TLS-only, and expires ticks and scorer state', () => {
    const { template, stack, logicalId } = get();
    template.hasResourceProperties('AWS::S3::Bucket', {
      PublicAccessBlockConfiguration: {
        BlockPublicAcls: true,
        BlockPublicPolicy: true,
        IgnorePublicAcls: true,
        RestrictPublicBuckets: true,
      },
      BucketEncryption: {
        ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }],
      },
      LifecycleConfiguration: {
        Rules: Match.arrayWith([
          Match.objectLike({ Prefix: 'ticks/', ExpirationInDays: 1, Status: 'Enabled' }),
          Match.objectLike({ Prefix: 'scorer-state/', ExpirationInDays: 2, Status: 'Enabled' }),
        ]),
      },
    });
    template.hasResourceProperties('AWS::S3::BucketPolicy', {
      Bucket: { Ref: logicalId(stack.workBucket) },
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
        ]),
      },
    });
  });

  test('dead-letter queues keep failed and undelivered ticks and undelivered baseline runs for 14 days, encrypted', () => {
    const { template, resources, stack, logicalId } = get();
    template.resourceCountIs('AWS::SQS::Queue', 3);
    for (const queue of [
      stack.detectionLoop.failedTicks,
      stack.detectionLoop.undeliveredTicks,
      stack.baselineJob.undeliveredRuns,
    ]) {
      expect(resources[logicalId(queue)].Properties).toMatchObject({
        MessageRetentionPeriod: 14 * 86_400,
        SqsManagedSseEnabled: true,
      });
    }
  });

  test('outputs name the state machine, tables, bucket and queues', () => {
    const { template } = get();
    for (const output of [
      'TickStateMachineArn',
      'IncidentsTableName',
      'BaselinesTableName',
      'ScorerStateTableName',
      'WorkBucketName',
      'FailedTicksQueueUrl',
    ]) {
      template.hasOutput(output, {});
    }
  });

  test(`stack is SreAgent-${environment} in the configured region`, () => {
    const { stack } = get();
    expect(stack.stackName).toBe(`SreAgent-${environment}`);
    expect(stack.region).toBe('ap-northeast-1');
  });
});

describe('what differs between dev and prod', () => {
  test('prod remediation may describe exactly its configured EKS cluster; dev has no cluster and no EKS grant', () => {
    const prodEks = grantsOf(prod, prod.logicalId(prod.stack.incidentWorkflow.remediate.role!)).filter((g) =>
      g.action.startsWith('eks:'),
    );
    expect(prodEks).toEqual([
      {
        action: 'eks:DescribeCluster',
        resource: {
          'Fn::Join': ['', ['arn:aws:eks:ap-northeast-1:', { Ref: 'AWS::AccountId' }, ':cluster/exchange-prod']],
        },
      },
    ]);
    const devActions = allStatements(dev.resources).flatMap(({ statement }) => asArray(statement.Action));
    expect(devActions.filter((action) => action.startsWith('eks:'))).toEqual([]);
    // Inside the cluster the role is only the executor group, with no EKS access policy; Diagnose reads the
    // cluster as the reader group, through an entry of its own.
    prod.template.resourceCountIs('AWS::EKS::AccessEntry', 2);
    prod.template.hasResourceProperties('AWS::EKS::AccessEntry', {
      ClusterName: 'exchange-prod',
      PrincipalArn: arnOf(prod.logicalId(prod.stack.incidentWorkflow.remediate.role!)),
      KubernetesGroups: ['sre-agent:executor'],
      AccessPolicies: Match.absent(),
    });
    prod.template.hasResourceProperties('AWS::EKS::AccessEntry', {
      ClusterName: 'exchange-prod',
      PrincipalArn: arnOf(prod.logicalId(prod.stack.incidentWorkflow.decide.role!)),
      KubernetesGroups: ['sre-agent:reader'],
      AccessPolicies: Match.absent(),
    });
    dev.template.resourceCountIs('AWS::EKS::AccessEntry', 0);
  });

  test('prod protects its data: deletion protection, retained tables, bucket and logs, termination protection', () => {
    for (const [, table] of resourcesOfType(prod.resources, 'AWS::DynamoDB::Table')) {
      expect(table.Properties.DeletionProtectionEnabled).toBe(true);
      expect(table.DeletionPolicy).toBe('Retain');
    }
    for (const type of ['AWS::S3::Bucket', 'AWS::Logs::LogGroup']) {
      for (const [, resource] of resourcesOfType(prod.resources, type)) expect(resource.DeletionPolicy).toBe('Retain');
    }
    expect(prod.stack.terminationProtection).toBe(true);
  });

  test('dev can be torn down: no deletion protection, tables and logs deleted with the stack', () => {
    for (const [, table] of resourcesOfType(dev.resources, 'AWS::DynamoDB::Table')) {
      expect(table.Properties.DeletionProtectionEnabled).toBe(false);
      expect(table.DeletionPolicy).toBe('Delete');
    }
    for (const [, logGroup] of resourcesOfType(dev.resources, 'AWS::Logs::LogGroup')) {
      expect(logGroup.DeletionPolicy).toBe('Delete');
    }
    expect(dev.stack.terminationProtection).toBe(false);
  });

  test('prod queries its AMP workspace with aps:QueryMetrics only; dev (open Prometheus) needs no grant', () => {
    const workspace = {
      'Fn::Join': [
        '',
        [
          'arn:aws:aps:ap-northeast-1:',
          { Ref: 'AWS::AccountId' },
          ':workspace/ws-00000000-0000-0000-0000-000000000000',
        ],
      ],
    };
    for (const fn of [
      prod.stack.detectionLoop.collectMetrics,
      prod.stack.baselineJob.planShards,
      prod.stack.baselineJob.learnShard,
    ]) {
      const grants = grantsOf(prod, prod.logicalId(fn.role!)).filter((grant) => grant.action.startsWith('aps:'));
      expect(grants).toEqual([{ action: 'aps:QueryMetrics', resource: workspace }]);
    }
    const devActions = allStatements(dev.resources).flatMap(({ statement }) => asArray(statement.Action));
    // Dev's open Prometheus needs no grant; its only secrets are Slack's signing secret and bot token.
    expect(devActions.filter((action) => /^aps:/.test(action))).toEqual([]);
  });

  test('the bundle carries its environment configuration (esbuild define), and the SDK is bundled', () => {
    const collector = prod.resources[prod.logicalId(prod.stack.detectionLoop.collectMetrics)].Properties;
    const key = (collector.Code as { S3Key: string }).S3Key.replace(/\.zip$/, '');
    const code = readFileSync(join(prod.assembly.directory, `asset.${key}`, 'index.js'), 'utf8');
    expect(code).toContain('aps-workspaces.ap-northeast-1.amazonaws.com/workspaces/ws-00000000');
    expect(code).not.toContain('process.env.SRE_AGENT_BUNDLED_CONFIG');
    // The SDK clients are compiled in, not required from the runtime's copy.
    expect(code).toContain('com.amazonaws.s3');
    expect(code.match(/require\(["']@aws-sdk\/client-[\w-]+["']\)/g)).toBeNull();
  });
});

interface AslState {
  readonly Type: string;
  readonly Resource?: string;
  readonly Parameters?: Record<string, unknown>;
  readonly Branches?: { States: Record<string, AslState> }[];
  readonly ItemProcessor?: { States: Record<string, AslState> };
}

/** Every state of a definition, nested Parallel branches and Map processors included. */
function allStates(definition: { States: Record<string, AslState> }): AslState[] {
  return Object.values(definition.States).flatMap((state) => [
    state,
    ...(state.Branches ?? []).flatMap(allStates),
    ...(state.ItemProcessor ? allStates(state.ItemProcessor) : []),
  ]);
}
