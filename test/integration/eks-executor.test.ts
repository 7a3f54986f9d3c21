// EksExecutor against a loopback HTTPS server that answers like the Kubernetes API for Deployments,
// ReplicaSets, Pods, HorizontalPodAutoscalers and deployments/scale, with a CA and server certificate made by
// openssl for this run. DescribeCluster is answered by a mocked EKS client.

import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  AccessDeniedException,
  DescribeClusterCommand,
  EKSClient,
  ResourceNotFoundException,
} from '@aws-sdk/client-eks';
import { mockClient } from 'aws-sdk-client-mock';
import {
  createEksExecutor,
  type Deployment,
  type DeploymentSnapshotState,
  describeCluster,
  EksExecutor,
  type EksExecutorOptions,
  type HorizontalPodAutoscaler,
  type Pod,
  type PodTemplateSpec,
  type ReplicaSet,
} from '../../lambdas/adapters/eks/eks-executor';
import { KubeClient, type KubeExchange } from '../../lambdas/adapters/eks/kube-client';
import { decodeEksToken } from '../../lambdas/adapters/eks/token';
import type { ActionName, PlannedAction } from '../../lambdas/core/decision/types';

const TOKEN = 'k8s-aws-v1.test-token';
const NOW = Date.parse('2026-03-01T12:00:00Z');
const NS = 'trading';

// --- Certificates. ---

let dir: string;
let caData: string;
let otherCaData: string;
let serverKey: Buffer;
let serverCert: Buffer;

function makeCertificates(): void {
  dir = mkdtempSync(join(tmpdir(), 'eks-executor-test-'));
  const run = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  run('req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '2', '-subj', '/CN=test-cluster-ca');
  run('req', ...ec, '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=kube-apiserver');
  writeFileSync(
    join(dir, 'server.ext'),
    [
      'subjectAltName=IP:127.0.0.1,DNS:localhost',
      'basicConstraints=CA:FALSE',
      'keyUsage=digitalSignature,keyEncipherment',
      'extendedKeyUsage=serverAuth',
    ].join('\n'),
  );
  run(
    'x509',
    '-req',
    '-in',
    'server.csr',
    '-CA',
    'ca.crt',
    '-CAkey',
    'ca.key',
    '-CAcreateserial',
    '-out',
    'server.crt',
    '-days',
    '2',
    '-extfile',
    'server.ext',
  );
  run('req', '-x509', ...ec, '-keyout', 'other.key', '-out', 'other.crt', '-days', '2', '-subj', '/CN=other-ca');
  caData = readFileSync(join(dir, 'ca.crt')).toString('base64');
  otherCaData = readFileSync(join(dir, 'other.crt')).toString('base64');
  serverKey = readFileSync(join(dir, 'server.key'));
  serverCert = readFileSync(join(dir, 'server.crt'));
}

// --- A small Kubernetes API. ---

interface Logged {
  readonly method: string;
  readonly path: string;
  readonly query: Record<string, string>;
  readonly authorization: string | undefined;
  readonly contentType: string | undefined;
  readonly body: unknown;
}

type Fault = {
  readonly method: string;
  readonly path: RegExp;
  /** Runs before the answer, e.g. a concurrent writer changing the object. */
  readonly before?: () => void;
  readonly status: number;
  readonly reason: string;
  readonly message: string;
};

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function mergePatch(target: unknown, patch: unknown): unknown {
  if (!isRecord(patch)) return patch;
  const out: Record<string, unknown> = isRecord(target) ? { ...target } : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = mergePatch(out[k], v);
  }
  return out;
}

const template = (image: string, extra: Record<string, string> = {}) => ({
  metadata: {
    labels: { app: 'order-api', ...extra } as Record<string, string>,
    annotations: {} as Record<string, string>,
  },
  spec: {
    containers: [{ name: 'order-api', image, ports: [{ containerPort: 8080, protocol: 'TCP' }] }],
    restartPolicy: 'Always',
  },
});

class FakeKubeApi {
  readonly log: Logged[] = [];
  readonly faults: Fault[] = [];
  readonly forbidden = new Set<string>();
  /** Bearer tokens the server accepts; anything else is answered 401. */
  readonly tokens = new Set<string>();
  deployments = new Map<string, Deployment>();
  hpas = new Map<string, HorizontalPodAutoscaler>();
  replicaSets: ReplicaSet[] = [];
  pods: Pod[] = [];
  private rv = 1000;

