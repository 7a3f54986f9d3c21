// A deterministic local text embedding for the knowledge base: hashed word and character n-gram features.
//
// Why not a model: the agent must be able to match incidents with nothing outside it (no model to download, no
// endpoint to call, no GPU), the same text must give the same vector on every run and every machine (replays and
// tests compare scores), and what it has to find is mostly the same failure seen again: the same services, signals
// and fault kind in slightly different words and numbers. Overlapping n-grams do that well. What they cannot do is
// see that two differently worded incidents mean the same thing; Titan embeddings are the option for that (see the
// `embeddings` setting).
//
// Features: word unigrams and bigrams after lower-casing and replacing every number by `0` (so `p99 1250ms` and
// `p99 980ms` agree), plus character 3-grams of each word (so `orders-db` and `order-db`, `timeout` and `timeouts`
// still overlap). Each feature is hashed (FNV-1a, then murmur3's finaliser to spread the bits) to one of 512
// dimensions with a sign taken from the hash, so collisions cancel out on average instead of piling up. Term
// frequency is sublinear (1 + ln tf): a signal repeated ten times is not ten times as telling. The vector is
// L2-normalised, so a dot product is the cosine similarity.

import type { Embedder } from './knowledge';

export const HASHED_DIMENSIONS = 512;

/**
 * Words that every incident text carries: English glue and the section labels of case documents. Left in, they
 * make any two incidents look alike; the section content is what tells them apart.
 */
const STOP_WORDS = new Set([
  'a',
  'an',
  'and',
  'are',
  'as',
  'at',
  'be',
  'by',
  'for',
  'from',
  'in',
  'is',
  'it',
  'of',
  'on',
  'or',
  'the',
  'to',
  'was',
  'were',
  'with',
  'vs',
  'services',
  'signals',
  'evidence',
  'actions',
  'outcome',
  'expected',
  'root',
  'cause',
]);

/** Relative weights of the feature families: whole words and word pairs say more than character fragments. */
const UNIGRAM_WEIGHT = 1;
const BIGRAM_WEIGHT = 0.8;
const TRIGRAM_WEIGHT = 0.3;

/** Lower-cases, folds compatibility forms and replaces each number (integer, decimal, exponent) by `0`. */
export function normaliseText(text: string): string {
  return text
    .normalize('NFKC')
    .toLowerCase()
    .replace(/\d+(?:[.,]\d+)*(?:e[+-]?\d+)?/g, '0');
}

/** Words: runs of letters, digits and `_` (signal ids such as `error_ratio` stay whole). */
export function tokenize(text: string): string[] {
  return normaliseText(text)
    .split(/[^\p{L}\p{N}_]+/u)
    .filter((word) => word.length > 0 && !STOP_WORDS.has(word));
}

/** 32-bit FNV-1a over the string's UTF-16 code units, then murmur3's fmix32 so the low bits are well mixed. */
export function hashFeature(feature: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < feature.length; i++) {
    h ^= feature.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** Weighted feature counts of a text; the family prefix keeps a word and a trigram with the same letters apart. */
function features(text: string): Map<string, { count: number; weight: number }> {
  const out = new Map<string, { count: number; weight: number }>();
  const add = (feature: string, weight: number) => {
    const known = out.get(feature);
    if (known) known.count++;
    else out.set(feature, { count: 1, weight });
  };
  const words = tokenize(text);
  for (const [i, word] of words.entries()) {
    add(`w:${word}`, UNIGRAM_WEIGHT);
    if (i > 0) add(`b:${words[i - 1]} ${word}`, BIGRAM_WEIGHT);
    const padded = `^${word}$`;
    for (let j = 0; j + 3 <= padded.length; j++) add(`c:${padded.slice(j, j + 3)}`, TRIGRAM_WEIGHT);
  }
  return out;
}

/** The embedding of one text; the zero vector for a text with no words. */
export function hashedEmbedding(text: string, dimensions = HASHED_DIMENSIONS): Float32Array {
  const sums = new Float64Array(dimensions);
  for (const [feature, { count, weight }] of features(text)) {
    const h = hashFeature(feature);
    const sign = h & 0x80000000 ? -1 : 1;
    sums[h % dimensions] += sign * weight * (1 + Math.log(count));
  }
  let norm = 0;
  for (const x of sums) norm += x * x;
  norm = Math.sqrt(norm);
  const vector = new Float32Array(dimensions);
  if (norm > 0) for (let i = 0; i < dimensions; i++) vector[i] = sums[i] / norm;
  return vector;
}

export class HashedEmbedder implements Embedder {
  readonly name: string;

  constructor(readonly dimensions: number = HASHED_DIMENSIONS) {
    if (!Number.isInteger(dimensions) || dimensions < 16) throw new Error(`dimensions must be an integer >= 16`);
    // The version is part of the name: changing the features moves every vector, so stored ones must not be mixed in.
    this.name = `hashed-v1-${dimensions}`;
  }

  async embed(texts: string[]): Promise<Float32Array[]> {
    return texts.map((text) => hashedEmbedding(text, this.dimensions));
  }
}
