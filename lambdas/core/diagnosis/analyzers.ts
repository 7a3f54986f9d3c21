// Rule-based root-cause analyzers (K8sGPT-style): each reads one kind of evidence about an incident and says which
// services it points at as the root cause, how strongly, with which fault kind, and the checkable facts behind it.
// Pure: the caller collects deploys, log comparisons, Kubernetes findings and similar past cases; nothing here does I/O.
//
// Weights are deliberately coarse (0.05 .. 0.5). A single analyzer is never meant to decide an incident: the engine
// (rules-engine.ts) combines them with the topology ranking, so a weight says "how much would this fact alone make
// an engineer suspect this service", not a probability.

import type { DeployRecord, FaultKind } from '../cognition/classify';
import type { Incident, IncidentSignal } from '../cognition/incident';
import type { KubeFinding, KubeFindingKind } from '../cognition/kube-findings';
import type { ServiceLogFindings, SignatureFinding } from '../cognition/log-signatures';
import type { ServiceGraph } from '../topology';

// ---------------------------------------------------------------------------------------------------------------
// Types

/** A past incident the knowledge base found similar to this one. */
export interface SimilarCase {
  readonly incidentId: string;
  /** Root-cause service of the past case. */
  readonly service: string;
  readonly kind: FaultKind;
  /** Similarity of the past case to this incident, 0..1. */
  readonly similarity: number;
  /** How the past case ended (remediated, not-recovered, diagnosis-only, ...). */
  readonly outcome: string;
  /** Catalog actions that were taken. */
  readonly actions: string[];
  readonly summary: string;
}

/** Everything the analyzers may read about one incident. */
export interface DiagnosisContext {
  readonly incident: Incident;
  readonly graph: ServiceGraph;
  /** Deploys around the incident, of any service. */
  readonly deploys: readonly DeployRecord[];
  /** Per-service error-log comparison of the incident window with a baseline window. */
  readonly logs: readonly ServiceLogFindings[];
  readonly kube: readonly KubeFinding[];
  readonly similarCases: readonly SimilarCase[];
}

export const EVIDENCE_SOURCES = ['metrics', 'deploys', 'logs', 'kubernetes', 'topology', 'knowledge'] as const;
export type EvidenceSource = (typeof EVIDENCE_SOURCES)[number];

/** One fact a person can check against the named source. */
export interface EvidenceItem {
  readonly source: EvidenceSource;
  /** ISO time the fact refers to (a deploy, an onset, a first log line), when it has one. */
  readonly at?: string;
  readonly text: string;
}

export interface Finding {
  readonly analyzer: string;
  readonly service: string;
  /** The fault kind this evidence indicates, when it indicates one. */
  readonly kind?: FaultKind;
  /** 0..1: how strongly this finding points at `service` as the root cause. */
  readonly weight: number;
  readonly evidence: EvidenceItem[];
}

export interface Analyzer {
  readonly name: string;
  readonly description: string;
  run(ctx: DiagnosisContext): Finding[];
}

// ---------------------------------------------------------------------------------------------------------------
// Thresholds

const MINUTE_MS = 60_000;
/** A deploy this long before a service's onset counts as the change that may have caused it (as classify.ts). */
export const CHANGE_WINDOW_MS = 30 * MINUTE_MS;
/**
 * A deploy stamped this long after the first anomalous sample still counts as preceding it: the detector dates an
 * anomaly from its first bad sample, while deploy notifications are often sent when the rollout finishes.
 */
export const ONSET_SLACK_MS = 5 * MINUTE_MS;
/** Traffic at least this many times its expected level is a surge rather than a wobble. */
const SURGE_MIN_RATIO = 1.5;
const STRONG_SURGE_RATIO = 3;
/** A new signature seen fewer times than this may be the odd rare line every service prints. */
const MIN_NOVEL_LINES = 3;
/** Novel lines at which the novelty weight stops growing. */
const NOVEL_LINES_FULL = 30;
/** An error-rate jump needs this many excess lines and this ratio to the baseline rate. */
const MIN_JUMP_LINES = 10;
const MIN_RATE_RATIO = 3;
/** Below this a "similar" past case is not shown as similar (the knowledge config's default). */
const MIN_SIMILARITY = 0.5;
/** The most a past case can add: enough to break a near-tie, never enough to decide on its own. */
export const KNOWLEDGE_MAX_WEIGHT = 0.08;

// ---------------------------------------------------------------------------------------------------------------
// Formatting: every evidence text names the signal, the value against what was expected, and when.

const pad2 = (n: number): string => String(n).padStart(2, '0');

/** Code-unit order: the same on every host, unlike localeCompare, so the output never depends on the locale. */
export const compareText = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/** ISO time without milliseconds, as the incident store writes it. */
export const isoOf = (ms: number): string => new Date(ms).toISOString().replace('.000Z', 'Z');

/** HH:MM UTC; with the date when it is not the day of `refMs` (the incident's opening). */
export function clockOf(ms: number, refMs: number): string {
  const at = new Date(ms);
  const hhmm = `${pad2(at.getUTCHours())}:${pad2(at.getUTCMinutes())}`;
  const day = at.toISOString().slice(0, 10);
  return Number.isFinite(refMs) && day === new Date(refMs).toISOString().slice(0, 10) ? hhmm : `${day} ${hhmm}`;
}

const sig3 = (x: number): string => (Math.abs(x) >= 1000 ? String(Math.round(x)) : String(Number(x.toPrecision(3))));

