// One environment of the agent: storage, the detection loop and the baseline job.

import { CfnOutput, RemovalPolicy, Stack, type StackProps } from 'aws-cdk-lib';
import type { Construct } from 'constructs';
import type { LoadedConfig } from '../lambdas/adapters/config-files';
import { AgentTables } from './agent-tables';
import { BaselineJob } from './baseline-job';
import { DetectionLoop } from './detection-loop';
import { WorkBucket } from './work-bucket';

export interface SreAgentStackProps extends StackProps {
  /** Validated configuration of the environment (`config/<env>.yaml` and its signal catalog). */
  readonly agent: LoadedConfig;
}

export class SreAgentStack extends Stack {
  readonly tables: AgentTables;
  readonly workBucket: WorkBucket;
  readonly detectionLoop: DetectionLoop;
  readonly baselineJob: BaselineJob;

  constructor(scope: Construct, id: string, props: SreAgentStackProps) {
    super(scope, id, props);
    const { agent } = props;
    // Only dev may lose its data with the stack; everywhere else tables, bucket and logs outlive it.
    const protectData = agent.config.environment !== 'dev';
    const removalPolicy = protectData ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY;

    this.tables = new AgentTables(this, 'Tables', { protectData });
    this.workBucket = new WorkBucket(this, 'WorkBucket', { removalPolicy });
    this.detectionLoop = new DetectionLoop(this, 'DetectionLoop', {
      agent,
      tables: this.tables,
      bucket: this.workBucket,
      logRemovalPolicy: removalPolicy,
    });
    this.baselineJob = new BaselineJob(this, 'BaselineJob', {
      agent,
      baselines: this.tables.baselines,
      logRemovalPolicy: removalPolicy,
    });

    const output = (id: string, value: string, description: string) => new CfnOutput(this, id, { value, description });
    output('TickStateMachineArn', this.detectionLoop.stateMachine.stateMachineArn, 'Tick workflow (Express)');
    output('IncidentsTableName', this.tables.incidents.tableName, 'Incidents, open ones on index open-incidents');
    output('BaselinesTableName', this.tables.baselines.tableName, 'Published baselines and the current pointer');
    output('ScorerStateTableName', this.tables.scorerState.tableName, 'Scorer commit pointers');
    output('WorkBucketName', this.workBucket.bucketName, 'Tick snapshots and scorer state');
    output('FailedTicksQueueUrl', this.detectionLoop.failedTicks.queueUrl, 'Ticks the workflow could not complete');
    output(
      'UndeliveredTicksQueueUrl',
      this.detectionLoop.undeliveredTicks.queueUrl,
      'Schedule events EventBridge could not deliver',
    );
  }
}
