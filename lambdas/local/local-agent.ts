// The agent wired for one process: dynalite for DynamoDB, memory for S3, the real tick and incident ASL
// executed by aws-local-stepfunctions, a simulated cluster and simulated approvers, and whatever
// MetricSource the caller brings (a scenario or a live Prometheus). Incident workflows run beside the ticks,
// as executions do on AWS: one waiting for recovery sees the ticks that follow.

import { MemoryBlobStore } from '../adapters/blob/blob-store';
import { BlobSnapshotStore } from '../adapters/blob/snapshot-store';
import { defaultPlaybooks } from '../adapters/config-files';
import { DynamoActionLedger } from '../adapters/dynamodb/action-ledger';
import { DynamoAuditLog } from '../adapters/dynamodb/audit-log';
import { DynamoBaselineStore } from '../adapters/dynamodb/baseline-store';
import { DynamoDecisionStore } from '../adapters/dynamodb/decision-store';
import { DynamoIncidentStore } from '../adapters/dynamodb/incident-store';
import { DynamoScorerStateStore } from '../adapters/dynamodb/scorer-state-store';
import { DynamoSnapshotStore } from '../adapters/dynamodb/snapshot-store';
import { auditStep } from '../core/action/audit-steps';
import { remediate, undoRemediation, verifyRecovery } from '../core/action/remediate';
import type { DeployRecord } from '../core/cognition/classify';
import type { KubeStateReader } from '../core/cognition/kube-findings';
import { type LearnOutcome, learnBaselines } from '../core/cognition/learn';
import { scorerSettings } from '../core/cognition/scorer';
import type { DetectionConfig, SignalCatalog, Topology } from '../core/config/schema';
import { type DenyRule, denyListFrom, inChangeFreeze } from '../core/decision/guardrails';
import type { IncidentCase } from '../core/decision/incident-case';
import type { Playbooks } from '../core/decision/plan';
import { type CaseInput, decideStep } from '../core/decision/steps';
import type { Tier } from '../core/decision/types';
import type { CaseKnowledge } from '../core/diagnosis/case-knowledge';
import type { LogSource } from '../core/perception/log-source';
import type { MetricSource } from '../core/perception/metric-source';
import { type CollectSummary, collectMetricsStep, type ScoreInput, scoreStep, type TickInput } from '../core/pipeline';
import { ScoringSession, type TickOutcome } from '../core/tick';
import { ServiceGraph } from '../core/topology';
import { type AgentClock, WallClock } from './agent-clock';
import { type LocalDynamo, startLocalDynamo } from './local-dynamodb';
import { asLambdaInvoke, LocalStateMachine, loadDefinition } from './local-state-machine';
import { RecordingNotifier } from './recording-notifier';
import { type ApproverMode, simulatedApproval } from './simulated-approvers';
import { SimulatedCluster, type WorldEffects } from './simulated-cluster';

export interface LocalAgentOptions {
  readonly source: MetricSource;
  readonly catalog: SignalCatalog;
  readonly topology: Topology;
  readonly detection: DetectionConfig;
  /** Deploy events the diagnosis may correlate with (a scenario's deploys.jsonl). */
  readonly deploys?: readonly DeployRecord[];
  /** How the simulated approvers answer approval requests (default approve). */
  readonly approvers?: ApproverMode;
  /** Deny rules added to the built-in ones (config `guardrails.denyList`). */
  readonly denyList?: readonly DenyRule[];
  /** Change freezes (config `guardrails.changeFreezes`). */
  readonly changeFreezes?: readonly { readonly start: string; readonly end: string }[];
  /** The playbooks PlanRemediation follows (default: config/playbooks.yaml). */
  readonly playbooks?: Playbooks;
  /** Time for the rate limit, snapshots and recovery checks; the wall clock by default. */
  readonly clock?: AgentClock;
  /** The replayed world, told about every change so later ticks' metrics react to it. */
  readonly world?: WorldEffects;
  /** Error logs for diagnosis (a scenario's logs.jsonl, or Loki). */
  readonly logs?: LogSource;
  /** Kubernetes events and state for diagnosis (a scenario's k8s-events.json, or a cluster). */
  readonly kube?: KubeStateReader;
  /** Past cases and runbooks; closed cases are remembered in it. */
  readonly knowledge?: CaseKnowledge;
}

