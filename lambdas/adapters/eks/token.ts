// The bearer token EKS accepts, made as `aws eks get-token` makes it: a presigned STS GetCallerIdentity URL
// that names the cluster in a signed `x-k8s-aws-id` header, base64url-encoded behind a `k8s-aws-v1.` prefix.
// The cluster's authenticator replays the URL against STS to learn who is calling.

import { Sha256 } from '@aws-crypto/sha256-js';
import { defaultProvider } from '@aws-sdk/credential-provider-node';
import { HttpRequest } from '@smithy/protocol-http';
import { SignatureV4 } from '@smithy/signature-v4';
import type { AwsCredentialIdentityProvider } from '../prometheus/http-metric-source';

export const TOKEN_PREFIX = 'k8s-aws-v1.';
/** Lifetime the presigned URL declares (X-Amz-Expires). */
export const PRESIGN_EXPIRES_SECONDS = 60;
/** A cached token is replaced this long before its presigned URL expires. */
export const REFRESH_MARGIN_MS = 10_000;
const CLUSTER_ID_HEADER = 'x-k8s-aws-id';

export interface EksTokenOptions {
  readonly clusterName: string;
  readonly region: string;
  /** Defaults to the Node provider chain (env, SSO, web identity, profile, container, instance). */
  readonly credentials?: AwsCredentialIdentityProvider;
  /** Signing clock. */
  readonly clock?: () => Date;
}

export interface EksToken {
  readonly token: string;
  /** Epoch ms at which the presigned URL stops being valid. */
  readonly expiresAt: number;
}

/** RFC 3986 query encoding, as SigV4 canonicalises it. */
const encode = (value: string): string =>
  encodeURIComponent(value).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);

/** The STS endpoint of a region (China regions live under amazonaws.com.cn). */
export const stsHost = (region: string): string =>
  `sts.${region}.amazonaws.com${region.startsWith('cn-') ? '.cn' : ''}`;

/** Presigns STS GetCallerIdentity for the cluster; returns the full URL. */
export async function presignedCallerIdentityUrl(options: EksTokenOptions): Promise<string> {
  const host = stsHost(options.region);
  const signer = new SignatureV4({
    service: 'sts',
    region: options.region,
    credentials: options.credentials ?? defaultProvider(),
    sha256: Sha256,
  });
  const request = new HttpRequest({
    method: 'GET',
    protocol: 'https:',
    hostname: host,
    path: '/',
    query: { Action: 'GetCallerIdentity', Version: '2011-06-15' },
    headers: { host, [CLUSTER_ID_HEADER]: options.clusterName },
  });
  const signed = await signer.presign(request, {
    expiresIn: PRESIGN_EXPIRES_SECONDS,
    signingDate: (options.clock ?? (() => new Date()))(),
  });
  const parts: string[] = [];
  for (const [name, value] of Object.entries(signed.query ?? {})) {
    const values: readonly unknown[] = Array.isArray(value) ? value : [value];
    for (const v of values) parts.push(`${encode(name)}=${encode(v == null ? '' : String(v))}`);
  }
  const query = parts.join('&');
  return `https://${host}/?${query}`;
}

/** Makes one token for the cluster. */
export async function eksToken(options: EksTokenOptions): Promise<EksToken> {
  const now = (options.clock ?? (() => new Date()))();
  const url = await presignedCallerIdentityUrl({ ...options, clock: () => now });
  return {
    token: `${TOKEN_PREFIX}${Buffer.from(url, 'utf8').toString('base64url')}`,
    expiresAt: now.getTime() + PRESIGN_EXPIRES_SECONDS * 1000,
  };
}

/** Decodes a token back to its presigned URL; undefined when it is not an EKS token. */
export function decodeEksToken(token: string): string | undefined {
  if (!token.startsWith(TOKEN_PREFIX)) return undefined;
  const body = token.slice(TOKEN_PREFIX.length);
  if (!/^[A-Za-z0-9_-]+$/.test(body)) return undefined;
  return Buffer.from(body, 'base64url').toString('utf8');
}

/**
 * Reuses one token until shortly before its presigned URL expires. Concurrent callers share one signing.
 * A failed signing is not cached.
 */
export class TokenCache {
  private current: EksToken | undefined;
  private pending: Promise<EksToken> | undefined;
  private readonly clock: () => Date;

  constructor(
    private readonly options: EksTokenOptions,
    private readonly mint: (options: EksTokenOptions) => Promise<EksToken> = eksToken,
    private readonly marginMs = REFRESH_MARGIN_MS,
  ) {
    this.clock = options.clock ?? (() => new Date());
  }

  /** A valid token; signs a new one when none is cached or the cached one is within the margin of expiring. */
  async get(): Promise<string> {
    const now = this.clock().getTime();
    if (this.current && now < this.current.expiresAt - this.marginMs) return this.current.token;
    let pending = this.pending;
    if (!pending) {
      const signing = this.mint(this.options);
      pending = signing;
      this.pending = signing;
      signing.then(
        (token) => {
          if (this.pending === signing) {
            this.current = token;
            this.pending = undefined;
          }
        },
        () => {
          if (this.pending === signing) this.pending = undefined;
        },
      );
    }
    return (await pending).token;
  }

  /** Forgets the cached token (e.g. after the API server answered 401). */
  invalidate(): void {
    this.current = undefined;
  }

  /** The token source an executor takes. */
  get provider(): () => Promise<string> {
    return () => this.get();
  }
}
