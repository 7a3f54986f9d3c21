// The cluster reader over a replayed scenario: answers event lists from k8s-events.json as the API server would
// have at the replay clock's time, so diagnosis in replay never sees an event before it happened. A scenario
// records no object state, so pods, Deployments and HPAs come only from what the caller passes in.

import type {
  DeploymentState,
  EventQuery,
  HpaState,
  KubeEventRecord,
  KubeRead,
  KubeStateReader,
  PodState,
} from '../../core/cognition/kube-findings';
import { fail, ok } from '../../core/result';
import type { KubeEvent } from './load-scenario';

export interface ScenarioKubeSourceOptions {
  readonly events: readonly KubeEvent[];
  /** The replay clock, epoch ms: the "now" of every answer. */
  readonly clock: () => number;
  /** Object state to serve, e.g. fixtures; a scenario file holds none. */
  readonly objects?: {
    readonly pods?: readonly PodState[];
    readonly deployments?: readonly DeploymentState[];
    readonly hpas?: readonly HpaState[];
  };
}

/** Field selectors the core events API supports, mapped to the record. */
const EVENT_FIELDS: Readonly<Record<string, (e: KubeEventRecord) => string>> = {
  type: (e) => e.type,
  reason: (e) => e.reason,
  'metadata.name': (e) => e.name,
  'metadata.namespace': (e) => e.namespace,
  'involvedObject.kind': (e) => e.involvedObject.kind,
  'involvedObject.name': (e) => e.involvedObject.name,
  'involvedObject.namespace': (e) => e.involvedObject.namespace ?? '',
  source: (e) => e.component ?? '',
  reportingComponent: (e) => e.component ?? '',
};

type Matcher = (e: KubeEventRecord) => boolean;

/** Parses `a=b,c!=d` (also `==`) as the API server does for events; an unknown field is an error. */
export function parseEventFieldSelector(selector: string): { matcher: Matcher } | { error: string } {
  const terms = selector
    .split(',')
    .map((t) => t.trim())
    .filter((t) => t !== '');
  const matchers: Matcher[] = [];
  for (const term of terms) {
    const m = /^([A-Za-z.]+)\s*(!=|==|=)\s*(.*)$/.exec(term);
    if (!m) return { error: `invalid field selector term "${term}"` };
    const [, field, op, value] = m;
    const read = EVENT_FIELDS[field];
    if (!read) return { error: `field label not supported: ${field}` };
    matchers.push(op === '!=' ? (e) => read(e) !== value : (e) => read(e) === value);
  }
  return { matcher: (e) => matchers.every((match) => match(e)) };
}

/**
 * The event as a list at `now` would show it. An event still recurring after `now` is cut at `now`: its latest
 * time becomes `now` and its count the share of occurrences that fell before (spread evenly, at least one),
 * because the file holds only the final, deduplicated state.
 */
export function eventAt(event: KubeEvent, now: number): KubeEventRecord | undefined {
  const first = event.firstTimestamp ?? event.time;
  if (first > now) return undefined;
  if (event.time <= now) return event;
  const span = event.time - first;
  const count = span > 0 ? Math.max(1, Math.floor((event.count * (now - first)) / span)) : event.count;
  return { ...event, time: now, lastTimestamp: now, count };
}

export class ScenarioKubeSource implements KubeStateReader {
  constructor(private readonly options: ScenarioKubeSourceOptions) {}

  async listEvents(namespace: string | undefined, query: EventQuery): Promise<KubeRead<KubeEventRecord[]>> {
    const where = namespace === undefined ? 'in any namespace' : `in namespace ${namespace}`;
    let matcher: Matcher = () => true;
    if (query.fieldSelector) {
      const parsed = parseEventFieldSelector(query.fieldSelector);
      if ('error' in parsed) {
        return fail({ kind: 'invalid', status: 400, message: `cannot list events ${where}: ${parsed.error}` });
      }
      matcher = parsed.matcher;
    }
    const now = this.options.clock();
    const out: KubeEventRecord[] = [];
    for (const event of this.options.events) {
      if (namespace !== undefined && event.namespace !== namespace) continue;
      const seen = eventAt(event, now);
      if (!seen || seen.time < query.sinceMs) continue;
      if (query.untilMs !== undefined && (seen.firstTimestamp ?? seen.time) > query.untilMs) continue;
      if (matcher(seen)) out.push(seen);
    }
    return ok(out.sort((a, b) => a.time - b.time));
  }

  async listPods(namespace: string, labelSelector?: string): Promise<KubeRead<PodState[]>> {
    return this.select(this.options.objects?.pods ?? [], namespace, labelSelector, 'pods');
  }

  async listDeployments(namespace: string, labelSelector?: string): Promise<KubeRead<DeploymentState[]>> {
    return this.select(this.options.objects?.deployments ?? [], namespace, labelSelector, 'deployments');
  }

  async getDeployment(namespace: string, name: string): Promise<KubeRead<DeploymentState>> {
    const found = (this.options.objects?.deployments ?? []).find(
      (d) => d.metadata.name === name && (d.metadata.namespace ?? '') === namespace,
    );
    return found
      ? ok(found)
      : fail({ kind: 'not-found', status: 404, message: `not found: deployment ${name} in namespace ${namespace}` });
  }

  async listHpas(namespace: string): Promise<KubeRead<HpaState[]>> {
    return this.select(this.options.objects?.hpas ?? [], namespace, undefined, 'horizontalpodautoscalers');
  }

  private select<T extends { metadata: { namespace?: string; labels?: Readonly<Record<string, string>> } }>(
    items: readonly T[],
    namespace: string,
    labelSelector: string | undefined,
    resource: string,
  ): KubeRead<T[]> {
    let wanted: [string, string][] = [];
    if (labelSelector) {
      // Equality terms only: the selectors diagnosis builds from a Deployment's matchLabels.
      const terms = labelSelector.split(',').map((t) => /^\s*([^=!\s]+)\s*==?\s*([^,\s]*)\s*$/.exec(t));
      if (terms.some((t) => t === null)) {
        return fail({
          kind: 'invalid',
          status: 400,
          message: `cannot list ${resource} in namespace ${namespace}: only equality label selectors (a=b,c=d) are supported in replay, got "${labelSelector}"`,
        });
      }
      wanted = terms.map((t) => [t![1], t![2]]);
    }
    return ok(
      items.filter(
        (item) =>
          (item.metadata.namespace ?? '') === namespace &&
          wanted.every(([key, value]) => item.metadata.labels?.[key] === value),
      ),
    );
  }
}
