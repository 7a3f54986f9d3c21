// Kubernetes findings from EventLists as `kubectl get events -o json` prints them and from object state, and
// the scenario reader that serves events in replay as the API server would have at the replay time.

import { type RawKubeEvent, toKubeEventRecord } from '../../lambdas/adapters/eks/kube-reader';
import type { KubeEvent } from '../../lambdas/adapters/scenario/load-scenario';
import {
  eventAt,
  parseEventFieldSelector,
  ScenarioKubeSource,
} from '../../lambdas/adapters/scenario/scenario-kube-source';
import {
  classifyEvent,
  type DeploymentState,
  type HpaState,
  type KubeEventRecord,
  kubeFindings,
  type PodState,
  ServiceResolver,
} from '../../lambdas/core/cognition/kube-findings';
import { type Topology, topologySchema } from '../../lambdas/core/config/schema';

const topology: Topology = topologySchema.parse({
  services: [
    { name: 'order-api', criticality: 'core', namespace: 'trading', deployment: 'order-api' },
    { name: 'order-worker', namespace: 'trading', deployment: 'order-api-worker' },
    { name: 'matching-engine', criticality: 'core', namespace: 'matching', deployment: 'matching-engine' },
    { name: 'market-data', namespace: 'market', deployment: 'market-data' },
    { name: 'mysql-main', kind: 'datastore', criticality: 'core', namespace: 'data' },
  ],
});

const at = (iso: string) => Date.parse(iso);
const NOW = at('2026-11-04T03:30:00Z');

let uid = 0;
/** A core v1 Event with every field kubectl shows, as the API server fills them in. */
function event(fields: {
  namespace: string;
  kind: string;
  name: string;
  reason: string;
  message: string;
  type?: 'Normal' | 'Warning';
  count?: number;
  first?: string;
  last?: string;
  component?: string;
  host?: string;
}) {
  uid++;
  const apiVersion = fields.kind === 'Pod' || fields.kind === 'Node' ? 'v1' : 'apps/v1';
  return {
    apiVersion: 'v1',
    kind: 'Event',
    metadata: {
      name: `${fields.name}.18e4b8${uid.toString(16).padStart(10, '0')}`,
      namespace: fields.namespace,
      uid: `00000000-0000-4000-8000-${uid.toString().padStart(12, '0')}`,
      resourceVersion: String(48_220_000 + uid),
      creationTimestamp: fields.first ?? fields.last,
    },
    involvedObject: {
      apiVersion,
      kind: fields.kind,
      name: fields.name,
      ...(fields.kind === 'Node' ? {} : { namespace: fields.namespace }),
      uid: `11111111-0000-4000-8000-${uid.toString().padStart(12, '0')}`,
      ...(fields.kind === 'Pod' ? { fieldPath: 'spec.containers{app}', resourceVersion: '48219990' } : {}),
    },
    reason: fields.reason,
    message: fields.message,
    source: { component: fields.component ?? 'kubelet', ...(fields.host ? { host: fields.host } : {}) },
    firstTimestamp: fields.first ?? null,
    lastTimestamp: fields.last ?? null,
    count: fields.count ?? 1,
    type: fields.type ?? 'Warning',
    eventTime: null,
    reportingComponent: fields.component ?? 'kubelet',
    reportingInstance: fields.host ?? '',
  };
}

const ORDER_POD = 'order-api-7c9f8d6b5-xk2pq';
const ORDER_POD_2 = 'order-api-7c9f8d6b5-m4d8w';
const WORKER_POD = 'order-api-worker-5d4f7c9b8-abcde';
const ENGINE_POD = 'matching-engine-6b8d9f7c4-q9z2x';
const MARKET_POD = 'market-data-84d7b9c6f5-tt7rn';
const NODE = 'ip-10-0-3-17.eu-west-1.compute.internal';

