// Read-only view of an EKS cluster for diagnosis: events, pods, Deployments and HPAs listed through the
// Kubernetes API with the existing KubeClient (bearer token, cluster CA, retries). Lists follow `continue`
// pagination; every failure comes back as a value naming the verb, the resource and the namespace.

import type {
  DeploymentState,
  EventQuery,
  HpaState,
  KubeEventRecord,
  KubeRead,
  KubeReadError,
  KubeStateReader,
  PodState,
} from '../../core/cognition/kube-findings';
import { fail, ok } from '../../core/result';
import { type DescribeClusterDeps, describeCluster } from './eks-executor';
import { KubeClient, type KubeClientOptions, type KubeError, type KubeOperation } from './kube-client';
import { TokenCache } from './token';

/** A core v1 Event as the API server sends it; every field but the name may be missing or null. */
export interface RawKubeEvent {
  readonly metadata: { readonly name: string; readonly namespace?: string; readonly uid?: string };
  readonly involvedObject?: { readonly kind?: string; readonly name?: string; readonly namespace?: string };
  readonly reason?: string;
  readonly message?: string;
  readonly type?: string;
  readonly count?: number;
  readonly firstTimestamp?: string | null;
  readonly lastTimestamp?: string | null;
  readonly eventTime?: string | null;
  readonly series?: { readonly count?: number; readonly lastObservedTime?: string } | null;
  readonly source?: { readonly component?: string; readonly host?: string };
  readonly reportingComponent?: string;
}

interface ListPage<T> {
  readonly metadata?: { readonly continue?: string; readonly resourceVersion?: string };
  readonly items?: readonly T[];
}

export interface KubeReaderOptions {
  /**
   * Items per page (`limit`).
   * @default 500
   */
  readonly pageSize?: number;
  /**
   * Most items one list may return; a bigger answer is an error (`too-many`) asking for a narrower selector,
   * because the API server lists events in no time order and a cut list would hide arbitrary ones.
   * @default 20000
   */
  readonly maxItems?: number;
}

const parseTime = (text: string | null | undefined): number | undefined => {
  if (!text) return undefined;
  const t = Date.parse(text);
  return Number.isNaN(t) ? undefined : t;
};

/** An API Event as the findings read it: the latest occurrence from lastTimestamp, series or eventTime. */
export function toKubeEventRecord(raw: RawKubeEvent): KubeEventRecord {
  const first = parseTime(raw.firstTimestamp);
  const last = parseTime(raw.lastTimestamp);
  const observed = parseTime(raw.series?.lastObservedTime) ?? parseTime(raw.eventTime);
  const target = raw.involvedObject ?? {};
  const component = raw.source?.component || raw.reportingComponent || undefined;
  return {
    time: last ?? observed ?? first ?? 0,
    ...(first !== undefined ? { firstTimestamp: first } : {}),
    ...(last !== undefined ? { lastTimestamp: last } : {}),
    name: raw.metadata.name,
    namespace: raw.metadata.namespace ?? target.namespace ?? '',
    type: raw.type ?? 'Normal',
    reason: raw.reason ?? '',
    message: raw.message ?? '',
    count: raw.count ?? raw.series?.count ?? 1,
    involvedObject: {
      kind: target.kind ?? '',
      name: target.name ?? '',
      ...(target.namespace !== undefined ? { namespace: target.namespace } : {}),
    },
    ...(component ? { component } : {}),
  };
}

const enc = encodeURIComponent;

/** What a request is about, for the error messages. */
export interface KubeReadSubject {
  readonly verb: 'get' | 'list';
  /** Plural resource as RBAC names it. */
  readonly resource: string;
  /** API group/version, for "the API server does not serve ..." */
  readonly api: string;
  readonly namespace: string | undefined;
  readonly name?: string;
}

const SINGULAR: Readonly<Record<string, string>> = {
  events: 'event',
  pods: 'pod',
  deployments: 'deployment',
  horizontalpodautoscalers: 'horizontalpodautoscaler',
};

/** The KubeClient error restated from the reader's side: who could not do what, where. */
export function describeReadError(error: KubeError, subject: KubeReadSubject): KubeReadError {
  const where = subject.namespace === undefined ? 'in any namespace' : `in namespace ${subject.namespace}`;
  const what = subject.name
    ? `${SINGULAR[subject.resource] ?? subject.resource} ${subject.name}`
    : `${subject.resource}`;
  const extra = {
    ...(error.status !== undefined ? { status: error.status } : {}),
    ...(error.apiMessage !== undefined ? { apiMessage: error.apiMessage } : {}),
  };
  switch (error.kind) {
    case 'forbidden':
      return {
        kind: 'forbidden',
        message: `forbidden: the reader identity cannot ${subject.verb} ${what} ${where}`,
        ...extra,
      };
    case 'unauthorized':
      return {
        kind: 'unauthorized',
        message: `unauthorized: the API server rejected the reader's token (${subject.verb} ${what} ${where}): ${error.apiMessage ?? error.message}`,
        ...extra,
      };
    case 'not-found':
      return {
        kind: 'not-found',
        message: subject.name
          ? `not found: ${what} ${where}`
          : `not found: the API server does not serve ${subject.resource} (${subject.api}) to list ${where}`,
        ...extra,
      };
    default:
      return { kind: error.kind, message: `cannot ${subject.verb} ${what} ${where}: ${error.message}`, ...extra };
  }
}

/** Read-only cluster access for diagnosis over a KubeClient. */
export class KubeReader implements KubeStateReader {
  private readonly pageSize: number;
  private readonly maxItems: number;

  constructor(
    readonly client: KubeClient,
    options: KubeReaderOptions = {},
  ) {
    this.pageSize = options.pageSize ?? 500;
    this.maxItems = options.maxItems ?? 20_000;
  }

