import { createHash, createHmac } from 'node:crypto';
import {
  decodeEksToken,
  type EksToken,
  type EksTokenOptions,
  eksToken,
  PRESIGN_EXPIRES_SECONDS,
  TokenCache,
} from '../../lambdas/adapters/eks/token';

const credentials = {
  accessKeyId: 'AKIDEXAMPLE',
  secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY',
};
const signedAt = new Date('2026-03-01T12:34:56Z');
const options: EksTokenOptions = {
  clusterName: 'prod-trading',
  region: 'eu-west-1',
  credentials: async () => credentials,
  clock: () => signedAt,
};

const rfc3986 = (s: string) =>
  encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
const sha256 = (s: string) => createHash('sha256').update(s, 'utf8').digest('hex');
const hmac = (key: Buffer | string, s: string) => createHmac('sha256', key).update(s, 'utf8').digest();

/** SigV4 query-string signature of a GET presign, computed from the specification with node:crypto only. */
function expectedSignature(url: URL, secret: string, clusterName: string): string {
  const params = [...url.searchParams.entries()].filter(([k]) => k !== 'X-Amz-Signature');
  const canonicalQuery = params
    .map(([k, v]) => [rfc3986(k), rfc3986(v)] as const)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([k, v]) => `${k}=${v}`)
    .join('&');
  const canonicalRequest = [
    'GET',
    '/',
    canonicalQuery,
    `host:${url.host}`,
    `x-k8s-aws-id:${clusterName}`,
    '',
    'host;x-k8s-aws-id',
    sha256(''),
  ].join('\n');
  const amzDate = url.searchParams.get('X-Amz-Date')!;
  const scope = url.searchParams.get('X-Amz-Credential')!.split('/').slice(1).join('/');
  const [date, region, service] = scope.split('/');
  const stringToSign = ['AWS4-HMAC-SHA256', amzDate, scope, sha256(canonicalRequest)].join('\n');
  const key = hmac(hmac(hmac(hmac(`AWS4${secret}`, date), region), service), 'aws4_request');
  return createHmac('sha256', key).update(stringToSign, 'utf8').digest('hex');
}

describe('EKS token', () => {
  it('is k8s-aws-v1. followed by unpadded base64url of a presigned STS GetCallerIdentity URL', async () => {
    const { token, expiresAt } = await eksToken(options);
    expect(token).toMatch(/^k8s-aws-v1\.[A-Za-z0-9_-]+$/);
    expect(token).not.toContain('=');
    expect(expiresAt).toBe(signedAt.getTime() + 60_000);

    const url = new URL(decodeEksToken(token)!);
    expect(Buffer.from(token.slice('k8s-aws-v1.'.length), 'base64url').toString()).toBe(url.toString());
    expect(url.origin).toBe('https://sts.eu-west-1.amazonaws.com');
    expect(url.pathname).toBe('/');
    const q = url.searchParams;
    expect(q.get('Action')).toBe('GetCallerIdentity');
    expect(q.get('Version')).toBe('2011-06-15');
    expect(q.get('X-Amz-Algorithm')).toBe('AWS4-HMAC-SHA256');
    expect(q.get('X-Amz-Credential')).toBe('AKIDEXAMPLE/20260301/eu-west-1/sts/aws4_request');
    expect(q.get('X-Amz-Date')).toBe('20260301T123456Z');
    expect(q.get('X-Amz-Expires')).toBe(String(PRESIGN_EXPIRES_SECONDS));
    expect(q.get('X-Amz-Expires')).toBe('60');
    expect(q.get('X-Amz-SignedHeaders')).toBe('host;x-k8s-aws-id');
    expect(q.get('X-Amz-Signature')).toMatch(/^[0-9a-f]{64}$/);
    expect(q.has('X-Amz-Security-Token')).toBe(false);
    // The cluster name travels only as a signed header, never in the URL.
    expect(url.toString()).not.toContain('prod-trading');
    // Slashes in the credential scope are percent-encoded in the raw URL, as SigV4 canonicalises them.
    expect(decodeEksToken(token)).toContain('X-Amz-Credential=AKIDEXAMPLE%2F20260301%2Feu-west-1%2Fsts%2Faws4_request');
  });

  it('carries a signature that recomputes independently with node:crypto', async () => {
    const url = new URL(decodeEksToken((await eksToken(options)).token)!);
    expect(url.searchParams.get('X-Amz-Signature')).toBe(
      expectedSignature(url, credentials.secretAccessKey, 'prod-trading'),
    );
    // A different cluster name changes the signature: the header is really signed.
    const other = new URL(decodeEksToken((await eksToken({ ...options, clusterName: 'staging' })).token)!);
    expect(other.searchParams.get('X-Amz-Signature')).not.toBe(url.searchParams.get('X-Amz-Signature'));
    expect(other.searchParams.get('X-Amz-Signature')).toBe(
      expectedSignature(other, credentials.secretAccessKey, 'staging'),
    );
  });

  it('signs the session token of temporary credentials into the URL', async () => {
    const sessionToken = 'FwoGZXIvYXdzEXAMPLE+/session==';
    const token = await eksToken({ ...options, credentials: async () => ({ ...credentials, sessionToken }) });
    const url = new URL(decodeEksToken(token.token)!);
    expect(url.searchParams.get('X-Amz-Security-Token')).toBe(sessionToken);
    expect(url.searchParams.get('X-Amz-Signature')).toBe(
      expectedSignature(url, credentials.secretAccessKey, 'prod-trading'),
    );
  });

  it('uses the .cn STS endpoint in China regions', async () => {
    const url = new URL(decodeEksToken((await eksToken({ ...options, region: 'cn-north-1' })).token)!);
    expect(url.host).toBe('sts.cn-north-1.amazonaws.com.cn');
  });

  it('rejects strings that are not EKS tokens', () => {
    expect(decodeEksToken('Bearer abc')).toBeUndefined();
    expect(decodeEksToken('k8s-aws-v1.not base64!')).toBeUndefined();
  });
});

