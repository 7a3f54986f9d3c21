// The audit hash chain: records seal their predecessor, and any edit, deletion, reordering or forged start is
// found at the first record it breaks.

import fc from 'fast-check';
import {
  AUDIT_KINDS,
  type AuditKind,
  type AuditRecord,
  AuditRecordError,
  canonicalJson,
  GENESIS_HASH,
  hashRecord,
  type JsonValue,
  nextRecord,
  verifyChain,
} from '../../lambdas/core/action/audit';

const CHAIN = 'inc-20261104T0307-order-api';
const T0 = Date.parse('2026-11-04T03:07:00Z');

const STEPS: { actor: string; kind: AuditKind; summary: string; detail: Record<string, unknown> }[] = [
  { actor: 'workflow:Diagnose', kind: 'step', summary: 'root cause: order-api', detail: { confidence: 0.82 } },
  { actor: 'workflow:Assess', kind: 'step', summary: 'tier MEDIUM (0.47)', detail: { score: 0.47, tier: 'MEDIUM' } },
  { actor: 'slack:U123 (alice)', kind: 'vote', summary: 'approve rollback', detail: { choice: 'approve' } },
  { actor: 'executor:rollback', kind: 'action', summary: 'rolled back order-api', detail: { revision: 41 } },
  { actor: 'workflow:Notify', kind: 'notification', summary: 'posted to #incidents', detail: { channel: 'C1' } },
];

function buildChain(length = STEPS.length, chain = CHAIN): AuditRecord[] {
  const records: AuditRecord[] = [];
  for (let i = 0; i < length; i++) {
    const at = new Date(T0 + i * 60_000).toISOString();
    records.push(nextRecord(records.at(-1), { chain, at, ...STEPS[i % STEPS.length] }));
  }
  return records;
}

/** What an attacker with write access to the table does after editing a record: seal it again. */
const resealed = (record: AuditRecord): AuditRecord => ({ ...record, hash: hashRecord(record) });

describe('building a chain', () => {
  it('numbers records from 1, starts at the genesis hash and links each record to the one before', () => {
    const records = buildChain();
    expect(records.map((r) => r.seq)).toEqual([1, 2, 3, 4, 5]);
    expect(records[0].prevHash).toBe(GENESIS_HASH);
    for (let i = 1; i < records.length; i++) expect(records[i].prevHash).toBe(records[i - 1].hash);
    for (const record of records) {
      expect(record.hash).toMatch(/^[0-9a-f]{64}$/);
      expect(record.hash).toBe(hashRecord(record));
    }
    expect(new Set(records.map((r) => r.hash)).size).toBe(records.length);
  });

  it('hashes the content, not the order keys were written in or how numbers were spelled', () => {
    const fields = { chain: CHAIN, at: '2026-11-04T03:07:00Z', actor: 'workflow:Assess', kind: 'step' as const };
    const a = nextRecord(undefined, { ...fields, summary: 's', detail: { b: [1, { y: 2, x: 1 }], a: 0.1 } });
    const b = nextRecord(undefined, { ...fields, summary: 's', detail: { a: 1e-1, b: [1.0, { x: 1, y: 2 }] } });
    expect(b.hash).toBe(a.hash);
    expect(canonicalJson(a.detail)).toBe('{"a":0.1,"b":[1,{"x":1,"y":2}]}');
    const c = nextRecord(undefined, { ...fields, summary: 's', detail: { a: 0.1, b: [{ x: 1, y: 2 }, 1] } });
    expect(c.hash).not.toBe(a.hash);
  });

  it('stores the detail as JSON sees it and keeps summaries on one line', () => {
    const record = nextRecord(undefined, {
      chain: CHAIN,
      at: '2026-11-04T03:07:00.000Z',
      actor: 'executor:rollback',
      kind: 'error',
      summary: 'rollback failed:\n  deployment not found\r\n',
      detail: { when: new Date(T0), missing: undefined, ratio: Number.NaN, zero: -0, list: [undefined, 1] },
    });
    expect(record.summary).toBe('rollback failed: deployment not found');
    expect(record.detail).toEqual({ when: '2026-11-04T03:07:00.000Z', ratio: null, zero: 0, list: [null, 1] });
    // Whatever a store does to it, the stored JSON text reads back to a record with the same hash.
    const roundTripped = JSON.parse(JSON.stringify(record)) as AuditRecord;
    expect(hashRecord(roundTripped)).toBe(record.hash);
  });

  it('refuses records that cannot be sealed, naming what is wrong', () => {
    const fields = { chain: CHAIN, at: '2026-11-04T03:07:00Z', actor: 'a', kind: 'step' as const, summary: 's' };
    const bad = (change: Record<string, unknown>, previous?: AuditRecord) => () =>
      nextRecord(previous, { ...fields, detail: {}, ...change } as Parameters<typeof nextRecord>[1]);
    expect(bad({ chain: '' })).toThrow(AuditRecordError);
    expect(bad({ kind: 'approval' })).toThrow('unknown audit kind "approval"');
    expect(bad({ at: 'yesterday' })).toThrow('"yesterday" is not an ISO 8601 time');
    expect(bad({ actor: ' \n ' })).toThrow('needs an actor');
    expect(bad({ detail: [1, 2] })).toThrow('must be a JSON object');
    expect(bad({ detail: { amount: 10n } })).toThrow('must be JSON-serialisable');
    expect(bad({ chain: 'inc-other' }, buildChain(1)[0])).toThrow('cannot append to chain "inc-other"');
  });
});

