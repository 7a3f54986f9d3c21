// The audit log's PartiQL path, the one the Lambdas take on AWS: records are created with one INSERT whose values
// travel only as parameters, a DuplicateItemException is a lost race (re-read the head, seal after it), and any
// other failure surfaces naming the table and the chain. Also which path a function picks from its environment.

import { Readable } from 'node:stream';
import {
  DuplicateItemException,
  DynamoDBClient,
  DynamoDBServiceException,
  ResourceNotFoundException,
} from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, ExecuteStatementCommand, PutCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { type AwsClientStub, mockClient } from 'aws-sdk-client-mock';
import {
  AuditAppendConflictError,
  AuditAppendError,
  appendModeFor,
  DynamoAuditLog,
} from '../../lambdas/adapters/dynamodb/audit-log';
import {
  type AuditEntry,
  type AuditRecord,
  canonicalJson,
  GENESIS_HASH,
  nextRecord,
  verifyChain,
} from '../../lambdas/core/action/audit';

const TABLE = 'sre-agent-prod-AuditTrailTable-1X2Y3Z';
const AT = '2026-11-04T03:07:00.000Z';
const INSERT =
  `INSERT INTO "${TABLE}" VALUE ` +
  "{'chain': ?, 'seq': ?, 'at': ?, 'actor': ?, 'kind': ?, 'summary': ?, 'detail': ?, 'prevHash': ?, 'hash': ?}";

const client = new DynamoDBClient({
  region: 'ap-northeast-1',
  credentials: { accessKeyId: 'a', secretAccessKey: 'b' },
});
let doc: AwsClientStub<DynamoDBDocumentClient>;

/** Every document client answers from `doc` during the tests of the describe this is called in, and only then. */
function mockDocumentClients(): void {
  beforeAll(() => {
    doc = mockClient(DynamoDBDocumentClient);
  });
  beforeEach(() => doc.reset());
  afterAll(() => doc.restore());
}

const inserting = (options: { maxAttempts?: number } = {}) =>
  new DynamoAuditLog(client, TABLE, { append: 'partiql-insert', now: () => new Date(AT), backoffMs: 1, ...options });

const entry = (summary: string, detail: Record<string, unknown> = {}): AuditEntry => ({
  actor: 'workflow:Execute',
  kind: 'step',
  summary,
  detail,
});

/** A record as the table holds it: `detail` as its canonical JSON text. */
const itemOf = (record: AuditRecord) => ({ ...record, detail: canonicalJson(record.detail) });

/** The record another writer appended to `chain` after `previous`. */
const competitor = (chain: string, previous?: AuditRecord) =>
  nextRecord(previous, { ...entry('competitor'), chain, at: '2026-11-04T03:06:59.000Z' });

const duplicate = () =>
  new DuplicateItemException({ message: 'Duplicate primary key exists in table', $metadata: { httpStatusCode: 400 } });

const insertCalls = () => doc.commandCalls(ExecuteStatementCommand).map((call) => call.args[0].input);

