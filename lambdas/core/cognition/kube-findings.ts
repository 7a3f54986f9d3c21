// Kubernetes evidence for diagnosis: turns events and object state (pods, Deployments, HPAs) into findings per
// topology service, such as "order-api is crash-looping" or "its HPA is pinned at its maximum". Pure: the reader
// port below says how a live cluster or a replayed scenario supplies the input.

import type { ServiceSpec, Topology } from '../config/schema';
import type { Result } from '../result';

// --- Input: what the cluster says. ---

/** One Kubernetes Event (core v1), times in epoch ms. Structurally the scenario loader's KubeEvent. */
export interface KubeEventRecord {
  /** Latest occurrence. */
  readonly time: number;
  readonly firstTimestamp?: number;
  readonly lastTimestamp?: number;
  readonly name: string;
  readonly namespace: string;
  /** Normal or Warning. */
  readonly type: string;
  readonly reason: string;
  readonly message: string;
  /** Occurrences folded into this event by the API server's deduplication. */
  readonly count: number;
  readonly involvedObject: { readonly kind: string; readonly name: string; readonly namespace?: string };
  readonly component?: string;
}

export interface KubeCondition {
  readonly type: string;
  readonly status: string;
  readonly reason?: string;
  readonly message?: string;
  readonly lastTransitionTime?: string;
  readonly lastUpdateTime?: string;
}

export interface ContainerStateView {
  readonly waiting?: { readonly reason?: string; readonly message?: string };
  readonly running?: { readonly startedAt?: string };
  readonly terminated?: {
    readonly reason?: string;
    readonly message?: string;
    readonly exitCode?: number;
    readonly startedAt?: string;
    readonly finishedAt?: string;
  };
}

export interface ContainerStatusView {
  readonly name: string;
  readonly ready?: boolean;
  readonly restartCount?: number;
  readonly image?: string;
  readonly state?: ContainerStateView;
  readonly lastState?: ContainerStateView;
}

interface ObjectMetaView {
  readonly name: string;
  readonly namespace?: string;
  readonly labels?: Readonly<Record<string, string>>;
  readonly creationTimestamp?: string;
}

/** The parts of a Pod that findings read. */
export interface PodState {
  readonly metadata: ObjectMetaView & {
    readonly ownerReferences?: readonly { readonly kind: string; readonly name: string }[];
  };
  readonly spec?: { readonly nodeName?: string };
  readonly status?: {
    readonly phase?: string;
    readonly conditions?: readonly KubeCondition[];
    readonly containerStatuses?: readonly ContainerStatusView[];
    readonly initContainerStatuses?: readonly ContainerStatusView[];
  };
}

/** The parts of a Deployment that findings read. */
export interface DeploymentState {
  readonly metadata: ObjectMetaView;
  readonly spec?: { readonly replicas?: number };
  readonly status?: {
    readonly replicas?: number;
    readonly updatedReplicas?: number;
    readonly readyReplicas?: number;
    readonly availableReplicas?: number;
    readonly unavailableReplicas?: number;
    readonly conditions?: readonly KubeCondition[];
  };
}

/** The parts of an autoscaling/v2 HorizontalPodAutoscaler that findings read. */
export interface HpaState {
  readonly metadata: ObjectMetaView;
  readonly spec: {
    readonly scaleTargetRef: { readonly kind: string; readonly name: string; readonly apiVersion?: string };
    readonly minReplicas?: number;
    readonly maxReplicas: number;
  };
  readonly status?: {
    readonly currentReplicas?: number;
    readonly desiredReplicas?: number;
    readonly conditions?: readonly KubeCondition[];
  };
}

/** Everything read about the cluster for one diagnosis. */
export interface KubeObservation {
  readonly events?: readonly KubeEventRecord[];
  readonly pods?: readonly PodState[];
  readonly deployments?: readonly DeploymentState[];
  readonly hpas?: readonly HpaState[];
  /** Epoch ms at which the object state was read: the last time a condition seen in it was known to hold. */
  readonly observedAt: number;
}

// --- The reader port. ---

export interface KubeReadError {
  /** forbidden, unauthorized, not-found, invalid, unreachable, timeout, too-many, ... */
  readonly kind: string;
  /**
   * Names the verb, the resource and the namespace, e.g.
   * "forbidden: the reader identity cannot list events in namespace trading".
   */
  readonly message: string;
  readonly status?: number;
  /** What the API server itself said, when it said something. */
  readonly apiMessage?: string;
}

