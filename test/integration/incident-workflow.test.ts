// The real state-machines/incident.asl.json executed by aws-local-stepfunctions through every path, with dynalite
// behind the stores, the simulated cluster, and the approval flows voted on by the simulated approvers: for each
// path, the exact states entered and the records left in the incident's audit chain.

import { channelsFromConfig, NotificationFanout } from '../../lambdas/adapters/notify/fanout';
import { type AuditRecord, verifyChain } from '../../lambdas/core/action/audit';
import type { DeployRecord } from '../../lambdas/core/cognition/classify';
import { type Incident, incidentId } from '../../lambdas/core/cognition/incident';
import { integrationsSchema } from '../../lambdas/core/config/integrations-schema';
import { topologySchema } from '../../lambdas/core/config/schema';
import type { IncidentCase } from '../../lambdas/core/decision/incident-case';
import type { InstantResult, MetricSource, RangeResult } from '../../lambdas/core/perception/metric-source';
import { ok } from '../../lambdas/core/result';
import { SimulatedClock } from '../../lambdas/local/agent-clock';
import { LocalAgent, type LocalAgentOptions } from '../../lambdas/local/local-agent';
import { localTimeoutPaths } from '../../lambdas/local/local-state-machine';
import { testCatalog, testDetection } from '../support/catalog';
import { JiraLoopback, PagerDutyLoopback } from '../support/notify-loopbacks';

const topology = topologySchema.parse({
  services: [
    {
      name: 'api-gateway',
      criticality: 'core',
      namespace: 'edge',
      replicas: 6,
      dependsOn: ['order-api', 'wallet-service', 'market-data'],
    },
    { name: 'order-api', criticality: 'core', namespace: 'trading', replicas: 6, dependsOn: ['mysql-main'] },
    { name: 'wallet-service', criticality: 'funds', namespace: 'custody', replicas: 3, dependsOn: ['mysql-main'] },
    { name: 'market-data', criticality: 'standard', namespace: 'market', replicas: 4 },
    { name: 'mysql-main', kind: 'datastore', criticality: 'core', namespace: 'data' },
  ],
});

const silent: MetricSource = {
  instant: async (): Promise<InstantResult> => ok([]),
  range: async (): Promise<RangeResult> => ok([]),
};

const OPENED = Date.parse('2026-11-04T03:07:00Z');
const ORDER_API_DEPLOY: DeployRecord = {
  time: OPENED - 4 * 60_000,
  service: 'order-api',
  version: 'v2',
  previousVersion: 'v1',
};

function incidentOn(service: string, signals: [string, number, number][], minute = 0): Incident {
  const openedAt = new Date(OPENED + minute * 60_000).toISOString().replace('.000Z', 'Z');
  const id = incidentId(Date.parse(openedAt) / 1000, service);
  return {
    id,
    status: 'open',
    kind: 'anomaly',
    openedAt,
    updatedAt: openedAt,
    lastAnomalyAt: openedAt,
    services: [...new Set(signals.map(([key]) => key.split('{')[1].slice(0, -1)))],
    signals: signals.map(([key, value, expected], i) => ({
      key,
      signalId: key.split('{')[0],
      entity: key.split('{')[1].slice(0, -1),
      firstAnomalousAt: new Date(OPENED - (2 - i) * 60_000).toISOString().replace('.000Z', 'Z'),
      lastRaisedAt: openedAt,
      peakZ: 40,
      peakScore: 1,
      valueAtPeak: value,
      expectedAtPeak: expected,
      hardLimitBreached: false,
    })),
    version: 1,
  };
}

const badDeploy = () =>
  incidentOn('order-api', [
    ['error_ratio{order-api}', 0.09, 0.002],
    ['error_ratio{api-gateway}', 0.02, 0.002],
  ]);
const trafficSurge = () => incidentOn('market-data', [['request_rate{market-data}', 15000, 3000]]);
const datastoreSaturation = () =>
  incidentOn('mysql-main', [
    ['datastore_connections{mysql-main}', 0.98, 0.38],
    ['error_ratio{order-api}', 0.03, 0.002],
    ['error_ratio{wallet-service}', 0.03, 0.002],
  ]);

