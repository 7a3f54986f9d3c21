// Proves a request came from Slack before anything in it is read: Slack signs `v0:{timestamp}:{raw body}`
// with the app's signing secret (HMAC-SHA256) and sends the hex digest as `X-Slack-Signature: v0=...`. A verified
// request is named by a fingerprint of its signature, so a copy of it can be recognised and refused.

import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { fail, ok, type Result } from '../../core/result';

export const SIGNATURE_HEADER = 'x-slack-signature';
export const TIMESTAMP_HEADER = 'x-slack-request-timestamp';
/** Slack's advice: refuse requests more than five minutes away from now, so a captured one cannot be replayed later. */
export const MAX_SKEW_SECONDS = 300;

export type SignatureFailureReason =
  | 'missing-signature'
  | 'missing-timestamp'
  | 'malformed-timestamp'
  | 'stale-timestamp'
  | 'future-timestamp'
  | 'malformed-signature'
  | 'signature-mismatch';

export interface SignatureFailure {
  readonly reason: SignatureFailureReason;
  /** For logs and the refusal record: never holds the secret or the expected signature. */
  readonly detail: string;
}

export interface SignedRequest {
  /** The body exactly as received, before any decoding of its fields. */
  readonly rawBody: Buffer | string;
  readonly timestamp: string | undefined;
  readonly signature: string | undefined;
}

/** What a verified request leaves for the replay guard. */
export interface VerifiedRequest {
  /** SHA-256 (hex) of the signature: names this exact timestamp and body without keeping the signature. */
  readonly fingerprint: string;
  /** When its timestamp stops being accepted: a copy arriving before then verifies as well as the original. */
  readonly acceptedUntil: Date;
}

const SIGNATURE_FORMAT = /^v0=[0-9a-f]{64}$/;

/** `v0=` + hex HMAC-SHA256 of `v0:{timestamp}:{body}`. */
export function slackSignature(signingSecret: string, timestamp: string, rawBody: Buffer | string): string {
  const hmac = createHmac('sha256', signingSecret);
  hmac.update(`v0:${timestamp}:`, 'utf8');
  hmac.update(typeof rawBody === 'string' ? Buffer.from(rawBody, 'utf8') : rawBody);
  return `v0=${hmac.digest('hex')}`;
}

/**
 * Checks headers, timestamp window and signature, in that order; the comparison runs in constant time over
 * equal-length buffers.
 */
export function verifySlackSignature(
  request: SignedRequest,
  signingSecret: string,
  now: Date = new Date(),
  maxSkewSeconds = MAX_SKEW_SECONDS,
): Result<VerifiedRequest, SignatureFailure> {
  const { timestamp, signature } = request;
  if (!signature) return fail({ reason: 'missing-signature', detail: `no ${SIGNATURE_HEADER} header` });
  if (!timestamp) return fail({ reason: 'missing-timestamp', detail: `no ${TIMESTAMP_HEADER} header` });
  if (!/^\d{1,12}$/.test(timestamp)) {
    return fail({ reason: 'malformed-timestamp', detail: `${TIMESTAMP_HEADER} is not epoch seconds` });
  }
  const skew = Math.floor(now.getTime() / 1000) - Number(timestamp);
  if (skew > maxSkewSeconds) {
    return fail({ reason: 'stale-timestamp', detail: `signed ${skew} s ago (at most ${maxSkewSeconds} s accepted)` });
  }
  if (-skew > maxSkewSeconds) {
    return fail({
      reason: 'future-timestamp',
      detail: `signed ${-skew} s in the future (at most ${maxSkewSeconds} s accepted)`,
    });
  }
  if (!SIGNATURE_FORMAT.test(signature)) {
    return fail({
      reason: 'malformed-signature',
      detail: `${SIGNATURE_HEADER} is not "v0=" and 64 hex digits (${signature.length} characters)`,
    });
  }
  const expected = Buffer.from(slackSignature(signingSecret, timestamp, request.rawBody), 'utf8');
  const given = Buffer.from(signature, 'utf8');
  // timingSafeEqual throws on different lengths; the format check makes them equal, this keeps it so.
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
    return fail({ reason: 'signature-mismatch', detail: 'the signature does not match the body and timestamp' });
  }
  return ok({
    fingerprint: createHash('sha256').update(signature, 'utf8').digest('hex'),
    acceptedUntil: new Date((Number(timestamp) + maxSkewSeconds) * 1000),
  });
}

/** A header's value whatever its case (API Gateway HTTP APIs lower-case names, REST APIs keep them). */
export function headerValue(
  headers: Readonly<Record<string, string | undefined>> | null | undefined,
  name: string,
): string | undefined {
  if (!headers) return undefined;
  const wanted = name.toLowerCase();
  for (const [key, value] of Object.entries(headers)) {
    if (key.toLowerCase() === wanted) return value;
  }
  return undefined;
}