const PERCENT_SIGNALS = new Set([
  'error_ratio',
  'cpu_utilisation',
  'memory_utilisation',
  'datastore_connections',
  'disk_free',
]);
const SECONDS_SIGNALS = new Set(['latency_p99', 'datastore_latency_p99']);
const UNIT_SUFFIX: Readonly<Record<string, string>> = {
  request_rate: ' req/s',
  consumer_lag: ' messages',
  pod_restarts: ' restarts/5 min',
};

/** A signal value in the unit a person reads it in: 9.49%, 105 ms, 14960 req/s. */
export function formatValue(signalId: string, x: number): string {
  if (!Number.isFinite(x)) return 'n/a';
  if (PERCENT_SIGNALS.has(signalId)) return `${sig3(x * 100)}%`;
  if (SECONDS_SIGNALS.has(signalId)) return `${sig3(x * 1000)} ms`;
  return `${sig3(x)}${UNIT_SUFFIX[signalId] ?? ''}`;
}

const formatZ = (z: number): string => (Math.abs(z) >= 10 ? String(Math.round(z)) : z.toFixed(1));

/** "error_ratio 9.49% vs 0.169% expected (x56, z 240, over its hard limit), anomalous from 03:05". */
export function describeSignal(s: IncidentSignal, refMs: number): string {
  const from = clockOf(Date.parse(s.firstAnomalousAt), refMs);
  if (s.predictedBreachAt !== undefined) {
    const limit = s.limit !== undefined ? ` of ${formatValue(s.signalId, s.limit)}` : '';
    return `${s.signalId} ${formatValue(s.signalId, s.valueAtPeak)}, forecast to cross its limit${limit} at ${clockOf(Date.parse(s.predictedBreachAt), refMs)} (forecast since ${from})`;
  }
  const details: string[] = [];
  const ratio = s.valueAtPeak / s.expectedAtPeak;
  if (s.expectedAtPeak > 0 && Number.isFinite(ratio) && ratio >= 1.1) details.push(`x${sig3(ratio)}`);
  if (Number.isFinite(s.peakZ)) details.push(`z ${formatZ(s.peakZ)}`);
  if (s.hardLimitBreached) details.push('over its hard limit');
  const expected = Number.isFinite(s.expectedAtPeak) ? ` vs ${formatValue(s.signalId, s.expectedAtPeak)} expected` : '';
  const extra = details.length > 0 ? ` (${details.join(', ')})` : '';
  return `${s.signalId} ${formatValue(s.signalId, s.valueAtPeak)}${expected}${extra}, anomalous from ${from}`;
}

const describeVersions = (d: DeployRecord): string =>
  d.version ? ` ${d.previousVersion ?? '?'} -> ${d.version}` : d.previousVersion ? ` (from ${d.previousVersion})` : '';

// ---------------------------------------------------------------------------------------------------------------
// A view of the incident the analyzers share

interface IncidentView {
  /** Services with at least one signal, sorted by name. */
  readonly services: readonly string[];
  /** Epoch ms each service first looked anomalous. */
  readonly onset: ReadonlyMap<string, number>;
  readonly earliest: number;
  /** Epoch ms the incident resolved, or its latest update while open. */
  readonly endMs: number;
  /** The incident's opening, for HH:MM formatting. */
  readonly refMs: number;
  signalsOf(service: string): readonly IncidentSignal[];
}

function viewOf(incident: Incident): IncidentView {
  const byService = new Map<string, IncidentSignal[]>();
  const onset = new Map<string, number>();
  for (const s of incident.signals) {
    const list = byService.get(s.entity) ?? [];
    list.push(s);
    byService.set(s.entity, list);
    const t = Date.parse(s.firstAnomalousAt);
    if (Number.isFinite(t)) onset.set(s.entity, Math.min(onset.get(s.entity) ?? t, t));
  }
  const earliest = Math.min(...onset.values());
  const ends = [incident.resolvedAt, incident.updatedAt, incident.lastAnomalyAt, incident.openedAt]
    .map((t) => (t === undefined ? Number.NaN : Date.parse(t)))
    .filter(Number.isFinite);
  const refMs = Date.parse(incident.openedAt);
  return {
    services: [...byService.keys()].sort(),
    onset,
    earliest,
    endMs: Math.max(ends[0] ?? earliest, ...onset.values()),
    refMs: Number.isFinite(refMs) ? refMs : earliest,
    signalsOf: (service) => byService.get(service) ?? [],
  };
}

/** As classify.ts: a forecast counts in its own direction; a breach without a baseline (z NaN) counts either way. */
const rising = (s: IncidentSignal): boolean => s.predictedBreachAt !== undefined || !(s.peakZ < 0);
const falling = (s: IncidentSignal): boolean => s.predictedBreachAt !== undefined || !(s.peakZ > 0);

function signal(
  view: IncidentView,
  service: string,
  signalId: string,
  direction: (s: IncidentSignal) => boolean,
): IncidentSignal[] {
  return view
    .signalsOf(service)
    .filter((s) => s.signalId === signalId && direction(s))
    .sort((a, b) => compareText(a.firstAnomalousAt, b.firstAnomalousAt) || compareText(a.key, b.key));
}

/** The signal that defines a service's onset: the earliest, the strongest among equally early ones. */
function firstSignal(view: IncidentView, service: string): IncidentSignal | undefined {
  return [...view.signalsOf(service)].sort(
    (a, b) =>
      compareText(a.firstAnomalousAt, b.firstAnomalousAt) || b.peakScore - a.peakScore || compareText(a.key, b.key),
  )[0];
}

const metricItem = (view: IncidentView, service: string, s: IncidentSignal): EvidenceItem => ({
  source: 'metrics',
  at: s.firstAnomalousAt,
  text: `${service} ${describeSignal(s, view.refMs)}`,
});

