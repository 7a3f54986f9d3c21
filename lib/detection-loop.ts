// The 60-second detection loop: EventBridge starts the tick workflow, which collects metrics, scores them
// against their baselines and keeps incidents up to date; a failed tick lands in a dead-letter queue.

import { join } from 'node:path';
import { Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import { Rule, Schedule } from 'aws-cdk-lib/aws-events';
import { SfnStateMachine } from 'aws-cdk-lib/aws-events-targets';
import { PolicyStatement } from 'aws-cdk-lib/aws-iam';
import { LogGroup } from 'aws-cdk-lib/aws-logs';
import { type IStateMachine, LogLevel, StateMachine, StateMachineType } from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import type { LoadedConfig } from '../lambdas/adapters/config-files';
import { TABLES } from '../lambdas/adapters/dynamodb/table-definitions';
import { AgentFunction, type LogLevel as FunctionLogLevel, PROJECT_ROOT, retentionOf } from './agent-function';
import type { AgentTables } from './agent-tables';
import { aslDefinition } from './asl-definition';
import { DeadLetterQueue } from './dead-letter-queue';
import { metricSourceStatements } from './metric-source-access';
import { WorkBucket } from './work-bucket';

export const TICK_DEFINITION_FILE = join(PROJECT_ROOT, 'state-machines', 'tick.asl.json');

export interface DetectionLoopProps {
  /** Validated configuration of the environment. */
  readonly agent: LoadedConfig;
  readonly tables: AgentTables;
  readonly bucket: WorkBucket;
  /** The incident workflow the tick starts once per new incident. */
  readonly incidentWorkflow: IStateMachine;
  /**
   * Time between ticks.
   * @default Duration.minutes(1)
   */
  readonly tickInterval?: Duration;
  /**
   * Deploy with the schedule switched off (the workflow can still be started by hand).
   * @default true
   */
  readonly scheduleEnabled?: boolean;
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

export class DetectionLoop extends Construct {
  readonly collectMetrics: AgentFunction;
  readonly scoreTick: AgentFunction;
  readonly stateMachine: StateMachine;
  /** Ticks the workflow could not complete, with their error (state SendToDeadLetterQueue). */
  readonly failedTicks: DeadLetterQueue;
  /** Schedule events EventBridge could not deliver to the workflow. */
  readonly undeliveredTicks: DeadLetterQueue;
  readonly schedule: Rule;

  constructor(scope: Construct, id: string, props: DetectionLoopProps) {
    super(scope, id);
    const { agent, tables, bucket } = props;
    const logRemovalPolicy = props.logRemovalPolicy ?? RemovalPolicy.RETAIN;
    const common = { agent, logLevel: props.logLevel, logRemovalPolicy };

    // Each tick is due 60 s after the previous one: both steps must be done well before then, query retries included.
    this.collectMetrics = new AgentFunction(this, 'CollectMetrics', {
      ...common,
      handler: 'collect-metrics',
      description: 'Detection tick: queries every catalog signal and writes the snapshot to the work bucket',
      timeout: Duration.seconds(45),
    });
    this.collectMetrics.bindBucket('WORK_BUCKET', bucket, { write: [WorkBucket.TICKS_PREFIX] });
    for (const statement of metricSourceStatements(this, agent.config.metricSource, agent.files.config)) {
      this.collectMetrics.addToRolePolicy(statement);
    }

    this.scoreTick = new AgentFunction(this, 'ScoreTick', {
      ...common,
      handler: 'score-tick',
      description: 'Detection tick: scores the snapshot against baselines and opens, updates or resolves incidents',
      // Scoring is CPU-bound over typed arrays of every series; memory buys the CPU.
      memorySize: 1024,
      timeout: Duration.seconds(45),
    });
    this.scoreTick
      .bindBucket('WORK_BUCKET', bucket, {
        read: [WorkBucket.TICKS_PREFIX, WorkBucket.SCORER_STATE_PREFIX],
        write: [WorkBucket.SCORER_STATE_PREFIX],
      })
      .bindTable('BASELINES_TABLE', tables.baselines, { actions: ['GetItem', 'Query'] })
      .bindTable('SCORER_STATE_TABLE', tables.scorerState, { actions: ['GetItem', 'PutItem'] })
      .bindTable('INCIDENTS_TABLE', tables.incidents, {
        actions: ['GetItem', 'PutItem'],
        queryIndexes: TABLES.incidents.indexes.map((index) => index.name),
      });

    this.failedTicks = new DeadLetterQueue(this, 'FailedTicks');
    this.undeliveredTicks = new DeadLetterQueue(this, 'UndeliveredTicks');

    const executionLogs = new LogGroup(this, 'TickExecutionLogs', {
      // The vendedlogs prefix keeps Step Functions from adding to the account's size-limited Logs resource policy.
      logGroupName: `/aws/vendedlogs/states/${Stack.of(this).stackName}-tick`,
      retention: retentionOf(agent.config),
      removalPolicy: logRemovalPolicy,
    });

    this.stateMachine = new StateMachine(this, 'TickStateMachine', {
      comment: 'One detection tick: collect, score and correlate',
      stateMachineType: StateMachineType.EXPRESS,
      ...aslDefinition(TICK_DEFINITION_FILE, {
        CollectMetricsFunctionArn: this.collectMetrics.functionArn,
        ScoreTickFunctionArn: this.scoreTick.functionArn,
        FailedTicksQueueUrl: this.failedTicks.queueUrl,
        IncidentStateMachineArn: props.incidentWorkflow.stateMachineArn,
      }),
      // Express executions have no history of their own: ALL gives every tick's state transitions in the
      // console; payloads stay out (they hold object keys and summaries, and a failed tick's error is kept
      // whole in the dead-letter queue anyway).
      logs: { destination: executionLogs, level: LogLevel.ALL, includeExecutionData: false },
      tracingEnabled: true,
    });
    // CDK derives no permissions from an ASL file: the role gets exactly what the definition calls.
    this.collectMetrics.grantInvoke(this.stateMachine);
    this.scoreTick.grantInvoke(this.stateMachine);
    this.stateMachine.addToRolePolicy(
      new PolicyStatement({ actions: ['sqs:SendMessage'], resources: [this.failedTicks.queueArn] }),
    );
    props.incidentWorkflow.grantStartExecution(this.stateMachine);

    this.schedule = new Rule(this, 'TickSchedule', {
      description: 'Starts one detection tick',
      schedule: Schedule.rate(props.tickInterval ?? Duration.minutes(1)),
      enabled: props.scheduleEnabled ?? true,
      targets: [
        new SfnStateMachine(this.stateMachine, {
          deadLetterQueue: this.undeliveredTicks,
          // A tick that could not start within two minutes is stale: the next ones cover its data.
          maxEventAge: Duration.minutes(2),
          retryAttempts: 2,
        }),
      ],
    });
  }
}
