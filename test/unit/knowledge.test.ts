// Unit tests of the diagnosis knowledge base with the embedded store.
//
// Case documents (redacted, with the outcome), the query text of an open incident, retrieval (filters, topK,
// minSimilarity, vector spaces), persistence through a file and through a BlobStore, and the factory that picks
// embedder and store.

import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BedrockRuntimeClient } from '@aws-sdk/client-bedrock-runtime';
import { MemoryBlobStore } from '../../lambdas/adapters/blob/blob-store';
import { EmbeddedKnowledgeStore } from '../../lambdas/adapters/knowledge/embedded-store';
import { createKnowledgeBase, KnowledgeConfigError } from '../../lambdas/adapters/knowledge/knowledge-base';
import { QdrantKnowledgeStore } from '../../lambdas/adapters/knowledge/qdrant-store';
import { parseRunbook } from '../../lambdas/adapters/knowledge/runbooks';
import { TitanEmbedder } from '../../lambdas/adapters/knowledge/titan-embedder';
import type { FaultKind } from '../../lambdas/core/cognition/classify';
import type { Incident, IncidentSignal } from '../../lambdas/core/cognition/incident';
import { knowledgeConfigSchema } from '../../lambdas/core/config/knowledge-schema';
import type { IncidentCase } from '../../lambdas/core/decision/incident-case';
import { HashedEmbedder } from '../../lambdas/core/diagnosis/hashed-embedder';
import {
  caseDocument,
  cosine,
  embeddingText,
  incidentQueryText,
  type KnowledgeBase,
  type KnowledgeDocument,
  KnowledgeStoreError,
  retrieveSimilar,
  storeDocuments,
} from '../../lambdas/core/diagnosis/knowledge';

const AWS_KEY = 'AKIAIOSFODNN7EXAMPLE';
const EMAIL = 'oncall.lead@exchange.example';
const IP = '10.0.3.17';

const signal = (entity: string, signalId: string, value: number, expected: number, extra = {}): IncidentSignal => ({
  key: `${signalId}{${entity}}`,
  signalId,
  entity,
  firstAnomalousAt: '2026-11-04T03:05:00Z',
  lastRaisedAt: '2026-11-04T03:12:00Z',
  peakZ: value > expected ? 40 : -40,
  peakScore: 0.9,
  valueAtPeak: value,
  expectedAtPeak: expected,
  hardLimitBreached: false,
  ...extra,
});

const incident = (id: string, services: string[], signals: IncidentSignal[]): Incident => ({
  id,
  status: 'resolved',
  kind: 'anomaly',
  openedAt: '2026-11-04T03:07:00Z',
  updatedAt: '2026-11-04T03:40:00Z',
  lastAnomalyAt: '2026-11-04T03:20:00Z',
  resolvedAt: '2026-11-04T03:40:00Z',
  services,
  signals,
  version: 5,
});

function closedCase(
  id: string,
  root: { service: string; kind: FaultKind },
  services: string[],
  signals: IncidentSignal[],
  evidence: string[],
  extra: Partial<IncidentCase> = {},
): IncidentCase {
  return {
    incidentId: id,
    incident: incident(id, services, signals),
    diagnosis: {
      rootCause: { ...root, confidence: 0.8 },
      candidates: [{ service: root.service, kind: root.kind, score: 0.8, evidence }],
      evidence,
      method: 'rules',
    },
    ...extra,
  };
}