export type KubeRead<T> = Result<T, KubeReadError>;

export interface EventQuery {
  /** Only events whose latest occurrence is at or after this time (epoch ms). */
  readonly sinceMs: number;
  /** Only events whose first occurrence is at or before this time (epoch ms). */
  readonly untilMs?: number;
  /** A Kubernetes field selector such as `type=Warning,involvedObject.kind=Pod`. */
  readonly fieldSelector?: string;
}

/** Read-only view of a cluster (live through the API server, or a replayed scenario). Never throws for API errors. */
export interface KubeStateReader {
  /** Events of one namespace, or of every namespace when `namespace` is undefined, oldest first. */
  listEvents(namespace: string | undefined, query: EventQuery): Promise<KubeRead<KubeEventRecord[]>>;
  listPods(namespace: string, labelSelector?: string): Promise<KubeRead<PodState[]>>;
  listDeployments(namespace: string, labelSelector?: string): Promise<KubeRead<DeploymentState[]>>;
  getDeployment(namespace: string, name: string): Promise<KubeRead<DeploymentState>>;
  listHpas(namespace: string): Promise<KubeRead<HpaState[]>>;
}

// --- Output. ---

export const KUBE_FINDING_KINDS = [
  'crash-loop',
  'oom-killed',
  'image-pull',
  'failed-scheduling',
  'node-not-ready',
  'hpa-at-max',
  'rollout-stuck',
  'liveness-probe-failed',
  'readiness-probe-failed',
] as const;
export type KubeFindingKind = (typeof KUBE_FINDING_KINDS)[number];

export type KubeFindingSeverity = 'critical' | 'warning';

/**
 * Critical: the service is losing capacity right now (containers killed or restarted, a node gone, a rollout
 * that will not finish). Warning: capacity cannot grow or new pods cannot start, while the running ones serve.
 */
export const KUBE_FINDING_SEVERITY: Readonly<Record<KubeFindingKind, KubeFindingSeverity>> = {
  'crash-loop': 'critical',
  'oom-killed': 'critical',
  'image-pull': 'warning',
  'failed-scheduling': 'warning',
  'node-not-ready': 'critical',
  'hpa-at-max': 'warning',
  'rollout-stuck': 'critical',
  'liveness-probe-failed': 'critical',
  'readiness-probe-failed': 'warning',
};

export interface KubeFinding {
  readonly service: string;
  readonly kind: KubeFindingKind;
  readonly severity: KubeFindingSeverity;
  /** Occurrences across every object of the service (an object seen both in events and state counts once). */
  readonly count: number;
  /** Epoch ms. */
  readonly firstSeen: number;
  /** Epoch ms. */
  readonly lastSeen: number;
  /**
   * One line a person can check, e.g.
   * "12x BackOff on trading/order-api-7c9f-xk2p: Back-off restarting failed container".
   */
  readonly evidence: string;
  /** The objects involved: `ns/pod` for pods, `node/<name>` for nodes, `ns/<kind>/<name>` otherwise. */
  readonly objects: readonly string[];
}

/** A finding about an object no topology service owns (a node, another team's workload). */
export type UnattributedFinding = Omit<KubeFinding, 'service'>;

export interface KubeFindings {
  /** Most severe first, then most recent. */
  readonly findings: readonly KubeFinding[];
  readonly unattributed: readonly UnattributedFinding[];
}

export interface KubeFindingsOptions {
  /** Ignore events whose latest occurrence is before this time (epoch ms). */
  readonly fromMs?: number;
  /** Ignore events whose first occurrence is after this time (epoch ms). */
  readonly toMs?: number;
}

// --- Mapping objects to services. ---

const POD_OF_REPLICASET = /^[a-z0-9]+-[a-z0-9]+$/;
const POD_OF_STATEFULSET = /^\d+$/;
const REPLICASET_HASH = /^[a-z0-9]+$/;
const MESSAGE_CHARS = 240;

/** The workload name each service runs as: its Deployment, or its own name when the topology gives none. */
const workloadOf = (service: ServiceSpec): string => service.deployment ?? service.name;