/** True when a later deploy undid `d`: a rollback is the fix of a change, not a new change. */
function isRollback(d: DeployRecord, deploys: readonly DeployRecord[]): boolean {
  if (!d.version || !d.previousVersion) return false;
  return deploys.some(
    (e) =>
      e.service === d.service && e.time < d.time && e.version === d.previousVersion && e.previousVersion === d.version,
  );
}

/** The latest deploy of `service` in the change window before `referenceMs` (rollbacks excluded). */
export function changeBefore(
  deploys: readonly DeployRecord[],
  service: string,
  referenceMs: number,
): DeployRecord | undefined {
  return deploys
    .filter(
      (d) =>
        d.service === service &&
        d.time >= referenceMs - CHANGE_WINDOW_MS &&
        d.time <= referenceMs + ONSET_SLACK_MS &&
        !isRollback(d, deploys),
    )
    .sort((a, b) => b.time - a.time || compareText(a.version ?? '', b.version ?? ''))[0];
}

function relativeToOnset(deployMs: number, onsetMs: number, refMs: number): string {
  const minutes = Math.round((onsetMs - deployMs) / MINUTE_MS);
  const at = clockOf(onsetMs, refMs);
  if (minutes > 0) return `${minutes} min before its first anomaly at ${at}`;
  if (minutes === 0) return `in the minute of its first anomaly (${at})`;
  return `${-minutes} min after its first anomalous sample at ${at}`;
}

const clamp01 = (x: number): number => Math.min(1, Math.max(0, x));
const round3 = (x: number): number => Math.round(x * 1000) / 1000;

// ---------------------------------------------------------------------------------------------------------------
// change-correlation

/** A symptomatic change with errors or latency right after it: as strong as a single fact gets. */
const CHANGE_WEIGHT_NEAR = 0.45;
/** ...fading to this when the deploy was at the far end of the window. */
const CHANGE_WEIGHT_FAR = 0.3;
/** Within this many minutes a deploy counts as immediately before the onset. */
const CHANGE_NEAR_MINUTES = 10;
/** A deploy before the onset whose service shows neither errors nor latency (memory, traffic): suspicious only. */
const CHANGE_WEIGHT_ASYMPTOMATIC = 0.2;
/** A deploy made while the service was already failing: may have made it worse, cannot have started it. */
const CHANGE_WEIGHT_DURING = 0.1;

const changeCorrelation: Analyzer = {
  name: 'change-correlation',
  description:
    'A deploy of the service within 30 min before its onset (bad-deploy when errors or latency rose after it), ' +
    'or during the incident (weak: it may have worsened a fault it cannot have started).',
  run(ctx) {
    const view = viewOf(ctx.incident);
    const findings: Finding[] = [];
    for (const service of view.services) {
      const onset = view.onset.get(service)!;
      const symptoms = [
        ...signal(view, service, 'error_ratio', rising),
        ...signal(view, service, 'latency_p99', rising),
      ];
      const before = changeBefore(ctx.deploys, service, onset);
      if (before) {
        const gapMinutes = (onset - before.time) / MINUTE_MS;
        const fade = clamp01((gapMinutes - CHANGE_NEAR_MINUTES) / (CHANGE_WINDOW_MS / MINUTE_MS - CHANGE_NEAR_MINUTES));
        const deployItem: EvidenceItem = {
          source: 'deploys',
          at: isoOf(before.time),
          text: `${service} deployed${describeVersions(before)} at ${clockOf(before.time, view.refMs)}, ${relativeToOnset(before.time, onset, view.refMs)}`,
        };
        findings.push({
          analyzer: 'change-correlation',
          service,
          ...(symptoms.length > 0 ? { kind: 'bad-deploy' as const } : {}),
          weight: round3(
            symptoms.length > 0
              ? CHANGE_WEIGHT_NEAR - (CHANGE_WEIGHT_NEAR - CHANGE_WEIGHT_FAR) * fade
              : CHANGE_WEIGHT_ASYMPTOMATIC,
          ),
          evidence: [deployItem, ...symptoms.map((s) => metricItem(view, service, s))],
        });
        continue;
      }
      const during = ctx.deploys
        .filter(
          (d) =>
            d.service === service &&
            d.time > onset + ONSET_SLACK_MS &&
            d.time <= view.endMs &&
            !isRollback(d, ctx.deploys),
        )
        .sort((a, b) => a.time - b.time)[0];
      if (during) {
        findings.push({
          analyzer: 'change-correlation',
          service,
          weight: CHANGE_WEIGHT_DURING,
          evidence: [
            {
              source: 'deploys',
              at: isoOf(during.time),
              text: `${service} deployed${describeVersions(during)} at ${clockOf(during.time, view.refMs)}, ${Math.round((during.time - onset) / MINUTE_MS)} min into its anomaly (from ${clockOf(onset, view.refMs)}): a change made while it was already failing`,
            },
          ],
        });
      }
    }
    return findings;
  },
};

// ---------------------------------------------------------------------------------------------------------------
// dependency-propagation

/** Given once at least one dependant went wrong strictly after the service: time says which way the fault went. */
const PROPAGATION_BASE = 0.15;
/** Per dependant that became anomalous after it; same-minute dependants say less about the direction. */
const PROPAGATION_PER_LATER = 0.1;
const PROPAGATION_PER_SAME_TIME = 0.05;
const PROPAGATION_MAX = 0.35;

