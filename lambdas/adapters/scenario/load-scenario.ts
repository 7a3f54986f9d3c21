// Loads an incident scenario directory (see the scenario format): scenario.yaml and the metrics are required, the
// logs, Kubernetes events, deploy events and alert deliveries are optional. Every problem is a ScenarioFormatError
// naming the file, the line or field, and what is wrong.
//
// Only the files named below are ever opened. truth.yaml / truth.json hold the answers for scoring and must never
// be read by the agent, so nothing here lists the directory or touches them.
//
// Times in the returned records are epoch milliseconds (as Date.getTime()); the metric store keeps epoch seconds,
// as PromQL does. Records are sorted by time (stable, so equal times keep file order).

import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { type Document, LineCounter, parseDocument } from 'yaml';
import { z } from 'zod';
import { type Topology, topologySchema } from '../../core/config/schema';
import { type MetricStore, readOpenMetricsFile, ScenarioFormatError } from './openmetrics';

export { ScenarioFormatError } from './openmetrics';

export const SCENARIO_FILES = {
  scenario: 'scenario.yaml',
  metrics: 'metrics.om',
  metricsGzip: 'metrics.om.gz',
  logs: 'logs.jsonl',
  events: 'k8s-events.json',
  deploys: 'deploys.jsonl',
  alerts: 'alerts.jsonl',
} as const;

/** One log line from a Loki push body. */
export interface LogRecord {
  /** Epoch ms (the nanosecond timestamp truncated). */
  readonly time: number;
  readonly labels: Readonly<Record<string, string>>;
  readonly line: string;
  /** Loki structured metadata, when the entry had any. */
  readonly metadata?: Readonly<Record<string, string>>;
}

/** One Kubernetes Event (core v1). */
export interface KubeEvent {
  /** Epoch ms of the latest occurrence: lastTimestamp, else eventTime / series.lastObservedTime, else firstTimestamp. */
  readonly time: number;
  readonly firstTimestamp?: number;
  readonly lastTimestamp?: number;
  readonly name: string;
  readonly namespace: string;
  /** Normal or Warning. */
  readonly type: string;
  readonly reason: string;
  readonly message: string;
  readonly count: number;
  readonly involvedObject: { readonly kind: string; readonly name: string; readonly namespace?: string };
  /** Reporting component (source.component or reportingComponent). */
  readonly component?: string;
}

/** A deploy notification as it arrives on the deploy-events topic. */
export interface DeployEvent {
  /** Epoch ms. */
  readonly time: number;
  readonly service: string;
  readonly namespace?: string;
  readonly version?: string;
  readonly previousVersion?: string;
  readonly actor?: string;
  readonly source?: string;
}

export interface AlertmanagerAlert {
  readonly status: 'firing' | 'resolved';
  readonly labels: Readonly<Record<string, string>>;
  readonly annotations: Readonly<Record<string, string>>;
  readonly startsAt: string;
  readonly endsAt: string;
  readonly generatorURL?: string;
  readonly fingerprint?: string;
}

/** Alertmanager webhook body, version 4. */
export interface AlertmanagerWebhook {
  readonly version: '4';
  readonly groupKey: string;
  readonly truncatedAlerts?: number;
  readonly status: 'firing' | 'resolved';
  readonly receiver: string;
  readonly groupLabels: Readonly<Record<string, string>>;
  readonly commonLabels: Readonly<Record<string, string>>;
  readonly commonAnnotations: Readonly<Record<string, string>>;
  readonly externalURL: string;
  readonly alerts: readonly AlertmanagerAlert[];
}

/** One webhook delivery; `payload` is the body exactly as delivered (validated, not rewritten). */
export interface AlertDelivery {
  /** Epoch ms. */
  readonly receivedAt: number;
  readonly payload: AlertmanagerWebhook;
}

