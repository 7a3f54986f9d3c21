// A queue that keeps what could not be processed long enough for someone to look at it and redrive it.

import { Duration } from 'aws-cdk-lib';
import { Queue, QueueEncryption } from 'aws-cdk-lib/aws-sqs';
import type { Construct } from 'constructs';

export interface DeadLetterQueueProps {
  /**
   * How long a message waits for inspection (SQS allows 14 days at most).
   * @default Duration.days(14)
   */
  readonly retentionPeriod?: Duration;
}

/** Encrypted, TLS-only SQS queue with the longest retention SQS allows. */
export class DeadLetterQueue extends Queue {
  constructor(scope: Construct, id: string, props: DeadLetterQueueProps = {}) {
    super(scope, id, {
      retentionPeriod: props.retentionPeriod ?? Duration.days(14),
      // SSE-SQS rather than a KMS key: EventBridge and Step Functions can send to it without key grants.
      encryption: QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
    });
  }
}
