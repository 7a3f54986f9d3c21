// The real state-machines/incident.asl.json executed by aws-local-stepfunctions through every tier, with
// dynalite behind the stores and the simulated cluster and approvers of the local runtime.

import { verifyChain } from '../../lambdas/core/action/audit';
import type { DeployRecord } from '../../lambdas/core/cognition/classify';
import { type Incident, incidentId } from '../../lambdas/core/cognition/incident';
import { topologySchema } from '../../lambdas/core/config/schema';
import type { InstantResult, MetricSource, RangeResult } from '../../lambdas/core/perception/metric-source';
import { ok } from '../../lambdas/core/result';
import { SimulatedClock } from '../../lambdas/local/agent-clock';
import { LocalAgent } from '../../lambdas/local/local-agent';
import type { ApproverMode } from '../../lambdas/local/simulated-approvers';
import { testCatalog, testDetection } from '../support/catalog';

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

async function agentWith(
  approvers: ApproverMode,
  deploys: DeployRecord[] = [{ time: OPENED - 4 * 60_000, service: 'order-api', version: 'v2', previousVersion: 'v1' }],
) {
  return LocalAgent.start({
    source: silent,
    catalog: testCatalog,
    topology,
    detection: testDetection,
    approvers,
    deploys,
    clock: new SimulatedClock(OPENED, false),
  });
}

const badDeploy = () =>
  incidentOn('order-api', [
    ['error_ratio{order-api}', 0.09, 0.002],
    ['error_ratio{api-gateway}', 0.02, 0.002],
  ]);

