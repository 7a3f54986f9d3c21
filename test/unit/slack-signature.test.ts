// Slack request signatures: HMAC-SHA256 over `v0:{timestamp}:{raw body}`, a five-minute window either way,
// a constant-time comparison that never throws on a signature of the wrong length, and the fingerprint the
// replay guard knows a verified request by.

import { createHash, createHmac } from 'node:crypto';
import {
  headerValue,
  MAX_SKEW_SECONDS,
  slackSignature,
  verifySlackSignature,
} from '../../lambdas/adapters/slack/signature';

const SECRET = '8f742231b10e8888abcd99yyyzzz85a5';
const NOW = new Date('2026-11-04T03:15:00Z');
const ts = (offsetSeconds = 0) => String(Math.floor(NOW.getTime() / 1000) + offsetSeconds);
const BODY = `payload=${encodeURIComponent(JSON.stringify({ type: 'block_actions', user: { id: 'U1' } }))}`;

const signed = (body: string | Buffer = BODY, timestamp = ts()) => ({
  rawBody: body,
  timestamp,
  signature: slackSignature(SECRET, timestamp, body),
});

describe('verifySlackSignature', () => {
  it('accepts what Slack signs: v0= and the hex HMAC-SHA256 of v0:timestamp:body', () => {
    const request = signed();
    const independent = `v0=${createHmac('sha256', SECRET).update(`v0:${request.timestamp}:${BODY}`).digest('hex')}`;
    expect(request.signature).toBe(independent);
    expect(verifySlackSignature(request, SECRET, NOW)).toEqual({
      ok: true,
      value: { fingerprint: expect.stringMatching(/^[0-9a-f]{64}$/), acceptedUntil: expect.any(Date) },
    });
  });

  it('verifies the raw bytes, so a base64-decoded body checks the same as the text', () => {
    const bytes = Buffer.from(BODY, 'utf8');
    expect(verifySlackSignature({ ...signed(), rawBody: bytes }, SECRET, NOW).ok).toBe(true);
  });

  it('refuses a forged signature, a changed body, another timestamp and another secret', () => {
    const request = signed();
    const mismatch = { ok: false, error: { reason: 'signature-mismatch' } };
    const flipped = `${request.signature.slice(0, -1)}${request.signature.endsWith('0') ? '1' : '0'}`;
    expect(verifySlackSignature({ ...request, signature: flipped }, SECRET, NOW)).toMatchObject(mismatch);
    expect(verifySlackSignature({ ...request, rawBody: `${BODY}&x=1` }, SECRET, NOW)).toMatchObject(mismatch);
    expect(verifySlackSignature({ ...request, timestamp: ts(-1) }, SECRET, NOW)).toMatchObject(mismatch);
    expect(verifySlackSignature(request, 'another-secret', NOW)).toMatchObject(mismatch);
  });

  it('refuses a stale timestamp, even with a valid signature (a replay)', () => {
    const request = signed(BODY, ts(-(MAX_SKEW_SECONDS + 1)));
    expect(verifySlackSignature(request, SECRET, NOW)).toMatchObject({
      ok: false,
      error: { reason: 'stale-timestamp', detail: expect.stringContaining('301 s ago') },
    });
    expect(verifySlackSignature(signed(BODY, ts(-MAX_SKEW_SECONDS)), SECRET, NOW).ok).toBe(true);
  });

  it('refuses a timestamp too far in the future', () => {
    expect(verifySlackSignature(signed(BODY, ts(MAX_SKEW_SECONDS + 1)), SECRET, NOW)).toMatchObject({
      ok: false,
      error: { reason: 'future-timestamp' },
    });
    expect(verifySlackSignature(signed(BODY, ts(MAX_SKEW_SECONDS)), SECRET, NOW).ok).toBe(true);
  });

  it('refuses signatures of the wrong length or shape without throwing', () => {
    const request = signed();
    const wrong = ['v0=', 'v0=abc', `${request.signature}00`, `v1=${request.signature.slice(3)}`, 'x'.repeat(67)];
    for (const signature of wrong) {
      expect(verifySlackSignature({ ...request, signature }, SECRET, NOW)).toMatchObject({
        ok: false,
        error: { reason: 'malformed-signature' },
      });
    }
    const upper = `v0=${request.signature.slice(3).toUpperCase()}`;
    expect(verifySlackSignature({ ...request, signature: upper }, SECRET, NOW).ok).toBe(false);
  });

  it('refuses missing headers and timestamps that are not epoch seconds', () => {
    const request = signed();
    expect(verifySlackSignature({ ...request, signature: undefined }, SECRET, NOW)).toMatchObject({
      ok: false,
      error: { reason: 'missing-signature' },
    });
    expect(verifySlackSignature({ ...request, timestamp: undefined }, SECRET, NOW)).toMatchObject({
      ok: false,
      error: { reason: 'missing-timestamp' },
    });
    for (const timestamp of ['', 'yesterday', '1.5e9', '-1']) {
      expect(verifySlackSignature({ ...request, timestamp }, SECRET, NOW).ok).toBe(false);
    }
    expect(verifySlackSignature({ ...request, timestamp: 'soon' }, SECRET, NOW)).toMatchObject({
      error: { reason: 'malformed-timestamp' },
    });
  });

  it('names a verified request by the SHA-256 of its signature, and says until when a copy would verify', () => {
    const request = signed();
    const verified = verifySlackSignature(request, SECRET, NOW);
    if (!verified.ok) throw new Error('the request should verify');
    expect(verified.value.fingerprint).toBe(createHash('sha256').update(request.signature).digest('hex'));
    expect(verified.value.fingerprint).not.toContain(request.signature.slice(3));
    expect(verified.value.acceptedUntil).toEqual(new Date((Number(request.timestamp) + MAX_SKEW_SECONDS) * 1000));

    // The same request again has the same fingerprint; another body or another second does not.
    const again = verifySlackSignature(signed(), SECRET, NOW);
    const otherBody = verifySlackSignature(signed(`${BODY}&x=1`), SECRET, NOW);
    const otherSecond = verifySlackSignature(signed(BODY, ts(1)), SECRET, NOW);
    expect(again.ok && again.value.fingerprint).toBe(verified.value.fingerprint);
    expect(otherBody.ok && otherBody.value.fingerprint).not.toBe(verified.value.fingerprint);
    expect(otherSecond.ok && otherSecond.value.fingerprint).not.toBe(verified.value.fingerprint);
  });

  it('never puts the secret or the expected signature in its reasons', () => {
    const request = signed();
    const outcome = verifySlackSignature({ ...request, rawBody: 'tampered' }, SECRET, NOW);
    expect(outcome.ok).toBe(false);
    const text = JSON.stringify(outcome);
    expect(text).not.toContain(SECRET);
    expect(text).not.toContain(slackSignature(SECRET, request.timestamp, 'tampered').slice(3));
  });
});

describe('headerValue', () => {
  it('finds a header whatever its case (HTTP APIs lower-case names, REST APIs do not)', () => {
    expect(headerValue({ 'X-Slack-Signature': 'v0=1' }, 'x-slack-signature')).toBe('v0=1');
    expect(headerValue({ 'x-slack-request-timestamp': '1' }, 'X-Slack-Request-Timestamp')).toBe('1');
    expect(headerValue(undefined, 'x-slack-signature')).toBeUndefined();
    expect(headerValue(null, 'x-slack-signature')).toBeUndefined();
  });
});
