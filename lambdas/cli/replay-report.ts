// The replay report (the JSON `replay --json` prints) and its readable timeline.

import { sparkline } from '../adapters/slack/blocks';
import type { Incident } from '../core/cognition/incident';
import { type Candidate, rankByTopology } from '../core/cognition/rank';
import type { IncidentCase } from '../core/decision/incident-case';
import { formatTarget } from '../core/decision/types';
import type { ServiceGraph } from '../core/topology';

export interface ReportIncident {
  readonly id: string;
  readonly openedAt: string;
  readonly kind: 'anomaly' | 'forecast';
  readonly services: string[];
  readonly rootCause: { readonly service: string; readonly kind: string; readonly confidence: number } | null;
  readonly candidates: {
    readonly service: string;
    readonly kind: string;
    readonly score: number;
    readonly evidence: string[];
  }[];
  /** How the diagnosis was made; null until the workflow diagnosed the incident. */
  readonly diagnosis: {
    readonly method: 'rules' | 'llm';
    readonly diagnosedAt: string | null;
    /** From the first anomalous signal to the diagnosis. */
    readonly minutesToIdentify: number | null;
    /** The root cause's evidence chain: signals, deploys, log signatures, Kubernetes events, past cases. */
    readonly evidence: string[];
    readonly llm: {
      readonly model: string | null;
      readonly explanation: string | null;
      readonly fallbackReason: string | null;
    } | null;
    readonly similarCases: {
      readonly incidentId: string;
      readonly service: string;
      readonly kind: string;
      readonly similarity: number;
      readonly outcome: string;
    }[];
    readonly runbooks: string[];
    /** Evidence sources that were missing or failed. */
    readonly gaps: string[];
    /** The key metric's last hour as the approval message draws it (oldest first, gaps null). */
    readonly keySeries: { readonly series: string; readonly points: (number | null)[] } | null;
  } | null;
  /** Filled by the incident workflow; null until it has assessed the incident. */
  readonly risk: {
    readonly score: number;
    readonly tier: string;
    readonly factors: { readonly name: string; readonly contribution: number; readonly explanation: string }[];
    readonly overrides: string[];
  } | null;
  /** How the incident workflow ended (remediated, diagnosis-only, rejected, ...); null if it has not. */
  readonly outcome: string | null;
  /** Actions the guardrails or the executor refused, and why. */
  readonly refused: {
    readonly action: string;
    readonly target: string;
    readonly rule: string;
    readonly detail: string;
  }[];
  readonly approval: {
    readonly approved: boolean;
    readonly votes: { readonly user: string; readonly role: string }[];
  } | null;
  readonly plan: { readonly action: string; readonly target: string }[];
  readonly executed: {
    readonly action: string;
    readonly target: string;
    readonly dryRun: boolean;
    readonly result: string;
  }[];
  /** What the recovery checks after the change found; null when nothing ran. */
  readonly recovery: {
    readonly status: string;
    readonly checks: number;
    readonly recoveredAt: string | null;
    /** From the change to confirmed recovery. */
    readonly minutesToRecover: number | null;
    /** From the incident opening to confirmed recovery. */
    readonly minutesFromOpen: number | null;
    readonly detail: string[];
  } | null;
  /** What was put back from snapshots when recovery did not come. */
  readonly undone: {
    readonly action: string;
    readonly target: string;
    readonly result: string;
    readonly detail: string;
  }[];
  readonly predictedBreachAt: string | null;
  /** When a person first heard of it (alert manager or workflow), null if nobody did. */
  readonly notifiedAt: string | null;
  readonly status: string;
  readonly resolvedAt: string | null;
  readonly signals: {
    readonly series: string;
    readonly firstAnomalousAt: string;
    readonly peakZ: number | null;
    readonly valueAtPeak: number | null;
    readonly expectedAtPeak: number | null;
    readonly hardLimitBreached: boolean;
    readonly predictedBreachAt: string | null;
  }[];
}

export interface ReplayReport {
  readonly scenario: string;
  readonly ticks: number;
  readonly evaluatedFrom: string;
  readonly evaluatedUntil: string;
  readonly incidents: ReportIncident[];
  readonly alerts: {
    /** Alerts the scenario's Alertmanager delivered (the sum of each payload's alerts). */
    readonly raw: number;
    /** Messages that reached a person: the alert manager's and the incident workflows'. */
    readonly notified: number;
    readonly fromAlertManager: number;
    readonly fromWorkflows: number;
    /** Alerts and incident updates the alert manager kept from people, by reason. */
    readonly suppressed: Readonly<Record<string, number>>;
    readonly rejectedDeliveries: number;
  };
  readonly failedTicks: number;
  readonly failedWorkflows: { readonly incidentId: string; readonly error: string; readonly cause: string }[];
  /** Incident workflows still waiting for recovery when the scenario ran out. */
  readonly pendingWorkflows: number;
  /** Self-healing: of the incidents where an action ran, how many recovered, and how fast. */
  readonly selfHealing: SelfHealingSummary;
  readonly collectionErrors: number;
  /** Each distinct failed query (learning baselines or collecting a tick), with how often it failed. */
  readonly queryErrors: ReplayQueryError[];
  readonly baselines: { readonly learned: number; readonly skipped: number; readonly relearned: number };
}