  reset(): void {
    this.log.length = 0;
    this.faults.length = 0;
    this.forbidden.clear();
    this.tokens.clear();
    this.tokens.add(TOKEN);
    this.rv = 1000;
    const uid = 'd-uid-1';
    this.deployments = new Map([
      [
        'order-api',
        {
          apiVersion: 'apps/v1',
          kind: 'Deployment',
          metadata: {
            name: 'order-api',
            namespace: NS,
            uid,
            resourceVersion: '1000',
            generation: 7,
            labels: { app: 'order-api' },
            annotations: { 'deployment.kubernetes.io/revision': '3' },
            creationTimestamp: '2026-01-01T00:00:00Z',
          },
          spec: {
            replicas: 3,
            selector: { matchLabels: { app: 'order-api' } },
            template: template('registry.example/order-api:1.4.0', { track: 'canary' }),
          },
          status: {
            observedGeneration: 7,
            replicas: 3,
            updatedReplicas: 3,
            readyReplicas: 3,
            availableReplicas: 3,
          },
        } as Deployment,
      ],
    ]);
    const rs = (revision: number, image: string, hash: string, extra: Record<string, string> = {}): ReplicaSet =>
      ({
        apiVersion: 'apps/v1',
        kind: 'ReplicaSet',
        metadata: {
          name: `order-api-${hash}`,
          namespace: NS,
          uid: `rs-${hash}`,
          resourceVersion: String(900 + revision),
          labels: { app: 'order-api', 'pod-template-hash': hash },
          annotations: { 'deployment.kubernetes.io/revision': String(revision) },
          ownerReferences: [{ apiVersion: 'apps/v1', kind: 'Deployment', name: 'order-api', uid, controller: true }],
        },
        spec: {
          replicas: revision === 3 ? 3 : 0,
          selector: { matchLabels: { app: 'order-api', 'pod-template-hash': hash } },
          template: (() => {
            const t = template(image, extra);
            t.metadata.labels['pod-template-hash'] = hash;
            return t;
          })(),
        },
      }) as unknown as ReplicaSet;
    this.replicaSets = [
      rs(1, 'registry.example/order-api:1.2.0', 'aaa111'),
      rs(3, 'registry.example/order-api:1.4.0', 'ccc333', { track: 'canary' }),
      rs(2, 'registry.example/order-api:1.3.1', 'bbb222'),
      // Same labels, another owner: must be ignored.
      {
        ...rs(9, 'registry.example/impostor:9', 'zzz999'),
        metadata: {
          ...rs(9, 'registry.example/impostor:9', 'zzz999').metadata,
          ownerReferences: [{ kind: 'Deployment', name: 'other', uid: 'other-uid', controller: true }],
        },
      },
    ];
    const pod = (name: string, created: string, ready: boolean): Pod =>
      ({
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: {
          name,
          namespace: NS,
          uid: `pod-${name}`,
          labels: { app: 'order-api', 'pod-template-hash': 'ccc333' },
          creationTimestamp: created,
          ownerReferences: [{ kind: 'ReplicaSet', name: 'order-api-ccc333', uid: 'rs-ccc333', controller: true }],
        },
        status: {
          phase: 'Running',
          conditions: [
            { type: 'Initialized', status: 'True' },
            { type: 'Ready', status: ready ? 'True' : 'False' },
          ],
        },
      }) as Pod;
    this.pods = [
      pod('order-api-ccc333-x1', '2026-02-28T10:00:00Z', true),
      pod('order-api-ccc333-x2', '2026-02-27T09:00:00Z', true),
      pod('order-api-ccc333-x3', '2026-02-28T11:00:00Z', false),
    ];
    this.hpas = new Map([
      [
        'order-api',
        {
          apiVersion: 'autoscaling/v2',
          kind: 'HorizontalPodAutoscaler',
          metadata: { name: 'order-api', namespace: NS, uid: 'hpa-uid-1', resourceVersion: '2000' },
          spec: {
            scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'order-api' },
            minReplicas: 2,
            maxReplicas: 10,
          },
        } as HorizontalPodAutoscaler,
      ],
    ]);
  }

  nextRv(): string {
    this.rv += 1;
    return String(this.rv);
  }

  handle(req: IncomingMessage, res: ServerResponse, raw: string) {
    const url = new URL(req.url ?? '/', 'https://127.0.0.1');
    let body: unknown;
    try {
      body = raw === '' ? undefined : JSON.parse(raw);
    } catch {
      body = raw;
    }
    const method = req.method ?? 'GET';
    this.log.push({
      method,
      path: url.pathname,
      query: Object.fromEntries(url.searchParams),
      authorization: req.headers.authorization,
      contentType: req.headers['content-type'],
      body,
    });
    const send = (status: number, value: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(value));
    };
    const status = (code: number, reason: string, message: string) =>
      send(code, { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code });

    const bearer = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
    if (bearer === undefined || !this.tokens.has(bearer)) return status(401, 'Unauthorized', 'Unauthorized');
    const faultIndex = this.faults.findIndex((f) => f.method === method && f.path.test(url.pathname));
    if (faultIndex >= 0) {
      const [fault] = this.faults.splice(faultIndex, 1);
      fault.before?.();
      return status(fault.status, fault.reason, fault.message);
    }
    const dryRun = url.searchParams.get('dryRun') === 'All';
    const selector = url.searchParams.get('labelSelector');
    const matches = (labels: Record<string, string> | undefined) =>
      !selector ||
      selector.split(',').every((term) => {
        const [k, v] = term.split('=');
        return labels?.[k] === v;
      });

    let m = /^\/apis\/apps\/v1\/namespaces\/([^/]+)\/deployments\/([^/]+)(\/scale)?$/.exec(url.pathname);
    if (m) {
      const [, ns, name, scale] = m;
      const resource = scale ? 'deployments/scale' : 'deployments';
      const verb = method.toLowerCase();
      if (this.forbidden.has(`${verb} ${resource}`)) {
        return status(
          403,
          'Forbidden',
          `${scale ? 'deployments.apps' : 'deployments.apps'} "${name}" is forbidden: User "arn:aws:sts::111122223333:assumed-role/sre-agent/remediate" cannot ${verb} resource "${resource}" in API group "apps" in the namespace "${ns}"`,
        );
      }
      const deployment = ns === NS ? this.deployments.get(name) : undefined;
      if (!deployment) return status(404, 'NotFound', `deployments.apps "${name}" not found`);
      const asScale = (d: Deployment) => ({
        kind: 'Scale',
        apiVersion: 'autoscaling/v1',
        metadata: {
          name,
          namespace: ns,
          uid: d.metadata.uid,
          resourceVersion: d.metadata.resourceVersion,
          creationTimestamp: d.metadata.creationTimestamp,
        },
        spec: { replicas: d.spec.replicas },
        status: { replicas: d.status?.replicas, selector: 'app=order-api' },
      });
      if (method === 'GET') return send(200, scale ? asScale(deployment) : deployment);
      if (method !== 'PATCH') return status(405, 'MethodNotAllowed', 'method not allowed');
      const type = req.headers['content-type'];
      if (type !== 'application/merge-patch+json' && type !== 'application/strategic-merge-patch+json') {
        return status(415, 'UnsupportedMediaType', `unsupported patch type ${type}`);
      }
      const patch = body as { metadata?: { resourceVersion?: string }; spec?: { replicas?: number } };
      const wanted = patch.metadata?.resourceVersion;
      if (wanted !== undefined && wanted !== deployment.metadata.resourceVersion) {
        return status(
          409,
          'Conflict',
          `Operation cannot be fulfilled on deployments.apps "${name}": the object has been modified; please apply your changes to the latest version and try again`,
        );
      }
      let next: Deployment;
      if (scale) {
        next = {
          ...deployment,
          spec: { ...deployment.spec, replicas: patch.spec?.replicas ?? deployment.spec.replicas },
        };
      } else {
        next = mergePatch(deployment, patch) as Deployment;
      }
      const specChanged = JSON.stringify(next.spec) !== JSON.stringify(deployment.spec);
      next = {
        ...next,
        metadata: {
          ...next.metadata,
          resourceVersion: dryRun ? deployment.metadata.resourceVersion : this.nextRv(),
          generation: (deployment.metadata.generation ?? 1) + (specChanged ? 1 : 0),
        },
      };
      if (!dryRun) this.deployments.set(name, next);
      return send(200, scale ? asScale(next) : next);
    }
    m = /^\/apis\/autoscaling\/v2\/namespaces\/([^/]+)\/horizontalpodautoscalers\/([^/]+)$/.exec(url.pathname);
    if (m) {
      const [, ns, name] = m;
      const verb = method.toLowerCase();
      if (this.forbidden.has(`${verb} horizontalpodautoscalers`)) {
        return status(
          403,
          'Forbidden',
          `horizontalpodautoscalers.autoscaling "${name}" is forbidden: cannot ${verb} resource "horizontalpodautoscalers"`,
        );
      }
      const hpa = ns === NS ? this.hpas.get(name) : undefined;
      if (!hpa) return status(404, 'NotFound', `horizontalpodautoscalers.autoscaling "${name}" not found`);
      if (method === 'GET') return send(200, hpa);
      if (method !== 'PATCH') return status(405, 'MethodNotAllowed', 'method not allowed');
      if (req.headers['content-type'] !== 'application/merge-patch+json') {
        return status(415, 'UnsupportedMediaType', `unsupported patch type ${req.headers['content-type']}`);
      }
      const wanted = (body as { metadata?: { resourceVersion?: string } }).metadata?.resourceVersion;
      if (wanted !== undefined && wanted !== hpa.metadata.resourceVersion) {
        return status(409, 'Conflict', `horizontalpodautoscalers.autoscaling "${name}": the object has been modified`);
      }
      const patched = mergePatch(hpa, body) as HorizontalPodAutoscaler;
      const next = {
        ...patched,
        metadata: { ...patched.metadata, resourceVersion: dryRun ? hpa.metadata.resourceVersion : this.nextRv() },
      };
      if (!dryRun) this.hpas.set(name, next);
      return send(200, next);
    }
    m = /^\/apis\/apps\/v1\/namespaces\/([^/]+)\/replicasets$/.exec(url.pathname);
    if (m && method === 'GET') {
      return send(200, {
        kind: 'ReplicaSetList',
        apiVersion: 'apps/v1',
        metadata: { resourceVersion: String(this.rv) },
        items: this.replicaSets.filter((rs) => rs.metadata.namespace === m![1] && matches(rs.metadata.labels)),
      });
    }
    m = /^\/api\/v1\/namespaces\/([^/]+)\/pods(?:\/([^/]+))?$/.exec(url.pathname);
    if (m) {
      const [, ns, name] = m;
      if (this.forbidden.has(`${method.toLowerCase()} pods`)) {
        return status(403, 'Forbidden', `pods "${name}" is forbidden: cannot ${method.toLowerCase()} pods`);
      }
      if (!name && method === 'GET') {
        return send(200, {
          kind: 'PodList',
          apiVersion: 'v1',
          metadata: { resourceVersion: String(this.rv) },
          items: this.pods.filter((p) => p.metadata.namespace === ns && matches(p.metadata.labels)),
        });
      }
      const pod = this.pods.find((p) => p.metadata.namespace === ns && p.metadata.name === name);
      if (!pod) return status(404, 'NotFound', `pods "${name}" not found`);
      if (method === 'GET') return send(200, pod);
      if (method === 'DELETE') {
        const deleted = {
          ...pod,
          metadata: { ...pod.metadata, deletionTimestamp: new Date(NOW).toISOString(), deletionGracePeriodSeconds: 30 },
        };
        if (!dryRun) this.pods = this.pods.map((p) => (p === pod ? (deleted as Pod) : p));
        return send(200, deleted);
      }
    }
    return status(404, 'NotFound', `the server could not find the requested resource (${method} ${url.pathname})`);
  }
}

// --- Harness. ---

const api = new FakeKubeApi();
let server: Server;
let endpoint: string;
const executors: EksExecutor[] = [];

const executor = (
  overrides: Partial<Pick<EksExecutorOptions, 'caData' | 'token' | 'retries' | 'invalidateToken' | 'onExchange'>> = {},
) => {
  const e = new EksExecutor({
    timeoutMs: 5_000,
    retries: 3,
    ...overrides,
    endpoint,
    caData: overrides.caData ?? caData,
    token: overrides.token ?? (async () => TOKEN),
    clock: () => NOW,
    backoffStartMs: 1,
  });
  executors.push(e);
  return e;
};

