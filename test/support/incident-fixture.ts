// An open incident record for tests that need one but care little about its signals.

import type { Incident } from '../../lambdas/core/cognition/incident';

/** An incident opened at 03:07 on 4 Nov 2026 on `services` (the first names it), version 1, no signals. */
export function openIncident(services: readonly string[], overrides: Partial<Incident> = {}): Incident {
  const id = `inc-20261104T0307-${services[0] ?? 'unknown'}`;
  return {
    id,
    status: 'open',
    kind: 'anomaly',
    openedAt: '2026-11-04T03:07:00Z',
    updatedAt: '2026-11-04T03:07:00Z',
    lastAnomalyAt: '2026-11-04T03:07:00Z',
    services: [...services],
    signals: [],
    version: 1,
    ...overrides,
  };
}