  /** Closes the client's pooled connections. */
  close(): void {
    this.client.close();
  }

  async listEvents(namespace: string | undefined, query: EventQuery): Promise<KubeRead<KubeEventRecord[]>> {
    const path = namespace === undefined ? '/api/v1/events' : `/api/v1/namespaces/${enc(namespace)}/events`;
    const listed = await this.list<RawKubeEvent>(
      path,
      { verb: 'list', resource: 'events', api: 'v1', namespace },
      query.fieldSelector ? { fieldSelector: query.fieldSelector } : {},
    );
    if (!listed.ok) return listed;
    // The core events API cannot filter by time: the window is applied here.
    const events = listed.value
      .map(toKubeEventRecord)
      .filter(
        (e) =>
          e.time >= query.sinceMs && (query.untilMs === undefined || (e.firstTimestamp ?? e.time) <= query.untilMs),
      )
      .sort((a, b) => a.time - b.time);
    return ok(events);
  }

  listPods(namespace: string, labelSelector?: string): Promise<KubeRead<PodState[]>> {
    return this.list<PodState>(
      `/api/v1/namespaces/${enc(namespace)}/pods`,
      { verb: 'list', resource: 'pods', api: 'v1', namespace },
      labelSelector ? { labelSelector } : {},
    );
  }

  listDeployments(namespace: string, labelSelector?: string): Promise<KubeRead<DeploymentState[]>> {
    return this.list<DeploymentState>(
      `/apis/apps/v1/namespaces/${enc(namespace)}/deployments`,
      { verb: 'list', resource: 'deployments', api: 'apps/v1', namespace },
      labelSelector ? { labelSelector } : {},
    );
  }

  async getDeployment(namespace: string, name: string): Promise<KubeRead<DeploymentState>> {
    const subject: KubeReadSubject = { verb: 'get', resource: 'deployments', api: 'apps/v1', namespace, name };
    const read = await this.client.get<DeploymentState>(
      `/apis/apps/v1/namespaces/${enc(namespace)}/deployments/${enc(name)}`,
      operation(subject),
    );
    return read.ok ? read : fail(describeReadError(read.error, subject));
  }

  listHpas(namespace: string): Promise<KubeRead<HpaState[]>> {
    return this.list<HpaState>(
      `/apis/autoscaling/v2/namespaces/${enc(namespace)}/horizontalpodautoscalers`,
      { verb: 'list', resource: 'horizontalpodautoscalers', api: 'autoscaling/v2', namespace },
      {},
    );
  }

  /**
   * Every page of a list. A continue token the server has compacted away (410 Gone) restarts the list once from
   * the first page, as kubectl does, so the answer is always one consistent snapshot.
   */
  private async list<T>(
    path: string,
    subject: KubeReadSubject,
    query: Readonly<Record<string, string>>,
  ): Promise<KubeRead<T[]>> {
    let restarted = false;
    let items: T[] = [];
    let token: string | undefined;
    for (;;) {
      const page = await this.client.get<ListPage<T>>(path, operation(subject), {
        ...query,
        limit: String(this.pageSize),
        ...(token ? { continue: token } : {}),
      });
      if (!page.ok) {
        if (page.error.status === 410 && token && !restarted) {
          restarted = true;
          items = [];
          token = undefined;
          continue;
        }
        return fail(describeReadError(page.error, subject));
      }
      items.push(...(page.value.items ?? []));
      if (items.length > this.maxItems) {
        const where = subject.namespace === undefined ? 'in any namespace' : `in namespace ${subject.namespace}`;
        return fail({
          kind: 'too-many',
          message: `${subject.verb} ${subject.resource} ${where}: more than ${this.maxItems} items; narrow the selector`,
        });
      }
      token = page.value.metadata?.continue || undefined;
      if (!token) return ok(items);
    }
  }
}

function operation(subject: KubeReadSubject): KubeOperation {
  return {
    verb: subject.verb,
    resource: subject.resource,
    ...(subject.namespace !== undefined ? { namespace: subject.namespace } : {}),
    ...(subject.name !== undefined ? { name: subject.name } : {}),
  };
}

export interface EksKubeReaderOptions
  extends Omit<KubeClientOptions, 'endpoint' | 'caData' | 'token' | 'invalidateToken'>,
    DescribeClusterDeps,
    KubeReaderOptions {
  readonly clusterName: string;
  readonly region: string;
  /** Token signing clock. */
  readonly clock?: () => Date;
}

/**
 * A KubeReader for a named EKS cluster: endpoint and CA from DescribeCluster, tokens from a cache that the
 * client empties when the API server answers 401, so the retry signs a fresh token.
 */
export async function createEksKubeReader(options: EksKubeReaderOptions): Promise<KubeReader> {
  const { clusterName, region, client, credentials, eksEndpoint, clock, pageSize, maxItems, ...rest } = options;
  const cluster = await describeCluster(clusterName, region, {
    ...(client ? { client } : {}),
    ...(credentials ? { credentials } : {}),
    ...(eksEndpoint ? { eksEndpoint } : {}),
  });
  const tokens = new TokenCache({
    clusterName,
    region,
    ...(credentials ? { credentials } : {}),
    ...(clock ? { clock } : {}),
  });
  return new KubeReader(
    new KubeClient({
      ...rest,
      endpoint: cluster.endpoint,
      caData: cluster.caData,
      token: tokens.provider,
      invalidateToken: () => tokens.invalidate(),
    }),
    { ...(pageSize !== undefined ? { pageSize } : {}), ...(maxItems !== undefined ? { maxItems } : {}) },
  );
}
