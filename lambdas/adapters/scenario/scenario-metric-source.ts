// A MetricSource that answers PromQL from a parsed scenario (metrics.om) instead of a live Prometheus.
//
// Supported PromQL subset (everything else is rejected with a `query` error that names the position):
//
//   <selector>   metric_name
//                metric_name{label="v", label!="v", label=~"re", label!~"re"}
//                {__name__=~"re", label="v"}         at least one matcher that does not match ""
//   <aggregate>  <op> by (label, ...) (<expr>)          also `<op> (<expr>) by (label, ...)`
//                <op> without (label, ...) (<expr>)    also `<op> (<expr>)`: one group for everything
//                <op> is sum | min | max | avg | count
//   <expr>       <selector> | <aggregate> | ( <expr> )
//
// Semantics follow Prometheus:
// - Regular expressions are fully anchored (`=~"api.*"` is `^(?s:api.*)$`); a leading `(?i)` makes one
//   case-insensitive. They run on the JavaScript engine, not RE2: the common syntax is the same.
// - A missing label equals the empty string, so `{team=""}` selects series without `team`.
// - Instant value at time t: the latest sample with timestamp in (t - lookback, t] (left-open, as Prometheus 3).
//   The lookback is 5 minutes by default, like Prometheus' --query.lookback-delta; `lookbackSeconds` changes it.
//   A scenario has no staleness markers, so during a scrape gap shorter than the lookback the last value before
//   the gap is returned again (the gap is invisible); once the last sample is a full lookback old the series is
//   absent. A NaN sample is returned as NaN, never skipped.
// - Selector results keep `__name__`; aggregations drop it. `by` keeps only the listed labels (those present),
//   `without` drops the listed labels and `__name__`.
// - sum and avg propagate NaN; min and max ignore NaN unless every input is NaN; count counts every series.
// - A range query evaluates the instant query at start, start + step, ... <= end (at most 11,000 points, as
//   Prometheus); each result series holds the steps at which it was present.
// Not supported: functions (rate, ...), range vectors ([5m]), offset and @ modifiers, binary operators and
// comparisons, number and string literals, other aggregations (topk, quantile, ...), on/ignoring/group_left.

import type {
  InstantResult,
  InstantSample,
  MetricQueryError,
  MetricSource,
  RangeResult,
  RangeSeries,
} from '../../core/perception/metric-source';
import { fail, ok } from '../../core/result';
import type { MetricStore, StoredSeries } from './openmetrics';

export const SUPPORTED_PROMQL =
  'supported: instant vector selectors such as metric{label="v", label!="v", label=~"re", label!~"re"} ' +
  'and sum|min|max|avg|count by|without (label, ...) (expr)';

export const DEFAULT_LOOKBACK_SECONDS = 300;
const MAX_RANGE_POINTS = 11_000;

export interface ScenarioMetricSourceOptions {
  /** How far back an instant query looks for the latest sample (Prometheus' --query.lookback-delta). */
  readonly lookbackSeconds?: number;
}

type Labels = Readonly<Record<string, string>>;
type MatchOp = '=' | '!=' | '=~' | '!~';
type AggregationOp = 'sum' | 'min' | 'max' | 'avg' | 'count';

export interface LabelMatcher {
  readonly label: string;
  readonly op: MatchOp;
  readonly value: string;
}

export type QueryAst =
  | { readonly kind: 'selector'; readonly matchers: readonly LabelMatcher[] }
  | {
      readonly kind: 'aggregate';
      readonly op: AggregationOp;
      readonly without: boolean;
      readonly labels: readonly string[];
      readonly expr: QueryAst;
    };

/** A query the subset cannot handle: `position` is the 1-based character where the problem starts. */
export interface QuerySyntaxError {
  readonly position: number;
  readonly message: string;
}

// ---------------------------------------------------------------------------------------------------------------
// Tokenizer

