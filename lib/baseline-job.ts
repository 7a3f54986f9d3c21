// The daily baseline job: a Standard workflow that plans shards of series, learns them in a Distributed Map
// and publishes the new version only if enough shards completed, so 100,000 series finish in minutes with
// every Lambda far inside its limits. A failed run keeps the previous baselines current.

import { join } from 'node:path';
import { ArnFormat, Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import type { ITable } from 'aws-cdk-lib/aws-dynamodb';
import { Rule, Schedule } from 'aws-cdk-lib/aws-events';
import { SfnStateMachine } from 'aws-cdk-lib/aws-events-targets';
import { Policy, PolicyStatement } from 'aws-cdk-lib/aws-iam';
import { LogGroup } from 'aws-cdk-lib/aws-logs';
import { LogLevel, StateMachine, StateMachineType } from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import type { LoadedConfig } from '../lambdas/adapters/config-files';
import { AgentFunction, type LogLevel as FunctionLogLevel, PROJECT_ROOT, retentionOf } from './agent-function';
import { aslDefinition } from './asl-definition';
import { DeadLetterQueue } from './dead-letter-queue';
import { metricSourceStatements } from './metric-source-access';

export const BASELINE_JOB_DEFINITION_FILE = join(PROJECT_ROOT, 'state-machines', 'baseline-job.asl.json');
/**
 * `Label` of the LearnShards Distributed Map in the ASL file. Its child executions are named
 * `<state machine>/<label>:<id>`, which is what the grants on child executions are scoped to.
 */
export const LEARN_SHARDS_LABEL = 'LearnShards';

export interface BaselineJobProps {
  /** Validated configuration of the environment. */
  readonly agent: LoadedConfig;
  /** Table the baselines are published to. */
  readonly baselines: ITable;
  /**
   * When the job runs (UTC).
   * @default 03:00 UTC every day, `cron(0 3 * * ? *)`
   */
  readonly schedule?: Schedule;
  /**
   * Memory in MB of the shard learner: STL is CPU-bound, and 1769 MB is one full vCPU.
   * @default 1769
   */
  readonly memorySize?: number;
  /**
   * Timeout of the shard learner. A shard of 1,000 series takes about a minute; five give room for a slow
   * metric source without letting a stuck shard hold the run for Lambda's full 15.
   * @default Duration.minutes(5)
   */
  readonly timeout?: Duration;
  /**
   * Powertools log level of the functions.
   * @default 'INFO'
   */
  readonly logLevel?: FunctionLogLevel;
  /**
   * What happens to the log groups when they leave the stack.
   * @default RemovalPolicy.RETAIN
   */
  readonly logRemovalPolicy?: RemovalPolicy;
}

export class BaselineJob extends Construct {
  /** PlanShards: counts the series and splits them into shards. */
  readonly planShards: AgentFunction;
  /** LearnShard: one Distributed Map item, learns and writes one shard. */
  readonly learnShard: AgentFunction;
  /** PublishVersion: swings the pointer to the new version if enough shards completed. */
  readonly publishBaselines: AgentFunction;
  readonly stateMachine: StateMachine;
  /** Schedule events EventBridge could not deliver to the workflow. */
  readonly undeliveredRuns: DeadLetterQueue;
  readonly schedule: Rule;

  constructor(scope: Construct, id: string, props: BaselineJobProps) {
    super(scope, id);
    const { agent } = props;
    const logRemovalPolicy = props.logRemovalPolicy ?? RemovalPolicy.RETAIN;
    const common = { agent, logLevel: props.logLevel, logRemovalPolicy };
    const metricSourceAccess = (fn: AgentFunction) => {
      for (const statement of metricSourceStatements(this, agent.config.metricSource, agent.files.config)) {
        fn.addToRolePolicy(statement);
      }
    };

    // One instant query per signal, as a tick makes: parsing 100,000 samples needs neither much memory nor time.
    this.planShards = new AgentFunction(this, 'PlanShards', {
      ...common,
      handler: 'plan-baseline-shards',
      description: 'Daily baselines: counts the series to learn and splits them into shards',
      memorySize: 1024,
      timeout: Duration.minutes(2),
    });
    metricSourceAccess(this.planShards);

    this.learnShard = new AgentFunction(this, 'LearnShard', {
      ...common,
      handler: 'learn-baseline-shard',
      description: "Daily baselines: learns one shard's series with STL and writes them under the new version",
      memorySize: props.memorySize ?? 1769,
      timeout: props.timeout ?? Duration.minutes(5),
    });
    metricSourceAccess(this.learnShard);
    this.learnShard.bindTable('BASELINES_TABLE', props.baselines, { actions: ['BatchWriteItem', 'PutItem'] });

    this.publishBaselines = new AgentFunction(this, 'PublishBaselines', {
      ...common,
      handler: 'publish-baselines',
      description: 'Daily baselines: publishes the new version if enough shards completed',
      timeout: Duration.seconds(30),
    });
    // Query reads the shards' completion markers; PutItem swings the pointer.
    this.publishBaselines.bindTable('BASELINES_TABLE', props.baselines, { actions: ['Query', 'PutItem'] });

    const executionLogs = new LogGroup(this, 'ExecutionLogs', {
      // The vendedlogs prefix keeps Step Functions from adding to the account's size-limited Logs resource policy.
      logGroupName: `/aws/vendedlogs/states/${Stack.of(this).stackName}-baseline-job`,
      retention: retentionOf(agent.config),
      removalPolicy: logRemovalPolicy,
    });

    this.stateMachine = new StateMachine(this, 'StateMachine', {
      comment: 'Daily baselines: plan shards, learn them in a Distributed Map, publish if enough completed',
      // Standard: a run lasts minutes, keeps its history (and each shard's) for 90 days, and costs a few hundred
      // state transitions a day.
      stateMachineType: StateMachineType.STANDARD,
      ...aslDefinition(BASELINE_JOB_DEFINITION_FILE, {
        PlanBaselineShardsFunctionArn: this.planShards.functionArn,
        LearnBaselineShardFunctionArn: this.learnShard.functionArn,
        PublishBaselinesFunctionArn: this.publishBaselines.functionArn,
      }),
      // The execution history already shows every state; the log keeps the failures with their input.
      logs: { destination: executionLogs, level: LogLevel.ERROR, includeExecutionData: true },
      tracingEnabled: true,
      // About five minutes is normal; an hour means something is stuck, and tomorrow's run should not overlap.
      timeout: Duration.hours(1),
    });

    // CDK derives no permissions from an ASL file: the role gets exactly what the definition calls.
    for (const fn of [this.planShards, this.learnShard, this.publishBaselines]) fn.grantInvoke(this.stateMachine);
    // The Distributed Map starts its child executions as executions of this state machine and watches them.
    // A separate policy: in the role's default policy the state machine's own ARN would be a circular reference.
    const stack = Stack.of(this);
    const childExecutions = stack.formatArn({
      service: 'states',
      resource: 'execution',
      resourceName: `${this.stateMachine.stateMachineName}/${LEARN_SHARDS_LABEL}:*`,
      arnFormat: ArnFormat.COLON_RESOURCE_NAME,
    });
    new Policy(this, 'DistributedMapPolicy', {
      roles: [this.stateMachine.role],
      statements: [
        new PolicyStatement({ actions: ['states:StartExecution'], resources: [this.stateMachine.stateMachineArn] }),
        new PolicyStatement({
          actions: ['states:DescribeExecution', 'states:StopExecution'],
          resources: [childExecutions],
        }),
      ],
    });

    this.undeliveredRuns = new DeadLetterQueue(this, 'UndeliveredRuns');
    this.schedule = new Rule(this, 'Schedule', {
      description: 'Starts the daily baseline job',
      schedule: props.schedule ?? Schedule.cron({ minute: '0', hour: '3' }),
      targets: [
        new SfnStateMachine(this.stateMachine, {
          deadLetterQueue: this.undeliveredRuns,
          // A run that starts within the hour still finishes long before the scorer notices; later, someone
          // should look at the dead-letter queue and start it by hand.
          maxEventAge: Duration.hours(1),
          retryAttempts: 2,
        }),
      ],
    });
  }
}
