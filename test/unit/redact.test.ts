// Redaction before text leaves for a model or a chat channel: every kind of secret is replaced by its typed
// placeholder, ordinary log content survives untouched, and redacting is idempotent.

import fc from 'fast-check';
import {
  isSecretKeyName,
  placeholder,
  REDACTION_KINDS,
  type RedactionKind,
  redact,
  redactDeep,
} from '../../lambdas/core/action/redact';

const R = (kind: RedactionKind): string => placeholder(kind);

describe('redact: examples per kind', () => {
  const cases: [string, string, string, RedactionKind][] = [
    [
      'IPv4 with port',
      'dial tcp 10.0.3.17:8443: connect: connection refused',
      `dial tcp ${R('ipv4')}:8443: connect: connection refused`,
      'ipv4',
    ],
    ['IPv4 at end of sentence', 'upstream 192.168.1.254.', `upstream ${R('ipv4')}.`, 'ipv4'],
    ['IPv4 in CIDR', 'allow 172.16.0.0/12 only', `allow ${R('ipv4')}/12 only`, 'ipv4'],
    ['IPv6 full', 'peer 2001:0db8:85a3:0000:0000:8a2e:0370:7334 left', `peer ${R('ipv6')} left`, 'ipv6'],
    ['IPv6 compressed before colon', 'reset by 2001:db8::1: broken pipe', `reset by ${R('ipv6')}: broken pipe`, 'ipv6'],
    ['IPv6 IPv4-mapped', 'client ::ffff:10.0.0.1 connected', `client ${R('ipv6')} connected`, 'ipv6'],
    ['IPv6 bracketed with port', 'GET http://[::1]:8080/health', `GET http://[${R('ipv6')}]:8080/health`, 'ipv6'],
    ['email', 'KYC review for alice.smith+kyc@example.co.uk pending', `KYC review for ${R('email')} pending`, 'email'],
    [
      'AWS access key id',
      'using credentials AKIAIOSFODNN7EXAMPLE',
      `using credentials ${R('aws_access_key_id')}`,
      'aws_access_key_id',
    ],
    [
      'AWS session key id',
      'assumed ASIAY34FZKBOKMUTVV7A ok',
      `assumed ${R('aws_access_key_id')} ok`,
      'aws_access_key_id',
    ],
    [
      'AWS secret access key',
      'aws_secret_access_key=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY',
      `aws_secret_access_key=${R('aws_secret_access_key')}`,
      'aws_secret_access_key',
    ],
    [
      'ARN account id',
      'AccessDenied for arn:aws:iam::123456789012:role/x',
      `AccessDenied for arn:aws:iam::${R('aws_account_id')}:role/x`,
      'aws_account_id',
    ],
    [
      'ARN with region',
      'queue arn:aws:sqs:eu-west-1:210987654321:orders-dlq',
      `queue arn:aws:sqs:eu-west-1:${R('aws_account_id')}:orders-dlq`,
      'aws_account_id',
    ],
    [
      'Secrets Manager ARN keeps the secret name',
      'GetSecretValue arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/db-AbCdEf denied',
      `GetSecretValue arn:aws:secretsmanager:us-east-1:${R('aws_account_id')}:secret:prod/db-AbCdEf denied`,
      'aws_account_id',
    ],
    [
      'bare account id',
      'deployed to account 123456789012',
      `deployed to account ${R('aws_account_id')}`,
      'aws_account_id',
    ],
    [
      'account id as a field',
      'accountId=123456789012 region=us-east-1',
      `accountId=${R('aws_account_id')} region=us-east-1`,
      'aws_account_id',
    ],
    ['bearer token', 'Authorization: Bearer abc.def.ghi', `Authorization: Bearer ${R('bearer_token')}`, 'bearer_token'],
    [
      'basic auth',
      'Authorization: Basic YWRtaW46aHVudGVyMg==',
      `Authorization: Basic ${R('basic_auth')}`,
      'basic_auth',
    ],
    [
      'JWT',
      'token rejected: eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U',
      `token rejected: ${R('jwt')}`,
      'jwt',
    ],
    [
      'password in URL',
      'connect postgres://app:s3cr3t@db:5432/x',
      `connect postgres://app:${R('url_password')}@db:5432/x`,
      'url_password',
    ],
    [
      'password in URL, empty user',
      'redis://:hunter22@cache-1:6379/0',
      `redis://:${R('url_password')}@cache-1:6379/0`,
      'url_password',
    ],
    ['key=value', 'DB_PASSWORD=hunter2 DB_USER=app', `DB_PASSWORD=${R('secret')} DB_USER=app`, 'secret'],
    ['key: value', 'client_secret: 8f3kq0pz', `client_secret: ${R('secret')}`, 'secret'],
    ['query string', 'GET /v1/ws?api_key=k123&symbol=BTC', `GET /v1/ws?api_key=${R('secret')}&symbol=BTC`, 'secret'],
    ['JSON pair', '{"user":"bob","password":"p@ss word"}', `{"user":"bob","password":"${R('secret')}"}`, 'secret'],
    ['escaped JSON pair', '"{\\"apiKey\\":\\"abc123\\"}"', `"{\\"apiKey\\":\\"${R('secret')}\\"}"`, 'secret'],
    ['single-quoted', "access_token='xyz 987'", `access_token='${R('secret')}'`, 'secret'],
    [
      'ETH address',
      'withdrawal to 0x52908400098527886E0F7030069857D2E4169EE7 failed',
      `withdrawal to ${R('eth_address')} failed`,
      'eth_address',
    ],
    ['BTC bech32', 'sent to bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq', `sent to ${R('btc_address')}`, 'btc_address'],
    [
      'BTC testnet bech32',
      'faucet tb1qw508d6qejxtdg4y5r3zarvary0c5xw7kxpjzsx',
      `faucet ${R('btc_address')}`,
      'btc_address',
    ],
    [
      'BTC legacy',
      'payout 1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN2 queued',
      `payout ${R('btc_address')} queued`,
      'btc_address',
    ],
    ['BTC P2SH', 'cold 3J98t1WpEZ73CNmQviecrnyiWrnqRhWNLy', `cold ${R('btc_address')}`, 'btc_address'],
    [
      'TRON',
      'deposit from TJCnKsPa7y5okkXvQAidZBzqx3QyQ6sxMW credited',
      `deposit from ${R('tron_address')} credited`,
      'tron_address',
    ],
    ['LTC bech32', 'ltc1qg82tq4xh3tfkhk2ksk5zwvnsq7a7m8v2dp3u2g', R('ltc_address'), 'ltc_address'],
    ['LTC legacy', 'to LZ8n7Wq7bFdcHPi8cYqNB7P1N7U7DxTL2k', `to ${R('ltc_address')}`, 'ltc_address'],
    [
      'Solana next to wallet',
      'send to wallet 7xKXtg2CW87d97TXJSDpbD5jBkheTqA83TZRuJosgAsU',
      `send to wallet ${R('sol_address')}`,
      'sol_address',
    ],
    [
      'hex private key',
      'hot wallet private key: 4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318',
      `hot wallet private key: ${R('crypto_private_key')}`,
      'crypto_private_key',
    ],
    [
      'PEM block',
      'loaded -----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA\nabc==\n-----END RSA PRIVATE KEY----- ok',
      `loaded ${R('pem_private_key')} ok`,
      'pem_private_key',
    ],
    [
      'truncated PEM block',
      'key=-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0B',
      `key=${R('pem_private_key')}`,
      'pem_private_key',
    ],
  ];

  it.each(cases)('%s', (_name, input, expected, kind) => {
    const out = redact(input);
    expect(out.text).toBe(expected);
    expect(out.findings.map((f) => f.kind)).toContain(kind);
  });

  it('covers every kind with at least one example', () => {
    const covered = new Set(cases.map((c) => c[3]));
    expect(REDACTION_KINDS.filter((k) => !covered.has(k))).toEqual([]);
  });

  it('reports counts per kind, in rule order', () => {
    const out = redact('from 10.0.0.1 and 10.0.0.2 by ops@example.com');
    expect(out.findings).toEqual([
      { kind: 'email', count: 1 },
      { kind: 'ipv4', count: 2 },
    ]);
  });

  it('prefers the most specific kind: a JWT in a bearer header is a JWT', () => {
    const jwt = 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl';
    expect(redact(`Authorization: Bearer ${jwt}`).text).toBe(`Authorization: Bearer ${R('jwt')}`);
  });

  it('redacts a multi-secret log line completely', () => {
    const line =
      'ERROR withdrawal 55120 user=bob@example.com to=0x52908400098527886E0F7030069857D2E4169EE7 via 10.0.3.17 ' +
      'role=arn:aws:iam::123456789012:role/hot-wallet';
    expect(redact(line).text).toBe(
      `ERROR withdrawal 55120 user=${R('email')} to=${R('eth_address')} via ${R('ipv4')} ` +
        `role=arn:aws:iam::${R('aws_account_id')}:role/hot-wallet`,
    );
  });
});

