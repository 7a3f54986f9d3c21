// A LogSource that answers from a loaded scenario's logs.jsonl instead of a live Loki, with Loki's semantics.
//
// It builds the same LogQL as the Loki source (selector template + error filter) and evaluates it, so a replay
// and production count the same lines. Supported LogQL subset (anything else is a `query` error naming the column):
//
//   <selector>  {label="v", label!="v", label=~"re", label!~"re"}   at least one matcher that does not match ""
//   <filter>    |= "text"   != "text"   |~ "re"   !~ "re"          any number, applied in order
//   strings     "Go-escaped"  or  `raw`
//
// As in Loki: label regexes are fully anchored, line-filter regexes match anywhere; a missing label equals "";
// a leading (?i) (or (?s), (?m)) sets flags. Regexes run on the JavaScript engine, not RE2: the common syntax is
// the same. Lines keep Loki's response shape: structured metadata is merged into the returned labels, but only
// stream labels are matched by the selector. Scenario times are whole milliseconds.

import { DEFAULT_ERROR_FILTER, DEFAULT_LOG_SELECTOR } from '../../core/config/log-source-schema';
import {
  compareLogLines,
  countRangeProblem,
  countTimestamps,
  type ErrorCountsResult,
  type ErrorLinesResult,
  errorCountQuery,
  errorLinesQuery,
  type LogDirection,
  type LogLine,
  type LogQueryTemplate,
  type LogSource,
  linesRangeProblem,
} from '../../core/perception/log-source';
import { fail, ok } from '../../core/result';
import type { LogRecord } from './load-scenario';

export const SUPPORTED_LOGQL =
  'supported: {label="v", label!="v", label=~"re", label!~"re"} followed by line filters |= "s", != "s", |~ "re", !~ "re"';

type Labels = Readonly<Record<string, string>>;

interface LabelMatcher {
  readonly label: string;
  readonly test: (value: string) => boolean;
}

/** A parsed log query: which streams, and which of their lines. */
export interface CompiledLogQuery {
  readonly matchers: readonly LabelMatcher[];
  readonly filters: readonly ((line: string) => boolean)[];
}

/** A query the subset cannot handle: `column` is 1-based, as Loki reports it. */
export interface LogqlSyntaxError {
  readonly column: number;
  readonly message: string;
}

class SyntaxFailure extends Error {
  constructor(
    readonly column: number,
    message: string,
  ) {
    super(message);
  }
}

const SIMPLE_ESCAPES: Readonly<Record<string, string>> = {
  a: '\x07',
  b: '\b',
  f: '\f',
  n: '\n',
  r: '\r',
  t: '\t',
  v: '\v',
  '\\': '\\',
  '"': '"',
};

/** Compiles an RE2-style pattern: a leading flag group becomes JavaScript flags. */
function compileRegex(pattern: string, anchored: boolean, column: number): RegExp {
  const flagGroup = /^\(\?([imsU]+)\)/.exec(pattern);
  let flags = '';
  let body = pattern;
  if (flagGroup) {
    if (flagGroup[1].includes('U')) throw new SyntaxFailure(column, 'the (?U) flag is not supported');
    flags = [...new Set(flagGroup[1])].join('');
    body = pattern.slice(flagGroup[0].length);
  }
  try {
    return new RegExp(anchored ? `^(?:${body})$` : body, flags);
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new SyntaxFailure(column, `invalid regular expression ${JSON.stringify(pattern)}: ${reason}`);
  }
}

class Parser {
  private pos = 0;

  constructor(private readonly text: string) {}

  parse(): CompiledLogQuery {
    const matchers = this.selector();
    const filters: ((line: string) => boolean)[] = [];
    for (this.space(); this.pos < this.text.length; this.space()) filters.push(this.lineFilter());
    return { matchers, filters };
  }

  private fail(message: string, at = this.pos): never {
    throw new SyntaxFailure(at + 1, message);
  }

  private space(): void {
    while (this.pos < this.text.length && /\s/.test(this.text[this.pos])) this.pos++;
  }

