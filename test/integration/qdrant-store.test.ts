// Integration tests of the Qdrant knowledge store against a loopback server speaking Qdrant's REST API.
//
// The real @qdrant/js-client-rest talks to a server that implements the calls it makes (collection get/create,
// payload index, upsert, query) with Qdrant's response envelope ({result, status: 'ok', time}) and error body
// ({status: {error}, time}).

import { createServer, type IncomingHttpHeaders, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { INDEXED_FIELDS, pointIdOf, QdrantKnowledgeStore } from '../../lambdas/adapters/knowledge/qdrant-store';
import { HashedEmbedder } from '../../lambdas/core/diagnosis/hashed-embedder';
import {
  type KnowledgeDocument,
  KnowledgeStoreError,
  retrieveSimilar,
  storeDocuments,
} from '../../lambdas/core/diagnosis/knowledge';

const COLLECTION = 'sre-agent-cases';
const API_KEY = 'qdrant-loopback-key';

interface Received {
  readonly method: string;
  readonly path: string;
  readonly query: URLSearchParams;
  readonly headers: IncomingHttpHeaders;
  readonly body: Record<string, unknown>;
}

interface FakePoint {
  readonly vector: number[];
  readonly payload: Record<string, unknown>;
  readonly version: number;
}

interface FakeCollection {
  readonly size: number;
  readonly distance: string;
  readonly indexes: Map<string, string>;
  readonly points: Map<string, FakePoint>;
}

interface FakeQdrant {
  readonly url: string;
  readonly received: Received[];
  readonly collections: Map<string, FakeCollection>;
  /** Answers the next request itself instead of the fake (to inject failures); 'never' leaves it hanging. */
  intercept?: (request: Received) => { status: number; body: unknown } | 'never' | undefined;
  close(): Promise<void>;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

const ok = (result: unknown) => ({ status: 200, body: { result, status: 'ok', time: 0.000_4 } });
const fail = (status: number, error: string) => ({ status, body: { status: { error }, time: 0.000_1 } });

function cosine(a: number[], b: number[]): number {
  let dot = 0;
  let na = 0;
  let nb = 0;
  for (let i = 0; i < a.length; i++) {
    dot += a[i] * b[i];
    na += a[i] * a[i];
    nb += b[i] * b[i];
  }
  return na === 0 || nb === 0 ? 0 : dot / Math.sqrt(na * nb);
}

type Condition = { key: string; match: { value: unknown } };

function collectionInfo(c: FakeCollection) {
  return {
    status: 'green',
    optimizer_status: 'ok',
    indexed_vectors_count: 0,
    points_count: c.points.size,
    segments_count: 1,
    config: {
      params: {
        vectors: { size: c.size, distance: c.distance },
        shard_number: 1,
        replication_factor: 1,
        write_consistency_factor: 1,
        on_disk_payload: true,
      },
      hnsw_config: { m: 16, ef_construct: 100, full_scan_threshold: 10000, max_indexing_threads: 0, on_disk: false },
      optimizer_config: {
        deleted_threshold: 0.2,
        vacuum_min_vector_number: 1000,
        default_segment_number: 0,
        max_segment_size: null,
        memmap_threshold: null,
        indexing_threshold: 20000,
        flush_interval_sec: 5,
        max_optimization_threads: null,
      },
      wal_config: { wal_capacity_mb: 32, wal_segments_ahead: 0 },
      quantization_config: null,
    },
    payload_schema: Object.fromEntries(
      [...c.indexes].map(([field, type]) => [field, { data_type: type, params: { type }, points: c.points.size }]),
    ),
  };
}

/** Routes one request the way Qdrant does for the endpoints the store uses. */
function route(fake: FakeQdrant, request: Received): { status: number; body: unknown } {
  const match = /^\/collections\/([^/]+)(\/.*)?$/.exec(request.path);
  if (!match) return fail(404, `Not found: ${request.path}`);
  const name = decodeURIComponent(match[1]);
  const rest = match[2] ?? '';
  const collection = fake.collections.get(name);
  const missing = () => fail(404, `Not found: Collection \`${name}\` doesn't exist!`);

  if (rest === '' && request.method === 'GET') return collection ? ok(collectionInfo(collection)) : missing();
  if (rest === '' && request.method === 'PUT') {
    if (collection) return fail(409, `Wrong input: Collection \`${name}\` already exists!`);
    const vectors = request.body.vectors as { size?: unknown; distance?: unknown } | undefined;
    if (
      typeof vectors?.size !== 'number' ||
      !['Cosine', 'Dot', 'Euclid', 'Manhattan'].includes(String(vectors.distance))
    ) {
      return fail(400, 'Format error in JSON body: missing field `vectors`');
    }
    fake.collections.set(name, {
      size: vectors.size,
      distance: String(vectors.distance),
      indexes: new Map(),
      points: new Map(),
    });
    return ok(true);
  }
  if (!collection) return missing();
  if (rest === '/index' && request.method === 'PUT') {
    collection.indexes.set(String(request.body.field_name), String(request.body.field_schema));
    return ok({ operation_id: collection.indexes.size, status: 'completed' });
  }
  if (rest === '/points' && request.method === 'PUT') {
    const points = request.body.points as { id: unknown; vector: number[]; payload: Record<string, unknown> }[];
    for (const point of points) {
      if (typeof point.id !== 'string' || !UUID.test(point.id)) {
        return fail(
          400,
          `Format error in JSON body: value ${String(point.id)} is not a valid point ID, valid values are either an unsigned integer or a UUID`,
        );
      }
      if (point.vector.length !== collection.size) {
        return fail(
          400,
          `Wrong input: Vector dimension error: expected dim: ${collection.size}, got ${point.vector.length}`,
        );
      }
    }
    for (const point of points) {
      const version = (collection.points.get(point.id as string)?.version ?? 0) + 1;
      collection.points.set(point.id as string, { vector: point.vector, payload: point.payload, version });
    }
    return ok({ operation_id: 100 + collection.points.size, status: 'completed' });
  }
  if (rest === '/points/query' && request.method === 'POST') {
    const query = request.body.query as number[];
    if (query.length !== collection.size) {
      return fail(400, `Wrong input: Vector dimension error: expected dim: ${collection.size}, got ${query.length}`);
    }
    const filter = request.body.filter as { must?: Condition[] } | undefined;
    const must = filter?.must ?? [];
    const hits = [...collection.points.entries()]
      .filter(([, p]) => must.every((c) => p.payload[c.key] === c.match.value))
      .map(([id, p]) => ({
        id,
        version: p.version,
        score: cosine(query, p.vector),
        ...(request.body.with_payload === true ? { payload: p.payload } : {}),
      }))
      .sort((a, b) => b.score - a.score)
      .slice(0, Number(request.body.limit ?? 10));
    return ok({ points: hits });
  }
  return fail(404, `Not found: ${request.method} ${request.path}`);
}

async function startQdrant(): Promise<FakeQdrant> {
  const send = (res: ServerResponse, status: number, body: unknown) => {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  };
  const fake: FakeQdrant = {
    url: '',
    received: [],
    collections: new Map(),
    close: async () => undefined,
  };
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://127.0.0.1');
      const text = Buffer.concat(chunks).toString('utf8');
      const request: Received = {
        method: req.method ?? '',
        path: url.pathname,
        query: url.searchParams,
        headers: req.headers,
        body: text ? (JSON.parse(text) as Record<string, unknown>) : {},
      };
      fake.received.push(request);
      if (request.headers['api-key'] !== API_KEY) {
        send(res, 401, { status: { error: 'Must provide an API key or an Authorization bearer token' }, time: 0 });
        return;
      }
      const injected = fake.intercept?.(request);
      if (injected === 'never') return;
      const answer = injected ?? route(fake, request);
      send(res, answer.status, answer.body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return Object.assign(fake, {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  });
}

const embedder = new HashedEmbedder();

const docs: KnowledgeDocument[] = [
  {
    id: 'case:inc-20261104T0307-order-api',
    kind: 'case',
    service: 'order-api',
    faultKind: 'bad-deploy',
    title: 'order-api bad-deploy (remediated)',
    text: 'Services: order-api, api-gateway\nSignals:\n- order-api error_ratio high 0.12 vs expected 0.002\nRoot cause: order-api bad-deploy\nEvidence:\n- deployed 2.14.0 4 min before onset\nResolution:\nOutcome: remediated',
    outcome: 'remediated',
    actions: ['rollback'],
    closedAt: '2026-11-04T03:40:00Z',
  },
  {
    id: 'case:inc-20261020T1410-mysql-main',
    kind: 'case',
    service: 'mysql-main',
    faultKind: 'datastore-saturation',
    title: 'mysql-main datastore-saturation (diagnosis-only)',
    text: 'Services: mysql-main, order-api\nSignals:\n- mysql-main db_connections high 995 vs expected 210\nRoot cause: mysql-main datastore-saturation\nResolution:\nOutcome: diagnosis-only',
    outcome: 'diagnosis-only',
  },
  {
    id: 'runbook:bad-deploy.md',
    kind: 'runbook',
    faultKind: 'bad-deploy',
    title: 'Bad deploy on EKS',
    text: 'Roll back the deployment when errors follow a rollout.',
  },
];

const query =
  'Services: order-api\nSignals:\n- order-api error_ratio high 0.3 vs expected 0.003\nRoot cause: order-api bad-deploy\nEvidence:\n- deployed 2.15.0 3 min before onset';

let qdrant: FakeQdrant;
let warn: jest.SpyInstance;
beforeEach(async () => {
  qdrant = await startQdrant();
  // The client warns (console.warn) when an API key travels over plain HTTP, as it does to this loopback server.
  warn = jest.spyOn(console, 'warn').mockImplementation(() => undefined);
});
afterEach(async () => {
  warn.mockRestore();
  await qdrant.close();
});

const store = (overrides: Partial<ConstructorParameters<typeof QdrantKnowledgeStore>[0]> = {}) =>
  new QdrantKnowledgeStore({
    url: qdrant.url,
    collection: COLLECTION,
    apiKey: API_KEY,
    timeoutMs: 2_000,
    dimensions: embedder.dimensions,
    vectorSpace: embedder.name,
    ...overrides,
  });

const calls = () => qdrant.received.map((r) => `${r.method} ${r.path}${r.query.size > 0 ? `?${r.query}` : ''}`);

describe('QdrantKnowledgeStore', () => {
  it('creates the collection and its payload indexes on first use, then upserts with wait', async () => {
    const kb = { embedder, store: store() };
    await storeDocuments([docs[0]], kb);

    expect(calls()).toEqual([
      `GET /collections/${COLLECTION}`,
      `PUT /collections/${COLLECTION}`,
      ...INDEXED_FIELDS.map(() => `PUT /collections/${COLLECTION}/index?wait=true`),
      `PUT /collections/${COLLECTION}/points?wait=true`,
    ]);
    expect(qdrant.received.every((r) => r.headers['api-key'] === API_KEY)).toBe(true);
    const [, create, ...rest] = qdrant.received;
    expect(create.body).toEqual({ vectors: { size: 512, distance: 'Cosine' } });
    expect(rest.slice(0, INDEXED_FIELDS.length).map((r) => r.body)).toEqual([
      { field_name: 'kind', field_schema: 'keyword' },
      { field_name: 'service', field_schema: 'keyword' },
      { field_name: 'faultKind', field_schema: 'keyword' },
      { field_name: 'embedder', field_schema: 'keyword' },
    ]);

    const upsert = rest[INDEXED_FIELDS.length].body as {
      points: { id: string; vector: number[]; payload: Record<string, unknown> }[];
    };
    expect(upsert.points).toHaveLength(1);
    const [point] = upsert.points;
    expect(point.id).toMatch(UUID);
    expect(point.id).toBe(pointIdOf('case:inc-20261104T0307-order-api'));
    expect(point.vector).toHaveLength(512);
    const { id: _id, ...rest0 } = docs[0];
    expect(point.payload).toEqual({ ...rest0, documentId: docs[0].id, embedder: 'hashed-v1-512' });
  });

  it('searches with a must filter on vector space, kind and service, and maps payloads back to documents', async () => {
    const kb = { embedder, store: store() };
    await storeDocuments(docs, kb);
    qdrant.received.length = 0;

    const [vector] = await embedder.embed([query]);
    const hits = await kb.store.search(vector, { limit: 3, kind: 'case', service: 'order-api' });
    expect(calls()).toEqual([`POST /collections/${COLLECTION}/points/query`]);
    const body = qdrant.received[0].body;
    expect(body).toMatchObject({
      limit: 3,
      with_payload: true,
      filter: {
        must: [
          { key: 'embedder', match: { value: 'hashed-v1-512' } },
          { key: 'kind', match: { value: 'case' } },
          { key: 'service', match: { value: 'order-api' } },
        ],
      },
    });
    expect(body.query).toHaveLength(512);
    expect(hits).toHaveLength(1);
    expect(hits[0].doc).toEqual(docs[0]);
    expect(hits[0].score).toBeGreaterThan(0.5);
  });

  it('serves retrieveSimilar end to end, with the runbook for the fault kind', async () => {
    const kb = { embedder, store: store() };
    await storeDocuments(docs, kb);
    const found = await retrieveSimilar(query, { ...kb, topK: 2, minSimilarity: 0.5, faultKind: 'bad-deploy' });
    expect(found.cases.map((c) => c.doc.id)).toEqual(['case:inc-20261104T0307-order-api']);
    expect(found.runbooks.map((r) => r.doc.id)).toEqual(['runbook:bad-deploy.md']);
    const faultQuery = qdrant.received.find(
      (r) =>
        r.path.endsWith('/points/query') &&
        JSON.stringify(r.body.filter).includes('"key":"faultKind","match":{"value":"bad-deploy"}'),
    );
    expect(faultQuery?.body.limit).toBe(8);
  });

  it('replaces a point when the same document is upserted again: its id is derived from the document id', async () => {
    const s = store();
    const [vector] = await embedder.embed([docs[0].text]);
    await s.upsert(docs[0], vector);
    await s.upsert({ ...docs[0], title: 'order-api bad-deploy (reopened)' }, vector);
    const collection = qdrant.collections.get(COLLECTION)!;
    expect(collection.points.size).toBe(1);
    expect([...collection.points.values()][0]).toMatchObject({
      version: 2,
      payload: { title: 'order-api bad-deploy (reopened)' },
    });
    expect(pointIdOf('case:a')).toBe(pointIdOf('case:a'));
    expect(pointIdOf('case:a')).not.toBe(pointIdOf('case:b'));
    expect(pointIdOf('case:a')).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  });

  it('uses an existing collection, creating only the payload indexes it lacks, and prepares it once', async () => {
    qdrant.collections.set(COLLECTION, {
      size: 512,
      distance: 'Cosine',
      indexes: new Map([
        ['kind', 'keyword'],
        ['service', 'keyword'],
      ]),
      points: new Map(),
    });
    const s = store();
    const [vector] = await embedder.embed([query]);
    await s.search(vector, { limit: 1 });
    await s.search(vector, { limit: 1 });
    expect(calls()).toEqual([
      `GET /collections/${COLLECTION}`,
      `PUT /collections/${COLLECTION}/index?wait=true`,
      `PUT /collections/${COLLECTION}/index?wait=true`,
      `POST /collections/${COLLECTION}/points/query`,
      `POST /collections/${COLLECTION}/points/query`,
    ]);
    expect(qdrant.received.slice(1, 3).map((r) => r.body.field_name)).toEqual(['faultKind', 'embedder']);
  });

  it('carries on when another instance created the collection first', async () => {
    let gets = 0;
    qdrant.intercept = (request) => {
      if (request.method === 'GET' && gets++ === 0) {
        // Between this answer and our create, someone else creates it.
        qdrant.collections.set(COLLECTION, { size: 512, distance: 'Cosine', indexes: new Map(), points: new Map() });
        return fail(404, `Not found: Collection \`${COLLECTION}\` doesn't exist!`);
      }
      return undefined;
    };
    const s = store();
    await s.upsert(docs[2], (await embedder.embed([docs[2].text]))[0]);
    expect(calls().slice(0, 3)).toEqual([
      `GET /collections/${COLLECTION}`,
      `PUT /collections/${COLLECTION}`,
      `GET /collections/${COLLECTION}`,
    ]);
    expect(qdrant.collections.get(COLLECTION)?.points.size).toBe(1);
  });

  it('refuses a collection made for other vectors, naming it and both sizes', async () => {
    qdrant.collections.set(COLLECTION, { size: 1024, distance: 'Cosine', indexes: new Map(), points: new Map() });
    const s = store();
    const failure = s.upsert(docs[0], (await embedder.embed([docs[0].text]))[0]);
    await expect(failure).rejects.toBeInstanceOf(KnowledgeStoreError);
    await expect(failure).rejects.toThrow(
      `qdrant collection "${COLLECTION}": holds 1024-dimensional Cosine vectors; the embedder makes 512-dimensional`,
    );
    expect(calls()).toEqual([`GET /collections/${COLLECTION}`]);
  });

  it("reports Qdrant's error for a wrong vector size with the collection and the operation", async () => {
    const s = store();
    await expect(s.upsert(docs[0], Float32Array.from([0.1, 0.2, 0.3]))).rejects.toThrow(
      `qdrant collection "${COLLECTION}": upsert case:inc-20261104T0307-order-api failed: HTTP 400 Bad Request: ` +
        'Wrong input: Vector dimension error: expected dim: 512, got 3',
    );
    await expect(s.search(Float32Array.from([1, 0]), { limit: 1 })).rejects.toThrow(
      /search failed: HTTP 400 Bad Request: Wrong input: Vector dimension error: expected dim: 512, got 2/,
    );
  });

  it('reports a rejected API key and a cluster that does not answer in time', async () => {
    const wrongKey = store({ apiKey: 'not-the-key' });
    await expect(wrongKey.search(new Float32Array(512), { limit: 1 })).rejects.toThrow(
      `qdrant collection "${COLLECTION}": get collection failed: HTTP 401 Unauthorized: Must provide an API key`,
    );

    qdrant.intercept = () => 'never';
    const slow = store({ timeoutMs: 150 });
    const started = Date.now();
    await expect(slow.search(new Float32Array(512), { limit: 1 })).rejects.toThrow(
      `qdrant collection "${COLLECTION}": get collection failed: no answer within 150 ms`,
    );
    expect(Date.now() - started).toBeLessThan(2_000);
  });

  it('says why when the cluster cannot be reached', async () => {
    const closed = await startQdrant();
    await closed.close();
    const unreachable = store({ url: closed.url });
    await expect(unreachable.search(new Float32Array(512), { limit: 1 })).rejects.toThrow(
      new RegExp(`qdrant collection "${COLLECTION}": get collection failed: fetch failed \\(.*ECONNREFUSED`),
    );
  });

  it('retries preparing the collection after a failure', async () => {
    qdrant.intercept = () => fail(500, 'Service internal error: disk full');
    const s = store();
    const [vector] = await embedder.embed([query]);
    await expect(s.search(vector, { limit: 1 })).rejects.toThrow(/HTTP 500.*disk full/);
    qdrant.intercept = undefined;
    await expect(s.search(vector, { limit: 1 })).resolves.toEqual([]);
  });

  it('refuses a point whose payload is not a knowledge document', async () => {
    qdrant.collections.set(COLLECTION, {
      size: 512,
      distance: 'Cosine',
      indexes: new Map(INDEXED_FIELDS.map((f) => [f, 'keyword'])),
      points: new Map([
        [
          pointIdOf('foreign'),
          {
            vector: new Array<number>(512).fill(0.1),
            payload: { embedder: 'hashed-v1-512', colour: 'red' },
            version: 1,
          },
        ],
      ]),
    });
    await expect(store().search(new Float32Array(512).fill(0.1), { limit: 1 })).rejects.toThrow(
      `qdrant collection "${COLLECTION}": search: point ${pointIdOf('foreign')} has an invalid payload`,
    );
  });
});