type TokenKind =
  | 'ident'
  | 'string'
  | 'number'
  | '{'
  | '}'
  | '('
  | ')'
  | '['
  | ']'
  | ','
  | '='
  | '!='
  | '=~'
  | '!~'
  | 'operator'
  | '@'
  | 'eof';

interface Token {
  readonly kind: TokenKind;
  /** Source text of the token. */
  readonly text: string;
  /** 0-based offset in the query. */
  readonly pos: number;
  /** Unquoted value of a string token. */
  readonly value?: string;
}

class SyntaxProblem extends Error {
  constructor(
    readonly pos: number,
    message: string,
  ) {
    super(message);
  }
}

const isIdentStart = (c: string): boolean => /[A-Za-z_:]/.test(c);
const isIdentChar = (c: string): boolean => /[A-Za-z0-9_:]/.test(c);
const SINGLE_ESCAPES: Readonly<Record<string, string>> = {
  a: '\x07',
  b: '\b',
  f: '\f',
  n: '\n',
  r: '\r',
  t: '\t',
  v: '\v',
  '\\': '\\',
};

function readString(query: string, start: number): { end: number; value: string } {
  const quote = query[start];
  let i = start + 1;
  let value = '';
  if (quote === '`') {
    const close = query.indexOf('`', i);
    if (close < 0) throw new SyntaxProblem(start, 'unterminated raw string');
    return { end: close + 1, value: query.slice(i, close) };
  }
  while (i < query.length) {
    const c = query[i];
    if (c === quote) return { end: i + 1, value };
    if (c === '\n') break;
    if (c !== '\\') {
      value += c;
      i++;
      continue;
    }
    const e = query[i + 1];
    if (e === undefined) break;
    if (e === quote) {
      value += e;
      i += 2;
    } else if (e in SINGLE_ESCAPES) {
      value += SINGLE_ESCAPES[e];
      i += 2;
    } else if (e === 'x' || e === 'u' || e === 'U') {
      const width = e === 'x' ? 2 : e === 'u' ? 4 : 8;
      const hex = query.slice(i + 2, i + 2 + width);
      if (!new RegExp(`^[0-9A-Fa-f]{${width}}$`).test(hex)) {
        throw new SyntaxProblem(i, `invalid escape sequence "\\${e}${hex}" in string`);
      }
      const code = Number.parseInt(hex, 16);
      if (code > 0x10ffff) throw new SyntaxProblem(i, `escape sequence "\\${e}${hex}" is not a valid code point`);
      value += String.fromCodePoint(code);
      i += 2 + width;
    } else if (/[0-7]/.test(e)) {
      const oct = query.slice(i + 1, i + 4);
      if (!/^[0-7]{3}$/.test(oct) || Number.parseInt(oct, 8) > 255) {
        throw new SyntaxProblem(i, `invalid octal escape "\\${oct}" in string`);
      }
      value += String.fromCharCode(Number.parseInt(oct, 8));
      i += 4;
    } else {
      throw new SyntaxProblem(
        i,
        `unknown escape sequence "\\${e}" in string (write "\\\\${e}" for a literal backslash, e.g. in a regex)`,
      );
    }
  }
  throw new SyntaxProblem(start, 'unterminated string');
}

const OPERATOR_CHARS = ['==', '>=', '<=', '+', '-', '*', '/', '%', '^', '>', '<'];