/** The states every path starts with, up to the routing. */
const DECIDED = ['Diagnose', 'PlanRemediation', 'AssessRisk', 'CheckGuardrails', 'RouteByTier'];
/** One recovery check that is still pending, then the wait before the next. */
const PENDING_CHECK = ['VerifyRecovery', 'RecoveredYet', 'WaitForRecovery'];
/** The decision steps' audit records, as their Lambda writes them. */
const DECIDED_RECORDS = [
  'step:workflow:Diagnose',
  'step:workflow:PlanRemediation',
  'step:workflow:AssessRisk',
  'step:workflow:CheckGuardrails',
];

/** The workflow's output: the case, with what the closing states added. */
type EndedCase = IncidentCase & { readonly approvalMessage?: { status: string } };

const kindsAndActors = (chain: readonly AuditRecord[]) => chain.map((r) => `${r.kind}:${r.actor}`);
const recordOf = (chain: readonly AuditRecord[], actor: string, kind?: string) =>
  chain.find((r) => r.actor === actor && (kind === undefined || r.kind === kind));

describe('incident workflow (state-machines/incident.asl.json)', () => {
  const agents: LocalAgent[] = [];
  afterAll(async () => {
    await Promise.all(agents.map((a) => a.stop()));
  });
  const start = async (options: Partial<LocalAgentOptions> = {}) => {
    const agent = await LocalAgent.start({
      source: silent,
      catalog: testCatalog,
      topology,
      detection: testDetection,
      approvers: 'approve',
      deploys: [ORDER_API_DEPLOY],
      clock: new SimulatedClock(OPENED, false),
      ...options,
    });
    agents.push(agent);
    return agent;
  };
  const run = async (agent: LocalAgent, incident: Incident) => {
    await agent.incidents.create(incident);
    const result = (await agent.runIncidentWorkflow(incident.id)) as EndedCase | undefined;
    const chain = await agent.audit.read(incident.id);
    return { result, chain, path: agent.workflowPaths.get(incident.id) };
  };

  it('LOW: scales out at once, verifies and notifies; nobody is asked', async () => {
    const agent = await start({ approvers: 'reject', deploys: [] }); // would reject if asked: proves nobody is
    const incident = trafficSurge();
    const { result, chain, path } = await run(agent, incident);
    expect(path).toEqual([
      ...DECIDED,
      'Remediate',
      ...PENDING_CHECK,
      ...PENDING_CHECK,
      'VerifyRecovery',
      'RecoveredYet',
      'NotifyOutcome',
      'Close',
      'HasApprovalMessage',
      'IncidentClosed',
    ]);
    expect(result?.risk?.tier).toBe('LOW');
    expect(result?.approvalTimeoutSeconds).toBeUndefined();
    expect(result?.execution).toEqual([
      expect.objectContaining({ action: 'scale-up', target: 'market/deployment/market-data', result: 'succeeded' }),
    ]);
    expect(result?.outcome).toBe('remediated');
    expect(result?.outcomeNote).toBe(
      'remediated: scale-up on market/deployment/market-data succeeded (dry run), recovered 2 min after the change',
    );
    expect(kindsAndActors(chain)).toEqual([
      ...DECIDED_RECORDS,
      'action:executor:scale-up',
      'step:workflow:VerifyRecovery',
      'step:workflow:VerifyRecovery',
      'step:workflow:VerifyRecovery',
      'notification:workflow:NotifyOutcome',
      'step:workflow:Close',
    ]);
    expect(verifyChain(chain)).toEqual({ ok: true, length: 10 });
    expect(await agent.approvals.getDecision(incident.id)).toBeUndefined();
    expect(agent.approvalMessages.calls).toEqual([]);
  });

  it('MEDIUM, approved: waits the configured time for one SRE, rolls back (dry run), closes the message with the outcome', async () => {
    const agent = await start({ approvals: { timeoutSeconds: { MEDIUM: 900, HIGH: 2700 } } });
    const incident = badDeploy();
    const { result, chain, path } = await run(agent, incident);
    expect(path).toEqual([
      ...DECIDED,
      'RequestApproval',
      'Remediate',
      // Pending while the rollout runs (two minutes), then recovered: the signals have been quiet since.
      ...PENDING_CHECK,
      ...PENDING_CHECK,
      'VerifyRecovery',
      'RecoveredYet',
      'NotifyOutcome',
      'Close',
      'HasApprovalMessage',
      'CloseApprovalMessage',
    ]);
    expect(result?.risk?.tier).toBe('MEDIUM');
    expect(result?.diagnosis?.rootCause).toMatchObject({ service: 'order-api', kind: 'bad-deploy' });
    // The configured wait, not a fixed one: on the case, in the decision and in the request's audit record.
    expect(result?.approvalTimeoutSeconds).toBe(900);
    const stored = await agent.approvals.getDecision(incident.id);
    expect(Date.parse(stored?.decision.expiresAt ?? '') - Date.parse(stored?.decision.createdAt ?? '')).toBe(900_000);
    expect(result?.approval?.votes.map((v) => `${v.userName} (${v.role}) ${v.choice}`)).toEqual([
      'replay-sre-1 (sre) approve',
    ]);
    expect(result?.execution).toEqual([
      expect.objectContaining({
        action: 'rollback',
        target: 'trading/deployment/order-api',
        dryRun: true,
        result: 'succeeded',
      }),
    ]);
    expect(result?.outcome).toBe('remediated');
    expect((await agent.decisions.get(incident.id))?.outcome).toBe('remediated');
    const note =
      'remediated: rollback on trading/deployment/order-api succeeded (dry run), recovered 2 min after the change';
    expect(result?.outcomeNote).toBe(note);
    expect(result?.approvalMessage).toEqual({ status: 'approved' });
    // The decided message keeps its status and gains what became of the plan.
    expect(stored?.decision).toMatchObject({ status: 'approved', closedBy: 'USIMSRE1' });
    expect(await agent.approvals.getDecision(incident.id)).toMatchObject({
      decision: { status: 'approved', workflowOutcome: 'closed', outcomeNote: note },
    });
    expect(JSON.stringify(agent.approvalMessages.messageOf(incident.id)?.message?.blocks)).toContain(note);

    expect(kindsAndActors(chain)).toEqual([
      ...DECIDED_RECORDS,
      'step:workflow:RequestApproval',
      'vote:slack:USIMSRE1 (replay-sre-1)',
      'action:executor:rollback',
      'step:workflow:VerifyRecovery',
      'step:workflow:VerifyRecovery',
      'step:workflow:VerifyRecovery',
      'notification:workflow:NotifyOutcome',
      'step:workflow:Close',
      'step:workflow:close-approval',
    ]);
    expect(recordOf(chain, 'workflow:RequestApproval')?.detail).toMatchObject({
      tier: 'MEDIUM',
      timeoutSeconds: 900,
      quorum: { sre: 1, 'tech-lead': 0 },
    });
    expect(recordOf(chain, 'slack:USIMSRE1 (replay-sre-1)')?.detail).toMatchObject({
      choice: 'approve',
      role: 'sre',
      outcome: 'approved',
    });
    expect(recordOf(chain, 'workflow:close-approval')?.detail).toMatchObject({
      outcome: 'closed',
      status: 'approved',
      changed: false,
      note,
    });
    expect(verifyChain(chain)).toEqual({ ok: true, length: 13 });
  });

  it('MEDIUM, rejected: records who rejected and why, executes nothing', async () => {
    const agent = await start({ approvers: 'reject' });
    const incident = badDeploy();
    const { result, chain, path } = await run(agent, incident);
    expect(path).toEqual([
      ...DECIDED,
      'RequestApproval',
      'RecordRejection',
      'Close',
      'HasApprovalMessage',
      'IncidentClosed',
    ]);
    const reason = 'simulated rejection (--approvers reject)';
    expect(result?.rejection?.Error).toBe('ApprovalRejected');
    expect(JSON.parse(result?.rejection?.Cause ?? '{}')).toEqual({
      by: 'replay-sre-1',
      userId: 'USIMSRE1',
      role: 'sre',
      reason,
    });
    // The reject went through the dialog asking why, as a click in Slack does.
    expect(agent.approvalMessages.calls.map((c) => c.call)).toContain('ask-reject-reason');
    expect(await agent.approvals.getDecision(incident.id)).toMatchObject({
      decision: { status: 'rejected', closedBy: 'USIMSRE1', closeReason: reason },
    });
    expect(result?.execution).toBeUndefined();
    expect(agent.cluster.log).toEqual([]);
    expect(result?.outcome).toBe('rejected');
    expect(result?.outcomeNote).toBe(`rejected by replay-sre-1 (sre): ${reason}; nothing executed`);
    expect(kindsAndActors(chain)).toEqual([
      ...DECIDED_RECORDS,
      'step:workflow:RequestApproval',
      'vote:slack:USIMSRE1 (replay-sre-1)',
      'notification:workflow:RecordRejection',
      'step:workflow:Close',
    ]);
    expect(recordOf(chain, 'slack:USIMSRE1 (replay-sre-1)')?.detail).toMatchObject({
      choice: 'reject',
      reason,
      outcome: 'rejected',
    });
    expect(verifyChain(chain)).toEqual({ ok: true, length: 8 });
  });

  describe('MEDIUM, nobody answers', () => {
    const ROUTING_KEY = 'R0UT1NGKEY0123456789ABCDEFGHIJKL';
    const secrets: Record<string, string> = {
      'sre-agent/test/pagerduty': ROUTING_KEY,
      'sre-agent/test/jira': JSON.stringify({ email: 'sre-agent@example.com', apiToken: 'jira-api-token' }),
    };
    const pagerDuty = new PagerDutyLoopback();
    const jira = new JiraLoopback();
    beforeAll(async () => {
      await Promise.all([pagerDuty.start(), jira.start()]);
    });
    afterAll(async () => {
      await Promise.all([pagerDuty.stop(), jira.stop()]);
    });

    it("the workflow's own TimeoutSecondsPath ends the wait: it escalates (page, ticket note) and executes nothing", async () => {
      const integrations = integrationsSchema.parse({
        pagerduty: { routingKeySecret: 'sre-agent/test/pagerduty', eventsUrl: pagerDuty.eventsUrl, retries: 0 },
        jira: { siteUrl: jira.url, projectKey: 'OPS', credentialsSecret: 'sre-agent/test/jira', retries: 0 },
      });
      const agent = await start({
        approvers: 'timeout',
        // A clock nobody moves: only aws-local-stepfunctions' own timer, armed from TimeoutSecondsPath, can end it.
        clock: new SimulatedClock(OPENED, true),
        approvals: { timeoutSeconds: { MEDIUM: 1, HIGH: 1 } },
        notices: new NotificationFanout(channelsFromConfig(integrations, { secrets: async (name) => secrets[name] })),
      });
      const incident = badDeploy();
      // The incident's ticket, filed when it opened: the escalation adds a note to it.
      jira.issues.push({
        id: '10001',
        key: 'OPS-1',
        labels: ['sre-agent', `sre-agent-${incident.id}`],
        summary: 'order-api errors',
        comments: [],
      });
      const started = Date.now();
      const { result, chain, path } = await run(agent, incident);
      expect(Date.now() - started).toBeGreaterThanOrEqual(1_000);
      expect(path).toEqual([
        ...DECIDED,
        'RequestApproval',
        'Escalate',
        'Close',
        'HasApprovalMessage',
        'MarkApprovalTimedOut',
      ]);
      expect(result?.approvalTimeoutSeconds).toBe(1);
      expect(result?.timeout).toEqual({ Error: 'States.Timeout', Cause: 'States.Timeout' });
      expect(agent.cluster.log).toEqual([]);
      expect(result?.execution).toBeUndefined();
      expect(result?.outcome).toBe('approval-timed-out');
      const note = 'no approval within 1 s: escalated to the on-call engineer; nothing executed';
      expect(result?.outcomeNote).toBe(note);
      expect(await agent.approvals.getDecision(incident.id)).toMatchObject({
        decision: { status: 'timed-out', closedBy: 'workflow', closeReason: note },
      });

      // Escalate pages, on PagerDuty too, and notes the ticket.
      expect(agent.notifier.sent.filter((n) => n.kind === 'page').map((n) => n.text)).toEqual([
        expect.stringMatching(/^Escalate: order-api/),
      ]);
      expect(pagerDuty.events()).toEqual([
        expect.objectContaining({ event_action: 'trigger', dedup_key: incident.id, routing_key: ROUTING_KEY }),
      ]);
      expect(jira.issues[0].comments).toHaveLength(1);
      expect(JSON.stringify(jira.issues[0].comments[0])).toContain('No approval in time, nothing was executed');

      expect(kindsAndActors(chain)).toEqual([
        ...DECIDED_RECORDS,
        'step:workflow:RequestApproval',
        'notification:workflow:Escalate',
        'step:workflow:Close',
        'step:workflow:close-approval',
      ]);
      expect(recordOf(chain, 'workflow:close-approval')?.detail).toMatchObject({
        outcome: 'timed-out',
        status: 'timed-out',
        changed: true,
        note,
      });
      expect(verifyChain(chain)).toEqual({ ok: true, length: 8 });
    });

    it('in replay the wait ends when the simulated clock reaches the configured deadline', async () => {
      const clock = new SimulatedClock(OPENED, true);
      const agent = await start({ approvers: 'timeout', clock });
      const incident = badDeploy();
      await agent.incidents.create(incident);
      const run = agent.runIncidentWorkflow(incident.id);
      while (clock.parked === 0) await new Promise((resolve) => setTimeout(resolve, 1));
      const deadline = OPENED + 30 * 60_000;
      clock.advanceTo(deadline - 1_000);
      await new Promise((resolve) => setTimeout(resolve, 50));
      expect(agent.workflowPaths.get(incident.id)?.at(-1)).toBe('RequestApproval');
      clock.advanceTo(deadline);
      const result = await run;
      expect(agent.workflowPaths.get(incident.id)?.slice(-4)).toEqual([
        'Escalate',
        'Close',
        'HasApprovalMessage',
        'MarkApprovalTimedOut',
      ]);
      expect(result?.timeout?.Error).toBe('States.Timeout');
      const chain = await agent.audit.read(incident.id);
      expect(recordOf(chain, 'workflow:close-approval')?.at).toBe(new Date(deadline).toISOString());
      expect(agent.cluster.log).toEqual([]);
    });
  });

  it('HIGH: a database failover waits for two SREs and a tech lead; a double click counts once', async () => {
    const agent = await start({ deploys: [] });
    const incident = datastoreSaturation();
    const { result, chain, path } = await run(agent, incident);
    expect(result?.risk?.tier).toBe('HIGH');
    expect(result?.approvalTimeoutSeconds).toBe(3600);
    expect(path).toEqual([
      ...DECIDED,
      'RequestQuorumApproval',
      'Remediate',
      ...PENDING_CHECK,
      ...PENDING_CHECK,
      'VerifyRecovery',
      'RecoveredYet',
      'NotifyOutcome',
      'Close',
      'HasApprovalMessage',
      'CloseApprovalMessage',
    ]);
    const votes = result?.approval?.votes ?? [];
    expect(votes.map((v) => `${v.userName} (${v.role})`)).toEqual([
      'replay-sre-1 (sre)',
      'replay-sre-2 (sre)',
      'replay-lead-1 (tech-lead)',
    ]);
    // The second click of replay-sre-1 was refused, told to them privately, and never stored as a vote.
    expect(await agent.approvals.listVotes(incident.id)).toHaveLength(3);
    expect(agent.approvalMessages.calls.filter((c) => c.call === 'tell')).toEqual([
      expect.objectContaining({ userId: 'USIMSRE1', text: 'You have already voted on this decision.' }),
    ]);
    expect(result?.execution?.[0]).toMatchObject({
      action: 'db-failover',
      target: 'data/datastore/mysql-main',
      result: 'succeeded',
    });
    expect(kindsAndActors(chain)).toEqual([
      ...DECIDED_RECORDS,
      'step:workflow:RequestQuorumApproval',
      'vote:slack:USIMSRE1 (replay-sre-1)',
      'refusal:slack:USIMSRE1 (replay-sre-1)',
      'vote:slack:USIMSRE2 (replay-sre-2)',
      'vote:slack:USIMTECHLEAD1 (replay-lead-1)',
      'action:executor:db-failover',
      'step:workflow:VerifyRecovery',
      'step:workflow:VerifyRecovery',
      'step:workflow:VerifyRecovery',
      'notification:workflow:NotifyOutcome',
      'step:workflow:Close',
      'step:workflow:close-approval',
    ]);
    expect(recordOf(chain, 'slack:USIMSRE1 (replay-sre-1)', 'refusal')?.detail).toMatchObject({
      code: 'duplicate-vote',
    });
    expect(recordOf(chain, 'slack:USIMTECHLEAD1 (replay-lead-1)')?.detail).toMatchObject({ outcome: 'approved' });
    expect(recordOf(chain, 'workflow:RequestQuorumApproval')?.detail).toMatchObject({
      quorum: { sre: 2, 'tech-lead': 1 },
      timeoutSeconds: 3600,
    });
    expect(verifyChain(chain).ok).toBe(true);
  });

  it('CRITICAL: a funds service gets a diagnosis report and a page, never an action nor an approval', async () => {
    const agent = await start({ deploys: [{ time: OPENED - 3 * 60_000, service: 'wallet-service' }] });
    const incident = incidentOn('wallet-service', [['error_ratio{wallet-service}', 0.09, 0.002]]);
    const { result, chain, path } = await run(agent, incident);
    expect(result?.risk?.tier).toBe('CRITICAL');
    expect(path).toEqual([...DECIDED, 'DiagnosisOnlyReport', 'Page', 'Close', 'HasApprovalMessage', 'IncidentClosed']);
    expect(agent.cluster.log).toEqual([]);
    expect(await agent.approvals.getDecision(incident.id)).toBeUndefined();
    expect(result?.outcome).toBe('diagnosis-only');
    expect(result?.outcomeNote).toBe('diagnosis only: nothing executed');
    expect(kindsAndActors(chain)).toEqual([
      ...DECIDED_RECORDS,
      'notification:workflow:DiagnosisOnlyReport',
      'notification:workflow:Page',
      'step:workflow:Close',
    ]);
    expect(recordOf(chain, 'workflow:AssessRisk')?.detail).toMatchObject({ tier: 'CRITICAL' });
    expect(verifyChain(chain).ok).toBe(true);
  });

  describe('a failing step notifies a human and ends in the IncidentWorkflowFailed state', () => {
    it('before any approval: nothing to close', async () => {
      const agent = await start();
      const missing = 'inc-20261104T0307-nobody';
      const result = await agent.runIncidentWorkflow(missing);
      expect(result).toBeUndefined();
      expect(agent.workflowPaths.get(missing)).toEqual([
        'Diagnose',
        'NotifyFailure',
        'WasApprovalRequested',
        'IncidentWorkflowFailed',
      ]);
      expect(agent.failedWorkflows).toEqual([
        expect.objectContaining({ incidentId: missing, error: 'IncidentWorkflowFailed' }),
      ]);
      expect(agent.notifier.sent.filter((n) => n.kind === 'page')).toHaveLength(1);
      const chain = await agent.audit.read(missing);
      expect(kindsAndActors(chain)).toEqual(['error:workflow:NotifyFailure']);
      expect(chain[0].detail.failure).toMatchObject({ Error: 'CaseError' });
      expect(verifyChain(chain).ok).toBe(true);
    });

    it('after an approval: the decided message is closed as failed, naming the state and the error', async () => {
      const agent = await start();
      jest
        .spyOn(agent.cluster, 'rolloutStatus')
        .mockRejectedValue(Object.assign(new Error('the API server did not answer'), { name: 'KubeApiError' }));
      const incident = badDeploy();
      const { result, chain, path } = await run(agent, incident);
      expect(result).toBeUndefined();
      expect(path).toEqual([
        ...DECIDED,
        'RequestApproval',
        'Remediate',
        'VerifyRecovery',
        'VerifyRecoveryFailed',
        'NotifyFailure',
        'WasApprovalRequested',
        'CloseApprovalOnFailure',
        'IncidentWorkflowFailed',
      ]);
      expect(agent.failedWorkflows).toEqual([
        expect.objectContaining({ incidentId: incident.id, error: 'IncidentWorkflowFailed' }),
      ]);
      const note = 'the workflow failed at VerifyRecovery: KubeApiError';
      expect(await agent.approvals.getDecision(incident.id)).toMatchObject({
        decision: { status: 'approved', workflowOutcome: 'failed', outcomeNote: note },
      });
      expect(kindsAndActors(chain)).toEqual([
        ...DECIDED_RECORDS,
        'step:workflow:RequestApproval',
        'vote:slack:USIMSRE1 (replay-sre-1)',
        'action:executor:rollback',
        'error:workflow:NotifyFailure',
        'step:workflow:close-approval',
      ]);
      expect(recordOf(chain, 'workflow:NotifyFailure')?.detail.failure).toMatchObject({
        Error: 'KubeApiError',
        State: 'VerifyRecovery',
      });
      expect(recordOf(chain, 'workflow:close-approval')?.detail).toMatchObject({
        outcome: 'failed',
        status: 'approved',
        note,
      });
      expect(verifyChain(chain).ok).toBe(true);
    });

    it('when the approval request itself fails, closing it fails too, and the workflow still ends failed', async () => {
      const agent = await start();
      jest
        .spyOn(agent.approvals, 'createDecision')
        .mockRejectedValue(Object.assign(new Error('throttled'), { name: 'ProvisionedThroughputExceededException' }));
      const incident = badDeploy();
      const { result, chain, path } = await run(agent, incident);
      expect(result).toBeUndefined();
      expect(path).toEqual([
        ...DECIDED,
        'RequestApproval',
        'RequestApprovalFailed',
        'NotifyFailure',
        'WasApprovalRequested',
        'CloseApprovalOnFailure',
        'IncidentWorkflowFailed',
      ]);
      expect(agent.failedWorkflows).toEqual([
        expect.objectContaining({ incidentId: incident.id, error: 'IncidentWorkflowFailed' }),
      ]);
      expect(agent.notifier.sent.filter((n) => n.kind === 'page')).toHaveLength(1);
      // No decision was stored, so closing it failed (UnknownDecisionError): caught, the failure still reported.
      expect(await agent.approvals.getDecision(incident.id)).toBeUndefined();
      expect(kindsAndActors(chain)).toEqual([...DECIDED_RECORDS, 'error:workflow:NotifyFailure']);
      expect(verifyChain(chain).ok).toBe(true);
    });
  });

  it('a configured deny rule makes a HIGH failover diagnosis only; a change freeze raises the risk', async () => {
    const agent = await start({
      denyList: [{ service: 'mysql-main', action: 'db-failover', reason: 'production RDS fails over only by hand' }],
      changeFreezes: [{ start: '2026-11-04T00:00:00Z', end: '2026-11-05T00:00:00Z' }],
      deploys: [],
    });
    const incident = incidentOn('mysql-main', [['datastore_connections{mysql-main}', 0.98, 0.38]]);
    const { result, path } = await run(agent, incident);
    expect(result?.guardrails?.refused).toEqual([
      expect.objectContaining({
        action: 'db-failover',
        rule: 'deny-list',
        detail: 'production RDS fails over only by hand',
      }),
    ]);
    expect(result?.risk?.factors.find((f) => f.name === 'changeFreeze')?.value).toBe(1);
    expect(path).toEqual([...DECIDED, 'DiagnosisOnlyReport', 'Page', 'Close', 'HasApprovalMessage', 'IncidentClosed']);
    expect(agent.cluster.log).toEqual([]);
  });

  it('enforces at most three operations per resource per hour, across executions', async () => {
    const agent = await start({ deploys: [] });
    const outcomes: string[] = [];
    for (let minute = 0; minute < 4; minute++) {
      const { result } = await run(
        agent,
        incidentOn('market-data', [['request_rate{market-data}', 15000, 3000]], minute * 10),
      );
      outcomes.push(`${result?.execution?.[0]?.result}: ${result?.execution?.[0]?.detail.split(':')[0]}`);
    }
    expect(outcomes.slice(0, 3).every((o) => o.startsWith('succeeded'))).toBe(true);
    expect(outcomes[3]).toBe('refused: rate-limit');
  });

  it('no recovery within the playbook window: undoes the change from its snapshot, pages, and says so on the approval', async () => {
    const clock = new SimulatedClock(OPENED, true);
    const agent = await start({ clock });
    const incident = badDeploy();
    await agent.incidents.create(incident);
    let done = false;
    const running = agent.runIncidentWorkflow(incident.id).finally(() => {
      done = true;
    });
    // The 60-second loop keeps seeing the errors: every minute the incident's signals are raised again.
    for (let minute = 1; minute <= 40; minute++) {
      while (!done && clock.parked === 0) await new Promise((resolve) => setTimeout(resolve, 1));
      if (done) break;
      const at = new Date(OPENED + minute * 60_000).toISOString();
      const current = await agent.incidents.get(incident.id);
      if (!current) throw new Error('incident vanished');
      await agent.incidents.update({
        ...current,
        version: current.version + 1,
        updatedAt: at,
        lastAnomalyAt: at,
        signals: current.signals.map((signal) => ({ ...signal, lastRaisedAt: at })),
      });
      clock.advanceTo(OPENED + minute * 60_000);
    }
    const result = (await running) as EndedCase | undefined;
    // The bad-deploy playbook waits 10 minutes: one check a minute, the last one past the window.
    expect(agent.workflowPaths.get(incident.id)).toEqual([
      ...DECIDED,
      'RequestApproval',
      'Remediate',
      ...Array<string[]>(10).fill(PENDING_CHECK).flat(),
      'VerifyRecovery',
      'RecoveredYet',
      'UndoRemediation',
      'NotifyNoRecovery',
      'Close',
      'HasApprovalMessage',
      'CloseApprovalMessage',
    ]);
    expect(result?.verification).toMatchObject({ status: 'not-recovered', recovered: false, checks: 11 });
    expect(result?.verification?.detail).toContain('not recovered within 10 min of the change');
    const snapshotId = result?.execution?.[0]?.snapshotId;
    expect(snapshotId).toBeDefined();
    expect(result?.undo).toEqual([
      expect.objectContaining({
        action: 'rollback',
        target: 'trading/deployment/order-api',
        result: 'restored',
        dryRun: true,
        snapshotId,
      }),
    ]);
    expect(agent.cluster.log.map((entry) => entry.action)).toEqual(['rollback', 'restore']);
    expect(result?.outcome).toBe('not-recovered');
    expect(agent.notifier.sent.filter((n) => n.kind === 'page')).toHaveLength(1);
    const note =
      'not recovered within 10 min of the change: the change was undone (rollback on trading/deployment/order-api: restored); on-call paged';
    expect(result?.outcomeNote).toBe(note);
    expect(await agent.approvals.getDecision(incident.id)).toMatchObject({
      decision: { status: 'approved', workflowOutcome: 'closed', outcomeNote: note },
    });
    const chain = await agent.audit.read(incident.id);
    expect(kindsAndActors(chain)).toEqual([
      ...DECIDED_RECORDS,
      'step:workflow:RequestApproval',
      'vote:slack:USIMSRE1 (replay-sre-1)',
      'action:executor:rollback',
      ...Array<string>(11).fill('step:workflow:VerifyRecovery'),
      'action:executor:undo-rollback',
      'notification:workflow:NotifyNoRecovery',
      'step:workflow:Close',
      'step:workflow:close-approval',
    ]);
    expect(verifyChain(chain)).toEqual({ ok: true, length: 22 });
  });
});

describe('localTimeoutPaths', () => {
  it('points a TimeoutSecondsPath at the copy the payload carries, where aws-local-stepfunctions resolves it', () => {
    const definition = {
      States: {
        Wait: {
          Parameters: { Payload: { 'timeoutSeconds.$': '$.approvalTimeoutSeconds' } },
          TimeoutSecondsPath: '$.approvalTimeoutSeconds',
        },
        Other: { Parameters: { Payload: {} } },
      },
    };
    expect(localTimeoutPaths(definition).States.Wait.TimeoutSecondsPath).toBe('$.Payload.timeoutSeconds');
    expect(localTimeoutPaths(definition).States.Other).toEqual({ Parameters: { Payload: {} } });
  });

  it('refuses a path the payload does not carry: the local run would not be faithful', () => {
    expect(() =>
      localTimeoutPaths({ States: { Wait: { TimeoutSecondsPath: '$.seconds', Parameters: { Payload: {} } } } }),
    ).toThrow('Wait: TimeoutSecondsPath $.seconds is not also sent in the payload');
  });
});