const step = (
  action: ActionName,
  params: PlannedAction['params'] = {},
  target: PlannedAction['target'] = { namespace: NS, kind: 'deployment', name: 'order-api' },
): PlannedAction => ({ action, service: 'order-api', target, params, reason: 'test' });

const imageOf = (t: PodTemplateSpec) => (t.spec!.containers as { image: string }[])[0].image;
const writes = () => api.log.filter((l) => l.method !== 'GET');
const deploymentPath = '/apis/apps/v1/namespaces/trading/deployments/order-api';
const hpaPath = '/apis/autoscaling/v2/namespaces/trading/horizontalpodautoscalers/order-api';

beforeAll(async () => {
  makeCertificates();
  server = createServer({ key: serverKey, cert: serverCert }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => api.handle(req, res, Buffer.concat(chunks).toString('utf8')));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  endpoint = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  for (const e of executors) e.close();
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  rmSync(dir, { recursive: true, force: true });
});

beforeEach(() => api.reset());

// --- Tests. ---

describe('EksExecutor snapshot', () => {
  it('reads the Deployment and its current and previous ReplicaSet templates, with the bearer token', async () => {
    const snap = await executor().snapshot({ namespace: NS, kind: 'deployment', name: 'order-api' });
    expect(snap.snapshotId).toMatch(/^snap-/);
    expect(snap.takenAt).toBe('2026-03-01T12:00:00.000Z');
    expect(api.log.map((l) => `${l.method} ${l.path}`)).toEqual([
      `GET ${deploymentPath}`,
      'GET /apis/apps/v1/namespaces/trading/replicasets',
    ]);
    expect(api.log[1].query).toEqual({ labelSelector: 'app=order-api' });
    expect(api.log.every((l) => l.authorization === `Bearer ${TOKEN}`)).toBe(true);
    const state = snap.state as DeploymentSnapshotState;
    expect(state).toMatchObject({
      kind: 'Deployment',
      resourceVersion: '1000',
      generation: 7,
      revision: 3,
      replicas: 3,
    });
    expect(imageOf(state.template)).toBe('registry.example/order-api:1.4.0');
    expect(state.currentReplicaSet).toMatchObject({ name: 'order-api-ccc333', revision: 3 });
    expect(state.previousReplicaSet).toMatchObject({ name: 'order-api-bbb222', revision: 2 });
    expect(imageOf(state.previousReplicaSet!.template)).toBe('registry.example/order-api:1.3.1');
    expect(state.previousReplicaSet?.template.metadata?.labels).toEqual({ app: 'order-api' });
  });

  it('throws a not-found error naming the object, so no change follows', async () => {
    await expect(executor().snapshot({ namespace: NS, kind: 'deployment', name: 'nope' })).rejects.toThrow(
      'not found: deployments "nope" in namespace "trading"',
    );
  });

  it('refuses targets that are not Kubernetes objects', async () => {
    await expect(executor().snapshot({ namespace: NS, kind: 'datastore', name: 'orders-db' })).rejects.toThrow(
      /not a Kubernetes object/,
    );
  });
});

