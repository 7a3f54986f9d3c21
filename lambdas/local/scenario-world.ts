// The replayed world reacting to remediation: a scenario's metrics are what happened without the agent, so
// when the simulated cluster carries out an action, the symptoms that action can cure (and only those) go
// back to what the same series did a day earlier, from the moment the change has rolled out until the
// recorded fault would have faded by itself. An undo brings the recorded symptoms back.
//
// The world knows nothing of a scenario's truth: a rollback cures a bad deploy's errors because rollbacks
// cure errors, and a restart does not, so a wrong action is seen not to help and verification fails.

import type { MetricStore, StoredSeries } from '../adapters/scenario/openmetrics';
import type { ActionName } from '../core/decision/types';
import type { ServiceGraph } from '../core/topology';

const DAY_SECONDS = 86_400;
/** A change takes effect once it has rolled out. */
export const ROLLOUT_SECONDS = 120;
/** The recorded series has been back near normal this many points in a row: the fault is over. */
const FADED_POINTS = 15;
/** Never rewrite more than this much of a series after one action (a later, unrelated fault stays as recorded). */
const MAX_EFFECT_SECONDS = 3 * 3600;
/** Deviations beyond this many robust sigmas of the day-over-day noise count as symptoms. */
const SYMPTOM_SIGMAS = 4;

const METRIC = {
  errors: 'service:http_errors:ratio_rate1m',
  latency: 'service:http_request_duration_seconds:p99',
  cpu: 'service:container_cpu_usage:ratio',
  memory: 'service:container_memory_working_set:ratio',
  restarts: 'service:kube_pod_restarts:increase5m',
  connections: 'datastore:connections_used:ratio',
  queryLatency: 'datastore:query_duration_seconds:p99',
  lag: 'queue:consumer_lag:messages',
} as const;
type Symptom = keyof typeof METRIC;

/**
 * A restart cures what a degraded process causes: once memory growth is cleared, so are the latency and errors
 * that memory pressure caused. A restart of a process whose memory was fine cures no errors (a bad build stays bad).
 */
const RESTARTS: ReadonlySet<ActionName> = new Set<ActionName>(['rollout-restart', 'restart-pod', 'engine-restart']);
const PRESSURE_SYMPTOMS: readonly Symptom[] = ['errors', 'latency', 'cpu'];
/** Minutes of cured memory growth that count as pressure a restart relieved. */
const PRESSURE_MIN_POINTS = 5;

/** What each action can cure: on the service acted on, and on the services that call it (propagated symptoms). */
const CURES: Record<ActionName, { readonly own: readonly Symptom[]; readonly callers: readonly Symptom[] }> = {
  rollback: { own: ['errors', 'latency', 'cpu', 'memory', 'restarts'], callers: ['errors', 'latency'] },
  'config-revert': { own: ['errors', 'latency', 'cpu', 'memory', 'restarts'], callers: ['errors', 'latency'] },
  'rollout-restart': { own: ['memory', 'restarts'], callers: [] },
  'restart-pod': { own: ['memory', 'restarts'], callers: [] },
  'engine-restart': { own: ['memory', 'restarts'], callers: [] },
  'scale-up': { own: ['latency', 'cpu', 'lag'], callers: ['latency'] },
  'cache-flush': { own: ['queryLatency', 'latency'], callers: ['latency'] },
  'db-failover': { own: ['connections', 'queryLatency'], callers: ['latency', 'errors'] },
  'rate-limit': { own: ['cpu', 'latency', 'errors'], callers: [] },
  'az-failover': {
    own: ['errors', 'latency', 'cpu', 'memory', 'restarts', 'connections', 'queryLatency', 'lag'],
    callers: ['errors', 'latency'],
  },
};

interface Effect {
  readonly action: ActionName;
  readonly service: string;
  readonly series: StoredSeries;
  /** Values as recorded, for the indexes this effect rewrote. */
  readonly original: Map<number, number>;
}

export class ScenarioWorld {
  private readonly effects: Effect[] = [];

  constructor(
    private readonly metrics: MetricStore,
    private readonly graph: ServiceGraph,
  ) {}

