// Gathers what the rule analyzers and the model look at besides the incident's own signals: deploys of the
// incident's services, their error logs (incident window against the hour before), Kubernetes events and
// object state. A source that fails or is not configured leaves a named gap; it never fails the diagnosis.

import type { DeployRecord } from '../cognition/classify';
import type { Incident } from '../cognition/incident';
import { type KubeFinding, type KubeObservation, type KubeStateReader, kubeFindings } from '../cognition/kube-findings';
import { compareServiceLogs, type ServiceLogFindings } from '../cognition/log-signatures';
import type { Topology } from '../config/schema';
import type { LogSource } from '../perception/log-source';

/** Deploys, logs and Kubernetes look this far before the first anomaly. */
export const LOOKBACK_MS = 60 * 60_000;
/** The incident window starts this long before the first anomaly (logs often lead metrics). */
const LEAD_MS = 5 * 60_000;
/** At most this many services' logs and namespaces are read per diagnosis. */
const MAX_SERVICES = 6;
const LOG_LINES = 1_000;

export interface EvidenceSources {
  readonly deploysFor: (service: string, fromMs: number, toMs: number) => Promise<DeployRecord[]>;
  readonly logs?: LogSource;
  readonly kube?: KubeStateReader;
}

export interface GatheredEvidence {
  readonly deploys: DeployRecord[];
  readonly logs: ServiceLogFindings[];
  readonly kube: KubeFinding[];
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
  const [deploys, logs, kube] = await Promise.all([
    collectDeploys(services, sources, onset, nowMs, gaps),
    sources.logs ? collectLogs(services, sources.logs, onset, nowMs, gaps) : noSource(gaps, 'logs'),
    sources.kube ? collectKube(services, topology, sources.kube, onset, nowMs, gaps) : noSource(gaps, 'kubernetes'),
  ]);
  return { deploys, logs, kube, gaps };
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