describe("DynamoAuditLog in 'partiql-insert' mode", () => {
  mockDocumentClients();

  it('creates a record with one INSERT: the table quoted, one ? per attribute, every value a parameter', async () => {
    doc.on(QueryCommand).resolves({ Items: [] });
    doc.on(ExecuteStatementCommand).resolves({});
    // Quotes and braces in the values stay out of the statement's text.
    const detail = { reason: "o'brien's {deploy}", score: 0.47 };
    const record = await inserting().append('inc-1', entry("rolled back 'order-api'", detail));

    expect(record).toMatchObject({ chain: 'inc-1', seq: 1, at: AT, prevHash: GENESIS_HASH });
    expect(insertCalls()).toEqual([
      {
        Statement: INSERT,
        Parameters: [
          'inc-1',
          1,
          AT,
          'workflow:Execute',
          'step',
          "rolled back 'order-api'",
          '{"reason":"o\'brien\'s {deploy}","score":0.47}',
          GENESIS_HASH,
          record.hash,
        ],
      },
    ]);
    expect(doc.commandCalls(PutCommand)).toEqual([]);
    expect(verifyChain([record], 'inc-1')).toEqual({ ok: true, length: 1 });
  });

  it('reads the head consistently and seals after it', async () => {
    const head = competitor('inc-2');
    doc.on(QueryCommand).resolves({ Items: [itemOf(head)] });
    doc.on(ExecuteStatementCommand).resolves({});
    const record = await inserting().append('inc-2', entry('next'));

    expect(record).toMatchObject({ seq: 2, prevHash: head.hash });
    expect(doc.commandCalls(QueryCommand)[0].args[0].input).toMatchObject({
      TableName: TABLE,
      ScanIndexForward: false,
      Limit: 1,
      ConsistentRead: true,
    });
    expect(insertCalls().map((input) => input.Parameters?.slice(0, 2))).toEqual([['inc-2', 2]]);
    expect(verifyChain([head, record], 'inc-2')).toEqual({ ok: true, length: 2 });
  });

  it('takes a DuplicateItemException as a lost race: re-reads the head and inserts at the next seq', async () => {
    const first = competitor('inc-race');
    doc
      .on(QueryCommand)
      .resolvesOnce({ Items: [] })
      .resolves({ Items: [itemOf(first)] });
    doc.on(ExecuteStatementCommand).rejectsOnce(duplicate()).resolves({});
    const record = await inserting().append('inc-race', entry('late'));

    expect(record).toMatchObject({ seq: 2, prevHash: first.hash, summary: 'late' });
    expect(insertCalls().map((input) => [input.Statement, input.Parameters?.[1]])).toEqual([
      [INSERT, 1],
      [INSERT, 2],
    ]);
    expect(verifyChain([first, record], 'inc-race')).toEqual({ ok: true, length: 2 });
  });

  it('gives up with AuditAppendConflictError after maxAttempts lost races, the last one as its cause', async () => {
    let head: AuditRecord | undefined;
    // Every head read finds one more competitor, and every insert finds its seq taken.
    doc.on(QueryCommand).callsFake(() => {
      head = competitor('inc-busy', head);
      return { Items: [itemOf(head)] };
    });
    doc.on(ExecuteStatementCommand).rejects(duplicate());
    const error = await inserting({ maxAttempts: 3 })
      .append('inc-busy', entry('never'))
      .catch((e: unknown) => e);

    expect(error).toBeInstanceOf(AuditAppendConflictError);
    expect(error).toMatchObject({ name: 'AuditAppendConflictError', chain: 'inc-busy', attempts: 3 });
    expect((error as Error).cause).toBeInstanceOf(DuplicateItemException);
    expect(insertCalls().map((input) => input.Parameters?.[1])).toEqual([2, 3, 4]);
  });

  it('surfaces any other failure of the insert at once, naming the table, the chain and the mode', async () => {
    doc.on(QueryCommand).resolves({ Items: [] });
    const denied = new DynamoDBServiceException({
      name: 'AccessDeniedException',
      $fault: 'client',
      message: `User is not authorized to perform: dynamodb:PartiQLInsert on resource: ${TABLE}`,
      $metadata: { httpStatusCode: 400 },
    });
    doc.on(ExecuteStatementCommand).rejects(denied);
    const error = await inserting()
      .append('inc-denied', entry('step'))
      .catch((e: unknown) => e);

    expect(error).toBeInstanceOf(AuditAppendError);
    expect(error).toMatchObject({
      name: 'AuditAppendError',
      chain: 'inc-denied',
      table: TABLE,
      mode: 'partiql-insert',
    });
    expect((error as Error).message).toBe(
      `could not append to audit chain "inc-denied" in table "${TABLE}" (partiql-insert): ` +
        `AccessDeniedException: User is not authorized to perform: dynamodb:PartiQLInsert on resource: ${TABLE}`,
    );
    expect((error as Error).cause).toBe(denied);
    // Not a lost race: no second attempt.
    expect(insertCalls()).toHaveLength(1);
  });

  it('surfaces a failed head read the same way, without inserting', async () => {
    doc
      .on(QueryCommand)
      .rejects(
        new ResourceNotFoundException({ message: 'Requested resource not found', $metadata: { httpStatusCode: 400 } }),
      );
    const error = await inserting()
      .append('inc-no-table', entry('step'))
      .catch((e: unknown) => e);

    expect(error).toBeInstanceOf(AuditAppendError);
    expect((error as Error).message).toBe(
      `could not append to audit chain "inc-no-table" in table "${TABLE}" (partiql-insert): ` +
        'ResourceNotFoundException: Requested resource not found',
    );
    expect(insertCalls()).toEqual([]);
  });

  it('fails loudly on an endpoint without ExecuteStatement, and never falls back to a put', async () => {
    doc.on(QueryCommand).resolves({ Items: [] });
    doc.on(ExecuteStatementCommand).rejects(
      new DynamoDBServiceException({
        name: 'UnknownOperationException',
        $fault: 'client',
        message: '',
        $metadata: { httpStatusCode: 400 },
      }),
    );
    await expect(inserting().append('inc-local', entry('step'))).rejects.toThrow(
      `could not append to audit chain "inc-local" in table "${TABLE}" (partiql-insert): UnknownOperationException`,
    );
    expect(insertCalls()).toHaveLength(1);
    expect(doc.commandCalls(PutCommand)).toEqual([]);
  });
});