describe('redact: ordinary log content is kept', () => {
  const unchanged = [
    'deployed order-api v2.3.1 (chart 1.2.3)',
    'release 10.4.1.2 rolled out',
    'version 1.2.3.4 is current',
    '2024-05-01T12:30:45.123Z INFO request done in 3000ms',
    'at 12:30:45 the pod restarted',
    'HTTP/1.1 503 Service Unavailable',
    'GET /api/v1/orders/55120 200 12ms',
    'order 123456789012 filled at 64250.5',
    'pod order-api-7f9c8d6b5-x2x9k OOMKilled',
    'at OrderValidator.validate(OrderValidator.java:88)',
    'at Object.<anonymous> (/var/task/index.js:12:30)',
    'std::vector<int>::push_back failed',
    'mac 00:1a:2b:3c:4d:5e link up',
    'snmp oid 1.3.6.1.2.1.1.3.0',
    'commit 3f2a9c1de4b5a6c7d8e9f00112233445566778899 merged',
    'tx 0x88df016429689c079f3b2f6ad39fa052532c56795b733da78a91ebe6a713944b confirmed',
    'max_tokens=1024 temperature=0.2',
    'secret_name=prod/exchange/db rotation ok',
    'bearer token expired for session',
    'Basic authentication disabled',
    'trace_id=1-5759e988-bd862e3fe1be46a994272793',
    'kafka consumer lag 12345 on topic orders.v2',
    'TransactionCoordinatorImpl started',
    'price feed BTC-USDT 64250.10 ETH/USD 3120.55',
  ];

  it.each(unchanged)('%s', (line) => {
    const out = redact(line);
    expect(out.text).toBe(line);
    expect(out.findings).toEqual([]);
  });
});

