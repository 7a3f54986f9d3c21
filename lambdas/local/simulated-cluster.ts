// A simulated Kubernetes cluster built from the scenario topology: Deployments with replicas and revisions,
// datastores with a primary. Actions change it (or, as a server-side dry run, only validate), so replay
// exercises snapshot, execute and rollout status without a cluster.

import type { ClusterExecutor, TargetSnapshot } from '../core/action/ports';
import type { Topology } from '../core/config/schema';
import { type ActionTarget, formatTarget, type PlannedAction } from '../core/decision/types';

interface SimulatedDeployment {
  replicas: number;
  revision: number;
  restartedAt?: string;
}

interface SimulatedDatastore {
  primary: 'a' | 'b';
  flushedAt?: string;
}

export class SimulatedCluster implements ClusterExecutor {
  private readonly deployments = new Map<string, SimulatedDeployment>();
  private readonly datastores = new Map<string, SimulatedDatastore>();
  private readonly snapshots = new Map<string, TargetSnapshot>();
  /** Every change request the executor made, for the report and the tests. */
  readonly log: { readonly action: string; readonly target: string; readonly dryRun: boolean }[] = [];

  constructor(
    topology: Topology,
    private readonly clock: () => number,
  ) {
    for (const s of topology.services) {
      if (s.kind === 'datastore') this.datastores.set(`${s.namespace}/datastore/${s.name}`, { primary: 'a' });
      else {
        this.deployments.set(`${s.namespace}/deployment/${s.deployment ?? s.name}`, {
          replicas: s.replicas ?? 2,
          revision: 1,
        });
      }
    }
  }

  async snapshot(target: ActionTarget): Promise<TargetSnapshot> {
    const key = formatTarget(target);
    const object = this.deployments.get(key) ?? this.datastores.get(key);
    if (!object && target.kind !== 'edge' && target.kind !== 'zone') throw new Error(`${key} not found in the cluster`);
    const snapshot: TargetSnapshot = {
      snapshotId: `snap-${this.snapshots.size + 1}`,
      target,
      state: structuredClone(object ?? {}),
      takenAt: new Date(this.clock()).toISOString(),
    };
    this.snapshots.set(snapshot.snapshotId, snapshot);
    return snapshot;
  }

  async execute(
    step: PlannedAction,
    options: { dryRun: boolean; snapshotId: string },
  ): Promise<{ ok: boolean; detail: string }> {
    if (!this.snapshots.has(options.snapshotId)) return { ok: false, detail: `unknown snapshot ${options.snapshotId}` };
    const key = formatTarget(step.target);
    this.log.push({ action: step.action, target: key, dryRun: options.dryRun });
    const deployment = this.deployments.get(key);
    const datastore = this.datastores.get(key);
    const now = new Date(this.clock()).toISOString();
    const verb = options.dryRun ? 'would' : 'did';
    switch (step.action) {
      case 'scale-up': {
        if (!deployment) return { ok: false, detail: `${key}: no such Deployment` };
        const to = Number(step.params.toReplicas ?? deployment.replicas + 1);
        if (!(to > deployment.replicas))
          return { ok: false, detail: `${key}: already at ${deployment.replicas} replicas` };
        if (!options.dryRun) deployment.replicas = to;
        return { ok: true, detail: `${verb} scale ${key} to ${to} replicas` };
      }
      case 'rollback': {
        if (!deployment) return { ok: false, detail: `${key}: no such Deployment` };
        if (!options.dryRun) deployment.revision += 1;
        return { ok: true, detail: `${verb} roll ${key} back to the previous revision's pod template` };
      }
      case 'rollout-restart':
      case 'restart-pod': {
        if (!deployment) return { ok: false, detail: `${key}: no such Deployment` };
        if (!options.dryRun) deployment.restartedAt = now;
        const scope = step.action === 'restart-pod' ? 'one pod of' : 'every pod of';
        return { ok: true, detail: `${verb} restart ${scope} ${key}` };
      }
      case 'db-failover': {
        if (!datastore) return { ok: false, detail: `${key}: no such datastore` };
        if (!options.dryRun) datastore.primary = datastore.primary === 'a' ? 'b' : 'a';
        return { ok: true, detail: `${verb} fail ${key} over to its replica` };
      }
      case 'cache-flush': {
        if (!datastore) return { ok: false, detail: `${key}: no such datastore` };
        if (!options.dryRun) datastore.flushedAt = now;
        return { ok: true, detail: `${verb} flush ${key}` };
      }
      default:
        return { ok: true, detail: `${verb} apply ${step.action} to ${key}` };
    }
  }

  async rolloutStatus(step: PlannedAction): Promise<{ complete: boolean; detail: string }> {
    return { complete: true, detail: `${formatTarget(step.target)}: rollout complete` };
  }
}