const badDeployCase = closedCase(
  'inc-20261104T0307-order-api',
  { service: 'order-api', kind: 'bad-deploy' },
  ['order-api', 'api-gateway'],
  [
    signal('order-api', 'error_ratio', 0.12, 0.002, { hardLimitBreached: true }),
    signal('order-api', 'latency_p99', 1.25, 0.2),
    signal('api-gateway', 'error_ratio', 0.05, 0.001),
  ],
  [
    'first anomalous service',
    'deployed 2.14.0 (was 2.13.2) 4 min before onset',
    `connection refused from ${IP}; deployer ${EMAIL} used key ${AWS_KEY}`,
  ],
  {
    execution: [
      {
        action: 'rollback',
        target: 'trading/deployment/order-api',
        dryRun: false,
        result: 'succeeded',
        detail: 'rolled back to revision 41',
      },
      {
        action: 'scale-up',
        target: 'trading/hpa/order-api',
        dryRun: false,
        result: 'failed',
        detail: 'hpa at max',
      },
      { action: 'db-failover', target: 'data/datastore/mysql-main', dryRun: false, result: 'refused', detail: 'deny' },
    ],
    verification: {
      status: 'recovered',
      recovered: true,
      startedAt: '2026-11-04T03:15:00Z',
      deadline: '2026-11-04T03:30:00Z',
      checkedAt: '2026-11-04T03:21:00Z',
      checks: 3,
      recheckSeconds: 60,
      recoveredAt: '2026-11-04T03:21:00Z',
      detail: ['error_ratio back to 0.002'],
    },
    outcome: 'remediated',
  },
);

const saturationCase = closedCase(
  'inc-20261020T1410-mysql-main',
  { service: 'mysql-main', kind: 'datastore-saturation' },
  ['mysql-main', 'order-api'],
  [
    signal('mysql-main', 'db_connections', 995, 210, { hardLimitBreached: true }),
    signal('order-api', 'latency_p99', 3.2, 0.2),
  ],
  ['max_connections reached', 'threads_running high'],
  { outcome: 'diagnosis-only' },
);

const diskCase = closedCase(
  'inc-20261002T0900-wallet-service',
  { service: 'wallet-service', kind: 'disk-fill' },
  ['wallet-service'],
  [signal('wallet-service', 'disk_free', 0.02, 0.4, { hardLimitBreached: true })],
  ['volume filling at 2 GB/h'],
  { outcome: 'diagnosis-only' },
);

const olderBadDeployCase = closedCase(
  'inc-20260915T2200-order-api',
  { service: 'order-api', kind: 'bad-deploy' },
  ['order-api'],
  [signal('order-api', 'error_ratio', 0.2, 0.002), signal('order-api', 'latency_p99', 0.9, 0.2)],
  ['deployed 2.11.0 (was 2.10.4) 6 min before onset'],
  { outcome: 'not-recovered' },
);

const gatewayBadDeployCase = closedCase(
  'inc-20260901T1100-api-gateway',
  { service: 'api-gateway', kind: 'bad-deploy' },
  ['api-gateway'],
  [signal('api-gateway', 'error_ratio', 0.3, 0.001), signal('api-gateway', 'latency_p99', 1.1, 0.1)],
  ['deployed 7.2.0 (was 7.1.9) 2 min before onset'],
  { outcome: 'remediated' },
);

const badDeployRunbook = parseRunbook(
  'bad-deploy.md',
  '---\nfault: bad-deploy\n---\n# Bad deploy\nError ratio and p99 latency jump right after a rollout: roll back the deployment.\n',
);
const saturationRunbook = parseRunbook(
  'datastore-saturation.md',
  '---\nfault: datastore-saturation\n---\n# MySQL saturation\nConnections at max_connections, threads_running high: find the client.\n',
);

/** A new, still open bad deploy of order-api, worded differently from the stored one. */
const openIncident: Incident = {
  ...incident(
    'inc-20261201T0800-order-api',
    ['order-api', 'api-gateway'],
    [
      signal('order-api', 'error_ratio', 0.31, 0.003),
      signal('api-gateway', 'latency_p99', 2.1, 0.25),
      signal('order-api', 'latency_p99', 1.7, 0.2),
    ],
  ),
  status: 'open',
};
const openDiagnosis = {
  rootCause: { service: 'order-api', kind: 'bad-deploy' as const, confidence: 0.7 },
  candidates: [],
  evidence: ['deployed 2.15.1 (was 2.15.0) 3 min before onset'],
  method: 'rules' as const,
};

