// Unit tests of the hashed n-gram embedding.
//
// Deterministic and pinned, unit length, numbers normalised, and similar incidents closer than unrelated ones.

import {
  HASHED_DIMENSIONS,
  HashedEmbedder,
  hashedEmbedding,
  hashFeature,
  normaliseText,
  tokenize,
} from '../../lambdas/core/diagnosis/hashed-embedder';
import { cosine } from '../../lambdas/core/diagnosis/knowledge';

const pastBadDeploy = `order-api bad-deploy (remediated)
Services: order-api, api-gateway
Signals:
- order-api error_ratio high 0.12 vs expected 0.002, hard limit breached
- order-api latency_p99 high 1.25 vs expected 0.2
Root cause: order-api bad-deploy
Evidence:
- deployed 2.14.0 (was 2.13.2) 4 min before onset
Actions:
- rollback trading/deployment/order-api: succeeded
Outcome: remediated`;

const rewordedBadDeploy = `Services: api-gateway, order-api
Signals:
- order-api error_ratio high 0.31 vs expected 0.003
- api-gateway latency_p99 high 2.1 vs expected 0.25
Root cause: order-api bad-deploy
Evidence:
- order-api rolled out 2.15.1 three minutes before the errors started`;

const diskFill = `Services: wallet-service
Signals:
- wallet-service disk_free low 0.02 vs expected 0.4, hard limit breached
Root cause: wallet-service disk-fill
Evidence:
- volume filling at 2 GB/h`;

const norm = (v: Float32Array): number => Math.sqrt(v.reduce((sum, x) => sum + x * x, 0));

describe('hashedEmbedding', () => {
  it('is deterministic: the same text gives the same vector, here and through the Embedder', async () => {
    const first = hashedEmbedding(pastBadDeploy);
    const second = hashedEmbedding(pastBadDeploy);
    expect(Array.from(second)).toEqual(Array.from(first));
    const [viaEmbedder] = await new HashedEmbedder().embed([pastBadDeploy]);
    expect(Array.from(viaEmbedder)).toEqual(Array.from(first));
  });

  it('is pinned: vectors stored by one run must be comparable with the next, so the hash may not drift', () => {
    // Checked against the published FNV-1a values: '' is the offset basis 0x811c9dc5, 'a' is 0xe40c292c (then fmix32).
    expect(hashFeature('')).toBe(2872998923);
    expect(hashFeature('a')).toBe(444641715);
    expect(hashFeature('w:order')).toBe(2711085587);
    const v = hashedEmbedding('order-api rollback');
    const nonZero = [...v.entries()].filter(([, x]) => x !== 0);
    expect(nonZero).toHaveLength(21);
    expect(nonZero.slice(0, 2).map(([i, x]) => [i, Number(x.toFixed(4))])).toEqual([
      [14, 0.1254],
      [19, -0.4181],
    ]);
  });

  it('has 512 dimensions and unit length, with both signs used', () => {
    const v = hashedEmbedding(pastBadDeploy);
    expect(v).toHaveLength(HASHED_DIMENSIONS);
    expect(norm(v)).toBeCloseTo(1, 5);
    expect(v.some((x) => x > 0)).toBe(true);
    expect(v.some((x) => x < 0)).toBe(true);
    expect(new HashedEmbedder().dimensions).toBe(512);
  });

  it('gives the zero vector for a text without words, which is similar to nothing', () => {
    const empty = hashedEmbedding('  --- ,, ');
    expect(empty.every((x) => x === 0)).toBe(true);
    expect(cosine(empty, hashedEmbedding(pastBadDeploy))).toBe(0);
  });

  it('scores a reworded incident of the same kind above an unrelated one', () => {
    const past = hashedEmbedding(pastBadDeploy);
    const similar = cosine(past, hashedEmbedding(rewordedBadDeploy));
    const unrelated = cosine(past, hashedEmbedding(diskFill));
    expect(similar).toBeGreaterThan(unrelated + 0.3);
    expect(similar).toBeGreaterThan(0.6);
    expect(unrelated).toBeLessThan(0.4);
  });

  it('normalises numbers: only the values differ, so the vectors are identical', () => {
    const a = 'order-api latency_p99 1250ms vs expected 180ms, 42 pods, v2.14.0';
    const b = 'order-api latency_p99 980ms vs expected 95ms, 7 pods, v3.0.1';
    expect(Array.from(hashedEmbedding(a))).toEqual(Array.from(hashedEmbedding(b)));
    expect(normaliseText('p99 1.5e3 ms, 12,5%')).toBe('p0 0 ms, 0%');
  });

  it('does not confuse different words: a changed signal moves the vector', () => {
    const a = hashedEmbedding('order-api error_ratio high');
    const b = hashedEmbedding('order-api disk_free low');
    expect(cosine(a, b)).toBeLessThan(0.8);
  });

  it('shares character trigrams between close spellings', () => {
    const base = hashedEmbedding('orders-db timeouts');
    expect(cosine(base, hashedEmbedding('order-db timeout'))).toBeGreaterThan(
      cosine(base, hashedEmbedding('wallet-service disk')),
    );
  });

  it('drops glue words and the section labels every incident carries', () => {
    expect(tokenize('Root cause: the Order-API was at 5xx, vs expected')).toEqual(['order', 'api', '0xx']);
  });

  it('rejects a silly dimension count', () => {
    expect(() => new HashedEmbedder(3)).toThrow(/dimensions/);
    expect(new HashedEmbedder(256).name).not.toBe(new HashedEmbedder(512).name);
  });
});
