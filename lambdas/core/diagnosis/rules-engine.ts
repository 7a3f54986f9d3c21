// The rule-based root-cause engine: runs the analyzers, combines their findings with the topology ranking into
// ranked candidates, and gives each a fault kind, a score in [0, 1] and a time-ordered evidence chain an engineer
// can check in a minute. Pure and deterministic: the same context always gives the same diagnosis.
//
// How a candidate's score is made:
//   support = 1 - Π(1 - weight) over the candidate's findings      (independent facts; each can only add)
//   score   = 0.5 · topology score + 0.5 · support                  (both in [0, 1], so the score is too)
// The topology ranking (rank.ts) is where the fault sits in the call graph and when each service went wrong; the
// analyzers add what the deploys, logs, Kubernetes and past cases say. Neither half alone can reach 1, so strong
// evidence from the analyzers can overturn a misleading onset order, and a clear onset order needs corroboration
// to become a confident diagnosis.

import { classifyFault, type FaultKind } from '../cognition/classify';
import { type Candidate, rankByTopology } from '../cognition/rank';
import type { ServiceSpec } from '../config/schema';
import {
  ANALYZERS,
  type Analyzer,
  compareText,
  type DiagnosisContext,
  EVIDENCE_SOURCES,
  type EvidenceItem,
  type EvidenceSource,
  type Finding,
  runAnalyzers,
} from './analyzers';

export interface RankedCandidate extends Candidate {
  readonly kind: FaultKind;
  /** The evidence behind the candidate, oldest first; facts without a time (topology, past cases) last. */
  readonly chain: EvidenceItem[];
  /** Analyzers whose findings support the candidate, strongest first. */
  readonly analyzers: string[];
}

export interface RuleDiagnosis {
  /** Best first; ties by service name. */
  readonly candidates: RankedCandidate[];
  /** Every analyzer finding, as runAnalyzers orders them. */
  readonly findings: Finding[];
  readonly rootCause: { readonly service: string; readonly kind: FaultKind; readonly confidence: number };
  /** The root cause's chain as text, then why this kind and why this confidence. */
  readonly evidence: string[];
}

export class DiagnosisError extends Error {
  override readonly name = 'DiagnosisError';
}

/** Share of the score that comes from the topology ranking; the rest from the analyzers' support. */
export const TOPOLOGY_SHARE = 0.5;
/** A lead this large over the runner-up leaves no doubt about the order; smaller leads lower the confidence. */
const CLEAR_MARGIN = 0.15;
/** Confidence never claims certainty: the rules see symptoms, not the code. */
const MAX_CONFIDENCE = 0.95;
/** Each independent kind of evidence that agrees adds this much confidence. */
const PER_AGREEING_SOURCE = 0.07;
/** As diagnose() today: a root cause without a kind is worth less, since no playbook can act on it. */
const UNKNOWN_KIND_FACTOR = 0.6;
const KNOWLEDGE = 'knowledge-prior';

/** Evidence that comes from separate systems, so agreement between them is not the same fact counted twice. */
const INDEPENDENT_SOURCES: readonly EvidenceSource[] = ['metrics', 'deploys', 'logs', 'kubernetes'];

/**
 * The order in which the classification rules test the kinds: the tie-break when two kinds have equal support.
 * funds-service-errors comes first because a fault of a service that moves money must go to the diagnosis-only
 * path whatever caused it (see classifyFault).
 */
const KIND_PRECEDENCE: readonly FaultKind[] = [
  'funds-service-errors',
  'disk-fill',
  'consumer-lag',
  'datastore-saturation',
  'cache-latency',
  'bad-deploy',
  'memory-leak',
  'traffic-surge',
  'dependency-outage',
  'engine-latency',
  'service-latency',
  'unknown',
];

const clamp01 = (x: number): number => Math.min(1, Math.max(0, x));
const round2 = (x: number): number => Math.round(x * 100) / 100;
const round3 = (x: number): number => Math.round(x * 1000) / 1000;
const noisyOr = (weights: readonly number[]): number => 1 - weights.reduce((rest, w) => rest * (1 - clamp01(w)), 1);

interface KindChoice {
  readonly kind: FaultKind;
  /** Why, as one line of evidence. */
  readonly because: string;
}

