// Diagnosis knowledge base: case and runbook documents, the embedding and store ports, and similar-case retrieval.
//
// Closed incidents and runbooks become redacted text documents; the adapters behind the ports (hashed or Titan
// embeddings, embedded or Qdrant store) do the work, so this module stays pure.
//
// A case document says what an engineer would want to know about a similar past incident: which services and
// signals were off and by how much, what the root cause was judged to be, what was done and whether it worked.
// The open incident's query text is built by the same functions, so the two share their wording and their
// embeddings are as close as the incidents themselves.

import { z } from 'zod';
import { redact } from '../action/redact';
import type { Incident, IncidentSignal } from '../cognition/incident';
import { type CaseOutcome, type Diagnosis, type IncidentCase, outcomeOf } from '../decision/incident-case';
import { formatTarget } from '../decision/types';

// ---------------------------------------------------------------------------------------------------------------
// Documents

export type KnowledgeKind = 'case' | 'runbook';

export interface KnowledgeDocument {
  /** `case:<incident id>` or `runbook:<file name>`; upserting the same id replaces the document. */
  readonly id: string;
  readonly kind: KnowledgeKind;
  /** The root-cause service of a case; the service a runbook is about, if it is about one. */
  readonly service?: string;
  /** A FaultKind for cases; what the runbook's front matter says for runbooks. */
  readonly faultKind?: string;
  readonly title: string;
  /** Redacted: documents are stored, and sent to embedding models and to the LLM's context. */
  readonly text: string;
  readonly outcome?: CaseOutcome;
  /** Catalog actions that ran (succeeded or failed) on the case. */
  readonly actions?: string[];
  /** ISO time the case was closed. */
  readonly closedAt?: string;
}

// A Record rather than a list so the compiler insists on every CaseOutcome being here.
const OUTCOMES: Record<CaseOutcome, true> = {
  remediated: true,
  'remediation-failed': true,
  'not-recovered': true,
  'diagnosis-only': true,
  rejected: true,
  'approval-timed-out': true,
  'workflow-failed': true,
};

/** What the stores read back (a file, an S3 object, a Qdrant payload) is checked against this before use. */
export const knowledgeDocumentSchema = z.object({
  id: z.string().min(1),
  kind: z.enum(['case', 'runbook']),
  service: z.string().min(1).optional(),
  faultKind: z.string().min(1).optional(),
  title: z.string(),
  text: z.string(),
  outcome: z.enum(Object.keys(OUTCOMES) as [CaseOutcome, ...CaseOutcome[]]).optional(),
  actions: z.array(z.string()).optional(),
  closedAt: z.string().optional(),
});

// ---------------------------------------------------------------------------------------------------------------
// Ports

export interface Embedder {
  readonly dimensions: number;
  /**
   * Names the vector space (model and size). Vectors from different embedders are not comparable even when their
   * dimensions agree, so the stores keep this name with each vector and only compare vectors of the same space.
   */
  readonly name: string;
  /** One vector per text, in order. A blank text gets the zero vector, which is similar to nothing. */
  embed(texts: string[]): Promise<Float32Array[]>;
}

export interface KnowledgeSearch {
  readonly limit: number;
  readonly service?: string;
  readonly kind?: KnowledgeKind;
  readonly faultKind?: string;
}

export interface ScoredDocument {
  readonly doc: KnowledgeDocument;
  /** Cosine similarity to the query, -1..1. */
  readonly score: number;
}

export interface KnowledgeStore {
  upsert(doc: KnowledgeDocument, vector: Float32Array): Promise<void>;
  /** The most similar documents first, at most `limit`, only those matching the filters. */
  search(vector: Float32Array, options: KnowledgeSearch): Promise<ScoredDocument[]>;
}

/** A store failed; the message names the store (file, object, collection) and the operation. */
export class KnowledgeStoreError extends Error {
  override readonly name = 'KnowledgeStoreError';
}

// ---------------------------------------------------------------------------------------------------------------
// Text

/** Signals per document: the worst ones say what the incident was; a long tail only dilutes the embedding. */
const MAX_SIGNALS = 12;
const MAX_EVIDENCE = 10;
const MAX_LINE_CHARS = 300;

const formatNumber = (x: number): string => (Number.isFinite(x) ? Number(x.toPrecision(3)).toString() : 'n/a');
/** One line, bounded: a value with line breaks in it (a log excerpt as evidence) cannot start a line of its own. */
function clip(line: string): string {
  const flat = line.replace(/\s*[\r\n]+\s*/g, ' ');
  return flat.length <= MAX_LINE_CHARS ? flat : `${flat.slice(0, MAX_LINE_CHARS - 1)}…`;
}