  private selector(): LabelMatcher[] {
    this.space();
    if (this.text[this.pos] !== '{') this.fail(`expected "{" to start a stream selector; ${SUPPORTED_LOGQL}`);
    this.pos++;
    const matchers: LabelMatcher[] = [];
    for (;;) {
      this.space();
      if (this.text[this.pos] === '}') break;
      matchers.push(this.matcher());
      this.space();
      if (this.text[this.pos] === ',') {
        this.pos++;
        continue;
      }
      if (this.text[this.pos] !== '}') this.fail('expected "," or "}" in the stream selector');
      break;
    }
    const close = this.pos;
    this.pos++;
    if (!matchers.some((matcher) => !matcher.test(''))) {
      this.fail(
        'queries require at least one regexp or equality matcher that does not have an empty-compatible value',
        close,
      );
    }
    return matchers;
  }

  private matcher(): LabelMatcher {
    const name = /^[a-zA-Z_][a-zA-Z0-9_]*/.exec(this.text.slice(this.pos))?.[0];
    if (!name) this.fail('expected a label name');
    this.pos += name.length;
    this.space();
    const op = /^(=~|!~|!=|=)/.exec(this.text.slice(this.pos))?.[0];
    if (!op) this.fail(`expected =, !=, =~ or !~ after label "${name}"`);
    this.pos += op.length;
    this.space();
    const column = this.pos + 1;
    const value = this.string();
    if (op === '=') return { label: name, test: (v) => v === value };
    if (op === '!=') return { label: name, test: (v) => v !== value };
    const regex = compileRegex(value, true, column);
    return op === '=~' ? { label: name, test: (v) => regex.test(v) } : { label: name, test: (v) => !regex.test(v) };
  }

  private lineFilter(): (line: string) => boolean {
    const op = /^(\|=|!=|\|~|!~)/.exec(this.text.slice(this.pos))?.[0];
    if (!op) this.fail(`expected a line filter (|=, !=, |~, !~); ${SUPPORTED_LOGQL}`);
    this.pos += op.length;
    this.space();
    const column = this.pos + 1;
    const value = this.string();
    switch (op) {
      case '|=':
        return (line) => line.includes(value);
      case '!=':
        return (line) => !line.includes(value);
      default: {
        const regex = compileRegex(value, false, column);
        return op === '|~' ? (line) => regex.test(line) : (line) => !regex.test(line);
      }
    }
  }

  /** A Go string literal: "interpreted" (escapes) or `raw`. */
  private string(): string {
    const quote = this.text[this.pos];
    const start = this.pos;
    if (quote === '`') {
      const end = this.text.indexOf('`', start + 1);
      if (end < 0) this.fail('unterminated raw string', start);
      this.pos = end + 1;
      return this.text.slice(start + 1, end);
    }
    if (quote !== '"') this.fail('expected a quoted string');
    this.pos++;
    let out = '';
    while (this.pos < this.text.length) {
      const char = this.text[this.pos];
      if (char === '"') {
        this.pos++;
        return out;
      }
      if (char === '\n') break;
      if (char !== '\\') {
        out += char;
        this.pos++;
        continue;
      }
      out += this.escape();
    }
    return this.fail('unterminated string', start);
  }

  private escape(): string {
    const at = this.pos;
    const next = this.text[this.pos + 1];
    if (next !== undefined && SIMPLE_ESCAPES[next] !== undefined) {
      this.pos += 2;
      return SIMPLE_ESCAPES[next];
    }
    const hexDigits = next === 'x' ? 2 : next === 'u' ? 4 : next === 'U' ? 8 : 0;
    if (hexDigits > 0) {
      const digits = this.text.slice(this.pos + 2, this.pos + 2 + hexDigits);
      if (!new RegExp(`^[0-9a-fA-F]{${hexDigits}}$`).test(digits)) this.fail(`invalid \\${next} escape`, at);
      this.pos += 2 + hexDigits;
      return String.fromCodePoint(Number.parseInt(digits, 16));
    }
    const octal = /^[0-7]{3}/.exec(this.text.slice(this.pos + 1))?.[0];
    if (octal) {
      this.pos += 4;
      return String.fromCharCode(Number.parseInt(octal, 8));
    }
    return this.fail(`unknown escape sequence \\${next ?? ''}`, at);
  }
}

/** Parses a log query of the supported subset; an error names the 1-based column. */
export function compileLogQuery(
  text: string,
): { ok: true; value: CompiledLogQuery } | { ok: false; error: LogqlSyntaxError } {
  try {
    return { ok: true, value: new Parser(text).parse() };
  } catch (error) {
    if (error instanceof SyntaxFailure) return { ok: false, error: { column: error.column, message: error.message } };
    throw error;
  }
}

const selects = (query: CompiledLogQuery, labels: Labels): boolean =>
  query.matchers.every((matcher) => matcher.test(labels[matcher.label] ?? ''));

