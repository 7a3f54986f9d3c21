// A simulated Kubernetes cluster built from the scenario topology: Deployments with replicas and revisions,
// datastores with a primary. It snapshots, changes, reports rollout status and restores like the EKS
// executor, and tells the replayed world what was done so the metrics of later ticks react to it.
//
// Replay runs with dryRun: like a server-side dry run, the simulated objects are validated against but not
// changed. The replayed world still plays out the change's effect on the metrics (and the rollout still
// takes its time), or verification and undo could never be exercised in a replay.

import type { ClusterExecutor, TargetSnapshot } from '../core/action/ports';
import type { Topology } from '../core/config/schema';
import { type ActionName, type ActionTarget, formatTarget, type PlannedAction } from '../core/decision/types';
import type { AgentClock } from './agent-clock';
import { ROLLOUT_SECONDS } from './scenario-world';

interface SimulatedDeployment {
  replicas: number;
  revision: number;
  restartedAt?: string;
  /** Epoch ms when the last change finishes rolling out. */
  rolledOutAt?: number;
}

interface SimulatedDatastore {
  primary: 'a' | 'b';
  flushedAt?: string;
}

/** What the replayed world is told about every change and undo. */
export interface WorldEffects {
  apply(action: ActionName, service: string, atSeconds: number): number;
  revert(service: string, atSeconds: number): number;
}

export class SimulatedCluster implements ClusterExecutor {
  private readonly deployments = new Map<string, SimulatedDeployment>();
  private readonly datastores = new Map<string, SimulatedDatastore>();
  /** Which service each object belongs to. */
  private readonly serviceOf = new Map<string, string>();
  private taken = 0;
  /** Every change and restore request the executor made, for the report and the tests. */
  readonly log: { readonly action: string; readonly target: string; readonly dryRun: boolean }[] = [];

  constructor(
    topology: Topology,
    private readonly clock: AgentClock,
    private readonly world?: WorldEffects,
  ) {
    for (const s of topology.services) {
      if (s.kind === 'datastore') {
        const key = `${s.namespace}/datastore/${s.name}`;
        this.datastores.set(key, { primary: 'a' });
        this.serviceOf.set(key, s.name);
      } else {
        const key = `${s.namespace}/deployment/${s.deployment ?? s.name}`;
        this.deployments.set(key, { replicas: s.replicas ?? 2, revision: 1 });
        this.serviceOf.set(key, s.name);
      }
      this.serviceOf.set(`${s.namespace}/edge/${s.name}`, s.name);
    }
  }

  async snapshot(target: ActionTarget): Promise<TargetSnapshot> {
    const key = formatTarget(target);
    const object = this.deployments.get(key) ?? this.datastores.get(key);
    if (!object && target.kind !== 'edge' && target.kind !== 'zone') throw new Error(`${key} not found in the cluster`);
    this.taken++;
    return {
      snapshotId: `snap-${this.taken}`,
      target,
      state: structuredClone(object ?? {}),
      takenAt: new Date(this.clock.now()).toISOString(),
    };
  }

  async execute(
    step: PlannedAction,
    options: { dryRun: boolean; snapshot: TargetSnapshot },
  ): Promise<{ ok: boolean; detail: string }> {
    const key = formatTarget(step.target);
    if (formatTarget(options.snapshot.target) !== key) {
      return { ok: false, detail: `snapshot ${options.snapshot.snapshotId} is not of ${key}` };
    }
    this.log.push({ action: step.action, target: key, dryRun: options.dryRun });
    const result = this.change(step, options.dryRun);
    if (result.ok) {
      const deployment = this.deployments.get(key);
      if (deployment) deployment.rolledOutAt = this.clock.now() + ROLLOUT_SECONDS * 1000;
      const service = this.serviceOf.get(key) ?? step.service;
      this.world?.apply(step.action, service, Math.floor(this.clock.now() / 1000));
    }
    return result;
  }

  async rolloutStatus(step: PlannedAction): Promise<{ complete: boolean; detail: string }> {
    const key = formatTarget(step.target);
    const deployment = this.deployments.get(key);
    if (deployment?.rolledOutAt !== undefined && this.clock.now() < deployment.rolledOutAt) {
      return { complete: false, detail: `${key}: rollout in progress` };
    }
    return { complete: true, detail: `${key}: rollout complete` };
  }

  async restore(
    snapshot: TargetSnapshot,
    options: { dryRun: boolean; changesSince: number },
  ): Promise<{ ok: boolean; detail: string }> {
    const key = formatTarget(snapshot.target);
    this.log.push({ action: 'restore', target: key, dryRun: options.dryRun });
    const deployment = this.deployments.get(key);
    const datastore = this.datastores.get(key);
    if (deployment && !options.dryRun) Object.assign(deployment, snapshot.state);
    else if (datastore && !options.dryRun) Object.assign(datastore, snapshot.state);
    if (deployment) deployment.rolledOutAt = this.clock.now() + ROLLOUT_SECONDS * 1000;
    const service = this.serviceOf.get(key);
    if (service) this.world?.revert(service, Math.floor(this.clock.now() / 1000) + ROLLOUT_SECONDS);
    const verb = options.dryRun ? 'would restore' : 'restored';
    return { ok: true, detail: `${verb} ${key} as of ${snapshot.takenAt}` };
  }

  private change(step: PlannedAction, dryRun: boolean): { ok: boolean; detail: string } {
    const key = formatTarget(step.target);
    const deployment = this.deployments.get(key);
    const datastore = this.datastores.get(key);
    const now = new Date(this.clock.now()).toISOString();
    const verb = dryRun ? 'would' : 'did';
    switch (step.action) {
      case 'scale-up': {
        if (!deployment) return { ok: false, detail: `${key}: no such Deployment` };
        const to = Number(step.params.toReplicas ?? deployment.replicas + 1);
        if (!(to > deployment.replicas))
          return { ok: false, detail: `${key}: already at ${deployment.replicas} replicas` };
        if (!dryRun) deployment.replicas = to;
        return { ok: true, detail: `${verb} scale ${key} to ${to} replicas` };
      }
      case 'rollback': {
        if (!deployment) return { ok: false, detail: `${key}: no such Deployment` };
        if (!dryRun) deployment.revision += 1;
        return { ok: true, detail: `${verb} roll ${key} back to the previous revision's pod template` };
      }
      case 'rollout-restart':
      case 'restart-pod': {
        if (!deployment) return { ok: false, detail: `${key}: no such Deployment` };
        if (!dryRun) deployment.restartedAt = now;
        const scope = step.action === 'restart-pod' ? 'one pod of' : 'every pod of';
        return { ok: true, detail: `${verb} restart ${scope} ${key}` };
      }
      case 'db-failover': {
        if (!datastore) return { ok: false, detail: `${key}: no such datastore` };
        if (!dryRun) datastore.primary = datastore.primary === 'a' ? 'b' : 'a';
        return { ok: true, detail: `${verb} fail ${key} over to its replica` };
      }
      case 'cache-flush': {
        if (!datastore) return { ok: false, detail: `${key}: no such datastore` };
        if (!dryRun) datastore.flushedAt = now;
        return { ok: true, detail: `${verb} flush ${key}` };
      }
      default:
        return { ok: true, detail: `${verb} apply ${step.action} to ${key}` };
    }
  }
}