export interface ReplayQueryError {
  readonly phase: 'learn' | 'collect';
  readonly signalId: string;
  readonly kind: string;
  readonly query: string;
  readonly message: string;
  readonly count: number;
  readonly firstAt: string;
}

export interface SelfHealingSummary {
  readonly attempted: number;
  readonly recovered: number;
  /** recovered / attempted; null when nothing was attempted. */
  readonly rate: number | null;
  readonly medianMinutesToRecover: number | null;
  readonly undone: number;
}

export function selfHealingOf(incidents: readonly ReportIncident[]): SelfHealingSummary {
  const attempted = incidents.filter((i) => i.executed.some((e) => e.result === 'succeeded'));
  const recovered = attempted.filter((i) => i.recovery?.status === 'recovered');
  const minutes = recovered
    .map((i) => i.recovery?.minutesToRecover)
    .filter((m): m is number => typeof m === 'number')
    .sort((a, b) => a - b);
  const mid = minutes.length >> 1;
  return {
    attempted: attempted.length,
    recovered: recovered.length,
    rate: attempted.length ? Number((recovered.length / attempted.length).toFixed(3)) : null,
    medianMinutesToRecover: minutes.length
      ? minutes.length % 2
        ? minutes[mid]
        : (minutes[mid - 1] + minutes[mid]) / 2
      : null,
    undone: incidents.filter((i) => i.undone.some((u) => u.result === 'restored')).length,
  };
}

/** The first anomalous signal's time: the fault's start as the agent saw it. */
const onsetOf = (incident: Incident): string =>
  incident.signals.map((s) => s.firstAnomalousAt).sort()[0] ?? incident.openedAt;

const minutesBetween = (from: string, to: string): number =>
  Math.round((Date.parse(to) - Date.parse(from)) / 6_000) / 10;

const finite = (x: number): number | null => (Number.isFinite(x) ? Number(x.toPrecision(6)) : null);

export function reportIncident(
  incident: Incident,
  graph: ServiceGraph,
  decision?: IncidentCase,
  notifiedAt?: string,
): ReportIncident {
  // The workflow's diagnosis when it ran; otherwise the topology ranking the diagnosis starts from.
  const candidates: Candidate[] = decision?.diagnosis?.candidates ?? rankByTopology(incident, graph);
  const top = candidates[0];
  const rootCause =
    decision?.diagnosis?.rootCause ?? (top ? { service: top.service, kind: top.kind, confidence: top.score } : null);
  return {
    id: incident.id,
    openedAt: incident.openedAt,
    kind: incident.kind,
    services: incident.services,
    rootCause: rootCause ? { ...rootCause, confidence: Number(rootCause.confidence.toFixed(2)) } : null,
    candidates: candidates.map((c) => ({ ...c, score: Number(c.score.toFixed(2)) })),
    diagnosis: decision?.diagnosis
      ? {
          method: decision.diagnosis.method,
          diagnosedAt: decision.diagnosis.diagnosedAt ?? null,
          minutesToIdentify: decision.diagnosis.diagnosedAt
            ? minutesBetween(onsetOf(incident), decision.diagnosis.diagnosedAt)
            : null,
          evidence: decision.diagnosis.evidence,
          llm: decision.diagnosis.llm
            ? {
                model: decision.diagnosis.llm.model ?? null,
                explanation: decision.diagnosis.llm.explanation ?? null,
                fallbackReason: decision.diagnosis.llm.fallbackReason ?? null,
              }
            : null,
          similarCases: (decision.diagnosis.similarCases ?? []).map((c) => ({
            incidentId: c.incidentId,
            service: c.service,
            kind: c.kind,
            similarity: c.similarity,
            outcome: c.outcome,
          })),
          runbooks: (decision.diagnosis.runbooks ?? []).map((r) => r.title),
          gaps: decision.diagnosis.gaps ?? [],
          keySeries: decision.diagnosis.keySeries
            ? { series: decision.diagnosis.keySeries.series, points: [...decision.diagnosis.keySeries.points] }
            : null,
        }
      : null,
    risk: decision?.risk
      ? {
          score: decision.risk.score,
          tier: decision.risk.tier,
          factors: decision.risk.factors.map((f) => ({
            name: f.name,
            contribution: f.contribution,
            explanation: f.explanation,
          })),
          overrides: decision.risk.overrides,
        }
      : null,
    plan: (decision?.plan ?? []).map((p) => ({ action: p.action, target: formatTarget(p.target) })),
    executed: (decision?.execution ?? [])
      .filter((e) => e.result !== 'refused')
      .map((e) => ({ action: e.action, target: e.target, dryRun: e.dryRun, result: e.result })),
    recovery: decision?.verification
      ? {
          status: decision.verification.status,
          checks: decision.verification.checks,
          recoveredAt: decision.verification.recoveredAt ?? null,
          minutesToRecover: decision.verification.recoveredAt
            ? minutesBetween(decision.verification.startedAt, decision.verification.recoveredAt)
            : null,
          minutesFromOpen: decision.verification.recoveredAt
            ? minutesBetween(incident.openedAt, decision.verification.recoveredAt)
            : null,
          detail: decision.verification.detail,
        }
      : null,
    undone: (decision?.undo ?? []).map((u) => ({
      action: u.action,
      target: u.target,
      result: u.result,
      detail: u.detail,
    })),
    outcome: decision?.outcome ?? null,
    refused: [
      ...(decision?.guardrails?.refused ?? []),
      ...(decision?.execution ?? [])
        .filter((e) => e.result === 'refused')
        .map((e) => ({ action: e.action, target: e.target, rule: e.detail.split(':')[0], detail: e.detail })),
    ],
    approval: decision?.approval
      ? {
          approved: decision.approval.approved,
          votes: decision.approval.votes.map((v) => ({ user: v.userName, role: v.role })),
        }
      : null,
    predictedBreachAt: incident.predictedBreachAt ?? null,
    notifiedAt: notifiedAt ?? null,
    status: incident.status,
    resolvedAt: incident.resolvedAt ?? null,
    signals: incident.signals.map((s) => ({
      series: s.key,
      firstAnomalousAt: s.firstAnomalousAt,
      peakZ: finite(s.peakZ),
      valueAtPeak: finite(s.valueAtPeak),
      expectedAtPeak: finite(s.expectedAtPeak),
      hardLimitBreached: s.hardLimitBreached,
      predictedBreachAt: s.predictedBreachAt ?? null,
    })),
  };
}

