// The iron rule, as a property of the whole decision path: for random estates, incidents and plans (including
// plans a model or a bad playbook could propose), nothing that touches money ever reaches the cluster.

import fc from 'fast-check';
import type { ActionLedger, ClusterExecutor, SnapshotStore, TargetSnapshot } from '../../lambdas/core/action/ports';
import { remediate } from '../../lambdas/core/action/remediate';
import type { Criticality, Topology } from '../../lambdas/core/config/schema';
import { touchesMoney } from '../../lambdas/core/decision/guardrails';
import { guardrailStep, type IncidentCase } from '../../lambdas/core/decision/incident-case';
import { assessRisk } from '../../lambdas/core/decision/risk';
import { ACTION_CATALOG, MONEY_OPERATION, type PlannedAction } from '../../lambdas/core/decision/types';
import { ServiceGraph } from '../../lambdas/core/topology';
import { openIncident } from '../support/incident-fixture';

const SERVICE_NAMES = [
  'order-api',
  'api-gateway',
  'market-data',
  'matching-engine',
  'mysql-main',
  'wallet-service',
  'hotwallet-signer',
  'user-balance',
  'payout-worker',
  'settlement-batch',
  'risk-engine',
  'load-balancer-edge',
];
const MONEY_ACTIONS = ['wallet-transfer', 'balance-adjust', 'orderCorrection', 'pause-trading', 'withdraw', 'payout'];
const CATALOG_ACTIONS = Object.keys(ACTION_CATALOG);

const arbitraryEstate = fc
  .uniqueArray(
    fc.record({
      name: fc.constantFrom(...SERVICE_NAMES),
      criticality: fc.constantFrom<Criticality>('funds', 'core', 'standard'),
      replicas: fc.integer({ min: 1, max: 12 }),
    }),
    { minLength: 2, maxLength: SERVICE_NAMES.length, selector: (s) => s.name },
  )
  .map(
    (services): Topology => ({
      services: services.map((s, i) => ({
        ...s,
        kind: 'service' as const,
        namespace: 'prod',
        // Each service calls the one listed after it: a chain, so dependants and blast radius vary.
        dependsOn: i + 1 < services.length ? [services[i + 1].name] : [],
      })),
    }),
  );

const arbitraryCase = arbitraryEstate.chain((topology) => {
  const names = topology.services.map((s) => s.name);
  const step = fc
    .record({
      action: fc.constantFrom(...CATALOG_ACTIONS, ...MONEY_ACTIONS),
      service: fc.constantFrom(...names),
      // A target's name need not be its service's: a model may point a step anywhere.
      name: fc.constantFrom(...names, 'hot-wallet', 'ledger-writer', 'orders'),
    })
    .map(
      ({ action, service, name }): PlannedAction =>
        ({
          action,
          service,
          target: { namespace: 'prod', kind: 'deployment', name },
          params: {},
          reason: 'proposed',
        }) as PlannedAction,
    );
  return fc.record({
    topology: fc.constant(topology),
    rootCause: fc.constantFrom(...names),
    affected: fc.subarray(names, { minLength: 1 }),
    plan: fc.array(step, { minLength: 1, maxLength: 5 }),
    severity: fc.double({ min: 0, max: 1, noNaN: true }),
    confidence: fc.double({ min: 0, max: 1, noNaN: true }),
    trafficRatio: fc.double({ min: 0.5, max: 6, noNaN: true }),
    changeFreeze: fc.boolean(),
  });
});

/** A cluster that records every change it is asked to make. */
function recordingCluster(): ClusterExecutor & { executed: PlannedAction[] } {
  const executed: PlannedAction[] = [];
  return {
    executed,
    snapshot: async (target): Promise<TargetSnapshot> => ({
      snapshotId: `snap-${target.name}`,
      target,
      state: {},
      takenAt: '2026-11-04T03:08:00Z',
    }),
    execute: async (step) => {
      executed.push(step);
      return { ok: true, detail: 'done' };
    },
    rolloutStatus: async () => ({ complete: true, detail: 'complete' }),
    restore: async () => ({ ok: true, detail: 'restored' }),
  };
}

const openLedger: ActionLedger = { reserve: async () => 'reserved' };
const snapshots: SnapshotStore = { put: async () => undefined, get: async () => undefined };

describe('the iron rule across the decision path (property)', () => {
  it('routes every plan that touches money to CRITICAL, and no such step is ever executed', async () => {
    await fc.assert(
      fc.asyncProperty(arbitraryCase, async (input) => {
        const graph = new ServiceGraph(input.topology);
        const criticalityOf = (name: string) => graph.get(name)?.criticality;
        const ref = (name: string) => ({ name, criticality: criticalityOf(name) ?? ('standard' as const) });
        const risk = assessRisk({
          rootCause: ref(input.rootCause),
          services: input.affected.map(ref),
          totalServices: graph.names().length,
          dependants: graph
            .names()
            .filter((s) => s !== input.rootCause && graph.dependsOnTransitively(s, input.rootCause)).length,
          replicaShare: 1,
          severity: input.severity,
          diagnosisConfidence: input.confidence,
          trafficRatio: input.trafficRatio,
          changeFreeze: input.changeFreeze,
          plan: input.plan,
        });
        const assessed: IncidentCase = {
          incidentId: 'inc-20261104T0307-prop',
          incident: openIncident(input.affected, { id: 'inc-20261104T0307-prop' }),
          plan: input.plan,
          risk,
        };
        const guarded = guardrailStep(assessed, {
          graph,
          topology: input.topology,
          deploysFor: async () => [],
          denyList: [],
          changeFreezeAt: () => false,
          playbooks: { playbooks: [] },
          now: () => Date.parse('2026-11-04T03:08:00Z'),
        });
        const money = input.plan.some((s) => touchesMoney(s, criticalityOf(s.service)));
        const actedOnFunds = [input.rootCause, ...input.plan.map((s) => s.service)].some(
          (s) => criticalityOf(s) === 'funds',
        );
        if (money || actedOnFunds) expect(guarded.risk?.tier).toBe('CRITICAL');

        // Route as the workflow does, assuming every approval is granted: the worst case.
        const cluster = recordingCluster();
        const routesToExecution = guarded.risk?.tier !== 'CRITICAL' && (guarded.guardrails?.allowedCount ?? 0) > 0;
        if (routesToExecution) {
          await remediate(guarded, {
            graph,
            denyList: [],
            cluster,
            ledger: openLedger,
            snapshots,
            dryRun: false,
            now: Date.now,
          });
        }
        // And a tampered case that skipped the checks: Remediate re-checks on its own.
        await remediate(
          {
            ...assessed,
            guardrails: { allowed: input.plan, allowedCount: input.plan.length, refused: [], moneyInvolved: false },
          },
          { graph, denyList: [], cluster, ledger: openLedger, snapshots, dryRun: false, now: Date.now },
        );

        for (const step of cluster.executed) {
          expect(criticalityOf(step.service)).not.toBe('funds');
          expect(MONEY_OPERATION.test(step.action)).toBe(false);
          expect(MONEY_OPERATION.test(step.target.name)).toBe(false);
          expect(MONEY_OPERATION.test(step.service)).toBe(false);
          expect(CATALOG_ACTIONS).toContain(step.action);
        }
        if (money) expect(routesToExecution).toBe(false);
      }),
      { numRuns: 1000 },
    );
  });
});
