// Error-log evidence for diagnosis: reduces log lines to signatures and compares an incident window with a baseline.
//
// A signature is a message with its variable parts (numbers, ids, addresses, durations, quoted values, times)
// replaced by placeholders, so 310 "upstream timeout after 3012ms calling 10.0.4.7:9000" lines with different
// numbers become one line of evidence. Pure: no I/O, no clock; the same input always gives the same output.

import type { LogLine } from '../perception/log-source';

/** Longest signature kept: enough to tell messages apart, short enough for a Slack line. */
export const MAX_SIGNATURE_CHARS = 200;
/** Only the start of a message is normalised: it bounds the work on a megabyte line, and the signature is cut anyway. */
const MAX_NORMALISED_INPUT_CHARS = 2_000;
/** Longest example line kept: a stack trace in one entry would otherwise dominate the output. */
const MAX_EXAMPLE_CHARS = 300;
/** Longest signature quoted in an evidence string. */
const EVIDENCE_SIGNATURE_CHARS = 120;
const DEFAULT_TOP_SIGNATURES = 5;
/** Novel signatures named in a service's evidence string. */
const EVIDENCE_NOVEL = 3;

// ---------------------------------------------------------------------------------------------------------------
// Message extraction

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

function textField(record: Record<string, unknown>, names: readonly string[]): string | undefined {
  for (const name of names) {
    const value = record[name];
    if (typeof value === 'string' && value.trim() !== '') return value;
    // {"error": {"message": "..."}} as structured loggers (pino, zap with error objects) write it.
    if (isRecord(value) && typeof value.message === 'string' && value.message.trim() !== '') return value.message;
  }
  return undefined;
}

// A bare value may not start with a quote, so a quoted value matches one way only: no exponential backtracking.
const LOGFMT_LINE = /^\s*[\w.-]+=(?:"(?:[^"\\]|\\.)*"|[^\s"]\S*|)(?:\s+[\w.-]+=(?:"(?:[^"\\]|\\.)*"|[^\s"]\S*|))*\s*$/;
const LOGFMT_PAIR = /([\w.-]+)=("(?:[^"\\]|\\.)*"|[^\s"]\S*|)/g;

function logfmtFields(line: string): Map<string, string> | undefined {
  if (!LOGFMT_LINE.test(line)) return undefined;
  const fields = new Map<string, string>();
  for (const [, key, raw] of line.matchAll(LOGFMT_PAIR)) {
    fields.set(key, raw.startsWith('"') ? raw.slice(1, -1).replace(/\\(.)/g, '$1') : raw);
  }
  return fields;
}

function combine(message: string | undefined, error: string | undefined): string | undefined {
  if (message && error && !message.includes(error)) return `${message}: ${error}`;
  return message ?? error;
}

/**
 * The human part of a log line: for JSON lines the msg/message field (joined with the error field when both are
 * there), for logfmt lines the msg field, otherwise the line itself. Only the first line of a multi-line entry.
 */
export function extractMessage(line: string): string {
  const trimmed = line.trim();
  let message: string | undefined;
  if (trimmed.startsWith('{')) {
    try {
      const parsed: unknown = JSON.parse(trimmed);
      if (isRecord(parsed)) {
        message = combine(textField(parsed, ['msg', 'message']), textField(parsed, ['error', 'err', 'exception']));
      }
    } catch {
      // not JSON after all: the line is the message
    }
  } else {
    const fields = logfmtFields(trimmed);
    if (fields) message = combine(fields.get('msg') ?? fields.get('message'), fields.get('error') ?? fields.get('err'));
  }
  const text = message ?? trimmed;
  return text.split('\n').find((part) => part.trim() !== '') ?? '';
}

// ---------------------------------------------------------------------------------------------------------------
// Normalisation

type Rule = readonly [RegExp, string | ((match: string, ...rest: unknown[]) => string)];

// A 3-digit code after one of these is an HTTP status: 500 and 503 are different failures, so it is kept.
const STATUS_CONTEXT =
  /(?:\bHTTP(?:\/[\d.]+)?|\bstatus(?:[ _-]?code)?|\bcode|\breturned|\bresponded|\bgot|\bafter|->)[\s=:]*$/i;

// Keys whose value is an identifier of one order, trade, transfer or request, whatever its format.
const ID_KEY =
  '(?:client[_-]?)?order[_-]?id|ord[_-]?id|trade[_-]?id|fill[_-]?id|tx[_-]?(?:id|hash)|txn[_-]?id|' +
  'transaction[_-]?id|withdrawal[_-]?id|deposit[_-]?id|transfer[_-]?id|request[_-]?id|req[_-]?id|trace[_-]?id|' +
  'span[_-]?id|correlation[_-]?id|session[_-]?id|user[_-]?id|account[_-]?id';