describe('EksExecutor execute', () => {
  const snapshotOf = async (e: EksExecutor, target?: PlannedAction['target']) => {
    const snap = await e.snapshot(target ?? { namespace: NS, kind: 'deployment', name: 'order-api' });
    api.log.length = 0;
    return snap;
  };

  it('scale-up as a dry run patches deployments/scale with dryRun=All and changes nothing', async () => {
    const e = executor();
    const snapshot = await snapshotOf(e);
    const result = await e.execute(step('scale-up', { fromReplicas: 3, toReplicas: 6 }), { dryRun: true, snapshot });
    expect(result).toEqual({ ok: true, detail: 'would scale trading/deployment/order-api from 3 to 6 replicas' });
    expect(api.log.map((l) => `${l.method} ${l.path}`)).toEqual([
      `GET ${deploymentPath}/scale`,
      `PATCH ${deploymentPath}/scale`,
    ]);
    const patch = api.log[1];
    expect(patch.query).toEqual({ dryRun: 'All' });
    expect(patch.contentType).toBe('application/merge-patch+json');
    expect(patch.body).toEqual({ spec: { replicas: 6 }, metadata: { resourceVersion: '1000' } });
    expect(patch.authorization).toBe(`Bearer ${TOKEN}`);
    expect(api.deployments.get('order-api')!.spec.replicas).toBe(3);
  });

  it('scale-up for real changes the replicas', async () => {
    const e = executor();
    const snapshot = await snapshotOf(e);
    const result = await e.execute(step('scale-up', { toReplicas: 6 }), { dryRun: false, snapshot });
    expect(result).toEqual({ ok: true, detail: 'scaled trading/deployment/order-api from 3 to 6 replicas' });
    expect(api.log[1].query).toEqual({});
    expect(api.deployments.get('order-api')!.spec.replicas).toBe(6);
  });

  it('scale-up refuses to go above the plan bounds or to scale down, without a write', async () => {
    const e = executor();
    const snapshot = await snapshotOf(e);
    const above = await e.execute(step('scale-up', { toReplicas: 12, maxReplicas: 10 }), { dryRun: false, snapshot });
    expect(above.ok).toBe(false);
    expect(above.detail).toContain('refusing to scale to 12 replicas, above the bound of 10');
    const down = await e.execute(step('scale-up', { toReplicas: 2 }), { dryRun: false, snapshot });
    expect(down).toEqual({
      ok: false,
      detail: 'trading/deployment/order-api: already at 3 replicas, not scaling to 2',
    });
    const huge = await e.execute(step('scale-up', { toReplicas: 1000 }), { dryRun: false, snapshot });
    expect(huge.detail).toContain('set by the executor');
    expect(writes()).toEqual([]);
  });

  it('retries a 409 conflict by re-reading and re-applying on the new resourceVersion', async () => {
    const e = executor();
    const snapshot = await snapshotOf(e);
    api.faults.push({
      method: 'PATCH',
      path: /\/scale$/,
      // Someone else writes the Deployment between our read and our patch.
      before: () => {
        const d = api.deployments.get('order-api')!;
        api.deployments.set('order-api', { ...d, metadata: { ...d.metadata, resourceVersion: '1500' } });
      },
      status: 409,
      reason: 'Conflict',
      message: 'Operation cannot be fulfilled on deployments.apps "order-api": the object has been modified',
    });
    const result = await e.execute(step('scale-up', { toReplicas: 5 }), { dryRun: false, snapshot });
    expect(result.ok).toBe(true);
    expect(api.log.map((l) => l.method)).toEqual(['GET', 'PATCH', 'GET', 'PATCH']);
    expect((api.log[1].body as { metadata: { resourceVersion: string } }).metadata.resourceVersion).toBe('1000');
    expect((api.log[3].body as { metadata: { resourceVersion: string } }).metadata.resourceVersion).toBe('1500');
    expect(api.deployments.get('order-api')!.spec.replicas).toBe(5);
  });

  it('gives up after 3 conflict retries', async () => {
    const e = executor();
    const snapshot = await snapshotOf(e);
    for (let i = 0; i < 4; i++) {
      api.faults.push({ method: 'PATCH', path: /\/scale$/, status: 409, reason: 'Conflict', message: 'modified' });
    }
    const result = await e.execute(step('scale-up', { toReplicas: 5 }), { dryRun: false, snapshot });
    expect(result.ok).toBe(false);
    expect(result.detail).toBe(
      'conflict: patch deployments/scale "order-api" in namespace "trading": modified (after 3 conflict retries)',
    );
    expect(api.log.filter((l) => l.method === 'PATCH')).toHaveLength(4);
  });

  it('reports a 403 as a permissions error naming the verb and resource', async () => {
    const e = executor();
    const snapshot = await snapshotOf(e);
    api.forbidden.add('patch deployments/scale');
    const result = await e.execute(step('scale-up', { toReplicas: 5 }), { dryRun: true, snapshot });
    expect(result).toEqual({
      ok: false,
      detail: 'forbidden: cannot patch deployments/scale "order-api" in namespace "trading"',
    });
    expect(api.log.filter((l) => l.method === 'PATCH')).toHaveLength(1); // not retried
  });

  it('rollout-restart patches the pod template restartedAt annotation (strategic merge, dryRun=All)', async () => {
    const e = executor();
    const snapshot = await snapshotOf(e);
    const result = await e.execute(step('rollout-restart'), { dryRun: true, snapshot });
    expect(result).toEqual({ ok: true, detail: 'would restart every pod of trading/deployment/order-api' });
    const patch = writes()[0];
    expect(patch).toMatchObject({
      method: 'PATCH',
      path: deploymentPath,
      query: { dryRun: 'All' },
      contentType: 'application/strategic-merge-patch+json',
      body: {
        spec: {
          template: { metadata: { annotations: { 'kubectl.kubernetes.io/restartedAt': '2026-03-01T12:00:00.000Z' } } },
        },
        metadata: { resourceVersion: '1000' },
      },
    });
    expect(api.deployments.get('order-api')!.spec.template.metadata?.annotations).toEqual({});

    await e.execute(step('rollout-restart'), { dryRun: false, snapshot });
    const after = api.deployments.get('order-api')!;
    expect(after.spec.template.metadata?.annotations).toEqual({
      'kubectl.kubernetes.io/restartedAt': '2026-03-01T12:00:00.000Z',
    });
    expect(after.metadata.generation).toBe(8);
  });

  it('restart-pod deletes the first not-ready pod, else the oldest', async () => {
    const e = executor();
    const snapshot = await snapshotOf(e);
    const first = await e.execute(step('restart-pod'), { dryRun: true, snapshot });
    expect(first).toEqual({
      ok: true,
      detail: 'would delete pod trading/order-api-ccc333-x3 (not ready) of trading/deployment/order-api',
    });
    expect(api.log.map((l) => `${l.method} ${l.path}`)).toEqual([
      `GET ${deploymentPath}`,
      'GET /api/v1/namespaces/trading/pods',
      'DELETE /api/v1/namespaces/trading/pods/order-api-ccc333-x3',
    ]);
    expect(api.log[1].query).toEqual({ labelSelector: 'app=order-api' });
    expect(api.log[2].query).toEqual({ dryRun: 'All' });
    expect(api.pods.every((p) => !p.metadata.deletionTimestamp)).toBe(true);

    api.pods = api.pods.filter((p) => p.metadata.name !== 'order-api-ccc333-x3');
    api.log.length = 0;
    const second = await e.execute(step('restart-pod'), { dryRun: false, snapshot });
    expect(second.detail).toBe(
      'deleted pod trading/order-api-ccc333-x2 (oldest, all ready) of trading/deployment/order-api',
    );
    expect(writes()).toEqual([
      expect.objectContaining({
        method: 'DELETE',
        path: '/api/v1/namespaces/trading/pods/order-api-ccc333-x2',
        query: {},
      }),
    ]);
    expect(api.pods.find((p) => p.metadata.name === 'order-api-ccc333-x2')!.metadata.deletionTimestamp).toBeDefined();
  });

  it('rollback patches the pod template to the previous revision ReplicaSet template', async () => {
    const e = executor();
    const snapshot = await snapshotOf(e);
    const dry = await e.execute(step('rollback'), { dryRun: true, snapshot });
    expect(dry).toEqual({
      ok: true,
      detail: 'would roll trading/deployment/order-api back to revision 2 (ReplicaSet order-api-bbb222)',
    });
    const patch = writes()[0];
    expect(patch.path).toBe(deploymentPath);
    expect(patch.query).toEqual({ dryRun: 'All' });
    expect(patch.contentType).toBe('application/merge-patch+json');
    expect(patch.body).toEqual({
      spec: {
        template: {
          metadata: { labels: { track: null } },
          spec: {
            containers: [
              {
                name: 'order-api',
                image: 'registry.example/order-api:1.3.1',
                ports: [{ containerPort: 8080, protocol: 'TCP' }],
              },
            ],
          },
        },
      },
      metadata: { resourceVersion: '1000' },
    });
    expect(api.deployments.get('order-api')!.spec.template).toEqual(
      template('registry.example/order-api:1.4.0', { track: 'canary' }),
    );

    const real = await e.execute(step('rollback'), { dryRun: false, snapshot });
    expect(real.ok).toBe(true);
    const after = api.deployments.get('order-api')!;
    expect(after.spec.template).toEqual(template('registry.example/order-api:1.3.1'));
  });

  it('surfaces the API message of a 422', async () => {
    const e = executor();
    const snapshot = await snapshotOf(e);
    const message = 'Deployment.apps "order-api" is invalid: spec.template.spec.containers[0].image: Required value';
    api.faults.push({ method: 'PATCH', path: /deployments\/order-api$/, status: 422, reason: 'Invalid', message });
    const result = await e.execute(step('rollback'), { dryRun: true, snapshot });
    expect(result).toEqual({
      ok: false,
      detail: `invalid: patch deployments "order-api" in namespace "trading": ${message}`,
    });
  });

  it('retries 5xx answers with backoff', async () => {
    const e = executor();
    const snapshot = await snapshotOf(e);
    api.faults.push(
      { method: 'GET', path: /\/scale$/, status: 503, reason: 'ServiceUnavailable', message: 'etcd leader changed' },
      { method: 'GET', path: /\/scale$/, status: 500, reason: 'InternalError', message: 'try again' },
    );
    const result = await e.execute(step('scale-up', { toReplicas: 4 }), { dryRun: false, snapshot });
    expect(result.ok).toBe(true);
    expect(api.log.map((l) => l.method)).toEqual(['GET', 'GET', 'GET', 'PATCH']);
  });

  it('scale-up of an HPA target raises its minimum (and its maximum when needed), never lowers it', async () => {
    const e = executor();
    const hpaTarget = { namespace: NS, kind: 'hpa', name: 'order-api' } as const;
    const snapshot = await snapshotOf(e, hpaTarget);
    const dry = await e.execute(step('scale-up', { toReplicas: 6 }, hpaTarget), { dryRun: true, snapshot });
    expect(dry).toEqual({ ok: true, detail: 'would raise the minimum of trading/hpa/order-api from 2 to 6 replicas' });
    expect(api.log.map((l) => `${l.method} ${l.path}`)).toEqual([`GET ${hpaPath}`, `PATCH ${hpaPath}`]);
    expect(api.log[1]).toMatchObject({
      query: { dryRun: 'All' },
      contentType: 'application/merge-patch+json',
      body: { spec: { minReplicas: 6, maxReplicas: 10 }, metadata: { resourceVersion: '2000' } },
    });
    expect(api.hpas.get('order-api')!.spec).toMatchObject({ minReplicas: 2, maxReplicas: 10 });

    api.log.length = 0;
    const real = await e.execute(step('scale-up', { toReplicas: 12, maxReplicas: 20 }, hpaTarget), {
      dryRun: false,
      snapshot,
    });
    expect(real).toEqual({ ok: true, detail: 'raised the minimum of trading/hpa/order-api from 2 to 12 replicas' });
    expect(api.log[1].query).toEqual({});
    expect(api.log[1].body).toEqual({
      spec: { minReplicas: 12, maxReplicas: 12 },
      metadata: { resourceVersion: '2000' },
    });
    expect(api.hpas.get('order-api')!.spec).toMatchObject({ minReplicas: 12, maxReplicas: 12 });

    api.log.length = 0;
    const lower = await e.execute(step('scale-up', { toReplicas: 5 }, hpaTarget), { dryRun: false, snapshot });
    expect(lower).toEqual({ ok: false, detail: 'trading/hpa/order-api: minimum already 12 replicas' });
    expect(writes()).toEqual([]);
  });

  it('restart-pod with a pod target deletes that pod without looking for others', async () => {
    const e = executor();
    const podTarget = { namespace: NS, kind: 'pod', name: 'order-api-ccc333-x1' } as const;
    const snapshot = await snapshotOf(e, podTarget);
    const dry = await e.execute(step('restart-pod', {}, podTarget), { dryRun: true, snapshot });
    expect(dry).toEqual({
      ok: true,
      detail: 'would delete pod trading/order-api-ccc333-x1 (named by the plan) of trading/pod/order-api-ccc333-x1',
    });
    expect(api.log).toEqual([
      expect.objectContaining({
        method: 'DELETE',
        path: '/api/v1/namespaces/trading/pods/order-api-ccc333-x1',
        query: { dryRun: 'All' },
      }),
    ]);
    expect(api.pods.every((p) => !p.metadata.deletionTimestamp)).toBe(true);

    const real = await e.execute(step('restart-pod', {}, podTarget), { dryRun: false, snapshot });
    expect(real.detail).toBe(
      'deleted pod trading/order-api-ccc333-x1 (named by the plan) of trading/pod/order-api-ccc333-x1',
    );
    expect(api.pods.find((p) => p.metadata.name === 'order-api-ccc333-x1')!.metadata.deletionTimestamp).toBeDefined();
    expect(api.pods.filter((p) => p.metadata.deletionTimestamp)).toHaveLength(1);
  });

  it('restart-pod refuses a pod no controller owns: deleting it would not be a restart', async () => {
    const e = executor();
    const podTarget = { namespace: NS, kind: 'pod', name: 'order-api-ccc333-x1' } as const;
    const snapshot = await snapshotOf(e, podTarget);
    const orphan = {
      ...snapshot,
      state: { ...(snapshot.state as object), metadata: { name: 'order-api-ccc333-x1', ownerReferences: [] } },
    };
    api.log.length = 0;
    const result = await e.execute(step('restart-pod', {}, podTarget), { dryRun: false, snapshot: orphan });
    expect(result).toEqual({
      ok: false,
      detail: 'trading/pod/order-api-ccc333-x1: no controller owns this pod; deleting it is not a restart',
    });
    expect(api.log).toEqual([]);
  });

  it('reads the rollout of a restarted pod as complete once the pod is gone', async () => {
    const e = executor();
    const podTarget = { namespace: NS, kind: 'pod', name: 'order-api-ccc333-x1' } as const;
    expect(await e.rolloutStatus(step('restart-pod', {}, podTarget))).toEqual({
      complete: false,
      detail: 'trading/pod/order-api-ccc333-x1: still running',
    });
    api.pods = api.pods.filter((p) => p.metadata.name !== 'order-api-ccc333-x1');
    expect(await e.rolloutStatus(step('restart-pod', {}, podTarget))).toEqual({
      complete: true,
      detail: 'trading/pod/order-api-ccc333-x1: deleted and replaced by its controller',
    });
  });

  it('restart-pod refuses a target that is neither a deployment nor a pod', async () => {
    const e = executor();
    const hpaTarget = { namespace: NS, kind: 'hpa', name: 'order-api' } as const;
    const snapshot = await snapshotOf(e, hpaTarget);
    expect(await e.execute(step('restart-pod', {}, hpaTarget), { dryRun: false, snapshot })).toEqual({
      ok: false,
      detail: 'restart-pod needs a deployment or pod target, got trading/hpa/order-api',
    });
    expect(api.log).toEqual([]);
  });

  it('leaves catalog actions that are not Kubernetes-object changes alone', async () => {
    const e = executor();
    const snapshot = await snapshotOf(e);
    for (const action of [
      'db-failover',
      'az-failover',
      'cache-flush',
      'rate-limit',
      'engine-restart',
      'config-revert',
    ] as const) {
      expect(await e.execute(step(action), { dryRun: false, snapshot })).toEqual({
        ok: false,
        detail: `${action} is not carried out by the EKS executor`,
      });
    }
    expect(api.log).toEqual([]);
  });

  it('refuses a snapshot of a different target, without a request', async () => {
    const e = executor();
    const snapshot = await snapshotOf(e, { namespace: NS, kind: 'pod', name: 'order-api-ccc333-x1' });
    const wrong = await e.execute(step('rollout-restart'), { dryRun: false, snapshot });
    expect(wrong).toEqual({
      ok: false,
      detail: `snapshot ${snapshot.snapshotId} is of trading/pod/order-api-ccc333-x1, not trading/deployment/order-api`,
    });
    // Same kind and name in another namespace is another target too.
    const elsewhere = await snapshotOf(e);
    const other = await e.execute(
      step('rollout-restart', {}, { namespace: 'staging', kind: 'deployment', name: 'order-api' }),
      {
        dryRun: false,
        snapshot: elsewhere,
      },
    );
    expect(other.ok).toBe(false);
    expect(other.detail).toContain('is of trading/deployment/order-api, not staging/deployment/order-api');
    expect(api.log).toEqual([]);
  });
});