const eventList = {
  apiVersion: 'v1',
  kind: 'List',
  metadata: { resourceVersion: '' },
  items: [
    event({
      namespace: 'trading',
      kind: 'Deployment',
      name: 'order-api',
      reason: 'ScalingReplicaSet',
      message: 'Scaled up replica set order-api-7c9f8d6b5 to 6 from 0',
      type: 'Normal',
      component: 'deployment-controller',
      first: '2026-11-04T03:02:00Z',
      last: '2026-11-04T03:02:00Z',
    }),
    event({
      namespace: 'trading',
      kind: 'Pod',
      name: ORDER_POD,
      reason: 'BackOff',
      message: `Back-off restarting failed container order-api in pod ${ORDER_POD}_trading(6c1f2a8e-7d3b-4e2a-9f41-0c9d5b2e7a10)`,
      count: 12,
      first: '2026-11-04T03:05:10Z',
      last: '2026-11-04T03:24:40Z',
      host: NODE,
    }),
    event({
      namespace: 'trading',
      kind: 'Pod',
      name: ORDER_POD_2,
      reason: 'BackOff',
      message: 'Back-off restarting failed container order-api',
      count: 3,
      first: '2026-11-04T03:06:00Z',
      last: '2026-11-04T03:12:00Z',
    }),
    event({
      namespace: 'trading',
      kind: 'Pod',
      name: ORDER_POD,
      reason: 'Unhealthy',
      message:
        'Liveness probe failed: Get "http://10.0.3.41:8080/healthz": dial tcp 10.0.3.41:8080: connect: connection refused',
      count: 9,
      first: '2026-11-04T03:05:00Z',
      last: '2026-11-04T03:24:30Z',
    }),
    event({
      namespace: 'trading',
      kind: 'Pod',
      name: WORKER_POD,
      reason: 'FailedScheduling',
      message:
        '0/6 nodes are available: 3 Insufficient cpu, 3 Insufficient memory. preemption: 0/6 nodes are available: 6 No preemption victims found for incoming pod.',
      component: 'default-scheduler',
      count: 4,
      first: '2026-11-04T03:10:00Z',
      last: '2026-11-04T03:20:00Z',
    }),
    event({
      namespace: 'market',
      kind: 'Pod',
      name: MARKET_POD,
      reason: 'Failed',
      message:
        'Failed to pull image "registry.example/market-data:2.0.1": rpc error: code = NotFound desc = failed to pull and unpack image "registry.example/market-data:2.0.1": not found',
      count: 2,
      first: '2026-11-04T03:14:00Z',
      last: '2026-11-04T03:15:00Z',
    }),
    event({
      namespace: 'market',
      kind: 'Pod',
      name: MARKET_POD,
      reason: 'Failed',
      message: 'Error: ErrImagePull',
      count: 2,
      first: '2026-11-04T03:14:00Z',
      last: '2026-11-04T03:15:00Z',
    }),
    event({
      namespace: 'market',
      kind: 'Pod',
      name: MARKET_POD,
      reason: 'BackOff',
      message: 'Back-off pulling image "registry.example/market-data:2.0.1"',
      count: 7,
      first: '2026-11-04T03:15:10Z',
      last: '2026-11-04T03:22:00Z',
    }),
    event({
      namespace: 'default',
      kind: 'Node',
      name: NODE,
      reason: 'NodeNotReady',
      message: `Node ${NODE} status is now: NodeNotReady`,
      type: 'Normal',
      component: 'node-controller',
      first: '2026-11-04T03:18:00Z',
      last: '2026-11-04T03:18:00Z',
    }),
    event({
      namespace: 'matching',
      kind: 'Pod',
      name: ENGINE_POD,
      reason: 'NodeNotReady',
      message: 'Node is not ready',
      component: 'node-controller',
      first: '2026-11-04T03:18:05Z',
      last: '2026-11-04T03:18:05Z',
    }),
    event({
      namespace: 'default',
      kind: 'Node',
      name: 'ip-10-0-1-9.eu-west-1.compute.internal',
      reason: 'OOMKilling',
      message:
        'Memory cgroup out of memory: Killed process 31337 (java) total-vm:8123456kB, anon-rss:2097152kB, file-rss:0kB, shmem-rss:0kB, UID:1000 pgtables:5000kB oom_score_adj:936',
      component: 'kernel-monitor',
      first: '2026-11-04T03:21:00Z',
      last: '2026-11-04T03:21:00Z',
    }),
    event({
      namespace: 'kube-system',
      kind: 'Pod',
      name: 'coredns-5d78c9869d-8kq2v',
      reason: 'BackOff',
      message: 'Back-off restarting failed container coredns',
      count: 5,
      first: '2026-11-04T03:00:00Z',
      last: '2026-11-04T03:10:00Z',
    }),
  ],
};