  /** Carries out `action` on `service` at `atSeconds`; returns how many samples changed. */
  apply(action: ActionName, service: string, atSeconds: number): number {
    const cures = CURES[action];
    const from = atSeconds + ROLLOUT_SECONDS;
    let changed = 0;
    const targets: [string, readonly Symptom[]][] = [[service, cures.own]];
    if (cures.callers.length > 0) for (const caller of this.callersOf(service)) targets.push([caller, cures.callers]);
    /** End of the memory growth the action cured (epoch seconds), if it cured any. */
    let memoryCuredUntil: number | undefined;
    const cureAll = (name: string, symptoms: readonly Symptom[], until: number, awaitSymptom: boolean) => {
      for (const symptom of symptoms) {
        for (const series of this.seriesOf(METRIC[symptom], name)) {
          const original = cure(series, from, until, awaitSymptom);
          if (original.size === 0) continue;
          // A stray noisy point is not memory pressure: it takes minutes of it.
          if (symptom === 'memory' && original.size >= PRESSURE_MIN_POINTS) {
            const last = series.timestamps[Math.max(...original.keys())];
            memoryCuredUntil = Math.max(memoryCuredUntil ?? last, last);
          }
          changed += original.size;
          this.effects.push({ action, service, series, original });
        }
      }
    };
    for (const [name, symptoms] of targets) cureAll(name, symptoms, from + MAX_EFFECT_SECONDS, false);
    // The pressure's consequences (which may only show later) go for as long as the pressure itself would have.
    if (RESTARTS.has(action) && memoryCuredUntil !== undefined) {
      cureAll(service, PRESSURE_SYMPTOMS, memoryCuredUntil + 60, true);
    }
    return changed;
  }

  /** Undoes every action on `service` from `atSeconds` on: the recorded symptoms come back. */
  revert(service: string, atSeconds: number): number {
    let restored = 0;
    for (const effect of this.effects.filter((e) => e.service === service)) {
      for (const [index, value] of effect.original) {
        if (effect.series.timestamps[index] >= atSeconds) {
          effect.series.values[index] = value;
          effect.original.delete(index);
          restored++;
        }
      }
    }
    return restored;
  }

  private callersOf(service: string): string[] {
    const seen = new Set<string>();
    const queue = [service];
    while (queue.length > 0) {
      for (const caller of this.graph.callersOf(queue.shift() as string)) {
        if (caller !== service && !seen.has(caller)) {
          seen.add(caller);
          queue.push(caller);
        }
      }
    }
    return [...seen];
  }

  private seriesOf(metric: string, service: string): readonly StoredSeries[] {
    return (this.metrics.metrics.get(metric)?.series ?? []).filter((s) => s.labels.service === service);
  }
}

/**
 * Rewrites the symptoms of one series from `from` (and before `until`) with the value a day earlier, until the
 * recording has been near normal for FADED_POINTS points in a row after its first symptom. Returns the recorded
 * values it replaced.
 */
function cure(series: StoredSeries, from: number, until: number, awaitSymptom: boolean): Map<number, number> {
  const { timestamps: t, values: v } = series;
  const original = new Map<number, number>();
  const start = lowerBound(t, from);
  const tolerance = dayOverDayTolerance(series, from);
  if (tolerance === undefined) return original;
  let calm = 0;
  for (let i = start; i < t.length && t[i] < until; i++) {
    const j = indexOf(t, t[i] - DAY_SECONDS);
    if (j < 0 || !Number.isFinite(v[j]) || !Number.isFinite(v[i])) continue;
    // Every symptom here is a rise (errors, latency, CPU, memory, lag, connections); a drop is no symptom.
    if (v[i] - v[j] > tolerance) {
      original.set(i, v[i]);
      v[i] = v[j];
      calm = 0;
      // A consequence may show only later (awaitSymptom): quiet before its first symptom is not the fault fading.
    } else if ((original.size > 0 || !awaitSymptom) && ++calm >= FADED_POINTS) {
      break;
    }
  }
  return original;
}

/**
 * SYMPTOM_SIGMAS robust sigmas of the day-over-day change over the day before `from`. A fault that began
 * within that day is a small share of it, and the median absolute deviation ignores it.
 */
function dayOverDayTolerance(series: StoredSeries, from: number): number | undefined {
  const { timestamps: t, values: v } = series;
  const diffs: number[] = [];
  for (let i = lowerBound(t, from - DAY_SECONDS - 3600); i < t.length && t[i] < from - 3600; i++) {
    const j = indexOf(t, t[i] - DAY_SECONDS);
    if (j >= 0 && Number.isFinite(v[i]) && Number.isFinite(v[j])) diffs.push(v[i] - v[j]);
  }
  if (diffs.length < 60) return undefined;
  const med = median(diffs);
  const mad = median(diffs.map((d) => Math.abs(d - med)));
  const scale = 1.4826 * mad;
  // A flat series (mad 0) still tolerates float noise.
  return Math.max(SYMPTOM_SIGMAS * scale, 1e-9 + 1e-6 * Math.abs(med));
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

function lowerBound(t: Float64Array, x: number): number {
  let lo = 0;
  let hi = t.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (t[mid] < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function indexOf(t: Float64Array, x: number): number {
  const i = lowerBound(t, x);
  return i < t.length && t[i] === x ? i : -1;
}