function tokenize(query: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < query.length) {
    const c = query[i];
    if (c === ' ' || c === '\t' || c === '\n' || c === '\r') {
      i++;
      continue;
    }
    if (c === '#') {
      const nl = query.indexOf('\n', i);
      i = nl < 0 ? query.length : nl + 1;
      continue;
    }
    const start = i;
    if (isIdentStart(c)) {
      i++;
      while (i < query.length && isIdentChar(query[i])) i++;
      tokens.push({ kind: 'ident', text: query.slice(start, i), pos: start });
      continue;
    }
    if (/[0-9.]/.test(c)) {
      i++;
      while (i < query.length && /[0-9A-Za-z_.]/.test(query[i])) i++;
      tokens.push({ kind: 'number', text: query.slice(start, i), pos: start });
      continue;
    }
    if (c === '"' || c === "'" || c === '`') {
      const { end, value } = readString(query, i);
      tokens.push({ kind: 'string', text: query.slice(start, end), pos: start, value });
      i = end;
      continue;
    }
    const two = query.slice(i, i + 2);
    if (two === '!=' || two === '=~' || two === '!~') {
      tokens.push({ kind: two, text: two, pos: start });
      i += 2;
      continue;
    }
    const operator = OPERATOR_CHARS.find((op) => query.startsWith(op, i));
    if (operator) {
      tokens.push({ kind: 'operator', text: operator, pos: start });
      i += operator.length;
      continue;
    }
    if ('{}()[],=@'.includes(c)) {
      tokens.push({ kind: c as TokenKind, text: c, pos: start });
      i++;
      continue;
    }
    throw new SyntaxProblem(start, `unexpected character "${c}"`);
  }
  tokens.push({ kind: 'eof', text: '', pos: query.length });
  return tokens;
}

// ---------------------------------------------------------------------------------------------------------------
// Parser

const AGGREGATIONS: ReadonlySet<string> = new Set(['sum', 'min', 'max', 'avg', 'count']);
const OTHER_AGGREGATIONS: ReadonlySet<string> = new Set([
  'topk',
  'bottomk',
  'quantile',
  'stddev',
  'stdvar',
  'count_values',
  'group',
  'limitk',
  'limit_ratio',
]);
const BINARY_KEYWORDS: ReadonlySet<string> = new Set([
  'and',
  'or',
  'unless',
  'on',
  'ignoring',
  'group_left',
  'group_right',
  'bool',
]);

const describe = (token: Token): string => (token.kind === 'eof' ? 'end of query' : `"${token.text}"`);

class Parser {
  private index = 0;
  constructor(private readonly tokens: Token[]) {}

  private peek(offset = 0): Token {
    return this.tokens[Math.min(this.index + offset, this.tokens.length - 1)];
  }

  private next(): Token {
    const token = this.peek();
    if (this.index < this.tokens.length - 1) this.index++;
    return token;
  }

  private isKeyword(token: Token, word: string): boolean {
    return token.kind === 'ident' && token.text.toLowerCase() === word;
  }

  /** Explains a token that cannot appear here, naming the PromQL feature it starts when it is one. */
  private unexpected(token: Token, expected: string): never {
    const lower = token.text.toLowerCase();
    if (token.kind === '[') {
      throw new SyntaxProblem(token.pos, 'range vector selectors (metric[5m]) and subqueries are not supported');
    }
    // Right after a complete expression, these start a feature of full PromQL.
    const afterExpression = expected === 'end of query' || expected === '")"';
    if (afterExpression) {
      if (token.kind === 'operator' || token.kind === '!=' || (token.kind === 'ident' && BINARY_KEYWORDS.has(lower))) {
        throw new SyntaxProblem(token.pos, `binary operator "${token.text}" is not supported`);
      }
      if (token.kind === '@' || (token.kind === 'ident' && lower === 'offset')) {
        throw new SyntaxProblem(token.pos, `the ${token.kind === '@' ? '@' : 'offset'} modifier is not supported`);
      }
    }
    throw new SyntaxProblem(token.pos, `unexpected ${describe(token)}, expected ${expected}`);
  }

  private expect(kind: TokenKind, expected: string): Token {
    const token = this.next();
    if (token.kind !== kind) this.unexpected(token, expected);
    return token;
  }

  parseQuery(): QueryAst {
    const expr = this.parseExpr();
    const token = this.peek();
    if (token.kind !== 'eof') this.unexpected(token, 'end of query');
    return expr;
  }