export class ServiceResolver {
  private readonly byNamespace = new Map<string, { service: string; workload: string }[]>();

  constructor(topology: Topology) {
    for (const service of topology.services) {
      const list = this.byNamespace.get(service.namespace) ?? [];
      list.push({ service: service.name, workload: workloadOf(service) });
      this.byNamespace.set(service.namespace, list);
    }
    // Longest workload first, so `order-api-worker-…` pods never fall to `order-api`.
    for (const list of this.byNamespace.values()) list.sort((a, b) => b.workload.length - a.workload.length);
  }

  /**
   * The service that owns a namespaced object, if any. Pods are `<deployment>-<rs hash>-<pod hash>` (or
   * `<statefulset>-<ordinal>`), ReplicaSets `<deployment>-<hash>`; other kinds match the workload name itself.
   */
  resolve(kind: string, namespace: string | undefined, name: string): string | undefined {
    const candidates = this.byNamespace.get(namespace ?? '') ?? [];
    for (const { service, workload } of candidates) {
      if (name === workload) {
        if (kind !== 'Pod' && kind !== 'ReplicaSet') return service;
        continue;
      }
      if (!name.startsWith(`${workload}-`)) continue;
      const rest = name.slice(workload.length + 1);
      if (kind === 'Pod' && (POD_OF_REPLICASET.test(rest) || POD_OF_STATEFULSET.test(rest))) return service;
      if (kind === 'ReplicaSet' && REPLICASET_HASH.test(rest)) return service;
    }
    return undefined;
  }
}

// --- Classification. ---

/** What an event means, if it is one of the findings; the reasons are the kubelet's and controllers' own. */
export function classifyEvent(event: Pick<KubeEventRecord, 'reason' | 'message'>): KubeFindingKind | undefined {
  const { reason, message } = event;
  switch (reason) {
    case 'BackOff':
      if (/restarting failed container/i.test(message)) return 'crash-loop';
      if (/pulling image/i.test(message)) return 'image-pull';
      return undefined;
    case 'ErrImagePull':
    case 'ImagePullBackOff':
    case 'ErrImageNeverPull':
    case 'InspectFailed':
      return 'image-pull';
    case 'Failed':
      if (/ErrImagePull|ImagePullBackOff|Failed to pull image|InvalidImageName|ErrImageNeverPull/i.test(message)) {
        return 'image-pull';
      }
      return /OOMKilled/.test(message) ? 'oom-killed' : undefined;
    case 'OOMKilling':
    case 'OOMKilled':
      return 'oom-killed';
    case 'FailedScheduling':
      return 'failed-scheduling';
    case 'NodeNotReady':
      return 'node-not-ready';
    case 'ProgressDeadlineExceeded':
      return 'rollout-stuck';
    case 'Unhealthy':
      // Startup probe failures kill the container as liveness failures do.
      if (/^\s*(liveness|startup) probe/i.test(message)) return 'liveness-probe-failed';
      if (/^\s*readiness probe/i.test(message)) return 'readiness-probe-failed';
      return undefined;
    default:
      return /\bOOMKilled\b/.test(message) ? 'oom-killed' : undefined;
  }
}

// --- Aggregation. ---

/** What one object contributed to one finding. */
interface Contribution {
  readonly service: string | undefined;
  readonly kind: KubeFindingKind;
  readonly object: string;
  readonly isPod: boolean;
  /** An event's count adds to the others'; a state reading is a total already. */
  readonly source: 'event' | 'state';
  readonly count: number;
  readonly firstSeen: number;
  readonly lastSeen: number;
  readonly line: string;
}

interface ObjectTally {
  service: string | undefined;
  kind: KubeFindingKind;
  object: string;
  isPod: boolean;
  eventCount: number;
  stateCount: number;
  firstSeen: number;
  lastSeen: number;
  /** The line that best shows the problem: the biggest contribution, the latest on ties. */
  line: string;
  lineWeight: number;
  lineTime: number;
}

const flat = (text: string): string => {
  const one = text.replace(/\s+/g, ' ').trim();
  return one.length > MESSAGE_CHARS ? `${one.slice(0, MESSAGE_CHARS)}…` : one;
};

const parseTime = (text: string | undefined): number | undefined => {
  if (!text) return undefined;
  const t = Date.parse(text);
  return Number.isNaN(t) ? undefined : t;
};

