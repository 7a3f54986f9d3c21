// Knowledge store kept by the agent itself: in memory, brute-force cosine search, persisted as JSON Lines.
//
// The lines go to a file (local runs, replays) or to one object of a BlobStore (S3 on small AWS installs). A few
// thousand cases and runbooks take milliseconds to scan, which is why there is no index.

import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { z } from 'zod';
import {
  cosine,
  type KnowledgeDocument,
  type KnowledgeSearch,
  type KnowledgeStore,
  KnowledgeStoreError,
  knowledgeDocumentSchema,
  type ScoredDocument,
} from '../../core/diagnosis/knowledge';
import { BlobNotFoundError, type BlobStore } from '../blob/blob-store';

/** Where the lines are kept: a file path, a key in a BlobStore, or nowhere (memory only: tests, throwaway runs). */
export type EmbeddedPersistence =
  | { readonly file: string }
  | { readonly blob: BlobStore; readonly key: string }
  | { readonly memory: true };

export interface EmbeddedStoreOptions {
  readonly persistence: EmbeddedPersistence;
  /** The embedder's name: records of another vector space are kept but never compared. */
  readonly vectorSpace: string;
}

interface StoredRecord {
  readonly doc: KnowledgeDocument;
  readonly vector: Float32Array;
  readonly space: string;
}

// Vectors are stored as base64 of their little-endian float32 bytes: exact, and about half the size of JSON numbers.
const lineSchema = z.object({
  doc: knowledgeDocumentSchema,
  space: z.string().min(1),
  dimensions: z.number().int().positive(),
  vector: z.string(),
});

function encodeVector(vector: Float32Array): string {
  const bytes = Buffer.alloc(vector.length * 4);
  for (const [i, x] of vector.entries()) bytes.writeFloatLE(x, i * 4);
  return bytes.toString('base64');
}

function decodeVector(base64: string, dimensions: number): Float32Array | undefined {
  const bytes = Buffer.from(base64, 'base64');
  if (bytes.length !== dimensions * 4) return undefined;
  const vector = new Float32Array(dimensions);
  for (let i = 0; i < dimensions; i++) vector[i] = bytes.readFloatLE(i * 4);
  return vector;
}

// By shape, not instanceof: errors raised by Node's own modules may come from another realm (a VM context).
const isMissingFile = (error: unknown): boolean =>
  typeof error === 'object' && error !== null && (error as NodeJS.ErrnoException).code === 'ENOENT';

const messageOf = (error: unknown): string =>
  typeof error === 'object' && error !== null && typeof (error as Error).message === 'string'
    ? (error as Error).message
    : String(error);

export class EmbeddedKnowledgeStore implements KnowledgeStore {
  private records?: Map<string, StoredRecord>;
  private loading?: Promise<Map<string, StoredRecord>>;
  private writing?: Promise<void>;
  private dirty = false;

  constructor(private readonly options: EmbeddedStoreOptions) {}

  /** Where the store persists, for messages. */
  get location(): string {
    const p = this.options.persistence;
    return 'file' in p ? p.file : 'key' in p ? `blob ${p.key}` : 'memory';
  }

  async upsert(doc: KnowledgeDocument, vector: Float32Array): Promise<void> {
    const parsed = knowledgeDocumentSchema.safeParse(doc);
    if (!parsed.success) {
      throw new KnowledgeStoreError(`knowledge store ${this.location}: upsert ${doc.id}: invalid document`);
    }
    if (vector.length === 0 || !vector.every(Number.isFinite)) {
      throw new KnowledgeStoreError(`knowledge store ${this.location}: upsert ${doc.id}: vector must be finite`);
    }
    const records = await this.load();
    const dimensions = this.dimensionsOf(records);
    if (dimensions !== undefined && dimensions !== vector.length) {
      throw new KnowledgeStoreError(
        `knowledge store ${this.location}: upsert ${doc.id}: vector has ${vector.length} dimensions, ` +
          `the ${this.options.vectorSpace} vectors stored have ${dimensions}`,
      );
    }
    records.set(doc.id, { doc: parsed.data, vector: Float32Array.from(vector), space: this.options.vectorSpace });
    await this.flush();
  }

  async search(vector: Float32Array, options: KnowledgeSearch): Promise<ScoredDocument[]> {
    const records = await this.load();
    const dimensions = this.dimensionsOf(records);
    if (dimensions !== undefined && dimensions !== vector.length) {
      throw new KnowledgeStoreError(
        `knowledge store ${this.location}: search: query vector has ${vector.length} dimensions, ` +
          `the ${this.options.vectorSpace} vectors stored have ${dimensions}`,
      );
    }
    const hits: ScoredDocument[] = [];
    for (const record of records.values()) {
      if (record.space !== this.options.vectorSpace) continue;
      if (options.kind !== undefined && record.doc.kind !== options.kind) continue;
      if (options.service !== undefined && record.doc.service !== options.service) continue;
      if (options.faultKind !== undefined && record.doc.faultKind !== options.faultKind) continue;
      hits.push({ doc: record.doc, score: cosine(vector, record.vector) });
    }
    return hits
      .sort((a, b) => b.score - a.score || a.doc.id.localeCompare(b.doc.id))
      .slice(0, Math.max(0, options.limit));
  }

