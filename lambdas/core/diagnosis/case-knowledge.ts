// What the incident workflow asks of the knowledge base: past cases and runbooks like this incident (a prior
// for the rules and context for the model), and remembering a case when it closes.

import { FAULT_KINDS, type FaultKind } from '../cognition/classify';
import type { Incident } from '../cognition/incident';
import type { IncidentCase } from '../decision/incident-case';
import type { SimilarCase } from './analyzers';
import { caseDocument, incidentQueryText, type KnowledgeBase, retrieveSimilar, storeDocuments } from './knowledge';

export interface RunbookRef {
  readonly id: string;
  readonly title: string;
  readonly similarity: number;
}

export interface CaseKnowledge {
  /**
   * Past cases like the incident (any root cause), and runbooks; with the diagnosed root cause, runbooks
   * written for that fault kind come first and runbooks for other services are left out.
   */
  similar(
    incident: Incident,
    diagnosed?: { readonly service: string; readonly kind: FaultKind },
  ): Promise<{ cases: SimilarCase[]; runbooks: RunbookRef[] }>;
  remember(c: IncidentCase): Promise<void>;
}

const isFaultKind = (value: string | undefined): value is FaultKind =>
  value !== undefined && (FAULT_KINDS as readonly string[]).includes(value);

export function caseKnowledge(
  kb: KnowledgeBase,
  settings: { readonly topK: number; readonly minSimilarity: number },
): CaseKnowledge {
  // Diagnose asks twice for one incident (past cases before the rules, runbooks after): embed its text once.
  let last: { text: string; vector: Float32Array } | undefined;
  const embedder: KnowledgeBase['embedder'] = {
    name: kb.embedder.name,
    dimensions: kb.embedder.dimensions,
    async embed(texts) {
      if (texts.length === 1 && last?.text === texts[0]) return [last.vector];
      const vectors = await kb.embedder.embed(texts);
      if (texts.length === 1 && vectors[0]) last = { text: texts[0], vector: vectors[0] };
      return vectors;
    },
  };
  return {
    async similar(incident, diagnosed) {
      const found = await retrieveSimilar(incidentQueryText(incident), {
        store: kb.store,
        embedder,
        topK: settings.topK,
        minSimilarity: settings.minSimilarity,
        ...(diagnosed ? { faultKind: diagnosed.kind } : {}),
      });
      const runbookApplies = (service: string | undefined) => !diagnosed || !service || service === diagnosed.service;
      const cases = found.cases
        // A case is stored when its workflow closes, after its diagnosis: an incident meets its own id here only
        // when the same incident is replayed again, and then the earlier run is exactly the precedent wanted.
        .filter((hit) => hit.doc.service !== undefined)
        .map(
          (hit): SimilarCase => ({
            incidentId: hit.doc.id.replace(/^case:/, ''),
            service: hit.doc.service as string,
            kind: isFaultKind(hit.doc.faultKind) ? hit.doc.faultKind : 'unknown',
            similarity: Math.round(hit.score * 1000) / 1000,
            outcome: hit.doc.outcome ?? 'unknown',
            actions: [...(hit.doc.actions ?? [])],
            summary: hit.doc.title,
          }),
        );
      const runbooks = found.runbooks
        .filter((hit) => runbookApplies(hit.doc.service))
        .map((hit) => ({
          id: hit.doc.id,
          title: hit.doc.title,
          similarity: Math.round(hit.score * 1000) / 1000,
        }));
      return { cases, runbooks };
    },
    async remember(c) {
      await storeDocuments([caseDocument(c)], kb);
    },
  };
}
