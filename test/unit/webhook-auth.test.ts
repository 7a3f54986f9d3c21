// Authentication of alert webhooks: the bearer token Alertmanager sends, the HMAC signature over
// "<timestamp>.<body>" Nightingale deliveries carry, the constant-time comparison under both, and reading the shared
// secret out of Secrets Manager's value.

import fc from 'fast-check';
import {
  constantTimeEqual,
  MAX_SKEW_SECONDS,
  sharedSecretFrom,
  verifyBearerToken,
  verifyWebhookHmac,
  webhookSignature,
} from '../../lambdas/adapters/http/webhook-auth';
import { signWebhook } from '../../lambdas/adapters/webhook/generic-webhook';

const TOKEN = 'Zq3vJ8mT0pXc5LwN2rYd7kHs4bGf9aEu1iOo6UyTxRe8WqPz';
const KEY = 'n9e-signing-key-4b1c7d0a2f94a55b0c1d2e3f4a5b6c7d';
const NOW = new Date('2026-11-04T03:07:00Z');
const nowSeconds = String(Math.floor(NOW.getTime() / 1000));
const BODY = '[{"hash":"abc","rule_name":"HighErrorRate","severity":1,"is_recovered":false,"trigger_time":1793761620}]';

const reasonOf = (result: { ok: boolean; error?: { reason: string } }) => (result.ok ? 'ok' : result.error?.reason);

describe('constantTimeEqual', () => {
  it('is true only for equal values, and never throws on different lengths', () => {
    expect(constantTimeEqual(TOKEN, TOKEN)).toBe(true);
    expect(constantTimeEqual(Buffer.from(TOKEN), TOKEN)).toBe(true);
    expect(constantTimeEqual(`${TOKEN.slice(0, -1)}X`, TOKEN)).toBe(false);
    expect(constantTimeEqual(TOKEN.slice(0, 10), TOKEN)).toBe(false);
    expect(constantTimeEqual('', TOKEN)).toBe(false);
    expect(constantTimeEqual(`${TOKEN}${TOKEN}`, TOKEN)).toBe(false);
  });

  it('agrees with plain equality on any pair of strings', () => {
    fc.assert(fc.property(fc.string(), fc.string(), (a, b) => constantTimeEqual(a, b) === (a === b)));
  });
});

describe('verifyBearerToken (Alertmanager http_config.authorization)', () => {
  it('accepts the shared token, whatever the case of the scheme', () => {
    expect(reasonOf(verifyBearerToken(`Bearer ${TOKEN}`, TOKEN))).toBe('ok');
    expect(reasonOf(verifyBearerToken(`bearer ${TOKEN}`, TOKEN))).toBe('ok');
    expect(reasonOf(verifyBearerToken(`Bearer ${TOKEN}  `, TOKEN))).toBe('ok');
  });

  it('refuses a missing header, another scheme, and any other token, a prefix or extension of it included', () => {
    expect(reasonOf(verifyBearerToken(undefined, TOKEN))).toBe('missing-credentials');
    expect(reasonOf(verifyBearerToken('', TOKEN))).toBe('missing-credentials');
    expect(reasonOf(verifyBearerToken(`Basic ${Buffer.from(`u:${TOKEN}`).toString('base64')}`, TOKEN))).toBe(
      'malformed-credentials',
    );
    expect(reasonOf(verifyBearerToken('Bearer', TOKEN))).toBe('malformed-credentials');
    expect(reasonOf(verifyBearerToken(`Bearer ${TOKEN} extra`, TOKEN))).toBe('malformed-credentials');
    expect(reasonOf(verifyBearerToken(`Bearer ${TOKEN.slice(0, -1)}`, TOKEN))).toBe('wrong-credentials');
    expect(reasonOf(verifyBearerToken(`Bearer ${TOKEN}0`, TOKEN))).toBe('wrong-credentials');
    expect(reasonOf(verifyBearerToken(`Bearer ${TOKEN.toLowerCase()}`, TOKEN))).toBe('wrong-credentials');
  });

  it('never puts the token, given or expected, in the failure detail', () => {
    const given = 'forged-token-value-1234';
    for (const header of [`Bearer ${given}`, `Token ${given}`]) {
      const result = verifyBearerToken(header, TOKEN);
      expect(result.ok).toBe(false);
      if (!result.ok) {
        expect(result.error.detail).not.toContain(given);
        expect(result.error.detail).not.toContain(TOKEN);
      }
    }
  });
});