describe('EksExecutor restore', () => {
  const deploymentTarget = { namespace: NS, kind: 'deployment', name: 'order-api' } as const;
  const hpaTarget = { namespace: NS, kind: 'hpa', name: 'order-api' } as const;
  const podTarget = { namespace: NS, kind: 'pod', name: 'order-api-ccc333-x1' } as const;
  const canary = () => template('registry.example/order-api:1.4.0', { track: 'canary' });

  it('puts the pod template back after a rollback: a merge patch of the difference on the read resourceVersion', async () => {
    const e = executor();
    const snap = await e.snapshot(deploymentTarget);
    expect((await e.execute(step('rollback'), { dryRun: false, snapshot: snap })).ok).toBe(true);
    expect(imageOf(api.deployments.get('order-api')!.spec.template)).toBe('registry.example/order-api:1.3.1');
    api.log.length = 0;

    const dry = await e.restore(snap, { dryRun: true });
    expect(dry).toEqual({
      ok: true,
      detail:
        'would restore trading/deployment/order-api to its pod template (revision 3) and 3 replicas as of 2026-03-01T12:00:00.000Z',
    });
    expect(api.log.map((l) => `${l.method} ${l.path}`)).toEqual([`GET ${deploymentPath}`, `PATCH ${deploymentPath}`]);
    const patch = api.log[1];
    expect(patch.query).toEqual({ dryRun: 'All' });
    expect(patch.contentType).toBe('application/merge-patch+json');
    // Only the template differs, so replicas are left out of the patch.
    expect(patch.body).toEqual({
      spec: {
        template: {
          metadata: { labels: { track: 'canary' } },
          spec: {
            containers: [
              {
                name: 'order-api',
                image: 'registry.example/order-api:1.4.0',
                ports: [{ containerPort: 8080, protocol: 'TCP' }],
              },
            ],
          },
        },
      },
      metadata: { resourceVersion: '1001' },
    });
    expect(imageOf(api.deployments.get('order-api')!.spec.template)).toBe('registry.example/order-api:1.3.1');

    api.log.length = 0;
    const real = await e.restore(snap, { dryRun: false });
    expect(real.detail).toBe(
      'restored trading/deployment/order-api to its pod template (revision 3) and 3 replicas as of 2026-03-01T12:00:00.000Z',
    );
    expect(api.log[1].query).toEqual({});
    expect(api.deployments.get('order-api')!.spec.template).toEqual(canary());
  });

  it('refuses to restore over a change someone else made after ours, and sends no patch', async () => {
    const e = executor();
    const snap = await e.snapshot(deploymentTarget);
    expect((await e.execute(step('rollback'), { dryRun: false, snapshot: snap })).ok).toBe(true);
    // A deploy lands after the rollback: the generation moves once more.
    const d = api.deployments.get('order-api')!;
    api.deployments.set('order-api', {
      ...d,
      metadata: { ...d.metadata, generation: (d.metadata.generation ?? 0) + 1 },
    });
    api.log.length = 0;
    const result = await e.restore(snap, { dryRun: false });
    expect(result.ok).toBe(false);
    expect(result.detail).toContain('changed since the snapshot (generation 7 -> 9)');
    expect(api.log.map((l) => l.method)).toEqual(['GET']);
  });

  it('puts the replica count back after a scale-up, on the Deployment itself', async () => {
    const e = executor();
    const snap = await e.snapshot(deploymentTarget);
    await e.execute(step('scale-up', { toReplicas: 6 }), { dryRun: false, snapshot: snap });
    expect(api.deployments.get('order-api')!.spec.replicas).toBe(6);
    api.log.length = 0;

    const result = await e.restore(snap, { dryRun: false });
    expect(result).toEqual({
      ok: true,
      detail:
        'restored trading/deployment/order-api to its pod template (revision 3) and 3 replicas as of 2026-03-01T12:00:00.000Z',
    });
    expect(writes()).toEqual([
      expect.objectContaining({
        method: 'PATCH',
        path: deploymentPath,
        query: {},
        contentType: 'application/merge-patch+json',
        body: { spec: { replicas: 3 }, metadata: { resourceVersion: '1001' } },
      }),
    ]);
    expect(api.deployments.get('order-api')!.spec.replicas).toBe(3);
    expect(api.deployments.get('order-api')!.spec.template).toEqual(canary());
  });

  it('puts template and replicas back in one patch after a scale-up and a rollback', async () => {
    const e = executor();
    const snap = await e.snapshot(deploymentTarget);
    await e.execute(step('scale-up', { toReplicas: 6 }), { dryRun: false, snapshot: snap });
    await e.execute(step('rollback'), { dryRun: false, snapshot: snap });
    api.log.length = 0;

    // Two changes of ours since the snapshot: the generation moved twice, and that is not someone else.
    expect((await e.restore(snap, { dryRun: false, changesSince: 2 })).ok).toBe(true);
    expect(writes()).toHaveLength(1);
    const body = writes()[0].body as { spec: Record<string, unknown>; metadata: Record<string, unknown> };
    expect(Object.keys(body.spec).sort()).toEqual(['replicas', 'template']);
    expect(body.spec.replicas).toBe(3);
    expect(body.metadata).toEqual({ resourceVersion: '1002' });
    const after = api.deployments.get('order-api')!;
    expect(after.spec.replicas).toBe(3);
    expect(after.spec.template).toEqual(canary());
  });

  it('is ok and sends no patch when the Deployment already matches the snapshot', async () => {
    const e = executor();
    const snap = await e.snapshot(deploymentTarget);
    api.log.length = 0;
    expect(await e.restore(snap, { dryRun: false })).toEqual({
      ok: true,
      detail: 'trading/deployment/order-api already matches the snapshot; nothing to restore',
    });
    expect(api.log.map((l) => `${l.method} ${l.path}`)).toEqual([`GET ${deploymentPath}`]);
  });

  it('puts an HPA minimum and maximum back', async () => {
    const e = executor();
    const snap = await e.snapshot(hpaTarget);
    await e.execute(step('scale-up', { toReplicas: 12, maxReplicas: 20 }, hpaTarget), {
      dryRun: false,
      snapshot: snap,
    });
    expect(api.hpas.get('order-api')!.spec).toMatchObject({ minReplicas: 12, maxReplicas: 12 });
    const changedVersion = api.hpas.get('order-api')!.metadata.resourceVersion;
    api.log.length = 0;

    const dry = await e.restore(snap, { dryRun: true });
    expect(dry).toEqual({ ok: true, detail: 'would restore trading/hpa/order-api to min 2 / max 10 replicas' });
    expect(writes()).toEqual([
      expect.objectContaining({
        method: 'PATCH',
        path: hpaPath,
        query: { dryRun: 'All' },
        contentType: 'application/merge-patch+json',
        body: { spec: { minReplicas: 2, maxReplicas: 10 }, metadata: { resourceVersion: changedVersion } },
      }),
    ]);
    expect(api.hpas.get('order-api')!.spec).toMatchObject({ minReplicas: 12, maxReplicas: 12 });

    const real = await e.restore(snap, { dryRun: false });
    expect(real).toEqual({ ok: true, detail: 'restored trading/hpa/order-api to min 2 / max 10 replicas' });
    expect(api.hpas.get('order-api')!.spec).toMatchObject({ minReplicas: 2, maxReplicas: 10 });
  });

  it('removes an HPA minimum the snapshot did not have, so the default applies again', async () => {
    const hpa = api.hpas.get('order-api')!;
    const { minReplicas: _dropped, ...spec } = hpa.spec;
    api.hpas.set('order-api', { ...hpa, spec });
    const e = executor();
    const snap = await e.snapshot(hpaTarget);
    await e.execute(step('scale-up', { toReplicas: 4 }, hpaTarget), { dryRun: false, snapshot: snap });
    api.log.length = 0;

    expect((await e.restore(snap, { dryRun: false })).detail).toBe(
      'restored trading/hpa/order-api to min 1 / max 10 replicas',
    );
    expect((writes()[0].body as { spec: unknown }).spec).toEqual({ minReplicas: null, maxReplicas: 10 });
    expect(api.hpas.get('order-api')!.spec).toEqual(spec);
  });

  it('has nothing to put back for a deleted pod, and asks the API nothing', async () => {
    const e = executor();
    const snap = await e.snapshot(podTarget);
    await e.execute(step('restart-pod', {}, podTarget), { dryRun: false, snapshot: snap });
    api.log.length = 0;
    for (const dryRun of [true, false]) {
      expect(await e.restore(snap, { dryRun })).toEqual({
        ok: true,
        detail: 'trading/pod/order-api-ccc333-x1: a deleted pod is not put back; its controller already replaced it',
      });
    }
    expect(api.log).toEqual([]);
  });

  it('refuses a snapshot whose state it does not know, without a request', async () => {
    const e = executor();
    const foreign = {
      snapshotId: 'snap-foreign',
      target: { namespace: NS, kind: 'deployment', name: 'order-api' },
      state: { kind: 'Secret' },
      takenAt: '2026-03-01T12:00:00.000Z',
    } as const;
    expect(await e.restore(foreign, { dryRun: false })).toEqual({
      ok: false,
      detail: 'trading/deployment/order-api: the snapshot holds no object this executor can restore',
    });
    expect(api.log).toEqual([]);
  });

  it('reports a 403 naming the verb and resource, without retrying', async () => {
    const e = executor();
    const snap = await e.snapshot(deploymentTarget);
    await e.execute(step('rollback'), { dryRun: false, snapshot: snap });
    api.forbidden.add('patch deployments');
    api.log.length = 0;

    expect(await e.restore(snap, { dryRun: false })).toEqual({
      ok: false,
      detail: 'trading/deployment/order-api: forbidden: cannot patch deployments "order-api" in namespace "trading"',
    });
    expect(writes()).toHaveLength(1);
    expect(imageOf(api.deployments.get('order-api')!.spec.template)).toBe('registry.example/order-api:1.3.1');
  });

  it('retries a 409 by re-reading and re-planning against the newer object', async () => {
    const e = executor();
    const snap = await e.snapshot(deploymentTarget);
    await e.execute(step('scale-up', { toReplicas: 6 }), { dryRun: false, snapshot: snap });
    api.faults.push({
      method: 'PATCH',
      path: /deployments\/order-api$/,
      // Another writer scales further between the restore's read and its patch.
      before: () => {
        const d = api.deployments.get('order-api')!;
        api.deployments.set('order-api', {
          ...d,
          metadata: { ...d.metadata, resourceVersion: '1500' },
          spec: { ...d.spec, replicas: 8 },
        });
      },
      status: 409,
      reason: 'Conflict',
      message: 'Operation cannot be fulfilled on deployments.apps "order-api": the object has been modified',
    });
    api.log.length = 0;

    const result = await e.restore(snap, { dryRun: false });
    expect(result.ok).toBe(true);
    expect(api.log.map((l) => l.method)).toEqual(['GET', 'PATCH', 'GET', 'PATCH']);
    expect(api.log[1].body).toEqual({ spec: { replicas: 3 }, metadata: { resourceVersion: '1001' } });
    expect(api.log[3].body).toEqual({ spec: { replicas: 3 }, metadata: { resourceVersion: '1500' } });
    expect(api.deployments.get('order-api')!.spec.replicas).toBe(3);
  });

  it('finds nothing to restore when the object read after a 409 already matches the snapshot', async () => {
    const e = executor();
    const snap = await e.snapshot(deploymentTarget);
    await e.execute(step('scale-up', { toReplicas: 6 }), { dryRun: false, snapshot: snap });
    api.faults.push({
      method: 'PATCH',
      path: /deployments\/order-api$/,
      // Someone else already scaled back down.
      before: () => {
        const d = api.deployments.get('order-api')!;
        api.deployments.set('order-api', {
          ...d,
          metadata: { ...d.metadata, resourceVersion: '1500' },
          spec: { ...d.spec, replicas: 3 },
        });
      },
      status: 409,
      reason: 'Conflict',
      message: 'the object has been modified',
    });
    api.log.length = 0;

    expect(await e.restore(snap, { dryRun: false })).toEqual({
      ok: true,
      detail: 'trading/deployment/order-api already matches the snapshot; nothing to restore',
    });
    expect(api.log.map((l) => l.method)).toEqual(['GET', 'PATCH', 'GET']);
  });
});

