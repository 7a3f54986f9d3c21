// Log signatures: normalisation of variable parts, grouping, and the incident-against-baseline comparison.

import fc from 'fast-check';
import {
  compareLogWindows,
  compareServiceLogs,
  extractMessage,
  groupSignatures,
  MAX_SIGNATURE_CHARS,
  normaliseMessage,
  type ServiceLogWindows,
  signatureOf,
} from '../../lambdas/core/cognition/log-signatures';
import type { LogLine } from '../../lambdas/core/perception/log-source';

describe('normaliseMessage', () => {
  it.each([
    // numbers, and what is not a number
    ['index out of range [2] with length 2', 'index out of range [<num>] with length <num>'],
    ['retrying (attempt 2/3) in worker exec-24', 'retrying (attempt <num>/<num>) in worker exec-<num>'],
    ['GET /v1/orders/4829632986/cancel', 'GET /v1/orders/<num>/cancel'],
    ['build=v2.4.0 rolled out on node x86', 'build=v2.4.0 rolled out on node x86'],
    ['cpu at 93.5% of limit', 'cpu at <num>% of limit'],
    // HTTP status codes stay: a 500 and a 503 are different failures
    ['upstream returned 503 for POST /v1/orders', 'upstream returned 503 for POST /v1/orders'],
    ['HTTP 500 POST /v1/orders', 'HTTP 500 POST /v1/orders'],
    ['GET /health -> 502 (12ms)', 'GET /health -> 502 (<dur>)'],
    ['status=429 after 2 tries', 'status=429 after <num> tries'],
    ['queue depth 503', 'queue depth <num>'],
    // hex ids, UUIDs
    ['trace 7bfdf9ff904e425ad42da1a55851ad19 failed', 'trace <hex> failed'],
    ['span=5ba1c889badfa76c retries=2', 'span=<hex> retries=<num>'],
    ['tx 0x9f2c4e1a7b3d5f608192a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f8 reverted', 'tx <hex> reverted'],
    ['job 24b2b910-05ba-490d-a913-2544e1aa23d6 stuck', 'job <uuid> stuck'],
    ['deadbeef and facade are words here', 'deadbeef and facade are words here'],
    // addresses
    ['client 10.3.136.17:56267 disconnected', 'client <ip> disconnected'],
    ['dial tcp 10.0.4.7:9000: i/o timeout', 'dial tcp <ip>: i/o timeout'],
    ['peer [2001:db8::1]:8080 reset', 'peer <ip> reset'],
    ['listening on fe80::1ff:fe23:4567:890a', 'listening on <ip>'],
    ['std::vector resize failed', 'std::vector resize failed'],
    ['mail to trader.42@example.com bounced', 'mail to <email> bounced'],
    // durations and sizes
    [
      'upstream timeout after 3012ms calling matching-engine:9000',
      'upstream timeout after <dur> calling matching-engine:<num>',
    ],
    ['token expired 1628s ago, next refresh in 1m30s', 'token expired <dur> ago, next refresh in <dur>'],
    ['slow query took 1.25s (limit 500us)', 'slow query took <dur> (limit <dur>)'],
    ['container used 512Mi of 1.5GiB, wrote 2048 bytes', 'container used <size> of <size>, wrote <size>'],
    // quoted values
    ['unexpected field "clientOrderId \\"x\\"" at offset 37', 'unexpected field <str> at offset <num>'],
    ["can't connect to 'mysql-main' now", "can't connect to <str> now"],
    // timestamps
    ['lease expired at 2026-11-04T03:06:01.123Z', 'lease expired at <ts>'],
    ['2026/11/04 03:06:01 worker stopped', '<ts> worker stopped'],
    ['cutoff 2026-11-04 passed at 03:06:01.5', 'cutoff <ts> passed at <ts>'],
    // order, trade and transaction ids
    ['order_id=ORD-20261104-000123 rejected', 'order_id=<id> rejected'],
    ['clientOrderId: c-77f1 9 filled', 'clientOrderId: <id> <num> filled'],
    ['settle ord-20261104-000123 and txn_55512 failed', 'settle <id> and <id> failed'],
    ['order-api-v2 is degraded', 'order-api-v2 is degraded'],
    ['request_id=0fab22ab-1d52-417f-9666-9bacaa46d112 trace_id=abc123', 'request_id=<id> trace_id=<id>'],
    // whitespace
    ['  lots\tof   space  ', 'lots of space'],
  ])('%s', (input, expected) => {
    expect(normaliseMessage(input)).toBe(expected);
  });

  it('bounds the work on a huge line that almost looks like logfmt', () => {
    const started = Date.now();
    const signature = signatureOf(`${'a="x" '.repeat(200_000)}tail`);
    expect(signature).toHaveLength(MAX_SIGNATURE_CHARS + 1);
    expect(Date.now() - started).toBeLessThan(2_000);
  });

  it('caps a long signature', () => {
    const signature = normaliseMessage(`failure ${'word '.repeat(100)}`);
    expect(signature).toHaveLength(MAX_SIGNATURE_CHARS + 1);
    expect(signature.endsWith('…')).toBe(true);
  });

  it('gives one signature whatever the numbers, addresses, ids and durations', () => {
    const expected = 'upstream timeout after <dur> calling <ip> order_id=<id> request <uuid> after <num> retries';
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 10_000_000 }),
        fc.ipV4(),
        fc.integer({ min: 1, max: 65_535 }),
        fc.integer({ min: 1, max: 2 ** 40 }),
        fc.uuid(),
        fc.integer({ min: 0, max: 9 }),
        (ms, ip, port, orderId, uuid, retries) => {
          const line = `upstream timeout after ${ms}ms calling ${ip}:${port} order_id=${orderId} request ${uuid} after ${retries} retries`;
          expect(normaliseMessage(line)).toBe(expected);
        },
      ),
    );
  });
});