const allDocs = (): KnowledgeDocument[] => [
  caseDocument(badDeployCase),
  caseDocument(saturationCase),
  caseDocument(diskCase),
  caseDocument(olderBadDeployCase),
  caseDocument(gatewayBadDeployCase),
  badDeployRunbook,
  saturationRunbook,
];

async function memoryKnowledge(): Promise<KnowledgeBase> {
  const embedder = new HashedEmbedder();
  const store = new EmbeddedKnowledgeStore({ persistence: { memory: true }, vectorSpace: embedder.name });
  const kb = { embedder, store };
  await storeDocuments(allDocs(), kb);
  return kb;
}

describe('caseDocument', () => {
  const doc = caseDocument(badDeployCase);

  it('describes the case: services, signals against expected, root cause, evidence, actions, verification', () => {
    expect(doc).toMatchObject({
      id: 'case:inc-20261104T0307-order-api',
      kind: 'case',
      service: 'order-api',
      faultKind: 'bad-deploy',
      outcome: 'remediated',
      closedAt: '2026-11-04T03:40:00Z',
      title: 'order-api bad-deploy (remediated)',
    });
    expect(doc.text).toContain('Services: order-api, api-gateway');
    expect(doc.text).toContain('- order-api error_ratio high 0.12 vs expected 0.002, hard limit breached');
    expect(doc.text).toContain('- order-api latency_p99 high 1.25 vs expected 0.2');
    expect(doc.text).toContain('Root cause: order-api bad-deploy');
    expect(doc.text).toContain('- deployed 2.14.0 (was 2.13.2) 4 min before onset');
    expect(doc.text).toContain('- rollback trading/deployment/order-api: succeeded');
    expect(doc.text).toContain('Verification: recovered');
    expect(doc.text).toMatch(/Outcome: remediated$/);
  });

  it('lists the actions that ran, not those the guardrails refused', () => {
    expect(doc.actions).toEqual(['rollback', 'scale-up']);
  });

  it('redacts secrets and personal data from the stored text', () => {
    expect(doc.text).not.toContain(AWS_KEY);
    expect(doc.text).not.toContain(EMAIL);
    expect(doc.text).not.toContain(IP);
    expect(doc.text).toContain('[REDACTED:aws_access_key_id]');
    expect(doc.text).toContain('[REDACTED:email]');
    expect(doc.text).toContain('[REDACTED:ipv4]');
  });

  it('derives the outcome from the case when the workflow recorded none', () => {
    const rejected = caseDocument({
      ...saturationCase,
      outcome: undefined,
      rejection: { Error: 'Rejected', Cause: 'tech lead said no' },
    });
    expect(rejected.outcome).toBe('rejected');
    expect(rejected.text).toContain('Rejected: tech lead said no');
    expect(rejected.actions).toBeUndefined();
    const undiagnosed = caseDocument({ ...diskCase, diagnosis: undefined, outcome: undefined });
    expect(undiagnosed).toMatchObject({ service: 'wallet-service', outcome: 'diagnosis-only' });
    expect(undiagnosed.faultKind).toBeUndefined();
    expect(undiagnosed.title).toBe('wallet-service undiagnosed (diagnosis-only)');
  });
});

describe('incidentQueryText', () => {
  it('describes an open incident as the case documents do, redacted', () => {
    const text = incidentQueryText({
      ...openIncident,
      signals: [...openIncident.signals, signal(`host ${IP}`, 'error_ratio', 0.5, 0.01)],
    });
    expect(text).toContain('Services: order-api, api-gateway');
    expect(text).toContain('- order-api error_ratio high 0.31 vs expected 0.003');
    expect(text).not.toContain('Root cause');
    expect(text).not.toContain(IP);
    expect(incidentQueryText(openIncident, openDiagnosis)).toContain('Root cause: order-api bad-deploy');
  });

  it('describes a forecast signal by its limit', () => {
    const text = incidentQueryText({
      ...openIncident,
      kind: 'forecast',
      signals: [
        signal('mysql-main', 'disk_free', 0.12, Number.NaN, {
          predictedBreachAt: '2026-12-01T11:00:00Z',
          limit: 0.05,
        }),
      ],
    });
    expect(text).toContain('- mysql-main disk_free forecast to breach limit 0.05, now 0.12');
  });
});