const dependencyPropagation: Analyzer = {
  name: 'dependency-propagation',
  description:
    'The anomalous service none of whose own dependencies failed first, and whose dependants became anomalous ' +
    'after it: the fault travelled from it up the call graph. Only the first anomalous hop counts, and a ' +
    'dependant that went wrong in the same minute says little about the direction.',
  run(ctx) {
    const view = viewOf(ctx.incident);
    const findings: Finding[] = [];
    for (const service of view.services) {
      const onset = view.onset.get(service)!;
      const earlierDependency = view.services.some(
        (other) =>
          other !== service && ctx.graph.dependsOnTransitively(service, other) && view.onset.get(other)! <= onset,
      );
      if (earlierDependency) continue;
      const followers = view.services
        .filter(
          (other) =>
            other !== service && ctx.graph.dependsOnTransitively(other, service) && view.onset.get(other)! >= onset,
        )
        .sort((a, b) => view.onset.get(a)! - view.onset.get(b)! || compareText(a, b));
      if (followers.length === 0) continue;
      // Only the first anomalous hop is evidence for this service: a dependant that also depends on another
      // follower is explained by that follower just as well (api-gateway erring after order-api says nothing about
      // whether order-api or its own dependency started it).
      const firstHop = followers.filter(
        (f) =>
          !followers.some(
            (m) => m !== f && ctx.graph.dependsOnTransitively(f, m) && ctx.graph.dependsOnTransitively(m, service),
          ),
      );
      const later = firstHop.filter((f) => view.onset.get(f)! > onset).length;
      const sameTime = firstHop.length - later;
      const weight = Math.min(
        PROPAGATION_MAX,
        (later > 0 ? PROPAGATION_BASE : 0) + PROPAGATION_PER_LATER * later + PROPAGATION_PER_SAME_TIME * sameTime,
      );
      const first = firstSignal(view, service)!;
      const evidence: EvidenceItem[] = [metricItem(view, service, first)];
      for (const follower of followers) {
        const lag = Math.round((view.onset.get(follower)! - onset) / MINUTE_MS);
        const how = ctx.graph.get(follower)?.dependsOn.includes(service) ? 'calls' : 'depends indirectly on';
        const when = lag === 0 ? `in the same minute as ${service}` : `${lag} min after ${service}`;
        const symptom = firstSignal(view, follower)!;
        evidence.push({
          source: 'topology',
          at: isoOf(view.onset.get(follower)!),
          text: `${follower} (${how} ${service}) became anomalous ${when}: ${describeSignal(symptom, view.refMs)}`,
        });
      }
      findings.push({ analyzer: 'dependency-propagation', service, weight: round3(weight), evidence });
    }
    return findings;
  },
};

// ---------------------------------------------------------------------------------------------------------------
// datastore-saturation

const SATURATION_WEIGHT_AT_LIMIT = 0.45;
const SATURATION_WEIGHT = 0.3;
/** Connections at or above this share of the maximum leave no room for new queries. */
const CONNECTIONS_FULL = 0.9;
const SATURATION_WITH_LATENCY = 0.05;
const QUERY_LATENCY_WEIGHT = 0.3;

const datastoreSaturation: Analyzer = {
  name: 'datastore-saturation',
  description:
    'A datastore whose connections in use are anomalous (datastore-saturation), or whose query latency alone ' +
    'is (cache-latency, as the classification rules name it).',
  run(ctx) {
    const view = viewOf(ctx.incident);
    const findings: Finding[] = [];
    for (const service of view.services) {
      if (ctx.graph.get(service)?.kind !== 'datastore') continue;
      const connections = signal(view, service, 'datastore_connections', rising);
      const latency = signal(view, service, 'datastore_latency_p99', rising);
      const cpu = signal(view, service, 'cpu_utilisation', rising);
      if (connections.length > 0) {
        const full = connections.some((s) => s.hardLimitBreached || s.valueAtPeak >= CONNECTIONS_FULL);
        const weight =
          (full ? SATURATION_WEIGHT_AT_LIMIT : SATURATION_WEIGHT) + (latency.length > 0 ? SATURATION_WITH_LATENCY : 0);
        findings.push({
          analyzer: 'datastore-saturation',
          service,
          kind: 'datastore-saturation',
          weight: round3(weight),
          evidence: [...connections, ...latency, ...cpu].map((s) => metricItem(view, service, s)),
        });
      } else if (latency.length > 0) {
        findings.push({
          analyzer: 'datastore-saturation',
          service,
          kind: 'cache-latency',
          weight: QUERY_LATENCY_WEIGHT,
          evidence: [...latency, ...cpu].map((s) => metricItem(view, service, s)),
        });
      }
    }
    return findings;
  },
};

// ---------------------------------------------------------------------------------------------------------------
// queue-lag

const LAG_WEIGHT = 0.4;

const queueLag: Analyzer = {
  name: 'queue-lag',
  description: 'A growing consumer lag: messages wait because consumers do not keep up (consumer-lag).',
  run(ctx) {
    const view = viewOf(ctx.incident);
    const findings: Finding[] = [];
    for (const service of view.services) {
      const lag = signal(view, service, 'consumer_lag', rising);
      if (lag.length === 0) continue;
      findings.push({
        analyzer: 'queue-lag',
        service,
        kind: 'consumer-lag',
        weight: LAG_WEIGHT,
        evidence: lag.map((s) => metricItem(view, service, s)),
      });
    }
    return findings;
  },
};

// ---------------------------------------------------------------------------------------------------------------
// resource-exhaustion

const DISK_WEIGHT_AT_LIMIT = 0.45;
const DISK_WEIGHT = 0.3;
const MEMORY_WEIGHT = 0.35;
/** Memory over its hard limit or forecast to cross it. */
const MEMORY_AT_LIMIT = 0.05;
const RESTARTS_WITH_MEMORY = 0.05;
/** Restarts alone: a crash loop has many causes, a leak is only one. */
const RESTARTS_ONLY_WEIGHT = 0.2;