describe('extractMessage', () => {
  it.each([
    ['{"level":"error","msg":"upstream timeout","ts":1730689561.5}', 'upstream timeout'],
    [
      '{"level":"error","message":"db down","error":"dial tcp 10.0.0.1:3306: refused"}',
      'db down: dial tcp 10.0.0.1:3306: refused',
    ],
    ['{"level":"error","error":{"type":"Timeout","message":"deadline exceeded"}}', 'deadline exceeded'],
    ['{"msg":"failed: deadline exceeded","err":"deadline exceeded"}', 'failed: deadline exceeded'],
    ['{"level":"error","code":17}', '{"level":"error","code":17}'],
    ['{not json at all', '{not json at all'],
    ['level=error ts=2026-11-04T03:06:01Z msg="upstream timeout" err="i/o timeout"', 'upstream timeout: i/o timeout'],
    ['level=error msg=crashed', 'crashed'],
    ['ERROR failed at=step2 while level=high', 'ERROR failed at=step2 while level=high'],
    [
      'java.lang.NullPointerException: boom\n\tat com.example.Order.place(Order.java:42)',
      'java.lang.NullPointerException: boom',
    ],
  ])('%s', (line, message) => {
    expect(extractMessage(line)).toBe(message);
  });

  it('normalises the extracted JSON message, not the whole object', () => {
    expect(signatureOf('{"level":"error","ts":"2026-11-04T03:06:01Z","msg":"timeout after 3000ms","pod":"a-1"}')).toBe(
      'timeout after <dur>',
    );
  });
});

const MINUTE = 60_000;
const T0 = Date.parse('2026-11-04T03:00:00Z');
const line = (minute: number, text: string, service = 'order-api'): LogLine => ({
  time: T0 + minute * MINUTE,
  labels: { service },
  line: text,
});