describe('redactDeep', () => {
  it('replaces values under secret-named keys whatever they look like, and redacts strings elsewhere', () => {
    const input = {
      user: 'alice@example.com',
      password: 'x',
      Authorization: 'Bearer whatever',
      headers: { 'X-Api-Key': 42, cookie: 'sid=1' },
      nested: [{ client_secret: { a: 1 } }, 'peer 10.1.2.3'],
      session: 'abc',
      sessionId: 'def',
      max_tokens: 1024,
      secretArn: 'arn:aws:secretsmanager:us-east-1:123456789012:secret:db',
      empty_password: '',
      count: 3,
      ok: true,
      missing: null,
    };
    const { value, findings } = redactDeep(input);
    expect(value).toEqual({
      user: R('email'),
      password: R('secret'),
      Authorization: R('secret'),
      headers: { 'X-Api-Key': R('secret'), cookie: R('secret') },
      nested: [{ client_secret: R('secret') }, `peer ${R('ipv4')}`],
      session: R('secret'),
      sessionId: R('secret'),
      max_tokens: 1024,
      secretArn: `arn:aws:secretsmanager:us-east-1:${R('aws_account_id')}:secret:db`,
      empty_password: '',
      count: 3,
      ok: true,
      missing: null,
    });
    expect(findings).toEqual([
      { kind: 'secret', count: 7 },
      { kind: 'aws_account_id', count: 1 },
      { kind: 'email', count: 1 },
      { kind: 'ipv4', count: 1 },
    ]);
    expect(input.password).toBe('x');
  });

  it('survives cycles and keeps non-plain leaves', () => {
    const when = new Date('2024-05-01T00:00:00Z');
    const node: Record<string, unknown> = { when, note: 'from 10.0.0.9' };
    node.self = node;
    const { value } = redactDeep(node);
    expect(value).toEqual({ when, note: `from ${R('ipv4')}`, self: '[Circular]' });
  });

  it('is idempotent', () => {
    const once = redactDeep({ token: 'abc', list: ['bob@example.com'] }).value;
    const twice = redactDeep(once);
    expect(twice.value).toEqual(once);
  });

  it('recognises secret key names by suffix', () => {
    for (const k of [
      'password',
      'DB_PASSWD',
      'apiKey',
      'api-key',
      'private_key',
      'accessKey',
      'sessionToken',
      'session',
    ]) {
      expect(isSecretKeyName(k)).toBe(true);
    }
    for (const k of ['max_tokens', 'secretArn', 'tokenCount', 'keyId', 'passwordPolicy', 'user']) {
      expect(isSecretKeyName(k)).toBe(false);
    }
  });
});

