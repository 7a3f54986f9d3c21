// Dispatches the incident workflow's decision steps (one Lambda serves Diagnose, PlanRemediation, AssessRisk,
// CheckGuardrails and Close; the state name travels in the payload) to the case functions.

import type { DecisionStore } from '../action/ports';
import type { IncidentStore } from '../ports';
import {
  assessStep,
  CaseError,
  type DecideDeps,
  diagnose,
  guardrailStep,
  type IncidentCase,
  outcomeOf,
  planStep,
} from './incident-case';
import { outcomeNote } from './outcome-note';

export const DECIDE_STEPS = ['Diagnose', 'PlanRemediation', 'AssessRisk', 'CheckGuardrails', 'Close'] as const;
export type DecideStep = (typeof DECIDE_STEPS)[number];

export interface DecideStepDeps extends DecideDeps {
  readonly incidents: IncidentStore;
  readonly decisions: DecisionStore;
}

/** The workflow starts with only the incident id; Diagnose reads the incident itself. */
export type CaseInput = Omit<IncidentCase, 'incident'> & { readonly incident?: IncidentCase['incident'] };

export async function decideStep(step: string, input: CaseInput, deps: DecideStepDeps): Promise<IncidentCase> {
  if (!input || typeof input.incidentId !== 'string') throw new CaseError('the case has no incidentId');
  let c: IncidentCase;
  if (input.incident) c = input as IncidentCase;
  else {
    const incident = await deps.incidents.get(input.incidentId);
    if (!incident) throw new CaseError(`incident ${input.incidentId} not found`);
    c = { ...input, incident };
  }
  switch (step as DecideStep) {
    case 'Diagnose':
      return diagnose(c, deps);
    case 'PlanRemediation':
      return planStep(c, deps);
    case 'AssessRisk':
      return assessStep(c, deps);
    case 'CheckGuardrails':
      return guardrailStep(c, deps);
    case 'Close': {
      const outcome = outcomeOf(c);
      // The one line the approval message is closed with.
      let closed: IncidentCase = { ...c, outcome, outcomeNote: outcomeNote({ ...c, outcome }) };
      if (deps.knowledge) {
        // A closed case becomes a precedent; failing to store it must not fail the close.
        try {
          await deps.knowledge.remember(closed);
          closed = { ...closed, remembered: true };
        } catch (error) {
          closed = { ...closed, remembered: false, rememberError: (error as Error).message };
        }
      }
      await deps.decisions.record(closed);
      return closed;
    }
    default:
      throw new CaseError(`unknown decision step "${step}" (expected one of ${DECIDE_STEPS.join(', ')})`);
  }
}