const KIND_KEYS: Readonly<Record<string, string>> = {
  Deployment: 'deployment',
  ReplicaSet: 'replicaset',
  StatefulSet: 'statefulset',
  DaemonSet: 'daemonset',
  HorizontalPodAutoscaler: 'hpa',
};

/** `ns/pod` for pods, `node/<name>` for nodes, `ns/<kind>/<name>` for the rest. */
export function objectKey(kind: string, namespace: string | undefined, name: string): string {
  if (kind === 'Node') return `node/${name}`;
  const ns = namespace ?? '';
  if (kind === 'Pod') return `${ns}/${name}`;
  return `${ns}/${KIND_KEYS[kind] ?? kind.toLowerCase()}/${name}`;
}

/**
 * Findings per service from events and object state. Every finding carries the evidence line of its biggest
 * contributor and the objects involved; an object that shows up both in events and in its state counts once,
 * with the larger of the two counts.
 */
export function kubeFindings(
  observation: KubeObservation,
  topology: Topology,
  options: KubeFindingsOptions = {},
): KubeFindings {
  const resolver = new ServiceResolver(topology);
  const contributions: Contribution[] = [];
  const nodeServices = servicesByNode(observation.pods ?? [], resolver);

  for (const event of observation.events ?? []) {
    const kind = classifyEvent(event);
    if (!kind) continue;
    const first = event.firstTimestamp ?? event.time;
    if (options.fromMs !== undefined && event.time < options.fromMs) continue;
    if (options.toMs !== undefined && first > options.toMs) continue;
    const { involvedObject: target } = event;
    const namespace = target.namespace ?? event.namespace;
    const object = objectKey(target.kind, namespace, target.name);
    const count = Math.max(1, event.count);
    const line = `${count}x ${event.reason} on ${object}: ${flat(event.message)}`;
    const base = {
      kind,
      object,
      isPod: target.kind === 'Pod',
      source: 'event' as const,
      count,
      firstSeen: Math.min(first, event.time),
      lastSeen: event.time,
      line,
    };
    if (target.kind === 'Node') {
      // A node event concerns every service with pods on that node, when the pods say which those are.
      const services = kind === 'node-not-ready' ? (nodeServices.get(target.name) ?? []) : [];
      if (services.length === 0) contributions.push({ ...base, service: undefined });
      for (const service of services) contributions.push({ ...base, service });
      continue;
    }
    contributions.push({ ...base, service: resolver.resolve(target.kind, namespace, target.name) });
  }

  const at = observation.observedAt;
  for (const pod of observation.pods ?? []) contributions.push(...podContributions(pod, resolver, at));
  for (const deployment of observation.deployments ?? []) {
    const c = deploymentContribution(deployment, resolver, at);
    if (c) contributions.push(c);
  }
  for (const hpa of observation.hpas ?? []) {
    const c = hpaContribution(hpa, resolver, at);
    if (c) contributions.push(c);
  }
  return aggregate(contributions);
}

function servicesByNode(pods: readonly PodState[], resolver: ServiceResolver): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const pod of pods) {
    const node = pod.spec?.nodeName;
    if (!node) continue;
    const service = resolver.resolve('Pod', pod.metadata.namespace, pod.metadata.name);
    if (!service) continue;
    const list = out.get(node) ?? [];
    if (!list.includes(service)) list.push(service);
    out.set(node, list);
  }
  return out;
}

const IMAGE_WAITING = new Set(['ImagePullBackOff', 'ErrImagePull', 'InvalidImageName', 'ErrImageNeverPull']);