// ---- property tests --------------------------------------------------------------------------------------------

const hexChar = fc.constantFrom(...'0123456789abcdef'.split(''));
const B58 = '123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz';
const BECH32 = 'qpzry9x8gf2tvdw0s3jn54khce6mua7l';
const alnum = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
const b64url = `${alnum}-_`;

const str = (alphabet: string, minLength: number, maxLength: number): fc.Arbitrary<string> =>
  fc.array(fc.constantFrom(...alphabet.split('')), { minLength, maxLength }).map((cs) => cs.join(''));

// Base58 with the random mix (upper, lower, digit) that real addresses virtually always have.
const mixedB58 = (length: number): fc.Arbitrary<string> =>
  fc
    .tuple(
      str(B58, length - 3, length - 3),
      fc.constantFrom(...'abcdefghijkmnopqrstuvwxyz'.split('')),
      fc.constantFrom(...'ABCDEFGHJKLMNPQRSTUVWXYZ'.split('')),
      fc.constantFrom(...'123456789'.split('')),
      fc.nat(),
    )
    .map(([body, lower, upper, digit, at]) => {
      const i = at % (body.length + 1);
      return `${body.slice(0, i)}${lower}${upper}${digit}${body.slice(i)}`;
    });

const ipv4 = fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255)).map((o) => o.join('.'));
const email = fc
  .tuple(
    str('abcdefghijklmnopqrstuvwxyz0123456789', 3, 12),
    fc.option(str('abcdefghijklmnopqrstuvwxyz0123456789', 1, 6), { nil: undefined }),
    str('abcdefghijklmnopqrstuvwxyz0123456789', 2, 10),
    fc.constantFrom('com', 'io', 'exchange', 'co.uk', 'org'),
  )
  .map(([local, tag, domain, tld]) => `${local}${tag ? `+${tag}` : ''}@${domain}.${tld}`);
const ethAddress = fc
  .tuple(fc.uint8Array({ minLength: 20, maxLength: 20 }), fc.array(fc.boolean(), { minLength: 40, maxLength: 40 }))
  .map(([bytes, upper]) => {
    const hex = Buffer.from(bytes).toString('hex');
    return `0x${[...hex].map((c, i) => (upper[i] ? c.toUpperCase() : c)).join('')}`;
  });
const bech32 = fc
  .tuple(
    fc.constantFrom('bc1q', 'tb1q', 'bc1p', 'ltc1q'),
    fc.integer({ min: 38, max: 58 }),
    fc.infiniteStream(fc.nat()),
  )
  .map(([prefix, len, stream]) => {
    const it = stream[Symbol.iterator]();
    let s = prefix;
    for (let i = 0; i < len; i++) s += BECH32[it.next().value % BECH32.length];
    return s;
  });
const awsKeyId = fc
  .tuple(fc.constantFrom('AKIA', 'ASIA'), str('ABCDEFGHIJKLMNOPQRSTUVWXYZ234567', 16, 16))
  .map(([p, s]) => p + s);
const jwt = fc
  .tuple(str(b64url, 10, 40), str(b64url, 10, 80), str(b64url, 20, 60))
  .map(([h, p, s]) => `eyJ${h}.eyJ${p}.${s}`);
const urlPassword = fc
  .tuple(
    fc.constantFrom('postgres', 'mysql', 'redis', 'amqp', 'https'),
    fc.constantFrom('app', 'admin', 'svc_orders', ''),
    str(`${alnum}!$*-_.~`, 10, 24),
    fc.constantFrom('db', 'db.internal', 'cache-1.prod', 'mq:5672'),
  )
  .map(([scheme, user, pass, host]) => ({ text: `${scheme}://${user}:${pass}@${host}/x`, secret: pass }));
