// Replays a scenario through the real pipeline with simulated time: learn baselines from the history part,
// then run the tick workflow every step over the evaluation part, relearning daily at 03:00 UTC as on AWS.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DEFAULT_CONFIG_DIR } from '../adapters/config-files';
import { createKnowledgeBase } from '../adapters/knowledge/knowledge-base';
import { loadRunbooks } from '../adapters/knowledge/runbooks';
import { loadScenario, type Scenario } from '../adapters/scenario/load-scenario';
import { ScenarioKubeSource } from '../adapters/scenario/scenario-kube-source';
import { ScenarioLogSource } from '../adapters/scenario/scenario-log-source';
import { ScenarioMetricSource } from '../adapters/scenario/scenario-metric-source';
import { type ReplayQueryError, type ReplayReport, reportIncident, selfHealingOf } from '../cli/replay-report';
import type { AgentIncidentUpdate } from '../core/alerting/alert-manager';
import { type AlertingConfig, defaultAlertingConfig } from '../core/alerting/alerting-config';
import type { Incident } from '../core/cognition/incident';
import { type KnowledgeConfig, knowledgeConfigSchema } from '../core/config/knowledge-schema';
import { parseSignalCatalog } from '../core/config/load';
import type { ApprovalsConfig, DetectionConfig, GuardrailsConfig, SignalCatalog } from '../core/config/schema';
import type { Playbooks } from '../core/decision/plan';
import { DEFAULT_DETECTION } from '../core/defaults';
import { caseKnowledge } from '../core/diagnosis/case-knowledge';
import { storeDocuments } from '../core/diagnosis/knowledge';
import type { SignalCollectionError } from '../core/perception/collect';
import { ServiceGraph } from '../core/topology';
import { SimulatedClock } from './agent-clock';
import { LocalAgent, localApprovals } from './local-agent';
import { ReplayAlerts } from './replay-alerts';
import { ScenarioWorld } from './scenario-world';
import type { ApproverMode } from './simulated-approvers';

const DAILY_RELEARN_SECONDS_OF_DAY = 3 * 3600;

export interface ReplayEvent {
  readonly time: number;
  readonly kind: 'opened' | 'resolved' | 'failed-tick' | 'relearned' | 'collection-error';
  readonly text: string;
}

export interface ReplayOptions {
  /** How the simulated approvers answer (default approve). */
  readonly approvers?: ApproverMode;
  /** Who the simulated approvers are and how long each tier waits (config `approvals`; default three replay people, 30 and 60 min). */
  readonly approvals?: Pick<ApprovalsConfig, 'approvers' | 'timeoutMinutes'>;
  readonly playbooks?: Playbooks;
  /** Deny-list and change freezes from an environment's config. */
  readonly guardrails?: GuardrailsConfig;
  readonly catalog?: SignalCatalog;
  /** Noise reduction and routing for the scenario's Alertmanager deliveries (default: the built-in settings). */
  readonly alerting?: AlertingConfig;
  /**
   * Where closed cases are kept between replays (a JSON Lines file), so a later replay finds them as similar
   * past incidents. Without it the knowledge base lives in memory for this replay only.
   */
  readonly knowledgeFile?: string;
  readonly knowledge?: KnowledgeConfig;
  readonly detection?: DetectionConfig;
  readonly onStart?: (totalTicks: number) => void;
  readonly onTick?: (done: number, time: number) => void;
  readonly onEvent?: (event: ReplayEvent) => void;
}

export function defaultCatalog(scenario: Scenario): SignalCatalog {
  const file = join(DEFAULT_CONFIG_DIR, 'promql-queries.yaml');
  return parseSignalCatalog(readFileSync(file, 'utf8'), file, scenario.topology);
}