const resourceExhaustion: Analyzer = {
  name: 'resource-exhaustion',
  description:
    'Resources running out, from metrics: free disk falling or forecast to run out (disk-fill); memory growth ' +
    'and container restarts (memory-leak). OOMKilled and crash-loop events are the kubernetes-events analyzer.',
  run(ctx) {
    const view = viewOf(ctx.incident);
    const findings: Finding[] = [];
    for (const service of view.services) {
      const disk = signal(view, service, 'disk_free', falling);
      if (disk.length > 0) {
        const atLimit = disk.some((s) => s.hardLimitBreached || s.predictedBreachAt !== undefined);
        findings.push({
          analyzer: 'resource-exhaustion',
          service,
          kind: 'disk-fill',
          weight: atLimit ? DISK_WEIGHT_AT_LIMIT : DISK_WEIGHT,
          evidence: disk.map((s) => metricItem(view, service, s)),
        });
      }
      const memory = signal(view, service, 'memory_utilisation', rising);
      const restarts = signal(view, service, 'pod_restarts', rising);
      if (memory.length === 0 && restarts.length === 0) continue;
      const memoryAtLimit = memory.some((s) => s.hardLimitBreached || s.predictedBreachAt !== undefined);
      const weight =
        memory.length > 0
          ? MEMORY_WEIGHT + (memoryAtLimit ? MEMORY_AT_LIMIT : 0) + (restarts.length > 0 ? RESTARTS_WITH_MEMORY : 0)
          : RESTARTS_ONLY_WEIGHT;
      findings.push({
        analyzer: 'resource-exhaustion',
        service,
        kind: 'memory-leak',
        weight: round3(weight),
        evidence: [...memory, ...restarts].map((s) => metricItem(view, service, s)),
      });
    }
    return findings;
  },
};

// ---------------------------------------------------------------------------------------------------------------
// Log helpers shared by external-surge and error-signature-novelty

const escapeRegex = (text: string): string => text.replace(/[\\^$.|?*+()[\]{}]/g, '\\$&');

/** True when `text` names `service` as a whole word (service names are DNS labels: letters, digits, dashes). */
function mentions(text: string, service: string): boolean {
  return new RegExp(`(?:^|[^a-z0-9-])${escapeRegex(service)}(?:$|[^a-z0-9-])`, 'i').test(text);
}

/** Dependencies of `service` (direct or not) that a log signature names: the line is a complaint about them. */
function namedDependencies(graph: ServiceGraph, service: string, finding: SignatureFinding): string[] {
  return graph
    .names()
    .filter(
      (other) =>
        other !== service &&
        graph.dependsOnTransitively(service, other) &&
        (mentions(finding.signature, other) || mentions(finding.example, other)),
    )
    .sort();
}

/** The incident signatures of a service: the most frequent ones and the novel ones, each once. */
function listedSignatures(logs: ServiceLogFindings): SignatureFinding[] {
  const seen = new Set<string>();
  const out: SignatureFinding[] = [];
  for (const s of [...logs.topSignatures, ...logs.novelSignatures]) {
    if (seen.has(s.signature)) continue;
    seen.add(s.signature);
    out.push(s);
  }
  return out;
}

/** New signatures a service logs about itself (not about a dependency), frequent enough to matter. */
function ownNovelSignatures(graph: ServiceGraph, logs: ServiceLogFindings): SignatureFinding[] {
  return logs.novelSignatures.filter(
    (s) => s.count >= MIN_NOVEL_LINES && namedDependencies(graph, logs.service, s).length === 0,
  );
}

/** Well-known messages that name a fault kind whatever the software: the JVM's, MySQL's, the kernel's. */
const LOG_KIND_HINTS: readonly {
  readonly pattern: RegExp;
  readonly kind: FaultKind;
  readonly of: 'self' | 'datastore';
}[] = [
  {
    pattern: /OutOfMemoryError|out of memory|Cannot allocate memory|heap space|GC overhead limit/i,
    kind: 'memory-leak',
    of: 'self',
  },
  { pattern: /No space left on device|disk is full|ENOSPC/i, kind: 'disk-fill', of: 'self' },
  {
    pattern:
      /too many connections|connection is not available|remaining connection slots|max_?connections|pool exhausted/i,
    kind: 'datastore-saturation',
    of: 'datastore',
  },
];

function hintedKind(graph: ServiceGraph, about: string, signature: SignatureFinding): FaultKind | undefined {
  const text = `${signature.signature}\n${signature.example}`;
  const hint = LOG_KIND_HINTS.find((h) => h.pattern.test(text));
  if (!hint) return undefined;
  if (hint.of === 'datastore' && graph.get(about)?.kind !== 'datastore') return undefined;
  return hint.kind;
}

const quoteSignature = (signature: string): string =>
  `'${signature.length > 120 ? `${signature.slice(0, 120)}…` : signature}'`;

// ---------------------------------------------------------------------------------------------------------------
// external-surge

const SURGE_ENTRY_STRONG = 0.5;
const SURGE_ENTRY = 0.4;
/** Traffic rising on an internal service whose callers' traffic did not: retries or a batch job, less clear. */
const SURGE_INTERNAL = 0.25;
/** A deploy just before: retries against a broken release can look like a surge. */
const SURGE_WITH_DEPLOY = 0.1;
/** New error signatures of its own: the service is failing, not only loaded. */
const SURGE_WITH_OWN_ERRORS = 0.6;

function trafficRatio(s: IncidentSignal): number {
  return s.expectedAtPeak > 0 && Number.isFinite(s.valueAtPeak) ? s.valueAtPeak / s.expectedAtPeak : Number.NaN;
}