const keeps = (query: CompiledLogQuery, line: string): boolean => query.filters.every((filter) => filter(line));

export class ScenarioLogSource implements LogSource {
  private readonly template: LogQueryTemplate;
  private readonly records: readonly LogRecord[];
  private readonly compiled = new Map<string, ReturnType<typeof compileLogQuery>>();

  constructor(logs: readonly LogRecord[], template: Partial<LogQueryTemplate> = {}) {
    this.template = {
      selector: template.selector ?? DEFAULT_LOG_SELECTOR,
      errorFilter: template.errorFilter ?? DEFAULT_ERROR_FILTER,
    };
    // The loader sorts by time; sorting again keeps the binary searches below right for any caller.
    this.records = [...logs].sort((a, b) => a.time - b.time);
  }

  async errorCounts(
    service: string,
    startSec: number,
    endSec: number,
    stepSeconds: number,
  ): Promise<ErrorCountsResult> {
    const range = { start: startSec, end: endSec, stepSeconds };
    const query = errorCountQuery(this.template, service, stepSeconds);
    const problem = countRangeProblem(startSec, endSec, stepSeconds);
    if (problem) return fail({ kind: 'query', service, query, message: problem, range, attempts: 0 });
    const compiled = this.compile(service);
    if (!compiled.ok) {
      return fail({
        kind: 'query',
        service,
        query,
        message: this.syntaxMessage(service, compiled.error),
        range,
        attempts: 0,
      });
    }
    const timestamps = countTimestamps(startSec, endSec, stepSeconds);
    const startMs = Math.round(startSec * 1000);
    const stepMs = stepSeconds * 1000;
    const counts = new Array<number>(timestamps.length).fill(0);
    for (const record of this.between(startMs, Math.round(timestamps[timestamps.length - 1] * 1000))) {
      if (!selects(compiled.value, record.labels) || !keeps(compiled.value, record.line)) continue;
      counts[Math.ceil((record.time - startMs) / stepMs) - 1]++;
    }
    const total = counts.reduce((sum, count) => sum + count, 0);
    return ok({ service, query, stepSeconds, timestamps, counts, total });
  }

  async errorLines(
    service: string,
    startSec: number,
    endSec: number,
    limit: number,
    direction: LogDirection = 'backward',
  ): Promise<ErrorLinesResult> {
    const range = { start: startSec, end: endSec };
    const query = errorLinesQuery(this.template, service);
    const problem = linesRangeProblem(startSec, endSec, limit);
    if (problem) return fail({ kind: 'query', service, query, message: problem, range, attempts: 0 });
    const compiled = this.compile(service);
    if (!compiled.ok) {
      return fail({
        kind: 'query',
        service,
        query,
        message: this.syntaxMessage(service, compiled.error),
        range,
        attempts: 0,
      });
    }
    const matching: LogLine[] = [];
    for (const record of this.between(Math.round(startSec * 1000), Math.round(endSec * 1000))) {
      if (!selects(compiled.value, record.labels) || !keeps(compiled.value, record.line)) continue;
      const labels = record.metadata ? { ...record.labels, ...record.metadata } : record.labels;
      matching.push({ time: record.time, labels, line: record.line });
    }
    matching.sort(compareLogLines);
    const lines = direction === 'forward' ? matching.slice(0, limit) : matching.slice(-limit);
    return ok({ service, query, lines, truncated: lines.length >= limit });
  }

  private compile(service: string): ReturnType<typeof compileLogQuery> {
    let compiled = this.compiled.get(service);
    if (!compiled) {
      compiled = compileLogQuery(errorLinesQuery(this.template, service));
      this.compiled.set(service, compiled);
    }
    return compiled;
  }

  private syntaxMessage(service: string, error: LogqlSyntaxError): string {
    return `parse error at column ${error.column} of ${JSON.stringify(errorLinesQuery(this.template, service))}: ${error.message}`;
  }

  /** Records with time in (fromMs, toMs]. */
  private between(fromMs: number, toMs: number): readonly LogRecord[] {
    return this.records.slice(this.firstAfter(fromMs), this.firstAfter(toMs));
  }

  /** Index of the first record with time > ms. */
  private firstAfter(ms: number): number {
    let low = 0;
    let high = this.records.length;
    while (low < high) {
      const mid = (low + high) >>> 1;
      if (this.records[mid].time <= ms) low = mid + 1;
      else high = mid;
    }
    return low;
  }
}