describe('verifying a chain', () => {
  it('accepts an intact chain, and an empty one', () => {
    expect(verifyChain(buildChain())).toEqual({ ok: true, length: 5 });
    expect(verifyChain([])).toEqual({ ok: true, length: 0 });
  });

  it('names an edited record by its hash', () => {
    const records = buildChain();
    records[2] = { ...records[2], summary: 'reject rollback' };
    expect(verifyChain(records)).toEqual({
      ok: false,
      brokenAt: 3,
      reason: 'hash mismatch: record 3 was edited after it was written',
    });
  });

  it('names the record after one that was edited and sealed again', () => {
    const records = buildChain();
    records[2] = resealed({ ...records[2], detail: { choice: 'reject' } });
    expect(verifyChain(records)).toMatchObject({ ok: false, brokenAt: 4 });
    expect(verifyChain(records)).toMatchObject({ reason: expect.stringMatching(/^prevHash mismatch: record 4/) });
  });

  it('finds deleted records by the gap in seq', () => {
    const records = buildChain();
    expect(verifyChain([...records.slice(0, 2), ...records.slice(3)])).toEqual({
      ok: false,
      brokenAt: 3,
      reason: 'record 3 is missing (deleted): the chain jumps from 2 to 4',
    });
    expect(verifyChain([records[0], records[3], records[4]])).toMatchObject({
      brokenAt: 2,
      reason: expect.stringContaining('records 2-3 are missing'),
    });
    expect(verifyChain(records.slice(1))).toMatchObject({ ok: false, brokenAt: 1 });
  });

  it('finds records out of order, whether or not the attacker renumbered and re-sealed them', () => {
    const records = buildChain();
    const swapped = [records[0], records[1], records[3], records[2], records[4]];
    expect(verifyChain(swapped)).toEqual({
      ok: false,
      brokenAt: 3,
      reason: 'records out of order: record 4 stands where record 3 belongs',
    });
    // Contents of 3 and 4 swapped, seq fixed up and both re-sealed: the links give it away.
    const renumbered = [
      records[0],
      records[1],
      resealed({ ...records[3], seq: 3 }),
      resealed({ ...records[2], seq: 4 }),
      records[4],
    ];
    expect(verifyChain(renumbered)).toMatchObject({ ok: false, brokenAt: 3, reason: /^prevHash mismatch/ });
  });

  it('rejects a forged start, even one sealed correctly', () => {
    const records = buildChain();
    const forged = resealed({ ...records[0], prevHash: 'f'.repeat(64) });
    expect(verifyChain([forged, ...records.slice(1)])).toMatchObject({
      ok: false,
      brokenAt: 1,
      reason: expect.stringMatching(/^wrong genesis/),
    });
  });

  it('rejects a record spliced in from another chain, and malformed items', () => {
    const records = buildChain();
    const other = buildChain(5, 'inc-other');
    expect(verifyChain([...records.slice(0, 3), other[3], records[4]])).toMatchObject({
      brokenAt: 4,
      reason: 'record 4 belongs to chain "inc-other"',
    });
    expect(verifyChain(other, CHAIN)).toMatchObject({ brokenAt: 1 });
    const textDetail = { ...records[1], detail: '{"score":' } as unknown as AuditRecord;
    expect(verifyChain([records[0], textDetail])).toMatchObject({
      brokenAt: 2,
      reason: 'malformed record: detail is not a JSON object',
    });
    const noHash = { ...records[0], hash: undefined } as unknown as AuditRecord;
    expect(verifyChain([noHash])).toMatchObject({ brokenAt: 1, reason: 'malformed record: hash is not a string' });
  });

  it('cannot tell from the chain alone that its newest records were removed', () => {
    // Truncation leaves a shorter valid chain: the length (or head hash) kept elsewhere is what reveals it.
    expect(verifyChain(buildChain().slice(0, 3))).toEqual({ ok: true, length: 3 });
  });
});