describe('groupSignatures', () => {
  it('counts lines per signature with first and last seen and the earliest line as example', () => {
    const groups = groupSignatures([
      line(7, 'timeout after 3100ms calling 10.0.0.2:9000'),
      line(2, 'panic: nil map'),
      line(5, 'timeout after 3000ms calling 10.0.0.1:9000'),
      line(6, 'timeout after 2900ms calling 10.0.0.3:9000'),
      line(3, 'db error 1205'),
      line(4, 'db error 1213'),
    ]);
    expect(groups).toEqual([
      {
        signature: 'timeout after <dur> calling <ip>',
        count: 3,
        firstSeen: T0 + 5 * MINUTE,
        lastSeen: T0 + 7 * MINUTE,
        example: 'timeout after 3000ms calling 10.0.0.1:9000',
      },
      {
        signature: 'db error <num>',
        count: 2,
        firstSeen: T0 + 3 * MINUTE,
        lastSeen: T0 + 4 * MINUTE,
        example: 'db error 1205',
      },
      {
        signature: 'panic: nil map',
        count: 1,
        firstSeen: T0 + 2 * MINUTE,
        lastSeen: T0 + 2 * MINUTE,
        example: 'panic: nil map',
      },
    ]);
  });

  it('orders equal counts by first seen, then by signature', () => {
    const groups = groupSignatures([line(2, 'b'), line(1, 'c'), line(2, 'a')]);
    expect(groups.map((group) => group.signature)).toEqual(['c', 'a', 'b']);
  });

  it('cuts a huge example line', () => {
    const [group] = groupSignatures([line(0, `ERROR ${'x'.repeat(1000)}`)]);
    expect(group.example).toHaveLength(301);
  });
});

function incidentLines(): LogLine[] {
  const lines: LogLine[] = [];
  for (let i = 0; i < 310; i++) {
    lines.push(line(6 + (i % 4), `upstream timeout after ${3000 + i}ms calling 10.0.${i % 7}.9:9000`));
  }
  for (let i = 0; i < 90; i++) lines.push(line(7 + (i % 3), `db error ${1200 + i} on tx_${100000 + i}`));
  for (let i = 0; i < 12; i++) lines.push(line(8, `schema version ${i} not registered`));
  return lines;
}

function baselineLines(): LogLine[] {
  return [
    line(-50, 'db error 1205 on tx_100777'),
    line(-30, 'db error 1206 on tx_100778'),
    line(-10, 'cache miss storm'),
  ];
}

const ORDER_API: ServiceLogWindows = {
  service: 'order-api',
  incident: { startMs: T0, endMs: T0 + 10 * MINUTE, errorLines: 412, lines: incidentLines() },
  baseline: { startMs: T0 - 60 * MINUTE, endMs: T0, errorLines: 3, lines: baselineLines() },
};