const tron = mixedB58(33).map((s) => `T${s}`);
const btcLegacy = fc.tuple(fc.constantFrom('1', '3'), mixedB58(33)).map(([p, s]) => p + s);
const hexKey = fc
  .tuple(
    fc.constantFrom('private key', 'signing_key=', 'privkey:'),
    fc.array(hexChar, { minLength: 64, maxLength: 64 }),
  )
  .map(([word, h]) => ({ text: `${word} ${h.join('')}`, secret: h.join('') }));

const plain = (a: fc.Arbitrary<string>): fc.Arbitrary<{ text: string; secret: string }> =>
  a.map((s) => ({ text: s, secret: s }));

const secretArb = fc.oneof(
  plain(ipv4),
  plain(email),
  plain(ethAddress),
  plain(bech32),
  plain(awsKeyId),
  plain(jwt),
  urlPassword,
  plain(tron),
  plain(btcLegacy),
  hexKey,
);

// Words seen in ordinary exchange logs, none of them a secret and none a secret's context word.
const safeWord = fc.oneof(
  fc.constantFrom(
    'order',
    'filled',
    'ERROR',
    'WARN',
    'INFO',
    'GET',
    'POST',
    '/api/v1/orders/55120',
    'HTTP/1.1',
    '200',
    '503',
    'v2.3.1',
    '1.2.3',
    '3000ms',
    '2024-05-01T12:30:45.123Z',
    '12:30:45',
    'order-api-7f9c8d6b5-x2x9k',
    'at OrderValidator.validate(OrderValidator.java:88)',
    'latency_p99=412ms',
    'max_tokens=1024',
    'retries=3',
    'pod',
    'restarted',
    'connection',
    'refused',
    'timeout',
    'matching-engine',
    'std::vector',
    'trace_id=1-5759e988-bd862e3fe1be46a994272793',
    'BTC-USDT',
    'ETH/USD',
    '{"status":"ok"}',
    'NullPointerException',
    '42.5%',
    'us-east-1',
    '123456789012',
    'deadbeef',
    'withdrawal',
    'to',
  ),
  fc.nat().map(String),
);
const sep = fc.constantFrom(' ', '  ', '\n', ' | ', ', ');
const safeText = fc
  .array(fc.tuple(safeWord, sep), { maxLength: 12 })
  .map((parts) => parts.map(([w, s]) => w + s).join(''));

describe('redact: properties', () => {
  it('a generated secret embedded in log text never survives', () => {
    fc.assert(
      fc.property(safeText, secretArb, safeText, (before, secret, after) => {
        const out = redact(`${before} ${secret.text} ${after}`).text;
        expect(out).not.toContain(secret.secret);
        expect(out).toContain('[REDACTED:');
      }),
      { numRuns: 500 },
    );
  });

  it('several secrets in one text all disappear', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(safeText, secretArb), { minLength: 1, maxLength: 5 }), (parts) => {
        const out = redact(parts.map(([t, s]) => `${t} ${s.text} `).join('')).text;
        for (const [, s] of parts) expect(out).not.toContain(s.secret);
      }),
      { numRuns: 200 },
    );
  });

  it('is idempotent on mixed text', () => {
    const token = fc.oneof(
      safeWord,
      secretArb.map((s) => s.text),
    );
    fc.assert(
      fc.property(fc.array(fc.tuple(token, sep), { maxLength: 15 }), (parts) => {
        const once = redact(parts.map(([w, s]) => w + s).join('')).text;
        expect(redact(once).text).toBe(once);
        expect(redact(once).findings).toEqual([]);
      }),
      { numRuns: 500 },
    );
  });

  it('is idempotent on arbitrary strings', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 200 }), (s) => {
        const once = redact(s).text;
        expect(redact(once).text).toBe(once);
      }),
      { numRuns: 500 },
    );
  });

  it('leaves text without secrets unchanged', () => {
    fc.assert(
      fc.property(safeText, (text) => {
        const out = redact(text);
        expect(out.text).toBe(text);
        expect(out.findings).toEqual([]);
      }),
      { numRuns: 500 },
    );
  });
});
