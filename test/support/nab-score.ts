// The Numenta Anomaly Benchmark's scoring (Lavin & Ahmad 2015, "Evaluating Real-time Anomaly Detection
// Algorithms - the Numenta Anomaly Benchmark"), written from the published algorithm so the detector's quality
// test needs nothing outside the repository.
//
// The rules, per data file:
// - the first 15 % of the rows (at most 750) are probationary: detections there are ignored, and so are the
//   parts of label windows that fall there;
// - each label window counts once: its best (earliest) detection earns tpWeight * sigma(position) / sigma(-1),
//   with sigma(y) = 2 / (1 + e^(5y)) - 1 and position = -(rows from the detection to the window's end + 1) /
//   window rows, so a detection on the first row earns the full weight and one on the last row almost nothing;
//   a window without a detection costs fnWeight;
// - every detection outside a window costs fpWeight: fully before the first window, and after a window
//   fpWeight * -sigma(rows past that window's end / (window rows - 1)), so a late detection of the anomaly
//   that just ended costs little (beyond three window lengths it costs the full weight);
// - the corpus score is normalised against the null detector (nothing detected, or everything, whichever NAB's
//   threshold optimiser prefers for a constant score) and the perfect one (every window's first row):
//   100 * (raw - null) / (perfect - null), perfect being tpWeight per labelled window.

import { readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import { gunzipSync } from 'node:zlib';

export interface NabProfile {
  readonly tpWeight: number;
  readonly fpWeight: number;
  readonly fnWeight: number;
}

/** NAB's three application profiles (config/profiles.json). */
export const NAB_PROFILES = {
  standard: { tpWeight: 1, fpWeight: 0.11, fnWeight: 1 },
  reward_low_FP_rate: { tpWeight: 1, fpWeight: 0.22, fnWeight: 1 },
  reward_low_FN_rate: { tpWeight: 1, fpWeight: 0.11, fnWeight: 2 },
} as const satisfies Record<string, NabProfile>;

export const PROBATION_FRACTION = 0.15;
/** NAB caps the probationary period at the fraction of this many rows. */
const PROBATION_CAP_BASE = 5000;

export interface NabFile {
  /** `<category>/<file>.csv`, the key of the label file. */
  readonly key: string;
  readonly category: string;
  /** Canonical `YYYY-MM-DD HH:MM:SS` per row. */
  readonly timestamps: readonly string[];
  readonly values: Float64Array;
  /** Label windows as [first row, last row] timestamps. */
  readonly windows: readonly (readonly [string, string])[];
}

export interface FileScore {
  readonly key: string;
  readonly category: string;
  readonly raw: number;
  readonly windows: number;
  readonly windowsDetected: number;
  /** Scorable detections outside every window. */
  readonly falsePositives: number;
  /** What the false positives cost (a positive number). */
  readonly falsePositiveCost: number;
  /** Per scorable window: the reward earned (-fnWeight when missed), by the window's first timestamp. */
  readonly windowRewards: readonly { readonly start: string; readonly reward: number }[];
}

export interface CategoryScore {
  readonly files: number;
  readonly windows: number;
  readonly raw: number;
  readonly nullRaw: number;
  /** Normalised like the corpus; NaN without windows. */
  readonly normalized: number;
}

export interface CorpusScore {
  readonly normalized: number;
  readonly raw: number;
  readonly nullRaw: number;
  readonly perfect: number;
  readonly windows: number;
  readonly windowsDetected: number;
  readonly falsePositives: number;
  readonly perFile: readonly FileScore[];
  readonly byCategory: Readonly<Record<string, CategoryScore>>;
}

/** Rows at the start of a file whose detections NAB ignores: 15 %, and at most 15 % of 5,000 (750). */
export const probationRows = (rows: number, fraction = PROBATION_FRACTION): number =>
  Math.min(Math.floor(fraction * rows), fraction * PROBATION_CAP_BASE);

/** sigma(y) = 2 / (1 + e^(5y)) - 1, clamped to -1 beyond y = 3 as NAB does. */
export function scaledSigmoid(y: number): number {
  if (y > 3) return -1;
  return 2 / (1 + Math.exp(5 * y)) - 1;
}

const MAX_TP = scaledSigmoid(-1);

/**
 * What a detection on each row would be worth (before probation is applied): inside a window the true-positive
 * reward, outside it the (negative) false-positive cost; `window[i]` is the window's index or -1.
 */
export function rowWeights(file: NabFile, profile: NabProfile): { weight: Float64Array; window: Int32Array } {
  const n = file.timestamps.length;
  // NAB locates window edges with list.index: the first row carrying the timestamp.
  const firstRow = new Map<string, number>();
  file.timestamps.forEach((t, i) => {
    if (!firstRow.has(t)) firstRow.set(t, i);
  });
  const edges = file.windows.map(([a, b], w) => {
    const start = firstRow.get(a);
    const end = firstRow.get(b);
    if (start === undefined || end === undefined)
      throw new Error(`${file.key}: window ${w} (${a} .. ${b}) is not in the data`);
    return { start, end };
  });
  const weight = new Float64Array(n);
  const window = new Int32Array(n).fill(-1);
  let next = 0;
  let current = -1;
  let lastEnd = -1;
  let lastWidth = 0;
  for (let i = 0; i < n; i++) {
    // A window opens on the row whose timestamp equals its first timestamp (NAB compares timestamps, so with
    // duplicated timestamps it opens on the first of them).
    if (next < edges.length && file.timestamps[i] === file.windows[next][0]) current = next++;
    if (current >= 0) {
      const { start, end } = edges[current];
      const width = end - start + 1;
      weight[i] = (profile.tpWeight * scaledSigmoid(-(end - i + 1) / width)) / MAX_TP;
      window[i] = current;
      if (file.timestamps[i] === file.windows[current][1]) {
        lastEnd = i;
        lastWidth = width;
        current = -1;
      }
    } else {
      const unweighted = lastEnd < 0 ? -1 : scaledSigmoid(Math.abs(lastEnd - i) / (lastWidth - 1));
      weight[i] = unweighted * profile.fpWeight;
    }
  }
  return { weight, window };
}

/**
 * One file's raw score; a row is a detection when `detected(i)`. `probationFraction` is NAB's 15 % unless
 * given (NAB's own scorer tests use 0).
 */
export function scoreFile(
  file: NabFile,
  detected: (row: number) => boolean,
  profile: NabProfile,
  probationFraction = PROBATION_FRACTION,
): FileScore {
  const { weight, window } = rowWeights(file, profile);
  const probation = probationRows(file.timestamps.length, probationFraction);
  const best = new Float64Array(file.windows.length).fill(Number.NaN);
  const scorable = new Uint8Array(file.windows.length);
  let fpCost = 0;
  let fps = 0;
  for (let i = probation; i < weight.length; i++) {
    const w = window[i];
    if (w >= 0) scorable[w] = 1;
    if (!detected(i)) continue;
    if (w >= 0) {
      if (!(best[w] >= weight[i])) best[w] = weight[i];
    } else {
      fpCost -= weight[i];
      fps++;
    }
  }
  let raw = -fpCost;
  let windowsDetected = 0;
  const windowRewards: { start: string; reward: number }[] = [];
  for (let w = 0; w < best.length; w++) {
    if (!scorable[w]) continue; // wholly probationary: NAB leaves it out of the file's score
    const reward = Number.isNaN(best[w]) ? -profile.fnWeight : best[w];
    if (!Number.isNaN(best[w])) windowsDetected++;
    raw += reward;
    windowRewards.push({ start: file.windows[w][0], reward });
  }
  return {
    key: file.key,
    category: file.category,
    raw,
    windows: file.windows.length,
    windowsDetected,
    falsePositives: fps,
    falsePositiveCost: fpCost,
    windowRewards,
  };
}

/**
 * Detections per file, either as a flag per row or as flagged timestamps (every row carrying a flagged
 * timestamp counts, as in NAB's results files).
 */
export type Detections = ReadonlyMap<string, ArrayLike<boolean> | readonly string[]>;

function detector(file: NabFile, flags: ArrayLike<boolean> | readonly string[] | undefined): (row: number) => boolean {
  if (flags === undefined || flags.length === 0) return () => false;
  if (typeof flags[0] === 'string') {
    const set = new Set(flags as readonly string[]);
    return (row) => set.has(file.timestamps[row]);
  }
  if (flags.length !== file.timestamps.length)
    throw new Error(`${file.key}: ${flags.length} flags for ${file.timestamps.length} rows`);
  return (row) => (flags as ArrayLike<boolean>)[row] === true;
}

/** The standard-profile (by default) NAB score of a detector over a corpus. */
export function scoreCorpus(
  files: readonly NabFile[],
  detections: Detections,
  profile: NabProfile = NAB_PROFILES.standard,
): CorpusScore {
  const perFile = files.map((f) => scoreFile(f, detector(f, detections.get(f.key)), profile));
  // The null detector is a constant score with NAB's optimised threshold: either nothing is detected or every
  // row is; the optimiser takes the better corpus total, nothing on a tie (it sweeps from the top).
  const nothing = files.map((f) => scoreFile(f, () => false, profile).raw);
  const everything = files.map((f) => scoreFile(f, () => true, profile).raw);
  const sum = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0);
  const nullPerFile = sum(everything) > sum(nothing) ? everything : nothing;
  const windows = sum(files.map((f) => f.windows.length));
  const perfect = windows * profile.tpWeight;
  const normalize = (raw: number, nullRaw: number, best: number) =>
    best - nullRaw === 0 ? Number.NaN : (100 * (raw - nullRaw)) / (best - nullRaw);
  const categories: Record<string, { files: number; windows: number; raw: number; nullRaw: number }> = {};
  perFile.forEach((s, i) => {
    const c = categories[s.category] ?? { files: 0, windows: 0, raw: 0, nullRaw: 0 };
    c.files++;
    c.windows += s.windows;
    c.raw += s.raw;
    c.nullRaw += nullPerFile[i];
    categories[s.category] = c;
  });
  const byCategory: Record<string, CategoryScore> = {};
  for (const [name, c] of Object.entries(categories))
    byCategory[name] = { ...c, normalized: normalize(c.raw, c.nullRaw, c.windows * profile.tpWeight) };
  const raw = sum(perFile.map((s) => s.raw));
  const nullRaw = sum(nullPerFile);
  return {
    normalized: normalize(raw, nullRaw, perfect),
    raw,
    nullRaw,
    perfect,
    windows,
    windowsDetected: sum(perFile.map((s) => s.windowsDetected)),
    falsePositives: sum(perFile.map((s) => s.falsePositives)),
    perFile,
    byCategory,
  };
}