describe('EksExecutor rolloutStatus', () => {
  it('is complete when the controller observed the generation and all replicas are updated and available', async () => {
    expect(await executor().rolloutStatus(step('scale-up'))).toEqual({
      complete: true,
      detail: 'trading/deployment/order-api: rollout complete (3 of 3 replicas updated and available)',
    });
  });

  it('is not complete while the generation is unobserved or replicas lag', async () => {
    const d = api.deployments.get('order-api')!;
    api.deployments.set('order-api', { ...d, metadata: { ...d.metadata, generation: 8 } });
    const waiting = await executor().rolloutStatus(step('rollback'));
    expect(waiting).toEqual({
      complete: false,
      detail: 'trading/deployment/order-api: waiting for the controller to observe generation 8',
    });
    api.deployments.set('order-api', {
      ...d,
      spec: { ...d.spec, replicas: 6 },
      status: { ...d.status, updatedReplicas: 6, replicas: 6, availableReplicas: 4 },
    });
    expect((await executor().rolloutStatus(step('scale-up'))).detail).toBe(
      'trading/deployment/order-api: 4 of 6 updated replicas available',
    );
  });
});

describe('KubeClient transport', () => {
  it('fails TLS against a server whose certificate the given CA did not sign, without retrying', async () => {
    const e = executor({ caData: otherCaData });
    await expect(e.snapshot({ namespace: NS, kind: 'deployment', name: 'order-api' })).rejects.toThrow(
      /TLS verification against the cluster CA failed/,
    );
    expect(api.log).toEqual([]);
  });

  it('accepts the CA as PEM text too, and reports a rejected token as unauthorized', async () => {
    const client = new KubeClient({
      endpoint,
      caData: Buffer.from(caData, 'base64').toString('utf8'),
      token: async () => 'wrong',
      backoffStartMs: 1,
    });
    try {
      const result = await client.get(deploymentPath, { verb: 'get', resource: 'deployments', name: 'order-api' });
      expect(result.ok).toBe(false);
      if (!result.ok) expect(result.error).toMatchObject({ kind: 'unauthorized', status: 401, attempts: 1 });
    } finally {
      client.close();
    }
  });

  it('retries connection errors and then reports the endpoint unreachable', async () => {
    const closed = createServer({ key: serverKey, cert: serverCert });
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const client = new KubeClient({
      endpoint: `https://127.0.0.1:${port}`,
      caData,
      token: async () => TOKEN,
      retries: 2,
      backoffStartMs: 1,
    });
    try {
      const result = await client.get('/version', { verb: 'get', resource: 'version' });
      expect(result.ok).toBe(false);
      if (!result.ok) {
        expect(result.error.kind).toBe('unreachable');
        expect(result.error.attempts).toBe(3);
        expect(result.error.message).toContain('ECONNREFUSED');
      }
    } finally {
      client.close();
    }
  });
});

