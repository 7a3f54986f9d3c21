// Guardrails no workflow path can skip: the iron rule (nothing touching money or a funds service is ever
// executed), the configured deny-list, and the per-resource rate limit. They run in CheckGuardrails and
// again at the point of execution.

import type { Criticality } from '../config/schema';
import { formatTarget, isCatalogAction, MONEY_OPERATION, type PlannedAction } from './types';

export interface DenyRule {
  readonly service?: string;
  readonly namespace?: string;
  readonly action?: string;
  readonly reason: string;
}

/**
 * A deny-list that holds in every environment, whatever the config adds: the matching engine's core pods are
 * never restarted by automation. An engine restart is still planned and assessed (a HIGH action), so the page
 * and the report say what the people with the quorum should consider; the agent never carries it out itself.
 */
export const DEFAULT_DENY_LIST: readonly DenyRule[] = (
  ['restart-pod', 'rollout-restart', 'engine-restart'] as const
).map((action) => ({
  service: 'matching-engine',
  action,
  reason: 'matching-engine core pods are never restarted by automation',
}));

export interface GuardrailContext {
  readonly criticalityOf: (service: string) => Criticality | undefined;
  readonly denyList: readonly DenyRule[];
}

export type RefusalRule =
  | 'iron-rule'
  | 'not-in-catalog'
  | 'deny-list'
  | 'rate-limit'
  | 'no-snapshot'
  | 'unknown-service';

export interface Refusal {
  readonly action: string;
  readonly target: string;
  readonly rule: RefusalRule;
  readonly detail: string;
}

export interface GuardrailVerdict {
  readonly allowed: PlannedAction[];
  readonly refused: Refusal[];
  /** True when the iron rule fired: the whole incident is diagnosis only. */
  readonly moneyInvolved: boolean;
}

/** The iron rule on its own, for every layer that executes: true when the action must never run. */
export function touchesMoney(
  step: Pick<PlannedAction, 'action' | 'service' | 'target'>,
  criticality: Criticality | undefined,
): boolean {
  return (
    criticality === 'funds' ||
    MONEY_OPERATION.test(step.action) ||
    MONEY_OPERATION.test(step.target.name) ||
    MONEY_OPERATION.test(step.service)
  );
}

export function checkGuardrails(plan: readonly PlannedAction[], context: GuardrailContext): GuardrailVerdict {
  const allowed: PlannedAction[] = [];
  const refused: Refusal[] = [];
  let moneyInvolved = false;
  for (const step of plan) {
    const target = formatTarget(step.target);
    const criticality = context.criticalityOf(step.service);
    if (touchesMoney(step, criticality)) {
      moneyInvolved = true;
      refused.push({
        action: step.action,
        target,
        rule: 'iron-rule',
        detail:
          criticality === 'funds'
            ? `${step.service} is a funds service`
            : `${step.action} on ${target} moves or freezes money`,
      });
      continue;
    }
    if (!isCatalogAction(step.action)) {
      refused.push({
        action: step.action,
        target,
        rule: 'not-in-catalog',
        detail: `"${step.action}" is not a catalog action`,
      });
      continue;
    }
    if (criticality === undefined) {
      refused.push({
        action: step.action,
        target,
        rule: 'unknown-service',
        detail: `${step.service} is not in the topology`,
      });
      continue;
    }
    const denied = context.denyList.find(
      (rule) =>
        (rule.service === undefined || rule.service === step.service) &&
        (rule.namespace === undefined || rule.namespace === step.target.namespace) &&
        (rule.action === undefined || rule.action === step.action),
    );
    if (denied) {
      refused.push({ action: step.action, target, rule: 'deny-list', detail: denied.reason });
      continue;
    }
    allowed.push(step);
  }
  // Money anywhere in the plan blocks the whole plan: a partial fix next to a money problem is not ours to make.
  if (moneyInvolved) {
    for (const step of allowed) {
      refused.push({
        action: step.action,
        target: formatTarget(step.target),
        rule: 'iron-rule',
        detail: 'the plan also involves money: diagnosis only',
      });
    }
    return { allowed: [], refused, moneyInvolved };
  }
  return { allowed, refused, moneyInvolved };
}

/** The built-in deny-list followed by the configured one. */
export const denyListFrom = (configured: readonly DenyRule[] = []): DenyRule[] => [...DEFAULT_DENY_LIST, ...configured];

/** True when `timeMs` falls in one of the configured change freezes. */
export const inChangeFreeze =
  (freezes: readonly { readonly start: string; readonly end: string }[] = []) =>
  (timeMs: number): boolean =>
    freezes.some((f) => timeMs >= Date.parse(f.start) && timeMs < Date.parse(f.end));