/** A human timeline: one block per incident, in the order they opened. */
export function formatTimeline(report: ReplayReport): string {
  const lines: string[] = [];
  lines.push(
    `Scenario ${report.scenario}: ${report.ticks} ticks from ${report.evaluatedFrom} to ${report.evaluatedUntil}`,
  );
  lines.push(
    `Baselines: ${report.baselines.learned} series learned (${report.baselines.skipped} without enough history), relearned ${report.baselines.relearned}x`,
  );
  if (report.incidents.length === 0) lines.push('No incident opened.');
  for (const incident of report.incidents) {
    lines.push('');
    lines.push(`${clock(incident.openedAt)}  OPENED  ${incident.id}  (${incident.kind})`);
    lines.push(`         services: ${incident.services.join(', ')}`);
    if (incident.rootCause) {
      lines.push(
        `         likely root cause: ${incident.rootCause.service} (confidence ${incident.rootCause.confidence})`,
      );
      const d = incident.diagnosis;
      for (const e of d?.evidence ?? incident.candidates[0]?.evidence ?? []) lines.push(`           - ${e}`);
      if (d) {
        const how = d.method === 'llm' ? `re-ranked by ${d.llm?.model ?? 'the model'}` : 'rule analyzers';
        const fallback = d.llm?.fallbackReason ? ` (model not used: ${d.llm.fallbackReason})` : '';
        lines.push(
          `         diagnosed by ${how}${fallback}, ${d.minutesToIdentify ?? '?'} min after the first symptom`,
        );
        for (const c of d.similarCases) {
          lines.push(
            `         similar past case: ${c.incidentId} (${c.kind} on ${c.service}, ${c.outcome}, similarity ${c.similarity})`,
          );
        }
        for (const r of d.runbooks) lines.push(`         runbook: ${r}`);
        if (d.keySeries) lines.push(`         last hour of ${d.keySeries.series}: ${sparkline(d.keySeries.points)}`);
      }
    }
    if (incident.risk) {
      const overrides = incident.risk.overrides.length ? ` (${incident.risk.overrides.join('; ')})` : '';
      lines.push(`         risk ${incident.risk.score.toFixed(2)} -> ${incident.risk.tier}${overrides}`);
      for (const f of incident.risk.factors.filter((x) => x.contribution > 0)) {
        lines.push(`           ${f.name.padEnd(14)} +${f.contribution.toFixed(3)}  ${f.explanation}`);
      }
    }
    for (const p of incident.plan) lines.push(`         plan: ${p.action} ${p.target}`);
    for (const r of incident.refused) lines.push(`         refused: ${r.action} ${r.target} (${r.rule}: ${r.detail})`);
    if (incident.approval) {
      lines.push(`         approved by ${incident.approval.votes.map((v) => `${v.user} (${v.role})`).join(', ')}`);
    }
    for (const e of incident.executed) {
      lines.push(`         executed: ${e.action} ${e.target} ${e.dryRun ? '(dry run) ' : ''}${e.result}`);
    }
    if (incident.recovery) {
      const r = incident.recovery;
      lines.push(
        r.recoveredAt
          ? `${clock(r.recoveredAt)}  RECOVERED ${r.minutesToRecover} min after the change (${plural(r.checks, 'check')})`
          : `         recovery ${r.status} after ${plural(r.checks, 'check')}`,
      );
      if (!r.recoveredAt) for (const d of r.detail.slice(-3)) lines.push(`           - ${d}`);
    }
    for (const u of incident.undone) lines.push(`         undo: ${u.action} ${u.target} ${u.result} (${u.detail})`);
    if (incident.outcome) lines.push(`         workflow outcome: ${incident.outcome}`);
    if (incident.predictedBreachAt) {
      lines.push(`         hard limit predicted to be crossed at ${clock(incident.predictedBreachAt)}`);
    }
    for (const s of incident.signals.slice(0, 6)) {
      const detail = s.predictedBreachAt
        ? `trend crosses its limit at ${clock(s.predictedBreachAt)} (value ${fmt(s.valueAtPeak)})`
        : `peak ${fmt(s.valueAtPeak)} vs expected ${fmt(s.expectedAtPeak)}${s.hardLimitBreached ? '  (hard limit crossed)' : ''}`;
      lines.push(`         ${clock(s.firstAnomalousAt)}  ${s.series.padEnd(40)} ${detail}`);
    }
    if (incident.signals.length > 6) lines.push(`         … and ${incident.signals.length - 6} more signals`);
    lines.push(
      incident.resolvedAt
        ? `${clock(incident.resolvedAt)}  RESOLVED ${incident.id}`
        : '         still open at the end of the replay',
    );
  }
  lines.push('');
  lines.push(
    `Alerts: ${plural(report.alerts.raw, 'raw alert')} delivered by the scenario's Alertmanager; ${plural(report.alerts.notified, 'message')} reached a person (${report.alerts.fromAlertManager} from the alert manager, ${report.alerts.fromWorkflows} from incident workflows)${report.alerts.raw > 0 ? `: ${reduction(report.alerts)} fewer` : ''}.`,
  );
  const suppressed = Object.entries(report.alerts.suppressed).filter(([, n]) => n > 0);
  if (suppressed.length > 0) lines.push(`  kept back: ${suppressed.map(([why, n]) => `${n} ${why}`).join(', ')}`);
  const identified = report.incidents
    .map((i) => i.diagnosis?.minutesToIdentify)
    .filter((m): m is number => typeof m === 'number');
  if (identified.length > 0) {
    lines.push(
      `Time to identify (first symptom to diagnosis): ${identified.map((m) => `${m} min`).join(', ')}; worst ${Math.max(...identified)} min.`,
    );
  }
  const heal = report.selfHealing;
  if (heal.attempted > 0) {
    const median = heal.medianMinutesToRecover === null ? '' : `, median ${heal.medianMinutesToRecover} min to recover`;
    lines.push(
      `Self-healing: ${heal.recovered} of ${plural(heal.attempted, 'remediated incident')} recovered${median}; ${heal.undone} undone.`,
    );
  }
  if (report.pendingWorkflows > 0) {
    lines.push(`Incident workflows still verifying recovery at the end: ${report.pendingWorkflows}`);
  }
  if (report.failedTicks > 0) lines.push(`Failed ticks (sent to the dead-letter queue): ${report.failedTicks}`);
  for (const f of report.failedWorkflows)
    lines.push(`Incident workflow failed for ${f.incidentId}: ${f.error}: ${f.cause}`);
  if (report.collectionErrors > 0) lines.push(`Signal collection errors: ${report.collectionErrors}`);
  for (const e of report.queryErrors) {
    const when = e.phase === 'learn' ? 'learning baselines' : `collecting, from ${clock(e.firstAt)}`;
    lines.push(`  ${e.signalId} (${when}, ${plural(e.count, 'time')}): ${e.kind} error: ${e.message}`);
    lines.push(`    query: ${e.query}`);
  }
  return lines.join('\n');
}

const reduction = (a: { raw: number; notified: number }): string =>
  `${Math.round((1 - a.notified / a.raw) * 1000) / 10} %`;
const plural = (n: number, noun: string): string => `${n} ${noun}${n === 1 ? '' : 's'}`;
const clock = (iso: string): string => `${iso.slice(5, 10)} ${iso.slice(11, 16)}`;
const fmt = (x: number | null): string => (x === null ? 'n/a' : Number(x.toPrecision(3)).toString());
