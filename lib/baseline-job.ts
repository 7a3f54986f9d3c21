// The daily baseline job: learns every series' seasonal baseline from the metric source's history and
// publishes it for the scorer. Exposes its function and rule so a sharded version can take the rule over.

import { Duration, type RemovalPolicy } from 'aws-cdk-lib';
import type { ITable } from 'aws-cdk-lib/aws-dynamodb';
import { Rule, Schedule } from 'aws-cdk-lib/aws-events';
import { LambdaFunction } from 'aws-cdk-lib/aws-events-targets';
import { Construct } from 'constructs';
import type { LoadedConfig } from '../lambdas/adapters/config-files';
import { AgentFunction, type LogLevel } from './agent-function';
import { metricSourceStatements } from './metric-source-access';

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
   * Memory in MB: STL over weeks of history for every series is CPU-bound, and 1769 MB is one full vCPU.
   * @default 1769
   */
  readonly memorySize?: number;
  /**
   * @default Duration.minutes(15) (the Lambda maximum)
   */
  readonly timeout?: Duration;
  /**
   * Powertools log level.
   * @default 'INFO'
   */
  readonly logLevel?: LogLevel;
  /**
   * What happens to the log group when it leaves the stack.
   * @default RemovalPolicy.RETAIN
   */
  readonly logRemovalPolicy?: RemovalPolicy;
}

export class BaselineJob extends Construct {
  readonly learnBaselines: AgentFunction;
  readonly schedule: Rule;

  constructor(scope: Construct, id: string, props: BaselineJobProps) {
    super(scope, id);
    const { agent } = props;

    this.learnBaselines = new AgentFunction(this, 'LearnBaselines', {
      agent,
      handler: 'learn-baselines',
      description: 'Daily: learns seasonal baselines from metric history and publishes a new version',
      memorySize: props.memorySize ?? 1769,
      timeout: props.timeout ?? Duration.minutes(15),
      logLevel: props.logLevel,
      logRemovalPolicy: props.logRemovalPolicy,
      // One retry covers a transient failure; more would stack 15-minute runs for a job that is due daily.
      retryAttempts: 1,
    });
    this.learnBaselines.bindTable('BASELINES_TABLE', props.baselines, { actions: ['BatchWriteItem', 'PutItem'] });
    for (const statement of metricSourceStatements(this, agent.config.metricSource, agent.files.config)) {
      this.learnBaselines.addToRolePolicy(statement);
    }

    this.schedule = new Rule(this, 'Schedule', {
      description: 'Learns baselines once a day',
      schedule: props.schedule ?? Schedule.cron({ minute: '0', hour: '3' }),
      targets: [new LambdaFunction(this.learnBaselines, { retryAttempts: 2, maxEventAge: Duration.hours(1) })],
    });
  }
}
