// The LogSource port: what the diagnosis engine asks of Loki or a replayed scenario about a service's error lines.
//
// Both calls cover the same half-open window (start, end], so "412 error lines" from errorCounts and the lines
// errorLines returns describe the same set. Both implementations build their LogQL with the functions below, so a
// replay and production ask exactly the same question.

import type { Result } from '../result';

/** Where a service's name goes in a stream selector template. */
export const SERVICE_PLACEHOLDER = '<svc>';
/** Loki's default max_entries_limit_per_query: the most lines one errorLines call may ask for. */
export const MAX_LOG_LINES = 5_000;
/** Loki, like Prometheus, refuses a range query of more than 11,000 points per series. */
export const MAX_COUNT_POINTS = 11_000;

/** One log line; `time` is epoch ms (Loki's nanoseconds truncated), `labels` its stream labels. */
export interface LogLine {
  readonly time: number;
  readonly labels: Readonly<Record<string, string>>;
  readonly line: string;
}

/** Error-line counts of one service in consecutive step-wide windows. */
export interface ErrorCounts {
  readonly service: string;
  /** The LogQL that produced the counts, for evidence a human can re-run. */
  readonly query: string;
  readonly stepSeconds: number;
  /** Window ends in epoch seconds: start + step, start + 2 step, ... <= end. */
  readonly timestamps: readonly number[];
  /** counts[i] is the number of error lines with time in (timestamps[i] - step, timestamps[i]]; 0 when none. */
  readonly counts: readonly number[];
  /** Sum of counts: error lines in (start, timestamps[last]]. */
  readonly total: number;
}

export type LogDirection = 'forward' | 'backward';

/** Error lines of one service, oldest first whatever the direction. */
export interface ErrorLines {
  readonly service: string;
  readonly query: string;
  readonly lines: readonly LogLine[];
  /** True when `limit` lines came back, so more may match: counts over `lines` are then a sample. */
  readonly truncated: boolean;
}

export type LogErrorKind =
  | 'unreachable' // connection refused, DNS, TLS, unreadable auth secret
  | 'timeout' // no answer within the configured timeout
  | 'http' // non-2xx status that is not a query rejection (401, 404, 429, 5xx)
  | 'query' // the LogQL or its range was rejected (Loki's 400 parse errors, limits)
  | 'response'; // the answer was not the expected JSON shape

/** Why a log query failed, with the LogQL so a human can run it by hand. */
export interface LogQueryError {
  readonly kind: LogErrorKind;
  readonly service: string;
  readonly query: string;
  readonly message: string;
  /** HTTP status when the source answered. */
  readonly status?: number;
  /** Epoch seconds; stepSeconds only for counts. */
  readonly range: { readonly start: number; readonly end: number; readonly stepSeconds?: number };
  /** HTTP round trips made; 0 when the arguments were refused before any. */
  readonly attempts: number;
}

export type ErrorCountsResult = Result<ErrorCounts, LogQueryError>;
export type ErrorLinesResult = Result<ErrorLines, LogQueryError>;

export interface LogSource {
  /**
   * Error lines of `service` per `stepSeconds` window over (startSec, endSec]; `stepSeconds` a whole number of
   * seconds. Align startSec to the step: a Loki query frontend may align evaluation times to it. Never throws.
   */
  errorCounts(service: string, startSec: number, endSec: number, stepSeconds: number): Promise<ErrorCountsResult>;
  /**
   * At most `limit` error lines of `service` with time in (startSec, endSec]: the newest ones (backward, the
   * default) or the oldest (forward, to see an onset). Never throws.
   */
  errorLines(
    service: string,
    startSec: number,
    endSec: number,
    limit: number,
    direction?: LogDirection,
  ): Promise<ErrorLinesResult>;
}

/** Which streams belong to a service and which of their lines are errors. */
export interface LogQueryTemplate {
  /** Stream selector with SERVICE_PLACEHOLDER inside a quoted value, e.g. {service="<svc>"}. */
  readonly selector: string;
  /** Pipeline appended to the selector, e.g. |~ "(?i)(error|exception|fatal|panic)"; empty for every line. */
  readonly errorFilter: string;
}

// ---------------------------------------------------------------------------------------------------------------
// LogQL building

const CONTROL_ESCAPES: Readonly<Record<string, string>> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' };

/** `value` as the body of a double-quoted LogQL string (Go string syntax), without the quotes. */
export function logqlEscape(value: string): string {
  let out = '';
  for (const char of value) {
    const code = char.codePointAt(0)!;
    if (char === '\\' || char === '"') out += `\\${char}`;
    else if (CONTROL_ESCAPES[char]) out += CONTROL_ESCAPES[char];
    else if (code < 0x20 || code === 0x7f) out += `\\x${code.toString(16).padStart(2, '0')}`;
    else out += char;
  }
  return out;
}

/** `value` as a double-quoted LogQL string literal. */
export const logqlString = (value: string): string => `"${logqlEscape(value)}"`;

