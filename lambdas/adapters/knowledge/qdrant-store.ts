// Knowledge store on a Qdrant cluster (self-hosted or Qdrant Cloud) through @qdrant/js-client-rest.
//
// One collection of cosine-distance vectors whose payload is the document, with keyword indexes on the fields
// searches filter by. The collection is created on first use if it does not exist, and checked against the embedder
// if it does.

import { createHash } from 'node:crypto';
import { QdrantClient, QdrantClientTimeoutError, type Schemas } from '@qdrant/js-client-rest';
import { z } from 'zod';
import {
  type KnowledgeDocument,
  type KnowledgeSearch,
  type KnowledgeStore,
  KnowledgeStoreError,
  knowledgeDocumentSchema,
  type ScoredDocument,
} from '../../core/diagnosis/knowledge';

export interface QdrantStoreSettings {
  readonly url: string;
  readonly collection: string;
  /** Qdrant Cloud's API key; none for a private cluster. */
  readonly apiKey?: string;
  /** Per request. */
  readonly timeoutMs: number;
  /** The embedder's vector size: the collection is created with it, and an existing one must match it. */
  readonly dimensions: number;
  /** The embedder's name: kept in each point's payload and filtered on, so vector spaces never mix. */
  readonly vectorSpace: string;
  /** A client to share; otherwise one is made from url, apiKey and timeoutMs. */
  readonly client?: QdrantClient;
}

/** Payload fields searches filter on; Qdrant filters unindexed fields too, but by scanning. */
export const INDEXED_FIELDS = ['kind', 'service', 'faultKind', 'embedder'] as const;

// Fixed for this project: point ids derived from it are the same on every run, so an upsert replaces the point.
const POINT_ID_NAMESPACE = '16497f8a-b229-44c0-995c-56c24e021db9';

/**
 * The point id of a document: a name-based (version 5) UUID of its id. Qdrant only takes unsigned integers and
 * UUIDs as point ids, and a deterministic one is what makes a second upsert of a document replace the first.
 */