/** The tick workflow's answer, as `TickComplete` or `TickFailed` leave it. */
export interface LocalTickResult {
  readonly outcome?: TickOutcome;
  readonly failed?: { readonly error: string; readonly cause: string };
}

const LOCAL_ARN = (name: string) => `arn:aws:lambda:us-east-1:000000000000:function:sre-agent-local-${name}`;
const NOTICES = [
  'NotifyOutcome',
  'DiagnosisOnlyReport',
  'Page',
  'RecordRejection',
  'Escalate',
  'NotifyNoRecovery',
  'NotifyFailure',
] as const;

type Handler = (input: unknown) => Promise<unknown>;

export class LocalAgent {
  readonly deadLetters: unknown[] = [];
  readonly startedWorkflows = new Set<string>();
  /** Incident workflows that ended in their Fail state, with the error. */
  readonly failedWorkflows: { readonly incidentId: string; readonly error: string; readonly cause: string }[] = [];
  /** Task states the incident workflows ran, in order: the path each took. */
  readonly workflowTrace: string[] = [];
  /** Incident workflows still running (or waiting on the clock for their next recovery check). */
  private readonly running = new Set<Promise<unknown>>();
  private lastOutcome?: TickOutcome;
  private tickMachine?: LocalStateMachine;
  private incidentMachine?: LocalStateMachine;

  private constructor(
    private readonly options: LocalAgentOptions,
    readonly dynamo: LocalDynamo,
    readonly blobs: MemoryBlobStore,
    readonly incidents: DynamoIncidentStore,
    private readonly baselines: DynamoBaselineStore,
    readonly decisions: DynamoDecisionStore,
    readonly cluster: SimulatedCluster,
    readonly notifier: RecordingNotifier,
    readonly audit: DynamoAuditLog,
    readonly clock: AgentClock,
  ) {}

  static async start(options: LocalAgentOptions): Promise<LocalAgent> {
    const dynamo = await startLocalDynamo();
    const clock = options.clock ?? new WallClock();
    const agent = new LocalAgent(
      options,
      dynamo,
      new MemoryBlobStore(),
      new DynamoIncidentStore(dynamo.client, dynamo.tables.incidents),
      new DynamoBaselineStore(dynamo.client, dynamo.tables.baselines),
      new DynamoDecisionStore(dynamo.client, dynamo.tables.incidents),
      new SimulatedCluster(options.topology, clock, options.world),
      new RecordingNotifier(),
      new DynamoAuditLog(dynamo.client, dynamo.tables.audit, { now: () => new Date(clock.now()) }),
      clock,
    );
    agent.tickMachine = agent.buildTickMachine();
    agent.incidentMachine = agent.buildIncidentMachine();
    return agent;
  }

  private buildTickMachine(): LocalStateMachine {
    const { options, blobs, incidents, baselines, dynamo } = this;
    const session = new ScoringSession(
      {
        catalog: options.catalog,
        detection: options.detection,
        graph: new ServiceGraph(options.topology),
        baselines,
        state: new DynamoScorerStateStore(dynamo.client, dynamo.tables.scorerState, blobs),
        incidents,
      },
      scorerSettings(options.detection),
    );
    const snapshots = new BlobSnapshotStore(blobs, 'metrics');
    const definition = loadDefinition('tick.asl.json', {
      CollectMetricsFunctionArn: LOCAL_ARN('collect-metrics'),
      ScoreTickFunctionArn: LOCAL_ARN('score-tick'),
      FailedTicksQueueUrl: 'https://sqs.us-east-1.amazonaws.com/000000000000/sre-agent-local-failed-ticks',
      IncidentStateMachineArn: 'arn:aws:states:us-east-1:000000000000:stateMachine:sre-agent-local-incident',
    });
    return new LocalStateMachine(definition, {
      CollectMetrics: asLambdaInvoke(
        (input: TickInput): Promise<CollectSummary> =>
          collectMetricsStep(input, { source: options.source, catalog: options.catalog, snapshots }),
      ),
      ScoreAndCorrelate: asLambdaInvoke(async (input: ScoreInput) => {
        const { summary, outcome } = await scoreStep(input, { session, snapshots });
        this.lastOutcome = outcome;
        return summary;
      }),
      StartIncidentWorkflow: async (input) => {
        // Step Functions refuses a second execution with the same name; the local runtime does the same.
        const { Name } = input as { Name: string };
        if (this.startedWorkflows.has(Name)) {
          throw Object.assign(new Error(`Execution Already Exists: '${Name}'`), {
            name: 'StepFunctions.ExecutionAlreadyExistsException',
          });
        }
        this.startedWorkflows.add(Name);
        // As on AWS, starting an execution does not wait for it: the workflow may wait for recovery for
        // minutes while the following ticks run.
        const run = this.runIncidentWorkflow(Name);
        this.running.add(run);
        void run.finally(() => this.running.delete(run));
        return { ExecutionArn: `arn:aws:states:us-east-1:000000000000:execution:sre-agent-local-incident:${Name}` };
      },
      SendToDeadLetterQueue: async (input) => {
        this.deadLetters.push((input as { MessageBody: unknown }).MessageBody);
        return { MessageId: `local-${this.deadLetters.length}` };
      },
    });
  }

