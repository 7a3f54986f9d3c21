// The audit trail's records and their hash chain: one chain per incident, each record sealed with the hash of
// the record before it, so editing, deleting or reordering anything already written is detectable.

import { createHash } from 'node:crypto';

export const AUDIT_KINDS = ['step', 'vote', 'refusal', 'action', 'notification', 'error'] as const;
export type AuditKind = (typeof AUDIT_KINDS)[number];

export type JsonValue = null | boolean | number | string | readonly JsonValue[] | JsonObject;
export type JsonObject = { readonly [key: string]: JsonValue };

/** What a caller records; the log adds the chain position and the hashes. */
export interface AuditEntry {
  /** Who acted, e.g. `workflow:Diagnose`, `slack:U123 (alice)`, `executor:rollback`. */
  readonly actor: string;
  readonly kind: AuditKind;
  /** One line for listings; line breaks are folded into spaces. */
  readonly summary: string;
  /**
   * Structured facts, secrets already redacted by the caller. Stored as `JSON.stringify` sees it: `undefined`
   * properties are dropped, dates become ISO strings, NaN and infinities become null.
   */
  readonly detail: Readonly<Record<string, unknown>>;
  /**
   * ISO 8601 time of the event.
   * @default - the time the log writes the record
   */
  readonly at?: string;
}

/** The fields of a record that the caller (and the log) decide, before it takes its place in the chain. */
export interface AuditFields extends Omit<AuditEntry, 'at'> {
  /** The incident id. */
  readonly chain: string;
  readonly at: string;
}

export interface AuditRecord {
  readonly chain: string;
  /** Position in the chain, from 1, without gaps. */
  readonly seq: number;
  readonly at: string;
  readonly actor: string;
  readonly kind: AuditKind;
  readonly summary: string;
  readonly detail: JsonObject;
  /** `hash` of the record before, or GENESIS_HASH for the first record. */
  readonly prevHash: string;
  /** SHA-256 (hex) of the canonical form of every other field. */
  readonly hash: string;
}

export type UnsealedAuditRecord = Omit<AuditRecord, 'hash'>;

/** What the first record of every chain points back to. */
export const GENESIS_HASH = '0'.repeat(64);

export type ChainVerification =
  | { readonly ok: true; readonly length: number }
  | {
      readonly ok: false;
      /** The first seq from which the chain cannot be trusted. */
      readonly brokenAt: number;
      readonly reason: string;
    };

/** A record that cannot be written: a programming error in the caller, not a tampered trail. */
export class AuditRecordError extends Error {
  override readonly name = 'AuditRecordError';
}

/**
 * Deterministic JSON: object keys sorted by UTF-16 code unit, no whitespace, numbers as JavaScript prints them
 * (the shortest text that reads back as the same double, so the form survives any JSON round trip).
 */
export function canonicalJson(value: JsonValue): string {
  if (value === null || typeof value === 'boolean' || typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new AuditRecordError(`cannot serialise the number ${value}`);
    // String(-0) is already '0': -0 and 0 hash alike, as they must after a JSON round trip.
    return String(value);
  }
  if (Array.isArray(value)) return `[${value.map((item: JsonValue) => canonicalJson(item)).join(',')}]`;
  const object = value as JsonObject;
  const members = Object.keys(object)
    .sort()
    .map((key) => `${JSON.stringify(key)}:${canonicalJson(object[key])}`);
  return `{${members.join(',')}}`;
}

/** SHA-256 (hex) over the canonical form of the record's fields, `prevHash` included and `hash` excluded. */
export function hashRecord(record: UnsealedAuditRecord): string {
  // The fields are picked one by one so nothing else a store adds to an item can change the hash.
  const sealed: JsonObject = {
    chain: record.chain,
    seq: record.seq,
    at: record.at,
    actor: record.actor,
    kind: record.kind,
    summary: record.summary,
    detail: record.detail,
    prevHash: record.prevHash,
  };
  return createHash('sha256').update(canonicalJson(sealed), 'utf8').digest('hex');
}

/** The record that follows `previous` (undefined: the chain's first) with `fields`, sealed. */
export function nextRecord(previous: AuditRecord | undefined, fields: AuditFields): AuditRecord {
  if (typeof fields.chain !== 'string' || fields.chain.length === 0) {
    throw new AuditRecordError('an audit record needs a chain (the incident id)');
  }
  if (previous && previous.chain !== fields.chain) {
    throw new AuditRecordError(`cannot append to chain "${fields.chain}" after a record of "${previous.chain}"`);
  }
  if (!(AUDIT_KINDS as readonly string[]).includes(fields.kind)) {
    throw new AuditRecordError(`unknown audit kind "${fields.kind}" (expected ${AUDIT_KINDS.join(', ')})`);
  }
  if (!ISO_TIME.test(fields.at) || Number.isNaN(Date.parse(fields.at))) {
    throw new AuditRecordError(`"${fields.at}" is not an ISO 8601 time`);
  }
  if (typeof fields.actor !== 'string' || typeof fields.summary !== 'string') {
    throw new AuditRecordError('the actor and summary of an audit record are text');
  }
  const actor = oneLine(fields.actor);
  if (actor.length === 0) throw new AuditRecordError('an audit record needs an actor');
  const unsealed: UnsealedAuditRecord = {
    chain: fields.chain,
    seq: previous ? previous.seq + 1 : 1,
    at: fields.at,
    actor,
    kind: fields.kind,
    summary: oneLine(fields.summary),
    detail: toJsonObject(fields.detail),
    prevHash: previous ? previous.hash : GENESIS_HASH,
  };
  return { ...unsealed, hash: hashRecord(unsealed) };
}

