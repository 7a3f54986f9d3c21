// Remediate's own safety rails, whatever the case it is handed: no snapshot, no change; the rate limit holds.

import type { ActionLedger, ClusterExecutor, SnapshotStore, TargetSnapshot } from '../../lambdas/core/action/ports';
import { remediate } from '../../lambdas/core/action/remediate';
import type { IncidentCase } from '../../lambdas/core/decision/incident-case';
import type { PlannedAction } from '../../lambdas/core/decision/types';
import { ServiceGraph } from '../../lambdas/core/topology';
import { openIncident } from '../support/incident-fixture';

const graph = new ServiceGraph({
  services: [{ name: 'order-api', kind: 'service', criticality: 'core', namespace: 'trading', dependsOn: [] }],
});
const rollback: PlannedAction = {
  action: 'rollback',
  service: 'order-api',
  target: { namespace: 'trading', kind: 'deployment', name: 'order-api' },
  params: {},
  reason: 'bad deploy',
};
const approvedCase: IncidentCase = {
  incidentId: 'inc-20261104T0307-order-api',
  incident: openIncident(['order-api']),
  plan: [rollback],
  guardrails: { allowed: [rollback], allowedCount: 1, refused: [], moneyInvolved: false },
};

function cluster(snapshot: () => Promise<TargetSnapshot>): ClusterExecutor & { changes: number } {
  const spy = {
    changes: 0,
    snapshot,
    execute: async () => {
      spy.changes++;
      return { ok: true, detail: 'rolled back' };
    },
    rolloutStatus: async () => ({ complete: true, detail: 'complete' }),
    restore: async () => ({ ok: true, detail: 'restored' }),
  };
  return spy;
}

const goodSnapshot = async (): Promise<TargetSnapshot> => ({
  snapshotId: 'snap-1',
  target: rollback.target,
  state: { spec: { replicas: 3 } },
  takenAt: '2026-11-04T03:08:00Z',
});
const openLedger: ActionLedger = { reserve: async () => 'reserved' };
const keptSnapshots = (): SnapshotStore & { kept: TargetSnapshot[] } => {
  const kept: TargetSnapshot[] = [];
  return { kept, put: async (_id, s) => void kept.push(s), get: async () => undefined };
};
const deps = { graph, denyList: [], dryRun: false, now: () => Date.parse('2026-11-04T03:08:00Z') };

describe('remediate', () => {
  it('changes nothing when the target cannot be snapshotted', async () => {
    const k8s = cluster(async () => {
      throw new Error('deployments.apps "order-api" is forbidden');
    });
    const result = await remediate(approvedCase, {
      ...deps,
      cluster: k8s,
      ledger: openLedger,
      snapshots: keptSnapshots(),
    });
    expect(k8s.changes).toBe(0);
    expect(result.execution).toEqual([
      expect.objectContaining({
        action: 'rollback',
        result: 'refused',
        detail: 'no-snapshot: deployments.apps "order-api" is forbidden',
      }),
    ]);
  });

  it('changes nothing when the snapshot cannot be stored where an undo would find it', async () => {
    const k8s = cluster(goodSnapshot);
    const failingStore: SnapshotStore = {
      put: async () => {
        throw new Error('ProvisionedThroughputExceededException');
      },
      get: async () => undefined,
    };
    const result = await remediate(approvedCase, {
      ...deps,
      cluster: k8s,
      ledger: openLedger,
      snapshots: failingStore,
    });
    expect(k8s.changes).toBe(0);
    expect(result.execution?.[0]).toMatchObject({ result: 'refused', detail: expect.stringMatching(/^no-snapshot: /) });
  });

  it('stores the snapshot before the change and names it on the execution record', async () => {
    const k8s = cluster(goodSnapshot);
    const snapshots = keptSnapshots();
    const result = await remediate(approvedCase, { ...deps, cluster: k8s, ledger: openLedger, snapshots });
    expect(snapshots.kept.map((s) => s.snapshotId)).toEqual(['snap-1']);
    expect(k8s.changes).toBe(1);
    expect(result.execution?.[0]).toMatchObject({ result: 'succeeded', snapshotId: 'snap-1' });
  });

  it('refuses the fourth operation on a resource within the hour, before any snapshot or change', async () => {
    const k8s = cluster(goodSnapshot);
    const fullLedger: ActionLedger = { reserve: async () => 'limit-reached' };
    const result = await remediate(approvedCase, {
      ...deps,
      cluster: k8s,
      ledger: fullLedger,
      snapshots: keptSnapshots(),
    });
    expect(k8s.changes).toBe(0);
    expect(result.execution?.[0]).toMatchObject({
      result: 'refused',
      detail: 'rate-limit: 3 operations on trading/deployment/order-api within the last hour',
    });
  });
});