/** The readiness event as newer API servers write it: no first/last timestamps, an eventTime and a series. */
const seriesEvent = {
  apiVersion: 'v1',
  kind: 'Event',
  metadata: { name: `${ENGINE_POD}.18e4b9a1c2d3e4f5`, namespace: 'matching' },
  involvedObject: { apiVersion: 'v1', kind: 'Pod', name: ENGINE_POD, namespace: 'matching' },
  reason: 'Unhealthy',
  message: 'Readiness probe failed: HTTP probe failed with statuscode: 503',
  type: 'Warning',
  firstTimestamp: null,
  lastTimestamp: null,
  eventTime: '2026-11-04T03:16:00.123456Z',
  series: { count: 40, lastObservedTime: '2026-11-04T03:26:00.654321Z' },
  reportingComponent: 'kubelet',
  reportingInstance: NODE,
  action: 'Probe',
};

const events: KubeEventRecord[] = [...eventList.items, seriesEvent].map((e) => toKubeEventRecord(e as RawKubeEvent));

const pods: PodState[] = [
  {
    metadata: { name: ENGINE_POD, namespace: 'matching', labels: { app: 'matching-engine' } },
    spec: { nodeName: NODE },
    status: { phase: 'Running' },
  },
  {
    metadata: { name: ORDER_POD, namespace: 'trading' },
    spec: { nodeName: 'ip-10-0-2-4.eu-west-1.compute.internal' },
    status: {
      phase: 'Running',
      containerStatuses: [
        {
          name: 'order-api',
          ready: false,
          restartCount: 7,
          state: {
            waiting: {
              reason: 'CrashLoopBackOff',
              message: `back-off 5m0s restarting failed container=order-api pod=${ORDER_POD}_trading(6c1f)`,
            },
          },
          lastState: {
            terminated: {
              reason: 'Error',
              exitCode: 1,
              startedAt: '2026-11-04T03:23:00Z',
              finishedAt: '2026-11-04T03:24:00Z',
            },
          },
        },
      ],
    },
  },
  {
    metadata: { name: 'order-api-7c9f8d6b5-p8r2t', namespace: 'trading' },
    status: {
      phase: 'Running',
      containerStatuses: [
        {
          name: 'order-api',
          ready: true,
          restartCount: 3,
          state: { running: { startedAt: '2026-11-04T03:25:00Z' } },
          lastState: {
            terminated: {
              reason: 'OOMKilled',
              exitCode: 137,
              startedAt: '2026-11-04T03:11:00Z',
              finishedAt: '2026-11-04T03:24:58Z',
            },
          },
        },
      ],
    },
  },
  {
    metadata: { name: 'order-api-worker-5d4f7c9b8-zzzzz', namespace: 'trading' },
    status: {
      phase: 'Pending',
      conditions: [
        {
          type: 'PodScheduled',
          status: 'False',
          reason: 'Unschedulable',
          message: '0/6 nodes are available: 6 Insufficient memory.',
          lastTransitionTime: '2026-11-04T03:12:00Z',
        },
      ],
    },
  },
];

const deployments: DeploymentState[] = [
  {
    metadata: { name: 'order-api', namespace: 'trading' },
    spec: { replicas: 6 },
    status: {
      replicas: 8,
      updatedReplicas: 3,
      availableReplicas: 4,
      conditions: [
        { type: 'Available', status: 'False', reason: 'MinimumReplicasUnavailable' },
        {
          type: 'Progressing',
          status: 'False',
          reason: 'ProgressDeadlineExceeded',
          message: 'ReplicaSet "order-api-7c9f8d6b5" has timed out progressing.',
          lastUpdateTime: '2026-11-04T03:12:00Z',
          lastTransitionTime: '2026-11-04T03:12:00Z',
        },
      ],
    },
  },
  {
    metadata: { name: 'market-data', namespace: 'market' },
    spec: { replicas: 4 },
    status: {
      conditions: [{ type: 'Progressing', status: 'True', reason: 'NewReplicaSetAvailable' }],
    },
  },
];

