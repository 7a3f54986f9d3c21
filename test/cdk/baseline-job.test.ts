// The daily baseline job as `cdk synth -c env=prod` builds it: a Standard workflow from its ASL file with a
// Distributed Map, the three functions it invokes and nothing else, the grants a Distributed Map needs scoped
// to its own child executions, and the 03:00 UTC schedule with a dead-letter queue. One synth for the file.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Match } from 'aws-cdk-lib/assertions';
import type { IConstruct } from 'constructs';
import { TOLERATED_FAILED_SHARD_PERCENT } from '../../lambdas/core/cognition/baseline-shards';
import { aslPlaceholders } from '../../lib/asl-definition';
import { BASELINE_JOB_DEFINITION_FILE, LEARN_SHARDS_LABEL } from '../../lib/baseline-job';
import { type Synthesized, synthesize } from './synth';

type Statement = { Effect: string; Action?: string | string[]; Resource?: unknown };
interface AslState {
  readonly Type: string;
  readonly Resource?: string;
  readonly Parameters?: Record<string, unknown>;
  readonly ItemProcessor?: {
    readonly ProcessorConfig?: { Mode?: string; ExecutionType?: string };
    readonly States: Record<string, AslState>;
  };
  readonly Label?: string;
  readonly MaxConcurrency?: number;
  readonly ToleratedFailurePercentage?: number;
  readonly ItemReader?: unknown;
  readonly ItemsPath?: string;
  readonly Catch?: { ErrorEquals: string[]; Next: string }[];
  readonly Next?: string;
}

let prod: Synthesized;
const definition = JSON.parse(readFileSync(BASELINE_JOB_DEFINITION_FILE, 'utf8')) as {
  States: Record<string, AslState>;
};

beforeAll(() => {
  prod = synthesize({ env: 'prod' });
});

afterAll(() => prod?.dispose());

const asArray = <T>(value: T | T[] | undefined): T[] =>
  value === undefined ? [] : Array.isArray(value) ? value : [value];
const id = (construct: IConstruct) => prod.logicalId(construct);
const job = () => prod.stack.baselineJob;
const machine = () => prod.resources[id(job().stateMachine)].Properties;

/** CloudFormation intrinsics as readable text: `${Logical.Attr}`, `${Ref}`, joins flattened. */
function render(value: unknown): string {
  if (typeof value === 'string') return value;
  const object = value as Record<string, unknown>;
  if ('Ref' in object) return `\${${object.Ref}}`;
  if ('Fn::GetAtt' in object) return `\${${(object['Fn::GetAtt'] as string[]).join('.')}}`;
  if ('Fn::Join' in object) {
    const [separator, parts] = object['Fn::Join'] as [string, unknown[]];
    return parts.map(render).join(separator);
  }
  return JSON.stringify(value);
}

/** (action, resource) pairs a role is allowed by its inline policies and the policies attached to it. */
function grantsOf(role: IConstruct): { action: string; resource: string }[] {
  const roleId = id(role);
  const grants: { action: string; resource: string }[] = [];
  for (const [owner, resource] of Object.entries(prod.resources)) {
    const documents: unknown[] = [];
    if (resource.Type === 'AWS::IAM::Policy' && JSON.stringify(resource.Properties.Roles).includes(`"${roleId}"`)) {
      documents.push(resource.Properties.PolicyDocument);
    }
    if (owner === roleId) {
      for (const policy of asArray(resource.Properties.Policies as { PolicyDocument: unknown }[])) {
        documents.push(policy.PolicyDocument);
      }
    }
    for (const document of documents) {
      for (const statement of asArray((document as { Statement: Statement | Statement[] }).Statement)) {
        if (statement.Effect !== 'Allow') continue;
        for (const action of asArray(statement.Action)) {
          for (const target of asArray(statement.Resource)) grants.push({ action, resource: render(target) });
        }
      }
    }
  }
  return grants;
}

/** Every state, those of Map item processors included. */
const allStates = (states: Record<string, AslState>): AslState[] =>
  Object.values(states).flatMap((state) => [
    state,
    ...(state.ItemProcessor ? allStates(state.ItemProcessor.States) : []),
  ]);

const placeholderOf = (value: unknown) => /^\$\{(\w+)\}$/.exec(String(value))?.[1] as string;
const notLogsOrTracing = (action: string) => !action.startsWith('logs:') && !action.startsWith('xray:');

