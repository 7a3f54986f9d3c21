// The daily baseline job in shards, as plain functions over ports: plan which series each shard learns, learn
// one shard through the MetricSource, and decide whether the new version may be published. The Lambda handlers
// and the local workflow run both call these, so the Step Functions job runs the same code everywhere.
//
// A shard is described by slices of signals, not by a list of series: "the entities of error_ratio whose hash
// falls in bucket 3 of 5". Descriptions stay about 100 bytes a shard, so the shard list travels inline in the
// workflow payload (no S3 manifest, no ItemReader), and a shard finds its series again with the signal's
// instant query at the end of the history window, the same instant the plan counted them at. Hash buckets
// keep shards disjoint even if the two answers differed.

import type { DetectionConfig, Signal, SignalCatalog } from '../config/schema';
import { collectSignals, type SignalCollectionError, seriesKey } from '../perception/collect';
import type { MetricQueryError, MetricSource } from '../perception/metric-source';
import { tickSeconds } from '../pipeline';
import type { BaselinePublisher, PublishOutcome } from '../ports';
import { fail, ok, type Result } from '../result';
import { counterIncreases, learnBaseline, type SeriesBaseline } from './baseline';
import { fetchHistory, historyWindow } from './learn';

/**
 * Series one shard learns. STL with R's jumps takes 35-50 ms per week of 1-minute points and fetching about
 * 10 ms more, so a shard runs about a minute: far inside Lambda's 15, and small enough that a retry is cheap.
 */
export const DEFAULT_SERIES_PER_SHARD = 1_000;
/** Series per range query: 100 series of 10,000 points are about 33 MB of JSON, parsed comfortably in memory. */
export const SERIES_PER_QUERY = 100;
/**
 * Most series a signal whose query cannot be narrowed (see scopeQuery) may have: it is fetched whole, in one
 * range query of about 170 MB of JSON at this size. Larger ones need a recording rule.
 */
export const MAX_UNNARROWED_SERIES = 500;
/** Share of shards that may fail with the version still published; the Map state's ToleratedFailurePercentage. */
export const TOLERATED_FAILED_SHARD_PERCENT = 5;
/** The shard list travels in the workflow payload (256 KB); a shard's description is about 100 bytes. */
export const MAX_SHARDS = 2_000;
export const DEFAULT_STEP_SECONDS = 60;
/**
 * Per-attempt timeout of a history query. A tick's instant queries answer in milliseconds and keep the
 * configured seconds; a week of 100 series is about 1M samples for Prometheus to read and encode, and may
 * wait in its query queue (20 at a time by default) while forty shards run.
 */
export const HISTORY_QUERY_TIMEOUT_MS = 30_000;

/** What the workflow gives PlanShards: the scheduled event's time and the execution's name. */
export interface PlanInput {
  readonly time: string;
  /** Execution name: makes every run's version distinct, so a rerun never mixes with a failed run's shards. */
  readonly run?: string;
}

/** What every step of one run agrees on: the version being built and the history it is learned from. */
export interface BaselineRun {
  readonly version: string;
  /** Epoch seconds the job runs for; the history ends one step before. */
  readonly until: number;
  readonly stepSeconds: number;
  readonly historyDays: number;
}

/** The entities of one signal whose hash falls in `bucket` of `buckets`. */
export interface ShardSlice {
  readonly signalId: string;
  readonly bucket: number;
  readonly buckets: number;
  /** Series the plan counted in the slice. */
  readonly series: number;
}

export interface BaselineShard {
  readonly id: string;
  readonly series: number;
  readonly slices: readonly ShardSlice[];
}

/** A signal the job cannot learn, with the reason: these are configuration problems, not outages. */
export interface UnplannedSignal {
  readonly signalId: string;
  readonly query: string;
  readonly reason: string;
}

export interface ShardPlan {
  readonly run: BaselineRun;
  readonly series: number;
  readonly shardCount: number;
  readonly shards: readonly BaselineShard[];
  readonly unplanned: readonly UnplannedSignal[];
}

/** One item of the LearnShards map. */
export interface ShardInput {
  readonly run: BaselineRun;
  readonly shard: BaselineShard;
}

export interface ShardOutcome {
  readonly baselines: SeriesBaseline[];
  /** Series found but with too little history to learn from. */
  readonly skipped: string[];
  readonly errors: SignalCollectionError[];
  /** History fetches (range queries over the whole window, each one or two requests). */
  readonly fetches: number;
}