/** Applied in order: each later rule sees the placeholders of the earlier ones, which contain no digits. */
const RULES: readonly Rule[] = [
  // Quoted values first, so nothing inside them is matched piecemeal.
  [/"(?:[^"\\\n]|\\.)*"/g, '<str>'],
  [/(?<![\w'])'[^'\n]*'(?![\w'])/g, '<str>'],
  // Timestamps before numbers: 2026-11-04T03:06:01.123Z, 2026/11/04 03:06:01, 03:06:01.5, 2026-11-04.
  [/\b\d{4}[-/]\d{2}[-/]\d{2}[T ]\d{2}:\d{2}:\d{2}(?:[.,]\d+)?(?:Z|[+-]\d{2}:?\d{2})?(?![\w])/gi, '<ts>'],
  [/\b\d{4}-\d{2}-\d{2}\b/g, '<ts>'],
  [/\b\d{2}:\d{2}:\d{2}(?:[.,]\d+)?\b/g, '<ts>'],
  [new RegExp(`\\b(${ID_KEY})(\\s*[=:]\\s*|\\s+)(?=[^\\s,;:)\\]}]*\\d)[^\\s,;:)\\]}]+`, 'gi'), '$1$2<id>'],
  [/\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b/gi, '<uuid>'],
  [/\b[\w.%+-]+@[a-z0-9-]+(?:\.[a-z0-9-]+)*\.[a-z]{2,}\b/gi, '<email>'],
  [/(?<![\w.])(?:\d{1,3}\.){3}\d{1,3}(?::\d{1,5})?(?![\w.])/g, '<ip>'],
  [/\[[0-9a-f]*:[0-9a-f]*:[0-9a-f:]*\](?::\d{1,5})?/gi, '<ip>'],
  [
    /(?<![\w:])(?=[0-9a-f:]*\d)(?=[0-9a-f:]*::|(?:[0-9a-f]{1,4}:){7})[0-9a-f]{0,4}(?::[0-9a-f]{0,4}){2,7}(?![\w:])/gi,
    '<ip>',
  ],
  [/\b0x[0-9a-f]+\b/gi, '<hex>'],
  [/(?<![A-Za-z0-9_])(?=[0-9a-f]*\d)(?=[0-9a-f]*[a-f])[0-9a-f]{6,}(?![A-Za-z0-9_])/gi, '<hex>'],
  // Prefixed order and transaction ids: ord-20261104-000123, tx_9f8e7d, trd:55512.
  [/\b(?:ord|order|tx|txn|trd|trade|wd|dep)[-_:](?=(?:[\w-]*?\d){3})[a-z0-9][\w-]{3,}/gi, '<id>'],
  [/(?<![\w.])\d+(?:\.\d+)?\s?(?:[KMGTP]i?B|[KMGTP]i|bytes?)(?![\w])/g, '<size>'],
  [/(?<![\w.])\d+(?:\.\d+)?(?:ns|us|µs|ms|sec|min|s|m|h|d)(?:\d+(?:\.\d+)?(?:ns|us|µs|ms|s|m|h))*(?![\w])/g, '<dur>'],
  [
    /(?<![\w.])\d+(?:\.\d+)*(?![\w])/g,
    (match: string, ...rest: unknown[]) => {
      const offset = rest[rest.length - 2] as number;
      const whole = rest[rest.length - 1] as string;
      const isStatus = /^[1-5]\d\d$/.test(match) && STATUS_CONTEXT.test(whole.slice(Math.max(0, offset - 24), offset));
      return isStatus ? match : '<num>';
    },
  ],
];

/** A message with its variable parts replaced by placeholders, whitespace collapsed. */
export function normaliseMessage(message: string): string {
  let text = message.slice(0, MAX_NORMALISED_INPUT_CHARS).replace(/\s+/g, ' ').trim();
  for (const [pattern, replacement] of RULES) {
    text =
      typeof replacement === 'string'
        ? text.replace(pattern, replacement)
        : text.replace(pattern, replacement as (substring: string, ...args: unknown[]) => string);
  }
  return text.length > MAX_SIGNATURE_CHARS ? `${text.slice(0, MAX_SIGNATURE_CHARS)}…` : text;
}

/** The signature of one raw log line. */
export const signatureOf = (line: string): string => normaliseMessage(extractMessage(line));

// ---------------------------------------------------------------------------------------------------------------
// Grouping

export interface SignatureGroup {
  readonly signature: string;
  readonly count: number;
  /** Epoch ms of the first and last line. */
  readonly firstSeen: number;
  readonly lastSeen: number;
  /** The earliest raw line (cut at 300 characters), for a human to check the signature against. */
  readonly example: string;
}

const byTimeThenText = (a: LogLine, b: LogLine): number =>
  a.time - b.time || (a.line < b.line ? -1 : a.line > b.line ? 1 : 0);

const byCountThenTime = (a: SignatureGroup, b: SignatureGroup): number =>
  b.count - a.count ||
  a.firstSeen - b.firstSeen ||
  (a.signature < b.signature ? -1 : a.signature > b.signature ? 1 : 0);

/** Lines grouped by signature, most frequent first (ties: earliest first, then by text). */
export function groupSignatures(lines: readonly LogLine[]): SignatureGroup[] {
  const groups = new Map<string, { count: number; firstSeen: number; lastSeen: number; example: string }>();
  for (const line of [...lines].sort(byTimeThenText)) {
    const signature = signatureOf(line.line);
    const group = groups.get(signature);
    if (group) {
      group.count++;
      group.lastSeen = line.time;
    } else {
      const example = line.line.length > MAX_EXAMPLE_CHARS ? `${line.line.slice(0, MAX_EXAMPLE_CHARS)}…` : line.line;
      groups.set(signature, { count: 1, firstSeen: line.time, lastSeen: line.time, example });
    }
  }
  return [...groups].map(([signature, group]) => ({ signature, ...group })).sort(byCountThenTime);
}

// ---------------------------------------------------------------------------------------------------------------
// Incident against baseline

/** One service's error lines in one window: the exact count and the lines fetched (all of them, or a sample). */
export interface LogWindow {
  /** Epoch ms; the window is (startMs, endMs], as the LogSource reports it. */
  readonly startMs: number;
  readonly endMs: number;
  /** Every error line in the window (LogSource errorCounts total). */
  readonly errorLines: number;
  /** Error lines fetched (LogSource errorLines); fewer than errorLines when the fetch hit its limit. */
  readonly lines: readonly LogLine[];
}

export interface ServiceLogWindows {
  readonly service: string;
  readonly incident: LogWindow;
  readonly baseline: LogWindow;
}

export interface WindowSummary {
  readonly startMs: number;
  readonly endMs: number;
  readonly minutes: number;
  readonly errorLines: number;
  readonly perMinute: number;
  /** Lines the signatures were computed from. */
  readonly sampled: number;
}

export interface SignatureFinding extends SignatureGroup {
  /** Lines with this signature among the baseline lines. */
  readonly baselineCount: number;
  /** Absent from the baseline lines. */
  readonly novel: boolean;
}

export interface ServiceLogFindings {
  readonly service: string;
  readonly incident: WindowSummary;
  readonly baseline: WindowSummary;
  /** Incident error rate over baseline error rate; null when the baseline had no error lines. */
  readonly rateRatio: number | null;
  /** Incident error lines beyond what the baseline rate predicts for the incident window (>= 0). */
  readonly excessLines: number;
  /** Most frequent incident signatures, novel or not. */
  readonly topSignatures: readonly SignatureFinding[];
  /** The most frequent incident signatures absent from the baseline (as many as topSignatures). */
  readonly novelSignatures: readonly SignatureFinding[];
  /** How many incident signatures are absent from the baseline, listed or not. */
  readonly novelCount: number;
  /** False when the baseline lines were a sample: a "novel" signature may then have occurred unsampled. */
  readonly baselineComplete: boolean;
  /** One line a human can check against the logs. */
  readonly evidence: string;
}

export interface LogFindings {
  /** Services by excess error lines, most first (ties by name). */
  readonly services: readonly ServiceLogFindings[];
  /** Evidence of the services with incident error lines, in the same order. */
  readonly evidence: readonly string[];
}

export interface CompareOptions {
  /** Signatures kept in topSignatures and novelSignatures (default 5). */
  readonly topSignatures?: number;
}

const round2 = (value: number): number => Math.round(value * 100) / 100;

function summarise(window: LogWindow): WindowSummary {
  const minutes = Math.max(0, window.endMs - window.startMs) / 60_000;
  const errorLines = Math.max(window.errorLines, window.lines.length);
  return {
    startMs: window.startMs,
    endMs: window.endMs,
    minutes: round2(minutes),
    errorLines,
    perMinute: minutes > 0 ? round2(errorLines / minutes) : 0,
    sampled: window.lines.length,
  };
}

const formatMinutes = (minutes: number): string =>
  Number.isInteger(minutes) ? String(minutes) : minutes.toFixed(1).replace(/\.0$/, '');

const pad2 = (value: number): string => String(value).padStart(2, '0');

/** HH:MM UTC, with the date when it is not the day the incident window starts. */
function clock(ms: number, dayOfMs: number): string {
  const at = new Date(ms);
  const hhmm = `${pad2(at.getUTCHours())}:${pad2(at.getUTCMinutes())}`;
  const date = at.toISOString().slice(0, 10);
  return date === new Date(dayOfMs).toISOString().slice(0, 10) ? hhmm : `${date} ${hhmm}`;
}

function quote(signature: string): string {
  const short =
    signature.length > EVIDENCE_SIGNATURE_CHARS ? `${signature.slice(0, EVIDENCE_SIGNATURE_CHARS)}…` : signature;
  return `'${short}'`;
}

const formatRatio = (ratio: number): string => (ratio >= 10 ? String(Math.round(ratio)) : String(round2(ratio)));

function evidenceLine(
  service: string,
  incident: WindowSummary,
  baseline: WindowSummary,
  rateRatio: number | null,
  top: readonly SignatureFinding[],
  novel: readonly SignatureFinding[],
  baselineComplete: boolean,
): string {
  const lines = (count: number) => (count === 1 ? '1 error line' : `${count} error lines`);
  const baselineWhere =
    baseline.endMs === incident.startMs
      ? `the previous ${formatMinutes(baseline.minutes)} min`
      : `${formatMinutes(baseline.minutes)} min from ${clock(baseline.startMs, incident.startMs)}`;
  let text = `${service}: ${lines(incident.errorLines)} in ${formatMinutes(incident.minutes)} min vs ${baseline.errorLines} in ${baselineWhere}`;
  if (incident.errorLines > 0) {
    text += rateRatio === null ? ' (none before)' : ` (rate x${formatRatio(rateRatio)})`;
  }
  const since = (finding: SignatureFinding) =>
    `${quote(finding.signature)} x${finding.count} since ${clock(finding.firstSeen, incident.startMs)}`;
  if (novel.length > 0) {
    const named = novel.slice(0, EVIDENCE_NOVEL).map(since).join(', ');
    const more = novel.length > EVIDENCE_NOVEL ? ` and ${novel.length - EVIDENCE_NOVEL} more` : '';
    const qualifier = baselineComplete ? '' : ` (not among ${baseline.sampled} sampled baseline lines)`;
    text += `; new${qualifier}: ${named}${more}`;
  } else if (top.length > 0) {
    const [first] = top;
    text += `; top: ${quote(first.signature)} x${first.count} (baseline x${first.baselineCount})`;
  }
  if (incident.sampled < incident.errorLines) text += `; signatures from ${incident.sampled} sampled lines`;
  return text;
}

/** Compares one service's incident window with its baseline window. */
export function compareServiceLogs(windows: ServiceLogWindows, options: CompareOptions = {}): ServiceLogFindings {
  const incident = summarise(windows.incident);
  const baseline = summarise(windows.baseline);
  const baselineCounts = new Map(groupSignatures(windows.baseline.lines).map((g) => [g.signature, g.count]));
  const findings: SignatureFinding[] = groupSignatures(windows.incident.lines).map((group) => {
    const baselineCount = baselineCounts.get(group.signature) ?? 0;
    return { ...group, baselineCount, novel: baselineCount === 0 };
  });
  const incidentRate = incident.minutes > 0 ? incident.errorLines / incident.minutes : 0;
  const baselineRate = baseline.minutes > 0 ? baseline.errorLines / baseline.minutes : 0;
  const rateRatio = baselineRate > 0 ? round2(incidentRate / baselineRate) : null;
  const excessLines = Math.max(0, Math.round(incident.errorLines - baselineRate * incident.minutes));
  const keep = options.topSignatures ?? DEFAULT_TOP_SIGNATURES;
  const topSignatures = findings.slice(0, keep);
  const novel = findings.filter((finding) => finding.novel);
  const baselineComplete = baseline.sampled >= baseline.errorLines;
  return {
    service: windows.service,
    incident,
    baseline,
    rateRatio,
    excessLines,
    topSignatures,
    novelSignatures: novel.slice(0, keep),
    novelCount: novel.length,
    baselineComplete,
    evidence: evidenceLine(windows.service, incident, baseline, rateRatio, topSignatures, novel, baselineComplete),
  };
}

/** Compares every service's incident window with its baseline; services with the most excess errors first. */
export function compareLogWindows(windows: readonly ServiceLogWindows[], options: CompareOptions = {}): LogFindings {
  const services = windows
    .map((service) => compareServiceLogs(service, options))
    .sort(
      (a, b) =>
        b.excessLines - a.excessLines ||
        b.incident.errorLines - a.incident.errorLines ||
        (a.service < b.service ? -1 : a.service > b.service ? 1 : 0),
    );
  return {
    services,
    evidence: services.filter((service) => service.incident.errorLines > 0).map((service) => service.evidence),
  };
}