export interface Scenario {
  readonly dir: string;
  readonly name: string;
  readonly description: string;
  /** Epoch ms of the first sample. */
  readonly start: number;
  /** Epoch ms, exclusive. */
  readonly end: number;
  /** Epoch ms of the first replay tick; everything before is history for baselines. */
  readonly evaluateFrom: number;
  readonly stepSeconds: number;
  readonly topology: Topology;
  readonly metrics: MetricStore;
  readonly logs: readonly LogRecord[];
  readonly events: readonly KubeEvent[];
  readonly deploys: readonly DeployEvent[];
  readonly alerts: readonly AlertDelivery[];
  /** Paths of the files read. */
  readonly files: readonly string[];
  /** Things that load but look wrong (e.g. metrics outside [start, end)). */
  readonly warnings: readonly string[];
}

// ---------------------------------------------------------------------------------------------------------------
// Field types

const RFC3339 = /^(\d{4}-\d{2}-\d{2})[Tt](\d{2}:\d{2}:\d{2})(?:\.(\d+))?([Zz]|[+-]\d{2}:\d{2})$/;

/** Epoch ms of an RFC 3339 time (fractions beyond milliseconds truncated), or undefined. */
export function parseRfc3339(text: string): number | undefined {
  const m = RFC3339.exec(text);
  if (!m) return undefined;
  const fraction = m[3] ? `.${m[3].slice(0, 3).padEnd(3, '0')}` : '';
  const ms = Date.parse(`${m[1]}T${m[2]}${fraction}${m[4].toUpperCase()}`);
  return Number.isNaN(ms) ? undefined : ms;
}

const timeSchema = z
  .string()
  .refine((s) => parseRfc3339(s) !== undefined, 'must be an RFC 3339 time such as 2026-11-04T03:02:00Z');