/** Escapes RE2 metacharacters so a regex matcher matches `value` literally. */
export function regexLiteral(value: string): string {
  return value.replace(/[\\^$.|?*+()[\]{}]/g, '\\$&');
}

// A matcher or line-filter operator followed by a double-quoted string. Regex operators (=~, !~, |~) need the
// service escaped as a regex first, so `api.v2` cannot match `apixv2`.
const QUOTED_OPERAND = /(=~|!~|\|~|!=|\|=|=)(\s*)"((?:[^"\\]|\\.)*)"/g;

/** The selector template with every SERVICE_PLACEHOLDER replaced by `service`, escaped for where it stands. */
export function renderSelector(template: string, service: string): string {
  return template.replace(QUOTED_OPERAND, (match, op: string, space: string, body: string) => {
    if (!body.includes(SERVICE_PLACEHOLDER)) return match;
    const value = op.endsWith('~') ? regexLiteral(service) : service;
    return `${op}${space}"${body.split(SERVICE_PLACEHOLDER).join(logqlEscape(value))}"`;
  });
}

/** Why a selector template cannot work, or undefined when it can. */
export function selectorTemplateProblem(template: string): string | undefined {
  const trimmed = template.trim();
  if (!trimmed.startsWith('{')) return 'must start with a stream selector such as {service="<svc>"}';
  if (!trimmed.includes(SERVICE_PLACEHOLDER)) return `must contain ${SERVICE_PLACEHOLDER} where the service name goes`;
  if (renderSelector(trimmed, 'x').includes(SERVICE_PLACEHOLDER)) {
    return `${SERVICE_PLACEHOLDER} must stand inside a double-quoted label value, e.g. {app="<svc>"}`;
  }
  return undefined;
}

/** The log query for a service's error lines: selector then error filter. */
export function errorLinesQuery(template: LogQueryTemplate, service: string): string {
  const selector = renderSelector(template.selector.trim(), service);
  const filter = template.errorFilter.trim();
  return filter ? `${selector} ${filter}` : selector;
}

/** The metric query counting a service's error lines per step. */
export function errorCountQuery(template: LogQueryTemplate, service: string, stepSeconds: number): string {
  return `sum by (service) (count_over_time(${errorLinesQuery(template, service)} [${stepSeconds}s]))`;
}

// ---------------------------------------------------------------------------------------------------------------
// Argument checks, shared so every LogSource refuses the same calls with the same words

/** Why errorCounts cannot run with these arguments, or undefined. */
export function countRangeProblem(startSec: number, endSec: number, stepSeconds: number): string | undefined {
  if (!Number.isFinite(startSec) || !Number.isFinite(endSec)) return 'start and end must be finite epoch seconds';
  if (!Number.isInteger(stepSeconds) || stepSeconds < 1) return `step must be a whole number of seconds >= 1`;
  if (endSec - startSec < stepSeconds) {
    return `range (${startSec}, ${endSec}] is shorter than one ${stepSeconds}s step`;
  }
  const points = Math.floor((endSec - startSec) / stepSeconds);
  if (points > MAX_COUNT_POINTS) {
    return `range (${startSec}, ${endSec}] at ${stepSeconds}s steps is ${points} points; at most ${MAX_COUNT_POINTS}`;
  }
  return undefined;
}

/** Why errorLines cannot run with these arguments, or undefined. */
export function linesRangeProblem(startSec: number, endSec: number, limit: number): string | undefined {
  if (!Number.isFinite(startSec) || !Number.isFinite(endSec)) return 'start and end must be finite epoch seconds';
  if (endSec <= startSec) return `end ${endSec} is not after start ${startSec}`;
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_LOG_LINES) {
    return `limit must be a whole number from 1 to ${MAX_LOG_LINES}, got ${limit}`;
  }
  return undefined;
}

/** Window ends of errorCounts: start + step, start + 2 step, ... <= end (epoch seconds). */
export function countTimestamps(startSec: number, endSec: number, stepSeconds: number): number[] {
  const points = Math.floor((endSec - startSec) / stepSeconds);
  return Array.from({ length: points }, (_, i) => startSec + (i + 1) * stepSeconds);
}

/** Oldest first; ties by stream labels then text, so every source returns the same order. */
export function compareLogLines(a: LogLine, b: LogLine): number {
  if (a.time !== b.time) return a.time - b.time;
  const labelsA = labelsKey(a.labels);
  const labelsB = labelsKey(b.labels);
  if (labelsA !== labelsB) return labelsA < labelsB ? -1 : 1;
  return a.line < b.line ? -1 : a.line > b.line ? 1 : 0;
}

/** A canonical text for a label set: names sorted. */
export function labelsKey(labels: Readonly<Record<string, string>>): string {
  return Object.keys(labels)
    .sort()
    .map((name) => `${name}=${JSON.stringify(labels[name])}`)
    .join(',');
}
