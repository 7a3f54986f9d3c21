// A first ranking of an incident's root-cause candidates from onset order and the dependency graph:
// the most downstream anomalous service whose own dependencies look healthy, and whose callers suffer after it.

import type { ServiceGraph } from '../topology';
import type { Incident } from './incident';

export interface Candidate {
  readonly service: string;
  readonly kind: string;
  readonly score: number;
  readonly evidence: string[];
}

export function rankByTopology(incident: Incident, graph: ServiceGraph): Candidate[] {
  const onset = new Map<string, number>();
  for (const signal of incident.signals) {
    const t = Date.parse(signal.firstAnomalousAt);
    onset.set(signal.entity, Math.min(onset.get(signal.entity) ?? t, t));
  }
  const anomalous = [...onset.keys()];
  const earliest = Math.min(...onset.values());
  const candidates = anomalous.map((service) => {
    const evidence: string[] = [];
    let score = 0.3;
    const lagMinutes = (onset.get(service)! - earliest) / 60_000;
    if (lagMinutes === 0) {
      score += 0.25;
      evidence.push('first anomalous service');
    } else {
      score -= Math.min(0.2, 0.05 * lagMinutes);
      evidence.push(`anomalous ${lagMinutes} min after the first`);
    }
    const sickDependencies = anomalous.filter(
      (other) => other !== service && graph.get(service)?.dependsOn.includes(other),
    );
    if (sickDependencies.length === 0) {
      score += 0.2;
      evidence.push('none of its dependencies is anomalous');
    } else {
      score -= 0.15 * sickDependencies.length;
      evidence.push(`depends on anomalous ${sickDependencies.join(', ')}`);
    }
    const sickCallers = graph.callersOf(service).filter((caller) => onset.has(caller));
    if (sickCallers.length > 0) {
      score += Math.min(0.2, 0.1 * sickCallers.length);
      evidence.push(`callers anomalous too: ${sickCallers.join(', ')}`);
    }
    const worst = incident.signals.filter((s) => s.entity === service).sort((a, b) => b.peakScore - a.peakScore)[0];
    if (worst)
      evidence.push(
        `${worst.signalId} peaked at ${formatNumber(worst.valueAtPeak)} (expected ${formatNumber(worst.expectedAtPeak)})`,
      );
    return { service, kind: 'unknown', score: Math.max(0, Math.min(1, score)), evidence };
  });
  return candidates.sort((a, b) => b.score - a.score || a.service.localeCompare(b.service));
}

const formatNumber = (x: number): string => (Number.isFinite(x) ? Number(x.toPrecision(3)).toString() : 'n/a');