export interface ShardSummary {
  readonly shardId: string;
  readonly learned: number;
  readonly skipped: number;
  readonly fetches: number;
}

export interface PublishInput {
  readonly run: BaselineRun;
  readonly shardCount: number;
}

export interface PublishSummary {
  readonly version: string;
  readonly outcome: PublishOutcome;
  readonly shards: number;
  readonly completed: number;
  /** Shards that did not complete: their series keep no baseline in this version. */
  readonly failedShards: string[];
  readonly series: number;
}

/** The series to learn could not be found: the source is unreachable or failing. Retried, then the job fails. */
export class BaselinePlanError extends Error {
  override readonly name = 'BaselinePlanError';
  constructor(
    message: string,
    readonly errors: readonly SignalCollectionError[] = [],
  ) {
    super(message);
  }
}

/** A shard could not fetch its history; nothing of it was written. Retried, then counted as a failed shard. */
export class ShardHistoryError extends Error {
  override readonly name = 'ShardHistoryError';
  constructor(
    readonly shardId: string,
    readonly errors: readonly SignalCollectionError[],
  ) {
    super(
      `${shardId}: ${errors.length} ${errors.length === 1 ? 'query' : 'queries'} failed: ${describeErrors(errors)}`,
    );
  }
}

/** Too few shards completed (or none learned anything): the previous version stays current. Not retried. */
export class BaselinePublishRefusedError extends Error {
  override readonly name = 'BaselinePublishRefusedError';
}

export const shardId = (index: number): string => `shard-${String(index).padStart(4, '0')}`;

/** The version a run publishes: readable in the table, distinct per execution. */
export const versionName = (until: number, run?: string): string =>
  run ? `${new Date(until * 1000).toISOString()}/${run}` : new Date(until * 1000).toISOString();

// ---------------------------------------------------------------------------------------------------------------
// Planning

export interface PlanDeps {
  readonly source: MetricSource;
  readonly catalog: SignalCatalog;
  readonly detection: DetectionConfig;
  /** @default DEFAULT_SERIES_PER_SHARD */
  readonly seriesPerShard?: number;
  /** @default DEFAULT_STEP_SECONDS */
  readonly stepSeconds?: number;
}

/**
 * Counts every signal's series at the end of the history window and splits them into shards. A source that
 * cannot answer fails the plan (BaselinePlanError), since publishing without a whole signal would drop its
 * baselines; a query the source rejects is a configuration problem, reported in `unplanned` every day.
 */
export async function planShardsStep(input: PlanInput, deps: PlanDeps): Promise<ShardPlan> {
  const seriesPerShard = deps.seriesPerShard ?? DEFAULT_SERIES_PER_SHARD;
  const stepSeconds = deps.stepSeconds ?? DEFAULT_STEP_SECONDS;
  const until = tickSeconds(input.time, stepSeconds);
  const run: BaselineRun = {
    version: versionName(until, input.run),
    until,
    stepSeconds,
    historyDays: deps.detection.historyDays,
  };
  const { end } = historyWindow(until, stepSeconds, run.historyDays);
  const found = await discoverEntities(deps.source, deps.catalog.signals, end);
  const outage = found.errors.filter((error) => error.kind !== 'query');
  if (outage.length > 0) {
    throw new BaselinePlanError(`series to learn not found: ${describeErrors(outage)}`, outage);
  }
  const unplanned: UnplannedSignal[] = found.errors.map((error) => ({
    signalId: error.signalId,
    query: error.query,
    reason: `the metric source rejected the query: ${error.message}`,
  }));
  const slices: ShardSlice[] = [];
  for (const signal of deps.catalog.signals) {
    const entities = found.entities.get(signal.id);
    if (!entities || entities.length === 0) continue;
    const narrowed = scopeQuery(signal.query, signal.entityLabel, [entities[0]]);
    if (!narrowed.ok && entities.length > MAX_UNNARROWED_SERIES) {
      unplanned.push({
        signalId: signal.id,
        query: signal.query,
        reason:
          `the query cannot be narrowed to a shard's entities (${narrowed.error}) and its ${entities.length} ` +
          `series are more than one query may fetch whole (${MAX_UNNARROWED_SERIES}): make it a recording rule`,
      });
      continue;
    }
    slices.push(...sliceSignal(signal.id, entities, narrowed.ok ? Math.ceil(entities.length / seriesPerShard) : 1));
  }
  const shards = packShards(slices, seriesPerShard);
  if (shards.length > MAX_SHARDS) {
    throw new BaselinePlanError(
      `${shards.length} shards exceed the ${MAX_SHARDS} the workflow payload carries: raise the series per shard`,
    );
  }
  return {
    run,
    series: shards.reduce((n, shard) => n + shard.series, 0),
    shardCount: shards.length,
    shards,
    unplanned,
  };
}