describe('baseline job workflow', () => {
  test('is a Standard state machine from the ASL file, with every placeholder substituted', () => {
    const properties = machine();
    expect(properties.StateMachineType).toBe('STANDARD');
    expect(properties.DefinitionString).toBeUndefined();
    const location = properties.DefinitionS3Location as { Key: string };
    const deployed = readFileSync(join(prod.assembly.directory, `asset.${location.Key}`), 'utf8');
    expect(deployed).toBe(readFileSync(BASELINE_JOB_DEFINITION_FILE, 'utf8'));

    const substitutions = properties.DefinitionSubstitutions as Record<string, unknown>;
    expect(Object.keys(substitutions).sort()).toEqual(aslPlaceholders(deployed));
    expect(aslPlaceholders(deployed)).toEqual([
      'LearnBaselineShardFunctionArn',
      'PlanBaselineShardsFunctionArn',
      'PublishBaselinesFunctionArn',
    ]);
    const rendered = deployed.replace(/\$\{(\w+)\}/g, (whole, name: string) => (name in substitutions ? '' : whole));
    expect(rendered).not.toMatch(/\$\{/);
    expect(JSON.stringify(substitutions)).not.toMatch(/\$\{/);
  });

  test('learns shards in a Distributed Map of Standard children, bounded in concurrency and tolerated failures', () => {
    const maps = allStates(definition.States).filter((state) => state.Type === 'Map');
    expect(maps).toHaveLength(1);
    const [learnShards] = maps;
    expect(learnShards.ItemProcessor?.ProcessorConfig).toEqual({ Mode: 'DISTRIBUTED', ExecutionType: 'STANDARD' });
    expect(learnShards.Label).toBe(LEARN_SHARDS_LABEL);
    expect(learnShards.MaxConcurrency).toBe(40);
    // PublishVersion applies the same threshold to the completion markers (TOLERATED_FAILED_SHARD_PERCENT).
    expect(learnShards.ToleratedFailurePercentage).toBe(TOLERATED_FAILED_SHARD_PERCENT);
    // Shards are described in about 100 bytes each, so they travel inline: no S3 manifest to read or grant.
    expect(learnShards.ItemsPath).toBe('$.plan.shards');
    expect(learnShards.ItemReader).toBeUndefined();
  });

  test('every failure path keeps the previous baselines and ends in a Fail state', () => {
    const { States } = definition;
    for (const name of ['PlanShards', 'LearnShards', 'PublishVersion']) {
      expect(States[name].Catch).toEqual([expect.objectContaining({ ErrorEquals: ['States.ALL'] })]);
      expect(States[name].Catch?.[0].Next).toBe('KeepPreviousBaselines');
    }
    expect(States.KeepPreviousBaselines.Next).toBe('BaselineJobFailed');
    expect(States.BaselineJobFailed.Type).toBe('Fail');
  });

  test('its role may invoke exactly the three functions the definition invokes', () => {
    const substitutions = machine().DefinitionSubstitutions as Record<string, unknown>;
    const invoked = allStates(definition.States)
      .filter((state) => state.Resource === 'arn:aws:states:::lambda:invoke')
      .map((state) => render(substitutions[placeholderOf(state.Parameters?.FunctionName)]));
    expect(invoked).toEqual([
      `\${${id(job().planShards)}.Arn}`,
      `\${${id(job().learnShard)}.Arn}`,
      `\${${id(job().publishBaselines)}.Arn}`,
    ]);
    const grants = grantsOf(job().stateMachine.role);
    for (const functionArn of invoked) {
      expect(grants).toContainEqual({ action: 'lambda:InvokeFunction', resource: functionArn });
    }
    for (const grant of grants.filter((g) => g.action === 'lambda:InvokeFunction')) {
      // Each granted resource is one of the invoked functions or its version-qualified ARN.
      expect(invoked.some((arn) => grant.resource === arn || grant.resource === `${arn}:*`)).toBe(true);
    }
  });

  test('Distributed Map grants: start executions of itself, describe and stop only its own child executions', () => {
    const machineId = id(job().stateMachine);
    const grants = grantsOf(job().stateMachine.role).filter((grant) => grant.action.startsWith('states:'));
    // The stack's region is known at synth, so the partition resolves too.
    const children = `arn:aws:states:${prod.stack.region}:\${AWS::AccountId}:execution:\${${machineId}.Name}/${LEARN_SHARDS_LABEL}:*`;
    expect(grants.sort((a, b) => a.action.localeCompare(b.action))).toEqual([
      { action: 'states:DescribeExecution', resource: children },
      { action: 'states:StartExecution', resource: `\${${machineId}}` },
      { action: 'states:StopExecution', resource: children },
    ]);
    const actions = [...new Set(grantsOf(job().stateMachine.role).map((grant) => grant.action))];
    expect(actions.filter(notLogsOrTracing).sort()).toEqual([
      'lambda:InvokeFunction',
      'states:DescribeExecution',
      'states:StartExecution',
      'states:StopExecution',
    ]);
  });

  test('each function has least privilege: plan queries metrics, shards also write chunks, publish reads markers and swings the pointer', () => {
    const baselines = `\${${id(prod.stack.tables.baselines)}.Arn}`;
    const workspace = `arn:aws:aps:ap-northeast-1:\${AWS::AccountId}:workspace/ws-00000000-0000-0000-0000-000000000000`;
    const grants = (fn: { role?: IConstruct }) =>
      grantsOf(fn.role!)
        .filter((grant) => notLogsOrTracing(grant.action))
        .map((grant) => `${grant.action} ${grant.resource}`)
        .sort();
    expect(grants(job().planShards)).toEqual([`aps:QueryMetrics ${workspace}`]);
    expect(grants(job().learnShard)).toEqual(
      [`aps:QueryMetrics ${workspace}`, `dynamodb:BatchWriteItem ${baselines}`, `dynamodb:PutItem ${baselines}`].sort(),
    );
    expect(grants(job().publishBaselines)).toEqual([`dynamodb:PutItem ${baselines}`, `dynamodb:Query ${baselines}`]);
  });

  test('no statement of the job grants a wildcard action', () => {
    const roles = [
      job().stateMachine.role,
      job().planShards.role!,
      job().learnShard.role!,
      job().publishBaselines.role!,
    ];
    for (const role of roles) {
      const grants = grantsOf(role);
      expect(grants.length).toBeGreaterThan(0);
      for (const { action } of grants)
        expect({ action, wildcard: action.includes('*') }).toEqual({ action, wildcard: false });
    }
  });

  test('a shard runs well inside Lambda limits: one vCPU, five minutes', () => {
    const shard = prod.resources[id(job().learnShard)].Properties;
    expect(shard.MemorySize).toBe(1769);
    expect(shard.Timeout).toBe(300);
    expect(shard.Architectures).toEqual(['arm64']);
    expect(machine().StateMachineType).toBe('STANDARD');
  });

  test('starts at 03:00 UTC every day, with a dead-letter queue for undelivered events', () => {
    prod.template.hasResourceProperties('AWS::Events::Rule', {
      ScheduleExpression: 'cron(0 3 * * ? *)',
      State: 'ENABLED',
      Targets: [
        Match.objectLike({
          Arn: { Ref: id(job().stateMachine) },
          DeadLetterConfig: { Arn: { 'Fn::GetAtt': [id(job().undeliveredRuns), 'Arn'] } },
          RetryPolicy: { MaximumEventAgeInSeconds: 3600, MaximumRetryAttempts: 2 },
        }),
      ],
    });
  });

  test('logs failures with their input to its own vended log group, kept as the config says', () => {
    const logging = machine().LoggingConfiguration as {
      Level: string;
      IncludeExecutionData: boolean;
      Destinations: { CloudWatchLogsLogGroup: { LogGroupArn: unknown } }[];
    };
    expect(logging).toMatchObject({ Level: 'ERROR', IncludeExecutionData: true });
    const logGroupId = (logging.Destinations[0].CloudWatchLogsLogGroup.LogGroupArn as { 'Fn::GetAtt': string[] })[
      'Fn::GetAtt'
    ][0];
    expect(prod.resources[logGroupId].Properties).toMatchObject({
      LogGroupName: '/aws/vendedlogs/states/SreAgent-prod-baseline-job',
      RetentionInDays: 90,
    });
    expect(prod.resources[logGroupId].DeletionPolicy).toBe('Retain');
  });
});
