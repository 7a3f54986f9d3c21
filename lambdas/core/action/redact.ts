// Redaction of secrets and personal data before any text leaves the account: prompts sent to a model, messages
// posted to a chat channel, summaries pasted into tickets. Each secret is replaced by a typed placeholder such as
// `[REDACTED:ipv4]`, so whoever reads the result (an engineer or a model) still knows what kind of thing stood
// there and can reason about it ("the connection to an internal IP was refused") without seeing the value.
//
// The rules are regular expressions applied in a fixed order, most specific first: a JWT inside a bearer header
// is reported as a JWT, a password inside a URL is removed before the remainder could be mistaken for an e-mail
// address. No rule starts on a placeholder and the rules repeat until the text stops changing, so redacting twice
// gives the same text as redacting once.
//
// False negatives leak secrets and false positives only cost context, so when in doubt a rule redacts; but
// ordinary log content (numbers, paths, versions, timestamps, pod names, stack frames) is what makes an incident
// diagnosable, so the patterns that could hit it (base58 addresses, 64-hex keys, 12-digit account ids) demand
// either a surrounding keyword or the character mix of a random string.

import { isIPv6 } from 'node:net';

export const REDACTION_KINDS = [
  'pem_private_key',
  'jwt',
  'bearer_token',
  'basic_auth',
  'url_password',
  'crypto_private_key',
  'aws_secret_access_key',
  'secret',
  'aws_access_key_id',
  'aws_account_id',
  'email',
  'eth_address',
  'btc_address',
  'ltc_address',
  'tron_address',
  'sol_address',
  'ipv6',
  'ipv4',
] as const;
export type RedactionKind = (typeof REDACTION_KINDS)[number];

export interface RedactionFinding {
  readonly kind: RedactionKind;
  readonly count: number;
}

export interface RedactionResult {
  readonly text: string;
  /** Kinds that were found, in rule order, with how many values of each were replaced. */
  readonly findings: RedactionFinding[];
}

export interface DeepRedactionResult<T> {
  /**
   * The input with every string redacted and every value under a secret-named key replaced by a placeholder.
   * Those replaced values become strings whatever their original type, so `T` describes the shape, not the leaves.
   */
  readonly value: T;
  readonly findings: RedactionFinding[];
}

export function placeholder(kind: RedactionKind): string {
  return `[REDACTED:${kind}]`;
}

const PLACEHOLDER_PREFIX = '[REDACTED:';

interface Rule {
  readonly kind: RedactionKind;
  /**
   * Global pattern. Optional named groups `pre` and `post` are kept verbatim; `val` (or, without it, the whole
   * match) is what gets replaced. `pre`, `val` and `post` must be contiguous and make up the whole match.
   */
  readonly pattern: RegExp;
  /** Second look at a candidate the pattern alone cannot judge; returning false leaves the match untouched. */
  readonly accept?: (value: string) => boolean;
}

// Base58 (Bitcoin alphabet: no 0, O, I, l) as a character class body.
const B58 = '1-9A-HJ-NP-Za-km-z';
// Bech32 data characters (no 1, b, i, o); the patterns using it are case-insensitive, as bech32 may be upper-case.
const BECH32 = 'ac-hj-np-z02-9';
// Key names whose values are secrets in `key=value`, `key: value` and JSON pairs. The name must end in one of
// these words, so `max_tokens: 1024` and `secret_name=prod/db` are left alone while `DB_PASSWORD=x`,
// `access_token=x` and `clientSecret: x` are caught.
const SECRET_KEY =
  '[A-Za-z0-9_.-]*?(?:password|passwd|pwd|secret|token|api[_-]?key|private[_-]?key|secret[_-]?key|access[_-]?key)';
// Not after `:` or `/`, so the `secret:db` tail of a Secrets Manager ARN or a `/token/` path segment is no pair.
const SECRET_KEY_START = '(?<![A-Za-z0-9_.:/-])';

/** Random-looking base58: upper case, lower case and a digit after the prefix character. */
function looksRandomBase58(value: string): boolean {
  const body = value.slice(1);
  return /[a-z]/.test(body) && /[A-Z]/.test(body) && /[0-9]/.test(body);
}

