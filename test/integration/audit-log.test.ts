// The audit log on dynalite (the real DynamoDB API) in its 'conditional-put' mode, the local runtime's: appends
// chain up, concurrent writers never share a seq, failures name the table and the chain, and whatever is changed
// behind the adapter's back is found by `verifyChain` and by `sre-agent audit verify`. The 'partiql-insert' mode
// of the Lambdas is covered in test/unit/audit-log-partiql.test.ts: dynalite has no ExecuteStatement.

import { DeleteItemCommand, DynamoDBClient, PutItemCommand, UpdateItemCommand } from '@aws-sdk/client-dynamodb';
import {
  AuditAppendConflictError,
  AuditAppendError,
  appendModeFor,
  DynamoAuditLog,
  type DynamoAuditLogOptions,
} from '../../lambdas/adapters/dynamodb/audit-log';
import { type AuditCommandIo, auditVerifyCommand } from '../../lambdas/cli/audit-command';
import { type AuditEntry, verifyChain } from '../../lambdas/core/action/audit';
import { type LocalDynamo, startLocalDynamo } from '../../lambdas/local/local-dynamodb';

const T0 = Date.parse('2026-11-04T03:07:00Z');
let dynamo: LocalDynamo;
let log: DynamoAuditLog;

beforeAll(async () => {
  dynamo = await startLocalDynamo('audit-test');
  let tick = 0;
  log = new DynamoAuditLog(dynamo.client, dynamo.tables.audit, {
    append: 'conditional-put',
    now: () => new Date(T0 + 1000 * tick++),
  });
});
afterAll(async () => {
  await dynamo.close();
});

const step = (summary: string, detail: Record<string, unknown> = {}): AuditEntry => ({
  actor: 'workflow:Execute',
  kind: 'step',
  summary,
  detail,
});

async function appendSteps(chain: string, count: number): Promise<void> {
  for (let i = 1; i <= count; i++) await log.append(chain, step(`step ${i}`, { i }));
}

/** A key of the audit table in the low-level API, for writes that bypass the adapter. */
const key = (chain: string, seq: number) => ({ chain: { S: chain }, seq: { N: String(seq) } });

/**
 * An audit log whose next `times` puts are each preceded by a competitor's append to `chain`, in the window
 * between reading the head and writing after it: the put always finds its seq taken.
 */
function racingLog(chain: string, times: number, options: DynamoAuditLogOptions) {
  const client = new DynamoDBClient({
    endpoint: dynamo.endpoint,
    region: 'local',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });
  let left = times;
  client.middlewareStack.add(
    (next) => async (args) => {
      const input = args.input as { Item?: unknown; ConditionExpression?: string };
      if (input.Item && input.ConditionExpression && left > 0) {
        left--;
        await log.append(chain, step('competitor'));
      }
      return next(args);
    },
    { step: 'initialize' },
  );
  return {
    racer: new DynamoAuditLog(client, dynamo.tables.audit, { ...options, append: 'conditional-put' }),
    stop: () => client.destroy(),
  };
}

/** Runs the CLI command against the dynalite endpoint and collects what it prints. */
async function cli(options: { chain?: string; all?: boolean; table?: string; endpoint?: string }) {
  const out: string[] = [];
  const err: string[] = [];
  const io: AuditCommandIo = { out: (line) => out.push(line), err: (line) => err.push(line), env: {} };
  const code = await auditVerifyCommand({ table: dynamo.tables.audit, endpoint: dynamo.endpoint, ...options }, io);
  return { code, out, err };
}

