// The rule engine on the public scenarios: each spec is built and replayed through the real pipeline, each reported
// incident is rebuilt from the report's signals, and the engine, fed the scenario's deploys, error logs (incident
// window against the hour before) and Kubernetes events, must name the true root cause and kind of every fault and
// agree with the diagnosis the replay made.

import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadScenario, type Scenario } from '../../lambdas/adapters/scenario/load-scenario';
import { ScenarioLogSource } from '../../lambdas/adapters/scenario/scenario-log-source';
import type { ReplayReport, ReportIncident } from '../../lambdas/cli/replay-report';
import type { DeployRecord } from '../../lambdas/core/cognition/classify';
import type { Incident, IncidentSignal } from '../../lambdas/core/cognition/incident';
import { kubeFindings } from '../../lambdas/core/cognition/kube-findings';
import { compareServiceLogs, type ServiceLogFindings } from '../../lambdas/core/cognition/log-signatures';
import { diagnoseByRules, type RuleDiagnosis } from '../../lambdas/core/diagnosis/rules-engine';
import { MAX_LOG_LINES } from '../../lambdas/core/perception/log-source';
import { ServiceGraph } from '../../lambdas/core/topology';
import { replayScenario } from '../../lambdas/local/replay';
import { buildScenario, type ScenarioSpec } from '../support/scenario-builder';
import { readTruth, type Truth } from '../support/truth';

const SPECS_DIR = join(__dirname, '..', 'fixtures', 'specs');
const MINUTE = 60_000;
/** Error logs are compared from a little before the first anomaly, so the first new lines are inside the window. */
const LEAD_IN_MS = 5 * MINUTE;
const BASELINE_MS = 60 * MINUTE;
const KUBE_LOOKBACK_MS = 30 * MINUTE;

const workDir = mkdtempSync(join(tmpdir(), 'sre-agent-rules-engine-'));
afterAll(() => rmSync(workDir, { recursive: true, force: true }));

const specs = readdirSync(SPECS_DIR)
  .filter((f) => f.endsWith('.json'))
  .sort();

interface Checked {
  readonly report: ReplayReport;
  readonly truth: Truth;
  /** Incident id -> the engine's diagnosis. */
  readonly diagnoses: Map<string, RuleDiagnosis>;
}

const checked = new Map<string, Checked>();

const SERIES = /^(forecast:)?([a-z0-9_]+)\{(.+)\}$/;
const orNaN = (x: number | null): number => x ?? Number.NaN;

/** The incident as the store held it, from what the report keeps of it. */
function rebuildIncident(reported: ReportIncident, evaluatedUntil: string): Incident {
  const signals: IncidentSignal[] = reported.signals.map((s) => {
    const match = SERIES.exec(s.series);
    if (!match) throw new Error(`unexpected series key ${s.series}`);
    return {
      key: s.series,
      signalId: match[2],
      entity: match[3],
      firstAnomalousAt: s.firstAnomalousAt,
      lastRaisedAt: s.firstAnomalousAt,
      peakZ: orNaN(s.peakZ),
      peakScore: s.peakZ === null ? 0 : Math.min(1, Math.abs(s.peakZ) / 10),
      valueAtPeak: orNaN(s.valueAtPeak),
      expectedAtPeak: orNaN(s.expectedAtPeak),
      hardLimitBreached: s.hardLimitBreached,
      ...(s.predictedBreachAt ? { predictedBreachAt: s.predictedBreachAt } : {}),
    };
  });
  const end = reported.resolvedAt ?? evaluatedUntil;
  return {
    id: reported.id,
    status: reported.status === 'resolved' ? 'resolved' : 'open',
    kind: reported.kind,
    openedAt: reported.openedAt,
    updatedAt: end,
    lastAnomalyAt: end,
    ...(reported.resolvedAt ? { resolvedAt: reported.resolvedAt } : {}),
    ...(reported.predictedBreachAt ? { predictedBreachAt: reported.predictedBreachAt } : {}),
    services: reported.services,
    signals,
    version: 1,
  };
}

