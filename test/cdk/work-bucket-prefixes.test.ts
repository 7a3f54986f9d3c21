// The bucket's lifecycle rules and IAM grants are by prefix: check the prefixes against the keys the adapters
// actually write, so a renamed key cannot silently escape expiry or lose its permission.

import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, PutCommand } from '@aws-sdk/lib-dynamodb';
import { App, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { mockClient } from 'aws-sdk-client-mock';
import { MemoryBlobStore } from '../../lambdas/adapters/blob/blob-store';
import { BlobSnapshotStore } from '../../lambdas/adapters/blob/snapshot-store';
import { DynamoScorerStateStore } from '../../lambdas/adapters/dynamodb/scorer-state-store';
import { EmbeddedKnowledgeStore } from '../../lambdas/adapters/knowledge/embedded-store';
import { emptyScorerState } from '../../lambdas/core/cognition/scorer';
import { KNOWLEDGE_KEY } from '../../lambdas/handlers/diagnosis-runtime';
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

test('the embedded knowledge base is written under the knowledge prefix, which no lifecycle rule expires', async () => {
  const blobs = new RecordingBlobStore();
  const store = new EmbeddedKnowledgeStore({ persistence: { blob: blobs, key: KNOWLEDGE_KEY }, vectorSpace: 'hashed' });
  const doc = { id: 'case-1', kind: 'case' as const, title: 'order-api bad deploy', text: 'rolled back' };
  await store.upsert(doc, new Float32Array([1, 0]));
  expect(blobs.keys).toEqual([KNOWLEDGE_KEY]);
  expect(KNOWLEDGE_KEY.startsWith(WorkBucket.KNOWLEDGE_PREFIX)).toBe(true);

  // Closed cases are the precedents of later diagnoses: an expiring rule would silently empty the knowledge base.
  const stack = new Stack(new App(), 'Bucket');
  new WorkBucket(stack, 'Work');
  const [bucket] = Object.values(Template.fromStack(stack).findResources('AWS::S3::Bucket'));
  const rules = bucket.Properties.LifecycleConfiguration.Rules as { Prefix?: string; ExpirationInDays?: number }[];
  const expiring = rules.filter((rule) => rule.ExpirationInDays !== undefined);
  expect(expiring.length).toBeGreaterThan(0);
  for (const rule of expiring) {
    expect({ rule, coversKnowledge: rule.Prefix === undefined || KNOWLEDGE_KEY.startsWith(rule.Prefix) }).toEqual({
      rule,
      coversKnowledge: false,
    });
  }
});