  /** Every document of this store's vector space, in id order (for listing and export). */
  async documents(): Promise<KnowledgeDocument[]> {
    const records = await this.load();
    return [...records.values()]
      .filter((r) => r.space === this.options.vectorSpace)
      .map((r) => r.doc)
      .sort((a, b) => a.id.localeCompare(b.id));
  }

  private dimensionsOf(records: Map<string, StoredRecord>): number | undefined {
    for (const record of records.values()) if (record.space === this.options.vectorSpace) return record.vector.length;
    return undefined;
  }

  /** Reads the persisted lines once, on first use; a failed read is retried by the next call. */
  private load(): Promise<Map<string, StoredRecord>> {
    if (this.records) return Promise.resolve(this.records);
    if (!this.loading) {
      this.loading = this.read()
        .then((records) => {
          this.records = records;
          return records;
        })
        .finally(() => {
          this.loading = undefined;
        });
    }
    return this.loading;
  }

  private async read(): Promise<Map<string, StoredRecord>> {
    const p = this.options.persistence;
    let text: string;
    try {
      if ('file' in p) text = await readFile(p.file, 'utf8');
      else if ('key' in p) text = Buffer.from(await p.blob.get(p.key)).toString('utf8');
      else return new Map();
    } catch (error) {
      if (isMissingFile(error) || error instanceof BlobNotFoundError) return new Map();
      throw new KnowledgeStoreError(`knowledge store ${this.location}: load failed: ${messageOf(error)}`, {
        cause: error,
      });
    }
    return this.parse(text);
  }

  // A line that does not parse is an error, not something to skip: the next write would drop it for good.
  private parse(text: string): Map<string, StoredRecord> {
    const records = new Map<string, StoredRecord>();
    for (const [index, line] of text.split('\n').entries()) {
      if (line.trim() === '') continue;
      const where = `knowledge store ${this.location}: line ${index + 1}`;
      let json: unknown;
      try {
        json = JSON.parse(line);
      } catch {
        throw new KnowledgeStoreError(`${where}: not JSON`);
      }
      const parsed = lineSchema.safeParse(json);
      if (!parsed.success) {
        throw new KnowledgeStoreError(`${where}: ${parsed.error.issues[0]?.path.join('.') || 'record'} is invalid`);
      }
      const vector = decodeVector(parsed.data.vector, parsed.data.dimensions);
      if (!vector) throw new KnowledgeStoreError(`${where}: vector is not ${parsed.data.dimensions} float32 values`);
      records.set(parsed.data.doc.id, { doc: parsed.data.doc, vector, space: parsed.data.space });
    }
    return records;
  }

  private serialise(): string {
    const lines = [...(this.records?.values() ?? [])]
      .sort((a, b) => a.doc.id.localeCompare(b.doc.id))
      .map((r) =>
        JSON.stringify({ doc: r.doc, space: r.space, dimensions: r.vector.length, vector: encodeVector(r.vector) }),
      );
    return lines.length > 0 ? `${lines.join('\n')}\n` : '';
  }

  /**
   * Writes the whole store, one write at a time: an upsert made while a write is running is picked up by the next
   * one, so concurrent upserts cost at most two writes and the last write always holds every upsert before it.
   * Across processes the last writer wins; cases close rarely enough for that to be acceptable on small installs.
   */
  private async flush(): Promise<void> {
    this.dirty = true;
    while (this.dirty) {
      if (this.writing) {
        await this.writing;
        continue;
      }
      this.dirty = false;
      this.writing = this.write().finally(() => {
        this.writing = undefined;
      });
      await this.writing;
    }
  }

  private async write(): Promise<void> {
    const p = this.options.persistence;
    if ('memory' in p) return;
    const body = this.serialise();
    try {
      if ('key' in p) {
        await p.blob.put(p.key, Buffer.from(body, 'utf8'));
        return;
      }
      // Write then rename: a reader (or a crash) sees the old file or the new one, never half of one.
      await mkdir(dirname(p.file), { recursive: true });
      const temp = `${p.file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
      try {
        await writeFile(temp, body, { encoding: 'utf8', mode: 0o600 });
        await rename(temp, p.file);
      } catch (error) {
        await rm(temp, { force: true });
        throw error;
      }
    } catch (error) {
      this.dirty = true;
      throw new KnowledgeStoreError(`knowledge store ${this.location}: write failed: ${messageOf(error)}`, {
        cause: error,
      });
    }
  }
}
