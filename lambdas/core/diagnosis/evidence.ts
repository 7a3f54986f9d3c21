// Gathers what the rule analyzers and the model look at besides the incident's own signals: deploys of the
// incident's services, their error logs (incident window against the hour before), Kubernetes events and
// object state. A source that fails or is not configured leaves a named gap; it never fails the diagnosis.

import type { DeployRecord } from '../cognition/classify';
import type { Incident } from '../cognition/incident';
import { type KubeFinding, type KubeObservation, type KubeStateReader, kubeFindings } from '../cognition/kube-findings';
import { compareServiceLogs, type ServiceLogFindings } from '../cognition/log-signatures';
import type { Topology } from '../config/schema';
import type { LogSource } from '../perception/log-source';
import type { RangeSeries } from '../perception/metric-source';
import type { Result } from '../result';

/** Deploys, logs and Kubernetes look this far before the first anomaly. */
export const LOOKBACK_MS = 60 * 60_000;
/** The incident window starts this long before the first anomaly (logs often lead metrics). */
const LEAD_MS = 5 * 60_000;
/** At most this many services' logs and namespaces are read per diagnosis. */
const MAX_SERVICES = 6;
const LOG_LINES = 1_000;

/** AWS resource metrics behind topology services (CloudWatch GetMetricData), labelled service/resource/metric. */
export interface AwsMetricsReader {
  range(
    startSeconds: number,
    endSeconds: number,
    filter: { readonly services?: readonly string[] },
  ): Promise<
    Result<
      { readonly series: readonly RangeSeries[]; readonly problems: readonly { readonly message: string }[] },
      { readonly message: string }
    >
  >;
}

export interface EvidenceSources {
  readonly deploysFor: (service: string, fromMs: number, toMs: number) => Promise<DeployRecord[]>;
  readonly logs?: LogSource;
  readonly kube?: KubeStateReader;
  readonly awsMetrics?: AwsMetricsReader;
}

/** A resource metric that moved: its level since the onset against the hour before. */
export interface AwsMetricShift {
  readonly service: string;
  readonly resource: string;
  readonly metric: string;
  readonly before: number;
  readonly since: number;
  readonly evidence: string;
}

/** A resource metric counts as moved when its median since the onset is this far from the hour before's. */
const SHIFT_RATIO = 1.5;

export interface GatheredEvidence {
  readonly deploys: DeployRecord[];
  readonly logs: ServiceLogFindings[];
  readonly kube: KubeFinding[];
  /** AWS resource metrics (RDS, ElastiCache, ALB) that moved with the incident. */
  readonly aws: AwsMetricShift[];
  /** Sources that were not there or failed, e.g. "logs: Loki answered 503 for order-api". */
  readonly gaps: string[];
}

export function incidentOnset(incident: Incident): number {
  const times = incident.signals.map((s) => Date.parse(s.firstAnomalousAt)).filter(Number.isFinite);
  return times.length > 0 ? Math.min(...times) : Date.parse(incident.openedAt);
}

export async function gatherEvidence(
  incident: Incident,
  topology: Topology,
  sources: EvidenceSources,
  nowMs: number,
): Promise<GatheredEvidence> {
  const onset = incidentOnset(incident);
  const services = incident.services.slice(0, MAX_SERVICES);
  const gaps: string[] = [];
  const [deploys, logs, kube, aws] = await Promise.all([
    collectDeploys(services, sources, onset, nowMs, gaps),
    sources.logs ? collectLogs(services, sources.logs, onset, nowMs, gaps) : noSource(gaps, 'logs'),
    sources.kube ? collectKube(services, topology, sources.kube, onset, nowMs, gaps) : noSource(gaps, 'kubernetes'),
    // AWS metrics are optional by nature (not every service is an AWS resource): absent is no gap.
    sources.awsMetrics ? collectAwsMetrics(services, sources.awsMetrics, onset, nowMs, gaps) : Promise.resolve([]),
  ]);
  return { deploys, logs, kube, aws, gaps };
}

function noSource(gaps: string[], name: string): Promise<never[]> {
  gaps.push(`${name}: no source configured`);
  return Promise.resolve([]);
}

async function collectDeploys(
  services: readonly string[],
  sources: EvidenceSources,
  onset: number,
  nowMs: number,
  gaps: string[],
): Promise<DeployRecord[]> {
  const found = await Promise.all(
    services.map(async (service) => {
      try {
        return await sources.deploysFor(service, onset - LOOKBACK_MS, nowMs);
      } catch (error) {
        gaps.push(`deploys: ${service}: ${(error as Error).message}`);
        return [];
      }
    }),
  );
  return found.flat().sort((a, b) => a.time - b.time || a.service.localeCompare(b.service));
}

