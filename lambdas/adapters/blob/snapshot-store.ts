// SnapshotStore over a BlobStore: one object per collector per tick.

import type { CollectedTick } from '../../core/perception/collect';
import type { SnapshotStore } from '../../core/ports';
import type { BlobStore } from './blob-store';
import { decodeCollectedTick, encodeCollectedTick } from './codec';

export class BlobSnapshotStore implements SnapshotStore {
  constructor(
    private readonly blobs: BlobStore,
    private readonly source: string,
  ) {}

  async put(tick: CollectedTick): Promise<string> {
    const stamp = new Date(tick.time * 1000).toISOString();
    const key = `ticks/${stamp.slice(0, 10)}/${stamp}/${this.source}.bin`;
    await this.blobs.put(key, encodeCollectedTick(tick));
    return key;
  }

  async get(reference: string): Promise<CollectedTick> {
    return decodeCollectedTick(await this.blobs.get(reference));
  }
}
