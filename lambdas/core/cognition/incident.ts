// Incidents: anomalies on related services that start close in time become one incident, which later ticks
// update (never re-open) and which resolves after a quiet period. Pure: the store applies the changes.

import { createHash } from 'node:crypto';
import type { ServiceGraph } from '../topology';
import type { ForecastBreach, RaisedSeries } from './scorer';

export type IncidentStatus = 'open' | 'resolved';
export type IncidentKind = 'anomaly' | 'forecast';

/** The signal that measures traffic; its ratio to the baseline at the entry points is the market regime. */
export const TRAFFIC_SIGNAL = 'request_rate';

export interface IncidentSignal {
  readonly key: string;
  readonly signalId: string;
  readonly entity: string;
  /** ISO time the series first became anomalous. */
  readonly firstAnomalousAt: string;
  readonly lastRaisedAt: string;
  readonly peakZ: number;
  readonly peakScore: number;
  readonly valueAtPeak: number;
  readonly expectedAtPeak: number;
  readonly hardLimitBreached: boolean;
  /** For a forecast signal: when the trend predictor expects the hard limit to be crossed (latest estimate). */
  readonly predictedBreachAt?: string;
  readonly limit?: number;
}

export interface Incident {
  /** Deterministic from the opening tick and first service: names the workflow execution, thread, ticket. */
  readonly id: string;
  readonly status: IncidentStatus;
  readonly kind: IncidentKind;
  readonly openedAt: string;
  readonly updatedAt: string;
  readonly lastAnomalyAt: string;
  readonly resolvedAt?: string;
  /** Earliest breach the trend predictor currently expects among the incident's forecast signals. */
  readonly predictedBreachAt?: string;
  /** Services in order of onset. */
  readonly services: string[];
  readonly signals: IncidentSignal[];
  /**
   * Request rate at the estate's entry points over what their baselines expected, at the incident's latest
   * update (1 = normal, 3 = a market surge tripled it): the traffic regime any action would land in.
   */
  readonly edgeTrafficRatio?: number;
  /** Optimistic-lock counter: every write expects the version it read. */
  readonly version: number;
}

export interface CorrelationSettings {
  readonly correlationWindowMinutes: number;
  readonly resolveAfterMinutes: number;
}

export interface IncidentChanges {
  readonly opened: Incident[];
  readonly updated: Incident[];
  readonly resolved: Incident[];
}

const iso = (epochSeconds: number): string => new Date(epochSeconds * 1000).toISOString().replace('.000Z', 'Z');
const seconds = (isoTime: string): number => Date.parse(isoTime) / 1000;

/** Step Functions execution names stop at 80 characters; the incident id is one. */
export const MAX_INCIDENT_ID_LENGTH = 80;

export function incidentId(openedAtSeconds: number, firstService: string): string {
  const stamp = iso(openedAtSeconds).replace(/[-:]/g, '').replace(/Z$/, '').slice(0, 13);
  const id = `inc-${stamp}-${firstService}`;
  if (id.length <= MAX_INCIDENT_ID_LENGTH) return id;
  // A service name too long to fit keeps its start, readable, and a hash of the whole, so two long names that
  // share a prefix still get distinct ids.
  const digest = createHash('sha256').update(firstService).digest('hex').slice(0, 8);
  const room = MAX_INCIDENT_ID_LENGTH - `inc-${stamp}-`.length - digest.length - 1;
  return `inc-${stamp}-${firstService.slice(0, room).replace(/-+$/, '')}-${digest}`;
}

/**
 * Applies one tick's raised series to the open incidents. A raised series joins an open incident that
 * already holds a related service (see ServiceGraph.related) and saw an anomaly within the correlation
 * window; raised series left over are grouped by relation into new incidents.
 */