const externalSurge: Analyzer = {
  name: 'external-surge',
  description:
    'Request rate far above its usual level where the traffic enters (a service none of whose callers saw the ' +
    'rise), without a deploy or new error signatures of its own (traffic-surge).',
  run(ctx) {
    const view = viewOf(ctx.incident);
    const surging = new Map<string, IncidentSignal>();
    for (const service of view.services) {
      const s = view
        .signalsOf(service)
        .filter((x) => x.signalId === 'request_rate' && x.peakZ > 0)
        .filter((x) => {
          const ratio = trafficRatio(x);
          return Number.isNaN(ratio) || ratio >= SURGE_MIN_RATIO;
        })
        .sort((a, b) => compareText(a.firstAnomalousAt, b.firstAnomalousAt))[0];
      if (s) surging.set(service, s);
    }
    const findings: Finding[] = [];
    for (const [service, s] of surging) {
      // The surge came through a caller whose traffic rose as well: that caller is where it entered.
      if ([...surging.keys()].some((other) => other !== service && ctx.graph.dependsOnTransitively(other, service))) {
        continue;
      }
      const ratio = trafficRatio(s);
      const entry = ctx.graph.callersOf(service).length === 0;
      let weight = entry ? (ratio >= STRONG_SURGE_RATIO ? SURGE_ENTRY_STRONG : SURGE_ENTRY) : SURGE_INTERNAL;
      const evidence: EvidenceItem[] = [metricItem(view, service, s)];
      const downstream = [...surging.entries()]
        .filter(([other]) => other !== service && ctx.graph.dependsOnTransitively(service, other))
        .sort(([a], [b]) => compareText(a, b));
      if (downstream.length > 0) {
        evidence.push({
          source: 'metrics',
          at: downstream.map(([, x]) => x.firstAnomalousAt).sort()[0],
          text: `request_rate rose downstream too: ${downstream
            .map(([other, x]) => {
              const r = trafficRatio(x);
              return `${other}${Number.isFinite(r) ? ` x${sig3(r)}` : ''} from ${clockOf(Date.parse(x.firstAnomalousAt), view.refMs)}`;
            })
            .join(', ')}`,
        });
      }
      if (!entry) {
        evidence.push({
          source: 'topology',
          text: `${service} is called by ${ctx.graph.callersOf(service).sort().join(', ')}, whose traffic did not rise`,
        });
      }
      const deploy = changeBefore(ctx.deploys, service, view.onset.get(service)!);
      const logs = ctx.logs.find((l) => l.service === service);
      const ownErrors = logs ? ownNovelSignatures(ctx.graph, logs) : [];
      if (deploy) {
        weight = SURGE_WITH_DEPLOY;
        evidence.push({
          source: 'deploys',
          at: isoOf(deploy.time),
          text: `but ${service} was deployed${describeVersions(deploy)} at ${clockOf(deploy.time, view.refMs)}: retries against a broken release can look like a surge`,
        });
      } else if (ownErrors.length > 0) {
        weight *= SURGE_WITH_OWN_ERRORS;
        evidence.push({
          source: 'logs',
          at: isoOf(ownErrors[0].firstSeen),
          text: `but ${service} also logs new errors: ${quoteSignature(ownErrors[0].signature)} x${ownErrors[0].count} since ${clockOf(ownErrors[0].firstSeen, view.refMs)}`,
        });
      }
      findings.push({
        analyzer: 'external-surge',
        service,
        ...(deploy ? {} : { kind: 'traffic-surge' as const }),
        weight: round3(weight),
        evidence,
      });
    }
    return findings;
  },
};

// ---------------------------------------------------------------------------------------------------------------
// error-signature-novelty

const NOVELTY_BASE = 0.15;
const NOVELTY_SPAN = 0.15;
/** The baseline was a sample: a "new" signature may have occurred unsampled. */
const NOVELTY_SAMPLED_BASELINE = 0.5;
const RATE_JUMP_WEIGHT = 0.1;
const NOVELTY_MAX = 0.4;
/** Lines naming a dependency point at it, more weakly than the dependency's own errors would. */
const BLAME_BASE = 0.1;
const BLAME_SPAN = 0.1;