function podContributions(pod: PodState, resolver: ServiceResolver, at: number): Contribution[] {
  const { name, namespace } = pod.metadata;
  const service = resolver.resolve('Pod', namespace, name);
  const object = objectKey('Pod', namespace, name);
  const out: Contribution[] = [];
  const statuses = [...(pod.status?.initContainerStatuses ?? []), ...(pod.status?.containerStatuses ?? [])];
  for (const status of statuses) {
    const restarts = status.restartCount ?? 0;
    const waiting = status.state?.waiting;
    const lastExit = status.lastState?.terminated;
    const exitText = lastExit
      ? `, last exit ${lastExit.exitCode ?? '?'}${lastExit.reason ? ` (${lastExit.reason})` : ''}`
      : '';
    const lastFinished = parseTime(lastExit?.finishedAt);
    if (waiting?.reason === 'CrashLoopBackOff') {
      const said = waiting.message ? `: ${flat(waiting.message)}` : '';
      out.push({
        service,
        kind: 'crash-loop',
        object,
        isPod: true,
        source: 'state',
        count: Math.max(1, restarts),
        firstSeen: lastFinished ?? at,
        lastSeen: at,
        line: `CrashLoopBackOff on ${object} (container ${status.name}, ${restarts} restarts${exitText})${said}`,
      });
    }
    if (waiting?.reason && IMAGE_WAITING.has(waiting.reason)) {
      const said = waiting.message ? `: ${flat(waiting.message)}` : '';
      out.push({
        service,
        kind: 'image-pull',
        object,
        isPod: true,
        source: 'state',
        count: 1,
        firstSeen: at,
        lastSeen: at,
        line: `${waiting.reason} on ${object} (container ${status.name}${status.image ? `, image ${status.image}` : ''})${said}`,
      });
    }
    const oom = [status.state?.terminated, lastExit].find((t) => t?.reason === 'OOMKilled');
    if (oom) {
      const finished = parseTime(oom.finishedAt) ?? at;
      out.push({
        service,
        kind: 'oom-killed',
        object,
        isPod: true,
        source: 'state',
        count: 1,
        firstSeen: parseTime(oom.startedAt) ?? finished,
        lastSeen: finished,
        line: `OOMKilled on ${object} (container ${status.name}, exit code ${oom.exitCode ?? '?'}, ${restarts} restarts${oom.finishedAt ? `, at ${oom.finishedAt}` : ''})`,
      });
    }
  }
  const unschedulable = (pod.status?.conditions ?? []).find(
    (c) => c.type === 'PodScheduled' && c.status === 'False' && c.reason === 'Unschedulable',
  );
  if (unschedulable) {
    out.push({
      service,
      kind: 'failed-scheduling',
      object,
      isPod: true,
      source: 'state',
      count: 1,
      firstSeen: parseTime(unschedulable.lastTransitionTime) ?? at,
      lastSeen: at,
      line: `Unschedulable ${object}${unschedulable.message ? `: ${flat(unschedulable.message)}` : ''}`,
    });
  }
  return out;
}

function deploymentContribution(d: DeploymentState, resolver: ServiceResolver, at: number): Contribution | undefined {
  const stalled = (d.status?.conditions ?? []).find(
    (c) => c.type === 'Progressing' && c.status === 'False' && c.reason === 'ProgressDeadlineExceeded',
  );
  if (!stalled) return undefined;
  const { name, namespace } = d.metadata;
  const object = objectKey('Deployment', namespace, name);
  const want = d.spec?.replicas;
  const replicas =
    want === undefined
      ? ''
      : ` (${d.status?.updatedReplicas ?? 0} of ${want} updated, ${d.status?.availableReplicas ?? 0} available)`;
  return {
    service: resolver.resolve('Deployment', namespace, name),
    kind: 'rollout-stuck',
    object,
    isPod: false,
    source: 'state',
    count: 1,
    firstSeen: parseTime(stalled.lastTransitionTime) ?? parseTime(stalled.lastUpdateTime) ?? at,
    lastSeen: at,
    line: `ProgressDeadlineExceeded on ${object}${replicas}: ${flat(stalled.message ?? 'rollout stopped progressing')}`,
  };
}

function hpaContribution(hpa: HpaState, resolver: ServiceResolver, at: number): Contribution | undefined {
  const max = hpa.spec.maxReplicas;
  const current = hpa.status?.currentReplicas ?? 0;
  const desired = hpa.status?.desiredReplicas ?? 0;
  // The controller caps desiredReplicas at the maximum, so ScalingLimited/TooManyReplicas is what says it wants more.
  const limited = (hpa.status?.conditions ?? []).find(
    (c) => c.type === 'ScalingLimited' && c.status === 'True' && c.reason === 'TooManyReplicas',
  );
  if (current < max || !(limited || desired > max)) return undefined;
  const { name, namespace } = hpa.metadata;
  const target = hpa.spec.scaleTargetRef;
  const service =
    resolver.resolve(target.kind, namespace, target.name) ?? resolver.resolve('Deployment', namespace, name);
  const object = objectKey('HorizontalPodAutoscaler', namespace, name);
  const wants = desired > max ? ` (desired ${desired})` : '';
  const said = limited?.message ? `: ${flat(limited.message)}` : '';
  return {
    service,
    kind: 'hpa-at-max',
    object,
    isPod: false,
    source: 'state',
    count: 1,
    firstSeen: parseTime(limited?.lastTransitionTime) ?? at,
    lastSeen: at,
    line: `HPA ${object} at its maximum of ${max} replicas${wants}${said}`,
  };
}