describe('DynamoAuditLog', () => {
  it('appends records that form a valid chain and read back exactly as sealed', async () => {
    const detail = {
      score: 0.47,
      big: 1e21,
      tiny: 1.5e-7,
      empty: '',
      nested: { list: [], none: null, text: 'order-api → rollback ✓' },
      skipped: undefined,
    };
    const first = await log.append('inc-valid', { ...step('assessed', detail), kind: 'step' });
    const vote = await log.append('inc-valid', {
      actor: 'slack:U123 (alice)',
      kind: 'vote',
      summary: 'approve',
      detail: { choice: 'approve' },
      at: '2026-11-04T03:09:30.000Z',
    });
    expect(first).toMatchObject({ seq: 1, at: '2026-11-04T03:07:00.000Z' });
    expect(vote).toMatchObject({ seq: 2, prevHash: first.hash, at: '2026-11-04T03:09:30.000Z' });

    const records = await log.read('inc-valid');
    expect(records).toEqual([first, vote]);
    expect(records[0].detail).toEqual({
      score: 0.47,
      big: 1e21,
      tiny: 1.5e-7,
      empty: '',
      nested: { list: [], none: null, text: 'order-api → rollback ✓' },
    });
    expect(verifyChain(records, 'inc-valid')).toEqual({ ok: true, length: 2 });
    expect(await log.read('inc-never-written')).toEqual([]);
  });

  it('gives 20 concurrent appends to one chain 20 distinct seqs in one valid chain', async () => {
    const written = await Promise.all(
      Array.from({ length: 20 }, (_, i) => log.append('inc-concurrent', step(`vote ${i}`, { voter: i }))),
    );
    expect(written.map((r) => r.seq).sort((a, b) => a - b)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    const records = await log.read('inc-concurrent');
    expect(records).toHaveLength(20);
    expect(verifyChain(records, 'inc-concurrent')).toEqual({ ok: true, length: 20 });
    // Every writer's record is the one stored: nobody overwrote anybody.
    expect(new Set(records.map((r) => r.hash))).toEqual(new Set(written.map((r) => r.hash)));
    expect(records.map((r) => r.detail.voter).sort()).toEqual(written.map((r) => r.detail.voter).sort());
  });

  it('re-reads the head and seals again when another writer took the seq, and gives up after maxAttempts', async () => {
    await appendSteps('inc-busy', 1);
    const { racer, stop } = racingLog('inc-busy', 2, { maxAttempts: 3, backoffMs: 1 });
    const late = await racer.append('inc-busy', step('late'));
    // Two competitors landed first (seq 2 and 3); the third attempt sealed after them.
    expect(late).toMatchObject({ seq: 4, summary: 'late' });
    stop();

    const hopeless = racingLog('inc-busy', Number.POSITIVE_INFINITY, { maxAttempts: 3, backoffMs: 1 });
    const error = await hopeless.racer.append('inc-busy', step('never')).catch((e: unknown) => e);
    hopeless.stop();
    expect(error).toBeInstanceOf(AuditAppendConflictError);
    expect(error).toMatchObject({ name: 'AuditAppendConflictError', chain: 'inc-busy', attempts: 3 });
    const records = await log.read('inc-busy');
    expect(records.map((r) => r.summary)).toEqual([
      'step 1',
      'competitor',
      'competitor',
      'late',
      ...Array(3).fill('competitor'),
    ]);
    expect(verifyChain(records)).toEqual({ ok: true, length: 7 });
  });

  it('surfaces any other failure naming the table and the chain, and writes nothing', async () => {
    const missing = new DynamoAuditLog(dynamo.client, 'audit-test-no-such-table', { append: 'conditional-put' });
    const error = await missing.append('inc-nowhere', step('lost')).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AuditAppendError);
    expect(error).toMatchObject({ chain: 'inc-nowhere', table: 'audit-test-no-such-table', mode: 'conditional-put' });
    expect((error as Error).message).toMatch(
      /^could not append to audit chain "inc-nowhere" in table "audit-test-no-such-table" \(conditional-put\): ResourceNotFoundException/,
    );

    // dynalite has no ExecuteStatement: the Lambdas' mode fails here, loudly, and never falls back to a put.
    const inserting = new DynamoAuditLog(dynamo.client, dynamo.tables.audit, { append: 'partiql-insert' });
    const refused = await inserting.append('inc-partiql-on-dynalite', step('lost')).catch((e: unknown) => e);
    expect(refused).toMatchObject({ name: 'AuditAppendError', mode: 'partiql-insert' });
    expect(await log.read('inc-partiql-on-dynalite')).toEqual([]);
    // Which is why a function whose DynamoDB is this local stand-in appends with conditional puts.
    expect(appendModeFor({ AWS_ENDPOINT_URL_DYNAMODB: dynamo.endpoint })).toBe('conditional-put');
  });

  it('lists every chain, including one whose first record was deleted', async () => {
    await appendSteps('inc-headless', 2);
    await dynamo.client.send(new DeleteItemCommand({ TableName: dynamo.tables.audit, Key: key('inc-headless', 1) }));
    const chains = await log.chains();
    expect(chains).toEqual(expect.arrayContaining(['inc-valid', 'inc-concurrent', 'inc-headless']));
    expect(chains).toEqual([...chains].sort());
  });
});