/**
 * Checks a chain as read back in seq order, and names the first record that breaks it: one edited in place
 * (its hash no longer matches), one whose predecessor was edited and re-hashed or replaced (the link breaks),
 * a deleted one (a gap in seq), records out of order, or a forged start. Removing the newest records leaves a
 * shorter valid chain: only a copy of the head kept elsewhere can tell.
 */
export function verifyChain(records: readonly AuditRecord[], expectedChain?: string): ChainVerification {
  const chain = expectedChain ?? records[0]?.chain;
  for (let index = 0; index < records.length; index++) {
    const record = records[index];
    const expectedSeq = index + 1;
    const broken = (reason: string): ChainVerification => ({ ok: false, brokenAt: expectedSeq, reason });

    const malformed = malformation(record);
    if (malformed) return broken(`malformed record: ${malformed}`);
    if (record.chain !== chain) return broken(`record ${record.seq} belongs to chain "${record.chain}"`);
    if (record.seq !== expectedSeq) {
      if (records.some((other) => other.seq === expectedSeq)) {
        return broken(`records out of order: record ${record.seq} stands where record ${expectedSeq} belongs`);
      }
      if (record.seq > expectedSeq) {
        const missing =
          record.seq - 1 === expectedSeq ? `record ${expectedSeq} is` : `records ${expectedSeq}-${record.seq - 1} are`;
        return broken(`${missing} missing (deleted): the chain jumps from ${expectedSeq - 1} to ${record.seq}`);
      }
      return broken(`record ${record.seq} appears again where record ${expectedSeq} belongs`);
    }
    if (hashRecord(record) !== record.hash) {
      return broken(`hash mismatch: record ${expectedSeq} was edited after it was written`);
    }
    if (index === 0) {
      if (record.prevHash !== GENESIS_HASH) {
        return broken(
          'wrong genesis: the first record does not start from the genesis hash (forged or replaced start)',
        );
      }
    } else if (record.prevHash !== records[index - 1].hash) {
      return broken(
        `prevHash mismatch: record ${expectedSeq} does not link to record ${expectedSeq - 1} ` +
          `(record ${expectedSeq - 1} was edited and re-hashed, or replaced)`,
      );
    }
  }
  return { ok: true, length: records.length };
}

const ISO_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$/;
const HEX_HASH = /^[0-9a-f]{64}$/;

/** A summary or actor that may have come from an error message still fits on one line of a listing. */
const oneLine = (text: string): string => text.replace(/\s*[\r\n\u2028\u2029]+\s*/g, ' ').trim();

function toJsonObject(detail: Readonly<Record<string, unknown>>): JsonObject {
  let json: unknown;
  try {
    json = JSON.parse(JSON.stringify(detail) ?? 'null');
  } catch (error) {
    throw new AuditRecordError('the detail of an audit record must be JSON-serialisable', { cause: error });
  }
  if (json === null || typeof json !== 'object' || Array.isArray(json)) {
    throw new AuditRecordError('the detail of an audit record must be a JSON object');
  }
  return json as JsonObject;
}

/** What is wrong with the shape of a record read back from a store, if anything. */
function malformation(record: AuditRecord): string | undefined {
  if (record === null || typeof record !== 'object') return 'not an object';
  const fields = record as unknown as Record<string, unknown>;
  for (const name of ['chain', 'at', 'actor', 'kind', 'summary', 'prevHash', 'hash'] as const) {
    if (typeof fields[name] !== 'string') return `${name} is not a string`;
  }
  if (!Number.isSafeInteger(record.seq) || record.seq < 1) return 'seq is not a positive integer';
  if (!HEX_HASH.test(record.hash) || !HEX_HASH.test(record.prevHash)) return 'a hash is not 64 hex digits';
  const detail: unknown = record.detail;
  if (detail === null || typeof detail !== 'object' || Array.isArray(detail)) return 'detail is not a JSON object';
  try {
    canonicalJson(detail as JsonObject);
  } catch {
    return 'detail is not plain JSON';
  }
  return undefined;
}