describe('properties', () => {
  const entry = fc.record({
    actor: fc.constantFrom('workflow:Diagnose', 'workflow:Execute', 'slack:U123 (alice)', 'executor:rollback'),
    kind: fc.constantFrom(...AUDIT_KINDS),
    summary: fc.string({ maxLength: 40 }),
    detail: fc.dictionary(fc.string({ maxLength: 8 }), fc.jsonValue({ maxDepth: 3 }), { maxKeys: 5 }),
    at: fc
      .integer({ min: Date.parse('2020-01-01T00:00:00Z'), max: Date.parse('2040-01-01T00:00:00Z') })
      .map((ms) => new Date(ms).toISOString()),
  });
  const chainOf = (minLength: number) =>
    fc.array(entry, { minLength, maxLength: 12 }).map((steps) => {
      const records: AuditRecord[] = [];
      for (const step of steps) records.push(nextRecord(records.at(-1), { chain: CHAIN, ...step }));
      return records;
    });
  const chain = chainOf(1);

  const flipHex = (hex: string, at: number) => hex.slice(0, at) + (hex[at] === '0' ? '1' : '0') + hex.slice(at + 1);

  /** Changes to one field that always leave a different value. */
  const contentEdit = fc.oneof(
    fc.string().map(
      (s) =>
        (r: AuditRecord): AuditRecord => ({ ...r, summary: `${r.summary}!${s}` }),
    ),
    fc.constant((r: AuditRecord): AuditRecord => ({ ...r, actor: `${r.actor}.` })),
    fc.integer({ min: 1, max: 86_400_000 }).map(
      (ms) =>
        (r: AuditRecord): AuditRecord => ({ ...r, at: new Date(Date.parse(r.at) + ms).toISOString() }),
    ),
    fc.constant(
      (r: AuditRecord): AuditRecord => ({
        ...r,
        kind: AUDIT_KINDS[(AUDIT_KINDS.indexOf(r.kind) + 1) % AUDIT_KINDS.length],
      }),
    ),
    // The new value holds the old one, so it can never be equal to it.
    fc.jsonValue({ maxDepth: 1 }).map(
      (v) =>
        (r: AuditRecord): AuditRecord => ({
          ...r,
          detail: { ...r.detail, edited: [r.detail.edited ?? null, v as JsonValue] },
        }),
    ),
  );
  const anyEdit = fc.oneof(
    contentEdit,
    fc.integer({ min: 1, max: 5 }).map(
      (d) =>
        (r: AuditRecord): AuditRecord => ({ ...r, seq: r.seq + d }),
    ),
    fc.integer({ min: 0, max: 63 }).map(
      (i) =>
        (r: AuditRecord): AuditRecord => ({ ...r, prevHash: flipHex(r.prevHash, i) }),
    ),
    fc.integer({ min: 0, max: 63 }).map(
      (i) =>
        (r: AuditRecord): AuditRecord => ({ ...r, hash: flipHex(r.hash, i) }),
    ),
    fc.constant((r: AuditRecord): AuditRecord => ({ ...r, chain: `${r.chain}x` })),
  );

  it('every chain built record by record verifies, also after a JSON round trip', () => {
    fc.assert(
      fc.property(chain, (records) => {
        expect(verifyChain(records)).toEqual({ ok: true, length: records.length });
        expect(verifyChain(JSON.parse(JSON.stringify(records)))).toEqual({ ok: true, length: records.length });
      }),
    );
  });

  it('any single edit of any field is found at the edited record', () => {
    fc.assert(
      fc.property(chain, fc.nat(), anyEdit, (records, pick, edit) => {
        const k = pick % records.length;
        const tampered = records.map((r, i) => (i === k ? edit(r) : r));
        expect(verifyChain(tampered, CHAIN)).toMatchObject({ ok: false, brokenAt: k + 1 });
      }),
    );
  });

  it('an edited and re-sealed record is found at its successor; only the newest record escapes', () => {
    fc.assert(
      fc.property(chain, fc.nat(), contentEdit, (records, pick, edit) => {
        const k = pick % records.length;
        const tampered = records.map((r, i) => (i === k ? resealed(edit(r)) : r));
        const verdict = verifyChain(tampered, CHAIN);
        if (k === records.length - 1) expect(verdict).toEqual({ ok: true, length: records.length });
        else expect(verdict).toMatchObject({ ok: false, brokenAt: k + 2 });
      }),
    );
  });

  it('any deleted record but the newest, and any two records swapped, are found at the first position affected', () => {
    fc.assert(
      fc.property(chainOf(2), fc.nat(), fc.nat(), (records, a, b) => {
        const k = a % (records.length - 1);
        expect(verifyChain(records.filter((_, i) => i !== k))).toMatchObject({ ok: false, brokenAt: k + 1 });
        const [i, j] = [k, k + 1 + (b % (records.length - 1 - k))];
        const swapped = [...records];
        [swapped[i], swapped[j]] = [swapped[j], swapped[i]];
        expect(verifyChain(swapped, CHAIN)).toMatchObject({ ok: false, brokenAt: i + 1 });
      }),
    );
  });
});