export function correlate(
  time: number,
  detected: { readonly raised: readonly RaisedSeries[]; readonly forecasts?: readonly ForecastBreach[] },
  openIncidents: readonly Incident[],
  graph: ServiceGraph,
  settings: CorrelationSettings,
  edgeTrafficRatio?: number,
): IncidentChanges {
  const now = iso(time);
  const regime = edgeTrafficRatio !== undefined && Number.isFinite(edgeTrafficRatio) ? { edgeTrafficRatio } : {};
  const raised: Member[] = [...detected.raised, ...(detected.forecasts ?? []).map(forecastMember)];
  const windowSeconds = settings.correlationWindowMinutes * 60;
  const working = new Map(openIncidents.filter((i) => i.status === 'open').map((i) => [i.id, toDraft(i)]));
  const touched = new Set<string>();
  const unattached: Member[] = [];

  const bySeverity = [...raised].sort((a, b) => a.since - b.since || b.score - a.score);
  for (const series of bySeverity) {
    const home = [...working.values()].find(
      (draft) =>
        draft.signals.has(series.key) ||
        (time - seconds(draft.lastAnomalyAt) <= windowSeconds &&
          draft.services.some((s) => graph.related(s, series.entity))),
    );
    if (home) {
      addSignal(home, series, now);
      touched.add(home.id);
    } else {
      unattached.push(series);
    }
  }

  const opened: Incident[] = [];
  for (const group of groupRelated(unattached, graph)) {
    const first = group[0];
    const draft: Draft = {
      id: incidentId(time, first.entity),
      status: 'open',
      kind: group.every((member) => member.forecast) ? 'forecast' : 'anomaly',
      openedAt: now,
      updatedAt: now,
      lastAnomalyAt: now,
      services: [],
      signals: new Map(),
      version: 0,
    };
    for (const series of group) addSignal(draft, series, now);
    opened.push(fromDraft({ ...draft, ...regime, predictedBreachAt: currentBreach(draft, now) }, 1));
  }

  const updated: Incident[] = [];
  const resolved: Incident[] = [];
  for (const draft of working.values()) {
    const original = openIncidents.find((i) => i.id === draft.id)!;
    if (touched.has(draft.id)) {
      updated.push(
        fromDraft(
          { ...draft, ...regime, updatedAt: now, predictedBreachAt: currentBreach(draft, now) },
          original.version + 1,
        ),
      );
    } else if (time - seconds(draft.lastAnomalyAt) >= settings.resolveAfterMinutes * 60) {
      resolved.push(fromDraft({ ...draft, status: 'resolved', updatedAt: now, resolvedAt: now }, original.version + 1));
    }
  }
  return { opened, updated, resolved };
}

interface Draft {
  id: string;
  status: IncidentStatus;
  kind: IncidentKind;
  openedAt: string;
  updatedAt: string;
  lastAnomalyAt: string;
  resolvedAt?: string;
  services: string[];
  signals: Map<string, IncidentSignal>;
  version: number;
  predictedBreachAt?: string;
  edgeTrafficRatio?: number;
}

/** A raised series or a forecast breach, as the correlator groups them. */
type Member = RaisedSeries & { readonly forecast?: { readonly predictedBreachAt: number; readonly limit: number } };

const forecastMember = (f: ForecastBreach): Member => ({
  key: `forecast:${f.key}`,
  signalId: f.signalId,
  entity: f.entity,
  value: f.value,
  expected: Number.NaN,
  z: Number.NaN,
  score: f.confidence,
  since: f.since,
  hardLimitBreached: false,
  newlyRaised: f.newlyRaised,
  forecast: { predictedBreachAt: f.predictedBreachAt, limit: f.limit },
});

/** The earliest breach among forecasts refreshed this tick; the previous estimate when none was. */
function currentBreach(draft: Draft, now: string): string | undefined {
  const fresh = [...draft.signals.values()]
    .filter((s) => s.predictedBreachAt && s.lastRaisedAt === now)
    .map((s) => s.predictedBreachAt!)
    .sort();
  return fresh[0] ?? draft.predictedBreachAt;
}

const toDraft = (incident: Incident): Draft => ({
  ...incident,
  services: [...incident.services],
  signals: new Map(incident.signals.map((s) => [s.key, s])),
});

const fromDraft = (draft: Draft, version: number): Incident => ({
  ...draft,
  services: [...draft.services],
  signals: [...draft.signals.values()],
  version,
});

function addSignal(draft: Draft, series: Member, now: string): void {
  if (!draft.services.includes(series.entity)) draft.services.push(series.entity);
  draft.lastAnomalyAt = now;
  const previous = draft.signals.get(series.key);
  const zBad = Number.isNaN(series.z) ? 0 : Math.abs(series.z);
  const isPeak = !previous || zBad > Math.abs(previous.peakZ);
  draft.signals.set(series.key, {
    key: series.key,
    signalId: series.signalId,
    entity: series.entity,
    firstAnomalousAt: previous?.firstAnomalousAt ?? iso(series.since),
    lastRaisedAt: now,
    peakZ: isPeak ? series.z : previous.peakZ,
    peakScore: Math.max(series.score, previous?.peakScore ?? 0),
    valueAtPeak: isPeak ? series.value : previous.valueAtPeak,
    expectedAtPeak: isPeak ? series.expected : previous.expectedAtPeak,
    hardLimitBreached: series.hardLimitBreached || (previous?.hardLimitBreached ?? false),
    ...(series.forecast
      ? { predictedBreachAt: iso(series.forecast.predictedBreachAt), limit: series.forecast.limit }
      : {}),
  });
}

/** Groups series whose services are related, keeping each group in order of onset. */
function groupRelated(series: readonly Member[], graph: ServiceGraph): Member[][] {
  const groups: Member[][] = [];
  for (const s of series) {
    const group = groups.find((g) => g.some((member) => graph.related(member.entity, s.entity)));
    if (group) group.push(s);
    else groups.push([s]);
  }
  return groups;
}