  private parseExpr(): QueryAst {
    const token = this.peek();
    switch (token.kind) {
      case '(': {
        this.next();
        const expr = this.parseExpr();
        this.expect(')', '")"');
        return expr;
      }
      case '{':
        return this.parseSelector();
      case 'ident':
        return this.parseIdentExpr(token);
      case 'number':
        throw new SyntaxProblem(token.pos, `number literal "${token.text}" is not supported (no scalar expressions)`);
      case 'string':
        throw new SyntaxProblem(token.pos, 'string literals are not supported');
      case 'operator':
        throw new SyntaxProblem(token.pos, `unary operator "${token.text}" is not supported`);
      case 'eof':
        throw new SyntaxProblem(token.pos, 'unexpected end of query, expected an expression');
      default:
        return this.unexpected(token, 'a metric name, "{" or an aggregation');
    }
  }

  private parseIdentExpr(token: Token): QueryAst {
    const lower = token.text.toLowerCase();
    const after = this.peek(1);
    const startsAggregation = after.kind === '(' || this.isKeyword(after, 'by') || this.isKeyword(after, 'without');
    if (AGGREGATIONS.has(lower) && startsAggregation) return this.parseAggregate();
    if (OTHER_AGGREGATIONS.has(lower) && startsAggregation) {
      throw new SyntaxProblem(
        token.pos,
        `aggregation "${token.text}" is not supported (only sum, min, max, avg, count)`,
      );
    }
    if (after.kind === '(') throw new SyntaxProblem(token.pos, `function "${token.text}" is not supported`);
    if (lower === 'by' || lower === 'without' || lower === 'offset' || BINARY_KEYWORDS.has(lower)) {
      this.unexpected(token, 'an expression');
    }
    if (lower === 'inf' || lower === 'nan') {
      throw new SyntaxProblem(token.pos, `number literal "${token.text}" is not supported (no scalar expressions)`);
    }
    return this.parseSelector();
  }

  private parseAggregate(): QueryAst {
    const opToken = this.next();
    const op = opToken.text.toLowerCase() as AggregationOp;
    let grouping = this.parseGrouping();
    this.expect('(', `"(" after "${opToken.text}"`);
    if (this.peek().kind === ')') {
      throw new SyntaxProblem(this.peek().pos, `"${opToken.text}" needs an expression to aggregate`);
    }
    const expr = this.parseExpr();
    const close = this.next();
    if (close.kind === ',') {
      throw new SyntaxProblem(close.pos, `"${opToken.text}" takes one argument; parameters are not supported`);
    }
    if (close.kind !== ')') this.unexpected(close, '")"');
    const trailing = this.parseGrouping();
    if (trailing) {
      if (grouping) throw new SyntaxProblem(this.peek().pos, 'grouping given twice');
      grouping = trailing;
    }
    // No grouping aggregates everything into one series, as `by ()` does.
    return { kind: 'aggregate', op, without: grouping?.without ?? false, labels: grouping?.labels ?? [], expr };
  }

  private parseGrouping(): { without: boolean; labels: string[] } | undefined {
    const token = this.peek();
    const without = this.isKeyword(token, 'without');
    if (!without && !this.isKeyword(token, 'by')) return undefined;
    this.next();
    this.expect('(', `"(" after "${token.text}"`);
    const labels: string[] = [];
    for (;;) {
      const label = this.next();
      if (label.kind === ')') break;
      if (label.kind !== 'ident') this.unexpected(label, 'a label name or ")"');
      this.checkLabelName(label);
      labels.push(label.text);
      const sep = this.next();
      if (sep.kind === ')') break;
      if (sep.kind !== ',') this.unexpected(sep, '"," or ")"');
    }
    return { without, labels };
  }