const DURATION = /^(?:(\d+)y)?(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?(?:(\d+)ms)?$/;
const DURATION_UNITS_MS = [365 * 86_400_000, 7 * 86_400_000, 86_400_000, 3_600_000, 60_000, 1_000, 1];

/** Milliseconds of a Prometheus duration (`60s`, `1m`, `1h30m`), or undefined. */
export function parseDuration(text: string): number | undefined {
  const m = text === '' ? null : DURATION.exec(text);
  if (!m) return undefined;
  return DURATION_UNITS_MS.reduce((total, unit, i) => total + (m[i + 1] ? Number(m[i + 1]) * unit : 0), 0);
}

const stepSchema = z
  .string({ error: 'must be a duration such as 60s or 1m' })
  .refine((s) => (parseDuration(s) ?? 0) >= 1000, 'must be a duration of at least one second, such as 60s or 1m');

const scenarioFileSchema = z
  .object({
    name: z.string().min(1),
    description: z.string().default(''),
    start: timeSchema,
    end: timeSchema,
    evaluateFrom: timeSchema,
    step: stepSchema,
    topology: topologySchema,
  })
  .strict()
  .superRefine((file, ctx) => {
    const start = parseRfc3339(file.start);
    const end = parseRfc3339(file.end);
    const from = parseRfc3339(file.evaluateFrom);
    if (start === undefined || end === undefined || from === undefined) return;
    if (end <= start) ctx.addIssue({ code: 'custom', path: ['end'], message: `must be after start (${file.start})` });
    else if (from < start || from >= end) {
      ctx.addIssue({
        code: 'custom',
        path: ['evaluateFrom'],
        message: `${file.evaluateFrom} is outside [start, end) = [${file.start}, ${file.end})`,
      });
    }
  });

const stringMap = z.record(z.string(), z.string());
const nanoseconds = z.string().regex(/^\d{1,19}$/, 'must be a Unix epoch in nanoseconds, as a string');

const lokiPushSchema = z
  .object({
    streams: z.array(
      z
        .object({
          stream: stringMap,
          values: z.array(z.union([z.tuple([nanoseconds, z.string()]), z.tuple([nanoseconds, z.string(), stringMap])])),
        })
        .strict(),
    ),
  })
  .strict();

const microTime = z
  .string()
  .refine((s) => parseRfc3339(s) !== undefined, 'must be an RFC 3339 time such as 2026-11-04T03:02:00Z');

const kubeEventSchema = z
  .looseObject({
    kind: z.literal('Event').optional(),
    metadata: z.looseObject({ name: z.string().min(1), namespace: z.string().optional() }),
    involvedObject: z.looseObject({
      kind: z.string().optional(),
      name: z.string().optional(),
      namespace: z.string().optional(),
    }),
    reason: z.string().optional(),
    message: z.string().optional(),
    type: z.string().optional(),
    count: z.number().int().nonnegative().optional(),
    firstTimestamp: timeSchema.nullable().optional(),
    lastTimestamp: timeSchema.nullable().optional(),
    eventTime: microTime.nullable().optional(),
    series: z.looseObject({ count: z.number().int().optional(), lastObservedTime: microTime.optional() }).optional(),
    source: z.looseObject({ component: z.string().optional(), host: z.string().optional() }).optional(),
    reportingComponent: z.string().optional(),
  })
  .refine(
    (e) => e.lastTimestamp || e.eventTime || e.series?.lastObservedTime || e.firstTimestamp,
    'has no time: needs lastTimestamp, firstTimestamp or eventTime',
  );

const eventListSchema = z.looseObject({
  apiVersion: z.literal('v1'),
  kind: z.enum(['EventList', 'List']),
  items: z.array(kubeEventSchema),
});

const deploySchema = z.looseObject({
  time: timeSchema,
  service: z.string().min(1),
  namespace: z.string().optional(),
  version: z.string().optional(),
  previousVersion: z.string().optional(),
  actor: z.string().optional(),
  source: z.string().optional(),
});

const alertStatus = z.enum(['firing', 'resolved']);
const alertSchema = z.looseObject({
  status: alertStatus,
  labels: stringMap,
  annotations: stringMap,
  startsAt: z.string(),
  endsAt: z.string(),
  generatorURL: z.string().optional(),
  fingerprint: z.string().optional(),
});
const webhookSchema = z.looseObject({
  version: z.literal('4'),
  groupKey: z.string(),
  truncatedAlerts: z.number().int().nonnegative().optional(),
  status: alertStatus,
  receiver: z.string(),
  groupLabels: stringMap,
  commonLabels: stringMap,
  commonAnnotations: stringMap,
  externalURL: z.string(),
  alerts: z.array(alertSchema),
});
const deliverySchema = z.object({ receivedAt: timeSchema, payload: webhookSchema }).strict();

// ---------------------------------------------------------------------------------------------------------------
// Helpers

function formatPath(path: readonly PropertyKey[]): string {
  if (path.length === 0) return '(top level)';
  return path.reduce<string>((out, key) => {
    if (typeof key === 'number') return `${out}[${key}]`;
    return out ? `${out}.${String(key)}` : String(key);
  }, '');
}

function describeIssues(issues: readonly z.core.$ZodIssue[]): string[] {
  return issues.map((issue) => `${formatPath(issue.path)}: ${issue.message}`);
}

/** Reads a file, or returns undefined when it does not exist. */
async function readOptional(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return undefined;
    if (code === 'EISDIR') throw new ScenarioFormatError(path, 'is a directory, expected a file');
    throw new ScenarioFormatError(path, `cannot read: ${(error as Error).message}`);
  }
}

async function isFile(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isFile();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw new ScenarioFormatError(path, `cannot read: ${(error as Error).message}`);
  }
}

/** Line (1-based) of the YAML node at `path`, or of its nearest existing parent. */
function yamlLine(doc: Document, lines: LineCounter, path: readonly PropertyKey[]): number {
  for (let n = path.length; n >= 0; n--) {
    const node = doc.getIn(path.slice(0, n) as unknown[], true) as { range?: [number, number, number] } | undefined;
    if (node?.range) return lines.linePos(node.range[0]).line;
  }
  return 1;
}

function parseScenarioYaml(text: string, file: string): z.infer<typeof scenarioFileSchema> {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false });
  if (doc.errors.length > 0) {
    const first = doc.errors[0];
    const line = lines.linePos(first.pos[0]).line;
    throw new ScenarioFormatError(file, `YAML syntax: ${first.message.split('\n')[0]}`, line);
  }
  const parsed = scenarioFileSchema.safeParse(doc.toJS());
  if (parsed.success) return parsed.data;
  const located = parsed.error.issues.map((issue) => {
    const path = issue.code === 'unrecognized_keys' ? [...issue.path, issue.keys[0]] : issue.path;
    return { line: yamlLine(doc, lines, path), text: `${formatPath(issue.path)}: ${issue.message}` };
  });
  if (located.length === 1) throw new ScenarioFormatError(file, located[0].text, located[0].line);
  throw new ScenarioFormatError(
    file,
    located.map((p) => `line ${p.line}: ${p.text}`),
  );
}

