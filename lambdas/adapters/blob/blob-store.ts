// Byte objects by key: S3 on AWS, memory in the local runtime. Used for tick snapshots and scorer state,
// which outgrow workflow payloads (256 KB) and DynamoDB items (400 KB) at production series counts.

export interface BlobStore {
  put(key: string, body: Uint8Array): Promise<void>;
  /** Throws BlobNotFoundError when absent. */
  get(key: string): Promise<Uint8Array>;
}

export class BlobNotFoundError extends Error {
  override readonly name = 'BlobNotFoundError';
  constructor(readonly key: string) {
    super(`no object at "${key}"`);
  }
}

export class MemoryBlobStore implements BlobStore {
  private readonly objects = new Map<string, Uint8Array>();

  async put(key: string, body: Uint8Array): Promise<void> {
    this.objects.set(key, body.slice());
  }

  async get(key: string): Promise<Uint8Array> {
    const body = this.objects.get(key);
    if (!body) throw new BlobNotFoundError(key);
    return body;
  }
}