describe('KubeClient re-authentication and audit', () => {
  it('on a 401 invalidates the token and retries once with a fresh one', async () => {
    api.tokens.clear();
    api.tokens.add('fresh-token');
    let current = 'expired-token';
    let invalidations = 0;
    const e = executor({
      token: async () => current,
      invalidateToken: () => {
        invalidations++;
        current = 'fresh-token';
      },
    });
    const snap = await e.snapshot({ namespace: NS, kind: 'deployment', name: 'order-api' });
    expect(snap.state).toMatchObject({ kind: 'Deployment', resourceVersion: '1000' });
    expect(invalidations).toBe(1);
    expect(api.log.map((l) => `${l.method} ${l.path} ${l.authorization}`)).toEqual([
      `GET ${deploymentPath} Bearer expired-token`,
      `GET ${deploymentPath} Bearer fresh-token`,
      'GET /apis/apps/v1/namespaces/trading/replicasets Bearer fresh-token',
    ]);
  });

  it('reports a second 401 as unauthorized, without looping', async () => {
    api.tokens.clear();
    const tokens = ['first-token', 'second-token', 'third-token'];
    let invalidations = 0;
    const client = new KubeClient({
      endpoint,
      caData,
      token: async () => tokens[invalidations],
      invalidateToken: () => {
        invalidations++;
      },
      retries: 3,
      backoffStartMs: 1,
    });
    try {
      const result = await client.get(deploymentPath, { verb: 'get', resource: 'deployments', name: 'order-api' });
      expect(result.ok).toBe(false);
      if (!result.ok) {
        expect(result.error).toMatchObject({ kind: 'unauthorized', status: 401, attempts: 2 });
        expect(result.error.message).toBe(
          'unauthorized: the API server rejected the token (Unauthorized) (2 attempts)',
        );
      }
      expect(invalidations).toBe(1);
      expect(api.log.map((l) => l.authorization)).toEqual(['Bearer first-token', 'Bearer second-token']);
    } finally {
      client.close();
    }
  });

  it('shows every request and answer to onExchange, without the bearer token', async () => {
    const exchanges: KubeExchange[] = [];
    const e = executor({ onExchange: (x) => exchanges.push(x) });
    const snapshot = await e.snapshot({ namespace: NS, kind: 'deployment', name: 'order-api' });
    await e.execute(step('scale-up', { toReplicas: 6 }), { dryRun: true, snapshot });
    api.forbidden.add('patch deployments');
    await e.execute(step('rollback'), { dryRun: false, snapshot });

    expect(exchanges).toHaveLength(api.log.length);
    expect(
      exchanges.map(({ method, path, verb, resource, status, dryRun }) => ({
        method,
        path,
        verb,
        resource,
        status,
        dryRun,
      })),
    ).toEqual([
      { method: 'GET', path: deploymentPath, verb: 'get', resource: 'deployments', status: 200, dryRun: false },
      {
        method: 'GET',
        path: '/apis/apps/v1/namespaces/trading/replicasets?labelSelector=app%3Dorder-api',
        verb: 'list',
        resource: 'replicasets',
        status: 200,
        dryRun: false,
      },
      {
        method: 'GET',
        path: `${deploymentPath}/scale`,
        verb: 'get',
        resource: 'deployments/scale',
        status: 200,
        dryRun: false,
      },
      {
        method: 'PATCH',
        path: `${deploymentPath}/scale?dryRun=All`,
        verb: 'patch',
        resource: 'deployments/scale',
        status: 200,
        dryRun: true,
      },
      { method: 'GET', path: deploymentPath, verb: 'get', resource: 'deployments', status: 200, dryRun: false },
      {
        method: 'GET',
        path: '/apis/apps/v1/namespaces/trading/replicasets?labelSelector=app%3Dorder-api',
        verb: 'list',
        resource: 'replicasets',
        status: 200,
        dryRun: false,
      },
      { method: 'PATCH', path: deploymentPath, verb: 'patch', resource: 'deployments', status: 403, dryRun: false },
    ]);
    expect(exchanges[0]).toMatchObject({ namespace: NS, name: 'order-api', outcome: 'ok resourceVersion 1000' });
    expect(exchanges[0].requestBody).toBeUndefined();
    expect(exchanges[3]).toMatchObject({
      outcome: 'ok resourceVersion 1000',
      requestBody: { spec: { replicas: 6 }, metadata: { resourceVersion: '1000' } },
    });
    expect(exchanges[6].outcome).toMatch(/^forbidden: .*cannot patch deployments "order-api" in namespace "trading"$/);
    for (const x of exchanges) {
      expect(Number.isNaN(Date.parse(x.at))).toBe(false);
      expect(x.durationMs).toBeGreaterThanOrEqual(0);
    }
    const serialized = JSON.stringify(exchanges);
    expect(api.log.every((l) => l.authorization === `Bearer ${TOKEN}`)).toBe(true);
    expect(serialized).not.toContain(TOKEN);
    expect(serialized).not.toContain('Bearer');
  });

  it('records exchanges that got no answer, without a status', async () => {
    const closed = createServer({ key: serverKey, cert: serverCert });
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const exchanges: KubeExchange[] = [];
    const client = new KubeClient({
      endpoint: `https://127.0.0.1:${port}`,
      caData,
      token: async () => TOKEN,
      retries: 1,
      backoffStartMs: 1,
      onExchange: (x) => exchanges.push(x),
    });
    try {
      await client.get('/version', { verb: 'get', resource: 'version' });
      expect(exchanges).toHaveLength(2);
      for (const x of exchanges) {
        expect(x.status).toBeUndefined();
        expect(x.outcome).toContain('ECONNREFUSED');
      }
    } finally {
      client.close();
    }
  });
});