const hpa = (name: string, namespace: string, current: number, limited: boolean): HpaState => ({
  metadata: { name, namespace },
  spec: { scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name }, minReplicas: 2, maxReplicas: 10 },
  status: {
    currentReplicas: current,
    desiredReplicas: current,
    conditions: [
      { type: 'AbleToScale', status: 'True', reason: 'ReadyForNewScale' },
      limited
        ? {
            type: 'ScalingLimited',
            status: 'True',
            reason: 'TooManyReplicas',
            message: 'the desired replica count is more than the maximum replica count',
            lastTransitionTime: '2026-11-04T03:08:00Z',
          }
        : { type: 'ScalingLimited', status: 'False', reason: 'DesiredWithinRange' },
    ],
  },
});

describe('classifyEvent', () => {
  it.each([
    ['BackOff', 'Back-off restarting failed container', 'crash-loop'],
    ['BackOff', 'Back-off pulling image "x:1"', 'image-pull'],
    ['Failed', 'Error: ImagePullBackOff', 'image-pull'],
    ['Failed', 'Error: InvalidImageName', 'image-pull'],
    ['Failed', 'Error: failed to create containerd task', undefined],
    ['OOMKilling', 'Memory cgroup out of memory: Killed process 1 (java)', 'oom-killed'],
    ['Killing', 'Container app was OOMKilled', 'oom-killed'],
    ['FailedScheduling', '0/3 nodes are available: 3 Insufficient cpu.', 'failed-scheduling'],
    ['NodeNotReady', 'Node is not ready', 'node-not-ready'],
    ['ProgressDeadlineExceeded', 'ReplicaSet "a-1" has timed out progressing.', 'rollout-stuck'],
    ['Unhealthy', 'Liveness probe failed: HTTP probe failed with statuscode: 500', 'liveness-probe-failed'],
    ['Unhealthy', 'Startup probe failed: connection refused', 'liveness-probe-failed'],
    ['Unhealthy', 'Readiness probe failed: timeout', 'readiness-probe-failed'],
    ['Unhealthy', 'Readiness probe errored: rpc error', 'readiness-probe-failed'],
    ['ScalingReplicaSet', 'Scaled up replica set a-1 to 3', undefined],
    ['Pulled', 'Successfully pulled image "x:1"', undefined],
  ])('%s "%s" is %s', (reason, message, kind) => {
    expect(classifyEvent({ reason, message })).toBe(kind);
  });
});

describe('ServiceResolver', () => {
  const resolver = new ServiceResolver(topology);
  it('maps pods, ReplicaSets and Deployments to their service by name and namespace', () => {
    expect(resolver.resolve('Pod', 'trading', ORDER_POD)).toBe('order-api');
    expect(resolver.resolve('Pod', 'trading', WORKER_POD)).toBe('order-worker');
    expect(resolver.resolve('ReplicaSet', 'trading', 'order-api-7c9f8d6b5')).toBe('order-api');
    expect(resolver.resolve('ReplicaSet', 'trading', 'order-api-worker-5d4f7c9b8')).toBe('order-worker');
    expect(resolver.resolve('Deployment', 'trading', 'order-api-worker')).toBe('order-worker');
    expect(resolver.resolve('HorizontalPodAutoscaler', 'trading', 'order-api')).toBe('order-api');
    expect(resolver.resolve('Pod', 'data', 'mysql-main-0')).toBe('mysql-main');
  });

  it('does not map objects of another namespace or names that only share a prefix', () => {
    expect(resolver.resolve('Pod', 'market', ORDER_POD)).toBeUndefined();
    expect(resolver.resolve('Pod', 'trading', 'order-api-canary-1a2b3c-xyz12')).toBeUndefined();
    expect(resolver.resolve('Pod', 'trading', 'order-api')).toBeUndefined();
    expect(resolver.resolve('Deployment', 'trading', 'order-api-canary')).toBeUndefined();
  });
});