/** Every topology service's error lines in the incident window against the hour before, as Loki would give them. */
async function compareLogs(scenario: Scenario, startMs: number, endMs: number): Promise<ServiceLogFindings[]> {
  const source = new ScenarioLogSource(scenario.logs);
  const window = async (service: string, from: number, to: number) => {
    const lines = await source.errorLines(service, from / 1000, to / 1000, MAX_LOG_LINES, 'forward');
    const counts = await source.errorCounts(service, from / 1000, to / 1000, 60);
    if (!lines.ok) throw new Error(lines.error.message);
    if (!counts.ok) throw new Error(counts.error.message);
    return {
      startMs: from,
      endMs: to,
      errorLines: Math.max(counts.value.total, lines.value.lines.length),
      lines: lines.value.lines,
    };
  };
  return Promise.all(
    scenario.topology.services.map(async ({ name }) =>
      compareServiceLogs({
        service: name,
        incident: await window(name, startMs, endMs),
        baseline: await window(name, startMs - BASELINE_MS, startMs),
      }),
    ),
  );
}

async function diagnoseReplay(dir: string, report: ReplayReport): Promise<Map<string, RuleDiagnosis>> {
  const scenario = await loadScenario(dir);
  const graph = new ServiceGraph(scenario.topology);
  const deploys: DeployRecord[] = scenario.deploys.map((d) => ({
    time: d.time,
    service: d.service,
    version: d.version,
    previousVersion: d.previousVersion,
  }));
  const diagnoses = new Map<string, RuleDiagnosis>();
  for (const reported of report.incidents) {
    const incident = rebuildIncident(reported, report.evaluatedUntil);
    const onset = Math.min(...incident.signals.map((s) => Date.parse(s.firstAnomalousAt)));
    const startMs = Math.floor((onset - LEAD_IN_MS) / MINUTE) * MINUTE;
    const endMs = Math.max(Date.parse(incident.updatedAt), startMs + MINUTE);
    const kube = kubeFindings({ events: scenario.events, observedAt: endMs }, scenario.topology, {
      fromMs: startMs - KUBE_LOOKBACK_MS,
      toMs: endMs,
    }).findings;
    const logs = await compareLogs(scenario, startMs, endMs);
    diagnoses.set(reported.id, diagnoseByRules({ incident, graph, deploys, logs, kube, similarCases: [] }));
  }
  return diagnoses;
}

beforeAll(async () => {
  for (const file of specs) {
    const spec = JSON.parse(readFileSync(join(SPECS_DIR, file), 'utf8')) as ScenarioSpec;
    const dir = join(workDir, spec.name);
    buildScenario(spec, dir, { gzipMetrics: true });
    const report = await replayScenario(dir);
    checked.set(file, { report, truth: readTruth(dir), diagnoses: await diagnoseReplay(dir, report) });
  }
}, 300_000);

describe.each(specs)('the rule engine on %s', (file) => {
  const get = (): Checked => {
    const result = checked.get(file);
    if (!result) throw new Error(`${file} was not replayed`);
    return result;
  };

  it('names the true root cause and kind of every fault', () => {
    const { report, truth, diagnoses } = get();
    for (const fault of truth.faults) {
      const mine = report.incidents.filter(
        (i) =>
          Date.parse(i.openedAt) >= Date.parse(fault.start) - 2 * MINUTE &&
          Date.parse(i.openedAt) <= Date.parse(fault.end) + 15 * MINUTE,
      );
      expect(mine).toHaveLength(1);
      const { service, kind, confidence } = diagnoses.get(mine[0].id)!.rootCause;
      expect({ fault: fault.id, service, kind }).toEqual({
        fault: fault.id,
        service: fault.rootCause,
        kind: fault.kind,
      });
      expect(confidence).toBeGreaterThan(0.5);
    }
  });

  it('agrees with the diagnosis the replay made', () => {
    const { report, diagnoses } = get();
    for (const incident of report.incidents) {
      const diagnosis = diagnoses.get(incident.id)!;
      expect({ incident: incident.id, service: diagnosis.rootCause.service, kind: diagnosis.rootCause.kind }).toEqual({
        incident: incident.id,
        service: incident.rootCause?.service,
        kind: incident.rootCause?.kind,
      });
    }
  });

  it('backs every root cause with a time-ordered chain that starts with a dated fact', () => {
    const { diagnoses } = get();
    for (const diagnosis of diagnoses.values()) {
      const [root] = diagnosis.candidates;
      expect(root.chain[0].at).toBeDefined();
      const times = root.chain.filter((item) => item.at !== undefined).map((item) => Date.parse(item.at!));
      expect(times).toEqual([...times].sort((a, b) => a - b));
      expect(root.analyzers.length).toBeGreaterThan(0);
    }
  });
});