describe('describeCluster', () => {
  const eks = mockClient(EKSClient);
  const credentials = async () => ({ accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'secret' });
  const active = () => ({
    cluster: { name: 'prod-trading', status: 'ACTIVE' as const, endpoint, certificateAuthority: { data: caData } },
  });

  beforeEach(() => eks.reset());
  afterAll(() => eks.restore());

  it('returns the endpoint, CA and status from DescribeCluster on the given client', async () => {
    eks.on(DescribeClusterCommand, { name: 'prod-trading' }).resolves(active());
    const client = new EKSClient({ region: 'eu-west-1', credentials });
    const destroy = jest.spyOn(client, 'destroy');
    expect(await describeCluster('prod-trading', 'eu-west-1', { client })).toEqual({
      endpoint,
      caData,
      status: 'ACTIVE',
    });
    expect(eks.commandCalls(DescribeClusterCommand).map((c) => c.args[0].input)).toEqual([{ name: 'prod-trading' }]);
    // The caller's client stays open for the caller.
    expect(destroy).not.toHaveBeenCalled();
  });

  it('without a client makes one for the region and endpoint, and closes it after the call', async () => {
    eks.on(DescribeClusterCommand).resolves(active());
    const destroy = jest.spyOn(EKSClient.prototype, 'destroy');
    try {
      await describeCluster('prod-trading', 'ap-northeast-1', {
        credentials,
        eksEndpoint: 'https://vpce-0abc.eks.ap-northeast-1.vpce.amazonaws.com',
      });
      const made = eks.call(0).thisValue as EKSClient;
      expect(await made.config.region()).toBe('ap-northeast-1');
      expect(await made.config.credentials()).toMatchObject({ accessKeyId: 'AKIDEXAMPLE' });
      expect(made.config.endpoint).toBeDefined();
      expect(await made.config.endpoint!()).toMatchObject({
        hostname: 'vpce-0abc.eks.ap-northeast-1.vpce.amazonaws.com',
      });
      expect(destroy).toHaveBeenCalledTimes(1);
    } finally {
      destroy.mockRestore();
    }
  });

  it('names the cluster and region when the cluster does not exist', async () => {
    eks.on(DescribeClusterCommand).rejects(
      new ResourceNotFoundException({
        message: 'No cluster found for name: prod-trading.',
        $metadata: { httpStatusCode: 404 },
      }),
    );
    await expect(
      describeCluster('prod-trading', 'eu-west-1', { client: new EKSClient({ region: 'eu-west-1' }) }),
    ).rejects.toThrow(
      'EKS DescribeCluster prod-trading in eu-west-1: cluster prod-trading not found in region eu-west-1 (No cluster found for name: prod-trading.)',
    );
  });

  it('names the eks:DescribeCluster permission when access is denied', async () => {
    const said =
      'User: arn:aws:sts::111122223333:assumed-role/sre-agent/remediate is not authorized to perform: eks:DescribeCluster on resource: arn:aws:eks:eu-west-1:111122223333:cluster/prod-trading';
    eks
      .on(DescribeClusterCommand)
      .rejects(new AccessDeniedException({ message: said, $metadata: { httpStatusCode: 403 } }));
    const failure = describeCluster('prod-trading', 'eu-west-1', { client: new EKSClient({ region: 'eu-west-1' }) });
    await expect(failure).rejects.toThrow(
      `EKS DescribeCluster prod-trading in eu-west-1: access denied; the agent's role needs the eks:DescribeCluster permission on this cluster (${said})`,
    );
    await expect(failure).rejects.toMatchObject({ cause: expect.any(AccessDeniedException) });
  });

  it('says what is missing when the answer has no CA or no endpoint', async () => {
    const client = new EKSClient({ region: 'eu-west-1' });
    eks.on(DescribeClusterCommand).resolves({ cluster: { name: 'prod-trading', status: 'ACTIVE', endpoint } });
    await expect(describeCluster('prod-trading', 'eu-west-1', { client })).rejects.toThrow(
      'EKS DescribeCluster prod-trading in eu-west-1: the answer has no certificateAuthority.data (cluster CA) (cluster status ACTIVE)',
    );
    eks.on(DescribeClusterCommand).resolves({ cluster: { name: 'prod-trading', status: 'CREATING' } });
    await expect(describeCluster('prod-trading', 'eu-west-1', { client })).rejects.toThrow(
      'EKS DescribeCluster prod-trading in eu-west-1: the answer has no API server endpoint (cluster status CREATING)',
    );
  });

  it('tells refused credentials apart from a missing permission', async () => {
    eks.on(DescribeClusterCommand).rejects(
      Object.assign(new Error('The security token included in the request is expired'), {
        name: 'ExpiredTokenException',
        $metadata: { httpStatusCode: 403 },
      }),
    );
    const failure = describeCluster('prod-trading', 'eu-west-1', { client: new EKSClient({ region: 'eu-west-1' }) });
    await expect(failure).rejects.toThrow(
      'EKS DescribeCluster prod-trading in eu-west-1: the AWS credentials were rejected (ExpiredTokenException: The security token included in the request is expired)',
    );
    await expect(failure).rejects.not.toThrow(/eks:DescribeCluster permission/);
  });

  it('passes other failures on with their name', async () => {
    const throttled = Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException' });
    eks.on(DescribeClusterCommand).rejects(throttled);
    await expect(
      describeCluster('prod-trading', 'eu-west-1', { client: new EKSClient({ region: 'eu-west-1' }) }),
    ).rejects.toThrow('EKS DescribeCluster prod-trading in eu-west-1 failed: ThrottlingException: Rate exceeded');
  });
});

describe('createEksExecutor', () => {
  const eks = mockClient(EKSClient);
  beforeEach(() => eks.reset());
  afterAll(() => eks.restore());

  it('connects with DescribeCluster, sends EKS tokens, re-signs after a 401, and audits without the token', async () => {
    eks.on(DescribeClusterCommand, { name: 'prod-trading' }).resolves({
      cluster: { name: 'prod-trading', status: 'ACTIVE', endpoint, certificateAuthority: { data: caData } },
    });
    // Each reading of the clock is a second later, so a re-signed token differs from the cached one.
    let ticks = 0;
    const clock = () => new Date(NOW + 1_000 * ticks++);
    const exchanges: KubeExchange[] = [];
    const e = await createEksExecutor({
      clusterName: 'prod-trading',
      region: 'eu-west-1',
      client: new EKSClient({ region: 'eu-west-1' }),
      credentials: async () => ({ accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'secret' }),
      clock,
      onExchange: (x) => exchanges.push(x),
      backoffStartMs: 1,
    });
    executors.push(e);
    expect(eks.commandCalls(DescribeClusterCommand)).toHaveLength(1);

    // The fake API accepts only the test token, so the presigned STS tokens are refused: one retry with a
    // freshly signed token, then the failure.
    await expect(e.snapshot({ namespace: NS, kind: 'deployment', name: 'order-api' })).rejects.toThrow(
      /unauthorized: the API server rejected the token/,
    );
    const sent = api.log.map((l) => (l.authorization ?? '').replace(/^Bearer /, ''));
    expect(sent).toHaveLength(2);
    const urls = sent.map((token) => new URL(decodeEksToken(token)!));
    for (const url of urls) {
      expect(url.origin).toBe('https://sts.eu-west-1.amazonaws.com');
      expect(url.searchParams.get('Action')).toBe('GetCallerIdentity');
      expect(url.searchParams.get('X-Amz-Credential')).toMatch(/^AKIDEXAMPLE\/\d{8}\/eu-west-1\/sts\/aws4_request$/);
    }
    // A token still valid in the cache would have been sent again: a different signing time shows the
    // 401 emptied the cache.
    expect(urls[1].searchParams.get('X-Amz-Date')).not.toBe(urls[0].searchParams.get('X-Amz-Date'));
    expect(sent[1]).not.toBe(sent[0]);

    expect(exchanges.map((x) => [x.method, x.path, x.status])).toEqual([
      ['GET', deploymentPath, 401],
      ['GET', deploymentPath, 401],
    ]);
    const serialized = JSON.stringify(exchanges);
    for (const token of sent) expect(serialized).not.toContain(token);
    expect(serialized).not.toContain('k8s-aws-v1.');
  });

  it('fails with the DescribeCluster reason and builds no executor', async () => {
    eks
      .on(DescribeClusterCommand)
      .rejects(new ResourceNotFoundException({ message: 'No cluster found for name: prod-tradng.', $metadata: {} }));
    await expect(
      createEksExecutor({
        clusterName: 'prod-tradng',
        region: 'eu-west-1',
        client: new EKSClient({ region: 'eu-west-1' }),
      }),
    ).rejects.toThrow('cluster prod-tradng not found in region eu-west-1');
    expect(api.log).toEqual([]);
  });
});