/** Splits a signal's entities into `buckets` hash buckets, counted exactly. */
export function sliceSignal(signalId: string, entities: readonly string[], buckets: number): ShardSlice[] {
  const counts = new Array<number>(buckets).fill(0);
  for (const entity of entities) counts[entityBucket(entity, buckets)]++;
  return counts.map((series, bucket) => ({ signalId, bucket, buckets, series }));
}

/**
 * Packs slices into shards of at most `seriesPerShard` series, largest first (first-fit decreasing): a big
 * signal's buckets fill shards of their own, small signals share one. A bucket a little over the size (hashing
 * is not exact) gets a shard to itself.
 */
export function packShards(slices: readonly ShardSlice[], seriesPerShard: number): BaselineShard[] {
  const sorted = slices
    .filter((slice) => slice.series > 0)
    .sort((a, b) => b.series - a.series || a.signalId.localeCompare(b.signalId) || a.bucket - b.bucket);
  const bins: { series: number; slices: ShardSlice[] }[] = [];
  for (const slice of sorted) {
    const bin = bins.find((candidate) => candidate.series + slice.series <= seriesPerShard);
    if (bin) {
      bin.series += slice.series;
      bin.slices.push(slice);
    } else {
      bins.push({ series: slice.series, slices: [slice] });
    }
  }
  return bins.map((bin, index) => ({ id: shardId(index), series: bin.series, slices: bin.slices }));
}

/** A stable hash bucket for an entity: FNV-1a, then murmur3's finaliser so similar names spread evenly. */
export function entityBucket(entity: string, buckets: number): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < entity.length; i++) {
    hash ^= entity.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  hash ^= hash >>> 16;
  hash = Math.imul(hash, 0x85ebca6b);
  hash ^= hash >>> 13;
  hash = Math.imul(hash, 0xc2b2ae35);
  hash ^= hash >>> 16;
  return (hash >>> 0) % buckets;
}

// ---------------------------------------------------------------------------------------------------------------
// Learning one shard

export interface LearnShardDeps {
  readonly source: MetricSource;
  readonly catalog: SignalCatalog;
  readonly detection: DetectionConfig;
}

/**
 * Learns the baselines of one shard: finds each slice's entities, fetches their history in range queries of
 * SERIES_PER_QUERY series narrowed with a label matcher, and learns each series as `learnBaselines` does.
 * Failed queries are returned, not thrown.
 */
export async function learnShard(input: ShardInput, deps: LearnShardDeps): Promise<ShardOutcome> {
  const { run, shard } = input;
  const { start, end } = historyWindow(run.until, run.stepSeconds, run.historyDays);
  const baselines: SeriesBaseline[] = [];
  const skipped: string[] = [];
  const errors: SignalCollectionError[] = [];
  const signals: Signal[] = [];
  for (const id of new Set(shard.slices.map((slice) => slice.signalId))) {
    const signal = deps.catalog.signals.find((candidate) => candidate.id === id);
    if (signal) signals.push(signal);
    else errors.push({ kind: 'query', query: '', message: `signal "${id}" is not in the catalog`, signalId: id });
  }
  const found = await discoverEntities(deps.source, signals, end);
  errors.push(...found.errors);
  let fetches = 0;
  const options = { stepSeconds: run.stepSeconds, slotMinutes: deps.detection.slotMinutes };

  for (const slice of shard.slices) {
    const signal = signals.find((candidate) => candidate.id === slice.signalId);
    const entities = found.entities.get(slice.signalId);
    if (!signal || !entities) continue;
    const mine = entities.filter((entity) => entityBucket(entity, slice.buckets) === slice.bucket).sort();
    const batches = queryBatches(signal, mine, slice.buckets === 1);
    if (!batches.ok) {
      errors.push({ kind: 'query', query: signal.query, message: batches.error, signalId: signal.id });
      continue;
    }
    for (const batch of batches.value) {
      const history = await fetchHistory(deps.source, batch.query, signal.entityLabel, start, end, run.stepSeconds);
      fetches++;
      if (!history.ok) {
        errors.push({ ...history.error, signalId: signal.id });
        continue;
      }
      for (const entity of batch.entities) {
        const key = seriesKey(signal.id, entity);
        const series = history.series.get(entity);
        const values = series && (signal.kind === 'counter' ? counterIncreases(series.values) : series.values);
        const baseline = series && values && learnBaseline(key, series.timestamps, values, options);
        if (baseline) baselines.push(baseline);
        else skipped.push(key);
      }
    }
  }
  return { baselines, skipped, errors, fetches };
}