describe('tampering behind the adapter', () => {
  it('finds a record overwritten in place', async () => {
    await appendSteps('inc-overwritten', 4);
    const [, , third] = await log.read('inc-overwritten');
    await dynamo.client.send(
      new PutItemCommand({
        TableName: dynamo.tables.audit,
        Item: {
          ...key('inc-overwritten', 3),
          at: { S: third.at },
          actor: { S: third.actor },
          kind: { S: third.kind },
          summary: { S: 'nothing happened' },
          detail: { S: '{"i":3}' },
          prevHash: { S: third.prevHash },
          hash: { S: third.hash },
        },
      }),
    );
    expect(verifyChain(await log.read('inc-overwritten'))).toEqual({
      ok: false,
      brokenAt: 3,
      reason: 'hash mismatch: record 3 was edited after it was written',
    });
  });

  it('finds an updated attribute and a deleted record', async () => {
    await appendSteps('inc-updated', 3);
    await dynamo.client.send(
      new UpdateItemCommand({
        TableName: dynamo.tables.audit,
        Key: key('inc-updated', 2),
        UpdateExpression: 'SET #d = :d',
        ExpressionAttributeNames: { '#d': 'detail' },
        ExpressionAttributeValues: { ':d': { S: '{"i":20}' } },
      }),
    );
    expect(verifyChain(await log.read('inc-updated'))).toMatchObject({ ok: false, brokenAt: 2 });

    await appendSteps('inc-deleted', 5);
    await dynamo.client.send(new DeleteItemCommand({ TableName: dynamo.tables.audit, Key: key('inc-deleted', 3) }));
    expect(verifyChain(await log.read('inc-deleted'))).toEqual({
      ok: false,
      brokenAt: 3,
      reason: 'record 3 is missing (deleted): the chain jumps from 2 to 4',
    });
  });

  it('keeps the break visible after later appends', async () => {
    await appendSteps('inc-later', 3);
    await dynamo.client.send(
      new UpdateItemCommand({
        TableName: dynamo.tables.audit,
        Key: key('inc-later', 1),
        UpdateExpression: 'SET actor = :a',
        ExpressionAttributeValues: { ':a': { S: 'workflow:Nobody' } },
      }),
    );
    await appendSteps('inc-later', 2);
    const records = await log.read('inc-later');
    expect(records.map((r) => r.seq)).toEqual([1, 2, 3, 4, 5]);
    expect(verifyChain(records)).toMatchObject({ ok: false, brokenAt: 1 });
  });
});

describe('sre-agent audit verify', () => {
  it('reports an intact chain and exits 0', async () => {
    await appendSteps('inc-cli-intact', 3);
    expect(await cli({ chain: 'inc-cli-intact' })).toEqual({
      code: 0,
      out: ['chain inc-cli-intact: 3 records, intact'],
      err: [],
    });
  });

  it('reports the first broken record of a chain and exits non-zero', async () => {
    await appendSteps('inc-cli-broken', 4);
    await dynamo.client.send(
      new UpdateItemCommand({
        TableName: dynamo.tables.audit,
        Key: key('inc-cli-broken', 2),
        UpdateExpression: 'SET summary = :s',
        ExpressionAttributeValues: { ':s': { S: 'approved by nobody' } },
      }),
    );
    expect(await cli({ chain: 'inc-cli-broken' })).toEqual({
      code: 1,
      out: ['chain inc-cli-broken: BROKEN at record 2: hash mismatch: record 2 was edited after it was written'],
      err: [],
    });
  });

  it('checks every chain with --all', async () => {
    const { code, out, err } = await cli({ all: true });
    expect(code).toBe(1);
    expect(err).toEqual([]);
    expect(out).toContain('chain inc-cli-intact: 3 records, intact');
    expect(out).toContain('chain inc-concurrent: 20 records, intact');
    expect(out).toContain(
      'chain inc-cli-broken: BROKEN at record 2: hash mismatch: record 2 was edited after it was written',
    );
    expect(out).toContain(
      'chain inc-headless: BROKEN at record 1: record 1 is missing (deleted): the chain jumps from 0 to 2',
    );
    const chains = await log.chains();
    const broken = out.filter((line) => line.includes('BROKEN')).length;
    expect(out.at(-1)).toBe(`${chains.length} chains: ${chains.length - broken} intact, ${broken} broken`);
  });

  it('fails a chain with no records, and refuses to run without a target or a table', async () => {
    expect(await cli({ chain: 'inc-unknown' })).toMatchObject({ code: 1, out: [expect.stringMatching(/no records/)] });
    expect(await cli({})).toMatchObject({ code: 2, err: [expect.stringMatching(/--chain <incident-id>/)] });
    expect(await cli({ chain: 'x', all: true })).toMatchObject({ code: 2 });
    expect(await cli({ chain: 'x', table: '' })).toMatchObject({ code: 2, err: [expect.stringMatching(/--table/)] });
    expect(await cli({ chain: 'x', table: 'no-such-table' })).toMatchObject({
      code: 2,
      err: [expect.stringMatching(/cannot read table "no-such-table": ResourceNotFoundException/)],
    });
  });
});
