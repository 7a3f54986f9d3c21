// First-pass fault classification from the incident's own evidence: which signals of the root-cause service
// are anomalous, and whether it was deployed just before the onset. The full diagnosis engine (logs, events,
// LLM re-ranking) refines this; these rules are what it falls back to.

import type { ServiceSpec } from '../config/schema';
import type { Incident } from './incident';

export const FAULT_KINDS = [
  'bad-deploy',
  'memory-leak',
  'datastore-saturation',
  'cache-latency',
  'traffic-surge',
  'consumer-lag',
  'disk-fill',
  'dependency-outage',
  'funds-service-errors',
  'engine-latency',
  'service-latency',
  'unknown',
] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

export interface DeployRecord {
  /** Epoch ms. */
  readonly time: number;
  readonly service: string;
  readonly version?: string;
  readonly previousVersion?: string;
}

export interface Classification {
  readonly kind: FaultKind;
  readonly evidence: string[];
}

/** Services that match orders: their own latency is an engine fault, answered (with a quorum) by an engine restart. */
const MATCHING_ENGINE = /match/i;

/** A deploy this long before the onset (or during it) counts as the change that may have caused it. */
const CHANGE_WINDOW_MS = 30 * 60_000;

export function classifyFault(
  incident: Incident,
  root: ServiceSpec | undefined,
  deploys: readonly DeployRecord[],
): Classification {
  const service = root?.name ?? incident.services[0];
  const signals = incident.signals.filter((s) => s.entity === service);
  // A forecast counts in its own direction; a hard-limit breach without a baseline has no z: count it too.
  const has = (signalId: string, direction?: 'up' | 'down') =>
    signals.some(
      (s) =>
        s.signalId === signalId &&
        (direction === undefined ||
          s.predictedBreachAt !== undefined ||
          (direction === 'up' ? !(s.peakZ < 0) : !(s.peakZ > 0))),
    );
  const onset = Math.min(...signals.map((s) => Date.parse(s.firstAnomalousAt)), Date.parse(incident.openedAt));
  const deploy = deploys
    .filter((d) => d.service === service && d.time <= onset + 5 * 60_000 && d.time >= onset - CHANGE_WINDOW_MS)
    .sort((a, b) => b.time - a.time)[0];
  const evidence: string[] = [];
  const found = (kind: FaultKind, why: string): Classification => ({ kind, evidence: [...evidence, why] });

  if (root?.criticality === 'funds' && (has('error_ratio') || has('latency_p99'))) {
    return found('funds-service-errors', `${service} is a funds service and its errors or latency are anomalous`);
  }
  if (has('disk_free')) return found('disk-fill', `free disk on ${service} is falling towards its limit`);
  if (has('consumer_lag')) return found('consumer-lag', `consumer lag on ${service} is growing`);
  if (root?.kind === 'datastore') {
    if (has('datastore_connections', 'up')) {
      return found('datastore-saturation', `connections on ${service} are near their maximum`);
    }
    if (has('datastore_latency_p99', 'up')) {
      return found('cache-latency', `query latency on ${service} is far above normal`);
    }
  }
  if (deploy) {
    const at = new Date(deploy.time).toISOString().slice(11, 16);
    const versions = deploy.version ? ` (${deploy.previousVersion ?? '?'} -> ${deploy.version})` : '';
    evidence.push(
      `${service} was deployed at ${at}${versions}, ${Math.round((onset - deploy.time) / 60_000)} min before the onset`,
    );
    if (has('error_ratio', 'up') || has('latency_p99', 'up')) {
      return found('bad-deploy', 'errors or latency rose right after the deploy');
    }
  }
  if (has('memory_utilisation', 'up') || has('pod_restarts', 'up')) {
    return found('memory-leak', `memory or restarts of ${service} are climbing`);
  }
  if (has('request_rate', 'up')) {
    return found('traffic-surge', `requests to ${service} are far above their usual level for this time of day`);
  }
  if (has('error_ratio', 'up'))
    return found('dependency-outage', `${service} is failing requests without a recent change`);
  if (has('latency_p99', 'up')) {
    // Slow of its own making: no change, no surge, no failing requests, no memory growth behind it.
    return MATCHING_ENGINE.test(service)
      ? found('engine-latency', `the matching engine ${service} is slow without a recent change or a surge`)
      : found('service-latency', `${service} is slow without a recent change, a surge or failing requests`);
  }
  return found('unknown', 'no rule matched the evidence');
}