describe('TokenCache', () => {
  const counting = () => {
    let now = signedAt.getTime();
    const minted: number[] = [];
    const mint = async (o: EksTokenOptions): Promise<EksToken> => {
      const at = o.clock!().getTime();
      minted.push(at);
      return { token: `token-${minted.length}`, expiresAt: at + 60_000 };
    };
    const cache = new TokenCache({ ...options, clock: () => new Date(now) }, mint);
    return { cache, minted, advance: (ms: number) => (now += ms) };
  };

  it('reuses a token until about 10 s before it expires, then signs a new one', async () => {
    const { cache, minted, advance } = counting();
    expect(await cache.get()).toBe('token-1');
    advance(30_000);
    expect(await cache.get()).toBe('token-1');
    advance(19_999); // 49.999 s after signing
    expect(await cache.get()).toBe('token-1');
    advance(1); // 50 s: within the margin
    expect(await cache.get()).toBe('token-2');
    expect(minted).toEqual([signedAt.getTime(), signedAt.getTime() + 50_000]);
    advance(49_000);
    expect(await cache.get()).toBe('token-2');
    expect(minted).toHaveLength(2);
  });

  it('shares one signing among concurrent callers', async () => {
    const { cache, minted } = counting();
    const tokens = await Promise.all([cache.get(), cache.get(), cache.provider()]);
    expect(tokens).toEqual(['token-1', 'token-1', 'token-1']);
    expect(minted).toHaveLength(1);
  });

  it('does not keep a failed signing, and signs again after invalidate', async () => {
    let calls = 0;
    const cache = new TokenCache(options, async () => {
      calls++;
      if (calls === 1) throw new Error('no credentials');
      return { token: `t${calls}`, expiresAt: signedAt.getTime() + 60_000 };
    });
    await expect(cache.get()).rejects.toThrow('no credentials');
    expect(await cache.get()).toBe('t2');
    expect(await cache.get()).toBe('t2');
    cache.invalidate();
    expect(await cache.get()).toBe('t3');
  });

  it('after invalidate re-signs even a token far from expiry, and concurrent callers still share one signing', async () => {
    const { cache, minted, advance } = counting();
    expect(await cache.get()).toBe('token-1');
    advance(1_000);
    cache.invalidate();
    // Two requests answered 401 at once both ask again: one new signing serves both.
    expect(await Promise.all([cache.get(), cache.get()])).toEqual(['token-2', 'token-2']);
    expect(minted).toEqual([signedAt.getTime(), signedAt.getTime() + 1_000]);
    expect(await cache.get()).toBe('token-2');
    expect(minted).toHaveLength(2);
  });

  it('works with the real signer end to end', async () => {
    const cache = new TokenCache(options);
    const first = await cache.get();
    expect(first).toBe(await cache.get());
    expect(decodeEksToken(first)).toContain('Action=GetCallerIdentity');
  });
});
