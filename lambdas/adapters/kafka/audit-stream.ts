// Streams every audit record to a Kafka topic for downstream consumers (SIEM, compliance archive), keyed by its
// chain so each incident's records stay in order on one partition. The DynamoDB audit log stays the record of
// truth: publishing returns at once, a bounded queue absorbs slow brokers, and failures are counted and reported,
// never thrown at the caller.

import type { ConnectionOptions } from 'node:tls';
import { Kafka, logLevel, type Message, type Producer, type RetryOptions, type SASLOptions } from 'kafkajs';
import type { AuditRecord } from '../../core/action/audit';

/** What the stream needs of a kafkajs Producer; tests pass a fake with the same signatures. */
export type AuditProducer = Pick<Producer, 'connect' | 'disconnect' | 'send'>;

export interface KafkaAuditProducerConfig {
  readonly clientId: string;
  readonly brokers: readonly string[];
  /** TLS to the brokers (MSK: true). */
  readonly ssl?: boolean | ConnectionOptions;
  /** SASL/SCRAM, PLAIN, OAUTHBEARER or AWS IAM credentials. */
  readonly sasl?: SASLOptions;
  /**
   * kafkajs retry settings for connecting and sending; once they are spent the batch counts as failed.
   * @default { retries: 5, initialRetryTime: 300, maxRetryTime: 30000 }
   */
  readonly retry?: RetryOptions;
  /** ms, default 10000. */
  readonly connectionTimeout?: number;
  /** ms, default 30000. */
  readonly requestTimeout?: number;
  /**
   * kafkajs's own log level. kafkajs warns that bounded retries may break the idempotent producer's
   * exactly-once guarantee; that holds only for a caller that resends a failed batch, which this stream never does.
   * @default logLevel.ERROR
   */
  readonly logLevel?: logLevel;
}

export const DEFAULT_AUDIT_RETRY: RetryOptions = { retries: 5, initialRetryTime: 300, maxRetryTime: 30_000 };

/**
 * An idempotent producer (acks from all in-sync replicas, broker-side deduplication of retried batches) with one
 * request in flight, so kafkajs's retries cannot reorder a chain's records.
 */
export function createAuditProducer(config: KafkaAuditProducerConfig): Producer {
  const retry = config.retry ?? DEFAULT_AUDIT_RETRY;
  const kafka = new Kafka({
    clientId: config.clientId,
    brokers: [...config.brokers],
    ssl: config.ssl ?? true,
    ...(config.sasl ? { sasl: config.sasl } : {}),
    retry,
    connectionTimeout: config.connectionTimeout ?? 10_000,
    requestTimeout: config.requestTimeout ?? 30_000,
    logLevel: config.logLevel ?? logLevel.ERROR,
  });
  return kafka.producer({ idempotent: true, maxInFlightRequests: 1, allowAutoTopicCreation: false, retry });
}

export type AuditStreamFailure =
  | {
      /** The queue was full: the record was never sent. */
      readonly kind: 'dropped';
      readonly chain: string;
      readonly seq: number;
      readonly message: string;
    }
  | {
      /** kafkajs gave up on a batch (after its retries), or could not connect. */
      readonly kind: 'send-failed';
      readonly records: number;
      /** `chain:first-last` per chain in the batch. */
      readonly ranges: readonly string[];
      readonly message: string;
    };

export interface AuditStreamStats {
  /** Records the brokers acknowledged. */
  readonly published: number;
  /** Records in batches that failed. */
  readonly failed: number;
  /** Records refused because the queue was full. */
  readonly dropped: number;
  /** Records waiting or in flight. */
  readonly queued: number;
}

export interface KafkaAuditStreamOptions {
  readonly topic: string;
  readonly producer: AuditProducer;
  /**
   * Records held at most (waiting plus in flight); beyond it new records are dropped and reported.
   * @default 10000
   */
  readonly maxQueue?: number;
  /**
   * Records per send.
   * @default 500
   */
  readonly maxBatch?: number;
  /** Told about every drop and failed batch; whatever it throws is ignored. */
  readonly onFailure?: (failure: AuditStreamFailure) => void;
}

/** The Kafka message of a record: key = chain id, value = the record as JSON, time = the record's. */
export function auditMessage(record: AuditRecord): Message {
  const at = Date.parse(record.at);
  return {
    key: record.chain,
    value: JSON.stringify(record),
    ...(Number.isNaN(at) ? {} : { timestamp: String(at) }),
    headers: { 'content-type': 'application/json', 'audit-kind': record.kind, 'audit-seq': String(record.seq) },
  };
}