export async function replayScenario(dir: string, options: ReplayOptions = {}): Promise<ReplayReport> {
  const scenario = await loadScenario(dir);
  const detection = options.detection ?? DEFAULT_DETECTION;
  const catalog = options.catalog ?? defaultCatalog(scenario);
  const source = new ScenarioMetricSource(scenario.metrics);
  const graph = new ServiceGraph(scenario.topology);
  const clock = new SimulatedClock(scenario.evaluateFrom, true);
  const knowledgeSettings = options.knowledge ?? knowledgeConfigSchema.parse({});
  const kb = await createKnowledgeBase(knowledgeSettings, {
    embedded: options.knowledgeFile ? { file: options.knowledgeFile } : { memory: true },
  });
  await storeDocuments(await loadRunbooks(join(DEFAULT_CONFIG_DIR, knowledgeSettings.runbooks)), kb);
  const agent = await LocalAgent.start({
    source,
    catalog,
    topology: scenario.topology,
    detection,
    deploys: scenario.deploys.map((d) => ({
      time: d.time,
      service: d.service,
      version: d.version,
      previousVersion: d.previousVersion,
    })),
    approvers: options.approvers ?? 'approve',
    ...(options.approvals ? { approvals: localApprovals(options.approvals) } : {}),
    denyList: options.guardrails?.denyList,
    playbooks: options.playbooks,
    changeFreezes: options.guardrails?.changeFreezes,
    clock,
    world: new ScenarioWorld(scenario.metrics, graph),
    logs: new ScenarioLogSource(scenario.logs),
    kube: new ScenarioKubeSource({ events: scenario.events, clock: () => clock.now() }),
    knowledge: caseKnowledge(kb, knowledgeSettings),
  });
  const notifier = agent.notifier;
  const alerts = new ReplayAlerts({
    deliveries: scenario.alerts,
    config: options.alerting ?? defaultAlertingConfig(),
    graph,
    ...(options.guardrails ? { changeFreezes: options.guardrails.changeFreezes } : {}),
  });
  const emit = (event: ReplayEvent) => options.onEvent?.(event);
  try {
    const step = scenario.stepSeconds;
    const from = Math.ceil(scenario.evaluateFrom / 1000 / step) * step;
    const until = scenario.end / 1000;
    const historyDays = Math.max(
      1,
      Math.min(detection.historyDays, Math.floor((from - scenario.start / 1000) / 86_400)),
    );
    const learned = await agent.learn(from, historyDays);
    let relearned = 0;
    const incidents = new Map<string, Incident>();
    let ticks = 0;
    const alertedResolved = new Set<string>();
    let failedTicks = 0;
    let collectionErrors = 0;
    const distinctErrors = new QueryErrorTally();
    for (const error of learned.errors) distinctErrors.add('learn', from, error);
    const total = Math.ceil((until - from) / step);
    options.onStart?.(total);
    for (let t = from; t < until; t += step) {
      if (t > from && t % 86_400 === DAILY_RELEARN_SECONDS_OF_DAY) {
        const relearnedNow = await agent.learn(t, historyDays);
        for (const error of relearnedNow.errors) distinctErrors.add('learn', t, error);
        relearned++;
        emit({ time: t, kind: 'relearned', text: 'baselines relearned (daily job)' });
      }
      clock.set(t * 1000);
      const result = await agent.tick(t);
      // Recovery checks due this minute run after the tick, so they judge this minute's scores.
      clock.wakeDue();
      await agent.settle();
      ticks++;
      if (result.failed) {
        failedTicks++;
        emit({ time: t, kind: 'failed-tick', text: `tick failed: ${result.failed.error}: ${result.failed.cause}` });
      }
      const outcome = result.outcome;
      if (outcome) {
        collectionErrors += outcome.collectionErrors.length;
        for (const error of outcome.collectionErrors) {
          // Named once, when first seen: one bad query would otherwise fill the timeline every minute.
          if (distinctErrors.add('collect', t, error)) {
            emit({ time: t, kind: 'collection-error', text: describeQueryError(error) });
          }
        }
        for (const incident of outcome.changedIncidents) {
          const known = incidents.has(incident.id);
          incidents.set(incident.id, incident);
          if (!known) {
            emit({ time: t, kind: 'opened', text: `${incident.id} opened: ${incident.services.join(', ')}` });
          } else if (incident.status === 'resolved') {
            notifier.incidentResolved(incident);
            emit({ time: t, kind: 'resolved', text: `${incident.id} resolved` });
          }
        }
      }
      // The alert manager hears the agent's incidents with what the workflow has decided so far.
      const updates: AgentIncidentUpdate[] = [];
      for (const incident of incidents.values()) {
        if (incident.status === 'resolved' && Date.parse(incident.resolvedAt ?? incident.updatedAt) < t * 1000) {
          if (alertedResolved.has(incident.id)) continue;
          alertedResolved.add(incident.id);
        }
        const decided = await agent.decisions.get(incident.id);
        updates.push({
          incident,
          ...(decided?.diagnosis ? { rootCause: decided.diagnosis.rootCause } : {}),
          ...(decided?.risk ? { tier: decided.risk.tier } : {}),
        });
      }
      alerts.advance(t * 1000, updates);
      options.onTick?.(ticks, t);
    }
    const reported = await Promise.all(
      [...incidents.values()]
        .sort((a, b) => a.openedAt.localeCompare(b.openedAt))
        .map(async (incident) => {
          const first = alerts.firstNotified(incident.id)?.at;
          const byWorkflow = notifier.sent.find((n) => n.incidentId === incident.id && n.kind !== 'edit')?.at;
          const times = [first, byWorkflow === undefined ? undefined : Date.parse(byWorkflow)].filter(
            (x): x is number => x !== undefined,
          );
          const notifiedAt = times.length > 0 ? iso(Math.min(...times) / 1000) : undefined;
          return reportIncident(incident, graph, await agent.decisions.get(incident.id), notifiedAt);
        }),
    );
    const manager = alerts.counters;
    return {
      scenario: scenario.name,
      ticks,
      evaluatedFrom: iso(from),
      evaluatedUntil: iso(until),
      incidents: reported,
      selfHealing: selfHealingOf(reported),
      failedWorkflows: agent.failedWorkflows,
      pendingWorkflows: agent.pendingWorkflows,
      alerts: {
        raw: alerts.raw,
        notified: manager.messages + notifier.delivered,
        fromAlertManager: manager.messages,
        fromWorkflows: notifier.delivered,
        suppressed: manager.suppressed,
        rejectedDeliveries: alerts.rejected.length,
      },
      failedTicks,
      collectionErrors,
      queryErrors: distinctErrors.list(),
      baselines: { learned: learned.baselines.length, skipped: learned.skipped.length, relearned },
    };
  } finally {
    await agent.stop();
  }
}

/** What a failed query needs to be fixed: which signal, which query, what the source said. */
const describeQueryError = (e: SignalCollectionError): string =>
  `signal ${e.signalId}: ${e.kind} error for query ${JSON.stringify(e.query)}: ${e.message}`;

/** Failed queries, each distinct one counted once with when it was first seen. */
class QueryErrorTally {
  private readonly byKey = new Map<string, ReplayQueryError>();

  /** Counts `error`; true when it is the first of its kind. */
  add(phase: ReplayQueryError['phase'], time: number, error: SignalCollectionError): boolean {
    const key = JSON.stringify([phase, error.signalId, error.kind, error.query, error.message]);
    const known = this.byKey.get(key);
    if (known) {
      this.byKey.set(key, { ...known, count: known.count + 1 });
      return false;
    }
    this.byKey.set(key, {
      phase,
      signalId: error.signalId,
      kind: error.kind,
      query: error.query,
      message: error.message,
      count: 1,
      firstAt: iso(time),
    });
    return true;
  }

  list(): ReplayQueryError[] {
    return [...this.byKey.values()];
  }
}

const iso = (seconds: number): string => new Date(seconds * 1000).toISOString().replace('.000Z', 'Z');
