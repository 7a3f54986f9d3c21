// Deploy events from Kafka: decodes the Lambda event of an MSK or self-managed Kafka event source mapping into
// deploy events (the lines of a scenario's deploys.jsonl), validating every record and collecting the bad ones
// with their topic, partition, offset and field, so one malformed message never costs the good ones.
// Also the port that stores them for diagnosis.

import type { MSKEvent, SelfManagedKafkaEvent } from 'aws-lambda';
import { z } from 'zod';
import { type DeployEvent, parseRfc3339 } from '../scenario/load-scenario';

/** Where a deploy event was read from. */
export interface KafkaOrigin {
  readonly topic: string;
  readonly partition: number;
  readonly offset: number;
  /** Epoch ms of the Kafka record (producer or broker time, per the topic's timestamp type). */
  readonly timestamp: number;
}

/** A deploy event with the Kafka record it came from: the origin is what makes redelivery idempotent. */
export interface KafkaDeployEvent extends DeployEvent {
  readonly origin: KafkaOrigin;
}

export interface DeployDecodeError {
  readonly topic: string;
  /** Undefined only when the record itself did not say. */
  readonly partition: number | undefined;
  readonly offset: number | undefined;
  /** `value` (the message as a whole), `value.<field>` inside it, or an envelope field such as `offset`. */
  readonly field: string;
  /** e.g. `deploy-events partition 3 offset 1207: value.time: must be an RFC 3339 time ...` */
  readonly message: string;
}

export interface DecodedDeployEvents {
  /** Valid events, in topic, partition and offset order. */
  readonly deploys: KafkaDeployEvent[];
  readonly errors: DeployDecodeError[];
}

/** Stored deploys, read back by diagnosis (DecideDeps.deploysFor) and written by the Kafka consumer. */
export interface DeployEventStore {
  /**
   * Stores every deploy once. A redelivered record (same topic, partition and offset) changes nothing and counts
   * as a duplicate; `collisions` lists deploys whose key another record already holds.
   */
  put(
    deploys: readonly KafkaDeployEvent[],
  ): Promise<{ readonly written: number; readonly duplicates: number; readonly collisions: KafkaDeployEvent[] }>;
  /** Deploys of `service` with time in [fromMs, toMs], oldest first. */
  deploysFor(service: string, fromMs: number, toMs: number): Promise<KafkaDeployEvent[]>;
}

// --- Validation. ---

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

const recordSchema = z.looseObject({
  topic: z.string().min(1),
  partition: z.number().int().nonnegative(),
  offset: z.number().int().nonnegative(),
  timestamp: z.number().int().nonnegative(),
  timestampType: z.string().optional(),
  key: z.string().nullable().optional(),
  value: z
    .string({ error: 'is missing: a tombstone or an empty message is not a deploy event' })
    .regex(BASE64, 'is not base64'),
  headers: z.array(z.record(z.string(), z.array(z.number().int().min(0).max(255)))).optional(),
});

const optionalText = z.string().min(1).optional();

/** One deploy event, as in deploys.jsonl; extra fields are allowed and dropped. */
export const deployPayloadSchema = z.looseObject({
  time: z
    .string({ error: 'is required: an RFC 3339 time such as 2026-11-04T03:02:00Z' })
    .refine((s) => parseRfc3339(s) !== undefined, 'must be an RFC 3339 time such as 2026-11-04T03:02:00Z'),
  service: z
    .string({ error: 'is required: the topology service that was deployed' })
    .regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, 'must be a service name (a DNS-1123 label)'),
  namespace: optionalText,
  version: optionalText,
  previousVersion: optionalText,
  actor: optionalText,
  source: optionalText,
});

const OPTIONAL_FIELDS = ['namespace', 'version', 'previousVersion', 'actor', 'source'] as const;

function fieldPath(prefix: string, path: readonly PropertyKey[]): string {
  return path.reduce<string>(
    (out, key) => (typeof key === 'number' ? `${out}[${key}]` : `${out}.${String(key)}`),
    prefix,
  );
}

/** The record's partition from its map key (`<topic>-<partition>`) when the record itself lacks one. */
function partitionFromKey(key: string): number | undefined {
  const m = /-(\d+)$/.exec(key);
  return m ? Number(m[1]) : undefined;
}

const asNumber = (value: unknown): number | undefined =>
  typeof value === 'number' && Number.isFinite(value) ? value : undefined;

/** Decodes one Kafka event source mapping invocation into deploy events and per-record errors. */
export function decodeDeployEvents(event: MSKEvent | SelfManagedKafkaEvent): DecodedDeployEvents {
  const deploys: KafkaDeployEvent[] = [];
  const errors: DeployDecodeError[] = [];
  const records: Readonly<Record<string, unknown>> =
    event && typeof event === 'object' && event.records && typeof event.records === 'object' ? event.records : {};
  for (const [key, list] of Object.entries(records)) {
    const items: readonly unknown[] = Array.isArray(list) ? list : [];
    if (!Array.isArray(list)) {
      errors.push({
        topic: key.replace(/-\d+$/, ''),
        partition: partitionFromKey(key),
        offset: undefined,
        field: 'records',
        message: `records["${key}"]: is not a list of Kafka records`,
      });
    }
    for (const raw of items) {
      const loose = (raw && typeof raw === 'object' ? raw : {}) as Record<string, unknown>;
      const topic = typeof loose.topic === 'string' && loose.topic ? loose.topic : key.replace(/-\d+$/, '');
      const partition = asNumber(loose.partition) ?? partitionFromKey(key);
      const offset = asNumber(loose.offset);
      const where = `${topic} partition ${partition ?? '?'} offset ${offset ?? '?'}`;
      const problem = (field: string, what: string) =>
        errors.push({ topic, partition, offset, field, message: `${where}: ${field}: ${what}` });

      const envelope = recordSchema.safeParse(raw);
      if (!envelope.success) {
        for (const issue of envelope.error.issues) {
          problem(fieldPath('', issue.path).slice(1) || '(record)', issue.message);
        }
        continue;
      }
      const record = envelope.data;
      let payload: unknown;
      try {
        payload = JSON.parse(Buffer.from(record.value, 'base64').toString('utf8'));
      } catch (error) {
        problem('value', `is not JSON: ${(error as Error).message}`);
        continue;
      }
      const parsed = deployPayloadSchema.safeParse(payload);
      if (!parsed.success) {
        for (const issue of parsed.error.issues) problem(fieldPath('value', issue.path), issue.message);
        continue;
      }
      const value = parsed.data;
      const optional = Object.fromEntries(
        OPTIONAL_FIELDS.filter((f) => value[f] !== undefined).map((f) => [f, value[f]]),
      );
      deploys.push({
        time: parseRfc3339(value.time) ?? 0,
        service: value.service,
        ...optional,
        origin: {
          topic: record.topic,
          partition: record.partition,
          offset: record.offset,
          timestamp: record.timestamp,
        },
      });
    }
  }
  deploys.sort(
    (a, b) =>
      a.origin.topic.localeCompare(b.origin.topic) ||
      a.origin.partition - b.origin.partition ||
      a.origin.offset - b.origin.offset,
  );
  return { deploys, errors };
}