/**
 * One LearnShards item: learns the shard and writes it under the run's version. Any failed query fails the
 * shard (ShardHistoryError) before anything is marked complete, so a half-learned shard is never published.
 */
export async function learnShardStep(
  input: ShardInput,
  deps: LearnShardDeps & { readonly publisher: BaselinePublisher },
): Promise<ShardSummary> {
  const outcome = await learnShard(input, deps);
  if (outcome.errors.length > 0) throw new ShardHistoryError(input.shard.id, outcome.errors);
  await deps.publisher.writeShard(input.run.version, input.shard.id, outcome.baselines);
  return {
    shardId: input.shard.id,
    learned: outcome.baselines.length,
    skipped: outcome.skipped.length,
    fetches: outcome.fetches,
  };
}

interface QueryBatch {
  readonly query: string;
  readonly entities: readonly string[];
}

/**
 * The range queries for a slice's entities. A slice holding a whole signal that is small (or cannot be
 * narrowed, which the plan allows up to MAX_UNNARROWED_SERIES) runs the query as it is; otherwise each batch
 * narrows the query to its entities.
 */
function queryBatches(signal: Signal, entities: readonly string[], wholeSignal: boolean): Result<QueryBatch[], string> {
  if (entities.length === 0) return ok([]);
  if (wholeSignal && (entities.length <= SERIES_PER_QUERY || !scopeQuery(signal.query, signal.entityLabel, []).ok)) {
    return ok([{ query: signal.query, entities }]);
  }
  const batches: QueryBatch[] = [];
  for (let i = 0; i < entities.length; i += SERIES_PER_QUERY) {
    const batch = entities.slice(i, i + SERIES_PER_QUERY);
    const query = scopeQuery(signal.query, signal.entityLabel, batch);
    if (!query.ok) return fail(`cannot narrow the query to a shard's entities: ${query.error}`);
    batches.push({ query: query.value, entities: batch });
  }
  return ok(batches);
}

/** Each signal's entities at `time`, from its instant query (as a tick collects it). */
async function discoverEntities(
  source: MetricSource,
  signals: readonly Signal[],
  time: number,
): Promise<{ entities: Map<string, string[]>; errors: SignalCollectionError[] }> {
  const tick = await collectSignals(source, { signals: [...signals] }, time);
  const entities = new Map<string, string[]>();
  const failed = new Set(tick.errors.map((error) => error.signalId));
  for (const signal of signals) if (!failed.has(signal.id)) entities.set(signal.id, []);
  for (const point of tick.points) entities.get(point.signalId)?.push(point.entity);
  return { entities, errors: tick.errors };
}

// ---------------------------------------------------------------------------------------------------------------
// Publishing

/**
 * Publishes the run's version if enough planned shards completed (the store's completion markers are the
 * record, not the workflow payload); otherwise refuses loudly and the previous version stays current.
 */