describe("DynamoAuditLog in 'conditional-put' mode (the default)", () => {
  mockDocumentClients();

  it('creates records with a put conditional on the key, and no PartiQL', async () => {
    doc.on(QueryCommand).resolves({ Items: [] });
    doc.on(PutCommand).resolves({});
    const record = await new DynamoAuditLog(client, TABLE, { now: () => new Date(AT) }).append('inc-put', entry('s'));

    expect(doc.commandCalls(PutCommand).map((call) => call.args[0].input)).toEqual([
      {
        TableName: TABLE,
        Item: itemOf(record),
        ConditionExpression: 'attribute_not_exists(#chain)',
        ExpressionAttributeNames: { '#chain': 'chain' },
      },
    ]);
    expect(insertCalls()).toEqual([]);
  });

  it('does not take a DuplicateItemException for a lost race: that answer cannot come from a put', async () => {
    doc.on(QueryCommand).resolves({ Items: [] });
    doc.on(PutCommand).rejects(duplicate());
    const log = new DynamoAuditLog(client, TABLE, { append: 'conditional-put', backoffMs: 1 });
    const error = await log.append('inc-odd', entry('s')).catch((e: unknown) => e);

    expect(error).toMatchObject({ name: 'AuditAppendError', mode: 'conditional-put' });
    expect(doc.commandCalls(PutCommand)).toHaveLength(1);
  });
});

