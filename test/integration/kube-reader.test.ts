// KubeReader against a loopback HTTPS server that answers like the Kubernetes API for events, pods, Deployments
// and HPAs, with `limit`/`continue` pagination and RBAC refusals, behind a CA made by openssl for this run.

import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DescribeClusterCommand, EKSClient } from '@aws-sdk/client-eks';
import { mockClient } from 'aws-sdk-client-mock';
import { KubeClient } from '../../lambdas/adapters/eks/kube-client';
import { createEksKubeReader, KubeReader, type RawKubeEvent } from '../../lambdas/adapters/eks/kube-reader';
import { kubeFindings } from '../../lambdas/core/cognition/kube-findings';
import { topologySchema } from '../../lambdas/core/config/schema';

const TOKEN = 'k8s-aws-v1.reader-token';
const NS = 'trading';

// --- Certificates, made as the EKS executor test makes them. ---

let dir: string;
let caData: string;
let serverKey: Buffer;
let serverCert: Buffer;

function makeCertificates(): void {
  dir = mkdtempSync(join(tmpdir(), 'kube-reader-test-'));
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
  caData = readFileSync(join(dir, 'ca.crt')).toString('base64');
  serverKey = readFileSync(join(dir, 'server.key'));
  serverCert = readFileSync(join(dir, 'server.crt'));
}

// --- A small, read-only Kubernetes API. ---

interface Logged {
  readonly method: string;
  readonly path: string;
  readonly query: Record<string, string>;
  readonly authorization: string | undefined;
}

const rawEvent = (n: number, fields: Partial<RawKubeEvent> & { pod?: string; at?: string } = {}): RawKubeEvent => {
  const at = fields.at ?? `2026-11-04T03:${String(n % 60).padStart(2, '0')}:00Z`;
  const pod = fields.pod ?? 'order-api-7c9f8d6b5-xk2pq';
  return {
    metadata: { name: `${pod}.${n.toString(16).padStart(16, '0')}`, namespace: NS, uid: `uid-${n}` },
    involvedObject: { kind: 'Pod', name: pod, namespace: NS },
    reason: fields.reason ?? 'BackOff',
    message: fields.message ?? 'Back-off restarting failed container order-api',
    type: fields.type ?? 'Warning',
    count: fields.count ?? 1,
    firstTimestamp: at,
    lastTimestamp: at,
    eventTime: null,
    source: { component: 'kubelet' },
  };
};

class FakeKubeApi {
  readonly log: Logged[] = [];
  events: RawKubeEvent[] = [];
  pods: Record<string, unknown>[] = [];
  readonly forbidden = new Set<string>();
  /** Continue tokens the server no longer honours (answers 410 Gone once each). */
  readonly expired = new Set<string>();
  servesAutoscalingV2 = true;

  reset(): void {
    this.log.length = 0;
    this.events = [];
    this.pods = [];
    this.forbidden.clear();
    this.expired.clear();
    this.servesAutoscalingV2 = true;
  }

  handle(req: IncomingMessage, res: ServerResponse) {
    const url = new URL(req.url ?? '/', 'https://127.0.0.1');
    const method = req.method ?? 'GET';
    const query = Object.fromEntries(url.searchParams);
    this.log.push({ method, path: url.pathname, query, authorization: req.headers.authorization });
    const send = (status: number, value: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(value));
    };
    const status = (code: number, reason: string, message: string) =>
      send(code, { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code });

    if (req.headers.authorization !== `Bearer ${TOKEN}`) return status(401, 'Unauthorized', 'Unauthorized');
    if (method !== 'GET') return status(405, 'MethodNotAllowed', 'the reader only reads');

    const page = <T>(kind: string, items: readonly T[]) => {
      const limit = Number(query.limit ?? items.length);
      const token = query.continue;
      if (token && this.expired.delete(token)) {
        return status(
          410,
          'Expired',
          'The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter.',
        );
      }
      const from = token ? Number(Buffer.from(token, 'base64').toString('utf8').split(':')[1]) : 0;
      const slice = items.slice(from, from + limit);
      const next = from + limit < items.length ? Buffer.from(`rv48220900:${from + limit}`).toString('base64') : '';
      send(200, {
        kind,
        apiVersion: 'v1',
        metadata: {
          resourceVersion: '48220900',
          ...(next ? { continue: next, remainingItemCount: items.length - from - limit } : {}),
        },
        items: slice,
      });
    };

