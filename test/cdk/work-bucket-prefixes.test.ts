// The bucket's lifecycle rules and IAM grants are by prefix: check the prefixes against the keys the adapters
// actually write, so a renamed key cannot silently escape expiry or lose its permission.

import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, PutCommand } from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { MemoryBlobStore } from '../../lambdas/adapters/blob/blob-store';
import { BlobSnapshotStore } from '../../lambdas/adapters/blob/snapshot-store';
import { DynamoScorerStateStore } from '../../lambdas/adapters/dynamodb/scorer-state-store';
import { emptyScorerState } from '../../lambdas/core/cognition/scorer';
import { WorkBucket } from '../../lib/work-bucket';

class RecordingBlobStore extends MemoryBlobStore {
  readonly keys: string[] = [];
  override async put(key: string, body: Uint8Array): Promise<void> {
    this.keys.push(key);
    await super.put(key, body);
  }
}

const documentClient = mockClient(DynamoDBDocumentClient);

afterEach(() => documentClient.reset());

test('collector snapshots are written under the ticks prefix', async () => {
  const blobs = new RecordingBlobStore();
  const key = await new BlobSnapshotStore(blobs, 'metrics').put({
    time: 1_760_000_000,
    points: [],
    errors: [],
    dropped: [],
  });
  expect(key.startsWith(WorkBucket.TICKS_PREFIX)).toBe(true);
  expect(blobs.keys).toEqual([key]);
});

test('scorer state is written under the scorer-state prefix', async () => {
  documentClient.on(PutCommand).resolves({});
  const blobs = new RecordingBlobStore();
  const store = new DynamoScorerStateStore(new DynamoDBClient({}), 'scorer-state', blobs);
  await store.commit(emptyScorerState(1_760_000_000), undefined);
  expect(blobs.keys).toHaveLength(1);
  expect(blobs.keys[0].startsWith(WorkBucket.SCORER_STATE_PREFIX)).toBe(true);
});
