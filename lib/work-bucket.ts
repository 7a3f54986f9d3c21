// The working bucket: tick snapshots and scorer state, too big for workflow payloads and DynamoDB items,
// and worthless after a day or two, so lifecycle rules empty it; and the embedded knowledge base, which is kept.

import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import { BlockPublicAccess, Bucket, BucketEncryption, ObjectOwnership } from 'aws-cdk-lib/aws-s3';
import type { Construct } from 'constructs';

export interface WorkBucketProps {
  /**
   * What happens to the bucket when it leaves the stack. With DESTROY the bucket must be empty to go: the
   * lifecycle rules empty an idle bucket within two days.
   * @default RemovalPolicy.RETAIN
   */
  readonly removalPolicy?: RemovalPolicy;
}

/** Private, encrypted, TLS-only bucket whose objects expire by prefix. */
export class WorkBucket extends Bucket {
  /** Collector snapshots, `ticks/<day>/<tick>/<source>.bin` (lambdas/adapters/blob/snapshot-store.ts). */
  static readonly TICKS_PREFIX = 'ticks/';
  /** Scorer state blobs, `scorer-state/<shard>/<tick>` (lambdas/adapters/dynamodb/scorer-state-store.ts). */
  static readonly SCORER_STATE_PREFIX = 'scorer-state/';
  /**
   * The embedded knowledge base, `knowledge/cases.jsonl` (lambdas/handlers/diagnosis-runtime.ts): closed cases are
   * the precedents of later diagnoses, so no lifecycle rule expires this prefix.
   */
  static readonly KNOWLEDGE_PREFIX = 'knowledge/';

  constructor(scope: Construct, id: string, props: WorkBucketProps = {}) {
    super(scope, id, {
      blockPublicAccess: BlockPublicAccess.BLOCK_ALL,
      objectOwnership: ObjectOwnership.BUCKET_OWNER_ENFORCED,
      encryption: BucketEncryption.S3_MANAGED,
      enforceSSL: true,
      versioned: false,
      removalPolicy: props.removalPolicy ?? RemovalPolicy.RETAIN,
      lifecycleRules: [
        // A snapshot is read by the scorer of the same tick, a minute later at most.
        { id: 'expire-ticks', prefix: WorkBucket.TICKS_PREFIX, expiration: Duration.days(1) },
        // Only the latest committed state is read; a day of history covers a stalled loop being inspected.
        { id: 'expire-scorer-state', prefix: WorkBucket.SCORER_STATE_PREFIX, expiration: Duration.days(2) },
        { id: 'abort-incomplete-uploads', abortIncompleteMultipartUploadAfter: Duration.days(1) },
      ],
    });
  }
}
