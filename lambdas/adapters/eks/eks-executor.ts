// ClusterExecutor for Amazon EKS: snapshots Deployments (with their ReplicaSet history), HPAs and pods, and
// carries out the Kubernetes-object actions of the catalog through the API server, as a server-side dry run
// when asked. Every write is a patch conditioned on the resourceVersion just read.

import { randomUUID } from 'node:crypto';
import { DescribeClusterCommand, type DescribeClusterCommandOutput, EKSClient } from '@aws-sdk/client-eks';
import type { ClusterExecutor, TargetSnapshot } from '../../core/action/ports';
import { type ActionName, type ActionTarget, formatTarget, type PlannedAction } from '../../core/decision/types';
import type { AwsCredentialIdentityProvider } from '../prometheus/http-metric-source';
import { KubeClient, type KubeClientOptions, type KubeError, type KubeOperation, type KubeResult } from './kube-client';
import { TokenCache } from './token';

// --- The parts of the Kubernetes objects this executor reads. ---

export interface OwnerReference {
  readonly kind: string;
  readonly name: string;
  readonly uid: string;
  readonly controller?: boolean;
}

export interface ObjectMeta {
  readonly name: string;
  readonly namespace?: string;
  readonly uid?: string;
  readonly resourceVersion?: string;
  readonly generation?: number;
  readonly labels?: Readonly<Record<string, string>>;
  readonly annotations?: Readonly<Record<string, string>>;
  readonly creationTimestamp?: string;
  readonly deletionTimestamp?: string;
  readonly ownerReferences?: readonly OwnerReference[];
}

export interface LabelSelector {
  readonly matchLabels?: Readonly<Record<string, string>>;
  readonly matchExpressions?: readonly { key: string; operator: string; values?: readonly string[] }[];
}

export interface PodTemplateSpec {
  readonly metadata?: { readonly labels?: Record<string, string>; readonly annotations?: Record<string, string> };
  readonly spec?: Record<string, unknown>;
}

export interface Deployment {
  readonly metadata: ObjectMeta;
  readonly spec: { readonly replicas?: number; readonly selector: LabelSelector; readonly template: PodTemplateSpec };
  readonly status?: {
    readonly observedGeneration?: number;
    readonly replicas?: number;
    readonly updatedReplicas?: number;
    readonly readyReplicas?: number;
    readonly availableReplicas?: number;
    readonly conditions?: readonly { type: string; status: string; reason?: string; message?: string }[];
  };
}

export interface ReplicaSet {
  readonly metadata: ObjectMeta;
  readonly spec: { readonly replicas?: number; readonly template: PodTemplateSpec };
}

export interface Pod {
  readonly metadata: ObjectMeta;
  readonly status?: { readonly phase?: string; readonly conditions?: readonly { type: string; status: string }[] };
}

export interface Scale {
  readonly metadata: ObjectMeta;
  readonly spec: { readonly replicas?: number };
}

export interface HorizontalPodAutoscaler {
  readonly metadata: ObjectMeta;
  readonly spec: {
    readonly scaleTargetRef: { readonly kind: string; readonly name: string; readonly apiVersion?: string };
    readonly minReplicas?: number;
    readonly maxReplicas: number;
  };
}

interface List<T> {
  readonly items: readonly T[];
}

/** What a Deployment snapshot keeps: enough to roll back to either of its last two revisions. */
export interface DeploymentSnapshotState {
  readonly kind: 'Deployment';
  readonly resourceVersion: string | undefined;
  readonly generation: number | undefined;
  readonly revision: number | undefined;
  readonly replicas: number | undefined;
  readonly template: PodTemplateSpec;
  readonly currentReplicaSet?: { readonly name: string; readonly revision: number; readonly template: PodTemplateSpec };
  readonly previousReplicaSet?: {
    readonly name: string;
    readonly revision: number;
    readonly template: PodTemplateSpec;
  };
}

export const REVISION_ANNOTATION = 'deployment.kubernetes.io/revision';
export const RESTARTED_AT_ANNOTATION = 'kubectl.kubernetes.io/restartedAt';
const POD_TEMPLATE_HASH = 'pod-template-hash';
/** Highest replica count scale-up will ever set, whatever a plan asks. */
export const DEFAULT_REPLICA_CEILING = 100;