/** Parses JSON Lines: blank lines are skipped; each problem names its line. */
function parseJsonLines<S extends z.ZodType>(
  text: string,
  file: string,
  schema: S,
): { value: z.infer<S>; raw: unknown }[] {
  const out: { value: z.infer<S>; raw: unknown }[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i].endsWith('\r') ? lines[i].slice(0, -1) : lines[i];
    if (line.trim() === '') continue;
    let raw: unknown;
    try {
      raw = JSON.parse(line);
    } catch (error) {
      throw new ScenarioFormatError(file, `invalid JSON: ${(error as Error).message}`, i + 1);
    }
    const parsed = schema.safeParse(raw);
    if (!parsed.success) throw new ScenarioFormatError(file, describeIssues(parsed.error.issues).join('; '), i + 1);
    out.push({ value: parsed.data, raw });
  }
  return out;
}

function parseJsonDocument(text: string, file: string): unknown {
  try {
    return JSON.parse(text);
  } catch (error) {
    const message = (error as Error).message;
    const position = /at position (\d+)/.exec(message);
    const line = position ? text.slice(0, Number(position[1])).split('\n').length : text.split('\n').length;
    throw new ScenarioFormatError(file, `invalid JSON: ${message}`, line);
  }
}

const byTime = <T>(items: T[], time: (item: T) => number): T[] => items.sort((a, b) => time(a) - time(b));

// ---------------------------------------------------------------------------------------------------------------
// Files

function parseLogs(text: string, file: string): LogRecord[] {
  const records: LogRecord[] = [];
  for (const { value } of parseJsonLines(text, file, lokiPushSchema)) {
    for (const stream of value.streams) {
      const labels = Object.freeze({ ...stream.stream });
      for (const entry of stream.values) {
        const ns = entry[0];
        const time = ns.length > 6 ? Number(ns.slice(0, -6)) : 0;
        records.push(
          entry.length === 3 ? { time, labels, line: entry[1], metadata: entry[2] } : { time, labels, line: entry[1] },
        );
      }
    }
  }
  return byTime(records, (r) => r.time);
}

function parseEvents(text: string, file: string): KubeEvent[] {
  const parsed = eventListSchema.safeParse(parseJsonDocument(text, file));
  if (!parsed.success) throw new ScenarioFormatError(file, describeIssues(parsed.error.issues));
  const events = parsed.data.items.map((item): KubeEvent => {
    const first = item.firstTimestamp ? parseRfc3339(item.firstTimestamp) : undefined;
    const last = item.lastTimestamp ? parseRfc3339(item.lastTimestamp) : undefined;
    const observed = item.series?.lastObservedTime ?? item.eventTime;
    const time = last ?? (observed ? parseRfc3339(observed) : undefined) ?? first ?? 0;
    const component = item.source?.component || item.reportingComponent || undefined;
    const namespace = item.involvedObject.namespace;
    return {
      time,
      ...(first !== undefined ? { firstTimestamp: first } : {}),
      ...(last !== undefined ? { lastTimestamp: last } : {}),
      name: item.metadata.name,
      namespace: item.metadata.namespace ?? namespace ?? '',
      type: item.type ?? 'Normal',
      reason: item.reason ?? '',
      message: item.message ?? '',
      count: item.count ?? item.series?.count ?? 1,
      involvedObject: {
        kind: item.involvedObject.kind ?? '',
        name: item.involvedObject.name ?? '',
        ...(namespace !== undefined ? { namespace } : {}),
      },
      ...(component ? { component } : {}),
    };
  });
  return byTime(events, (e) => e.time);
}

function parseDeploys(text: string, file: string): DeployEvent[] {
  const deploys = parseJsonLines(text, file, deploySchema).map(({ value }): DeployEvent => {
    const optional = (['namespace', 'version', 'previousVersion', 'actor', 'source'] as const).filter(
      (key) => value[key] !== undefined,
    );
    return {
      time: parseRfc3339(value.time) ?? 0,
      service: value.service,
      ...Object.fromEntries(optional.map((key) => [key, value[key]])),
    };
  });
  return byTime(deploys, (d) => d.time);
}