/** `YYYY-MM-DD HH:MM:SS` from NAB's timestamps (labels carry a `.000000` fraction). */
export const canonicalTimestamp = (t: string): string => t.trim().replace('T', ' ').slice(0, 19);

function readText(path: string): string {
  const bytes = readFileSync(path);
  return (path.endsWith('.gz') ? gunzipSync(bytes) : bytes).toString('utf8').replace(/^\uFEFF/, '');
}

const isFile = (path: string): boolean => {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
};

/**
 * Loads `<root>/labels/combined_windows.json` and every labelled data file present under `<root>/data`
 * (`<category>/<file>.csv`, or the same gzipped as `.csv.gz`); labelled files without data are left out.
 */
export function loadNabCorpus(root: string): NabFile[] {
  const labels = JSON.parse(readText(join(root, 'labels', 'combined_windows.json'))) as Record<
    string,
    [string, string][]
  >;
  const files: NabFile[] = [];
  for (const key of Object.keys(labels).sort()) {
    const plain = join(root, 'data', key);
    const path = [plain, `${plain}.gz`].find(isFile);
    if (path === undefined) continue;
    const lines = readText(path)
      .split(/\r?\n/)
      .filter((l) => l.trim() !== '');
    const timestamps: string[] = [];
    const values = new Float64Array(lines.length - 1);
    for (let i = 1; i < lines.length; i++) {
      const [t, v] = lines[i].split(',');
      timestamps.push(canonicalTimestamp(t));
      values[i - 1] = Number(v);
    }
    files.push({
      key,
      category: key.split('/')[0],
      timestamps,
      values,
      windows: labels[key].map(([a, b]) => [canonicalTimestamp(a), canonicalTimestamp(b)] as const),
    });
  }
  return files;
}

/** Every `<category>/<file>.csv` under `<root>/data` (gzipped or not), to check that the labels cover the data. */
export function listDataFiles(root: string): string[] {
  const out: string[] = [];
  for (const category of readdirSync(join(root, 'data')).sort())
    for (const name of readdirSync(join(root, 'data', category)).sort())
      out.push(`${category}/${basename(name, '.gz')}`);
  return out;
}