function signalLine(s: IncidentSignal): string {
  if (s.predictedBreachAt !== undefined) {
    const limit = s.limit === undefined ? '' : ` limit ${formatNumber(s.limit)}`;
    return `- ${s.entity} ${s.signalId} forecast to breach${limit}, now ${formatNumber(s.valueAtPeak)}`;
  }
  const direction = s.peakZ > 0 ? 'high' : s.peakZ < 0 ? 'low' : 'off';
  const breached = s.hardLimitBreached ? ', hard limit breached' : '';
  return `- ${s.entity} ${s.signalId} ${direction} ${formatNumber(s.valueAtPeak)} vs expected ${formatNumber(s.expectedAtPeak)}${breached}`;
}

/** The lines an open incident and a closed case have in common: services, signals, and the diagnosis if any. */
function incidentLines(incident: Incident, diagnosis: Diagnosis | undefined): string[] {
  const signals = [...incident.signals]
    .sort((a, b) => b.peakScore - a.peakScore || a.key.localeCompare(b.key))
    .slice(0, MAX_SIGNALS);
  const lines = [`Services: ${incident.services.join(', ')}`, 'Signals:', ...signals.map(signalLine)];
  if (diagnosis) {
    lines.push(`Root cause: ${diagnosis.rootCause.service} ${diagnosis.rootCause.kind}`);
    const evidence = diagnosis.evidence.slice(0, MAX_EVIDENCE);
    if (evidence.length > 0) lines.push('Evidence:', ...evidence.map((e) => `- ${e}`));
  }
  return lines;
}

const redactText = (text: string): string => redact(text).text;

/**
 * Heads the part of a case document that says what was done and how it ended. Every line above it starts with a
 * label of ours or with `- `, and clip() keeps values on their line, so this line cannot come from incident data.
 */
const RESOLUTION = 'Resolution:';

/** The text an open incident is looked up by; redacted, as it may be sent to an embedding model. */
export function incidentQueryText(incident: Incident, diagnosis?: Diagnosis): string {
  return redactText(incidentLines(incident, diagnosis).map(clip).join('\n'));
}

/** A closed case as a compact, redacted document. */
export function caseDocument(c: IncidentCase): KnowledgeDocument {
  // The outcome the workflow recorded; derived from the case's parts for cases closed before it recorded one.
  const outcome = c.outcome ?? outcomeOf(c);
  const root = c.diagnosis?.rootCause;
  const service = root?.service ?? c.incident.services[0];
  const situation = incidentLines(c.incident, c.diagnosis);

  const resolution: string[] = [];
  const executed = (c.execution ?? []).filter((e) => e.result !== 'refused');
  if (c.execution && c.execution.length > 0) {
    resolution.push(
      'Actions:',
      ...c.execution.map((e) => `- ${e.action} ${e.target}: ${e.result}${e.dryRun ? ' (dry run)' : ''}`),
    );
  } else if (c.plan && c.plan.length > 0) {
    resolution.push('Planned, not run:', ...c.plan.map((p) => `- ${p.action} ${formatTarget(p.target)}`));
  }
  const refused = c.guardrails?.refused ?? [];
  if (refused.length > 0) resolution.push(`Refused by guardrails: ${refused.length}`);
  if (c.verification) {
    resolution.push(
      `Verification: ${c.verification.status}`,
      ...c.verification.detail.slice(0, 5).map((d) => `- ${d}`),
    );
  }
  const undone = (c.undo ?? []).filter((u) => u.result !== 'skipped');
  if (undone.length > 0) resolution.push('Undone:', ...undone.map((u) => `- ${u.action} ${u.target}: ${u.result}`));
  if (c.rejection) resolution.push(`Rejected: ${c.rejection.Cause}`);
  resolution.push(`Outcome: ${outcome}`);

  const actions = [...new Set(executed.map((e) => e.action))];
  const closedAt = c.incident.resolvedAt ?? c.verification?.recoveredAt ?? c.verification?.checkedAt;
  return {
    id: `case:${c.incidentId}`,
    kind: 'case',
    ...(service ? { service } : {}),
    ...(root ? { faultKind: root.kind } : {}),
    title: redactText(`${service ?? 'unknown service'} ${root?.kind ?? 'undiagnosed'} (${outcome})`),
    text: redactText([...situation, RESOLUTION, ...resolution].map(clip).join('\n')),
    outcome,
    ...(actions.length > 0 ? { actions } : {}),
    ...(closedAt ? { closedAt } : {}),
  };
}

/**
 * What is embedded for a document. A case is matched on its situation (what was seen and diagnosed), not on what was
 * done about it: an open incident has no resolution yet, so those lines could only dilute the match. A runbook is
 * matched on its title, what its front matter says it is about, and its body.
 */