export function pointIdOf(documentId: string): string {
  const namespace = Buffer.from(POINT_ID_NAMESPACE.replace(/-/g, ''), 'hex');
  const bytes = createHash('sha1').update(namespace).update(documentId, 'utf8').digest().subarray(0, 16);
  bytes[6] = (bytes[6] & 0x0f) | 0x50;
  bytes[8] = (bytes[8] & 0x3f) | 0x80;
  const hex = bytes.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

// The payload is the document with its id renamed (a payload `id` would read like the point id) and the space added.
const payloadSchema = knowledgeDocumentSchema.omit({ id: true }).extend({ documentId: z.string().min(1) });

function toPayload(doc: KnowledgeDocument, vectorSpace: string): Record<string, unknown> {
  const { id, ...rest } = doc;
  return { ...rest, documentId: id, embedder: vectorSpace };
}

const vectorParamsSchema = z.looseObject({ size: z.number(), distance: z.string() });

/** What the REST client throws for a non-2xx answer: the status, and the body Qdrant sent. */
interface QdrantApiError {
  readonly status: number;
  readonly statusText?: string;
  readonly data?: unknown;
}

// Errors are recognised by shape: the abort error comes from Node's fetch, which may belong to another realm (a VM
// context) where instanceof Error is false, and the client then passes it on without turning it into its own.
const isApiError = (error: unknown): error is QdrantApiError =>
  typeof error === 'object' && error !== null && typeof (error as Partial<QdrantApiError>).status === 'number';

const nameOf = (error: unknown): string | undefined =>
  typeof error === 'object' && error !== null ? (error as { name?: string }).name : undefined;

const messageOf = (error: unknown): string =>
  typeof error === 'object' && error !== null && typeof (error as Error).message === 'string'
    ? (error as Error).message
    : String(error);

const qdrantErrorBody = z.object({ status: z.object({ error: z.string() }) });

export class QdrantKnowledgeStore implements KnowledgeStore {
  private readonly client: QdrantClient;
  private ready?: Promise<void>;

  constructor(private readonly settings: QdrantStoreSettings) {
    this.client =
      settings.client ??
      new QdrantClient({
        url: settings.url,
        ...(settings.apiKey ? { apiKey: settings.apiKey } : {}),
        timeout: settings.timeoutMs,
        // The check is a fire-and-forget request on every cold start that reports through console.warn; a version
        // the client cannot talk to shows up as a failed call with Qdrant's own message instead.
        checkCompatibility: false,
      });
  }

  async upsert(doc: KnowledgeDocument, vector: Float32Array): Promise<void> {
    await this.ensureCollection();
    await this.call(`upsert ${doc.id}`, () =>
      this.client.upsert(this.settings.collection, {
        wait: true,
        points: [
          { id: pointIdOf(doc.id), vector: Array.from(vector), payload: toPayload(doc, this.settings.vectorSpace) },
        ],
      }),
    );
  }

  async search(vector: Float32Array, options: KnowledgeSearch): Promise<ScoredDocument[]> {
    await this.ensureCollection();
    const must: Schemas['FieldCondition'][] = [{ key: 'embedder', match: { value: this.settings.vectorSpace } }];
    if (options.kind !== undefined) must.push({ key: 'kind', match: { value: options.kind } });
    if (options.service !== undefined) must.push({ key: 'service', match: { value: options.service } });
    if (options.faultKind !== undefined) must.push({ key: 'faultKind', match: { value: options.faultKind } });
    const answer = await this.call('search', () =>
      this.client.query(this.settings.collection, {
        query: Array.from(vector),
        filter: { must },
        limit: options.limit,
        with_payload: true,
      }),
    );
    return answer.points.map((point) => ({ doc: this.documentOf(point), score: point.score }));
  }

  private documentOf(point: Schemas['ScoredPoint']): KnowledgeDocument {
    const parsed = payloadSchema.safeParse(point.payload ?? {});
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw new KnowledgeStoreError(
        `qdrant collection "${this.settings.collection}": search: point ${point.id} has an invalid payload ` +
          `(${issue?.path.join('.') || 'payload'}: ${issue?.message})`,
      );
    }
    const { documentId, ...rest } = parsed.data;
    return knowledgeDocumentSchema.parse({ ...rest, id: documentId });
  }

  /** Once per store: a failure is not remembered, so the next call tries again. */
  private ensureCollection(): Promise<void> {
    if (!this.ready) {
      this.ready = this.prepareCollection().catch((error: unknown) => {
        this.ready = undefined;
        throw error;
      });
    }
    return this.ready;
  }

  private async prepareCollection(): Promise<void> {
    const { collection, dimensions } = this.settings;
    let info = await this.collectionInfo();
    if (!info) {
      try {
        await this.call('create collection', () =>
          this.client.createCollection(collection, { vectors: { size: dimensions, distance: 'Cosine' } }),
        );
      } catch (error) {
        // Another instance may have created it in the meantime; that is as good as creating it here.
        info = await this.collectionInfo();
        if (!info) throw error;
      }
    }
    if (info) this.checkVectors(info);
    const indexed = new Set(Object.keys(info?.payload_schema ?? {}));
    for (const field of INDEXED_FIELDS) {
      if (indexed.has(field)) continue;
      await this.call(`create payload index ${field}`, () =>
        this.client.createPayloadIndex(collection, { field_name: field, field_schema: 'keyword', wait: true }),
      );
    }
  }

  /** The collection's description, or undefined when it does not exist. */
  private async collectionInfo(): Promise<Schemas['CollectionInfo'] | undefined> {
    try {
      return await this.client.getCollection(this.settings.collection);
    } catch (error) {
      if (isApiError(error) && error.status === 404) return undefined;
      throw this.failure('get collection', error);
    }
  }

  private checkVectors(info: Schemas['CollectionInfo']): void {
    const { collection, dimensions } = this.settings;
    const vectors = vectorParamsSchema.safeParse(info.config.params.vectors);
    if (!vectors.success) {
      throw new KnowledgeStoreError(
        `qdrant collection "${collection}": has named vectors; the knowledge base needs one unnamed vector`,
      );
    }
    const { size, distance } = vectors.data;
    if (size !== dimensions || distance !== 'Cosine') {
      throw new KnowledgeStoreError(
        `qdrant collection "${collection}": holds ${size}-dimensional ${distance} vectors; the embedder makes ` +
          `${dimensions}-dimensional vectors compared by Cosine (use another collection or recreate this one)`,
      );
    }
  }

  private async call<T>(operation: string, run: () => Promise<T>): Promise<T> {
    try {
      return await run();
    } catch (error) {
      throw this.failure(operation, error);
    }
  }

  private failure(operation: string, error: unknown): KnowledgeStoreError {
    if (error instanceof KnowledgeStoreError) return error;
    const where = `qdrant collection "${this.settings.collection}": ${operation} failed`;
    let detail: string;
    const name = nameOf(error);
    if (error instanceof QdrantClientTimeoutError || name === 'AbortError' || name === 'TimeoutError') {
      detail = `no answer within ${this.settings.timeoutMs} ms`;
    } else if (isApiError(error)) {
      const body = qdrantErrorBody.safeParse(error.data);
      detail = `HTTP ${error.status}${error.statusText ? ` ${error.statusText}` : ''}`;
      if (body.success) detail += `: ${body.data.status.error}`;
    } else {
      // fetch failures say little ("fetch failed"); the cause says what (ECONNREFUSED, a DNS error).
      const cause = (error as { cause?: unknown } | null)?.cause;
      detail = `${messageOf(error)}${cause === undefined ? '' : ` (${messageOf(cause)})`}`;
    }
    return new KnowledgeStoreError(`${where}: ${detail}`, { cause: error });
  }
}
