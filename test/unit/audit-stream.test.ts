// The Kafka audit stream with a fake kafkajs producer: publishing never waits for or fails with the broker,
// a full queue drops and reports, failed batches are counted, and each chain's records keep their order.

import type { ProducerRecord, RecordMetadata } from 'kafkajs';
import { KafkaJSConnectionError, KafkaJSNumberOfRetriesExceeded } from 'kafkajs';
import {
  type AuditProducer,
  type AuditStreamFailure,
  auditMessage,
  createAuditProducer,
  KafkaAuditStream,
} from '../../lambdas/adapters/kafka/audit-stream';
import { type AuditRecord, nextRecord } from '../../lambdas/core/action/audit';

const TOPIC = 'sre-agent.audit';

/** A chain of `n` sealed records, as the audit log writes them. */
function chain(id: string, n: number, start = Date.parse('2026-11-04T03:07:00Z')): AuditRecord[] {
  const out: AuditRecord[] = [];
  for (let i = 0; i < n; i++) {
    out.push(
      nextRecord(out[i - 1], {
        chain: id,
        at: new Date(start + i * 1000).toISOString(),
        actor: 'workflow:Diagnose',
        kind: i === 0 ? 'step' : 'action',
        summary: `step ${i + 1} of ${id}`,
        detail: { index: i },
      }),
    );
  }
  return out;
}

interface Deferred {
  resolve: () => void;
  reject: (error: Error) => void;
}

/** A producer with kafkajs's connect/send/disconnect signatures whose sends the test settles. */
class FakeProducer implements AuditProducer {
  readonly sent: ProducerRecord[] = [];
  readonly pending: Deferred[] = [];
  connects = 0;
  disconnects = 0;
  inFlight = 0;
  maxInFlight = 0;
  /** How each send ends: 'wait' leaves it to the test. */
  mode: 'ok' | 'wait' | 'fail' | 'throw' | 'delay' = 'ok';
  connectFailures = 0;

  async connect(): Promise<void> {
    this.connects++;
    if (this.connectFailures > 0) {
      this.connectFailures--;
      throw new KafkaJSConnectionError('Connection error: connect ECONNREFUSED 10.0.1.5:9094');
    }
  }

  async disconnect(): Promise<void> {
    this.disconnects++;
  }

  send(record: ProducerRecord): Promise<RecordMetadata[]> {
    if (this.mode === 'throw') throw new TypeError('producer bug');
    this.sent.push(record);
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    const metadata: RecordMetadata[] = [{ topicName: record.topic, partition: 0, errorCode: 0, baseOffset: '0' }];
    const done = <T>(value: T) => {
      this.inFlight--;
      return value;
    };
    switch (this.mode) {
      case 'ok':
        return Promise.resolve(done(metadata));
      case 'fail':
        this.inFlight--;
        return Promise.reject(
          new KafkaJSNumberOfRetriesExceeded(new Error('This server is not the leader for that topic-partition'), {
            retryCount: 5,
            retryTime: 9000,
          }),
        );
      case 'delay':
        return new Promise((resolve) => setTimeout(() => resolve(done(metadata)), Math.random() * 5));
      default:
        return new Promise((resolve, reject) =>
          this.pending.push({
            resolve: () => resolve(done(metadata)),
            reject: (error) => {
              done(undefined);
              reject(error);
            },
          }),
        );
    }
  }
}

const keysAndSeqs = (producer: FakeProducer) =>
  producer.sent.flatMap((r) =>
    r.messages.map((m) => `${String(m.key)}:${(JSON.parse(String(m.value)) as AuditRecord).seq}`),
  );