function ranges(records: readonly AuditRecord[]): string[] {
  const byChain = new Map<string, { first: number; last: number }>();
  for (const r of records) {
    const range = byChain.get(r.chain);
    if (range) {
      range.first = Math.min(range.first, r.seq);
      range.last = Math.max(range.last, r.seq);
    } else byChain.set(r.chain, { first: r.seq, last: r.seq });
  }
  return [...byChain].map(([chain, { first, last }]) => `${chain}:${first === last ? first : `${first}-${last}`}`);
}

export class KafkaAuditStream {
  private readonly topic: string;
  private readonly producer: AuditProducer;
  private readonly maxQueue: number;
  private readonly maxBatch: number;
  private readonly onFailure: ((failure: AuditStreamFailure) => void) | undefined;
  private readonly waiting: AuditRecord[] = [];
  private inFlight = 0;
  private published = 0;
  private failed = 0;
  private dropped = 0;
  private draining: Promise<void> | undefined;
  private connected: Promise<void> | undefined;
  private closed = false;

  constructor(options: KafkaAuditStreamOptions) {
    this.topic = options.topic;
    this.producer = options.producer;
    this.maxQueue = Math.max(1, options.maxQueue ?? 10_000);
    this.maxBatch = Math.max(1, options.maxBatch ?? 500);
    this.onFailure = options.onFailure;
  }

  /** Queues the record and returns at once: true if queued, false if dropped (full queue or closed stream). */
  publish(record: AuditRecord): boolean {
    if (this.closed || this.waiting.length + this.inFlight >= this.maxQueue) {
      this.dropped++;
      const why = this.closed ? 'the stream is closed' : `the queue is full (${this.maxQueue} records)`;
      this.report({
        kind: 'dropped',
        chain: record.chain,
        seq: record.seq,
        message: `audit record ${record.chain}:${record.seq} not streamed to ${this.topic}: ${why}`,
      });
      return false;
    }
    this.waiting.push(record);
    // The first send starts on a later turn, so nothing the producer does (even throwing) reaches the caller.
    this.draining ??= Promise.resolve().then(() => this.drain());
    return true;
  }

  stats(): AuditStreamStats {
    return {
      published: this.published,
      failed: this.failed,
      dropped: this.dropped,
      queued: this.waiting.length + this.inFlight,
    };
  }

  /**
   * Waits until every queued record is sent or has failed, or `timeoutMs` passes; true when nothing is left.
   * A Lambda calls it before returning, since a frozen sandbox sends nothing. Never rejects.
   */
  async flush(timeoutMs = 5_000): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (this.draining) {
      const left = deadline - Date.now();
      if (left <= 0) return false;
      let timer: NodeJS.Timeout | undefined;
      const timedOut = await Promise.race([
        this.draining.then(() => false),
        new Promise<boolean>((resolve) => {
          timer = setTimeout(() => resolve(true), left);
        }),
      ]);
      clearTimeout(timer);
      if (timedOut) return false;
    }
    return true;
  }

  /** Flushes, then disconnects; later records are dropped. Never rejects. */
  async close(timeoutMs = 5_000): Promise<boolean> {
    this.closed = true;
    const flushed = await this.flush(timeoutMs);
    try {
      await this.producer.disconnect();
    } catch {
      // Disconnecting from a broker that is already gone has nothing left to lose.
    }
    return flushed;
  }

  private async drain(): Promise<void> {
    try {
      while (this.waiting.length > 0) {
        const batch = this.waiting.splice(0, this.maxBatch);
        this.inFlight = batch.length;
        try {
          this.connected ??= this.producer.connect();
          await this.connected;
          await this.producer.send({ topic: this.topic, acks: -1, messages: batch.map(auditMessage) });
          this.published += batch.length;
        } catch (error) {
          // A failed connect is tried again with the next batch.
          this.connected = undefined;
          this.failed += batch.length;
          const reason = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
          this.report({
            kind: 'send-failed',
            records: batch.length,
            ranges: ranges(batch),
            message: `${batch.length} audit records not streamed to ${this.topic}: ${reason}`,
          });
        } finally {
          this.inFlight = 0;
        }
      }
    } finally {
      this.draining = undefined;
    }
  }

  private report(failure: AuditStreamFailure): void {
    try {
      this.onFailure?.(failure);
    } catch {
      // The reporter's own failure must not become the caller's.
    }
  }
}