function aggregate(contributions: readonly Contribution[]): KubeFindings {
  // Per object first: events add up; a reading of the object's state replaces them only when it says more.
  const tallies = new Map<string, ObjectTally>();
  for (const c of contributions) {
    const key = `${c.service ?? ''}\u0000${c.kind}\u0000${c.object}`;
    let tally = tallies.get(key);
    if (!tally) {
      tally = {
        service: c.service,
        kind: c.kind,
        object: c.object,
        isPod: c.isPod,
        eventCount: 0,
        stateCount: 0,
        firstSeen: c.firstSeen,
        lastSeen: c.lastSeen,
        line: c.line,
        lineWeight: -1,
        lineTime: Number.NEGATIVE_INFINITY,
      };
      tallies.set(key, tally);
    }
    if (c.source === 'state') tally.stateCount = Math.max(tally.stateCount, c.count);
    else tally.eventCount += c.count;
    tally.firstSeen = Math.min(tally.firstSeen, c.firstSeen);
    tally.lastSeen = Math.max(tally.lastSeen, c.lastSeen);
    if (c.count > tally.lineWeight || (c.count === tally.lineWeight && c.lastSeen >= tally.lineTime)) {
      tally.line = c.line;
      tally.lineWeight = c.count;
      tally.lineTime = c.lastSeen;
    }
  }

  // Then per service and kind; what no service owns stays per object.
  const groups = new Map<string, ObjectTally[]>();
  for (const tally of tallies.values()) {
    const key =
      tally.service === undefined ? `\u0001${tally.kind}\u0000${tally.object}` : `${tally.service}\u0000${tally.kind}`;
    const list = groups.get(key) ?? [];
    list.push(tally);
    groups.set(key, list);
  }

  const findings: KubeFinding[] = [];
  const unattributed: UnattributedFinding[] = [];
  for (const group of groups.values()) {
    const counted = group
      .map((tally) => ({ tally, count: Math.max(tally.eventCount, tally.stateCount) }))
      .sort((a, b) => b.count - a.count || b.tally.lastSeen - a.tally.lastSeen);
    const [top, ...rest] = counted;
    let more = '';
    if (rest.length > 0) {
      const noun = rest.every((r) => r.tally.isPod) ? 'pod' : 'object';
      const restCount = rest.reduce((sum, r) => sum + r.count, 0);
      more = `; also ${restCount}x on ${rest.length} more ${noun}${rest.length > 1 ? 's' : ''}`;
    }
    const kind = top.tally.kind;
    const finding: UnattributedFinding = {
      kind,
      severity: KUBE_FINDING_SEVERITY[kind],
      count: counted.reduce((sum, r) => sum + r.count, 0),
      firstSeen: Math.min(...group.map((t) => t.firstSeen)),
      lastSeen: Math.max(...group.map((t) => t.lastSeen)),
      evidence: `${top.tally.line}${more}`,
      objects: counted.map((r) => r.tally.object).sort(),
    };
    const service = top.tally.service;
    if (service === undefined) unattributed.push(finding);
    else findings.push({ service, ...finding });
  }
  const order = (a: UnattributedFinding, b: UnattributedFinding) =>
    rank(a.severity) - rank(b.severity) || b.lastSeen - a.lastSeen || b.count - a.count;
  findings.sort((a, b) => order(a, b) || a.service.localeCompare(b.service) || a.kind.localeCompare(b.kind));
  unattributed.sort((a, b) => order(a, b) || a.evidence.localeCompare(b.evidence));
  return { findings, unattributed };
}

const rank = (severity: KubeFindingSeverity): number => (severity === 'critical' ? 0 : 1);