    let m = /^\/api\/v1(?:\/namespaces\/([^/]+))?\/events$/.exec(url.pathname);
    if (m) {
      const ns = m[1];
      if (this.forbidden.has(`events ${ns ?? '*'}`)) {
        return status(
          403,
          'Forbidden',
          `events is forbidden: User "arn:aws:sts::111122223333:assumed-role/sre-agent-reader/diagnose" cannot list resource "events" in API group "" ${ns ? `in the namespace "${ns}"` : 'at the cluster scope'}`,
        );
      }
      let items = this.events.filter((e) => ns === undefined || e.metadata.namespace === ns);
      for (const term of (query.fieldSelector ?? '').split(',').filter(Boolean)) {
        const [field, value] = term.split('=');
        if (field === 'type') items = items.filter((e) => e.type === value);
        else if (field === 'involvedObject.name') items = items.filter((e) => e.involvedObject?.name === value);
        else return status(400, 'BadRequest', `field label not supported: ${field}`);
      }
      return page('EventList', items);
    }
    m = /^\/api\/v1\/namespaces\/([^/]+)\/pods$/.exec(url.pathname);
    if (m) {
      const selector = query.labelSelector;
      return page(
        'PodList',
        this.pods.filter((p) => {
          const labels = (p.metadata as { labels?: Record<string, string> }).labels ?? {};
          return !selector || selector.split(',').every((t) => labels[t.split('=')[0]] === t.split('=')[1]);
        }),
      );
    }
    m = /^\/apis\/apps\/v1\/namespaces\/([^/]+)\/deployments(?:\/([^/]+))?$/.exec(url.pathname);
    if (m) {
      const [, ns, name] = m;
      const deployment = {
        metadata: { name: 'order-api', namespace: NS },
        spec: { replicas: 6 },
        status: {
          conditions: [
            {
              type: 'Progressing',
              status: 'False',
              reason: 'ProgressDeadlineExceeded',
              message: 'ReplicaSet "order-api-7c9f8d6b5" has timed out progressing.',
              lastTransitionTime: '2026-11-04T03:12:00Z',
            },
          ],
        },
      };
      if (!name) return page('DeploymentList', ns === NS ? [deployment] : []);
      if (ns === NS && name === 'order-api') return send(200, deployment);
      return status(404, 'NotFound', `deployments.apps "${name}" not found`);
    }
    m = /^\/apis\/autoscaling\/v2\/namespaces\/([^/]+)\/horizontalpodautoscalers$/.exec(url.pathname);
    if (m && this.servesAutoscalingV2) {
      return page('HorizontalPodAutoscalerList', [
        {
          metadata: { name: 'order-api', namespace: m[1] },
          spec: { scaleTargetRef: { kind: 'Deployment', name: 'order-api' }, minReplicas: 3, maxReplicas: 12 },
          status: {
            currentReplicas: 12,
            desiredReplicas: 12,
            conditions: [{ type: 'ScalingLimited', status: 'True', reason: 'TooManyReplicas' }],
          },
        },
      ]);
    }
    return status(404, 'NotFound', 'the server could not find the requested resource');
  }
}

// --- Harness. ---

const api = new FakeKubeApi();
let server: Server;
let endpoint: string;
const readers: KubeReader[] = [];

const reader = (pageSize = 2, token = TOKEN) => {
  const r = new KubeReader(
    new KubeClient({ endpoint, caData, token: async () => token, timeoutMs: 5_000, retries: 1, backoffStartMs: 1 }),
    { pageSize },
  );
  readers.push(r);
  return r;
};