describe('KafkaAuditStream', () => {
  it('returns from publish at once while the broker has not answered, and flush waits only as long as told', async () => {
    const producer = new FakeProducer();
    producer.mode = 'wait';
    const stream = new KafkaAuditStream({ topic: TOPIC, producer });
    const records = chain('inc-1', 3);
    const outcomes = records.map((r) => stream.publish(r));
    expect(outcomes).toEqual([true, true, true]);
    // Nothing reached the producer during publish: it starts on a later turn.
    expect(producer.sent).toHaveLength(0);
    const started = Date.now();
    expect(await stream.flush(30)).toBe(false);
    expect(Date.now() - started).toBeLessThan(1_000);
    expect(producer.sent).toHaveLength(1);
    expect(stream.stats()).toEqual({ published: 0, failed: 0, dropped: 0, queued: 3 });

    producer.pending[0].resolve();
    expect(await stream.flush()).toBe(true);
    expect(stream.stats()).toEqual({ published: 3, failed: 0, dropped: 0, queued: 0 });
    expect(producer.sent[0]).toMatchObject({ topic: TOPIC, acks: -1 });
  });

  it('never lets a producer that throws reach the caller', async () => {
    const producer = new FakeProducer();
    producer.mode = 'throw';
    const failures: AuditStreamFailure[] = [];
    const stream = new KafkaAuditStream({ topic: TOPIC, producer, onFailure: (f) => failures.push(f) });
    expect(() => stream.publish(chain('inc-1', 1)[0])).not.toThrow();
    expect(await stream.flush()).toBe(true);
    expect(stream.stats()).toMatchObject({ published: 0, failed: 1 });
    expect(failures).toEqual([
      {
        kind: 'send-failed',
        records: 1,
        ranges: ['inc-1:1'],
        message: '1 audit records not streamed to sre-agent.audit: TypeError: producer bug',
      },
    ]);
  });

  it('counts and reports batches kafkajs gave up on, and carries on with the next', async () => {
    const producer = new FakeProducer();
    producer.mode = 'fail';
    const failures: AuditStreamFailure[] = [];
    const stream = new KafkaAuditStream({ topic: TOPIC, producer, onFailure: (f) => failures.push(f) });
    const a = chain('inc-a', 3);
    const b = chain('inc-b', 2);
    for (const r of [a[0], b[0], a[1], a[2], b[1]]) stream.publish(r);
    await stream.flush();
    expect(stream.stats()).toEqual({ published: 0, failed: 5, dropped: 0, queued: 0 });
    expect(failures).toHaveLength(1);
    expect(failures[0]).toMatchObject({ kind: 'send-failed', records: 5, ranges: ['inc-a:1-3', 'inc-b:1-2'] });
    expect(failures[0].message).toMatch(
      /^5 audit records not streamed to sre-agent\.audit: KafkaJSNumberOfRetriesExceeded: This server is not the leader/,
    );

    producer.mode = 'ok';
    stream.publish(chain('inc-c', 1)[0]);
    await stream.flush();
    expect(stream.stats()).toEqual({ published: 1, failed: 5, dropped: 0, queued: 0 });
  });

  it('reconnects with the next batch after a failed connect', async () => {
    const producer = new FakeProducer();
    producer.connectFailures = 1;
    const failures: AuditStreamFailure[] = [];
    const stream = new KafkaAuditStream({ topic: TOPIC, producer, onFailure: (f) => failures.push(f) });
    stream.publish(chain('inc-1', 1)[0]);
    await stream.flush();
    expect(failures.map((f) => f.message)).toEqual([
      '1 audit records not streamed to sre-agent.audit: KafkaJSConnectionError: Connection error: connect ECONNREFUSED 10.0.1.5:9094',
    ]);
    stream.publish(chain('inc-2', 1)[0]);
    stream.publish(chain('inc-3', 1)[0]);
    await stream.flush();
    expect(producer.connects).toBe(2);
    expect(stream.stats()).toEqual({ published: 2, failed: 1, dropped: 0, queued: 0 });
  });

  it('holds at most maxQueue records and drops (and reports) the rest', async () => {
    const producer = new FakeProducer();
    producer.mode = 'wait';
    const failures: AuditStreamFailure[] = [];
    const stream = new KafkaAuditStream({ topic: TOPIC, producer, maxQueue: 3, onFailure: (f) => failures.push(f) });
    const records = chain('inc-1', 5);
    expect(records.map((r) => stream.publish(r))).toEqual([true, true, true, false, false]);
    expect(stream.stats()).toEqual({ published: 0, failed: 0, dropped: 2, queued: 3 });
    expect(failures).toEqual([
      {
        kind: 'dropped',
        chain: 'inc-1',
        seq: 4,
        message: 'audit record inc-1:4 not streamed to sre-agent.audit: the queue is full (3 records)',
      },
      expect.objectContaining({ kind: 'dropped', seq: 5 }),
    ]);
    await stream.flush(10);
    producer.pending[0].resolve();
    await stream.flush();
    // Room again once the batch is acknowledged.
    expect(stream.publish(chain('inc-2', 1)[0])).toBe(true);
  });

  it('keeps each chain in order, keyed by chain id, with one send in flight at a time', async () => {
    const producer = new FakeProducer();
    producer.mode = 'delay';
    const stream = new KafkaAuditStream({ topic: TOPIC, producer, maxBatch: 3 });
    const a = chain('inc-a', 10);
    const b = chain('inc-b', 10);
    for (let i = 0; i < 10; i++) {
      stream.publish(a[i]);
      stream.publish(b[i]);
      // Let some sends start between publishes.
      if (i % 3 === 0) await new Promise((resolve) => setTimeout(resolve, 2));
    }
    expect(await stream.flush()).toBe(true);
    expect(producer.maxInFlight).toBe(1);
    expect(producer.sent.every((r) => r.messages.length <= 3)).toBe(true);
    const sent = keysAndSeqs(producer);
    expect(sent).toHaveLength(20);
    for (const id of ['inc-a', 'inc-b']) {
      expect(sent.filter((s) => s.startsWith(`${id}:`))).toEqual(
        Array.from({ length: 10 }, (_, i) => `${id}:${i + 1}`),
      );
    }
    expect(stream.stats()).toEqual({ published: 20, failed: 0, dropped: 0, queued: 0 });
  });

  it('sends the sealed record as JSON under its chain id, at its own time', () => {
    const [record] = chain('inc-7', 1);
    expect(auditMessage(record)).toEqual({
      key: 'inc-7',
      value: JSON.stringify(record),
      timestamp: String(Date.parse('2026-11-04T03:07:00Z')),
      headers: { 'content-type': 'application/json', 'audit-kind': 'step', 'audit-seq': '1' },
    });
  });

  it('ignores a failure reporter that throws', async () => {
    const producer = new FakeProducer();
    producer.mode = 'fail';
    const stream = new KafkaAuditStream({
      topic: TOPIC,
      producer,
      maxQueue: 1,
      onFailure: () => {
        throw new Error('metrics backend down');
      },
    });
    const [first, second] = chain('inc-1', 2);
    expect(stream.publish(first)).toBe(true);
    expect(stream.publish(second)).toBe(false);
    expect(await stream.flush()).toBe(true);
    expect(stream.stats()).toEqual({ published: 0, failed: 1, dropped: 1, queued: 0 });
  });

  it('close flushes, disconnects, and drops what comes after', async () => {
    const producer = new FakeProducer();
    const failures: AuditStreamFailure[] = [];
    const stream = new KafkaAuditStream({ topic: TOPIC, producer, onFailure: (f) => failures.push(f) });
    const [first, second] = chain('inc-1', 2);
    stream.publish(first);
    expect(await stream.close()).toBe(true);
    expect(producer.disconnects).toBe(1);
    expect(stream.publish(second)).toBe(false);
    expect(failures.map((f) => f.message)).toEqual([
      'audit record inc-1:2 not streamed to sre-agent.audit: the stream is closed',
    ]);
    expect(stream.stats()).toEqual({ published: 1, failed: 0, dropped: 1, queued: 0 });
  });
});

describe('createAuditProducer', () => {
  it('makes an idempotent kafkajs producer without connecting', () => {
    const producer = createAuditProducer({
      clientId: 'sre-agent-audit',
      brokers: ['b-1.prodevents.abc123.c3.kafka.eu-west-1.amazonaws.com:9096'],
      ssl: true,
      sasl: { mechanism: 'scram-sha-512', username: 'sre-agent', password: 'not-a-real-password' },
    });
    expect(producer.isIdempotent()).toBe(true);
  });
});