describe('kubeFindings', () => {
  it('turns the EventList into one finding per service and kind, with evidence', () => {
    const { findings, unattributed } = kubeFindings({ events, observedAt: NOW }, topology);
    const byKey = new Map(findings.map((f) => [`${f.service} ${f.kind}`, f]));
    expect([...byKey.keys()].sort()).toEqual([
      'market-data image-pull',
      'matching-engine node-not-ready',
      'matching-engine readiness-probe-failed',
      'order-api crash-loop',
      'order-api liveness-probe-failed',
      'order-worker failed-scheduling',
    ]);

    expect(byKey.get('order-api crash-loop')).toEqual({
      service: 'order-api',
      kind: 'crash-loop',
      severity: 'critical',
      count: 15,
      firstSeen: at('2026-11-04T03:05:10Z'),
      lastSeen: at('2026-11-04T03:24:40Z'),
      evidence: `12x BackOff on trading/${ORDER_POD}: Back-off restarting failed container order-api in pod ${ORDER_POD}_trading(6c1f2a8e-7d3b-4e2a-9f41-0c9d5b2e7a10); also 3x on 1 more pod`,
      objects: [`trading/${ORDER_POD_2}`, `trading/${ORDER_POD}`],
    });
    expect(byKey.get('order-api liveness-probe-failed')).toMatchObject({
      severity: 'critical',
      count: 9,
      evidence: `9x Unhealthy on trading/${ORDER_POD}: Liveness probe failed: Get "http://10.0.3.41:8080/healthz": dial tcp 10.0.3.41:8080: connect: connection refused`,
    });
    expect(byKey.get('order-worker failed-scheduling')).toMatchObject({
      severity: 'warning',
      count: 4,
      evidence: `4x FailedScheduling on trading/${WORKER_POD}: 0/6 nodes are available: 3 Insufficient cpu, 3 Insufficient memory. preemption: 0/6 nodes are available: 6 No preemption victims found for incoming pod.`,
    });
    // Failed (pull), Failed (ErrImagePull) and BackOff (pulling) on one pod: one object, counts add up.
    expect(byKey.get('market-data image-pull')).toMatchObject({
      severity: 'warning',
      count: 11,
      firstSeen: at('2026-11-04T03:14:00Z'),
      lastSeen: at('2026-11-04T03:22:00Z'),
      evidence: `7x BackOff on market/${MARKET_POD}: Back-off pulling image "registry.example/market-data:2.0.1"`,
      objects: [`market/${MARKET_POD}`],
    });
    expect(byKey.get('matching-engine readiness-probe-failed')).toMatchObject({
      severity: 'warning',
      count: 40,
      firstSeen: at('2026-11-04T03:26:00.654Z'),
      lastSeen: at('2026-11-04T03:26:00.654Z'),
      evidence: `40x Unhealthy on matching/${ENGINE_POD}: Readiness probe failed: HTTP probe failed with statuscode: 503`,
    });
    // Without pods the node event is nobody's; the pod's own NodeNotReady event still names the service.
    expect(byKey.get('matching-engine node-not-ready')).toMatchObject({
      count: 1,
      evidence: `1x NodeNotReady on matching/${ENGINE_POD}: Node is not ready`,
    });
    expect(unattributed.map((f) => `${f.kind} ${f.objects.join(',')}`)).toEqual([
      'oom-killed node/ip-10-0-1-9.eu-west-1.compute.internal',
      `node-not-ready node/${NODE}`,
      'crash-loop kube-system/coredns-5d78c9869d-8kq2v',
    ]);
    expect(unattributed[0].evidence).toMatch(
      /^1x OOMKilling on node\/ip-10-0-1-9\.eu-west-1\.compute\.internal: Memory cgroup out of memory: Killed process 31337 \(java\)/,
    );

    // Critical before warning, most recent first within a severity.
    expect(findings.map((f) => f.severity)).toEqual([
      'critical',
      'critical',
      'critical',
      'warning',
      'warning',
      'warning',
    ]);
    expect(findings[0].kind).toBe('crash-loop');
  });

  it('attributes a node event to the services with pods on that node, when the pods are known', () => {
    const { findings, unattributed } = kubeFindings({ events, pods: pods.slice(0, 1), observedAt: NOW }, topology);
    const node = findings.find((f) => f.service === 'matching-engine' && f.kind === 'node-not-ready');
    expect(node).toMatchObject({ count: 2, objects: [`matching/${ENGINE_POD}`, `node/${NODE}`] });
    expect(unattributed.map((f) => f.kind)).toEqual(['oom-killed', 'crash-loop']);
  });

  it('reads crash loops, OOM kills and unschedulable pods from pod state, counting each object once', () => {
    const { findings } = kubeFindings({ events, pods, observedAt: NOW }, topology);
    const crash = findings.find((f) => f.service === 'order-api' && f.kind === 'crash-loop')!;
    // 12 BackOff events vs 7 restarts on the same pod: the larger, not the sum.
    expect(crash.count).toBe(15);
    expect(crash.lastSeen).toBe(NOW);

    const oom = findings.find((f) => f.kind === 'oom-killed')!;
    expect(oom).toEqual({
      service: 'order-api',
      kind: 'oom-killed',
      severity: 'critical',
      count: 1,
      firstSeen: at('2026-11-04T03:11:00Z'),
      lastSeen: at('2026-11-04T03:24:58Z'),
      evidence:
        'OOMKilled on trading/order-api-7c9f8d6b5-p8r2t (container order-api, exit code 137, 3 restarts, at 2026-11-04T03:24:58Z)',
      objects: ['trading/order-api-7c9f8d6b5-p8r2t'],
    });

    const scheduling = findings.find((f) => f.kind === 'failed-scheduling')!;
    expect(scheduling.count).toBe(5);
    expect(scheduling.objects).toEqual([`trading/${WORKER_POD}`, 'trading/order-api-worker-5d4f7c9b8-zzzzz']);
  });

  it('reads a crash loop from pod state alone', () => {
    const { findings } = kubeFindings({ pods: [pods[1]], observedAt: NOW }, topology);
    expect(findings).toEqual([
      {
        service: 'order-api',
        kind: 'crash-loop',
        severity: 'critical',
        count: 7,
        firstSeen: at('2026-11-04T03:24:00Z'),
        lastSeen: NOW,
        evidence: `CrashLoopBackOff on trading/${ORDER_POD} (container order-api, 7 restarts, last exit 1 (Error)): back-off 5m0s restarting failed container=order-api pod=${ORDER_POD}_trading(6c1f)`,
        objects: [`trading/${ORDER_POD}`],
      },
    ]);
  });

  it('finds a stuck rollout and an HPA pinned at its maximum, and not an HPA merely at it', () => {
    const { findings } = kubeFindings(
      {
        deployments,
        hpas: [hpa('order-api', 'trading', 10, true), hpa('market-data', 'market', 10, false)],
        observedAt: NOW,
      },
      topology,
    );
    expect(findings).toEqual([
      {
        service: 'order-api',
        kind: 'rollout-stuck',
        severity: 'critical',
        count: 1,
        firstSeen: at('2026-11-04T03:12:00Z'),
        lastSeen: NOW,
        evidence:
          'ProgressDeadlineExceeded on trading/deployment/order-api (3 of 6 updated, 4 available): ReplicaSet "order-api-7c9f8d6b5" has timed out progressing.',
        objects: ['trading/deployment/order-api'],
      },
      {
        service: 'order-api',
        kind: 'hpa-at-max',
        severity: 'warning',
        count: 1,
        firstSeen: at('2026-11-04T03:08:00Z'),
        lastSeen: NOW,
        evidence:
          'HPA trading/hpa/order-api at its maximum of 10 replicas: the desired replica count is more than the maximum replica count',
        objects: ['trading/hpa/order-api'],
      },
    ]);
    const below = kubeFindings({ hpas: [hpa('order-api', 'trading', 9, true)], observedAt: NOW }, topology);
    expect(below.findings).toEqual([]);
  });

  it('keeps only events inside the window', () => {
    const { findings } = kubeFindings({ events, observedAt: NOW }, topology, {
      fromMs: at('2026-11-04T03:20:00Z'),
      toMs: at('2026-11-04T03:15:30Z'),
    });
    expect(findings.map((f) => `${f.service} ${f.kind}`).sort()).toEqual([
      'market-data image-pull',
      'order-api crash-loop',
      'order-api liveness-probe-failed',
      'order-worker failed-scheduling',
    ]);
  });
});

