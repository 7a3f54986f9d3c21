// `sre-agent detect <file.csv...> [--json]`: streaming anomaly detection over `timestamp,value` CSV files (the
// Numenta Anomaly Benchmark's format), each file from scratch with the default parameter set.

import { readFileSync } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';
import { type DetectorOverrides, StreamingDetector } from '../core/cognition/detectors/streaming-detector';

/** A file that cannot be read as `timestamp,value` rows; the message names the file and, for a row, its line. */
export class CsvFormatError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CsvFormatError';
  }
}

export interface TimeSeriesCsv {
  /** Canonical `YYYY-MM-DD HH:MM:SS` per row, in file order. */
  readonly timestamps: string[];
  /** Seconds since the epoch, the timestamps read as UTC. */
  readonly times: Float64Array;
  /** NaN where the value cell is empty or `NaN` (a missing point). */
  readonly values: Float64Array;
}

const TIMESTAMP = /^(\d{4})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2}):(\d{2})(?:\.\d+)?Z?$/;
const NUMBER = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;
const MISSING = new Set(['', 'nan', 'null', 'none']);

/**
 * Parses `timestamp,value` CSV text: a header `timestamp,value`, then one row per point with a
 * `YYYY-MM-DD HH:MM:SS` timestamp (UTC; a `T` separator, fractional seconds or a trailing `Z` are accepted) and a
 * number. Blank lines are ignored; an empty or `NaN` value is a missing point. `name` labels the errors.
 */
export function parseTimeSeriesCsv(text: string, name: string): TimeSeriesCsv {
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  let at = 0;
  while (at < lines.length && lines[at].trim() === '') at++;
  if (at === lines.length) throw new CsvFormatError(`${name}: empty file, expected a "timestamp,value" header`);
  const header = lines[at]
    .split(',')
    .map((h) => h.trim().toLowerCase())
    .join(',');
  if (header !== 'timestamp,value')
    throw new CsvFormatError(`${name}:${at + 1}: header is "${lines[at].trim()}", expected "timestamp,value"`);
  const timestamps: string[] = [];
  const times: number[] = [];
  const values: number[] = [];
  for (let i = at + 1; i < lines.length; i++) {
    const line = lines[i].trim();
    if (line === '') continue;
    const cells = line.split(',');
    if (cells.length !== 2)
      throw new CsvFormatError(`${name}:${i + 1}: expected 2 cells (timestamp,value), got ${cells.length}: "${line}"`);
    const stamp = cells[0].trim();
    const m = TIMESTAMP.exec(stamp);
    const seconds = m ? Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +m[6]) / 1000 : Number.NaN;
    // Date.UTC rolls 2014-02-30 over to March: a round trip catches impossible dates.
    if (!m || new Date(seconds * 1000).toISOString().slice(0, 19) !== `${m[1]}-${m[2]}-${m[3]}T${m[4]}:${m[5]}:${m[6]}`)
      throw new CsvFormatError(`${name}:${i + 1}: bad timestamp "${stamp}", expected YYYY-MM-DD HH:MM:SS`);
    const cell = cells[1].trim();
    let value: number;
    if (MISSING.has(cell.toLowerCase())) value = Number.NaN;
    else if (NUMBER.test(cell)) value = Number(cell);
    else throw new CsvFormatError(`${name}:${i + 1}: bad value "${cell}", expected a number`);
    timestamps.push(`${m[1]}-${m[2]}-${m[3]} ${m[4]}:${m[5]}:${m[6]}`);
    times.push(seconds);
    values.push(value);
  }
  return { timestamps, times: Float64Array.from(times), values: Float64Array.from(values) };
}

/** Reads and parses one CSV file; a missing or unreadable file is a CsvFormatError too. */
export function readTimeSeriesCsv(file: string): TimeSeriesCsv {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new CsvFormatError(
      `${file}: ${code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'is a directory' : `cannot be read (${code ?? error})`}`,
    );
  }
  return parseTimeSeriesCsv(text, file);
}

export interface SeriesDetection {
  /** Per row: the calibrated anomaly score in [0, 1]. */
  readonly scores: Float64Array;
  /** Rows flagged as anomalies. */
  readonly flagged: number[];
}

/** Runs a fresh streaming detector over one series, point by point in file order. */
export function detectSeries(series: TimeSeriesCsv, options: DetectorOverrides = {}): SeriesDetection {
  const detector = new StreamingDetector(options);
  const scores = new Float64Array(series.values.length);
  const flagged: number[] = [];
  for (let i = 0; i < series.values.length; i++) {
    const result = detector.update(series.times[i], series.values[i]);
    scores[i] = result.score;
    if (result.flagged) flagged.push(i);
  }
  return { scores, flagged };
}

/** `<category>/<file>.csv`: the file's parent directory names its category, as in NAB's results. */
export const seriesKey = (file: string): string => `${basename(dirname(resolve(file)))}/${basename(file)}`;

/**
 * Detects anomalies in each file from scratch. Without `json`, prints a table per file (flagged timestamps
 * with their score and value); with it, `{"<category>/<file>.csv": ["YYYY-MM-DD HH:MM:SS", ...]}`. Every file
 * is read and parsed before anything is printed, so bad input fails with a CsvFormatError and no partial output.
 */
export async function detectCommand(files: string[], options: { json?: boolean }): Promise<void> {
  if (files.length === 0) throw new CsvFormatError('no CSV file given');
  const inputs = files.map((file) => ({ file, key: seriesKey(file), series: readTimeSeriesCsv(file) }));
  const out: Record<string, string[]> = {};
  const tables: string[] = [];
  for (const { key, series } of inputs) {
    const { scores, flagged } = detectSeries(series);
    out[key] = flagged.map((i) => series.timestamps[i]);
    tables.push(formatTable(key, series, scores, flagged));
  }
  process.stdout.write(options.json ? `${JSON.stringify(out, null, 2)}\n` : `${tables.join('\n\n')}\n`);
}

function formatTable(key: string, series: TimeSeriesCsv, scores: Float64Array, flagged: number[]): string {
  const lines = [`${key}: ${series.values.length} points, ${flagged.length} flagged`];
  if (flagged.length === 0) return lines[0];
  lines.push(`  ${'timestamp'.padEnd(19)}  ${'score'.padStart(9)}  value`);
  for (const i of flagged)
    lines.push(`  ${series.timestamps[i]}  ${scores[i].toFixed(6).padStart(9)}  ${formatValue(series.values[i])}`);
  return lines.join('\n');
}

const formatValue = (v: number): string => (Number.isInteger(v) ? String(v) : String(Number(v.toPrecision(8))));
