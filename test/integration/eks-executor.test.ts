// EksExecutor against a loopback HTTPS server that answers like the Kubernetes API for Deployments,
// ReplicaSets, Pods and deployments/scale, with a CA and server certificate made by openssl for this run.

import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  createEksExecutor,
  type Deployment,
  type DeploymentSnapshotState,
  describeCluster,
  EksExecutor,
  type Pod,
  type PodTemplateSpec,
  type ReplicaSet,
} from '../../lambdas/adapters/eks/eks-executor';
import { KubeClient } from '../../lambdas/adapters/eks/kube-client';
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
  deployments = new Map<string, Deployment>();
  replicaSets: ReplicaSet[] = [];
  pods: Pod[] = [];
  private rv = 1000;

  reset(): void {
    this.log.length = 0;
    this.faults.length = 0;
    this.forbidden.clear();
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

    if (req.headers.authorization !== `Bearer ${TOKEN}`) return status(401, 'Unauthorized', 'Unauthorized');
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

const executor = (overrides: { caData?: string; token?: () => Promise<string>; retries?: number } = {}) => {
  const e = new EksExecutor({
    endpoint,
    caData: overrides.caData ?? caData,
    token: overrides.token ?? (async () => TOKEN),
    clock: () => NOW,
    timeoutMs: 5_000,
    retries: overrides.retries ?? 3,
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
    return snap.snapshotId;
  };

  it('scale-up as a dry run patches deployments/scale with dryRun=All and changes nothing', async () => {
    const e = executor();
    const snapshotId = await snapshotOf(e);
    const result = await e.execute(step('scale-up', { fromReplicas: 3, toReplicas: 6 }), { dryRun: true, snapshotId });
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
    const snapshotId = await snapshotOf(e);
    const result = await e.execute(step('scale-up', { toReplicas: 6 }), { dryRun: false, snapshotId });
    expect(result).toEqual({ ok: true, detail: 'scaled trading/deployment/order-api from 3 to 6 replicas' });
    expect(api.log[1].query).toEqual({});
    expect(api.deployments.get('order-api')!.spec.replicas).toBe(6);
  });

  it('scale-up refuses to go above the plan bounds or to scale down, without a write', async () => {
    const e = executor();
    const snapshotId = await snapshotOf(e);
    const above = await e.execute(step('scale-up', { toReplicas: 12, maxReplicas: 10 }), { dryRun: false, snapshotId });
    expect(above.ok).toBe(false);
    expect(above.detail).toContain('refusing to scale to 12 replicas, above the bound of 10');
    const down = await e.execute(step('scale-up', { toReplicas: 2 }), { dryRun: false, snapshotId });
    expect(down).toEqual({
      ok: false,
      detail: 'trading/deployment/order-api: already at 3 replicas, not scaling to 2',
    });
    const huge = await e.execute(step('scale-up', { toReplicas: 1000 }), { dryRun: false, snapshotId });
    expect(huge.detail).toContain('set by the executor');
    expect(writes()).toEqual([]);
  });

  it('retries a 409 conflict by re-reading and re-applying on the new resourceVersion', async () => {
    const e = executor();
    const snapshotId = await snapshotOf(e);
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
    const result = await e.execute(step('scale-up', { toReplicas: 5 }), { dryRun: false, snapshotId });
    expect(result.ok).toBe(true);
    expect(api.log.map((l) => l.method)).toEqual(['GET', 'PATCH', 'GET', 'PATCH']);
    expect((api.log[1].body as { metadata: { resourceVersion: string } }).metadata.resourceVersion).toBe('1000');
    expect((api.log[3].body as { metadata: { resourceVersion: string } }).metadata.resourceVersion).toBe('1500');
    expect(api.deployments.get('order-api')!.spec.replicas).toBe(5);
  });

  it('gives up after 3 conflict retries', async () => {
    const e = executor();
    const snapshotId = await snapshotOf(e);
    for (let i = 0; i < 4; i++) {
      api.faults.push({ method: 'PATCH', path: /\/scale$/, status: 409, reason: 'Conflict', message: 'modified' });
    }
    const result = await e.execute(step('scale-up', { toReplicas: 5 }), { dryRun: false, snapshotId });
    expect(result.ok).toBe(false);
    expect(result.detail).toBe(
      'conflict: patch deployments/scale "order-api" in namespace "trading": modified (after 3 conflict retries)',
    );
    expect(api.log.filter((l) => l.method === 'PATCH')).toHaveLength(4);
  });

  it('reports a 403 as a permissions error naming the verb and resource', async () => {
    const e = executor();
    const snapshotId = await snapshotOf(e);
    api.forbidden.add('patch deployments/scale');
    const result = await e.execute(step('scale-up', { toReplicas: 5 }), { dryRun: true, snapshotId });
    expect(result).toEqual({
      ok: false,
      detail: 'forbidden: cannot patch deployments/scale "order-api" in namespace "trading"',
    });
    expect(api.log.filter((l) => l.method === 'PATCH')).toHaveLength(1); // not retried
  });

  it('rollout-restart patches the pod template restartedAt annotation (strategic merge, dryRun=All)', async () => {
    const e = executor();
    const snapshotId = await snapshotOf(e);
    const result = await e.execute(step('rollout-restart'), { dryRun: true, snapshotId });
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

    await e.execute(step('rollout-restart'), { dryRun: false, snapshotId });
    const after = api.deployments.get('order-api')!;
    expect(after.spec.template.metadata?.annotations).toEqual({
      'kubectl.kubernetes.io/restartedAt': '2026-03-01T12:00:00.000Z',
    });
    expect(after.metadata.generation).toBe(8);
  });

  it('restart-pod deletes the first not-ready pod, else the oldest', async () => {
    const e = executor();
    const snapshotId = await snapshotOf(e);
    const first = await e.execute(step('restart-pod'), { dryRun: true, snapshotId });
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
    const second = await e.execute(step('restart-pod'), { dryRun: false, snapshotId });
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
    const snapshotId = await snapshotOf(e);
    const dry = await e.execute(step('rollback'), { dryRun: true, snapshotId });
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

    const real = await e.execute(step('rollback'), { dryRun: false, snapshotId });
    expect(real.ok).toBe(true);
    const after = api.deployments.get('order-api')!;
    expect(after.spec.template).toEqual(template('registry.example/order-api:1.3.1'));
  });

  it('surfaces the API message of a 422', async () => {
    const e = executor();
    const snapshotId = await snapshotOf(e);
    const message = 'Deployment.apps "order-api" is invalid: spec.template.spec.containers[0].image: Required value';
    api.faults.push({ method: 'PATCH', path: /deployments\/order-api$/, status: 422, reason: 'Invalid', message });
    const result = await e.execute(step('rollback'), { dryRun: true, snapshotId });
    expect(result).toEqual({
      ok: false,
      detail: `invalid: patch deployments "order-api" in namespace "trading": ${message}`,
    });
  });

  it('retries 5xx answers with backoff', async () => {
    const e = executor();
    const snapshotId = await snapshotOf(e);
    api.faults.push(
      { method: 'GET', path: /\/scale$/, status: 503, reason: 'ServiceUnavailable', message: 'etcd leader changed' },
      { method: 'GET', path: /\/scale$/, status: 500, reason: 'InternalError', message: 'try again' },
    );
    const result = await e.execute(step('scale-up', { toReplicas: 4 }), { dryRun: false, snapshotId });
    expect(result.ok).toBe(true);
    expect(api.log.map((l) => l.method)).toEqual(['GET', 'GET', 'GET', 'PATCH']);
  });

  it('leaves catalog actions that are not Kubernetes-object changes alone', async () => {
    const e = executor();
    const snapshotId = await snapshotOf(e);
    for (const action of [
      'db-failover',
      'az-failover',
      'cache-flush',
      'rate-limit',
      'engine-restart',
      'config-revert',
    ] as const) {
      expect(await e.execute(step(action), { dryRun: false, snapshotId })).toEqual({
        ok: false,
        detail: `${action} is not carried out by the EKS executor`,
      });
    }
    expect(api.log).toEqual([]);
  });

  it('needs a snapshot of the same target first', async () => {
    const e = executor();
    expect(await e.execute(step('rollout-restart'), { dryRun: false, snapshotId: 'snap-unknown' })).toEqual({
      ok: false,
      detail: 'unknown snapshot snap-unknown',
    });
    const snapshotId = await snapshotOf(e, { namespace: NS, kind: 'pod', name: 'order-api-ccc333-x1' });
    const wrong = await e.execute(step('rollout-restart'), { dryRun: false, snapshotId });
    expect(wrong.ok).toBe(false);
    expect(writes()).toEqual([]);
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

describe('createEksExecutor', () => {
  it('finds the endpoint and CA with a SigV4-signed DescribeCluster and sends EKS tokens', async () => {
    const calls: { url: string; headers: Record<string, string> }[] = [];
    const fakeFetch = (async (input: string | URL | Request, init?: RequestInit) => {
      calls.push({ url: String(input), headers: init?.headers as Record<string, string> });
      return new Response(
        JSON.stringify({
          cluster: { name: 'prod-trading', status: 'ACTIVE', endpoint, certificateAuthority: { data: caData } },
        }),
        { status: 200, headers: { 'content-type': 'application/json' } },
      );
    }) as typeof fetch;
    const credentials = async () => ({ accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'secret' });
    const described = await describeCluster('prod-trading', 'eu-west-1', { fetch: fakeFetch, credentials });
    expect(described).toEqual({ endpoint, caData, status: 'ACTIVE' });
    expect(calls[0].url).toBe('https://eks.eu-west-1.amazonaws.com/clusters/prod-trading');
    expect(calls[0].headers.authorization).toMatch(
      /^AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE\/\d{8}\/eu-west-1\/eks\/aws4_request, SignedHeaders=accept;host;(x-amz-content-sha256;)?x-amz-date, Signature=[0-9a-f]{64}$/,
    );

    const seen: string[] = [];
    const e = await createEksExecutor({
      clusterName: 'prod-trading',
      region: 'eu-west-1',
      fetch: fakeFetch,
      credentials,
      backoffStartMs: 1,
    });
    executors.push(e);
    // The fake API wants the test token; the real one is a presigned STS URL, so expect a 401 and check what was sent.
    await expect(e.snapshot({ namespace: NS, kind: 'deployment', name: 'order-api' })).rejects.toThrow(/unauthorized/);
    for (const l of api.log) seen.push(l.authorization ?? '');
    expect(seen).toHaveLength(1);
    const token = seen[0].replace(/^Bearer /, '');
    expect(decodeEksToken(token)).toMatch(
      /^https:\/\/sts\.eu-west-1\.amazonaws\.com\/\?Action=GetCallerIdentity&Version=2011-06-15&/,
    );
  });

  it('fails clearly when DescribeCluster is refused', async () => {
    const fakeFetch = (async () =>
      new Response(JSON.stringify({ message: 'not authorized to perform: eks:DescribeCluster' }), {
        status: 403,
      })) as unknown as typeof fetch;
    await expect(
      describeCluster('prod-trading', 'eu-west-1', {
        fetch: fakeFetch,
        credentials: async () => ({ accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'secret' }),
      }),
    ).rejects.toThrow(/HTTP 403.*eks:DescribeCluster/);
  });
});