const errorSignatureNovelty: Analyzer = {
  name: 'error-signature-novelty',
  description:
    'Error-log signatures absent from the baseline and jumps in the error-line rate. Lines that name a ' +
    'dependency ("call to order-api failed") are complaints about that dependency and count for it instead.',
  run(ctx) {
    const view = viewOf(ctx.incident);
    const findings: Finding[] = [];
    const logs = [...ctx.logs].sort((a, b) => compareText(a.service, b.service));
    for (const service of logs) {
      const listed = listedSignatures(service);
      const listedLines = listed.reduce((n, s) => n + s.count, 0);
      const blamed = new Map<string, SignatureFinding[]>();
      let ownListedLines = 0;
      for (const s of listed) {
        const named = namedDependencies(ctx.graph, service.service, s);
        if (named.length === 0) ownListedLines += s.count;
        for (const dependency of named) blamed.set(dependency, [...(blamed.get(dependency) ?? []), s]);
      }
      const ownNovel = ownNovelSignatures(ctx.graph, service);
      const novelLines = ownNovel.reduce((n, s) => n + s.count, 0);
      const jump =
        service.excessLines >= MIN_JUMP_LINES && (service.rateRatio === null || service.rateRatio >= MIN_RATE_RATIO);
      const ownJump = jump && listedLines > 0 && ownListedLines / listedLines >= 0.5;
      let weight = 0;
      if (ownNovel.length > 0) {
        weight +=
          (NOVELTY_BASE + NOVELTY_SPAN * Math.min(1, novelLines / NOVEL_LINES_FULL)) *
          (service.baselineComplete ? 1 : NOVELTY_SAMPLED_BASELINE);
      }
      if (ownJump) weight += RATE_JUMP_WEIGHT;
      if (weight > 0) {
        const kind = ownNovel.map((s) => hintedKind(ctx.graph, service.service, s)).find((k) => k !== undefined);
        // The first new line dates the finding; a rate jump alone is dated by the window it was counted in.
        const start = ownNovel.length > 0 ? Math.min(...ownNovel.map((s) => s.firstSeen)) : service.incident.startMs;
        findings.push({
          analyzer: 'error-signature-novelty',
          service: service.service,
          ...(kind ? { kind } : {}),
          weight: round3(Math.min(NOVELTY_MAX, weight)),
          evidence: [{ source: 'logs', at: isoOf(start), text: service.evidence }],
        });
      }
      for (const [dependency, signatures] of [...blamed].sort(([a], [b]) => compareText(a, b))) {
        // A complaint already common in the baseline says nothing about this incident.
        const telling = signatures.filter((s) => s.novel || s.count >= MIN_RATE_RATIO * s.baselineCount);
        const lines = telling.reduce((n, s) => n + s.count, 0);
        if (lines < MIN_NOVEL_LINES) continue;
        const kind = telling.map((s) => hintedKind(ctx.graph, dependency, s)).find((k) => k !== undefined);
        const shown = telling.slice(0, 2);
        findings.push({
          analyzer: 'error-signature-novelty',
          service: dependency,
          ...(kind ? { kind } : {}),
          weight: round3(BLAME_BASE + BLAME_SPAN * Math.min(1, lines / NOVEL_LINES_FULL)),
          evidence: [
            {
              source: 'logs',
              at: isoOf(Math.min(...shown.map((s) => s.firstSeen))),
              text: `${service.service} logs ${lines} error lines naming ${dependency}: ${shown
                .map(
                  (s) =>
                    `${quoteSignature(s.signature)} x${s.count} since ${clockOf(s.firstSeen, view.refMs)}${s.novel ? ' (new)' : ` (baseline x${s.baselineCount})`}`,
                )
                .join(', ')}`,
            },
          ],
        });
      }
    }
    return findings;
  },
};

// ---------------------------------------------------------------------------------------------------------------
// kubernetes-events

interface KubeMeaning {
  readonly kind?: FaultKind;
  readonly weight: number;
  readonly why: string;
}

/** What a Kubernetes finding says about its service, given the latest change before it and the other findings. */
function meaningOf(finding: KubeFinding, deploy: DeployRecord | undefined, oomToo: boolean): KubeMeaning {
  const table: Readonly<Record<KubeFindingKind, () => KubeMeaning>> = {
    'image-pull': () =>
      deploy
        ? { kind: 'bad-deploy', weight: 0.35, why: 'the new release cannot start: its image does not pull' }
        : { weight: 0.1, why: 'new pods cannot pull their image' },
    'crash-loop': () =>
      deploy
        ? { kind: 'bad-deploy', weight: 0.3, why: 'containers of the new release crash on start' }
        : oomToo
          ? { kind: 'memory-leak', weight: 0.2, why: 'containers restart after being OOMKilled' }
          : { weight: 0.2, why: 'containers crash and restart' },
    'oom-killed': () => ({ kind: 'memory-leak', weight: 0.35, why: 'containers exceed their memory limit' }),
    'rollout-stuck': () =>
      deploy
        ? { kind: 'bad-deploy', weight: 0.3, why: 'the rollout of the new release stopped progressing' }
        : { weight: 0.15, why: 'a rollout stopped progressing' },
    'hpa-at-max': () => ({
      kind: 'traffic-surge',
      weight: 0.25,
      why: 'the autoscaler wants more replicas than its maximum',
    }),
    // There is no capacity fault kind (FAULT_KINDS): unschedulable pods are evidence, not a diagnosis.
    'failed-scheduling': () => ({ weight: 0.1, why: 'new pods cannot be scheduled: the cluster lacks capacity' }),
    'node-not-ready': () => ({ weight: 0.15, why: 'a node running its pods went NotReady' }),
    'liveness-probe-failed': () => ({ weight: 0.15, why: 'liveness probes fail, so containers are killed' }),
    'readiness-probe-failed': () => ({ weight: 0.1, why: 'readiness probes fail, so pods leave the load balancer' }),
  };
  return table[finding.kind]();
}

