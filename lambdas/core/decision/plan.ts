// PlanRemediation: turns a diagnosis into catalog actions with validated parameters. Deterministic: the same
// diagnosis gives the same plan; nothing free-form ever reaches a cluster.

import type { FaultKind } from '../cognition/classify';
import type { ServiceSpec } from '../config/schema';
import type { ActionName, PlannedAction } from './types';

/** What each fault kind calls for; an empty list means diagnosis only (a human acts). */
export const DEFAULT_PLAYBOOK: Readonly<Record<FaultKind, readonly ActionName[]>> = {
  'bad-deploy': ['rollback'],
  'memory-leak': ['rollout-restart'],
  'datastore-saturation': ['db-failover'],
  'cache-latency': ['cache-flush'],
  'traffic-surge': ['scale-up'],
  'consumer-lag': ['scale-up'],
  'disk-fill': [],
  'dependency-outage': [],
  'funds-service-errors': [],
  unknown: [],
};

export function planRemediation(kind: FaultKind, root: ServiceSpec, playbook = DEFAULT_PLAYBOOK): PlannedAction[] {
  return playbook[kind].map((action) => planStep(action, kind, root));
}

function planStep(action: ActionName, kind: FaultKind, root: ServiceSpec): PlannedAction {
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
      return {
        action,
        service: root.name,
        target: on('deployment', deployment),
        params: { fromReplicas: replicas, toReplicas: Math.min(replicas * 2, replicas + 10) },
        reason,
      };
    }
    case 'db-failover':
    case 'cache-flush':
      return { action, service: root.name, target: on('datastore', root.name), params: {}, reason };
    case 'rate-limit':
      return { action, service: root.name, target: on('edge', root.name), params: {}, reason };
    default:
      return { action, service: root.name, target: on('deployment', deployment), params: {}, reason };
  }
}