describe('verifyWebhookHmac (signed Nightingale deliveries)', () => {
  const signed = (body: string | Buffer = BODY, timestamp = nowSeconds, key = KEY) => ({
    rawBody: body,
    timestamp,
    signature: webhookSignature(key, timestamp, body),
  });

  it('accepts a body signed with the key at a current timestamp', () => {
    expect(reasonOf(verifyWebhookHmac(signed(), KEY, NOW))).toBe('ok');
    // Upper-case hex digits are the same signature.
    const request = signed();
    expect(
      reasonOf(
        verifyWebhookHmac({ ...request, signature: `sha256=${request.signature.slice(7).toUpperCase()}` }, KEY, NOW),
      ),
    ).toBe('ok');
  });

  it("uses the agent's own outgoing webhook format, so one signer serves both directions", () => {
    expect(webhookSignature(KEY, nowSeconds, BODY)).toBe(signWebhook(KEY, nowSeconds, BODY));
  });

  it('signs the raw bytes: a Buffer and its UTF-8 text verify alike', () => {
    const text = '{"rule_name":"延迟过高","hash":"h1"}';
    const request = signed(text);
    expect(reasonOf(verifyWebhookHmac({ ...request, rawBody: Buffer.from(text, 'utf8') }, KEY, NOW))).toBe('ok');
  });

  it('refuses a changed body, another key, a moved timestamp and missing or malformed headers', () => {
    const good = signed();
    expect(reasonOf(verifyWebhookHmac({ ...good, rawBody: BODY.replace('false', 'true ') }, KEY, NOW))).toBe(
      'signature-mismatch',
    );
    expect(reasonOf(verifyWebhookHmac(signed(BODY, nowSeconds, 'another-key'), KEY, NOW))).toBe('signature-mismatch');
    expect(reasonOf(verifyWebhookHmac({ ...good, timestamp: String(Number(nowSeconds) - 1) }, KEY, NOW))).toBe(
      'signature-mismatch',
    );
    expect(reasonOf(verifyWebhookHmac({ ...good, signature: undefined }, KEY, NOW))).toBe('missing-signature');
    expect(reasonOf(verifyWebhookHmac({ ...good, timestamp: undefined }, KEY, NOW))).toBe('missing-timestamp');
    expect(reasonOf(verifyWebhookHmac({ ...good, timestamp: '2026-11-04T03:07:00Z' }, KEY, NOW))).toBe(
      'malformed-timestamp',
    );
    expect(reasonOf(verifyWebhookHmac({ ...good, signature: good.signature.slice(7) }, KEY, NOW))).toBe(
      'malformed-signature',
    );
    expect(reasonOf(verifyWebhookHmac({ ...good, signature: `v0=${good.signature.slice(7)}` }, KEY, NOW))).toBe(
      'malformed-signature',
    );
  });

  it(`refuses deliveries signed more than ${MAX_SKEW_SECONDS} s before or after now, and accepts them at the edge`, () => {
    const at = (offset: number) => String(Number(nowSeconds) + offset);
    expect(reasonOf(verifyWebhookHmac(signed(BODY, at(-MAX_SKEW_SECONDS)), KEY, NOW))).toBe('ok');
    expect(reasonOf(verifyWebhookHmac(signed(BODY, at(MAX_SKEW_SECONDS)), KEY, NOW))).toBe('ok');
    expect(reasonOf(verifyWebhookHmac(signed(BODY, at(-MAX_SKEW_SECONDS - 1)), KEY, NOW))).toBe('stale-timestamp');
    expect(reasonOf(verifyWebhookHmac(signed(BODY, at(MAX_SKEW_SECONDS + 1)), KEY, NOW))).toBe('future-timestamp');
  });

  it('accepts any signed body and refuses it once any one byte changes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 1, maxLength: 2_000 }), fc.nat(), (bytes, at) => {
        const body = Buffer.from(bytes);
        const request = signed(body);
        if (!verifyWebhookHmac(request, KEY, NOW).ok) return false;
        const tampered = Buffer.from(body);
        tampered[at % tampered.length] ^= 0x01;
        return reasonOf(verifyWebhookHmac({ ...request, rawBody: tampered }, KEY, NOW)) === 'signature-mismatch';
      }),
      { numRuns: 200 },
    );
  });
});

describe('sharedSecretFrom', () => {
  it('reads a raw value or a JSON value with "token" or "secret", trimmed', () => {
    expect(sharedSecretFrom(`  ${TOKEN}\n`)).toBe(TOKEN);
    expect(sharedSecretFrom(JSON.stringify({ token: TOKEN }))).toBe(TOKEN);
    expect(sharedSecretFrom(JSON.stringify({ secret: ` ${KEY} ` }))).toBe(KEY);
  });

  it('refuses an empty value, JSON without either field, and broken JSON, without echoing the value', () => {
    expect(() => sharedSecretFrom('   ')).toThrow('the webhook secret is empty');
    expect(() => sharedSecretFrom(JSON.stringify({ password: TOKEN }))).toThrow('without a "token" or "secret"');
    expect(() => sharedSecretFrom(JSON.stringify({ token: '' }))).toThrow('without a "token" or "secret"');
    expect(() => sharedSecretFrom(`{"token": "${TOKEN}"`)).toThrow('does not parse');
    try {
      sharedSecretFrom(`{"token": "${TOKEN}"`);
    } catch (error) {
      expect(String(error)).not.toContain(TOKEN);
    }
  });
});
