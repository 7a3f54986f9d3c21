// The audit trail with the Kafka stream beside it: every sealed record is streamed, and a broker outage never
// fails or delays an append (DynamoDB stays the record of truth).

import { KafkaAuditStream } from '../../lambdas/adapters/kafka/audit-stream';
import { PublishingAuditLog } from '../../lambdas/adapters/kafka/publishing-audit-log';
import type { AuditEntry, AuditRecord } from '../../lambdas/core/action/audit';
import type { AuditLog } from '../../lambdas/core/ports';

class MemoryAuditLog implements AuditLog {
  readonly records: AuditRecord[] = [];
  async append(chain: string, entry: AuditEntry): Promise<AuditRecord> {
    const seq = this.records.filter((r) => r.chain === chain).length + 1;
    const record = { ...entry, chain, seq, at: entry.at ?? '2026-11-04T03:07:00Z', prevHash: 'p', hash: `h${seq}` };
    this.records.push(record as unknown as AuditRecord);
    return record as unknown as AuditRecord;
  }
  async read(chain: string): Promise<AuditRecord[]> {
    return this.records.filter((r) => r.chain === chain);
  }
  async chains(): Promise<string[]> {
    return [...new Set(this.records.map((r) => r.chain))];
  }
}

const entry: AuditEntry = { actor: 'workflow:Diagnose', kind: 'step', summary: 'root cause order-api', detail: {} };

describe('PublishingAuditLog', () => {
  it('streams each sealed record, keyed by its chain, after DynamoDB has it', async () => {
    const sent: { topic: string; messages: { key?: string | null; value: string | Buffer | null }[] }[] = [];
    const inner = new MemoryAuditLog();
    const stream = new KafkaAuditStream({
      topic: 'sre-agent-audit',
      producer: {
        connect: async () => undefined,
        disconnect: async () => undefined,
        send: async (record) => {
          // The record is in the trail before it is streamed.
          expect(inner.records).toHaveLength(sent.length + 1);
          sent.push(record as (typeof sent)[number]);
          return [];
        },
      },
    });
    const log = new PublishingAuditLog(inner, stream);
    const record = await log.append('inc-1', entry);
    expect(await log.flush()).toBe(true);
    expect(sent).toHaveLength(1);
    expect(sent[0].topic).toBe('sre-agent-audit');
    expect(sent[0].messages[0].key).toBe('inc-1');
    expect(JSON.parse(String(sent[0].messages[0].value))).toMatchObject({ chain: 'inc-1', seq: record.seq });
    expect(await log.read('inc-1')).toEqual([record]);
  });

  it('appends even when the brokers are down, and reports the failure instead of throwing', async () => {
    const failures: string[] = [];
    const inner = new MemoryAuditLog();
    const stream = new KafkaAuditStream({
      topic: 'sre-agent-audit',
      producer: {
        connect: async () => {
          throw new Error('connect ECONNREFUSED 10.0.1.5:9096');
        },
        disconnect: async () => undefined,
        send: async () => [],
      },
      onFailure: (failure) => failures.push(failure.message),
    });
    const log = new PublishingAuditLog(inner, stream);
    await expect(log.append('inc-2', entry)).resolves.toMatchObject({ chain: 'inc-2', seq: 1 });
    await log.flush(500);
    expect(inner.records).toHaveLength(1);
    expect(failures.join('\n')).toContain('ECONNREFUSED');
  });
});
