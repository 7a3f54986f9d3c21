// The agent wired for one process: dynalite for DynamoDB, memory for S3, the real tick and incident ASL
// executed by aws-local-stepfunctions, a simulated cluster and simulated approvers, and whatever
// MetricSource the caller brings (a scenario or a live Prometheus). Incident workflows run beside the ticks,
// as executions do on AWS: one waiting for recovery sees the ticks that follow. Approvals run the real flows
// (open, vote, reject, close) against the approval table, with the task token answered as SendTaskSuccess and
// SendTaskFailure would.

import { MemoryBlobStore } from '../adapters/blob/blob-store';
import { BlobSnapshotStore } from '../adapters/blob/snapshot-store';
import { defaultPlaybooks } from '../adapters/config-files';
import { DynamoActionLedger } from '../adapters/dynamodb/action-ledger';
import { DynamoApprovalStore } from '../adapters/dynamodb/approval-store';
import { DynamoAuditLog } from '../adapters/dynamodb/audit-log';
import { DynamoBaselineStore } from '../adapters/dynamodb/baseline-store';
import { DynamoDecisionStore } from '../adapters/dynamodb/decision-store';
import { DynamoIncidentStore } from '../adapters/dynamodb/incident-store';
import { DynamoScorerStateStore } from '../adapters/dynamodb/scorer-state-store';
import { DynamoSnapshotStore } from '../adapters/dynamodb/snapshot-store';
import { renderApprovalMessage } from '../adapters/slack/blocks';
import type { SlackMessage } from '../adapters/slack/web-api';
import { auditStep } from '../core/action/audit-steps';
import type { CaseNotifier } from '../core/action/ports';
import { remediate, undoRemediation, verifyRecovery } from '../core/action/remediate';
import type { DeployRecord } from '../core/cognition/classify';
import type { Incident } from '../core/cognition/incident';
import type { KubeStateReader } from '../core/cognition/kube-findings';
import { type LearnOutcome, learnBaselines } from '../core/cognition/learn';
import { scorerSettings } from '../core/cognition/scorer';
import type { ApprovalsConfig, DetectionConfig, SignalCatalog, Topology } from '../core/config/schema';
import {
  APPROVAL_REJECTED,
  type ApprovalDeps,
  type ApprovalMessenger,
  type ApprovalRequest,
  type ApprovalTier,
  type ApprovalView,
  type ApprovalWorkflow,
  type Approver,
  type CloseOutcome,
  castVote,
  closeDecision,
  type KeySeries,
  type OpenedDecision,
  openDecision,
  startReject,
} from '../core/decision/approval';
import { type DenyRule, denyListFrom, inChangeFreeze } from '../core/decision/guardrails';
import { approvalTimeoutSecondsOf, type Diagnosis, type IncidentCase } from '../core/decision/incident-case';
import type { Playbooks } from '../core/decision/plan';
import { type CaseInput, DECIDE_STEPS, decideStep } from '../core/decision/steps';
import { type PlannedAction, QUORUM, type RiskAssessment } from '../core/decision/types';
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
import type { ApproverMode } from './simulated-approvers';
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
  /** Who the simulated approvers are and how long approvals wait (config `approvals`). */
  readonly approvals?: LocalApprovals;
  /**
   * Where the workflow's notices go besides the recording, as the notify Lambda sends them to PagerDuty, Jira
   * and the webhook on AWS (e.g. a NotificationFanout over the configured integrations).
   */
  readonly notices?: CaseNotifier;
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

/** The approvals part of the configuration, as the local runtime takes it. */
export interface LocalApprovals {
  /** Who may vote, and so who the simulated approvers are (config `approvals.approvers`); REPLAY_APPROVERS by default. */
  readonly approvers?: readonly Approver[];
  /**
   * Seconds MEDIUM and HIGH plans wait (config `approvals.timeoutMinutes` x 60); 30 and 60 minutes by default.
   * Seconds, not minutes, so a test can let the workflow's own timeout fire.
   */
  readonly timeoutSeconds?: Readonly<Record<ApprovalTier, number>>;
}

/** The config's `approvals` (timeouts in minutes) as the local runtime takes it. */
export const localApprovals = (
  approvals: Pick<ApprovalsConfig, 'approvers' | 'timeoutMinutes'>,
): Required<LocalApprovals> => ({
  approvers: approvals.approvers,
  timeoutSeconds: approvalTimeoutSecondsOf(approvals.timeoutMinutes),
});

/**
 * The people replay asks when the configuration names none: enough for every tier's quorum. Their votes come in
 * the same simulated instant, where the quorum orders them by user id: these ids list the SREs first.
 */