describe('incident workflow (state-machines/incident.asl.json)', () => {
  const agents: LocalAgent[] = [];
  afterAll(async () => {
    await Promise.all(agents.map((a) => a.stop()));
  });
  const start = async (approvers: ApproverMode, deploys?: Parameters<typeof agentWith>[1]) => {
    const agent = await agentWith(approvers, deploys);
    agents.push(agent);
    return agent;
  };

  it('MEDIUM, approved: waits for one SRE, then rolls back (dry run) and verifies', async () => {
    const agent = await start('approve');
    const incident = badDeploy();
    await agent.incidents.create(incident);
    const result = await agent.runIncidentWorkflow(incident.id);
    expect(agent.workflowTrace).toEqual([
      'Diagnose',
      'PlanRemediation',
      'AssessRisk',
      'CheckGuardrails',
      'RequestApproval',
      'Remediate',
      // Pending while the rollout runs (two minutes), then recovered: the signals have been quiet since.
      'VerifyRecovery',
      'VerifyRecovery',
      'VerifyRecovery',
      'NotifyOutcome',
      'CloseApprovalMessage',
      'Close',
    ]);
    expect(result?.verification).toMatchObject({ status: 'recovered', recovered: true, checks: 3 });
    expect(result?.diagnosis?.rootCause).toMatchObject({ service: 'order-api', kind: 'bad-deploy' });
    expect(result?.risk?.tier).toBe('MEDIUM');
    expect(result?.approval?.votes.map((v) => v.role)).toEqual(['sre']);
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
    // Every step, the vote and the action are in the incident's audit chain, and the chain is intact.
    const chain = await agent.audit.read(incident.id);
    expect(chain.map((r) => `${r.kind}:${r.actor}`)).toEqual([
      'step:workflow:Diagnose',
      'step:workflow:PlanRemediation',
      'step:workflow:AssessRisk',
      'step:workflow:CheckGuardrails',
      'vote:approver:USIM-SRE-1 (replay-sre-1)',
      'action:executor:rollback',
      'step:workflow:VerifyRecovery',
      'step:workflow:VerifyRecovery',
      'step:workflow:VerifyRecovery',
      'notification:workflow:NotifyOutcome',
      'notification:workflow:CloseApprovalMessage',
      'step:workflow:Close',
    ]);
    expect(verifyChain(chain)).toEqual({ ok: true, length: 12 });
  });

  it('MEDIUM, rejected: records who rejected and why, executes nothing', async () => {
    const agent = await start('reject');
    const incident = badDeploy();
    await agent.incidents.create(incident);
    const result = await agent.runIncidentWorkflow(incident.id);
    expect(agent.workflowTrace).toEqual([
      'Diagnose',
      'PlanRemediation',
      'AssessRisk',
      'CheckGuardrails',
      'RequestApproval',
      'RecordRejection',
      'Close',
    ]);
    expect(result?.rejection?.Error).toBe('ApprovalRejected');
    expect(JSON.parse(result?.rejection?.Cause ?? '{}')).toMatchObject({
      by: 'replay-sre-1',
      reason: expect.any(String),
    });
    expect(result?.execution).toBeUndefined();
    expect(agent.cluster.log).toEqual([]);
    expect(result?.outcome).toBe('rejected');
  });

  it('MEDIUM, nobody answers: escalates (page) and executes nothing', async () => {
    const agent = await start('timeout');
    const incident = badDeploy();
    await agent.incidents.create(incident);
    const result = await agent.runIncidentWorkflow(incident.id);
    expect(agent.workflowTrace.slice(-3)).toEqual(['Escalate', 'MarkApprovalTimedOut', 'Close']);
    expect(result?.timeout?.Error).toBe('States.Timeout');
    expect(agent.cluster.log).toEqual([]);
    expect(agent.notifier.sent.filter((n) => n.kind === 'page')).toHaveLength(1);
    expect(result?.outcome).toBe('approval-timed-out');
  });

  it('HIGH: a database failover waits for two SREs and a tech lead', async () => {
    const agent = await start('approve', []);
    const incident = incidentOn('mysql-main', [
      ['datastore_connections{mysql-main}', 0.98, 0.38],
      ['error_ratio{order-api}', 0.03, 0.002],
      ['error_ratio{wallet-service}', 0.03, 0.002],
    ]);
    await agent.incidents.create(incident);
    const result = await agent.runIncidentWorkflow(incident.id);
    expect(result?.risk?.tier).toBe('HIGH');
    expect(agent.workflowTrace).toContain('RequestQuorumApproval');
    const votes = result?.approval?.votes ?? [];
    expect(votes.map((v) => v.role).sort()).toEqual(['sre', 'sre', 'tech-lead']);
    expect(new Set(votes.map((v) => v.userId)).size).toBe(3);
    expect(result?.execution?.[0]).toMatchObject({
      action: 'db-failover',
      target: 'data/datastore/mysql-main',
      result: 'succeeded',
    });
  });

  it('LOW: scales out at once and notifies afterwards, no approval', async () => {
    const agent = await start('reject', []); // would reject if asked: proves nobody is asked
    const incident = incidentOn('market-data', [['request_rate{market-data}', 15000, 3000]]);
    await agent.incidents.create(incident);
    const result = await agent.runIncidentWorkflow(incident.id);
    expect(result?.risk?.tier).toBe('LOW');
    expect(agent.workflowTrace).toEqual([
      'Diagnose',
      'PlanRemediation',
      'AssessRisk',
      'CheckGuardrails',
      'Remediate',
      'VerifyRecovery',
      'VerifyRecovery',
      'VerifyRecovery',
      'NotifyOutcome',
      'Close',
    ]);
    expect(result?.execution?.[0]).toMatchObject({
      action: 'scale-up',
      target: 'market/deployment/market-data',
      result: 'succeeded',
    });
  });

  it('CRITICAL: a funds service gets a diagnosis report and a page, never an action', async () => {
    const agent = await start('approve', [{ time: OPENED - 3 * 60_000, service: 'wallet-service' }]);
    const incident = incidentOn('wallet-service', [['error_ratio{wallet-service}', 0.09, 0.002]]);
    await agent.incidents.create(incident);
    const result = await agent.runIncidentWorkflow(incident.id);
    expect(result?.risk?.tier).toBe('CRITICAL');
    expect(agent.workflowTrace).toEqual([
      'Diagnose',
      'PlanRemediation',
      'AssessRisk',
      'CheckGuardrails',
      'DiagnosisOnlyReport',
      'Page',
      'Close',
    ]);
    expect(agent.cluster.log).toEqual([]);
    const kinds = (await agent.audit.read(incident.id)).map((r) => r.kind);
    expect(kinds).not.toContain('action');
    expect(kinds).toContain('notification');
    expect(result?.outcome).toBe('diagnosis-only');
  });

  it('a failing step notifies a human and ends in the IncidentWorkflowFailed state', async () => {
    const agent = await start('approve');
    const result = await agent.runIncidentWorkflow('inc-20261104T0307-nobody');
    expect(result).toBeUndefined();
    expect(agent.workflowTrace).toEqual(['Diagnose', 'NotifyFailure']);
    expect(agent.failedWorkflows).toEqual([
      expect.objectContaining({ incidentId: 'inc-20261104T0307-nobody', error: 'IncidentWorkflowFailed' }),
    ]);
    expect(agent.notifier.sent.filter((n) => n.kind === 'page')).toHaveLength(1);
  });

  it('a configured deny rule makes a HIGH failover diagnosis only; a change freeze raises the risk', async () => {
    const agent = await LocalAgent.start({
      source: silent,
      catalog: testCatalog,
      topology,
      detection: testDetection,
      denyList: [{ service: 'mysql-main', action: 'db-failover', reason: 'production RDS fails over only by hand' }],
      changeFreezes: [{ start: '2026-11-04T00:00:00Z', end: '2026-11-05T00:00:00Z' }],
      clock: new SimulatedClock(OPENED, false),
    });
    agents.push(agent);
    const incident = incidentOn('mysql-main', [['datastore_connections{mysql-main}', 0.98, 0.38]]);
    await agent.incidents.create(incident);
    const result = await agent.runIncidentWorkflow(incident.id);
    expect(result?.guardrails?.refused).toEqual([
      expect.objectContaining({
        action: 'db-failover',
        rule: 'deny-list',
        detail: 'production RDS fails over only by hand',
      }),
    ]);
    expect(result?.risk?.factors.find((f) => f.name === 'changeFreeze')?.value).toBe(1);
    expect(agent.workflowTrace).toContain('DiagnosisOnlyReport');
    expect(agent.cluster.log).toEqual([]);
  });

  it('enforces at most three operations per resource per hour, across executions', async () => {
    const agent = await start('approve', []);
    const outcomes: string[] = [];
    for (let minute = 0; minute < 4; minute++) {
      const incident = incidentOn('market-data', [['request_rate{market-data}', 15000, 3000]], minute * 10);
      await agent.incidents.create(incident);
      const result = await agent.runIncidentWorkflow(incident.id);
      outcomes.push(`${result?.execution?.[0]?.result}: ${result?.execution?.[0]?.detail.split(':')[0]}`);
    }
    expect(outcomes.slice(0, 3).every((o) => o.startsWith('succeeded'))).toBe(true);
    expect(outcomes[3]).toBe('refused: rate-limit');
  });

  it('no recovery within the playbook window: undoes the change from its snapshot and pages', async () => {
    const clock = new SimulatedClock(OPENED, true);
    const agent = await LocalAgent.start({
      source: silent,
      catalog: testCatalog,
      topology,
      detection: testDetection,
      approvers: 'approve',
      deploys: [{ time: OPENED - 4 * 60_000, service: 'order-api', version: 'v2', previousVersion: 'v1' }],
      clock,
    });
    agents.push(agent);
    const incident = badDeploy();
    await agent.incidents.create(incident);
    let done = false;
    const run = agent.runIncidentWorkflow(incident.id).finally(() => {
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
    const result = await run;
    expect(agent.workflowTrace.slice(-5)).toEqual([
      'VerifyRecovery',
      'UndoRemediation',
      'NotifyNoRecovery',
      'CloseApprovalMessage',
      'Close',
    ]);
    // The bad-deploy playbook waits 10 minutes: one check a minute, the last one past the window.
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
    const chain = await agent.audit.read(incident.id);
    expect(chain.map((r) => `${r.kind}:${r.actor}`)).toContain('action:executor:undo-rollback');
    expect(verifyChain(chain).ok).toBe(true);
  });
});
