// Compact binary encodings for what the scorer keeps between ticks: a JSON header and raw typed arrays, gzipped.

import { gunzipSync, gzipSync } from 'node:zlib';
import type { SeriesBaseline } from '../../core/cognition/baseline';
import type { ScorerStateSnapshot } from '../../core/cognition/scorer';
import type { CollectedTick } from '../../core/perception/collect';

type TypedArray = Float64Array | Float32Array | Uint8Array | Uint32Array;
type ArrayKind = 'f64' | 'f32' | 'u8' | 'u32';

const kindOf = (a: TypedArray): ArrayKind =>
  a instanceof Float64Array ? 'f64' : a instanceof Float32Array ? 'f32' : a instanceof Uint32Array ? 'u32' : 'u8';

function make(kind: ArrayKind, bytes: Uint8Array): TypedArray {
  // A fresh, aligned copy: Buffer#slice would share the (unaligned, pooled) memory instead.
  const copy = new Uint8Array(bytes.byteLength);
  copy.set(bytes);
  switch (kind) {
    case 'f64':
      return new Float64Array(copy.buffer, 0, copy.byteLength / 8);
    case 'f32':
      return new Float32Array(copy.buffer, 0, copy.byteLength / 4);
    case 'u32':
      return new Uint32Array(copy.buffer, 0, copy.byteLength / 4);
    case 'u8':
      return copy;
  }
}

/** Encodes a JSON-able header plus named typed arrays. */
function pack(header: unknown, arrays: Record<string, TypedArray>): Uint8Array {
  const layout = Object.entries(arrays).map(([name, a]) => ({ name, kind: kindOf(a), bytes: a.byteLength }));
  const head = Buffer.from(JSON.stringify({ header, layout }), 'utf8');
  const size = Buffer.alloc(4);
  size.writeUInt32LE(head.byteLength);
  const parts: Uint8Array[] = [size, head];
  for (const a of Object.values(arrays)) parts.push(new Uint8Array(a.buffer, a.byteOffset, a.byteLength));
  return gzipSync(Buffer.concat(parts), { level: 1 });
}

function unpack<H>(body: Uint8Array): { header: H; arrays: Record<string, TypedArray> } {
  const raw = gunzipSync(body);
  const headLength = raw.readUInt32LE(0);
  const { header, layout } = JSON.parse(raw.subarray(4, 4 + headLength).toString('utf8')) as {
    header: H;
    layout: { name: string; kind: ArrayKind; bytes: number }[];
  };
  const arrays: Record<string, TypedArray> = {};
  let offset = 4 + headLength;
  for (const { name, kind, bytes } of layout) {
    arrays[name] = make(kind, raw.subarray(offset, offset + bytes));
    offset += bytes;
  }
  return { header, arrays };
}

export function encodeScorerState(state: ScorerStateSnapshot): Uint8Array {
  const { lastTick, keys, ...arrays } = state;
  return pack({ lastTick, keys }, arrays);
}

export function decodeScorerState(body: Uint8Array): ScorerStateSnapshot {
  const { header, arrays } = unpack<{ lastTick: number; keys: string[] }>(body);
  return {
    lastTick: header.lastTick,
    keys: header.keys,
    level: arrays.level as Float64Array,
    ewMean: arrays.ewMean as Float64Array,
    ewAbsDev: arrays.ewAbsDev as Float64Array,
    observations: arrays.observations as Uint32Array,
    streak: arrays.streak as Uint8Array,
    calm: arrays.calm as Uint8Array,
    raised: arrays.raised as Uint8Array,
    since: arrays.since as Float64Array,
    holtLevel: arrays.holtLevel as Float64Array,
    holtTrend: arrays.holtTrend as Float64Array,
    holtVariance: arrays.holtVariance as Float64Array,
    holtPoints: arrays.holtPoints as Uint32Array,
    forecastStreak: arrays.forecastStreak as Uint8Array,
    forecastCalm: arrays.forecastCalm as Uint8Array,
    forecastSince: arrays.forecastSince as Float64Array,
    // States saved before counters were scored have no lastRaw: every counter starts afresh.
    lastRaw: (arrays.lastRaw as Float64Array | undefined) ?? new Float64Array(header.keys.length).fill(Number.NaN),
    // States saved before drift detection start every drift mean at zero.
    driftZ: (arrays.driftZ as Float64Array | undefined) ?? new Float64Array(header.keys.length),
  };
}

type BaselineHeader = Omit<SeriesBaseline, 'seasonal' | 'scale'>;

/** Baselines of one chunk: the per-series arrays are concatenated, the rest goes in the header. */
export function encodeBaselines(baselines: readonly SeriesBaseline[]): Uint8Array {
  const headers: BaselineHeader[] = baselines.map(({ seasonal: _s, scale: _c, ...rest }) => rest);
  const seasonalLength = baselines[0]?.seasonal.length ?? 0;
  const seasonal = new Float32Array(baselines.length * seasonalLength);
  const scale = new Float32Array(baselines.length * 24);
  baselines.forEach((b, i) => {
    seasonal.set(b.seasonal, i * seasonalLength);
    scale.set(b.scale, i * 24);
  });
  return pack({ headers, seasonalLength }, { seasonal, scale });
}

export function decodeBaselines(body: Uint8Array): SeriesBaseline[] {
  const { header, arrays } = unpack<{ headers: BaselineHeader[]; seasonalLength: number }>(body);
  const seasonal = arrays.seasonal as Float32Array;
  const scale = arrays.scale as Float32Array;
  return header.headers.map((h, i) => ({
    ...h,
    seasonal: seasonal.slice(i * header.seasonalLength, (i + 1) * header.seasonalLength),
    scale: scale.slice(i * 24, (i + 1) * 24),
  }));
}

/** Values travel as a Float64Array so NaN and infinities survive (JSON would turn them into null). */
export function encodeCollectedTick(tick: CollectedTick): Uint8Array {
  const { points, ...rest } = tick;
  return pack(
    { ...rest, signalIds: points.map((p) => p.signalId), entities: points.map((p) => p.entity) },
    { values: Float64Array.from(points, (p) => p.value) },
  );
}

export function decodeCollectedTick(body: Uint8Array): CollectedTick {
  const { header, arrays } = unpack<Omit<CollectedTick, 'points'> & { signalIds: string[]; entities: string[] }>(body);
  const { signalIds, entities, ...rest } = header;
  const values = arrays.values as Float64Array;
  return { ...rest, points: signalIds.map((signalId, i) => ({ signalId, entity: entities[i], value: values[i] })) };
}