function parseAlerts(text: string, file: string): AlertDelivery[] {
  const deliveries = parseJsonLines(text, file, deliverySchema).map(
    ({ value, raw }): AlertDelivery => ({
      receivedAt: parseRfc3339(value.receivedAt) ?? 0,
      payload: (raw as { payload: AlertmanagerWebhook }).payload,
    }),
  );
  return byTime(deliveries, (d) => d.receivedAt);
}

function metricWarnings(metrics: MetricStore, start: number, end: number, file: string): string[] {
  if (metrics.sampleCount === 0) return [`${file}: holds no samples`];
  const warnings: string[] = [];
  if (metrics.minTime * 1000 < start || metrics.maxTime * 1000 >= end) {
    warnings.push(
      `${file}: samples span ${new Date(metrics.minTime * 1000).toISOString()} to ${new Date(metrics.maxTime * 1000).toISOString()}, outside [start, end) of scenario.yaml`,
    );
  }
  return warnings;
}

/** Loads and validates the scenario in `dir`; throws ScenarioFormatError naming the file, line or field at fault. */
export async function loadScenario(dir: string): Promise<Scenario> {
  try {
    if (!(await stat(dir)).isDirectory()) throw new ScenarioFormatError(dir, 'is not a directory');
  } catch (error) {
    if (error instanceof ScenarioFormatError) throw error;
    const code = (error as NodeJS.ErrnoException).code;
    throw new ScenarioFormatError(dir, code === 'ENOENT' ? 'scenario directory not found' : (error as Error).message);
  }
  const files: string[] = [];

  const scenarioPath = join(dir, SCENARIO_FILES.scenario);
  const scenarioText = await readOptional(scenarioPath);
  if (scenarioText === undefined) {
    throw new ScenarioFormatError(
      scenarioPath,
      'missing: every scenario needs scenario.yaml (name, description, start, end, evaluateFrom, step, topology)',
    );
  }
  files.push(scenarioPath);
  const spec = parseScenarioYaml(scenarioText, scenarioPath);

  const plainPath = join(dir, SCENARIO_FILES.metrics);
  const gzipPath = join(dir, SCENARIO_FILES.metricsGzip);
  const [plain, gzip] = await Promise.all([isFile(plainPath), isFile(gzipPath)]);
  if (plain && gzip) {
    throw new ScenarioFormatError(
      plainPath,
      `both ${SCENARIO_FILES.metrics} and ${SCENARIO_FILES.metricsGzip} exist: keep one`,
    );
  }
  if (!plain && !gzip) {
    throw new ScenarioFormatError(
      plainPath,
      'missing: every scenario needs its metrics as metrics.om or metrics.om.gz (OpenMetrics text with timestamps in seconds, ending with "# EOF")',
    );
  }
  const metricsPath = plain ? plainPath : gzipPath;
  const metrics = await readOpenMetricsFile(metricsPath);
  files.push(metricsPath);

  const optional = async <T>(name: string, parse: (text: string, file: string) => T[]): Promise<T[]> => {
    const path = join(dir, name);
    const text = await readOptional(path);
    if (text === undefined) return [];
    files.push(path);
    return parse(text, path);
  };
  const logs = await optional(SCENARIO_FILES.logs, parseLogs);
  const events = await optional(SCENARIO_FILES.events, parseEvents);
  const deploys = await optional(SCENARIO_FILES.deploys, parseDeploys);
  const alerts = await optional(SCENARIO_FILES.alerts, parseAlerts);

  const start = parseRfc3339(spec.start) ?? 0;
  const end = parseRfc3339(spec.end) ?? 0;
  return {
    dir,
    name: spec.name,
    description: spec.description,
    start,
    end,
    evaluateFrom: parseRfc3339(spec.evaluateFrom) ?? 0,
    stepSeconds: (parseDuration(spec.step) ?? 0) / 1000,
    topology: spec.topology,
    metrics,
    logs,
    events,
    deploys,
    alerts,
    files,
    warnings: metricWarnings(metrics, start, end, metricsPath),
  };
}