describe('the INSERT on the wire', () => {
  /** A DynamoDB client whose requests are answered by `answer` instead of AWS; every request body is kept. */
  function wired(answer: (target: string, attempt: number) => { status: number; body: object }) {
    const requests: { target: string; body: Record<string, unknown> }[] = [];
    const wire = new DynamoDBClient({
      region: 'ap-northeast-1',
      credentials: { accessKeyId: 'a', secretAccessKey: 'b' },
      maxAttempts: 1,
      requestHandler: {
        handle: async (request: { headers: Record<string, string>; body: string | Uint8Array }) => {
          const target = request.headers['x-amz-target'].replace('DynamoDB_20120810.', '');
          // The body is bytes; decoding them directly avoids the SDK's string adapter (and its warning).
          const text = typeof request.body === 'string' ? request.body : new TextDecoder().decode(request.body);
          requests.push({ target, body: JSON.parse(text) });
          const { status, body } = answer(target, requests.filter((r) => r.target === target).length);
          return {
            response: {
              statusCode: status,
              headers: { 'content-type': 'application/x-amz-json-1.0' },
              body: Readable.from([Buffer.from(JSON.stringify(body))]),
            },
          };
        },
      },
    });
    return { wire, requests };
  }

  it('sends typed parameters, and recognises DynamoDB’s DuplicateItemException as a lost race', async () => {
    const first = competitor('inc-wire');
    const { wire, requests } = wired((target, attempt) => {
      if (target === 'Query') {
        const items = attempt === 1 ? [] : [itemOf(first)];
        const marshalled = items.map((item) =>
          Object.fromEntries(
            Object.entries(item).map(([name, value]) => [
              name,
              typeof value === 'number' ? { N: `${value}` } : { S: value },
            ]),
          ),
        );
        return { status: 200, body: { Items: marshalled, Count: marshalled.length } };
      }
      const taken = {
        __type: 'com.amazonaws.dynamodb.v20120810#DuplicateItemException',
        message: 'Duplicate primary key exists in table',
      };
      return attempt === 1 ? { status: 400, body: taken } : { status: 200, body: {} };
    });
    const log = new DynamoAuditLog(wire, TABLE, { append: 'partiql-insert', now: () => new Date(AT), backoffMs: 1 });
    const record = await log.append('inc-wire', entry('on the wire', { n: 1 })).finally(() => wire.destroy());

    expect(record).toMatchObject({ seq: 2, prevHash: first.hash });
    expect(requests.map((r) => r.target)).toEqual(['Query', 'ExecuteStatement', 'Query', 'ExecuteStatement']);
    expect(requests[3].body).toEqual({
      Statement: INSERT,
      Parameters: [
        { S: 'inc-wire' },
        { N: '2' },
        { S: AT },
        { S: 'workflow:Execute' },
        { S: 'step' },
        { S: 'on the wire' },
        { S: '{"n":1}' },
        { S: first.hash },
        { S: record.hash },
      ],
    });
  });
});

describe('appendModeFor', () => {
  it.each([
    ['no endpoint override (a deployed Lambda)', {}, 'partiql-insert'],
    [
      'a regional endpoint',
      { AWS_ENDPOINT_URL_DYNAMODB: 'https://dynamodb.ap-northeast-1.amazonaws.com' },
      'partiql-insert',
    ],
    ['dynalite on 127.0.0.1', { AWS_ENDPOINT_URL_DYNAMODB: 'http://127.0.0.1:41234' }, 'conditional-put'],
    ['a stand-in on localhost', { AWS_ENDPOINT_URL_DYNAMODB: 'http://localhost:8000' }, 'conditional-put'],
    ['a stand-in on IPv6 loopback', { AWS_ENDPOINT_URL_DYNAMODB: 'http://[::1]:8000' }, 'conditional-put'],
    ['the generic endpoint variable', { AWS_ENDPOINT_URL: 'http://127.0.0.1:4566' }, 'conditional-put'],
    [
      'the DynamoDB variable over the generic one',
      { AWS_ENDPOINT_URL_DYNAMODB: 'https://dynamodb.example.com', AWS_ENDPOINT_URL: 'http://127.0.0.1:4566' },
      'partiql-insert',
    ],
    [
      'a host that only starts like loopback',
      { AWS_ENDPOINT_URL_DYNAMODB: 'http://127.0.0.1.nip.io' },
      'partiql-insert',
    ],
    ['text that is no URL', { AWS_ENDPOINT_URL_DYNAMODB: 'localhost' }, 'partiql-insert'],
  ])('%s: %j -> %s', (_, env, mode) => {
    expect(appendModeFor(env)).toBe(mode);
  });
});
