// Proves an alert webhook came from an engine that holds the shared secret, before anything in its body is read:
// a bearer token (Alertmanager's `http_config.authorization`) or an HMAC-SHA256 signature over
// "<timestamp>.<raw body>" with the timestamp in a header (Nightingale, through its callback headers or a signing
// relay). Every comparison runs in constant time, whatever the lengths.

import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { fail, ok, type Result } from '../../core/result';

export const AUTHORIZATION_HEADER = 'authorization';
/** The same header names and signature format the agent's own outgoing webhook uses (adapters/webhook). */
export const SIGNATURE_HEADER = 'x-sre-agent-signature';
export const TIMESTAMP_HEADER = 'x-sre-agent-timestamp';
/** A signed request older or newer than this is refused, so a captured one cannot be replayed later. */
export const MAX_SKEW_SECONDS = 300;

/**
 * The alert routes (POST /alerts/<name>), the engine behind each, how it authenticates and the environment variable
 * naming its secret. The CDK app builds the routes and variables from this, the handler reads requests by it.
 */
export const WEBHOOK_ROUTES = {
  alertmanager: { source: 'alertmanager', scheme: 'bearer', secretVariable: 'ALERTMANAGER_TOKEN_SECRET' },
  n9e: { source: 'nightingale', scheme: 'hmac', secretVariable: 'N9E_SIGNING_SECRET' },
} as const;
export type WebhookRouteName = keyof typeof WEBHOOK_ROUTES;

export type WebhookAuthFailureReason =
  | 'missing-credentials'
  | 'malformed-credentials'
  | 'wrong-credentials'
  | 'missing-signature'
  | 'missing-timestamp'
  | 'malformed-timestamp'
  | 'stale-timestamp'
  | 'future-timestamp'
  | 'malformed-signature'
  | 'signature-mismatch';

export interface WebhookAuthFailure {
  readonly reason: WebhookAuthFailureReason;
  /** For logs only: never holds the secret, the token given or the expected signature. */
  readonly detail: string;
}

/**
 * Equality of two secrets without leaking where they differ or how long the expected one is: both sides are
 * hashed first, so `timingSafeEqual` always compares 32 bytes.
 */
export function constantTimeEqual(given: string | Buffer, expected: string | Buffer): boolean {
  const digest = (value: string | Buffer) => createHash('sha256').update(value).digest();
  // Both digests are computed whatever happens, and the final comparison is constant-time.
  return timingSafeEqual(digest(given), digest(expected));
}

const BEARER = /^Bearer[ ]+([^\s]+)\s*$/i;

/** Checks `Authorization: Bearer <token>` against the shared token. */
export function verifyBearerToken(authorization: string | undefined, token: string): Result<void, WebhookAuthFailure> {
  if (!authorization) {
    return fail({ reason: 'missing-credentials', detail: `no ${AUTHORIZATION_HEADER} header` });
  }
  const match = BEARER.exec(authorization);
  if (!match) {
    const scheme = authorization.trim().split(/\s+/, 1)[0]?.slice(0, 20) ?? '';
    const detail = /^bearer$/i.test(scheme)
      ? 'the bearer credentials are not exactly one token'
      : `authorization scheme "${scheme}" is not Bearer`;
    return fail({ reason: 'malformed-credentials', detail });
  }
  if (!constantTimeEqual(match[1], token)) {
    return fail({ reason: 'wrong-credentials', detail: 'the bearer token does not match' });
  }
  return ok(undefined);
}

/** `sha256=` + hex HMAC-SHA256 of "<timestamp>.<raw body>". */
export function webhookSignature(secret: string, timestamp: string, rawBody: Buffer | string): string {
  const hmac = createHmac('sha256', secret);
  hmac.update(`${timestamp}.`, 'utf8');
  hmac.update(typeof rawBody === 'string' ? Buffer.from(rawBody, 'utf8') : rawBody);
  return `sha256=${hmac.digest('hex')}`;
}

export interface SignedWebhook {
  /** The body exactly as received. */
  readonly rawBody: Buffer | string;
  readonly timestamp: string | undefined;
  readonly signature: string | undefined;
}

const SIGNATURE_FORMAT = /^sha256=[0-9a-f]{64}$/;

/** Checks headers, the timestamp window and the signature, in that order. */
export function verifyWebhookHmac(
  request: SignedWebhook,
  secret: string,
  now: Date = new Date(),
  maxSkewSeconds = MAX_SKEW_SECONDS,
): Result<void, WebhookAuthFailure> {
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
  const given = signature.trim().toLowerCase();
  if (!SIGNATURE_FORMAT.test(given)) {
    return fail({
      reason: 'malformed-signature',
      detail: `${SIGNATURE_HEADER} is not "sha256=" and 64 hex digits (${signature.length} characters)`,
    });
  }
  if (!constantTimeEqual(given, webhookSignature(secret, timestamp, request.rawBody))) {
    return fail({ reason: 'signature-mismatch', detail: 'the signature does not match the body and timestamp' });
  }
  return ok(undefined);
}

/**
 * The shared secret from a Secrets Manager value: the raw string, or JSON with a `token` or `secret` field (the
 * shape a console-created key/value secret has). Surrounding whitespace is never part of it.
 */
export function sharedSecretFrom(value: string): string {
  const trimmed = value.trim();
  if (trimmed.startsWith('{')) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(trimmed);
    } catch {
      throw new Error('the webhook secret looks like JSON but does not parse');
    }
    const record = (parsed ?? {}) as { token?: unknown; secret?: unknown };
    const secret = record.token ?? record.secret;
    if (typeof secret !== 'string' || secret.trim() === '') {
      throw new Error('the webhook secret is JSON without a "token" or "secret" string');
    }
    return secret.trim();
  }
  if (trimmed === '') throw new Error('the webhook secret is empty');
  return trimmed;
}