/** The kind the candidate's findings support most (knowledge excluded: past cases never decide on their own). */
function kindFromFindings(own: readonly Finding[]): KindChoice | undefined {
  const carrying = own.filter((f) => f.kind !== undefined && f.analyzer !== KNOWLEDGE && f.weight > 0);
  const funds = carrying.find((f) => f.kind === 'funds-service-errors');
  if (funds) {
    return {
      kind: 'funds-service-errors',
      because: `${funds.service} moves money: its faults are funds-service-errors, diagnosis only (funds-service)`,
    };
  }
  const support = new Map<FaultKind, Finding[]>();
  for (const f of carrying) support.set(f.kind!, [...(support.get(f.kind!) ?? []), f]);
  const ranked = [...support.entries()]
    .map(([kind, findings]) => ({ kind, findings, strength: round3(noisyOr(findings.map((f) => f.weight))) }))
    .sort((a, b) => b.strength - a.strength || KIND_PRECEDENCE.indexOf(a.kind) - KIND_PRECEDENCE.indexOf(b.kind));
  const best = ranked[0];
  if (!best) return undefined;
  const from = best.findings.map((f) => `${f.analyzer} ${f.weight.toFixed(2)}`).join(', ');
  const against = ranked
    .slice(1)
    .map((r) => `${r.kind} ${r.strength.toFixed(2)}`)
    .join(', ');
  return {
    kind: best.kind,
    because: `supported ${best.strength.toFixed(2)} by ${from}${against ? `; over ${against}` : ''}`,
  };
}

/** A stand-in spec for a service the topology does not know, so classifyFault judges that service and no other. */
const unknownSpec = (name: string): ServiceSpec => ({
  name,
  kind: 'service',
  criticality: 'standard',
  namespace: 'default',
  dependsOn: [],
});

const SOURCE_ORDER = new Map<EvidenceSource, number>(EVIDENCE_SOURCES.map((source, i) => [source, i]));

