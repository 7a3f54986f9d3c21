// Parses OpenMetrics text with timestamps (what `promtool tsdb dump-openmetrics` writes and
// `promtool tsdb create-blocks-from openmetrics` reads) into a columnar store built for replay.
//
// What is accepted follows Prometheus' own OpenMetrics parser, so a file that loads here also loads with promtool:
// - `# TYPE`, `# HELP` and `# UNIT` lines; any other comment is an error, as are blank lines and CRLF line endings.
// - Samples `name{label="value",...} value timestamp`, separated by single spaces; a trailing comma inside the
//   braces is allowed. Label values may use the escapes \\, \" and \n (other backslash pairs are kept verbatim).
// - Values and timestamps are decimal floats; values may also be NaN, +Inf, -Inf (case-insensitive).
//   Timestamps are epoch seconds (fractions allowed) and are required on every sample, as promtool requires them.
// - Exemplars (` # {...} value [ts]` after a sample) are accepted and ignored.
// - `# EOF` must end the file; nothing may follow it.
// Tolerated (promtool accepts them too): samples without any `# TYPE` (dump-openmetrics writes none; their type is
// `unknown`), families interleaved with each other, a series' samples split across the file.
// Errors beyond promtool's parser (its TSDB appender would reject them too): a sample older than the previous sample
// of its series, two different values at one timestamp (an identical repeat is dropped), a label named twice.
// A label with an empty value is the same as no label (PromQL semantics), so it is dropped.

import { createReadStream } from 'node:fs';
import { basename } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { StringDecoder } from 'node:string_decoder';
import { createGunzip } from 'node:zlib';

/** A scenario file is malformed: names the file, the line when there is one, and what is wrong. */
export class ScenarioFormatError extends Error {
  override readonly name = 'ScenarioFormatError';
  readonly problems: readonly string[];
  constructor(
    readonly file: string,
    problems: string | readonly string[],
    readonly line?: number,
  ) {
    const list = typeof problems === 'string' ? [problems] : problems;
    const where = line === undefined ? file : `${file}:${line}`;
    super(
      list.length === 1
        ? `${where}: ${list[0]}`
        : `${where}: ${list.length} problems\n${list.map((p) => `  - ${p}`).join('\n')}`,
    );
    this.problems = list;
  }
}

export type OpenMetricsType =
  | 'counter'
  | 'gauge'
  | 'histogram'
  | 'gaugehistogram'
  | 'summary'
  | 'info'
  | 'stateset'
  | 'unknown';

const METRIC_TYPES: ReadonlySet<string> = new Set([
  'counter',
  'gauge',
  'histogram',
  'gaugehistogram',
  'summary',
  'info',
  'stateset',
  'unknown',
]);

/** Suffixes a family's samples may carry (`# TYPE http_requests counter` covers `http_requests_total`). */
const FAMILY_SUFFIXES = ['_total', '_created', '_bucket', '_count', '_sum', '_gcount', '_gsum', '_info'];

/** One series: its samples sorted by time, as two parallel columns. */
export interface StoredSeries {
  /** Metric name (the `__name__` label). */
  readonly name: string;
  /** Labels other than `__name__`, sorted by name; empty values are dropped. */
  readonly labels: Readonly<Record<string, string>>;
  /** Canonical identity, `name{a="1",b="2"}` with labels sorted. */
  readonly id: string;
  /** Epoch seconds, strictly increasing. */
  readonly timestamps: Float64Array;
  readonly values: Float64Array;
}

/** All series that share one metric name, with the metadata of the family they belong to. */
export interface MetricGroup {
  readonly name: string;
  /** Family the metadata came from (`http_requests` for `http_requests_total`); the name itself when unknown. */
  readonly family: string;
  readonly type: OpenMetricsType;
  readonly help?: string;
  readonly unit?: string;
  readonly series: readonly StoredSeries[];
}

export interface MetricStore {
  /** Groups by metric name, in order of first appearance. */
  readonly metrics: ReadonlyMap<string, MetricGroup>;
  readonly seriesCount: number;
  readonly sampleCount: number;
  /** Epoch seconds of the first and last sample; NaN when the store is empty. */
  readonly minTime: number;
  readonly maxTime: number;
}