describe('ScenarioKubeSource', () => {
  const scenarioEvents = events as KubeEvent[];

  it('lists only what had happened at the replay time, cutting events that were still recurring', async () => {
    let now = at('2026-11-04T03:10:00Z');
    const source = new ScenarioKubeSource({ events: scenarioEvents, clock: () => now });
    const early = await source.listEvents('trading', { sinceMs: 0 });
    expect(early.ok).toBe(true);
    if (!early.ok) return;
    expect(early.value.map((e) => `${e.reason} ${e.count} ${new Date(e.time).toISOString()}`)).toEqual([
      'ScalingReplicaSet 1 2026-11-04T03:02:00.000Z',
      'BackOff 2 2026-11-04T03:10:00.000Z',
      'BackOff 2 2026-11-04T03:10:00.000Z',
      'Unhealthy 2 2026-11-04T03:10:00.000Z',
      'FailedScheduling 1 2026-11-04T03:10:00.000Z',
    ]);
    now = NOW;
    const late = await source.listEvents('trading', { sinceMs: 0 });
    if (!late.ok) throw new Error(late.error.message);
    expect(late.value.map((e) => e.count)).toEqual([1, 3, 4, 9, 12]);
  });

  it('filters by namespace, time and field selector, and rejects unknown fields as the API server does', async () => {
    const source = new ScenarioKubeSource({ events: scenarioEvents, clock: () => NOW });
    const all = await source.listEvents(undefined, {
      sinceMs: at('2026-11-04T03:20:00Z'),
      fieldSelector: 'type=Warning',
    });
    if (!all.ok) throw new Error(all.error.message);
    expect(all.value.map((e) => `${e.namespace}/${e.reason}`)).toEqual([
      'trading/FailedScheduling',
      'default/OOMKilling',
      'market/BackOff',
      'trading/Unhealthy',
      'trading/BackOff',
      'matching/Unhealthy',
    ]);
    const pods = await source.listEvents('market', {
      sinceMs: 0,
      fieldSelector: 'involvedObject.kind=Pod,reason!=BackOff',
    });
    if (!pods.ok) throw new Error(pods.error.message);
    expect(pods.value.map((e) => e.message)).toEqual([
      expect.stringMatching(/^Failed to pull image/),
      'Error: ErrImagePull',
    ]);
    const bad = await source.listEvents('trading', { sinceMs: 0, fieldSelector: 'lastTimestamp>3' });
    expect(bad).toEqual({
      ok: false,
      error: {
        kind: 'invalid',
        status: 400,
        message: 'cannot list events in namespace trading: invalid field selector term "lastTimestamp>3"',
      },
    });
    expect(parseEventFieldSelector('count=3')).toEqual({ error: 'field label not supported: count' });
  });

  it('serves the object state it was given and answers not-found otherwise', async () => {
    const source = new ScenarioKubeSource({ events: [], clock: () => NOW, objects: { pods, deployments } });
    const listed = await source.listPods('matching', 'app=matching-engine');
    expect(listed.ok && listed.value.map((p) => p.metadata.name)).toEqual([ENGINE_POD]);
    const none = await source.listPods('matching', 'app=other');
    expect(none.ok && none.value).toEqual([]);
    const got = await source.getDeployment('trading', 'order-api');
    expect(got.ok && got.value.spec?.replicas).toBe(6);
    expect(await source.getDeployment('trading', 'nope')).toEqual({
      ok: false,
      error: { kind: 'not-found', status: 404, message: 'not found: deployment nope in namespace trading' },
    });
    const hpas = await source.listHpas('trading');
    expect(hpas.ok && hpas.value).toEqual([]);
  });

  it('prorates an event cut at the replay time', () => {
    const e: KubeEvent = {
      time: 1_000_000,
      firstTimestamp: 0,
      lastTimestamp: 1_000_000,
      name: 'x',
      namespace: 'trading',
      type: 'Warning',
      reason: 'BackOff',
      message: 'Back-off restarting failed container',
      count: 100,
      involvedObject: { kind: 'Pod', name: ORDER_POD, namespace: 'trading' },
    };
    expect(eventAt(e, -1)).toBeUndefined();
    expect(eventAt(e, 0)).toMatchObject({ time: 0, count: 1 });
    expect(eventAt(e, 250_000)).toMatchObject({ time: 250_000, lastTimestamp: 250_000, count: 25 });
    expect(eventAt(e, 2_000_000)).toBe(e);
  });
});