beforeAll(async () => {
  makeCertificates();
  server = createServer({ key: serverKey, cert: serverCert }, (req, res) => {
    req.resume();
    req.on('end', () => api.handle(req, res));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  endpoint = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  for (const r of readers) r.close();
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  rmSync(dir, { recursive: true, force: true });
});

beforeEach(() => api.reset());

// --- Tests. ---

describe('KubeReader.listEvents', () => {
  it('follows continue tokens page by page and applies the time window', async () => {
    api.events = [5, 1, 9, 3, 7].map((minute) => rawEvent(minute));
    const result = await reader(2).listEvents(NS, {
      sinceMs: Date.parse('2026-11-04T03:03:00Z'),
      untilMs: Date.parse('2026-11-04T03:07:00Z'),
      fieldSelector: 'type=Warning',
    });
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(result.value.map((e) => new Date(e.time).toISOString())).toEqual([
      '2026-11-04T03:03:00.000Z',
      '2026-11-04T03:05:00.000Z',
      '2026-11-04T03:07:00.000Z',
    ]);
    expect(result.value[0]).toMatchObject({
      namespace: NS,
      reason: 'BackOff',
      count: 1,
      involvedObject: { kind: 'Pod', name: 'order-api-7c9f8d6b5-xk2pq', namespace: NS },
      component: 'kubelet',
    });
    expect(api.log.map((l) => l.path)).toEqual(Array(3).fill('/api/v1/namespaces/trading/events'));
    expect(api.log.map((l) => l.query)).toEqual([
      { fieldSelector: 'type=Warning', limit: '2' },
      { fieldSelector: 'type=Warning', limit: '2', continue: Buffer.from('rv48220900:2').toString('base64') },
      { fieldSelector: 'type=Warning', limit: '2', continue: Buffer.from('rv48220900:4').toString('base64') },
    ]);
    expect(api.log.every((l) => l.authorization === `Bearer ${TOKEN}`)).toBe(true);
  });

  it('lists every namespace at /api/v1/events when no namespace is given', async () => {
    api.events = [rawEvent(1), { ...rawEvent(2), metadata: { name: 'node.1', namespace: 'default' } }];
    const result = await reader(500).listEvents(undefined, { sinceMs: 0 });
    expect(result.ok && result.value.map((e) => e.namespace)).toEqual([NS, 'default']);
    expect(api.log).toEqual([expect.objectContaining({ path: '/api/v1/events', query: { limit: '500' } })]);
  });

  it('starts the list again when a continue token has expired (410 Gone)', async () => {
    api.events = [1, 2, 3, 4, 5].map((minute) => rawEvent(minute));
    api.expired.add(Buffer.from('rv48220900:2').toString('base64'));
    const result = await reader(2).listEvents(NS, { sinceMs: 0 });
    expect(result.ok && result.value).toHaveLength(5);
    expect(api.log.map((l) => l.query.continue ?? 'first')).toEqual([
      'first',
      Buffer.from('rv48220900:2').toString('base64'),
      'first',
      Buffer.from('rv48220900:2').toString('base64'),
      Buffer.from('rv48220900:4').toString('base64'),
    ]);
  });

  it('names the verb, the resource and the namespace when RBAC refuses', async () => {
    api.forbidden.add('events trading');
    expect(await reader().listEvents(NS, { sinceMs: 0 })).toEqual({
      ok: false,
      error: expect.objectContaining({
        kind: 'forbidden',
        status: 403,
        message: 'forbidden: the reader identity cannot list events in namespace trading',
        apiMessage: expect.stringContaining('cannot list resource "events"'),
      }),
    });
    api.forbidden.add('events *');
    const cluster = await reader().listEvents(undefined, { sinceMs: 0 });
    expect(!cluster.ok && cluster.error.message).toBe(
      'forbidden: the reader identity cannot list events in any namespace',
    );
  });

  it('passes on the API server rejecting a field selector', async () => {
    const result = await reader().listEvents(NS, { sinceMs: 0, fieldSelector: 'lastTimestamp=3' });
    expect(!result.ok && result.error).toMatchObject({
      kind: 'http',
      status: 400,
      message: expect.stringMatching(
        /^cannot list events in namespace trading: HTTP 400 .*field label not supported: lastTimestamp/,
      ),
    });
  });

  it('refuses an answer bigger than the item bound instead of returning an arbitrary part', async () => {
    api.events = Array.from({ length: 7 }, (_, i) => rawEvent(i));
    const small = new KubeReader(new KubeClient({ endpoint, caData, token: async () => TOKEN }), {
      pageSize: 2,
      maxItems: 5,
    });
    readers.push(small);
    const result = await small.listEvents(NS, { sinceMs: 0 });
    expect(!result.ok && result.error).toEqual({
      kind: 'too-many',
      message: 'list events in namespace trading: more than 5 items; narrow the selector',
    });
    expect(api.log).toHaveLength(3);
  });

  it('reports a rejected token as unauthorized', async () => {
    const result = await reader(2, 'stale').listEvents(NS, { sinceMs: 0 });
    expect(!result.ok && result.error.kind).toBe('unauthorized');
    expect(!result.ok && result.error.message).toMatch(
      /^unauthorized: the API server rejected the reader's token \(list events in namespace trading\)/,
    );
  });
});

describe('KubeReader objects', () => {
  it('lists pods by label selector, across pages', async () => {
    api.pods = ['a', 'b', 'c'].map((s) => ({
      metadata: { name: `order-api-7c9f8d6b5-${s}${s}${s}${s}${s}`, namespace: NS, labels: { app: 'order-api' } },
      status: { phase: 'Running' },
    }));
    api.pods.push({ metadata: { name: 'other-1', namespace: NS, labels: { app: 'other' } } });
    const result = await reader(2).listPods(NS, 'app=order-api');
    expect(result.ok && result.value.map((p) => p.metadata.name)).toEqual([
      'order-api-7c9f8d6b5-aaaaa',
      'order-api-7c9f8d6b5-bbbbb',
      'order-api-7c9f8d6b5-ccccc',
    ]);
    expect(api.log.map((l) => `${l.path} ${l.query.labelSelector}`)).toEqual([
      '/api/v1/namespaces/trading/pods app=order-api',
      '/api/v1/namespaces/trading/pods app=order-api',
    ]);
  });

  it('gets and lists Deployments, and names a missing one', async () => {
    const r = reader();
    const got = await r.getDeployment(NS, 'order-api');
    expect(got.ok && got.value.spec?.replicas).toBe(6);
    const listed = await r.listDeployments(NS);
    expect(listed.ok && listed.value.map((d) => d.metadata.name)).toEqual(['order-api']);
    expect(await r.getDeployment(NS, 'nope')).toEqual({
      ok: false,
      error: {
        kind: 'not-found',
        status: 404,
        message: 'not found: deployment nope in namespace trading',
        apiMessage: 'deployments.apps "nope" not found',
      },
    });
    expect(api.log.map((l) => l.path)).toEqual([
      '/apis/apps/v1/namespaces/trading/deployments/order-api',
      '/apis/apps/v1/namespaces/trading/deployments',
      '/apis/apps/v1/namespaces/trading/deployments/nope',
    ]);
  });

  it('lists HPAs from autoscaling/v2, and says so when the API server does not serve it', async () => {
    const r = reader();
    const hpas = await r.listHpas(NS);
    expect(hpas.ok && hpas.value[0].spec.maxReplicas).toBe(12);
    expect(api.log[0].path).toBe('/apis/autoscaling/v2/namespaces/trading/horizontalpodautoscalers');
    api.servesAutoscalingV2 = false;
    const missing = await r.listHpas(NS);
    expect(!missing.ok && missing.error.message).toBe(
      'not found: the API server does not serve horizontalpodautoscalers (autoscaling/v2) to list in namespace trading',
    );
  });

  it('feeds the findings: what the reader lists is what kubeFindings reads', async () => {
    api.events = [rawEvent(10, { count: 12 })];
    const r = reader();
    const [events, deployments, hpas] = await Promise.all([
      r.listEvents(NS, { sinceMs: 0 }),
      r.listDeployments(NS),
      r.listHpas(NS),
    ]);
    if (!events.ok || !deployments.ok || !hpas.ok) throw new Error('a list failed');
    const topology = topologySchema.parse({
      services: [{ name: 'order-api', namespace: NS, deployment: 'order-api' }],
    });
    const { findings } = kubeFindings(
      {
        events: events.value,
        deployments: deployments.value,
        hpas: hpas.value,
        observedAt: Date.parse('2026-11-04T03:30:00Z'),
      },
      topology,
    );
    // Both critical; the stuck rollout still holds at the reading time, so it comes first.
    expect(findings.map((f) => `${f.kind}: ${f.evidence}`)).toEqual([
      'rollout-stuck: ProgressDeadlineExceeded on trading/deployment/order-api (0 of 6 updated, 0 available): ReplicaSet "order-api-7c9f8d6b5" has timed out progressing.',
      'crash-loop: 12x BackOff on trading/order-api-7c9f8d6b5-xk2pq: Back-off restarting failed container order-api',
      'hpa-at-max: HPA trading/hpa/order-api at its maximum of 12 replicas',
    ]);
  });
});

describe('createEksKubeReader', () => {
  const eks = mockClient(EKSClient);
  afterAll(() => eks.restore());

  it('finds the endpoint and CA with DescribeCluster and reads with EKS tokens, re-signing after a 401', async () => {
    eks.on(DescribeClusterCommand, { name: 'prod-trading' }).resolves({
      cluster: { name: 'prod-trading', status: 'ACTIVE', endpoint, certificateAuthority: { data: caData } },
    });
    const r = await createEksKubeReader({
      clusterName: 'prod-trading',
      region: 'eu-west-1',
      client: new EKSClient({ region: 'eu-west-1' }),
      credentials: async () => ({ accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'secret' }),
      backoffStartMs: 1,
    });
    readers.push(r);
    expect(eks.commandCalls(DescribeClusterCommand)).toHaveLength(1);
    // The fake API wants the test token, so a presigned EKS token is refused: what matters is what was sent.
    const result = await r.listEvents(NS, { sinceMs: 0 });
    expect(!result.ok && result.error.kind).toBe('unauthorized');
    expect(api.log).toHaveLength(2);
    for (const l of api.log) expect(l.authorization).toMatch(/^Bearer k8s-aws-v1\.[A-Za-z0-9_-]+$/);
  });
});
