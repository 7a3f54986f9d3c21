// An AuditLog that also streams every sealed record to Kafka: DynamoDB stays the record of truth (the hash chain
// is sealed there first), and the stream is best effort, so a Kafka outage never blocks or fails an append.

import type { AuditEntry, AuditRecord } from '../../core/action/audit';
import type { AuditLog } from '../../core/ports';

export interface AuditPublisher {
  /** Queues the record; never throws, never waits. */
  publish(record: AuditRecord): boolean;
  /** Waits up to `timeoutMs` for queued records to be sent; false when some were still pending. */
  flush(timeoutMs?: number): Promise<boolean>;
}

export class PublishingAuditLog implements AuditLog {
  constructor(
    private readonly inner: AuditLog,
    private readonly stream: AuditPublisher,
  ) {}

  async append(chain: string, entry: AuditEntry): Promise<AuditRecord> {
    const record = await this.inner.append(chain, entry);
    this.stream.publish(record);
    return record;
  }

  read(chain: string): Promise<AuditRecord[]> {
    return this.inner.read(chain);
  }

  chains(): Promise<string[]> {
    return this.inner.chains();
  }

  /** Before a Lambda returns: a frozen sandbox sends nothing, so give the queue a bounded moment. */
  flush(timeoutMs = 2_000): Promise<boolean> {
    return this.stream.flush(timeoutMs);
  }
}