export function embeddingText(doc: KnowledgeDocument): string {
  if (doc.kind === 'case') {
    const cut = doc.text.indexOf(`\n${RESOLUTION}\n`);
    return cut < 0 ? doc.text : doc.text.slice(0, cut);
  }
  // The fault kind and service are words an incident's text has too ("Root cause: order-api bad-deploy").
  const about = [doc.faultKind, doc.service].filter((x) => x !== undefined).join(' ');
  return about ? `${doc.title}\n${about}\n${doc.text}` : `${doc.title}\n${doc.text}`;
}

// ---------------------------------------------------------------------------------------------------------------
// Indexing and retrieval

export interface KnowledgeBase {
  readonly embedder: Embedder;
  readonly store: KnowledgeStore;
}

/**
 * Upserts in flight at once when storing many documents: a store that persists whole (the embedded one) folds
 * concurrent upserts into one write, and a remote one (Qdrant) is not flooded.
 */
const UPSERT_CONCURRENCY = 8;

/** Embeds the documents in one batch and upserts them, each replacing any earlier version with the same id. */
export async function storeDocuments(docs: readonly KnowledgeDocument[], kb: KnowledgeBase): Promise<void> {
  if (docs.length === 0) return;
  const vectors = await kb.embedder.embed(docs.map(embeddingText));
  if (vectors.length !== docs.length) {
    throw new Error(`embedder ${kb.embedder.name} returned ${vectors.length} vectors for ${docs.length} texts`);
  }
  for (let start = 0; start < docs.length; start += UPSERT_CONCURRENCY) {
    const batch = docs.slice(start, start + UPSERT_CONCURRENCY);
    await Promise.all(batch.map((doc, i) => kb.store.upsert(doc, vectors[start + i])));
  }
}

export interface RetrieveOptions extends KnowledgeBase {
  /** Per kind: up to topK cases and up to topK runbooks. */
  readonly topK: number;
  readonly minSimilarity: number;
  /** Only past cases whose root cause was this service, and no runbook written for another service. */
  readonly service?: string;
  /** The diagnosed fault kind: runbooks written for it are offered first, whatever their similarity. */
  readonly faultKind?: string;
}

export interface SimilarKnowledge {
  readonly cases: ScoredDocument[];
  readonly runbooks: ScoredDocument[];
}

const byScore = (a: ScoredDocument, b: ScoredDocument): number => b.score - a.score || a.doc.id.localeCompare(b.doc.id);

/**
 * Past cases and runbooks most similar to an incident's query text, best first, none below minSimilarity, except
 * that runbooks written for the diagnosed fault kind come first whatever their score. Their author said they apply,
 * which says more than word overlap; and prose runbooks share few words with an incident's structured text, so
 * with hashed embeddings they would seldom reach a threshold set for comparing incidents with incidents.
 */
export async function retrieveSimilar(incidentText: string, options: RetrieveOptions): Promise<SimilarKnowledge> {
  const { store, topK, minSimilarity, service, faultKind } = options;
  const [vector] = await options.embedder.embed([incidentText]);
  if (!vector?.some((x) => x !== 0)) return { cases: [], runbooks: [] };
  const similar = (found: ScoredDocument[]) => found.filter((hit) => hit.score >= minSimilarity).sort(byScore);
  const [cases, forFault, runbooks] = await Promise.all([
    store.search(vector, { limit: topK, kind: 'case', ...(service ? { service } : {}) }),
    // Room for runbooks of other services, which are dropped below.
    faultKind ? store.search(vector, { limit: topK * 4, kind: 'runbook', faultKind }) : Promise.resolve([]),
    store.search(vector, { limit: topK, kind: 'runbook' }),
  ]);
  const applies = (hit: ScoredDocument) => !service || !hit.doc.service || hit.doc.service === service;
  const first = forFault.filter(applies).sort(byScore);
  const rest = similar(runbooks).filter((hit) => applies(hit) && !first.some((f) => f.doc.id === hit.doc.id));
  return { cases: similar(cases).slice(0, topK), runbooks: [...first, ...rest].slice(0, topK) };
}

/** Cosine similarity; 0 when either vector is all zeros, so an empty text matches nothing. */
export function cosine(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) throw new Error(`cannot compare vectors of ${a.length} and ${b.length} dimensions`);
  let dot = 0;
  let na = 0;
  let nb = 0;
  for (let i = 0; i < a.length; i++) {
    dot += a[i] * b[i];
    na += a[i] * a[i];
    nb += b[i] * b[i];
  }
  return na === 0 || nb === 0 ? 0 : dot / Math.sqrt(na * nb);
}