interface FamilyMeta {
  type?: OpenMetricsType;
  help?: string;
  unit?: string;
}

interface SeriesBuilder {
  /** Text of the series as first seen (`name{labels}`), validated. */
  readonly raw: string;
  /** The series of the line that followed this series' last line, as a guess for the next time. */
  next: SeriesBuilder | undefined;
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly id: string;
  readonly timestamps: number[];
  readonly values: number[];
}

// Character codes used by the scanner.
const SPACE = 32;
const HASH = 35;
const QUOTE = 34;
const BACKSLASH = 92;
const COMMA = 44;
const EQUALS = 61;
const LBRACE = 123;
const RBRACE = 125;
const CR = 13;

const isNameStart = (c: number): boolean => (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || c === 95 || c === 58;
const isNameChar = (c: number): boolean => isNameStart(c) || (c >= 48 && c <= 57);
const isLabelStart = (c: number): boolean => (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || c === 95;
const isLabelChar = (c: number): boolean => isLabelStart(c) || (c >= 48 && c <= 57);
const isDigit = (c: number): boolean => c >= 48 && c <= 57;

const POW10 = Array.from({ length: 23 }, (_, i) => 10 ** i);
const MAX_EXACT = 2 ** 53;
const SPECIAL_FLOATS: ReadonlyMap<string, number> = new Map([
  ['nan', Number.NaN],
  ['inf', Number.POSITIVE_INFINITY],
  ['infinity', Number.POSITIVE_INFINITY],
]);

/**
 * Parses the decimal float in s[a, b) (Go's strconv.ParseFloat syntax without hex and underscores, as Prometheus
 * accepts), or returns undefined. Short decimals take an exact fast path; the rest go through Number().
 */
export function parseFloatToken(s: string, a: number, b: number): number | undefined {
  if (a >= b) return undefined;
  let i = a;
  let negative = false;
  let c = s.charCodeAt(i);
  if (c === 43 || c === 45) {
    negative = c === 45;
    i++;
    if (i === b) return undefined;
    c = s.charCodeAt(i);
  }
  if (!isDigit(c) && c !== 46) {
    const special = SPECIAL_FLOATS.get(s.slice(i, b).toLowerCase());
    if (special === undefined) return undefined;
    return negative ? -special : special;
  }
  let mantissa = 0;
  let digits = 0;
  let fraction = 0;
  let seenDot = false;
  let anyDigit = false;
  for (; i < b; i++) {
    c = s.charCodeAt(i);
    if (isDigit(c)) {
      anyDigit = true;
      if (mantissa !== 0 || c !== 48) digits++;
      mantissa = mantissa * 10 + (c - 48);
      if (seenDot) fraction++;
    } else if (c === 46 && !seenDot) {
      seenDot = true;
    } else {
      break;
    }
  }
  if (!anyDigit) return undefined;
  let exponent = 0;
  if (i < b) {
    if (c !== 101 && c !== 69) return undefined;
    i++;
    let expNegative = false;
    c = s.charCodeAt(i);
    if (c === 43 || c === 45) {
      expNegative = c === 45;
      i++;
    }
    if (i >= b) return undefined;
    for (; i < b; i++) {
      c = s.charCodeAt(i);
      if (!isDigit(c)) return undefined;
      if (exponent < 100_000) exponent = exponent * 10 + (c - 48);
    }
    if (expNegative) exponent = -exponent;
  }
  const scale = exponent - fraction;
  let value: number;
  if (digits <= 15 && mantissa < MAX_EXACT && scale >= -22 && scale <= 22) {
    value = scale < 0 ? mantissa / POW10[-scale] : mantissa * POW10[scale];
  } else {
    value = Number(s.slice(negative || s.charCodeAt(a) === 43 ? a + 1 : a, b));
  }
  return negative ? -value : value;
}

const escapeLabelValue = (v: string): string => v.replace(/[\\"\n]/g, (c) => (c === '\n' ? '\\n' : `\\${c}`));

/** Canonical `name{a="1",b="2"}` for sorted labels. */
export function seriesId(name: string, labels: Readonly<Record<string, string>>): string {
  const names = Object.keys(labels);
  if (names.length === 0) return name;
  return `${name}{${names.map((n) => `${n}="${escapeLabelValue(labels[n])}"`).join(',')}}`;
}

/** Copies a string so it no longer points into the (large) chunk it was sliced from. */
const detach = (s: string): string => Buffer.from(s, 'utf8').toString('utf8');

/** Undoes OpenMetrics label-value escaping: \\ \" \n; any other backslash pair is kept as it is (as Prometheus does). */
function unescapeLabelValue(s: string, a: number, b: number): string {
  const raw = s.slice(a, b);
  if (raw.indexOf('\\') < 0) return detach(raw);
  let out = '';
  for (let i = 0; i < raw.length; i++) {
    const c = raw[i];
    if (c === '\\' && i + 1 < raw.length) {
      const n = raw[i + 1];
      if (n === '\\' || n === '"') {
        out += n;
        i++;
        continue;
      }
      if (n === 'n') {
        out += '\n';
        i++;
        continue;
      }
    }
    out += c;
  }
  return out;
}

/** Whether the line at s[a] starts with the text of `series` followed by a space. */
const startsWithSeries = (s: string, a: number, series: SeriesBuilder | undefined): boolean =>
  series !== undefined && s.startsWith(series.raw, a) && s.charCodeAt(a + series.raw.length) === SPACE;

const describeChar = (s: string, i: number, eol: number): string =>
  i >= eol ? 'end of line' : s.charCodeAt(i) === SPACE ? 'a space' : `"${s[i]}"`;

/**
 * Incremental parser: feed text with `push` (any chunking, lines may span chunks), then call `finish`.
 * `file` is the name used in error messages.
 */
export class OpenMetricsParser {
  private carry = '';
  private lineNo = 0;
  private sawEof = false;
  private sampleCount = 0;
  private minTime = Number.POSITIVE_INFINITY;
  private maxTime = Number.NEGATIVE_INFINITY;
  private readonly meta = new Map<string, FamilyMeta>();
  /** Series by the exact text of the line up to the value: most lines repeat a text already seen. */
  private readonly byRawText = new Map<string, SeriesBuilder>();
  /** Series by canonical identity, so different spellings of one series share one builder. */
  private readonly byId = new Map<string, SeriesBuilder>();
  /** Metric names in order of first appearance, each with its series. */
  private readonly groups = new Map<string, SeriesBuilder[]>();
  /** Series of the previous sample line. */
  private lastSeries: SeriesBuilder | undefined;

  constructor(readonly file: string) {}

  push(chunk: string): void {
    let pos = 0;
    if (this.carry.length > 0) {
      // Complete the line left over from the previous chunk on its own, so `chunk` is scanned as the flat string
      // it is (scanning a concatenation is markedly slower).
      const nl = chunk.indexOf('\n');
      if (nl < 0) {
        this.carry += chunk;
        return;
      }
      const line = this.carry + chunk.slice(0, nl);
      this.carry = '';
      this.lineNo++;
      this.parseLine(line, 0, line.length);
      pos = nl + 1;
    }
    for (;;) {
      const nl = chunk.indexOf('\n', pos);
      if (nl < 0) break;
      this.lineNo++;
      this.parseLine(chunk, pos, nl);
      pos = nl + 1;
    }
    if (pos < chunk.length) this.carry = chunk.slice(pos);
  }

  finish(): MetricStore {
    if (this.carry.length > 0) {
      const last = this.carry;
      this.carry = '';
      this.lineNo++;
      // Only `# EOF` may lack its newline: any other unterminated last line means the file was cut short.
      if (this.sawEof || last === '# EOF') this.parseLine(last, 0, last.length);
      else {
        const shown = last.length > 60 ? `${last.slice(0, 60)}…` : last;
        this.fail(`missing "# EOF" at the end: the last line "${shown}" has no newline (the file may be truncated)`);
      }
    }
    if (this.lineNo === 0) {
      throw new ScenarioFormatError(this.file, 'file is empty (an OpenMetrics file ends with a "# EOF" line)');
    }
    if (!this.sawEof) {
      throw new ScenarioFormatError(
        this.file,
        'missing "# EOF" at the end (OpenMetrics requires it as the last line; the file may be truncated)',
        this.lineNo,
      );
    }
    return this.buildStore();
  }

  private fail(message: string): never {
    throw new ScenarioFormatError(this.file, message, this.lineNo);
  }

  private parseLine(s: string, a: number, b: number): void {
    if (this.sawEof) this.fail('unexpected data after "# EOF" (it must be the last line)');
    if (a === b) this.fail('empty line (OpenMetrics allows no blank lines)');
    if (s.charCodeAt(b - 1) === CR) this.fail('line ends with a carriage return (use LF line endings, not CRLF)');
    const c = s.charCodeAt(a);
    if (c === HASH) this.parseComment(s, a, b);
    else this.parseSample(s, a, b);
  }

  private parseComment(s: string, a: number, b: number): void {
    const text = s.slice(a, b);
    if (text === '# EOF') {
      this.sawEof = true;
      return;
    }
    const keyword = text.startsWith('# HELP ')
      ? 'HELP'
      : text.startsWith('# TYPE ')
        ? 'TYPE'
        : text.startsWith('# UNIT ')
          ? 'UNIT'
          : undefined;
    if (!keyword) {
      const shown = text.length > 40 ? `${text.slice(0, 40)}…` : text;
      this.fail(`unexpected comment "${shown}": OpenMetrics allows only "# HELP", "# TYPE", "# UNIT" and "# EOF"`);
    }
    let i = 7;
    if (i >= text.length || !isNameStart(text.charCodeAt(i))) {
      this.fail(`expected a metric name after "# ${keyword}", got ${describeChar(text, i, text.length)}`);
    }
    while (i < text.length && isNameChar(text.charCodeAt(i))) i++;
    const name = text.slice(7, i);
    if (i >= text.length || text.charCodeAt(i) !== SPACE) {
      if (i < text.length)
        this.fail(`invalid character ${describeChar(text, i, text.length)} in metric name "${name}"`);
      this.fail(`"# ${keyword} ${name}" needs a space and a ${keyword === 'TYPE' ? 'type' : 'text'} after the name`);
    }
    const rest = text.slice(i + 1);
    const meta = this.meta.get(name) ?? {};
    this.meta.set(name, meta);
    if (keyword === 'TYPE') {
      if (!METRIC_TYPES.has(rest)) {
        this.fail(`invalid metric type "${rest}" for "${name}" (expected one of: ${[...METRIC_TYPES].join(', ')})`);
      }
      meta.type ??= rest as OpenMetricsType;
    } else if (keyword === 'HELP') {
      meta.help ??= unescapeLabelValue(rest, 0, rest.length);
    } else {
      if (rest.length > 0 && !(name.endsWith(rest) && name.charCodeAt(name.length - rest.length - 1) === 95)) {
        this.fail(`unit "${rest}" is not a suffix of metric "${name}" (OpenMetrics requires name_<unit>)`);
      }
      meta.unit ??= rest;
    }
  }

  private parseSample(s: string, a: number, b: number): void {
    // Fast paths, in order: the line continues the previous line's series (a dump writes each series' samples
    // together); it has the series that followed that one last time (files ordered by time cycle through the
    // series); the text before its last two spaces is a series text already seen. A series text was validated when
    // first seen, and the full scan of this line would stop at the same place.
    let series: SeriesBuilder | undefined;
    let seriesEnd = -1;
    const last = this.lastSeries;
    if (last !== undefined) {
      const guess = startsWithSeries(s, a, last) ? last : startsWithSeries(s, a, last.next) ? last.next : undefined;
      if (guess !== undefined) {
        series = guess;
        seriesEnd = a + guess.raw.length;
      }
    }
    if (series === undefined) {
      let sp = b - 1;
      while (sp > a && s.charCodeAt(sp) !== SPACE) sp--;
      sp--;
      while (sp > a && s.charCodeAt(sp) !== SPACE) sp--;
      if (sp > a) {
        series = this.byRawText.get(s.slice(a, sp));
        seriesEnd = sp;
      }
      if (series === undefined) {
        seriesEnd = this.scanSeries(s, a, b);
        const raw = s.slice(a, seriesEnd);
        series = this.byRawText.get(raw);
        if (series === undefined) {
          series = this.newSeries(s, a, seriesEnd);
          this.byRawText.set(series.raw === raw ? series.raw : detach(raw), series);
        }
      }
      if (last !== undefined) last.next = series;
      this.lastSeries = series;
    }
    this.parseValueAndTimestamp(s, seriesEnd, b, series);
  }

  /** Validates the metric name and labels starting at s[a]; returns the index just after them. */
  private scanSeries(s: string, a: number, b: number): number {
    let i = a;
    const c = s.charCodeAt(i);
    if (!isNameStart(c)) {
      if (c === LBRACE) this.fail('sample has no metric name (quoted metric names inside braces are not supported)');
      if (a === 0 && this.lineNo === 1 && c === 0x1f) {
        this.fail('file looks gzip-compressed: give it a .gz suffix (metrics.om.gz)');
      }
      this.fail(`expected a metric name or a comment, got ${describeChar(s, i, b)}`);
    }
    i++;
    while (i < b && isNameChar(s.charCodeAt(i))) i++;
    const nameEnd = i;
    if (i < b && s.charCodeAt(i) === LBRACE) i = this.scanLabels(s, i, b, nameEnd, a);
    if (i >= b) this.fail(`sample for "${s.slice(a, nameEnd)}" has no value`);
    if (s.charCodeAt(i) !== SPACE) {
      this.fail(`invalid character ${describeChar(s, i, b)} after metric name "${s.slice(a, nameEnd)}"`);
    }
    return i;
  }

  /** Parses " value timestamp [# {exemplar}]" from s[i] (a space) to the end of the line, and stores the sample. */
  private parseValueAndTimestamp(s: string, i: number, b: number, series: SeriesBuilder): void {
    const valueStart = i + 1;
    let valueEnd = valueStart;
    while (valueEnd < b && s.charCodeAt(valueEnd) !== SPACE) valueEnd++;
    const value = parseFloatToken(s, valueStart, valueEnd);
    if (value === undefined) {
      if (valueStart === valueEnd) {
        this.fail(`sample for "${series.name}" has no value (fields must be separated by exactly one space)`);
      }
      this.fail(`sample for "${series.name}" has a non-numeric value "${s.slice(valueStart, valueEnd)}"`);
    }

    // Timestamp (required: promtool will not backfill a sample without one).
    if (valueEnd >= b) {
      this.fail(`sample for "${series.name}" has no timestamp (every sample needs one, in epoch seconds)`);
    }
    const tsStart = valueEnd + 1;
    let tsEnd = tsStart;
    while (tsEnd < b && s.charCodeAt(tsEnd) !== SPACE) tsEnd++;
    const ts = parseFloatToken(s, tsStart, tsEnd);
    if (ts === undefined || !Number.isFinite(ts)) {
      if (tsStart === tsEnd) {
        this.fail(`sample for "${series.name}" has no timestamp (fields must be separated by exactly one space)`);
      }
      if (s.charCodeAt(tsStart) === HASH) {
        this.fail(`sample for "${series.name}" has an exemplar but no timestamp (every sample needs one)`);
      }
      this.fail(`sample for "${series.name}" has an invalid timestamp "${s.slice(tsStart, tsEnd)}"`);
    }
    if (tsEnd < b && !s.startsWith(' # {', tsEnd)) {
      this.fail(
        `unexpected ${describeChar(s, tsEnd + 1, b)} after the timestamp of "${series.name}" (only an exemplar " # {...}" may follow)`,
      );
    }
    this.append(series, ts, value);
  }

  /** Validates `{name="value",...}` starting at s[i] === '{'; returns the index after '}'. Allocates nothing. */
  private scanLabels(s: string, i: number, b: number, nameEnd: number, a: number): number {
    i++;
    for (;;) {
      if (i >= b) this.fail(`unterminated label set of "${s.slice(a, nameEnd)}" (missing "}")`);
      let c = s.charCodeAt(i);
      if (c === RBRACE) return i + 1;
      if (!isLabelStart(c)) {
        if (c === QUOTE) this.fail(`quoted label names are not supported (metric "${s.slice(a, nameEnd)}")`);
        this.fail(`expected a label name in "${s.slice(a, nameEnd)}", got ${describeChar(s, i, b)}`);
      }
      const labelStart = i;
      i++;
      while (i < b && isLabelChar(s.charCodeAt(i))) i++;
      if (i >= b || s.charCodeAt(i) !== EQUALS) {
        this.fail(
          `expected "=" after label name "${s.slice(labelStart, i)}" in "${s.slice(a, nameEnd)}", got ${describeChar(s, i, b)}`,
        );
      }
      i++;
      if (i >= b || s.charCodeAt(i) !== QUOTE) {
        this.fail(
          `label "${s.slice(labelStart, i - 1)}" of "${s.slice(a, nameEnd)}" needs a double-quoted value, got ${describeChar(s, i, b)}`,
        );
      }
      i++;
      for (;;) {
        if (i >= b)
          this.fail(
            `unterminated value of label "${s.slice(labelStart, s.indexOf('=', labelStart))}" (missing closing quote)`,
          );
        c = s.charCodeAt(i);
        if (c === QUOTE) break;
        i += c === BACKSLASH ? 2 : 1;
      }
      i++;
      if (i >= b) this.fail(`unterminated label set of "${s.slice(a, nameEnd)}" (missing "}")`);
      c = s.charCodeAt(i);
      if (c === COMMA) i++;
      else if (c !== RBRACE)
        this.fail(`expected "," or "}" in the labels of "${s.slice(a, nameEnd)}", got ${describeChar(s, i, b)}`);
    }
  }

  /** Builds the label set of a series text seen for the first time (already validated by scanLabels). */
  private newSeries(s: string, a: number, seriesEnd: number): SeriesBuilder {
    let nameEnd = a + 1;
    while (nameEnd < seriesEnd && isNameChar(s.charCodeAt(nameEnd))) nameEnd++;
    const name = detach(s.slice(a, nameEnd));
    const pairs: [string, string][] = [];
    const seen = new Set<string>();
    let i = nameEnd + 1;
    while (i < seriesEnd - 1) {
      const eq = s.indexOf('=', i);
      const label = detach(s.slice(i, eq));
      if (seen.has(label)) this.fail(`label "${label}" appears twice in a sample of "${name}"`);
      if (label === '__name__') this.fail(`"${name}" sets "__name__" in its labels (give the name only once)`);
      seen.add(label);
      const valueStart = eq + 2;
      let j = valueStart;
      while (s.charCodeAt(j) !== QUOTE) j += s.charCodeAt(j) === BACKSLASH ? 2 : 1;
      const value = unescapeLabelValue(s, valueStart, j);
      if (value !== '') pairs.push([label, value]);
      i = j + 1;
      if (s.charCodeAt(i) === COMMA) i++;
    }
    pairs.sort((x, y) => (x[0] < y[0] ? -1 : x[0] > y[0] ? 1 : 0));
    const labels = Object.freeze(Object.fromEntries(pairs));
    const id = seriesId(name, labels);
    const known = this.byId.get(id);
    if (known) return known;
    const series: SeriesBuilder = {
      raw: detach(s.slice(a, seriesEnd)),
      next: undefined,
      name,
      labels,
      id,
      timestamps: [],
      values: [],
    };
    this.byId.set(id, series);
    const group = this.groups.get(name);
    if (group) group.push(series);
    else this.groups.set(name, [series]);
    return series;
  }

  private append(series: SeriesBuilder, ts: number, value: number): void {
    const n = series.timestamps.length;
    if (n > 0) {
      const last = series.timestamps[n - 1];
      if (ts <= last) {
        if (ts < last) {
          this.fail(
            `sample for "${series.id}" at ${ts} is older than the previous sample of that series (at ${last}); a series' samples must be in time order`,
          );
        }
        const previous = series.values[n - 1];
        if (previous === value || (Number.isNaN(previous) && Number.isNaN(value))) return;
        this.fail(`duplicate sample for "${series.id}" at ${ts}: ${value} after ${previous}`);
      }
    }
    series.timestamps.push(ts);
    series.values.push(value);
    this.sampleCount++;
    if (ts < this.minTime) this.minTime = ts;
    if (ts > this.maxTime) this.maxTime = ts;
  }

  private familyOf(name: string): { family: string; meta: FamilyMeta } | undefined {
    const own = this.meta.get(name);
    if (own) return { family: name, meta: own };
    for (const suffix of FAMILY_SUFFIXES) {
      if (name.endsWith(suffix)) {
        const family = name.slice(0, -suffix.length);
        const meta = this.meta.get(family);
        if (meta) return { family, meta };
      }
    }
    return undefined;
  }

  private buildStore(): MetricStore {
    const metrics = new Map<string, MetricGroup>();
    let seriesCount = 0;
    for (const [name, builders] of this.groups) {
      const found = this.familyOf(name);
      const series = builders.map(
        (b): StoredSeries => ({
          name: b.name,
          labels: b.labels,
          id: b.id,
          timestamps: Float64Array.from(b.timestamps),
          values: Float64Array.from(b.values),
        }),
      );
      seriesCount += series.length;
      metrics.set(name, {
        name,
        family: found?.family ?? name,
        type: found?.meta.type ?? 'unknown',
        ...(found?.meta.help !== undefined ? { help: found.meta.help } : {}),
        ...(found?.meta.unit !== undefined ? { unit: found.meta.unit } : {}),
        series,
      });
    }
    const empty = this.sampleCount === 0;
    return {
      metrics,
      seriesCount,
      sampleCount: this.sampleCount,
      minTime: empty ? Number.NaN : this.minTime,
      maxTime: empty ? Number.NaN : this.maxTime,
    };
  }
}

/** Parses a whole OpenMetrics text; `file` names it in errors. */
export function parseOpenMetrics(text: string, file = 'metrics.om'): MetricStore {
  const parser = new OpenMetricsParser(file);
  parser.push(text);
  return parser.finish();
}

/**
 * Streams an OpenMetrics file (`.om`, or gzip-compressed when the name ends in `.gz`) into a store.
 * `displayName` names the file in errors (defaults to the path).
 */
export async function readOpenMetricsFile(path: string, displayName = path): Promise<MetricStore> {
  const parser = new OpenMetricsParser(displayName);
  const decoder = new StringDecoder('utf8');
  // The parser's own error, kept because the pipeline may report it as an abort of the other streams.
  let parseError: unknown;
  const sink = async (source: AsyncIterable<Buffer>): Promise<void> => {
    try {
      for await (const chunk of source) parser.push(decoder.write(chunk));
      parser.push(decoder.end());
    } catch (error) {
      if (error instanceof ScenarioFormatError) parseError = error;
      throw error;
    }
  };
  const input = createReadStream(path, { highWaterMark: 1 << 20 });
  try {
    if (path.endsWith('.gz')) await pipeline(input, createGunzip({ chunkSize: 1 << 20 }), sink);
    else await pipeline(input, sink);
  } catch (error) {
    if (parseError !== undefined) throw parseError;
    if (error instanceof ScenarioFormatError) throw error;
    const err = error as NodeJS.ErrnoException;
    if (err.code?.startsWith('Z_')) {
      throw new ScenarioFormatError(displayName, `not a valid gzip file (${err.message})`);
    }
    throw new ScenarioFormatError(displayName, `cannot read ${basename(path)}: ${err.message}`);
  }
  return parser.finish();
}