async function collectLogs(
  services: readonly string[],
  logs: LogSource,
  onset: number,
  nowMs: number,
  gaps: string[],
): Promise<ServiceLogFindings[]> {
  const seconds = (ms: number) => Math.floor(ms / 1000);
  const incidentFrom = seconds(onset - LEAD_MS);
  const baselineFrom = incidentFrom - seconds(LOOKBACK_MS);
  const until = Math.max(seconds(nowMs), incidentFrom + 60);
  const found = await Promise.all(
    services.map(async (service): Promise<ServiceLogFindings | undefined> => {
      const [incident, baseline] = await Promise.all([
        logs.errorLines(service, incidentFrom, until, LOG_LINES, 'backward'),
        logs.errorLines(service, baselineFrom, incidentFrom, LOG_LINES, 'backward'),
      ]);
      if (!incident.ok || !baseline.ok) {
        const error = !incident.ok ? incident.error : !baseline.ok ? baseline.error : undefined;
        gaps.push(`logs: ${service}: ${error?.message}`);
        return undefined;
      }
      if (incident.value.lines.length === 0 && baseline.value.lines.length === 0) return undefined;
      // A truncated fetch means more lines than were read; the counts are at least what was read.
      return compareServiceLogs({
        service,
        incident: {
          startMs: incidentFrom * 1000,
          endMs: until * 1000,
          errorLines: incident.value.lines.length,
          lines: incident.value.lines,
        },
        baseline: {
          startMs: baselineFrom * 1000,
          endMs: incidentFrom * 1000,
          errorLines: baseline.value.lines.length,
          lines: baseline.value.lines,
        },
      });
    }),
  );
  return found.filter((f): f is ServiceLogFindings => f !== undefined);
}

async function collectKube(
  services: readonly string[],
  topology: Topology,
  kube: KubeStateReader,
  onset: number,
  nowMs: number,
  gaps: string[],
): Promise<KubeFinding[]> {
  const namespaces = [
    ...new Set(
      services
        .map((name) => topology.services.find((s) => s.name === name)?.namespace)
        .filter((ns): ns is string => ns !== undefined),
    ),
  ];
  const events: NonNullable<KubeObservation['events']>[number][] = [];
  const pods: NonNullable<KubeObservation['pods']>[number][] = [];
  const deployments: NonNullable<KubeObservation['deployments']>[number][] = [];
  const hpas: NonNullable<KubeObservation['hpas']>[number][] = [];
  await Promise.all(
    namespaces.map(async (namespace) => {
      const [e, p, d, h] = await Promise.all([
        kube.listEvents(namespace, { sinceMs: onset - LOOKBACK_MS, untilMs: nowMs }),
        kube.listPods(namespace),
        kube.listDeployments(namespace),
        kube.listHpas(namespace),
      ]);
      for (const [name, read] of [
        ['events', e],
        ['pods', p],
        ['deployments', d],
        ['horizontalpodautoscalers', h],
      ] as const) {
        if (!read.ok) gaps.push(`kubernetes: ${name} in ${namespace}: ${read.error.message}`);
      }
      if (e.ok) events.push(...e.value);
      if (p.ok) pods.push(...p.value);
      if (d.ok) deployments.push(...d.value);
      if (h.ok) hpas.push(...h.value);
    }),
  );
  const observation: KubeObservation = { events, pods, deployments, hpas, observedAt: nowMs };
  return [...kubeFindings(observation, topology, { fromMs: onset - LOOKBACK_MS, toMs: nowMs }).findings];
}

async function collectAwsMetrics(
  services: readonly string[],
  reader: AwsMetricsReader,
  onset: number,
  nowMs: number,
  gaps: string[],
): Promise<AwsMetricShift[]> {
  const start = Math.floor((onset - LOOKBACK_MS) / 1000);
  const end = Math.max(Math.floor(nowMs / 1000), Math.floor(onset / 1000) + 60);
  const read = await reader.range(start, end, { services });
  if (!read.ok) {
    gaps.push(`aws metrics: ${read.error.message}`);
    return [];
  }
  for (const problem of read.value.problems) gaps.push(`aws metrics: ${problem.message}`);
  const onsetSeconds = onset / 1000;
  const shifts: AwsMetricShift[] = [];
  for (const series of read.value.series) {
    const before: number[] = [];
    const since: number[] = [];
    series.timestamps.forEach((t, i) => {
      const v = series.values[i];
      if (Number.isFinite(v)) (t < onsetSeconds ? before : since).push(v);
    });
    if (before.length === 0 || since.length === 0) continue;
    const b = median(before);
    const s = median(since);
    const ratio = b === 0 ? (s === 0 ? 1 : Number.POSITIVE_INFINITY) : s / b;
    if (ratio < SHIFT_RATIO && ratio > 1 / SHIFT_RATIO) continue;
    const { service = '?', resource = '?', metric = '?' } = series.labels;
    shifts.push({
      service,
      resource,
      metric,
      before: b,
      since: s,
      evidence: `${service} (${resource}) ${metric} ${round(s)} since the onset vs ${round(b)} in the hour before`,
    });
  }
  return shifts.sort((a, b) => a.service.localeCompare(b.service) || a.metric.localeCompare(b.metric));
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

const round = (x: number): string => Number(x.toPrecision(3)).toString();