describe('retrieveSimilar with the embedded store', () => {
  const query = incidentQueryText(openIncident, openDiagnosis);

  it('returns the most similar past cases first: the bad deploys, not the saturation or the full disk', async () => {
    const kb = await memoryKnowledge();
    const found = await retrieveSimilar(query, { ...kb, topK: 3, minSimilarity: 0.6 });
    expect(found.cases[0].doc.id).toBe('case:inc-20260915T2200-order-api');
    expect(found.cases.map((c) => c.doc.id).sort()).toEqual([
      'case:inc-20260901T1100-api-gateway',
      'case:inc-20260915T2200-order-api',
      'case:inc-20261104T0307-order-api',
    ]);
    expect(found.cases.every((c) => c.doc.faultKind === 'bad-deploy')).toBe(true);
    const scores = found.cases.map((c) => c.score);
    expect(scores).toEqual([...scores].sort((a, b) => b - a));
    // Prose runbooks are far from an incident's structured text; without a fault kind none passes this threshold.
    expect(found.runbooks).toEqual([]);
  });

  it('matches a case on its situation: what was done afterwards does not dilute the match', async () => {
    const embedder = new HashedEmbedder();
    const [q] = await embedder.embed([query]);
    const doc = caseDocument(badDeployCase);
    const [whole] = await embedder.embed([`${doc.title}\n${doc.text}`]);
    const [situation] = await embedder.embed([embeddingText(doc)]);
    expect(embeddingText(doc)).not.toContain('rollback');
    expect(embeddingText(doc)).toContain('Root cause: order-api bad-deploy');
    expect(cosine(q, situation)).toBeGreaterThan(cosine(q, whole) + 0.05);
  });

  it('offers the runbook written for the diagnosed fault kind first, whatever its similarity', async () => {
    const kb = await memoryKnowledge();
    const found = await retrieveSimilar(query, { ...kb, topK: 3, minSimilarity: 0.6, faultKind: 'bad-deploy' });
    expect(found.runbooks.map((r) => r.doc.id)).toEqual(['runbook:bad-deploy.md']);
    expect(found.runbooks[0].score).toBeLessThan(0.6);
    const all = await retrieveSimilar(query, { ...kb, topK: 3, minSimilarity: 0, faultKind: 'datastore-saturation' });
    expect(all.runbooks.map((r) => r.doc.id)).toEqual(['runbook:datastore-saturation.md', 'runbook:bad-deploy.md']);
  });

  it('keeps at most topK of each kind', async () => {
    const kb = await memoryKnowledge();
    const found = await retrieveSimilar(query, { ...kb, topK: 1, minSimilarity: 0 });
    expect(found.cases).toHaveLength(1);
    expect(found.runbooks).toHaveLength(1);
    const more = await retrieveSimilar(query, { ...kb, topK: 10, minSimilarity: 0 });
    expect(more.cases).toHaveLength(5);
    expect(more.runbooks).toHaveLength(2);
  });

  it('drops everything below minSimilarity', async () => {
    const kb = await memoryKnowledge();
    const all = await retrieveSimilar(query, { ...kb, topK: 10, minSimilarity: 0 });
    const threshold = (all.cases[0].score + all.cases[1].score) / 2;
    const strict = await retrieveSimilar(query, { ...kb, topK: 10, minSimilarity: threshold });
    expect(strict.cases.map((c) => c.doc.id)).toEqual([all.cases[0].doc.id]);
    expect(strict.cases.every((c) => c.score >= threshold)).toBe(true);
    const none = await retrieveSimilar(query, { ...kb, topK: 10, minSimilarity: 0.99 });
    expect(none).toEqual({ cases: [], runbooks: [] });
  });

  it('filters cases by root-cause service, and drops runbooks written for another service', async () => {
    const kb = await memoryKnowledge();
    const redisRunbook = parseRunbook(
      'redis-bad-deploy.md',
      '---\nservice: redis-cache\nfault: bad-deploy\n---\nRoll back redis-cache config.',
    );
    await storeDocuments([redisRunbook], kb);
    const found = await retrieveSimilar(query, {
      ...kb,
      topK: 10,
      minSimilarity: 0,
      service: 'order-api',
      faultKind: 'bad-deploy',
    });
    expect(found.cases.map((c) => c.doc.id).sort()).toEqual([
      'case:inc-20260915T2200-order-api',
      'case:inc-20261104T0307-order-api',
    ]);
    expect(found.runbooks.map((r) => r.doc.id)).toEqual(['runbook:bad-deploy.md', 'runbook:datastore-saturation.md']);
    const forRedis = await retrieveSimilar(query, { ...kb, topK: 10, minSimilarity: 0, faultKind: 'bad-deploy' });
    expect(forRedis.runbooks.map((r) => r.doc.id)).toContain('runbook:redis-bad-deploy.md');
  });

  it('finds nothing for a query without words', async () => {
    const kb = await memoryKnowledge();
    expect(await retrieveSimilar(' ', { ...kb, topK: 3, minSimilarity: 0 })).toEqual({ cases: [], runbooks: [] });
  });

  it('never compares vectors of another embedder, even of the same size', async () => {
    const kb = await memoryKnowledge();
    const shared = new MemoryBlobStore();
    const hashed = new EmbeddedKnowledgeStore({ persistence: { blob: shared, key: 'kb.jsonl' }, vectorSpace: 'a' });
    await hashed.upsert(caseDocument(badDeployCase), (await kb.embedder.embed([query]))[0]);
    const other = new EmbeddedKnowledgeStore({ persistence: { blob: shared, key: 'kb.jsonl' }, vectorSpace: 'b' });
    expect(await other.search((await kb.embedder.embed([query]))[0], { limit: 5 })).toEqual([]);
    expect(await hashed.search((await kb.embedder.embed([query]))[0], { limit: 5 })).toHaveLength(1);
  });

  it('replaces a document upserted again under the same id', async () => {
    const kb = await memoryKnowledge();
    const store = kb.store as EmbeddedKnowledgeStore;
    const before = (await store.documents()).length;
    const updated = { ...caseDocument(badDeployCase), title: 'order-api bad-deploy (reopened)' };
    await storeDocuments([updated], kb);
    const docs = await store.documents();
    expect(docs).toHaveLength(before);
    expect(docs.find((d) => d.id === updated.id)?.title).toBe('order-api bad-deploy (reopened)');
  });

  it('rejects vectors whose size differs from the stored ones', async () => {
    const kb = await memoryKnowledge();
    await expect(kb.store.upsert(badDeployRunbook, new Float32Array(8).fill(0.1))).rejects.toThrow(
      /8 dimensions.*have 512/,
    );
    await expect(kb.store.search(new Float32Array(8), { limit: 1 })).rejects.toBeInstanceOf(KnowledgeStoreError);
  });
});