/** Catalog actions that change something other than a Kubernetes object. */
const NOT_KUBERNETES: ReadonlySet<ActionName> = new Set<ActionName>([
  'db-failover',
  'az-failover',
  'cache-flush',
  'rate-limit',
  'engine-restart',
  'config-revert',
]);

// --- Helpers. ---

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((x, i) => deepEqual(x, b[i]));
  if (isRecord(a) && isRecord(b)) {
    const keys = Object.keys(a);
    return keys.length === Object.keys(b).length && keys.every((k) => Object.hasOwn(b, k) && deepEqual(a[k], b[k]));
  }
  return false;
}

/** RFC 7386 merge patch that turns `from` into `to` (removed keys become null; arrays are replaced whole). */
export function mergePatchDiff(from: Record<string, unknown>, to: Record<string, unknown>): Record<string, unknown> {
  const patch: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(to)) {
    const old = from[key];
    if (isRecord(old) && isRecord(value)) {
      const sub = mergePatchDiff(old, value);
      if (Object.keys(sub).length > 0) patch[key] = sub;
    } else if (!deepEqual(old, value)) {
      patch[key] = value;
    }
  }
  for (const key of Object.keys(from)) if (!Object.hasOwn(to, key)) patch[key] = null;
  return patch;
}

/** A LabelSelector in the `labelSelector` query syntax. */
export function selectorQuery(selector: LabelSelector): string {
  const parts = Object.entries(selector.matchLabels ?? {}).map(([k, v]) => `${k}=${v}`);
  for (const e of selector.matchExpressions ?? []) {
    const values = (e.values ?? []).join(',');
    if (e.operator === 'In') parts.push(`${e.key} in (${values})`);
    else if (e.operator === 'NotIn') parts.push(`${e.key} notin (${values})`);
    else if (e.operator === 'Exists') parts.push(e.key);
    else if (e.operator === 'DoesNotExist') parts.push(`!${e.key}`);
    else throw new Error(`unsupported label selector operator ${e.operator}`);
  }
  return parts.join(',');
}

const revisionOf = (meta: ObjectMeta): number | undefined => {
  const text = meta.annotations?.[REVISION_ANNOTATION];
  const n = text === undefined ? Number.NaN : Number(text);
  return Number.isInteger(n) ? n : undefined;
};