const kubernetesEvents: Analyzer = {
  name: 'kubernetes-events',
  description:
    'Kubernetes events and object state: image-pull failures, crash loops and stuck rollouts after a deploy ' +
    '(bad-deploy), OOMKilled (memory-leak), HPA at its maximum (traffic-surge), unschedulable pods, NotReady ' +
    'nodes and failing probes (evidence without a kind).',
  run(ctx) {
    const view = viewOf(ctx.incident);
    const from = view.earliest - CHANGE_WINDOW_MS;
    const relevant = ctx.kube
      .filter((f) => f.lastSeen >= from && f.firstSeen <= view.endMs)
      .sort((a, b) => compareText(a.service, b.service) || compareText(a.kind, b.kind) || a.firstSeen - b.firstSeen);
    return relevant.map((f) => {
      const deploy = changeBefore(ctx.deploys, f.service, f.firstSeen);
      const oomToo = relevant.some((other) => other.service === f.service && other.kind === 'oom-killed');
      const meaning = meaningOf(f, deploy, oomToo);
      const span =
        f.firstSeen === f.lastSeen
          ? `at ${clockOf(f.firstSeen, view.refMs)}`
          : `${clockOf(f.firstSeen, view.refMs)}-${clockOf(f.lastSeen, view.refMs)}`;
      const evidence: EvidenceItem[] = [
        {
          source: 'kubernetes',
          at: isoOf(f.firstSeen),
          text: `${f.service} ${f.kind} (${f.count}x ${span}): ${meaning.why}; ${f.evidence}`,
        },
      ];
      if (deploy && meaning.kind === 'bad-deploy') {
        evidence.push({
          source: 'deploys',
          at: isoOf(deploy.time),
          text: `${f.service} deployed${describeVersions(deploy)} at ${clockOf(deploy.time, view.refMs)}, ${Math.round((f.firstSeen - deploy.time) / MINUTE_MS)} min before the first ${f.kind}`,
        });
      }
      return {
        analyzer: 'kubernetes-events',
        service: f.service,
        ...(meaning.kind ? { kind: meaning.kind } : {}),
        weight: meaning.weight,
        evidence,
      };
    });
  },
};

// ---------------------------------------------------------------------------------------------------------------
// funds-service

/** Small: a funds service failing says what kind of fault it is, not that it started there. */
const FUNDS_WEIGHT = 0.05;

const fundsService: Analyzer = {
  name: 'funds-service',
  description:
    'A service that moves money (criticality funds) with anomalous errors or latency: its fault is handled as ' +
    'funds-service-errors, which is diagnosis only, whatever else is seen (as the classification rules do).',
  run(ctx) {
    const view = viewOf(ctx.incident);
    const findings: Finding[] = [];
    for (const service of view.services) {
      if (ctx.graph.get(service)?.criticality !== 'funds') continue;
      const symptoms = [
        ...signal(view, service, 'error_ratio', () => true),
        ...signal(view, service, 'latency_p99', () => true),
      ].sort((a, b) => compareText(a.firstAnomalousAt, b.firstAnomalousAt) || compareText(a.key, b.key));
      if (symptoms.length === 0) continue;
      findings.push({
        analyzer: 'funds-service',
        service,
        kind: 'funds-service-errors',
        weight: FUNDS_WEIGHT,
        evidence: [
          {
            source: 'metrics',
            at: symptoms[0].firstAnomalousAt,
            text: `${service} moves money (criticality funds) and its ${[...new Set(symptoms.map((s) => s.signalId))].join(' and ')} ${symptoms.length > 1 ? 'are' : 'is'} anomalous from ${clockOf(Date.parse(symptoms[0].firstAnomalousAt), view.refMs)}: handled as funds-service-errors, diagnosis only`,
          },
        ],
      });
    }
    return findings;
  },
};

// ---------------------------------------------------------------------------------------------------------------
// knowledge-prior

const knowledgePrior: Analyzer = {
  name: 'knowledge-prior',
  description:
    'Similar past incidents whose root cause was one of this incident’s services raise that service a little ' +
    `(at most ${KNOWLEDGE_MAX_WEIGHT}); never decisive on their own.`,
  run(ctx) {
    const view = viewOf(ctx.incident);
    const findings: Finding[] = [];
    for (const service of view.services) {
      const cases = ctx.similarCases
        .filter((c) => c.service === service && Number.isFinite(c.similarity) && c.similarity >= MIN_SIMILARITY)
        .sort((a, b) => b.similarity - a.similarity || compareText(a.incidentId, b.incidentId));
      if (cases.length === 0) continue;
      const [best] = cases;
      const more =
        cases.length > 1 ? ` (${cases.length - 1} more similar past case${cases.length > 2 ? 's' : ''})` : '';
      const actions = best.actions.length > 0 ? `, actions ${best.actions.join(', ')}` : '';
      findings.push({
        analyzer: 'knowledge-prior',
        service,
        ...(best.kind !== 'unknown' ? { kind: best.kind } : {}),
        weight: round3(KNOWLEDGE_MAX_WEIGHT * clamp01(best.similarity)),
        evidence: [
          {
            source: 'knowledge',
            text: `past incident ${best.incidentId} (similarity ${best.similarity.toFixed(2)}) was ${best.kind} on ${service}, outcome ${best.outcome}${actions}: ${best.summary}${more}`,
          },
        ],
      });
    }
    return findings;
  },
};

// ---------------------------------------------------------------------------------------------------------------
// Registry

export const ANALYZERS: readonly Analyzer[] = [
  changeCorrelation,
  dependencyPropagation,
  datastoreSaturation,
  queueLag,
  resourceExhaustion,
  externalSurge,
  errorSignatureNovelty,
  kubernetesEvents,
  fundsService,
  knowledgePrior,
];

/**
 * Runs every analyzer and returns their findings in a fixed order (service, analyzer, strongest first), with
 * weights held to [0, 1]. A finding with a weight that is not a number is a bug in its analyzer and is dropped
 * rather than allowed to poison the combined score.
 */
export function runAnalyzers(ctx: DiagnosisContext, analyzers: readonly Analyzer[] = ANALYZERS): Finding[] {
  return analyzers
    .flatMap((analyzer) => analyzer.run(ctx))
    .filter((f) => Number.isFinite(f.weight))
    .map((f) => ({ ...f, weight: clamp01(f.weight) }))
    .sort(
      (a, b) =>
        compareText(a.service, b.service) ||
        compareText(a.analyzer, b.analyzer) ||
        b.weight - a.weight ||
        compareText(a.kind ?? '', b.kind ?? '') ||
        compareText(a.evidence[0]?.text ?? '', b.evidence[0]?.text ?? ''),
    );
}