describe('embedded store persistence', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'sre-agent-knowledge-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const embedder = new HashedEmbedder();
  const query = incidentQueryText(openIncident, openDiagnosis);

  it('round-trips through a JSON Lines file, written atomically', async () => {
    const file = join(dir, 'nested', 'knowledge.jsonl');
    const first = new EmbeddedKnowledgeStore({ persistence: { file }, vectorSpace: embedder.name });
    await storeDocuments(allDocs(), { embedder, store: first });
    const lines = (await readFile(file, 'utf8')).trimEnd().split('\n');
    expect(lines).toHaveLength(7);
    expect(JSON.parse(lines[0])).toMatchObject({ space: embedder.name, dimensions: 512 });
    expect(await readdir(join(dir, 'nested'))).toEqual(['knowledge.jsonl']);

    const reopened = new EmbeddedKnowledgeStore({ persistence: { file }, vectorSpace: embedder.name });
    const [vector] = await embedder.embed([query]);
    const expected = await first.search(vector, { limit: 10 });
    const actual = await reopened.search(vector, { limit: 10 });
    expect(actual).toEqual(expected);
    expect(await reopened.documents()).toEqual(await first.documents());
    // Vectors survive exactly: the stored one scores 1 against a fresh embedding of the same text.
    const [runbookVector] = await embedder.embed([embeddingText(badDeployRunbook)]);
    const [hit] = await reopened.search(runbookVector, { limit: 1, kind: 'runbook' });
    expect(hit.doc.id).toBe('runbook:bad-deploy.md');
    expect(hit.score).toBeCloseTo(1, 6);
  });

  it('round-trips through a BlobStore object', async () => {
    const blob = new MemoryBlobStore();
    const persistence = { blob, key: 'knowledge/knowledge.jsonl' };
    const first = new EmbeddedKnowledgeStore({ persistence, vectorSpace: embedder.name });
    const put = jest.spyOn(blob, 'put');
    await storeDocuments(allDocs(), { embedder, store: first });
    // Seven upserts made together: the first write starts at once, the other six are folded into the next.
    expect(put).toHaveBeenCalledTimes(2);
    const body = Buffer.from(await blob.get('knowledge/knowledge.jsonl')).toString('utf8');
    expect(body.trimEnd().split('\n')).toHaveLength(7);

    const reopened = new EmbeddedKnowledgeStore({ persistence, vectorSpace: embedder.name });
    const found = await retrieveSimilar(query, { embedder, store: reopened, topK: 5, minSimilarity: 0 });
    expect(found.cases).toHaveLength(5);
    expect(found.cases.find((c) => c.doc.id === 'case:inc-20261104T0307-order-api')?.doc).toEqual(
      caseDocument(badDeployCase),
    );
    expect(found.runbooks.map((r) => r.doc)).toEqual(expect.arrayContaining([badDeployRunbook, saturationRunbook]));
  });

  it('starts empty when nothing was persisted yet', async () => {
    const store = new EmbeddedKnowledgeStore({
      persistence: { file: join(dir, 'absent.jsonl') },
      vectorSpace: embedder.name,
    });
    expect(await store.search(new Float32Array(512).fill(0.1), { limit: 3 })).toEqual([]);
    const blobStore = new EmbeddedKnowledgeStore({
      persistence: { blob: new MemoryBlobStore(), key: 'absent' },
      vectorSpace: embedder.name,
    });
    expect(await blobStore.documents()).toEqual([]);
  });

  it('keeps every upsert made concurrently', async () => {
    const file = join(dir, 'knowledge.jsonl');
    const store = new EmbeddedKnowledgeStore({ persistence: { file }, vectorSpace: embedder.name });
    const docs = allDocs();
    const vectors = await embedder.embed(docs.map((d) => d.text));
    await Promise.all(docs.map((doc, i) => store.upsert(doc, vectors[i])));
    const reopened = new EmbeddedKnowledgeStore({ persistence: { file }, vectorSpace: embedder.name });
    expect((await reopened.documents()).map((d) => d.id)).toEqual(docs.map((d) => d.id).sort());
  });

  it('refuses a damaged file, naming the line, rather than dropping what it cannot read', async () => {
    const file = join(dir, 'knowledge.jsonl');
    const store = new EmbeddedKnowledgeStore({ persistence: { file }, vectorSpace: embedder.name });
    await storeDocuments([badDeployRunbook], { embedder, store });
    await writeFile(file, `${await readFile(file, 'utf8')}{"doc":{"id":"x"}\n`);
    const reopened = new EmbeddedKnowledgeStore({ persistence: { file }, vectorSpace: embedder.name });
    await expect(reopened.documents()).rejects.toThrow(new RegExp(`${file}: line 2: not JSON`));
    await writeFile(file, '{"doc":{"id":"x","kind":"case","title":"t","text":"t"},"space":"s","dimensions":2}\n');
    const again = new EmbeddedKnowledgeStore({ persistence: { file }, vectorSpace: embedder.name });
    await expect(again.documents()).rejects.toThrow(/line 1: vector is invalid/);
  });

  it('reports a failed write and keeps the document for the next one', async () => {
    const failing = new MemoryBlobStore();
    const put = jest.spyOn(failing, 'put').mockRejectedValueOnce(new Error('S3 is down'));
    const store = new EmbeddedKnowledgeStore({ persistence: { blob: failing, key: 'kb' }, vectorSpace: 'hashed' });
    const [vector] = await embedder.embed(['order-api bad deploy']);
    await expect(store.upsert(badDeployRunbook, vector)).rejects.toThrow(
      'knowledge store blob kb: write failed: S3 is down',
    );
    await store.upsert(saturationRunbook, vector);
    expect(put).toHaveBeenCalledTimes(2);
    const body = Buffer.from(await failing.get('kb')).toString('utf8');
    expect(body).toContain('runbook:bad-deploy.md');
    expect(body).toContain('runbook:datastore-saturation.md');
  });
});