export async function publishStep(
  input: PublishInput,
  deps: { readonly publisher: BaselinePublisher },
): Promise<PublishSummary> {
  const { run, shardCount } = input;
  const planned = Array.from({ length: shardCount }, (_, index) => shardId(index));
  const completed = await deps.publisher.completedShards(run.version);
  const done = new Map(completed.map((shard) => [shard.shardId, shard.series]));
  const failedShards = planned.filter((id) => !done.has(id));
  const series = planned.reduce((n, id) => n + (done.get(id) ?? 0), 0);
  const refuse = (why: string) =>
    new BaselinePublishRefusedError(`version ${run.version} not published, the previous one stays current: ${why}`);
  if (failedShards.length * 100 > TOLERATED_FAILED_SHARD_PERCENT * shardCount) {
    const named = failedShards.slice(0, 20).join(', ') + (failedShards.length > 20 ? ', ...' : '');
    throw refuse(
      `${failedShards.length} of ${shardCount} shards did not complete (${named}), ` +
        `more than the ${TOLERATED_FAILED_SHARD_PERCENT}% tolerated`,
    );
  }
  if (series === 0) throw refuse(`no baselines were learned (${shardCount} shards planned)`);
  const outcome = await deps.publisher.publishVersion(run.version, run.until);
  return {
    version: run.version,
    outcome,
    shards: shardCount,
    completed: shardCount - failedShards.length,
    failedShards,
    series,
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Narrowing a PromQL query to some entities

/** Aggregations: narrowing their input commutes with them only when their grouping keeps the entity label. */
const AGGREGATIONS: ReadonlySet<string> = new Set([
  'sum',
  'min',
  'max',
  'avg',
  'count',
  'group',
  'stddev',
  'stdvar',
  'topk',
  'bottomk',
  'quantile',
  'count_values',
  'limitk',
  'limit_ratio',
]);
const GROUPING: ReadonlySet<string> = new Set(['by', 'without']);
/** Words that are neither selectors nor function calls. */
const KEYWORDS: ReadonlySet<string> = new Set(['and', 'or', 'unless', 'atan2', 'bool', 'offset', 'inf', 'nan']);
/**
 * Constructs where a matcher on every selector could change the answer: joins that match on chosen labels
 * (one side may not carry the entity label), labels made up by the query, and functions of the whole vector.
 */
const NOT_NARROWABLE: Readonly<Record<string, string>> = {
  on: 'vector matching with on()',
  ignoring: 'vector matching with ignoring()',
  group_left: 'group_left',
  group_right: 'group_right',
  label_replace: 'label_replace()',
  label_join: 'label_join()',
  absent: 'absent()',
  absent_over_time: 'absent_over_time()',
  scalar: 'scalar()',
  vector: 'vector()',
};

interface Token {
  readonly kind: 'ident' | 'string' | 'number' | 'punct' | 'other';
  readonly text: string;
  readonly start: number;
  readonly end: number;
}

/** Regular-expression metacharacters of RE2 (Prometheus) and JavaScript alike. */
const escapeRegex = (value: string): string => value.replace(/[\\.+*?()|[\]{}^$]/g, '\\$&');

/**
 * `query` with the matcher `label=~"e1|e2|..."` added to every series selector, so Prometheus reads only
 * those entities' series. Refused (with the reason) for queries where that could change the answer for the
 * entities kept: see NOT_NARROWABLE, and aggregations whose grouping drops the entity label.
 */
export function scopeQuery(query: string, label: string, entities: readonly string[]): Result<string, string> {
  const tokens = tokenize(query);
  if (!tokens.ok) return tokens;
  const list = tokens.value;
  // A JSON string is a valid PromQL double-quoted string: the same escapes (\" \\ \n \uXXXX) mean the same.
  const matcher = `${label}=~${JSON.stringify(entities.map(escapeRegex).join('|'))}`;
  const insertions: { at: number; text: string }[] = [];
  const intoBraces = (open: number): number | undefined => {
    const close = closing(list, open);
    if (close === undefined) return undefined;
    const empty = close === open + 1;
    const trailingComma = list[close - 1].text === ',';
    insertions.push({ at: list[close].start, text: empty || trailingComma ? matcher : `, ${matcher}` });
    return close;
  };

  for (let i = 0; i < list.length; i++) {
    const token = list[i];
    const next = list[i + 1];
    if (token.text === '[') {
      // A range or subquery: durations only.
      const close = closing(list, i);
      if (close === undefined) return fail('unbalanced "["');
      i = close;
      continue;
    }
    if (token.text === '{') {
      const close = intoBraces(i);
      if (close === undefined) return fail('unbalanced "{"');
      i = close;
      continue;
    }
    if (token.kind !== 'ident') continue;
    const word = token.text.toLowerCase();
    const refused = NOT_NARROWABLE[word];
    if (refused) return fail(`${refused} at char ${token.start}`);
    if (GROUPING.has(word) && next?.text === '(') {
      // by (...) / without (...): label names, never selectors.
      const close = closing(list, i + 1);
      if (close === undefined) return fail('unbalanced "("');
      i = close;
      continue;
    }
    if (AGGREGATIONS.has(word) && (next?.text === '(' || GROUPING.has(next?.text.toLowerCase() ?? ''))) {
      const grouping = groupingOf(list, i);
      const keeps = grouping && (grouping.by ? grouping.labels.includes(label) : !grouping.labels.includes(label));
      if (!keeps) {
        return fail(
          `${token.text} at char ${token.start} does not keep "${label}" in its grouping (use by (${label}, ...))`,
        );
      }
      continue;
    }
    if (next?.text === '(' || KEYWORDS.has(word)) continue;
    // A metric name: a series selector, with or without matchers.
    if (next?.text === '{') {
      const close = intoBraces(i + 1);
      if (close === undefined) return fail('unbalanced "{"');
      i = close;
    } else {
      insertions.push({ at: token.end, text: `{${matcher}}` });
    }
  }
  if (insertions.length === 0) return fail('no series selector to narrow');
  let narrowed = query;
  for (const { at, text } of insertions.sort((a, b) => b.at - a.at)) {
    narrowed = narrowed.slice(0, at) + text + narrowed.slice(at);
  }
  return ok(narrowed);
}

/** The grouping of the aggregation at `index`: `op by (...) (...)` or `op (...) by (...)`; undefined if none. */
function groupingOf(tokens: readonly Token[], index: number): { by: boolean; labels: string[] } | undefined {
  let at = index + 1;
  if (tokens[at]?.text === '(') {
    const close = closing(tokens, at);
    if (close === undefined) return undefined;
    at = close + 1;
  }
  const word = tokens[at]?.text.toLowerCase();
  if (!word || !GROUPING.has(word) || tokens[at + 1]?.text !== '(') return undefined;
  const close = closing(tokens, at + 1);
  if (close === undefined) return undefined;
  const labels = tokens
    .slice(at + 2, close)
    .filter((token) => token.kind === 'ident' || token.kind === 'string')
    .map((token) => (token.kind === 'string' ? token.text.slice(1, -1) : token.text));
  return { by: word === 'by', labels };
}

const PAIRS: Readonly<Record<string, string>> = { '(': ')', '[': ']', '{': '}' };

/** Index of the token closing the bracket at `open`, or undefined when unbalanced. */
function closing(tokens: readonly Token[], open: number): number | undefined {
  const opener = tokens[open].text;
  const closer = PAIRS[opener];
  let depth = 0;
  for (let i = open; i < tokens.length; i++) {
    if (tokens[i].text === opener && tokens[i].kind === 'punct') depth++;
    else if (tokens[i].text === closer && tokens[i].kind === 'punct' && --depth === 0) return i;
  }
  return undefined;
}

/** Just enough of PromQL's lexer to find selectors: strings, comments, names, numbers and brackets. */
function tokenize(query: string): Result<Token[], string> {
  const tokens: Token[] = [];
  let i = 0;
  while (i < query.length) {
    const c = query[i];
    const start = i;
    if (/\s/.test(c)) {
      i++;
    } else if (c === '#') {
      const newline = query.indexOf('\n', i);
      i = newline < 0 ? query.length : newline + 1;
    } else if (/[A-Za-z_:]/.test(c)) {
      while (i < query.length && /[A-Za-z0-9_:]/.test(query[i])) i++;
      tokens.push({ kind: 'ident', text: query.slice(start, i), start, end: i });
    } else if (/[0-9.]/.test(c)) {
      while (i < query.length && /[0-9A-Za-z_.]/.test(query[i])) i++;
      tokens.push({ kind: 'number', text: query.slice(start, i), start, end: i });
    } else if (c === '"' || c === "'" || c === '`') {
      i++;
      while (i < query.length && query[i] !== c) i += query[i] === '\\' && c !== '`' ? 2 : 1;
      if (i >= query.length) return fail(`unterminated string at char ${start}`);
      i++;
      tokens.push({ kind: 'string', text: query.slice(start, i), start, end: i });
    } else if ('(){}[],'.includes(c)) {
      i++;
      tokens.push({ kind: 'punct', text: c, start, end: i });
    } else {
      i++;
      tokens.push({ kind: 'other', text: c, start, end: i });
    }
  }
  return ok(tokens);
}

function describeErrors(errors: readonly (MetricQueryError & { signalId?: string })[]): string {
  const shown = errors.slice(0, 5).map((error) => {
    const range = error.range ? ` over ${error.range.start}..${error.range.end} step ${error.range.stepSeconds}s` : '';
    const at = error.time !== undefined ? ` at ${error.time}` : '';
    const query = error.query.length > 200 ? `${error.query.slice(0, 200)}...` : error.query;
    return `${error.signalId ?? 'query'}: ${error.kind}${error.status ? ` ${error.status}` : ''}${range}${at}: ${error.message} [${query}]`;
  });
  return shown.join('; ') + (errors.length > 5 ? `; and ${errors.length - 5} more` : '');
}
