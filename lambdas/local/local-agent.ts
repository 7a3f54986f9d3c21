// The agent wired for one process: dynalite for DynamoDB, memory for S3, the real tick ASL executed by
// aws-local-stepfunctions, and whatever MetricSource the caller brings (a scenario or a live Prometheus).

import { MemoryBlobStore } from '../adapters/blob/blob-store';
import { BlobSnapshotStore } from '../adapters/blob/snapshot-store';
import { DynamoBaselineStore } from '../adapters/dynamodb/baseline-store';
import { DynamoIncidentStore } from '../adapters/dynamodb/incident-store';
import { DynamoScorerStateStore } from '../adapters/dynamodb/scorer-state-store';
import { type LearnOutcome, learnBaselines } from '../core/cognition/learn';
import { scorerSettings } from '../core/cognition/scorer';
import type { DetectionConfig, SignalCatalog, Topology } from '../core/config/schema';
import type { MetricSource } from '../core/perception/metric-source';
import { type CollectSummary, collectMetricsStep, type ScoreInput, scoreStep, type TickInput } from '../core/pipeline';
import { ScoringSession, type TickOutcome } from '../core/tick';
import { ServiceGraph } from '../core/topology';
import { type LocalDynamo, startLocalDynamo } from './local-dynamodb';
import { asLambdaInvoke, LocalStateMachine, loadDefinition } from './local-state-machine';

export interface LocalAgentOptions {
  readonly source: MetricSource;
  readonly catalog: SignalCatalog;
  readonly topology: Topology;
  readonly detection: DetectionConfig;
}

/** The tick workflow's answer, as `TickComplete` or `TickFailed` leave it. */
export interface LocalTickResult {
  readonly outcome?: TickOutcome;
  readonly failed?: { readonly error: string; readonly cause: string };
}

const LOCAL_ARN = (name: string) => `arn:aws:lambda:us-east-1:000000000000:function:sre-agent-local-${name}`;

export class LocalAgent {
  readonly deadLetters: unknown[] = [];
  private lastOutcome?: TickOutcome;

  private constructor(
    private readonly options: LocalAgentOptions,
    readonly dynamo: LocalDynamo,
    readonly blobs: MemoryBlobStore,
    readonly incidents: DynamoIncidentStore,
    private readonly baselines: DynamoBaselineStore,
    private readonly tickMachine: LocalStateMachine,
  ) {}

  static async start(options: LocalAgentOptions): Promise<LocalAgent> {
    const dynamo = await startLocalDynamo();
    const blobs = new MemoryBlobStore();
    const incidents = new DynamoIncidentStore(dynamo.client, dynamo.tables.incidents);
    const baselines = new DynamoBaselineStore(dynamo.client, dynamo.tables.baselines);
    const state = new DynamoScorerStateStore(dynamo.client, dynamo.tables.scorerState, blobs);
    const session = new ScoringSession(
      {
        catalog: options.catalog,
        detection: options.detection,
        graph: new ServiceGraph(options.topology),
        baselines,
        state,
        incidents,
      },
      scorerSettings(options.detection),
    );
    const snapshots = new BlobSnapshotStore(blobs, 'metrics');
    let agent: LocalAgent | undefined;
    const definition = loadDefinition('tick.asl.json', {
      CollectMetricsFunctionArn: LOCAL_ARN('collect-metrics'),
      ScoreTickFunctionArn: LOCAL_ARN('score-tick'),
      FailedTicksQueueUrl: 'https://sqs.us-east-1.amazonaws.com/000000000000/sre-agent-local-failed-ticks',
    });
    const machine = new LocalStateMachine(definition, {
      CollectMetrics: asLambdaInvoke(
        (input: TickInput): Promise<CollectSummary> =>
          collectMetricsStep(input, { source: options.source, catalog: options.catalog, snapshots }),
      ),
      ScoreAndCorrelate: asLambdaInvoke(async (input: ScoreInput) => {
        const { summary, outcome } = await scoreStep(input, { session, snapshots });
        if (agent) agent.lastOutcome = outcome;
        return summary;
      }),
      SendToDeadLetterQueue: async (input) => {
        agent?.deadLetters.push((input as { MessageBody: unknown }).MessageBody);
        return { MessageId: `local-${agent?.deadLetters.length ?? 0}` };
      },
    });
    agent = new LocalAgent(options, dynamo, blobs, incidents, baselines, machine);
    return agent;
  }

  /** The daily job: learn every series' baseline from the history before `until` and publish it. */
  async learn(until: number, historyDays = this.options.detection.historyDays): Promise<LearnOutcome> {
    const outcome = await learnBaselines(
      this.options.source,
      this.options.catalog,
      this.options.detection,
      until,
      60,
      historyDays,
    );
    await this.baselines.publish(new Date(until * 1000).toISOString(), outcome.baselines);
    return outcome;
  }

  /** Runs the tick workflow for the scheduled time `time` (epoch seconds), as EventBridge would start it. */
  async tick(time: number): Promise<LocalTickResult> {
    this.lastOutcome = undefined;
    const iso = new Date(time * 1000).toISOString().replace('.000Z', 'Z');
    try {
      await this.tickMachine.run({
        version: '0',
        id: `local-${time}`,
        'detail-type': 'Scheduled Event',
        source: 'aws.events',
        time: iso,
        region: 'local',
        resources: [],
        detail: {},
      });
      return { outcome: this.lastOutcome };
    } catch (error) {
      // aws-local-stepfunctions wraps the Fail state's error (its name is the state's `Error`) in ExecutionError.
      const wrapped = error as Error & { cause?: unknown };
      const failure = wrapped.cause instanceof Error ? wrapped.cause : wrapped;
      return { failed: { error: failure.name, cause: failure.message } };
    }
  }

  async stop(): Promise<void> {
    await this.dynamo.close();
  }
}