export const REPLAY_APPROVERS: readonly Approver[] = [
  { slackUserId: 'USIMSRE1', name: 'replay-sre-1', role: 'sre' },
  { slackUserId: 'USIMSRE2', name: 'replay-sre-2', role: 'sre' },
  { slackUserId: 'USIMTECHLEAD1', name: 'replay-lead-1', role: 'tech-lead' },
];

/** The channel local approval messages are posted to. */
export const LOCAL_APPROVALS_CHANNEL = 'local-approvals';

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

/**
 * The states whose Lambda appends its own step to the incident's audit chain on AWS (incident-decide,
 * incident-remediate, incident-notify). The approval states have no such record: their Lambdas write the request,
 * the votes, refusals and the closing through the approval flows, which the local runtime runs too.
 */
const STEPS_AUDITED_BY_THEIR_LAMBDA: ReadonlySet<string> = new Set<string>([
  ...DECIDE_STEPS,
  'Remediate',
  'VerifyRecovery',
  'UndoRemediation',
  ...NOTICES,
]);

type Handler = (input: unknown) => Promise<unknown>;

export class LocalAgent {
  readonly deadLetters: unknown[] = [];
  readonly startedWorkflows = new Set<string>();
  /** Incident workflows that ended in their Fail state, with the error. */
  readonly failedWorkflows: { readonly incidentId: string; readonly error: string; readonly cause: string }[] = [];
  /** Every state each incident workflow entered, in order (Choice, Pass and end states included), by incident. */
  readonly workflowPaths = new Map<string, readonly string[]>();
  /** The approval messages and private words the approval flows sent, as Slack would have received them. */
  readonly approvalMessages: LocalApprovalMessenger;
  /** Incident workflows still running (or waiting on the clock for their next recovery check). */
  private readonly running = new Set<Promise<unknown>>();
  private readonly taskTokens = new LocalTaskTokens();
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
    /** Decisions, votes and refusals of the approval flows (dynalite, as the approvals table on AWS). */
    readonly approvals: DynamoApprovalStore,
  ) {
    this.approvalMessages = new LocalApprovalMessenger(notifier, () => clock.now());
  }

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
      new DynamoApprovalStore(dynamo.client, dynamo.tables.approvals),
    );
    try {
      agent.tickMachine = agent.buildTickMachine();
      agent.incidentMachine = agent.buildIncidentMachine();
    } catch (error) {
      // A bad playbook or config found while wiring: the embedded DynamoDB must not keep the process alive.
      await dynamo.close();
      throw error;
    }
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
    const { options, dynamo, incidents, decisions, cluster, notifier, clock, taskTokens } = this;
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
      // The key metric's last hour for the approval message, read from the same source the ticks read.
      metrics: { source: options.source, catalog: options.catalog },
      ...(options.approvals?.timeoutSeconds ? { approvalTimeoutSeconds: options.approvals.timeoutSeconds } : {}),
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
    const approvalDeps: ApprovalDeps = {
      store: this.approvals,
      workflow: taskTokens,
      messenger: this.approvalMessages,
      approvers: options.approvals?.approvers ?? REPLAY_APPROVERS,
      clock: () => new Date(clock.now()),
      audit: this.audit,
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
    // `.waitForTaskToken`: the request-approval function opens the decision; the state's result is what
    // SendTaskSuccess later sends (or SendTaskFailure fails it with), here from the simulated approvers' votes.
    const requestApproval: Handler = async (input) => {
      const request = approvalRequestOf((input as { Payload: ApprovalPayload }).Payload);
      const answered = taskTokens.wait(request.taskToken);
      // A reject fails the task while the votes are still being written: handled here, rethrown to the machine.
      answered.catch(() => undefined);
      let opened: OpenedDecision;
      try {
        opened = await openDecision(request, approvalDeps, LOCAL_APPROVALS_CHANNEL);
        await simulatedAnswers(options.approvers ?? 'approve', request, approvalDeps);
      } catch (error) {
        taskTokens.forget(request.taskToken);
        throw error;
      }
      if (taskTokens.waiting(request.taskToken)) {
        // Step Functions ends the wait at the state's timeout. aws-local-stepfunctions does too, on the wall clock;
        // replay's simulated clock outruns it, so the wait also ends when the agent's clock reaches the deadline.
        void clock.until(Date.parse(opened.expiresAt)).then(() => taskTokens.timeOut(request.taskToken));
      }
      return answered;
    };
    // The close-approval function: the approval message is edited, not posted anew (no notification counted).
    const closeApproval = asLambdaInvoke(
      async (payload: { decisionId: string; outcome: CloseOutcome; note?: string }) => {
        const closed = await closeDecision(payload.decisionId, payload.outcome, approvalDeps, payload.note);
        const stored = await this.approvals.getDecision(payload.decisionId);
        if (stored) taskTokens.forget(stored.decision.taskToken);
        const said = payload.note ? `${closed.status}: ${payload.note}` : closed.status;
        notifier.approvalClosed(payload.decisionId, said, new Date(clock.now()).toISOString());
        return closed;
      },
    );
    const handlers: Record<string, Handler> = {
      Diagnose: decide('Diagnose'),
      PlanRemediation: decide('PlanRemediation'),
      AssessRisk: decide('AssessRisk'),
      CheckGuardrails: decide('CheckGuardrails'),
      Close: decide('Close'),
      RequestApproval: requestApproval,
      RequestQuorumApproval: requestApproval,
      CloseApprovalMessage: closeApproval,
      MarkApprovalTimedOut: closeApproval,
      CloseApprovalOnFailure: closeApproval,
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
        await options.notices?.notify(notice, payload.case);
        return payload.case;
      });
    }
    // The steps whose Lambda audits itself on AWS leave the same record here, from the case they return.
    const audited = Object.fromEntries(
      Object.entries(handlers).map(([state, handler]) => [
        state,
        STEPS_AUDITED_BY_THEIR_LAMBDA.has(state)
          ? async (input: unknown) => {
              const output = (await handler(input)) as { Payload: IncidentCase };
              await auditStep(this.audit, state, output.Payload, new Date(clock.now()).toISOString());
              return output;
            }
          : handler,
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
      audited,
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

  /**
   * Runs the incident workflow for one incident to its end, as a Standard execution named after it, recording
   * every state it enters (the execution history's path).
   */
  async runIncidentWorkflow(incidentId: string): Promise<IncidentCase | undefined> {
    const incident = this.incidentMachine;
    if (!incident) throw new Error('the local agent was not started');
    const path: string[] = [];
    this.workflowPaths.set(incidentId, path);
    try {
      return (await incident.run(
        { incidentId },
        { Execution: { Name: incidentId }, Task: { Token: `local-task-token-${incidentId}` } },
        (state) => path.push(state),
      )) as IncidentCase;
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

// ---------------------------------------------------------------------------------------------------------
// Approvals

/** The RequestApproval states' payload, as the ASL builds it. */
interface ApprovalPayload {
  readonly taskToken: string;
  readonly decisionId: string;
  readonly tier: ApprovalTier;
  readonly timeoutSeconds: number;
  readonly incident: Incident;
  readonly diagnosis?: Diagnosis;
  /** The root cause's strongest signal over the last hour, for the message's sparkline (null: not read). */
  readonly keySeries?: KeySeries | null;
  readonly plan: PlannedAction[];
  readonly risk: RiskAssessment;
}

/** What the request-approval function makes of the payload: the decision's request and what the message shows. */
function approvalRequestOf(payload: ApprovalPayload): ApprovalRequest {
  const root = payload.diagnosis?.rootCause;
  return {
    taskToken: payload.taskToken,
    decisionId: payload.decisionId,
    tier: payload.tier,
    timeoutSeconds: payload.timeoutSeconds,
    context: {
      incident: payload.incident,
      plan: payload.plan,
      risk: payload.risk,
      ...(payload.keySeries ? { keySeries: payload.keySeries } : {}),
      ...(root && payload.diagnosis
        ? {
            diagnosis: {
              rootCause: `${root.service} (${root.kind})`,
              confidence: root.confidence,
              evidence: payload.diagnosis.evidence,
            },
          }
        : {}),
    },
  };
}

/**
 * The simulated approvers answer as people do in Slack, through the flows behind the interactions endpoint:
 * `approve` with the tier's quorum (MEDIUM one SRE; HIGH two SREs and a tech lead, the first SRE clicking twice,
 * which is refused and counts once), `reject` (the first SRE opens the dialog and gives a reason), `timeout`
 * (nobody answers). Too few configured people for the quorum leave the decision waiting, as they would on AWS.
 */
async function simulatedAnswers(mode: ApproverMode, request: ApprovalRequest, deps: ApprovalDeps): Promise<void> {
  const { decisionId, tier } = request;
  const sres = deps.approvers.filter((a) => a.role === 'sre');
  if (mode === 'timeout') return;
  if (mode === 'reject') {
    const by = sres[0] ?? deps.approvers[0];
    if (!by) return;
    const click = { decisionId, userId: by.slackUserId, choice: 'reject' as const };
    const asked = await startReject({ ...click, triggerId: `local-trigger-${decisionId}` }, deps);
    if (asked.kind === 'asked') await castVote({ ...click, reason: `simulated rejection (--approvers ${mode})` }, deps);
    return;
  }
  const quorum = QUORUM[tier];
  const leads = deps.approvers.filter((a) => a.role === 'tech-lead');
  const voters = [...sres.slice(0, quorum.sre), ...leads.slice(0, quorum['tech-lead'])];
  for (const [index, voter] of voters.entries()) {
    const click = { decisionId, userId: voter.slackUserId, choice: 'approve' as const };
    await castVote(click, deps);
    if (tier === 'HIGH' && index === 0) await castVote(click, deps);
  }
}

/**
 * Step Functions' side of `.waitForTaskToken`: the waiting task of each token, answered as SendTaskSuccess (the
 * output becomes the state's result) and SendTaskFailure (error ApprovalRejected, the cause as JSON) answer it.
 */
class LocalTaskTokens implements ApprovalWorkflow {
  private readonly tasks = new Map<string, { resolve(output: unknown): void; reject(error: Error): void }>();

  wait(token: string): Promise<unknown> {
    return new Promise((resolve, reject) => this.tasks.set(token, { resolve, reject }));
  }

  waiting(token: string): boolean {
    return this.tasks.has(token);
  }

  async approve(token: string, output: unknown): Promise<void> {
    this.take(token).resolve(JSON.parse(JSON.stringify(output)));
  }

  async reject(token: string, cause: unknown): Promise<void> {
    this.take(token).reject(Object.assign(new Error(JSON.stringify(cause)), { name: APPROVAL_REJECTED }));
  }

  /** The state's timeout: the task fails with States.Timeout, unless it was answered first. */
  timeOut(token: string): void {
    if (!this.tasks.has(token)) return;
    this.take(token).reject(Object.assign(new Error('States.Timeout'), { name: 'States.Timeout' }));
  }

  /** The workflow no longer waits on the token (it timed out on aws-local-stepfunctions' own timer, or ended). */
  forget(token: string): void {
    this.tasks.delete(token);
  }

  private take(token: string) {
    const task = this.tasks.get(token);
    // As SendTaskSuccess answers for a token whose task has ended or never existed.
    if (!task) throw Object.assign(new Error(`no task waits on token ${token}`), { name: 'TaskDoesNotExist' });
    this.tasks.delete(token);
    return task;
  }
}

/** One call the approval flows made to the chat. */
export interface ApprovalChatCall {
  readonly at: string;
  readonly call: 'post' | 'update' | 'tell' | 'ask-reject-reason';
  readonly channel: string;
  readonly decisionId?: string;
  readonly ts?: string;
  readonly userId?: string;
  /** The decision's status when the message was rendered. */
  readonly status?: string;
  /** The approval message as Slack would receive it (post and update), or the private text (tell). */
  readonly message?: SlackMessage;
  readonly text: string;
}

/**
 * The chat side of approvals, locally: every call is kept, the approval message rendered as it is for Slack. The
 * post counts in the replay report as a notification (a reply in the incident's thread); edits and private
 * words to one person do not.
 */
export class LocalApprovalMessenger implements ApprovalMessenger {
  readonly calls: ApprovalChatCall[] = [];

  constructor(
    private readonly notifier: RecordingNotifier,
    private readonly now: () => number,
  ) {}

  async post(channel: string, view: ApprovalView): Promise<{ channel: string; ts: string }> {
    const at = new Date(this.now()).toISOString();
    const ts = `${Math.floor(this.now() / 1000)}.${String(this.calls.length + 1).padStart(6, '0')}`;
    this.calls.push(this.rendered('post', at, channel, ts, view));
    this.notifier.approvalRequested(view.decision.decisionId, at);
    return { channel, ts };
  }

  async update(channel: string, ts: string, view: ApprovalView): Promise<void> {
    this.calls.push(this.rendered('update', new Date(this.now()).toISOString(), channel, ts, view));
  }

  async tell(channel: string, userId: string, text: string): Promise<void> {
    this.calls.push({ at: new Date(this.now()).toISOString(), call: 'tell', channel, userId, text });
  }

  async askRejectReason(_triggerId: string, view: ApprovalView): Promise<void> {
    this.calls.push({
      at: new Date(this.now()).toISOString(),
      call: 'ask-reject-reason',
      channel: view.decision.channel ?? LOCAL_APPROVALS_CHANNEL,
      decisionId: view.decision.decisionId,
      text: `why reject ${view.decision.decisionId}?`,
    });
  }

  /** The approval message of a decision as it reads now: its last post or update. */
  messageOf(decisionId: string): ApprovalChatCall | undefined {
    return this.calls.findLast((c) => c.decisionId === decisionId && (c.call === 'post' || c.call === 'update'));
  }

  private rendered(call: 'post' | 'update', at: string, channel: string, ts: string, view: ApprovalView) {
    const message = renderApprovalMessage(view);
    const { decisionId, status } = view.decision;
    return { at, call, channel, ts, decisionId, status, message, text: message.text };
  }
}

// ---------------------------------------------------------------------------------------------------------
// ASL