function hasMixedCase(value: string): boolean {
  return /[a-z]/.test(value) && /[A-Z]/.test(value);
}

const RULES: readonly Rule[] = [
  // A truncated block (no END line) is redacted to the end of the text: half a private key is still a secret.
  {
    kind: 'pem_private_key',
    pattern: /-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----[\s\S]*?(?:-----END (?:[A-Z0-9]+ )*PRIVATE KEY-----|$)/g,
  },
  // Header segment always starts `eyJ` (base64url of `{"`); the signature may be empty for unsigned tokens.
  {
    kind: 'jwt',
    pattern: /(?<![A-Za-z0-9_-])eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]*(?![A-Za-z0-9_-])/g,
  },
  // Prose such as "bearer token expired" must survive, so the value needs a digit, punctuation or mixed case.
  {
    kind: 'bearer_token',
    pattern: /(?<pre>\bBearer\s+)(?<val>(?!\[)[A-Za-z0-9\-._~+/]{8,}=*)(?![A-Za-z0-9\-._~+/=])/gi,
    accept: (v) => /[0-9._~+/=-]/.test(v) || hasMixedCase(v),
  },
  {
    kind: 'basic_auth',
    pattern: /(?<pre>\bBasic\s+)(?<val>[A-Za-z0-9+/]{8,}={0,2})(?![A-Za-z0-9+/=])/gi,
    accept: (v) => /[0-9+/=]/.test(v) || hasMixedCase(v),
  },
  // The user and host stay: they say which service was being reached, which matters for diagnosis.
  {
    kind: 'url_password',
    pattern: /(?<pre>\b[a-z][a-z0-9+.-]*:\/\/[^\s:/@?#[\]]*:)(?<val>(?!\[REDACTED:)[^\s/@?#]+)(?<post>@)/gi,
  },
  // 64 hex digits are also transaction hashes and digests, which are useful; only a key-ish word nearby (same
  // line, within 40 characters) makes one a private key. WIF keys (base58, 51-52 characters) likewise.
  {
    kind: 'crypto_private_key',
    pattern: new RegExp(
      `(?<pre>(?:\\b(?:private|priv|signing|secret|wallet)[_ -]?key|\\bprivkey|\\bseed|\\bmnemonic|\\bkey)\\b[^\\n]{0,40}?)` +
        `(?<![0-9A-Za-z])(?<val>(?:0x)?[0-9a-fA-F]{64}|[5KLc][${B58}]{50,51})(?![0-9A-Za-z])`,
      'gi',
    ),
    accept: (v) => /^(?:0x)?[0-9a-fA-F]{64}$/.test(v) || looksRandomBase58(v),
  },
  // AWS secret access keys are 40 characters of base64 with no prefix of their own; the neighbouring word
  // (`secret`, `key`, `credential`) is what tells them apart from other 40-character strings such as git SHAs.
  {
    kind: 'aws_secret_access_key',
    pattern:
      /(?<pre>(?:secret|key|credentials?)[^\n]{0,40}?)(?<![A-Za-z0-9/+])(?<val>[A-Za-z0-9/+]{40})(?![A-Za-z0-9/+=])/gi,
    accept: hasMixedCase,
  },
  {
    kind: 'secret',
    pattern: new RegExp(
      `(?<pre>${SECRET_KEY_START}\\\\?["']?${SECRET_KEY}\\\\?["']?[ \\t]*[:=][ \\t]*\\\\?")` +
        `(?<val>(?!\\[REDACTED:)(?:[^"\\\\\\n]|\\\\[^"\\n])+)(?<post>\\\\?")`,
      'gi',
    ),
  },
  {
    kind: 'secret',
    pattern: new RegExp(
      `(?<pre>${SECRET_KEY_START}["']?${SECRET_KEY}["']?[ \\t]*[:=][ \\t]*')(?<val>(?!\\[REDACTED:)[^'\\n]+)(?<post>')`,
      'gi',
    ),
  },
  {
    kind: 'secret',
    pattern: new RegExp(
      `(?<pre>${SECRET_KEY_START}["']?${SECRET_KEY}["']?[ \\t]*[:=][ \\t]*)(?<val>(?!["'\\\\[])[^\\s,;&"'<>{}()[\\]\\\\]+)`,
      'gi',
    ),
  },
  {
    kind: 'aws_access_key_id',
    pattern: /(?<![A-Za-z0-9])(?:AKIA|ASIA|ABIA|ACCA|A3T[A-Z0-9])[A-Z0-9]{16}(?![A-Za-z0-9])/g,
  },
  // In an ARN only the account is sensitive; service, region and resource still tell the reader what it was.
  {
    kind: 'aws_account_id',
    pattern: /(?<pre>\barn:aws[a-z-]*:[a-z0-9-]+:[a-z0-9-]*:)(?<val>\d{12})(?<post>:)/g,
  },
  // A bare 12-digit number is an account id only next to the word; otherwise it is as likely an order id.
  {
    kind: 'aws_account_id',
    pattern:
      /(?<pre>(?:account|acct)(?:[ _-]?(?:id|number|no\.?))?["']?[ \t]*[:=#]?[ \t]*["']?)(?<val>\d{12}|\d{4}-\d{4}-\d{4})(?![\d-])/gi,
  },
  {
    kind: 'email',
    pattern:
      /(?<![A-Za-z0-9._%+-])[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,24}(?![A-Za-z0-9-])/g,
  },
  { kind: 'eth_address', pattern: /(?<![A-Za-z0-9])0x[0-9a-fA-F]{40}(?![A-Za-z0-9])/g },
  {
    kind: 'btc_address',
    pattern: new RegExp(`(?<![A-Za-z0-9])(?:bc|tb|bcrt)1[${BECH32}]{11,71}(?![A-Za-z0-9])`, 'gi'),
  },
  { kind: 'ltc_address', pattern: new RegExp(`(?<![A-Za-z0-9])t?ltc1[${BECH32}]{11,71}(?![A-Za-z0-9])`, 'gi') },
  // Base58 shapes also fit identifiers, so the random-looking character mix is required as well.
  {
    kind: 'tron_address',
    pattern: new RegExp(`(?<![A-Za-z0-9])T[${B58}]{33}(?![A-Za-z0-9])`, 'g'),
    accept: looksRandomBase58,
  },
  {
    kind: 'ltc_address',
    pattern: new RegExp(`(?<![A-Za-z0-9])[LM][${B58}]{26,33}(?![A-Za-z0-9])`, 'g'),
    accept: looksRandomBase58,
  },
  {
    kind: 'btc_address',
    pattern: new RegExp(`(?<![A-Za-z0-9])[13][${B58}]{25,34}(?![A-Za-z0-9])`, 'g'),
    accept: looksRandomBase58,
  },
  // Solana-style keys have no prefix at all; only an address-ish word in front makes one worth redacting.
  {
    kind: 'sol_address',
    pattern: new RegExp(
      `(?<pre>\\b(?:wallet|address|addr|pubkey|recipient|destination)\\b(?:[ \\t]+(?:address|addr|id))?[ \\t]*[:=#]?[ \\t]*["']?)` +
        `(?<val>[${B58}]{32,44})(?![A-Za-z0-9])`,
      'gi',
    ),
    accept: looksRandomBase58,
  },
  // A loose candidate, then `isIPv6` decides: this keeps times (`12:30:45`), MAC addresses and `Foo::bar` paths
  // out while accepting every valid form (full, `::`-compressed, IPv4-mapped). It runs before IPv4 so a mapped
  // address is one finding, not an IPv6 prefix plus an IPv4.
  {
    kind: 'ipv6',
    pattern: /(?<![\w:.\]])(?:[0-9A-Fa-f]{1,4}|:)?(?::[0-9A-Fa-f]{0,4}){2,8}(?:\.\d{1,3}){0,3}/g,
    accept: (v) => /[0-9A-Fa-f]/.test(v) && isIPv6(v),
  },
  // Four valid octets, not part of a longer dotted run (OIDs, `v1.2.3.4`) and not announced as a version.
  {
    kind: 'ipv4',
    pattern:
      /(?<![\w.])(?<!\b(?:version|ver|release|build)[ =:]{0,3})(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(?!\w|\.\d)/gi,
  },
];

function applyRule(text: string, rule: Rule, counts: Map<RedactionKind, number>): string {
  return text.replace(rule.pattern, (...args: unknown[]) => {
    const match = args[0] as string;
    const groups = args[args.length - 1] as Record<string, string | undefined> | string;
    const named = typeof groups === 'object' && groups !== null ? groups : {};
    const pre = named.pre ?? '';
    let post = named.post ?? '';
    let value = named.val ?? match.slice(pre.length, match.length - post.length);
    // The IPv6 candidate may swallow the colon that separates an address from the rest of a message.
    if (rule.kind === 'ipv6' && value.endsWith(':') && !value.endsWith('::')) {
      value = value.slice(0, -1);
      post = `:${post}`;
    }
    if (value.startsWith(PLACEHOLDER_PREFIX)) return match;
    if (rule.accept && !rule.accept(value)) return match;
    counts.set(rule.kind, (counts.get(rule.kind) ?? 0) + 1);
    return `${pre}${placeholder(rule.kind)}${post}`;
  });
}

function toFindings(counts: Map<RedactionKind, number>): RedactionFinding[] {
  return REDACTION_KINDS.filter((kind) => counts.has(kind)).map((kind) => ({ kind, count: counts.get(kind)! }));
}

// A later rule can change what an earlier one sees next to it (`10.0.0.1::a` only shows the IPv6 `::a` once the
// IPv4 is a placeholder), so passes repeat until nothing changes; that is what makes redaction idempotent.
// Each pass only shrinks secrets into placeholders, so two or three passes settle any realistic text.
const MAX_PASSES = 5;

function redactInto(text: string, counts: Map<RedactionKind, number>): string {
  let out = text;
  for (let pass = 0; pass < MAX_PASSES; pass++) {
    let next = out;
    for (const rule of RULES) next = applyRule(next, rule, counts);
    if (next === out) break;
    out = next;
  }
  return out;
}

/** Replaces every secret found in `text` by a typed placeholder and reports what was found. */
export function redact(text: string): RedactionResult {
  const counts = new Map<RedactionKind, number>();
  const out = redactInto(text, counts);
  return { text: out, findings: toFindings(counts) };
}

// Keys whose values are secrets whatever they look like: a short password or an opaque session id has no shape a
// text rule could recognise. Compared after lower-casing and dropping `_`/`-`, and only at the end of the name,
// so `maxTokens` or `secretArn` keep their (useful, harmless) values.
const SECRET_KEY_NAME =
  /(?:password|passwd|pwd|secret|token|apikey|authorization|privatekey|accesskey|secretkey|clientsecret|session|sessionid|cookie)$/;

export function isSecretKeyName(key: string): boolean {
  return SECRET_KEY_NAME.test(key.toLowerCase().replace(/[^a-z0-9]/g, ''));
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (value === null || typeof value !== 'object') return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/**
 * Redacts a JSON-like value: strings anywhere inside are redacted as text, and values under secret-named keys are
 * replaced outright. Other leaves (numbers, booleans, dates, class instances) are kept; a repeated reference to an
 * object already being walked becomes `[Circular]` rather than recursing forever.
 */
export function redactDeep<T>(value: T): DeepRedactionResult<T> {
  const counts = new Map<RedactionKind, number>();
  const active = new WeakSet<object>();
  const walk = (node: unknown): unknown => {
    if (typeof node === 'string') return redactInto(node, counts);
    if (Array.isArray(node) || isPlainObject(node)) {
      if (active.has(node)) return '[Circular]';
      active.add(node);
      let out: unknown;
      if (Array.isArray(node)) {
        out = node.map(walk);
      } else {
        const obj: Record<string, unknown> = {};
        for (const [key, child] of Object.entries(node)) {
          // An absent or empty value hides nothing and saying so helps diagnosis ("the password was empty").
          const empty = child === null || child === undefined || child === '';
          if (isSecretKeyName(key) && !empty && child !== placeholder('secret')) {
            counts.set('secret', (counts.get('secret') ?? 0) + 1);
            obj[key] = placeholder('secret');
          } else {
            obj[key] = walk(child);
          }
        }
        out = obj;
      }
      active.delete(node);
      return out;
    }
    return node;
  };
  return { value: walk(value) as T, findings: toFindings(counts) };
}