describe('cosine', () => {
  it('is 1 for the same direction, -1 for the opposite, 0 against zero, and refuses mixed sizes', () => {
    const a = Float32Array.from([1, 2, 3]);
    expect(cosine(a, Float32Array.from([2, 4, 6]))).toBeCloseTo(1, 6);
    expect(cosine(a, Float32Array.from([-1, -2, -3]))).toBeCloseTo(-1, 6);
    expect(cosine(a, new Float32Array(3))).toBe(0);
    expect(() => cosine(a, new Float32Array(2))).toThrow(/3 and 2/);
  });
});

describe('createKnowledgeBase', () => {
  it('defaults to hashed embeddings in an embedded store', async () => {
    const kb = await createKnowledgeBase(knowledgeConfigSchema.parse({}));
    expect(kb.embedder).toBeInstanceOf(HashedEmbedder);
    expect(kb.store).toBeInstanceOf(EmbeddedKnowledgeStore);
    expect((kb.store as EmbeddedKnowledgeStore).location).toBe('memory');
  });

  it('persists the embedded store where the caller says', async () => {
    const blob = new MemoryBlobStore();
    const kb = await createKnowledgeBase(knowledgeConfigSchema.parse({}), {
      embedded: { blob, key: 'knowledge/kb.jsonl' },
    });
    await storeDocuments([badDeployRunbook], kb);
    expect(Buffer.from(await blob.get('knowledge/kb.jsonl')).toString('utf8')).toContain('hashed-v1-512');
  });

  it('uses Titan and Qdrant when configured, reading the API key from its secret', async () => {
    const secrets: string[] = [];
    const kb = await createKnowledgeBase(
      knowledgeConfigSchema.parse({
        store: 'qdrant',
        qdrant: { url: 'https://qdrant.example:6333', apiKeySecret: 'sre-agent/qdrant' },
        embeddings: 'bedrock-titan',
      }),
      {
        bedrock: new BedrockRuntimeClient({ region: 'us-east-1' }),
        readSecret: async (name) => {
          secrets.push(name);
          return 'qdrant-key\n';
        },
      },
    );
    expect(kb.embedder).toBeInstanceOf(TitanEmbedder);
    expect(kb.embedder.name).toBe('bedrock:amazon.titan-embed-text-v2:0:512');
    expect(kb.store).toBeInstanceOf(QdrantKnowledgeStore);
    expect(secrets).toEqual(['sre-agent/qdrant']);
  });

  it('says so when a Qdrant API key secret cannot be read', async () => {
    const config = knowledgeConfigSchema.parse({
      store: 'qdrant',
      qdrant: { url: 'https://qdrant.example:6333', apiKeySecret: 'sre-agent/qdrant' },
    });
    await expect(createKnowledgeBase(config)).rejects.toBeInstanceOf(KnowledgeConfigError);
  });
});