const isReady = (pod: Pod): boolean =>
  pod.status?.phase === 'Running' &&
  (pod.status.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True');

const createdAt = (meta: ObjectMeta): number => {
  const t = meta.creationTimestamp ? Date.parse(meta.creationTimestamp) : Number.NaN;
  return Number.isNaN(t) ? Number.POSITIVE_INFINITY : t;
};

/** The pod template of a ReplicaSet as the Deployment would carry it (without the controller's hash label). */
function deploymentTemplateOf(rs: ReplicaSet): PodTemplateSpec {
  const template = structuredClone(rs.spec.template) as { metadata?: { labels?: Record<string, string> } };
  if (template.metadata?.labels) delete template.metadata.labels[POD_TEMPLATE_HASH];
  return template as PodTemplateSpec;
}

const enc = encodeURIComponent;
const deploymentPath = (ns: string, name: string) => `/apis/apps/v1/namespaces/${enc(ns)}/deployments/${enc(name)}`;
const replicaSetsPath = (ns: string) => `/apis/apps/v1/namespaces/${enc(ns)}/replicasets`;
const podsPath = (ns: string) => `/api/v1/namespaces/${enc(ns)}/pods`;
const podPath = (ns: string, name: string) => `${podsPath(ns)}/${enc(name)}`;
const hpaPath = (ns: string, name: string) =>
  `/apis/autoscaling/v2/namespaces/${enc(ns)}/horizontalpodautoscalers/${enc(name)}`;

class KubeFailure extends Error {
  constructor(readonly error: KubeError) {
    super(error.message);
  }
}

const unwrap = <T>(result: KubeResult<T>): T => {
  if (!result.ok) throw new KubeFailure(result.error);
  return result.value;
};

type Outcome = { readonly ok: boolean; readonly detail: string };

export interface EksExecutorOptions extends KubeClientOptions {
  /** Clock for snapshot times and restart annotations. */
  readonly clock?: () => number;
  /** Highest replica count scale-up may set (default 100). */
  readonly replicaCeiling?: number;
}

export class EksExecutor implements ClusterExecutor {
  readonly client: KubeClient;
  private readonly clock: () => number;
  private readonly replicaCeiling: number;

  constructor(options: EksExecutorOptions) {
    this.client = new KubeClient(options);
    this.clock = options.clock ?? Date.now;
    this.replicaCeiling = options.replicaCeiling ?? DEFAULT_REPLICA_CEILING;
  }

  /** Closes pooled connections to the API server. */
  close(): void {
    this.client.close();
  }

  async snapshot(target: ActionTarget): Promise<TargetSnapshot> {
    let state: unknown;
    try {
      state = await this.readState(target);
    } catch (error) {
      throw new Error(`cannot snapshot ${formatTarget(target)}: ${(error as Error).message}`);
    }
    const snapshot: TargetSnapshot = {
      snapshotId: `snap-${randomUUID()}`,
      target,
      state,
      takenAt: new Date(this.clock()).toISOString(),
    };
    return snapshot;
  }

  async execute(
    step: PlannedAction,
    options: { readonly dryRun: boolean; readonly snapshot: TargetSnapshot },
  ): Promise<{ readonly ok: boolean; readonly detail: string }> {
    if (NOT_KUBERNETES.has(step.action)) {
      return { ok: false, detail: `${step.action} is not carried out by the EKS executor` };
    }
    const { snapshot } = options;
    if (formatTarget(snapshot.target) !== formatTarget(step.target)) {
      return {
        ok: false,
        detail: `snapshot ${snapshot.snapshotId} is of ${formatTarget(snapshot.target)}, not ${formatTarget(step.target)}`,
      };
    }
    try {
      switch (step.action) {
        case 'restart-pod':
          return await this.restartPod(step, options.dryRun, snapshot);
        case 'rollout-restart':
          return await this.rolloutRestart(step, options.dryRun);
        case 'scale-up':
          return await this.scaleUp(step, options.dryRun);
        case 'rollback':
          return await this.rollback(step, options.dryRun);
        default:
          return { ok: false, detail: `${step.action} is not carried out by the EKS executor` };
      }
    } catch (error) {
      if (error instanceof KubeFailure) return { ok: false, detail: error.message };
      throw error;
    }
  }

  async rolloutStatus(step: PlannedAction): Promise<{ readonly complete: boolean; readonly detail: string }> {
    const key = formatTarget(step.target);
    if (NOT_KUBERNETES.has(step.action)) {
      return { complete: false, detail: `${step.action} is not carried out by the EKS executor` };
    }
    const { namespace } = step.target;
    let name = step.target.name;
    if (step.target.kind === 'hpa') {
      const hpa = await this.client.get<HorizontalPodAutoscaler>(
        hpaPath(namespace, name),
        op('get', 'horizontalpodautoscalers', namespace, name),
      );
      if (!hpa.ok) return { complete: false, detail: `${key}: ${hpa.error.message}` };
      if (hpa.value.spec.scaleTargetRef.kind !== 'Deployment') {
        return { complete: false, detail: `${key}: scales a ${hpa.value.spec.scaleTargetRef.kind}, not a Deployment` };
      }
      name = hpa.value.spec.scaleTargetRef.name;
    } else if (step.target.kind === 'pod') {
      // The pod's controller replaces it under a new name: the old one being gone is the rollout.
      const pod = await this.client.get<Pod>(podPath(namespace, name), op('get', 'pods', namespace, name));
      if (!pod.ok && pod.error.kind === 'not-found')
        return { complete: true, detail: `${key}: deleted and replaced by its controller` };
      if (!pod.ok) return { complete: false, detail: `${key}: ${pod.error.message}` };
      return {
        complete: false,
        detail: `${key}: still ${pod.value.metadata.deletionTimestamp ? 'terminating' : 'running'}`,
      };
    } else if (step.target.kind !== 'deployment') {
      return { complete: false, detail: `${key}: not a Kubernetes workload` };
    }
    const read = await this.client.get<Deployment>(
      deploymentPath(namespace, name),
      op('get', 'deployments', namespace, name),
    );
    if (!read.ok) return { complete: false, detail: `${key}: ${read.error.message}` };
    return deploymentRolloutStatus(read.value, `${namespace}/deployment/${name}`);
  }

  /**
   * The undo: puts a Deployment's pod template and replica count, or an HPA's bounds, back as the snapshot
   * found them (a merge patch of the difference, with the current resourceVersion as precondition). A deleted
   * pod has nothing to put back: its controller already replaced it.
   */
  async restore(
    snapshot: TargetSnapshot,
    options: { readonly dryRun: boolean; readonly changesSince?: number },
  ): Promise<{ readonly ok: boolean; readonly detail: string }> {
    const key = formatTarget(snapshot.target);
    const ours = options.changesSince ?? 1;
    const { namespace, name } = snapshot.target;
    const state = snapshot.state as { readonly kind?: string };
    const verb = options.dryRun ? 'would restore' : 'restored';
    let unchanged = false;
    try {
      switch (state.kind) {
        case 'Deployment': {
          const saved = snapshot.state as DeploymentSnapshotState;
          unwrap(
            await this.client.readModifyPatch<Deployment>(
              deploymentPath(namespace, name),
              op('patch', 'deployments', namespace, name),
              (deployment) => {
                // Each of our changes moved the generation by one; more means someone changed the Deployment
                // since, and putting the snapshot back would silently revert their change too.
                const now = deployment.metadata.generation;
                if (saved.generation !== undefined && now !== undefined && now > saved.generation + ours) {
                  return {
                    refuse: `${key} changed since the snapshot (generation ${saved.generation} -> ${now}); not restoring over someone else's change`,
                  };
                }
                const template = mergePatchDiff(
                  deployment.spec.template as Record<string, unknown>,
                  saved.template as Record<string, unknown>,
                );
                const replicas = saved.replicas !== undefined && saved.replicas !== deployment.spec.replicas;
                unchanged = Object.keys(template).length === 0 && !replicas;
                if (unchanged) return { refuse: `${key} already matches the snapshot` };
                return {
                  patch: {
                    spec: {
                      ...(Object.keys(template).length > 0 ? { template } : {}),
                      ...(replicas ? { replicas: saved.replicas } : {}),
                    },
                  },
                };
              },
              { type: 'merge', dryRun: options.dryRun },
            ),
          );
          const revision = saved.revision === undefined ? '' : ` (revision ${saved.revision})`;
          return {
            ok: true,
            detail: `${verb} ${key} to its pod template${revision} and ${saved.replicas ?? 'its'} replicas as of ${snapshot.takenAt}`,
          };
        }
        case 'HorizontalPodAutoscaler': {
          const saved = snapshot.state as { readonly spec: HorizontalPodAutoscaler['spec'] };
          unwrap(
            await this.client.readModifyPatch<HorizontalPodAutoscaler>(
              hpaPath(namespace, name),
              op('patch', 'horizontalpodautoscalers', namespace, name),
              (hpa) => {
                unchanged =
                  hpa.spec.minReplicas === saved.spec.minReplicas && hpa.spec.maxReplicas === saved.spec.maxReplicas;
                if (unchanged) return { refuse: `${key} already matches the snapshot` };
                return {
                  patch: { spec: { minReplicas: saved.spec.minReplicas ?? null, maxReplicas: saved.spec.maxReplicas } },
                };
              },
              { type: 'merge', dryRun: options.dryRun },
            ),
          );
          return {
            ok: true,
            detail: `${verb} ${key} to min ${saved.spec.minReplicas ?? 1} / max ${saved.spec.maxReplicas} replicas`,
          };
        }
        case 'Pod':
          return { ok: true, detail: `${key}: a deleted pod is not put back; its controller already replaced it` };
        default:
          return { ok: false, detail: `${key}: the snapshot holds no object this executor can restore` };
      }
    } catch (error) {
      if (unchanged) return { ok: true, detail: `${key} already matches the snapshot; nothing to restore` };
      if (error instanceof KubeFailure) return { ok: false, detail: `${key}: ${error.message}` };
      throw error;
    }
  }

  // --- Snapshots. ---

  private async readState(target: ActionTarget): Promise<unknown> {
    const { namespace, name } = target;
    switch (target.kind) {
      case 'deployment': {
        const deployment = unwrap(
          await this.client.get<Deployment>(deploymentPath(namespace, name), op('get', 'deployments', namespace, name)),
        );
        const history = await this.history(deployment);
        const state: DeploymentSnapshotState = {
          kind: 'Deployment',
          resourceVersion: deployment.metadata.resourceVersion,
          generation: deployment.metadata.generation,
          revision: revisionOf(deployment.metadata),
          replicas: deployment.spec.replicas,
          template: deployment.spec.template,
          ...(history.current ? { currentReplicaSet: history.current } : {}),
          ...(history.previous ? { previousReplicaSet: history.previous } : {}),
        };
        return state;
      }
      case 'hpa': {
        const hpa = unwrap(
          await this.client.get<HorizontalPodAutoscaler>(
            hpaPath(namespace, name),
            op('get', 'horizontalpodautoscalers', namespace, name),
          ),
        );
        return { kind: 'HorizontalPodAutoscaler', resourceVersion: hpa.metadata.resourceVersion, spec: hpa.spec };
      }
      case 'pod': {
        const pod = unwrap(await this.client.get<Pod>(podPath(namespace, name), op('get', 'pods', namespace, name)));
        return { kind: 'Pod', resourceVersion: pod.metadata.resourceVersion, metadata: pod.metadata };
      }
      default:
        throw new Error(`a ${target.kind} is not a Kubernetes object the EKS executor manages`);
    }
  }

  /** The Deployment's ReplicaSets by revision: the one matching its revision and the newest older one. */
  private async history(deployment: Deployment): Promise<{
    current?: { name: string; revision: number; template: PodTemplateSpec };
    previous?: { name: string; revision: number; template: PodTemplateSpec };
  }> {
    const namespace = deployment.metadata.namespace ?? '';
    const list = unwrap(
      await this.client.get<List<ReplicaSet>>(replicaSetsPath(namespace), op('list', 'replicasets', namespace), {
        labelSelector: selectorQuery(deployment.spec.selector),
      }),
    );
    const owned = list.items
      .filter((rs) =>
        (rs.metadata.ownerReferences ?? []).some(
          (o) =>
            o.kind === 'Deployment' &&
            (deployment.metadata.uid ? o.uid === deployment.metadata.uid : o.name === deployment.metadata.name),
        ),
      )
      .map((rs) => ({ rs, revision: revisionOf(rs.metadata) }))
      .filter((x): x is { rs: ReplicaSet; revision: number } => x.revision !== undefined)
      .sort((a, b) => b.revision - a.revision);
    const currentRevision = revisionOf(deployment.metadata) ?? owned[0]?.revision;
    const current = owned.find((x) => x.revision === currentRevision);
    const previous = owned.find((x) => currentRevision !== undefined && x.revision < currentRevision);
    const view = (x: { rs: ReplicaSet; revision: number }) => ({
      name: x.rs.metadata.name,
      revision: x.revision,
      template: deploymentTemplateOf(x.rs),
    });
    return { ...(current ? { current: view(current) } : {}), ...(previous ? { previous: view(previous) } : {}) };
  }

  // --- Actions. ---

  private async restartPod(step: PlannedAction, dryRun: boolean, snapshot: TargetSnapshot): Promise<Outcome> {
    const { namespace, name } = step.target;
    const verb = dryRun ? 'would delete' : 'deleted';
    let podName: string;
    let why: string;
    if (step.target.kind === 'pod') {
      // A pod nothing owns would be gone for good: only a controller's pod is "restarted" by deleting it.
      const owners = (snapshot.state as { metadata?: ObjectMeta }).metadata?.ownerReferences ?? [];
      if (!owners.some((o) => o.controller)) {
        return {
          ok: false,
          detail: `${formatTarget(step.target)}: no controller owns this pod; deleting it is not a restart`,
        };
      }
      podName = name;
      why = 'named by the plan';
    } else if (step.target.kind === 'deployment') {
      const deployment = unwrap(
        await this.client.get<Deployment>(deploymentPath(namespace, name), op('get', 'deployments', namespace, name)),
      );
      const pods = unwrap(
        await this.client.get<List<Pod>>(podsPath(namespace), op('list', 'pods', namespace), {
          labelSelector: selectorQuery(deployment.spec.selector),
        }),
      ).items.filter((p) => !p.metadata.deletionTimestamp);
      if (pods.length === 0) return { ok: false, detail: `${formatTarget(step.target)}: no running pods to restart` };
      const byAge = [...pods].sort((a, b) => createdAt(a.metadata) - createdAt(b.metadata));
      const notReady = pods.find((p) => !isReady(p));
      const chosen = notReady ?? byAge[0];
      podName = chosen.metadata.name;
      why = notReady ? 'not ready' : 'oldest, all ready';
    } else {
      return { ok: false, detail: `restart-pod needs a deployment or pod target, got ${formatTarget(step.target)}` };
    }
    unwrap(await this.client.delete(podPath(namespace, podName), op('delete', 'pods', namespace, podName), { dryRun }));
    return { ok: true, detail: `${verb} pod ${namespace}/${podName} (${why}) of ${formatTarget(step.target)}` };
  }

  private async rolloutRestart(step: PlannedAction, dryRun: boolean): Promise<Outcome> {
    const { namespace, name } = step.target;
    if (step.target.kind !== 'deployment') {
      return { ok: false, detail: `rollout-restart needs a deployment target, got ${formatTarget(step.target)}` };
    }
    const at = new Date(this.clock()).toISOString();
    unwrap(
      await this.client.readModifyPatch<Deployment>(
        deploymentPath(namespace, name),
        op('patch', 'deployments', namespace, name),
        () => ({ patch: { spec: { template: { metadata: { annotations: { [RESTARTED_AT_ANNOTATION]: at } } } } } }),
        { type: 'strategic', dryRun },
      ),
    );
    return { ok: true, detail: `${dryRun ? 'would restart' : 'restarted'} every pod of ${formatTarget(step.target)}` };
  }

  private async scaleUp(step: PlannedAction, dryRun: boolean): Promise<Outcome> {
    const { namespace, name } = step.target;
    const key = formatTarget(step.target);
    const to = Number(step.params.toReplicas);
    if (!Number.isInteger(to) || to < 1) return { ok: false, detail: `${key}: toReplicas must be a positive integer` };
    const limit = step.params.maxReplicas === undefined ? undefined : Number(step.params.maxReplicas);
    if (limit !== undefined && !Number.isInteger(limit))
      return { ok: false, detail: `${key}: maxReplicas is not an integer` };
    const bound = Math.min(limit ?? this.replicaCeiling, this.replicaCeiling);
    if (to > bound) {
      const which = limit !== undefined && limit <= this.replicaCeiling ? 'the plan' : 'the executor';
      return {
        ok: false,
        detail: `${key}: refusing to scale to ${to} replicas, above the bound of ${bound} set by ${which}`,
      };
    }
    if (step.target.kind === 'hpa') {
      const done = unwrap(
        await this.client.readModifyPatch<HorizontalPodAutoscaler>(
          hpaPath(namespace, name),
          op('patch', 'horizontalpodautoscalers', namespace, name),
          (hpa) => {
            const min = hpa.spec.minReplicas ?? 1;
            if (to <= min) return { refuse: `${key}: minimum already ${min} replicas` };
            return { patch: { spec: { minReplicas: to, maxReplicas: Math.max(hpa.spec.maxReplicas, to) } } };
          },
          { type: 'merge', dryRun },
        ),
      );
      const from = done.before.spec.minReplicas ?? 1;
      return {
        ok: true,
        detail: `${dryRun ? 'would raise' : 'raised'} the minimum of ${key} from ${from} to ${to} replicas`,
      };
    }
    if (step.target.kind !== 'deployment') {
      return { ok: false, detail: `scale-up needs a deployment or hpa target, got ${key}` };
    }
    const result = await this.client.readModifyPatch<Scale>(
      `${deploymentPath(namespace, name)}/scale`,
      op('patch', 'deployments/scale', namespace, name),
      (scale) => {
        const current = scale.spec.replicas ?? 0;
        if (to <= current) return { refuse: `${key}: already at ${current} replicas, not scaling to ${to}` };
        return { patch: { spec: { replicas: to } } };
      },
      { type: 'merge', dryRun },
    );
    if (!result.ok && result.error.kind === 'refused') return { ok: false, detail: result.error.message };
    const done = unwrap(result);
    const from = done.before.spec.replicas ?? 0;
    return { ok: true, detail: `${dryRun ? 'would scale' : 'scaled'} ${key} from ${from} to ${to} replicas` };
  }

  private async rollback(step: PlannedAction, dryRun: boolean): Promise<Outcome> {
    const { namespace, name } = step.target;
    const key = formatTarget(step.target);
    if (step.target.kind !== 'deployment')
      return { ok: false, detail: `rollback needs a deployment target, got ${key}` };
    let previous: { name: string; revision: number } | undefined;
    const result = await this.client.readModifyPatch<Deployment>(
      deploymentPath(namespace, name),
      op('patch', 'deployments', namespace, name),
      async (deployment) => {
        const history = await this.history(deployment);
        if (!history.previous) return { refuse: `${key}: no previous revision to roll back to` };
        previous = history.previous;
        const patch = mergePatchDiff(
          deployment.spec.template as Record<string, unknown>,
          history.previous.template as Record<string, unknown>,
        );
        if (Object.keys(patch).length === 0) {
          return { refuse: `${key}: the pod template already equals revision ${history.previous.revision}` };
        }
        return { patch: { spec: { template: patch } } };
      },
      { type: 'merge', dryRun },
    );
    if (!result.ok && result.error.kind === 'refused') return { ok: false, detail: result.error.message };
    unwrap(result);
    const to = previous ? ` to revision ${previous.revision} (ReplicaSet ${previous.name})` : '';
    return { ok: true, detail: `${dryRun ? 'would roll' : 'rolled'} ${key} back${to}` };
  }
}

function op(verb: KubeOperation['verb'], resource: string, namespace: string, name?: string): KubeOperation {
  return { verb, resource, namespace, ...(name !== undefined ? { name } : {}) };
}

/** As `kubectl rollout status`: the controller saw the latest spec, and every replica is updated and available. */
export function deploymentRolloutStatus(deployment: Deployment, key: string): { complete: boolean; detail: string } {
  const want = deployment.spec.replicas ?? 1;
  const status = deployment.status ?? {};
  const generation = deployment.metadata.generation ?? 0;
  const observed = status.observedGeneration ?? 0;
  const updated = status.updatedReplicas ?? 0;
  const available = status.availableReplicas ?? 0;
  const total = status.replicas ?? 0;
  const stalled = (status.conditions ?? []).find(
    (c) => c.type === 'Progressing' && c.status === 'False' && c.reason === 'ProgressDeadlineExceeded',
  );
  if (stalled) return { complete: false, detail: `${key}: rollout stalled: ${stalled.message ?? stalled.reason}` };
  if (observed < generation) {
    return { complete: false, detail: `${key}: waiting for the controller to observe generation ${generation}` };
  }
  if (updated < want) return { complete: false, detail: `${key}: ${updated} of ${want} replicas updated` };
  if (total > updated)
    return { complete: false, detail: `${key}: ${total - updated} old replicas pending termination` };
  if (available < want)
    return { complete: false, detail: `${key}: ${available} of ${want} updated replicas available` };
  return { complete: true, detail: `${key}: rollout complete (${want} of ${want} replicas updated and available)` };
}

// --- Finding the cluster. ---

export interface DescribeClusterDeps {
  /** The EKS client to ask; when absent one is made for the region (and closed after the call). */
  readonly client?: EKSClient;
  /** Defaults to the SDK's Node provider chain. Ignored when `client` is given. */
  readonly credentials?: AwsCredentialIdentityProvider;
  /** Overrides https://eks.<region>.amazonaws.com (e.g. a VPC endpoint). Ignored when `client` is given. */
  readonly eksEndpoint?: string;
}

export interface ClusterAccess {
  readonly endpoint: string;
  /** Base64 of the PEM CA bundle. */
  readonly caData: string;
  readonly status: string | undefined;
}

/** Credentials that were found but refused: not a missing permission, so the fix is elsewhere. */
const REJECTED_CREDENTIALS = new Set([
  'UnrecognizedClientException',
  'InvalidClientTokenId',
  'ExpiredTokenException',
  'InvalidSignatureException',
]);

/** Why DescribeCluster failed, in terms of what to fix: a wrong name or region, a missing permission. */
function describeClusterFailure(clusterName: string, region: string, where: string, error: unknown): Error {
  const name = error instanceof Error ? error.name : '';
  const message = error instanceof Error ? error.message : String(error);
  if (name === 'ResourceNotFoundException') {
    return new Error(`${where}: cluster ${clusterName} not found in region ${region} (${message})`, { cause: error });
  }
  if (name === 'AccessDeniedException' || name === 'AccessDenied') {
    return new Error(
      `${where}: access denied; the agent's role needs the eks:DescribeCluster permission on this cluster (${message})`,
      { cause: error },
    );
  }
  if (name === 'CredentialsProviderError') {
    return new Error(`${where}: no AWS credentials to sign the request (${message})`, { cause: error });
  }
  if (REJECTED_CREDENTIALS.has(name)) {
    return new Error(`${where}: the AWS credentials were rejected (${name}: ${message})`, { cause: error });
  }
  return new Error(`${where} failed: ${name ? `${name}: ` : ''}${message}`, { cause: error });
}

/** EKS DescribeCluster: the API server endpoint and the CA its certificate chains to. */
export async function describeCluster(
  clusterName: string,
  region: string,
  deps: DescribeClusterDeps = {},
): Promise<ClusterAccess> {
  const where = `EKS DescribeCluster ${clusterName} in ${region}`;
  const client =
    deps.client ??
    new EKSClient({
      region,
      ...(deps.credentials ? { credentials: deps.credentials } : {}),
      ...(deps.eksEndpoint ? { endpoint: deps.eksEndpoint } : {}),
    });
  let cluster: DescribeClusterCommandOutput['cluster'];
  try {
    ({ cluster } = await client.send(new DescribeClusterCommand({ name: clusterName })));
  } catch (error) {
    throw describeClusterFailure(clusterName, region, where, error);
  } finally {
    // A client made here would otherwise keep its sockets open for the life of the container.
    if (!deps.client) client.destroy();
  }
  if (!cluster) throw new Error(`${where}: the answer holds no cluster`);
  // A cluster still CREATING (or FAILED) has no endpoint or CA yet; its status says why.
  const state = cluster.status ? ` (cluster status ${cluster.status})` : '';
  if (!cluster.endpoint) throw new Error(`${where}: the answer has no API server endpoint${state}`);
  const caData = cluster.certificateAuthority?.data;
  if (!caData) throw new Error(`${where}: the answer has no certificateAuthority.data (cluster CA)${state}`);
  return { endpoint: cluster.endpoint, caData, status: cluster.status };
}

/**
 * An EksExecutor for a named cluster: endpoint and CA from DescribeCluster, tokens from a cache that the
 * client empties when the API server answers 401, so the retry signs a fresh token.
 */
export async function createEksExecutor(
  options: {
    readonly clusterName: string;
    readonly region: string;
    readonly clock?: () => Date;
  } & DescribeClusterDeps &
    Omit<EksExecutorOptions, 'endpoint' | 'caData' | 'token' | 'invalidateToken' | 'clock'>,
): Promise<EksExecutor> {
  const { clusterName, region, client, credentials, eksEndpoint, clock, ...rest } = options;
  const cluster = await describeCluster(clusterName, region, {
    ...(client ? { client } : {}),
    ...(credentials ? { credentials } : {}),
    ...(eksEndpoint ? { eksEndpoint } : {}),
  });
  const tokens = new TokenCache({
    clusterName,
    region,
    ...(credentials ? { credentials } : {}),
    ...(clock ? { clock } : {}),
  });
  return new EksExecutor({
    ...rest,
    endpoint: cluster.endpoint,
    caData: cluster.caData,
    token: tokens.provider,
    invalidateToken: () => tokens.invalidate(),
    ...(clock ? { clock: () => clock().getTime() } : {}),
  });
}