/** Facts with a time first and oldest first; then by source and text, so equal inputs give equal chains. */
function orderChain(items: readonly EvidenceItem[]): EvidenceItem[] {
  const seen = new Set<string>();
  const unique = items.filter((item) => {
    const key = `${item.source}\u0000${item.text}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
  return unique.sort((a, b) => {
    if (a.at !== undefined && b.at === undefined) return -1;
    if (a.at === undefined && b.at !== undefined) return 1;
    const byTime = a.at !== undefined && b.at !== undefined ? Date.parse(a.at) - Date.parse(b.at) : 0;
    return byTime || SOURCE_ORDER.get(a.source)! - SOURCE_ORDER.get(b.source)! || compareText(a.text, b.text);
  });
}

export const renderEvidence = (item: EvidenceItem): string => `${item.source}: ${item.text}`;

interface Scored {
  readonly service: string;
  readonly topology: Candidate | undefined;
  readonly own: Finding[];
  readonly score: number;
}

export function diagnoseByRules(input: DiagnosisContext, analyzers: readonly Analyzer[] = ANALYZERS): RuleDiagnosis {
  // The topology ranking breaks ties between equally strong signals by their order in the incident, which is the
  // order the detector raised them in: a canonical order makes the diagnosis a function of the facts alone.
  const signals = [...input.incident.signals].sort(
    (a, b) => compareText(a.key, b.key) || compareText(a.firstAnomalousAt, b.firstAnomalousAt),
  );
  const ctx: DiagnosisContext = { ...input, incident: { ...input.incident, signals } };
  const topology = rankByTopology(ctx.incident, ctx.graph);
  if (topology.length === 0) {
    throw new DiagnosisError(`incident ${ctx.incident.id} has no anomalous service to diagnose`);
  }
  const findings = runAnalyzers(ctx, analyzers);
  const anomalous = topology.map((c) => c.service);

  // A service without anomalous metrics of its own (its pods crash, so it exports nothing) can still be the root
  // cause, but only when it is in the topology and related to the incident. Past cases alone never add one.
  const names = new Set(anomalous);
  for (const f of findings) {
    if (names.has(f.service) || f.analyzer === KNOWLEDGE || f.weight <= 0 || !ctx.graph.get(f.service)) continue;
    if (anomalous.some((service) => ctx.graph.related(service, f.service))) names.add(f.service);
  }

  const scored: Scored[] = [...names]
    .map((service) => {
      const base = topology.find((c) => c.service === service);
      const own = findings.filter((f) => f.service === service && f.weight > 0);
      const support = noisyOr(own.map((f) => f.weight));
      const score = round3(clamp01(TOPOLOGY_SHARE * (base?.score ?? 0) + (1 - TOPOLOGY_SHARE) * support));
      return { service, topology: base, own, score };
    })
    .sort((a, b) => b.score - a.score || compareText(a.service, b.service));

  const [top, second] = scored;
  const kinds = new Map<string, KindChoice>();
  for (const candidate of scored) {
    const choice = kindFromFindings(candidate.own);
    if (choice) kinds.set(candidate.service, choice);
  }
  if (!kinds.has(top.service)) {
    const classification = classifyFault(
      ctx.incident,
      ctx.graph.get(top.service) ?? unknownSpec(top.service),
      ctx.deploys,
    );
    if (classification.kind !== 'unknown') {
      kinds.set(top.service, {
        kind: classification.kind,
        because: `by the classification rules: ${classification.evidence.join('; ')}`,
      });
    }
  }
  // Past cases name a kind only where nothing else did.
  for (const candidate of scored) {
    if (kinds.has(candidate.service)) continue;
    const prior = candidate.own.find((f) => f.analyzer === KNOWLEDGE && f.kind !== undefined);
    if (prior) kinds.set(candidate.service, { kind: prior.kind!, because: 'only from a similar past case' });
  }

  const candidates: RankedCandidate[] = scored.map((candidate) => {
    const chain = orderChain([
      ...candidate.own.flatMap((f) => f.evidence),
      candidate.topology
        ? {
            source: 'topology',
            text: `topology score ${candidate.topology.score.toFixed(2)}: ${candidate.topology.evidence.join('; ')}`,
          }
        : {
            source: 'topology',
            text: `${candidate.service} has no anomalous metric of its own; it is related to ${anomalous
              .filter((service) => ctx.graph.related(service, candidate.service))
              .sort(compareText)
              .join(', ')}`,
          },
    ]);
    const supporting = [...candidate.own].sort((a, b) => b.weight - a.weight || compareText(a.analyzer, b.analyzer));
    return {
      service: candidate.service,
      kind: kinds.get(candidate.service)?.kind ?? 'unknown',
      score: candidate.score,
      evidence: chain.map(renderEvidence),
      chain,
      analyzers: [...new Set(supporting.map((f) => f.analyzer))],
    };
  });

  const root = candidates[0];
  const kind = root.kind;
  // Findings that point at the root with no kind, or with its kind, agree with the diagnosis. A funds service's
  // kind is a routing decision, not a cause, so everything pointing at that service agrees with it.
  const agreeing = top.own.filter(
    (f) => f.analyzer !== KNOWLEDGE && (f.kind === undefined || f.kind === kind || kind === 'funds-service-errors'),
  );
  const sources = INDEPENDENT_SOURCES.filter((source) =>
    agreeing.some((f) => f.evidence.some((item) => item.source === source)),
  );
  const margin = second ? top.score - second.score : top.score;
  const separation = second ? 0.5 + 0.5 * Math.min(1, margin / CLEAR_MARGIN) : 1;
  const confidence = round2(
    Math.min(MAX_CONFIDENCE, 0.25 + 0.5 * top.score + PER_AGREEING_SOURCE * sources.length) *
      separation *
      (kind === 'unknown' ? UNKNOWN_KIND_FACTOR : 1),
  );

  const kindLine = `kind ${kind}: ${kinds.get(root.service)?.because ?? 'no analyzer or classification rule matched the evidence'}`;
  const confidenceLine =
    `confidence ${confidence.toFixed(2)}: ${sources.length} independent source${sources.length === 1 ? ' agrees' : 's agree'}` +
    `${sources.length > 0 ? ` (${sources.join(', ')})` : ''}; ` +
    (second
      ? `next candidate ${second.service} scores ${second.score.toFixed(2)} against ${top.score.toFixed(2)}`
      : 'no other candidate');

  return {
    candidates,
    findings,
    rootCause: { service: root.service, kind, confidence },
    evidence: [...root.evidence, kindLine, confidenceLine],
  };
}