  private checkLabelName(token: Token): void {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(token.text)) {
      throw new SyntaxProblem(token.pos, `invalid label name "${token.text}"`);
    }
  }

  private parseSelector(): QueryAst {
    const matchers: LabelMatcher[] = [];
    const compiled: CompiledMatcher[] = [];
    const start = this.peek();
    let hasName = false;
    if (start.kind === 'ident') {
      this.next();
      matchers.push({ label: '__name__', op: '=', value: start.text });
      compiled.push(compileMatcher(matchers[0], start.pos));
      hasName = true;
    }
    if (this.peek().kind === '{') {
      this.next();
      for (;;) {
        const label = this.next();
        if (label.kind === '}') break;
        if (label.kind !== 'ident') this.unexpected(label, 'a label name or "}"');
        this.checkLabelName(label);
        const op = this.next();
        if (op.kind !== '=' && op.kind !== '!=' && op.kind !== '=~' && op.kind !== '!~') {
          this.unexpected(op, 'a label matcher operator (=, !=, =~, !~)');
        }
        const value = this.next();
        if (value.kind !== 'string') this.unexpected(value, `a quoted string after "${label.text}${op.text}"`);
        if (label.text === '__name__' && hasName) {
          throw new SyntaxProblem(label.pos, 'metric name must not be set twice');
        }
        const matcher: LabelMatcher = { label: label.text, op: op.kind, value: value.value ?? '' };
        compiled.push(compileMatcher(matcher, value.pos));
        matchers.push(matcher);
        const sep = this.next();
        if (sep.kind === '}') break;
        if (sep.kind !== ',') this.unexpected(sep, '"," or "}"');
      }
    }
    if (!compiled.some((m) => !m.test(''))) {
      throw new SyntaxProblem(start.pos, 'vector selector must contain at least one non-empty matcher');
    }
    return { kind: 'selector', matchers };
  }
}