  private buildIncidentMachine(): LocalStateMachine {
    const { options, dynamo, incidents, decisions, cluster, notifier, clock } = this;
    const graph = new ServiceGraph(options.topology);
    const denyList = denyListFrom(options.denyList);
    const deploys = options.deploys ?? [];
    const decideDeps = {
      graph,
      topology: options.topology,
      now: () => clock.now(),
      ...(options.logs ? { logs: options.logs } : {}),
      ...(options.kube ? { kube: options.kube } : {}),
      ...(options.knowledge ? { knowledge: options.knowledge } : {}),
      incidents,
      decisions,
      denyList,
      deploysFor: async (service: string, fromMs: number, toMs: number) =>
        deploys.filter((d) => d.service === service && d.time >= fromMs && d.time <= toMs + 5 * 60_000),
      changeFreezeAt: inChangeFreeze(options.changeFreezes),
      playbooks: options.playbooks ?? defaultPlaybooks(),
    };
    const remediateDeps = {
      graph,
      denyList,
      cluster,
      ledger: new DynamoActionLedger(dynamo.client, dynamo.tables.actionLedger),
      snapshots: new DynamoSnapshotStore(dynamo.client, dynamo.tables.incidents),
      incidents,
      dryRun: true,
      now: () => clock.now(),
    };
    // The case is recorded after every remediation step, as the Lambda does, so it shows while verifying.
    const remediation = (run: (c: IncidentCase) => Promise<IncidentCase>) =>
      asLambdaInvoke(async (payload: { case: IncidentCase }) => {
        const result = await run(payload.case);
        await decisions.record(result);
        return result;
      });
    const decide = (step: string) =>
      asLambdaInvoke((payload: { case: CaseInput }) => decideStep(step, payload.case, decideDeps));
    // `.waitForTaskToken`: the state's result is what SendTaskSuccess sends, not the Lambda's answer.
    const approve: Handler = async (input) => {
      const { Payload } = input as { Payload: { decisionId: string; tier: Tier } };
      const at = new Date(clock.now()).toISOString();
      notifier.approvalRequested(Payload.decisionId, at);
      return simulatedApproval(options.approvers ?? 'approve', Payload, at);
    };
    const handlers: Record<string, Handler> = {
      Diagnose: decide('Diagnose'),
      PlanRemediation: decide('PlanRemediation'),
      AssessRisk: decide('AssessRisk'),
      CheckGuardrails: decide('CheckGuardrails'),
      Close: decide('Close'),
      RequestApproval: approve,
      RequestQuorumApproval: approve,
      // The approval message is edited, not posted anew: it counts as no notification.
      MarkApprovalTimedOut: asLambdaInvoke(async (payload: { decisionId: string; outcome: string }) => {
        notifier.approvalClosed(payload.decisionId, payload.outcome, new Date(clock.now()).toISOString());
        return { decisionId: payload.decisionId, status: payload.outcome, changed: true };
      }),
      CloseApprovalMessage: asLambdaInvoke(async (payload: { decisionId: string; outcome: string }) => {
        notifier.approvalClosed(payload.decisionId, payload.outcome, new Date(clock.now()).toISOString());
        return { decisionId: payload.decisionId, status: payload.outcome, changed: true };
      }),
      Remediate: remediation((c) => remediate(c, remediateDeps)),
      // The Wait state before a re-check takes no time here; the check itself waits for the simulated clock,
      // so in replay it runs after the tick of that minute.
      VerifyRecovery: remediation(async (c) => {
        if (c.verification?.nextCheckAt) await clock.until(Date.parse(c.verification.nextCheckAt));
        return verifyRecovery(c, remediateDeps);
      }),
      UndoRemediation: remediation((c) => undoRemediation(c, remediateDeps)),
    };
    for (const notice of NOTICES) {
      handlers[notice] = asLambdaInvoke(async (payload: { case: IncidentCase }) => {
        await notifier.notify(notice, payload.case);
        return payload.case;
      });
    }
    // Every state leaves its trace in the incident's audit chain, as the Lambda handlers do on AWS.
    const traced = Object.fromEntries(
      Object.entries(handlers).map(([state, handler]) => [
        state,
        async (input: unknown) => {
          this.workflowTrace.push(state);
          const output = await handler(input);
          const request = (input as { Payload?: { case?: { incidentId?: string }; decisionId?: string } }).Payload;
          const produced = (output as { Payload?: unknown }).Payload ?? output;
          const incidentId = request?.case?.incidentId ?? request?.decisionId;
          if (incidentId) {
            const c = state.startsWith('Request')
              ? { incidentId, approval: produced }
              : state.endsWith('ApprovalMessage') || state === 'MarkApprovalTimedOut'
                ? { incidentId }
                : produced;
            await auditStep(
              this.audit,
              state,
              c as Parameters<typeof auditStep>[2],
              new Date(clock.now()).toISOString(),
            );
          }
          return output;
        },
      ]),
    );
    return new LocalStateMachine(
      loadDefinition('incident.asl.json', {
        DecideFunctionArn: LOCAL_ARN('incident-decide'),
        RequestApprovalFunctionArn: LOCAL_ARN('request-approval'),
        RemediateFunctionArn: LOCAL_ARN('incident-remediate'),
        CloseApprovalFunctionArn: LOCAL_ARN('close-approval'),
        NotifyFunctionArn: LOCAL_ARN('incident-notify'),
      }),
      traced,
      { WaitForRecovery: 0 },
    );
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
      await this.tickMachine?.run({
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
      return { failed: unwrapFailure(error) };
    } finally {
      await this.settle();
    }
  }

  /**
   * Lets the incident workflows run until each has ended or waits on the clock for its next recovery check.
   * Each workflow waits on the clock at most once at a time, so "all waiting" is stable until time moves.
   */
  async settle(): Promise<void> {
    while (this.running.size > this.clock.parked) await new Promise((resolve) => setTimeout(resolve, 1));
  }

  /** Incident workflows not ended yet (waiting for recovery when the replay ran out of ticks). */
  get pendingWorkflows(): number {
    return this.running.size;
  }

  /** Runs the incident workflow for one incident to its end, as a Standard execution named after it. */
  async runIncidentWorkflow(incidentId: string): Promise<IncidentCase | undefined> {
    try {
      return (await this.incidentMachine?.run(
        { incidentId },
        { Execution: { Name: incidentId }, Task: { Token: `local-task-token-${incidentId}` } },
      )) as IncidentCase | undefined;
    } catch (error) {
      this.failedWorkflows.push({ incidentId, ...unwrapFailure(error) });
      return undefined;
    }
  }

  async stop(): Promise<void> {
    await this.dynamo.close();
  }
}

/** aws-local-stepfunctions wraps the Fail state's error (its name is the state's `Error`) in ExecutionError. */
function unwrapFailure(error: unknown): { error: string; cause: string } {
  const wrapped = error as Error & { cause?: unknown };
  const failure = wrapped.cause instanceof Error ? wrapped.cause : wrapped;
  return { error: failure.name, cause: failure.message };
}
