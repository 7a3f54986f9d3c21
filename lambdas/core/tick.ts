// One tick of the detection loop after collection: score every series, commit the scorer state exactly
// once per tick, and open, update or resolve incidents. The same code runs in Lambda and in replay.

import type { SeriesBaseline } from './cognition/baseline';
import { correlate, type Incident, TRAFFIC_SIGNAL } from './cognition/incident';
import { type ScorerSettings, ScoringModel, type TickScore } from './cognition/scorer';
import type { DetectionConfig, SignalCatalog } from './config/schema';
import type { CollectedTick, SignalCollectionError } from './perception/collect';
import type { BaselineStore, IncidentStore, ScorerStateStore } from './ports';
import type { ServiceGraph } from './topology';

export interface ScoreTickDeps {
  readonly catalog: SignalCatalog;
  readonly detection: DetectionConfig;
  readonly graph: ServiceGraph;
  readonly baselines: BaselineStore;
  readonly state: ScorerStateStore;
  readonly incidents: IncidentStore;
}

export interface TickOutcome {
  readonly time: number;
  /** True when this tick had already been processed (EventBridge delivers at least once). */
  readonly duplicate: boolean;
  readonly scored: number;
  readonly missing: number;
  readonly anomalous: number;
  readonly raised: number;
  readonly opened: string[];
  readonly updated: string[];
  readonly resolved: string[];
  readonly collectionErrors: SignalCollectionError[];
  readonly baselineVersion?: string;
  /** Incidents written this tick, for callers that report them (the replay, the workflow starter). */
  readonly changedIncidents: Incident[];
  readonly score?: TickScore;
}

/** Keeps the scoring model across ticks in one process and rebuilds it when the baselines change. */
export class ScoringSession {
  private model?: ScoringModel;
  private version?: string;
  /** Services nothing calls: where customers' traffic arrives. The topology is fixed for the session. */
  private readonly entryPoints: ReadonlySet<string>;

  constructor(
    private readonly deps: ScoreTickDeps,
    private readonly settings: ScorerSettings,
  ) {
    this.entryPoints = entryPointsOf(deps.graph);
  }

  async modelFor(): Promise<{ model: ScoringModel; version?: string }> {
    const current = await this.deps.baselines.currentVersion();
    if (!this.model || current !== this.version) {
      const set = current ? await this.deps.baselines.load() : undefined;
      this.model = buildModel(this.deps.catalog, this.settings, set?.baselines ?? []);
      this.version = set?.version;
    }
    return { model: this.model, version: this.version };
  }

  /** Runs one tick; see TickOutcome. */
  async run(time: number, collected: readonly CollectedTick[]): Promise<TickOutcome> {
    const { model, version } = await this.modelFor();
    const saved = await this.deps.state.load();
    const collectionErrors = collected.flatMap((c) => c.errors);
    if (saved && saved.lastTick >= time) return duplicateOutcome(time, collectionErrors, version);
    if (saved && saved.lastTick !== model.lastTickTime) model.restore(saved);

    const points = collected.flatMap((c) => c.points);
    const score = model.score(time, points);
    const commit = await this.deps.state.commit(model.snapshot(), saved?.lastTick);
    if (commit === 'superseded') {
      // Another execution committed this tick first; our in-memory state must be re-read next time.
      this.model = undefined;
      return duplicateOutcome(time, collectionErrors, version);
    }

    const open = await this.deps.incidents.listOpen();
    const changes = correlate(
      time,
      score,
      open,
      this.deps.graph,
      this.deps.detection,
      edgeTrafficRatio(model, points, this.entryPoints),
    );
    const changedIncidents: Incident[] = [];
    for (const incident of changes.opened) {
      if ((await this.deps.incidents.create(incident)) === 'written') changedIncidents.push(incident);
    }
    for (const incident of [...changes.updated, ...changes.resolved]) {
      if ((await this.deps.incidents.update(incident)) === 'written') changedIncidents.push(incident);
    }
    return {
      time,
      duplicate: false,
      scored: score.scored,
      missing: score.missing,
      anomalous: score.anomalous,
      raised: score.raised.length,
      opened: changes.opened.map((i) => i.id),
      updated: changes.updated.map((i) => i.id),
      resolved: changes.resolved.map((i) => i.id),
      collectionErrors,
      baselineVersion: version,
      changedIncidents,
      score,
    };
  }
}

/** The services of the topology that nothing else calls: where customers' traffic arrives. */
export const entryPointsOf = (graph: ServiceGraph): ReadonlySet<string> =>
  new Set(graph.names().filter((name) => graph.callersOf(name).length === 0));

/**
 * The highest ratio of request rate to its baseline among the estate's entry points, or undefined when none has
 * a value and a baseline this tick.
 */
export function edgeTrafficRatio(
  model: Pick<ScoringModel, 'expectedAtLastTick'>,
  points: readonly { signalId: string; entity: string; value: number }[],
  entryPoints: ReadonlySet<string>,
): number | undefined {
  let highest: number | undefined;
  for (const p of points) {
    if (p.signalId !== TRAFFIC_SIGNAL || !entryPoints.has(p.entity)) continue;
    const expected = model.expectedAtLastTick(`${p.signalId}{${p.entity}}`);
    if (!(expected > 0) || !Number.isFinite(p.value)) continue;
    const ratio = Math.round((p.value / expected) * 100) / 100;
    highest = Math.max(highest ?? 0, ratio);
  }
  return highest;
}

export function buildModel(
  catalog: SignalCatalog,
  settings: ScorerSettings,
  baselines: readonly SeriesBaseline[],
): ScoringModel {
  const model = new ScoringModel(catalog.signals, settings, Math.max(1024, baselines.length * 2));
  for (const baseline of baselines) model.setBaseline(baseline);
  return model;
}

function duplicateOutcome(time: number, collectionErrors: SignalCollectionError[], version?: string): TickOutcome {
  return {
    time,
    duplicate: true,
    scored: 0,
    missing: 0,
    anomalous: 0,
    raised: 0,
    opened: [],
    updated: [],
    resolved: [],
    collectionErrors,
    baselineVersion: version,
    changedIncidents: [],
  };
}