/** Parses `query` into the supported subset, or explains (with a 1-based position) why it is outside it. */
export function parseScenarioQuery(
  query: string,
): { ok: true; ast: QueryAst } | { ok: false; error: QuerySyntaxError } {
  try {
    return { ok: true, ast: new Parser(tokenize(query)).parseQuery() };
  } catch (error) {
    if (error instanceof SyntaxProblem)
      return { ok: false, error: { position: error.pos + 1, message: error.message } };
    throw error;
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Evaluation

interface CompiledMatcher {
  readonly label: string;
  test(value: string): boolean;
}

function compileMatcher(matcher: LabelMatcher, pos: number): CompiledMatcher {
  const { label, op, value } = matcher;
  if (op === '=') return { label, test: (v) => v === value };
  if (op === '!=') return { label, test: (v) => v !== value };
  let source = value;
  let flags = 's';
  if (source.startsWith('(?i)')) {
    source = source.slice(4);
    flags += 'i';
  }
  let re: RegExp;
  try {
    re = new RegExp(`^(?:${source})$`, flags);
  } catch (error) {
    throw new SyntaxProblem(
      pos,
      `invalid regular expression "${value}" for label "${label}": ${(error as Error).message}`,
    );
  }
  return op === '=~' ? { label, test: (v) => re.test(v) } : { label, test: (v) => !re.test(v) };
}

const labelValue = (labels: Labels, name: string): string => (Object.hasOwn(labels, name) ? labels[name] : '');

interface Sample {
  /** Stable per series or group, so callers can key maps by it. */
  readonly labels: Labels;
  readonly value: number;
}

interface Evaluator {
  evaluate(time: number, lookback: number, out: Sample[]): void;
}

/** Index of the last timestamp <= t, or -1. */
function lastAtOrBefore(timestamps: Float64Array, t: number): number {
  let lo = 0;
  let hi = timestamps.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (timestamps[mid] <= t) lo = mid + 1;
    else hi = mid;
  }
  return lo - 1;
}

class SelectorEvaluator implements Evaluator {
  private readonly series: readonly StoredSeries[];
  private readonly outputLabels: readonly Labels[];

  constructor(store: MetricStore, matchers: readonly LabelMatcher[], pos: number) {
    const compiled = matchers.map((m) => compileMatcher(m, pos));
    const nameMatchers = compiled.filter((m) => m.label === '__name__');
    const labelMatchers = compiled.filter((m) => m.label !== '__name__');
    const exactName = matchers.find((m) => m.label === '__name__' && m.op === '=')?.value;
    const groups =
      exactName !== undefined
        ? [store.metrics.get(exactName)].filter((g) => g !== undefined)
        : [...store.metrics.values()];
    const series: StoredSeries[] = [];
    for (const group of groups) {
      if (!nameMatchers.every((m) => m.test(group.name))) continue;
      for (const s of group.series) {
        if (labelMatchers.every((m) => m.test(labelValue(s.labels, m.label)))) series.push(s);
      }
    }
    this.series = series;
    this.outputLabels = series.map((s) => Object.freeze({ __name__: s.name, ...s.labels }));
  }

  evaluate(time: number, lookback: number, out: Sample[]): void {
    const from = time - lookback;
    for (let i = 0; i < this.series.length; i++) {
      const { timestamps, values } = this.series[i];
      const at = lastAtOrBefore(timestamps, time);
      if (at >= 0 && timestamps[at] > from) out.push({ labels: this.outputLabels[i], value: values[at] });
    }
  }
}

/** Neumaier-compensated running sum, as Prometheus sums. */
interface Accumulator {
  sum: number;
  compensation: number;
  count: number;
  value: number;
}

function kahanAdd(acc: Accumulator, x: number): void {
  const t = acc.sum + x;
  if (!Number.isFinite(t)) acc.compensation = 0;
  else if (Math.abs(acc.sum) >= Math.abs(x)) acc.compensation += acc.sum - t + x;
  else acc.compensation += x - t + acc.sum;
  acc.sum = t;
}

class AggregateEvaluator implements Evaluator {
  private readonly groupOf = new WeakMap<Labels, Labels>();
  private readonly groupsByKey = new Map<string, Labels>();
  private readonly grouping: ReadonlySet<string>;

  constructor(
    private readonly op: AggregationOp,
    private readonly without: boolean,
    labels: readonly string[],
    private readonly inner: Evaluator,
  ) {
    this.grouping = new Set(without ? [...labels, '__name__'] : labels);
  }

  private groupLabels(labels: Labels): Labels {
    const known = this.groupOf.get(labels);
    if (known) return known;
    const names = Object.keys(labels)
      .filter((name) => this.grouping.has(name) !== this.without && labels[name] !== '')
      .sort();
    const key = names.map((name) => `${name}\u0000${labels[name]}`).join('\u0000');
    let group = this.groupsByKey.get(key);
    if (!group) {
      group = Object.freeze(Object.fromEntries(names.map((name) => [name, labels[name]])));
      this.groupsByKey.set(key, group);
    }
    this.groupOf.set(labels, group);
    return group;
  }

  evaluate(time: number, lookback: number, out: Sample[]): void {
    const input: Sample[] = [];
    this.inner.evaluate(time, lookback, input);
    const accumulators = new Map<Labels, Accumulator>();
    for (const sample of input) {
      const group = this.groupLabels(sample.labels);
      const x = sample.value;
      const acc = accumulators.get(group);
      if (!acc) {
        accumulators.set(group, { sum: x, compensation: 0, count: 1, value: x });
        continue;
      }
      acc.count++;
      if (this.op === 'sum' || this.op === 'avg') kahanAdd(acc, x);
      else if (this.op === 'max') {
        if (acc.value < x || Number.isNaN(acc.value)) acc.value = x;
      } else if (this.op === 'min') {
        if (acc.value > x || Number.isNaN(acc.value)) acc.value = x;
      }
    }
    for (const [labels, acc] of accumulators) {
      const total = Number.isFinite(acc.sum) ? acc.sum + acc.compensation : acc.sum;
      const value =
        this.op === 'sum' ? total : this.op === 'avg' ? total / acc.count : this.op === 'count' ? acc.count : acc.value;
      out.push({ labels, value });
    }
  }
}

function buildEvaluator(store: MetricStore, ast: QueryAst): Evaluator {
  if (ast.kind === 'selector') return new SelectorEvaluator(store, ast.matchers, 0);
  return new AggregateEvaluator(ast.op, ast.without, ast.labels, buildEvaluator(store, ast.expr));
}

/** Answers the supported PromQL subset (see the top of this file) from a scenario's metrics. */
export class ScenarioMetricSource implements MetricSource {
  private readonly lookback: number;
  /** Compiled queries: the replay asks the same few queries every tick. */
  private readonly compiled = new Map<string, Evaluator | QuerySyntaxError>();

  constructor(
    private readonly store: MetricStore,
    options: ScenarioMetricSourceOptions = {},
  ) {
    const lookback = options.lookbackSeconds ?? DEFAULT_LOOKBACK_SECONDS;
    if (!(lookback > 0) || !Number.isFinite(lookback)) {
      throw new RangeError(`lookbackSeconds must be a positive number of seconds, got ${lookback}`);
    }
    this.lookback = lookback;
  }

  private compile(query: string): Evaluator | QuerySyntaxError {
    let entry = this.compiled.get(query);
    if (entry === undefined) {
      const parsed = parseScenarioQuery(query);
      entry = parsed.ok ? buildEvaluator(this.store, parsed.ast) : parsed.error;
      this.compiled.set(query, entry);
    }
    return entry;
  }

  private queryError(query: string, problem: QuerySyntaxError | string): Omit<MetricQueryError, 'time' | 'range'> {
    const message =
      typeof problem === 'string'
        ? problem
        : `unsupported query at char ${problem.position}: ${problem.message} (the scenario metric source evaluates a PromQL subset; ${SUPPORTED_PROMQL})`;
    return { kind: 'query', query, message };
  }

  async instant(query: string, time: number): Promise<InstantResult> {
    if (!Number.isFinite(time)) return fail({ ...this.queryError(query, `invalid evaluation time ${time}`), time });
    const evaluator = this.compile(query);
    if (!('evaluate' in evaluator)) return fail({ ...this.queryError(query, evaluator), time });
    const samples: Sample[] = [];
    evaluator.evaluate(time, this.lookback, samples);
    return ok(samples.map((s): InstantSample => ({ labels: s.labels, value: s.value })));
  }

  async range(query: string, start: number, end: number, stepSeconds: number): Promise<RangeResult> {
    const range = { start, end, stepSeconds };
    const problem =
      !Number.isFinite(start) || !Number.isFinite(end)
        ? `invalid range start ${start} or end ${end}`
        : end < start
          ? 'end timestamp must not be before start time'
          : !(stepSeconds > 0) || !Number.isFinite(stepSeconds)
            ? 'zero or negative query resolution step widths are not accepted: use a positive step'
            : Math.floor((end - start) / stepSeconds) + 1 > MAX_RANGE_POINTS
              ? `exceeded maximum resolution of ${MAX_RANGE_POINTS} points per timeseries: decrease the range or increase the step`
              : undefined;
    if (problem) return fail({ ...this.queryError(query, problem), range });
    const evaluator = this.compile(query);
    if (!('evaluate' in evaluator)) return fail({ ...this.queryError(query, evaluator), range });

    const steps = Math.floor((end - start) / stepSeconds) + 1;
    const bySeries = new Map<Labels, { timestamps: number[]; values: number[] }>();
    const samples: Sample[] = [];
    for (let i = 0; i < steps; i++) {
      const t = start + i * stepSeconds;
      samples.length = 0;
      evaluator.evaluate(t, this.lookback, samples);
      for (const sample of samples) {
        let series = bySeries.get(sample.labels);
        if (!series) {
          series = { timestamps: [], values: [] };
          bySeries.set(sample.labels, series);
        }
        series.timestamps.push(t);
        series.values.push(sample.value);
      }
    }
    return ok(
      [...bySeries].map(
        ([labels, s]): RangeSeries => ({
          labels,
          timestamps: Float64Array.from(s.timestamps),
          values: Float64Array.from(s.values),
        }),
      ),
    );
  }
}