describe('compareServiceLogs', () => {
  it('measures the rate ratio, finds the novel signatures and writes checkable evidence', () => {
    const findings = compareServiceLogs(ORDER_API, { topSignatures: 2 });
    expect(findings.incident).toEqual({
      startMs: T0,
      endMs: T0 + 10 * MINUTE,
      minutes: 10,
      errorLines: 412,
      perMinute: 41.2,
      sampled: 412,
    });
    expect(findings.baseline).toMatchObject({ minutes: 60, errorLines: 3, perMinute: 0.05, sampled: 3 });
    expect(findings.rateRatio).toBe(824);
    expect(findings.excessLines).toBe(412); // 412 - 0.5 predicted by 3 lines an hour, rounded
    expect(findings.topSignatures.map((f) => [f.signature, f.count, f.baselineCount, f.novel])).toEqual([
      ['upstream timeout after <dur> calling <ip>', 310, 0, true],
      ['db error <num> on <id>', 90, 2, false],
    ]);
    expect(findings.novelSignatures.map((f) => f.signature)).toEqual([
      'upstream timeout after <dur> calling <ip>',
      'schema version <num> not registered',
    ]);
    expect(findings.novelCount).toBe(2);
    expect(findings.baselineComplete).toBe(true);
    expect(findings.evidence).toBe(
      "order-api: 412 error lines in 10 min vs 3 in the previous 60 min (rate x824); new: 'upstream timeout after <dur> calling <ip>' x310 since 03:06, 'schema version <num> not registered' x12 since 03:08",
    );
  });

  it('says when the signatures come from a sample and the baseline was sampled too', () => {
    const findings = compareServiceLogs({
      ...ORDER_API,
      incident: { ...ORDER_API.incident, errorLines: 5000 },
      baseline: { ...ORDER_API.baseline, errorLines: 40 },
    });
    expect(findings.baselineComplete).toBe(false);
    expect(findings.evidence).toContain('; new (not among 3 sampled baseline lines): ');
    expect(findings.evidence.endsWith('; signatures from 412 sampled lines')).toBe(true);
  });

  it('has no ratio when the baseline was clean, and names a baseline that is not just before', () => {
    const findings = compareServiceLogs({
      service: 'api-gateway',
      incident: {
        startMs: T0,
        endMs: T0 + 10 * MINUTE,
        errorLines: 1,
        lines: [line(9, 'circuit open', 'api-gateway')],
      },
      baseline: { startMs: T0 - 24 * 60 * MINUTE, endMs: T0 - 23 * 60 * MINUTE, errorLines: 0, lines: [] },
    });
    expect(findings.rateRatio).toBeNull();
    expect(findings.excessLines).toBe(1);
    expect(findings.evidence).toBe(
      "api-gateway: 1 error line in 10 min vs 0 in 60 min from 2026-11-03 03:00 (none before); new: 'circuit open' x1 since 03:09",
    );
  });

  it('reports the top recurring signature when nothing is new', () => {
    const findings = compareServiceLogs({
      service: 'order-api',
      incident: {
        startMs: T0,
        endMs: T0 + 10 * MINUTE,
        errorLines: 2,
        lines: [line(1, 'db error 1'), line(2, 'db error 2')],
      },
      baseline: { startMs: T0 - 60 * MINUTE, endMs: T0, errorLines: 12, lines: [line(-5, 'db error 9')] },
    });
    expect(findings.novelCount).toBe(0);
    expect(findings.rateRatio).toBe(1);
    expect(findings.excessLines).toBe(0);
    expect(findings.evidence).toBe(
      "order-api: 2 error lines in 10 min vs 12 in the previous 60 min (rate x1); top: 'db error <num>' x2 (baseline x1)",
    );
  });

  it('lists at most three new signatures in the evidence and counts the rest', () => {
    const lines = ['a', 'b', 'c', 'd', 'e'].map((name, i) => line(i, `failure ${name}`));
    const findings = compareServiceLogs({
      service: 'order-api',
      incident: { startMs: T0, endMs: T0 + 10 * MINUTE, errorLines: 5, lines },
      baseline: { startMs: T0 - 60 * MINUTE, endMs: T0, errorLines: 0, lines: [] },
    });
    expect(findings.evidence).toContain("'failure c' x1 since 03:02 and 2 more");
  });
});

describe('compareLogWindows', () => {
  const quiet: ServiceLogWindows = {
    service: 'wallet-service',
    incident: { startMs: T0, endMs: T0 + 10 * MINUTE, errorLines: 0, lines: [] },
    baseline: { startMs: T0 - 60 * MINUTE, endMs: T0, errorLines: 6, lines: [line(-3, 'retry', 'wallet-service')] },
  };
  const gateway: ServiceLogWindows = {
    service: 'api-gateway',
    incident: {
      startMs: T0,
      endMs: T0 + 10 * MINUTE,
      errorLines: 40,
      lines: [line(7, 'upstream order-api returned 503')],
    },
    baseline: { startMs: T0 - 60 * MINUTE, endMs: T0, errorLines: 0, lines: [] },
  };

  it('ranks services by excess error lines and keeps evidence for those with errors', () => {
    const findings = compareLogWindows([quiet, gateway, ORDER_API]);
    expect(findings.services.map((service) => service.service)).toEqual(['order-api', 'api-gateway', 'wallet-service']);
    expect(findings.evidence).toHaveLength(2);
    expect(findings.evidence[1]).toBe(
      "api-gateway: 40 error lines in 10 min vs 0 in the previous 60 min (none before); new: 'upstream order-api returned 503' x1 since 03:07; signatures from 1 sampled lines",
    );
  });

  it('is deterministic: the order of services and lines does not change the output, which is plain JSON', () => {
    const shuffled = (lines: readonly LogLine[]) => [...lines].reverse();
    const first = compareLogWindows([ORDER_API, gateway, quiet]);
    const second = compareLogWindows([
      quiet,
      {
        ...ORDER_API,
        incident: { ...ORDER_API.incident, lines: shuffled(ORDER_API.incident.lines) },
        baseline: { ...ORDER_API.baseline, lines: shuffled(ORDER_API.baseline.lines) },
      },
      gateway,
    ]);
    expect(second).toEqual(first);
    expect(JSON.parse(JSON.stringify(first))).toEqual(first);
  });
});
