// PlanRemediation: turns a diagnosis into catalog actions with validated parameters, from the playbooks in
// config/playbooks.yaml. Deterministic: the same diagnosis gives the same plan; nothing free-form ever
// reaches a cluster.

import { z } from 'zod';
import { FAULT_KINDS, type FaultKind } from '../cognition/classify';
import type { ServiceSpec } from '../config/schema';
import type { RecoveryPlan } from './incident-case';
import { ACTION_CATALOG, type ActionName, type PlannedAction } from './types';

const catalogAction = z.enum(Object.keys(ACTION_CATALOG) as [ActionName, ...ActionName[]], {
  error: (issue) =>
    `"${String(issue.input)}" is not a catalog action (${Object.keys(ACTION_CATALOG).join(', ')}); money operations can never be added`,
});

export const playbookSchema = z
  .object({
    fault: z.enum(FAULT_KINDS),
    actions: z
      .array(
        z
          .object({
            action: catalogAction,
            params: z.record(z.string(), z.union([z.string(), z.number(), z.boolean()])).default({}),
          })
          .strict(),
      )
      .min(1, 'a playbook needs at least one action; leave the fault out for diagnosis only'),
    /** The catalog signals whose return to normal proves recovery, and how long to wait for it. */
    recovery: z
      .object({ signals: z.array(z.string().min(1)).min(1), waitMinutes: z.number().int().min(1).max(120) })
      .strict(),
    /** How to undo when recovery does not come: put the snapshot back, or nothing (a restart has no undo). */
    undo: z.enum(['restore-snapshot', 'none']).default('restore-snapshot'),
  })
  .strict();
export type Playbook = z.infer<typeof playbookSchema>;

export const playbooksSchema = z
  .object({ playbooks: z.array(playbookSchema) })
  .strict()
  .superRefine((file, ctx) => {
    const seen = new Set<string>();
    file.playbooks.forEach((playbook, index) => {
      if (seen.has(playbook.fault)) {
        ctx.addIssue({
          code: 'custom',
          path: ['playbooks', index, 'fault'],
          message: `second playbook for "${playbook.fault}"`,
        });
      }
      seen.add(playbook.fault);
    });
  });
export type Playbooks = z.infer<typeof playbooksSchema>;

export function planRemediation(kind: FaultKind, root: ServiceSpec, playbooks: Playbooks): PlannedAction[] {
  const playbook = playbooks.playbooks.find((p) => p.fault === kind);
  return (playbook?.actions ?? []).map((step) => planStep(step.action, step.params, kind, root));
}

/** The playbook's recovery proof and undo policy for a fault kind, if it has a playbook. */
export function recoveryPlanFor(kind: FaultKind, playbooks: Playbooks): RecoveryPlan | undefined {
  const playbook = playbooks.playbooks.find((p) => p.fault === kind);
  if (!playbook) return undefined;
  return { signals: [...playbook.recovery.signals], waitMinutes: playbook.recovery.waitMinutes, undo: playbook.undo };
}

function planStep(
  action: ActionName,
  params: Readonly<Record<string, string | number | boolean>>,
  kind: FaultKind,
  root: ServiceSpec,
): PlannedAction {
  const deployment = root.deployment ?? root.name;
  const reason = `${kind} diagnosed on ${root.name}`;
  const on = (targetKind: PlannedAction['target']['kind'], name: string) => ({
    namespace: root.namespace,
    kind: targetKind,
    name,
  });
  switch (action) {
    case 'scale-up': {
      const replicas = root.replicas ?? 2;
      const factor = Number(params.factor ?? 2);
      const maxAdded = Number(params.maxAddedReplicas ?? 10);
      const toReplicas = Math.max(replicas + 1, Math.min(Math.ceil(replicas * factor), replicas + maxAdded));
      return {
        action,
        service: root.name,
        target: on('deployment', deployment),
        params: { fromReplicas: replicas, toReplicas, maxReplicas: replicas + maxAdded },
        reason,
      };
    }
    case 'db-failover':
    case 'cache-flush':
      return { action, service: root.name, target: on('datastore', root.name), params: { ...params }, reason };
    case 'rate-limit':
      return { action, service: root.name, target: on('edge', root.name), params: { ...params }, reason };
    default:
      return { action, service: root.name, target: on('deployment', deployment), params: { ...params }, reason };
  }
}
