// What Diagnose gets from the knowledge base: past cases (mapped to the analyzers' SimilarCase) and runbooks, with
// the incident's text embedded once for its two questions.

import { EmbeddedKnowledgeStore } from '../../lambdas/adapters/knowledge/embedded-store';
import type { Incident } from '../../lambdas/core/cognition/incident';
import { caseKnowledge } from '../../lambdas/core/diagnosis/case-knowledge';
import { HashedEmbedder } from '../../lambdas/core/diagnosis/hashed-embedder';
import type { Embedder } from '../../lambdas/core/diagnosis/knowledge';

const opened = '2026-11-04T03:07:00Z';
const incident: Incident = {
  id: 'inc-20261104T0307-order-api',
  status: 'resolved',
  kind: 'anomaly',
  openedAt: opened,
  updatedAt: opened,
  lastAnomalyAt: opened,
  services: ['order-api', 'api-gateway'],
  signals: [
    {
      key: 'error_ratio{order-api}',
      signalId: 'error_ratio',
      entity: 'order-api',
      firstAnomalousAt: '2026-11-04T03:05:00Z',
      lastRaisedAt: opened,
      peakZ: 40,
      peakScore: 1,
      valueAtPeak: 0.09,
      expectedAtPeak: 0.002,
      hardLimitBreached: true,
    },
  ],
  version: 1,
};

describe('caseKnowledge', () => {
  it('remembers a closed case, finds it for a like incident, and embeds one incident once for both questions', async () => {
    const hashed = new HashedEmbedder();
    let embedCalls = 0;
    const counting: Embedder = {
      name: hashed.name,
      dimensions: hashed.dimensions,
      embed: (texts) => {
        embedCalls++;
        return hashed.embed(texts);
      },
    };
    const store = new EmbeddedKnowledgeStore({ persistence: { memory: true }, vectorSpace: hashed.name });
    const knowledge = caseKnowledge({ embedder: counting, store }, { topK: 3, minSimilarity: 0.3 });
    await knowledge.remember({
      incidentId: 'inc-20261020T1100-order-api',
      incident: { ...incident, id: 'inc-20261020T1100-order-api' },
      diagnosis: {
        rootCause: { service: 'order-api', kind: 'bad-deploy', confidence: 0.8 },
        candidates: [],
        evidence: ['order-api deployed v2.4.0 at 10:58'],
        method: 'rules',
      },
      outcome: 'remediated',
    });
    embedCalls = 0;
    const first = await knowledge.similar(incident);
    const second = await knowledge.similar(incident, { service: 'order-api', kind: 'bad-deploy' });
    expect(embedCalls).toBe(1);
    expect(first.cases).toEqual([
      expect.objectContaining({
        incidentId: 'inc-20261020T1100-order-api',
        service: 'order-api',
        kind: 'bad-deploy',
        outcome: 'remediated',
      }),
    ]);
    expect(second.cases).toEqual(first.cases);
  });
});
