// Builds an incident scenario directory (OpenMetrics, Loki pushes, Kubernetes events, deploy events,
// Alertmanager webhook deliveries and the ground truth) from a compact JSON spec. The output is a pure
// function of the spec: the same spec and seed give byte-identical files.
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { stringify } from 'yaml';
import { z } from 'zod';

// ============================================================================================
// Spec
// ============================================================================================

export const FAULT_KINDS = [
  'bad-deploy',
  'memory-leak',
  'datastore-saturation',
  'cache-latency',
  'traffic-surge',
  'consumer-lag',
  'disk-fill',
  'dependency-outage',
  'funds-service-errors',
  'engine-latency',
] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

export const SERVICE_KINDS = ['service', 'datastore', 'queue'] as const;
export type ServiceKind = (typeof SERVICE_KINDS)[number];

export const RISK_TIERS = ['LOW', 'MEDIUM', 'HIGH', 'CRITICAL'] as const;

const REMEDIATION_ACTIONS = new Set([
  'restart-pod',
  'rollout-restart',
  'scale-up',
  'cache-flush',
  'rollback',
  'config-revert',
  'rate-limit',
  'db-failover',
  'az-failover',
  'engine-restart',
  'pause-trading',
  'order-correction',
]);
const MONEY_ACTION = /^(wallet|balance)-[a-z0-9-]+$/;

/** Short signal names a spec may use (benign spikes); each maps to one metric family. */
export const SIGNAL_KEYS = ['rps', 'err', 'p99', 'cpu', 'mem', 'rst', 'conn', 'qp99', 'lag', 'disk'] as const;
export type SignalKey = (typeof SIGNAL_KEYS)[number];

export const METRIC_OF: Readonly<Record<SignalKey, string>> = {
  rps: 'service:http_requests:rate1m',
  err: 'service:http_errors:ratio_rate1m',
  p99: 'service:http_request_duration_seconds:p99',
  cpu: 'service:container_cpu_usage:ratio',
  mem: 'service:container_memory_working_set:ratio',
  rst: 'service:kube_pod_restarts:increase5m',
  conn: 'datastore:connections_used:ratio',
  qp99: 'datastore:query_duration_seconds:p99',
  lag: 'queue:consumer_lag:messages',
  disk: 'node:filesystem_avail:ratio',
};

const SIGNALS_OF_KIND: Readonly<Record<ServiceKind, readonly SignalKey[]>> = {
  service: ['rps', 'err', 'p99', 'cpu', 'mem', 'rst'],
  datastore: ['conn', 'qp99', 'cpu', 'disk'],
  queue: ['lag', 'rps'],
};

const dnsLabel = z
  .string()
  .regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, 'must be a lowercase DNS label (a-z, 0-9, "-")')
  .max(63);
const instant = z.iso.datetime({ offset: true, message: 'must be an RFC 3339 time such as 2026-11-04T03:05:00Z' });
const ratio = z.number().min(0).max(1);
const positive = z.number().positive();

const ServiceSpecSchema = z.strictObject({
  name: dnsLabel,
  kind: z.enum(SERVICE_KINDS).default('service'),
  criticality: z.enum(['funds', 'core', 'standard']).default('standard'),
  namespace: dnsLabel.default('default'),
  deployment: dnsLabel.optional(),
  replicas: z.number().int().min(1).max(1000).optional(),
  rps: positive.optional(),
  latency: positive.optional(),
  cpu: ratio.optional(),
  mem: ratio.optional(),
  conn: ratio.optional(),
  disk: ratio.optional(),
  errors: ratio.optional(),
  lag: z.number().min(0).optional(),
  noise: z.number().min(0).max(0.5).optional(),
  daily: z.number().min(0).max(0.95).optional(),
  weekly: z.number().min(0).max(0.5).optional(),
  peakHour: z.number().min(0).max(24).optional(),
  dependsOn: z.array(z.string()).default([]),
});

const actionName = z
  .string()
  .refine((a) => REMEDIATION_ACTIONS.has(a) || MONEY_ACTION.test(a), { message: 'unknown remediation action' });

const FaultSpecSchema = z.strictObject({
  id: z.string().min(1),
  kind: z.enum(FAULT_KINDS),
  service: z.string(),
  start: instant,
  /** minutes */
  duration: z
    .number()
    .positive()
    .max(7 * 1440)
    .default(30),
  severity: z.number().positive().max(3).default(1),
  tier: z.enum(RISK_TIERS),
  actions: z.array(actionName).default([]),
  version: z.string().optional(),
  previousVersion: z.string().optional(),
  /** traffic-surge: traffic multiplier at full effect */
  factor: z.number().min(1).max(100).optional(),
  /** disk-fill: share of the free space consumed over the fault duration (1 = exactly full at the end) */
  fill: z.number().positive().max(10).optional(),
  /** consumer-lag: messages of backlog added per minute */
  rate: z.number().positive().optional(),
});

const BenignSpecSchema = z.discriminatedUnion('kind', [
  z.strictObject({
    kind: z.literal('deploy'),
    service: z.string(),
    at: instant,
    version: z.string().optional(),
    previousVersion: z.string().optional(),
  }),
  z.strictObject({
    kind: z.literal('spike'),
    service: z.string(),
    at: instant,
    metric: z.enum(SIGNAL_KEYS).default('p99'),
    minutes: z.number().int().min(1).max(30).default(1),
    factor: z.number().positive().max(20).default(1.8),
  }),
  z.strictObject({
    kind: z.literal('gap'),
    service: z.string(),
    at: instant,
    minutes: z.number().int().min(1).max(240).default(5),
  }),
]);

export const ScenarioSpecSchema = z
  .strictObject({
    name: z.string().regex(/^[a-z0-9][-a-z0-9_.]*$/, 'must be lowercase letters, digits, "-", "_" or "."'),
    description: z.string().default(''),
    seed: z.number().int().min(0).max(0xffffffff).default(1),
    start: instant,
    historyDays: z.number().int().min(0).max(60).default(3),
    evaluateDays: z.number().int().min(1).max(30).default(1),
    /** seconds between samples; must divide a minute */
    step: z
      .number()
      .int()
      .refine((s) => s >= 10 && 60 % s === 0, { message: 'must be 10, 12, 15, 20, 30 or 60 seconds' })
      .default(60),
    /** Watchdog heartbeat and one flapping alert in the evaluation window */
    alertNoise: z.boolean().default(true),
    services: z.array(ServiceSpecSchema).min(1),
    faults: z.array(FaultSpecSchema).default([]),
    benign: z.array(BenignSpecSchema).default([]),
  })
  .superRefine((spec, ctx) => {
    const report = (path: PropertyKey[], message: string) => ctx.addIssue({ code: 'custom', path, message });
    const kinds = new Map<string, ServiceKind>();
    spec.services.forEach((s, i) => {
      if (kinds.has(s.name)) report(['services', i, 'name'], `duplicate service "${s.name}"`);
      kinds.set(s.name, s.kind);
    });
    const known = [...kinds.keys()].join(', ');
    const unknown = (name: string) => `unknown service "${name}" (known: ${known})`;
    spec.services.forEach((s, i) => {
      s.dependsOn.forEach((d, j) => {
        if (!kinds.has(d)) report(['services', i, 'dependsOn', j], unknown(d));
        else if (d === s.name) report(['services', i, 'dependsOn', j], `"${d}" cannot depend on itself`);
      });
    });
    const t0 = Date.parse(spec.start);
    const tEnd = t0 + (spec.historyDays + spec.evaluateDays) * 86_400_000;
    const window = `${spec.start} .. ${iso(tEnd / 1000)}`;
    const ids = new Set<string>();
    spec.faults.forEach((f, i) => {
      if (ids.has(f.id)) report(['faults', i, 'id'], `duplicate fault id "${f.id}"`);
      ids.add(f.id);
      const t = Date.parse(f.start);
      if (t < t0 || t >= tEnd) report(['faults', i, 'start'], `${f.start} is outside the scenario (${window})`);
      const kind = kinds.get(f.service);
      if (kind === undefined) {
        report(['faults', i, 'service'], unknown(f.service));
        return;
      }
      const allowed = FAULT_MODELS[f.kind].rootKinds;
      if (!allowed.includes(kind)) {
        report(['faults', i, 'service'], `${f.kind} needs a ${allowed.join(' or ')} root, "${f.service}" is a ${kind}`);
      }
      const svc = spec.services.find((s) => s.name === f.service);
      if (f.kind === 'funds-service-errors' && svc?.criticality !== 'funds') {
        report(['faults', i, 'service'], `funds-service-errors needs a service with criticality funds`);
      }
      if (f.kind === 'consumer-lag' && kind === 'service') {
        const consumesQueue = svc?.dependsOn.some((d) => kinds.get(d) === 'queue');
        if (!consumesQueue) report(['faults', i, 'service'], `consumer-lag on a service needs it to depend on a queue`);
      }
    });
    spec.benign.forEach((b, i) => {
      const t = Date.parse(b.at);
      if (t < t0 || t >= tEnd) report(['benign', i, 'at'], `${b.at} is outside the scenario (${window})`);
      const kind = kinds.get(b.service);
      if (kind === undefined) {
        report(['benign', i, 'service'], unknown(b.service));
        return;
      }
      if (b.kind === 'spike' && !SIGNALS_OF_KIND[kind].includes(b.metric)) {
        report(
          ['benign', i, 'metric'],
          `a ${kind} has no "${b.metric}" signal (has ${SIGNALS_OF_KIND[kind].join(', ')})`,
        );
      }
      if (b.kind === 'deploy' && kind === 'datastore') report(['benign', i, 'service'], 'datastores are not deployed');
    });
  });

/** What a spec file holds (optional fields may be left out). */
export type ScenarioSpec = z.input<typeof ScenarioSpecSchema>;
/** A validated spec with every default filled in. */
export type ResolvedScenarioSpec = z.output<typeof ScenarioSpecSchema>;
type ResolvedService = ResolvedScenarioSpec['services'][number];
type ResolvedFault = ResolvedScenarioSpec['faults'][number];

export class ScenarioSpecError extends Error {
  constructor(readonly issues: readonly string[]) {
    super(`invalid scenario spec:\n${issues.map((i) => `  - ${i}`).join('\n')}`);
    this.name = 'ScenarioSpecError';
  }
}

function issuePath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const part of path) out += typeof part === 'number' ? `[${part}]` : `${out ? '.' : ''}${String(part)}`;
  return out || '(spec)';
}

/** Validates a spec (e.g. parsed JSON); throws ScenarioSpecError naming every offending field. */
export function parseScenarioSpec(input: unknown): ResolvedScenarioSpec {
  const result = ScenarioSpecSchema.safeParse(input);
  if (result.success) return result.data;
  throw new ScenarioSpecError(result.error.issues.map((i) => `${issuePath(i.path)}: ${i.message}`));
}

// ============================================================================================
// Deterministic randomness: xoshiro128** seeded through splitmix32, one stream per concern so that
// e.g. adding a benign event does not reshuffle the baseline noise of every series.
// ============================================================================================

function fnv1a32(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

class Prng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;
  private spare: number | null = null;

  constructor(seed: number, stream: string) {
    let state = (fnv1a32(`${seed}/${stream}`) ^ Math.imul(seed, 0x9e3779b1)) | 0;
    const mix = () => {
      state = (state + 0x9e3779b9) | 0;
      let z = state;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.a = mix();
    this.b = mix();
    this.c = mix();
    this.d = mix() || 1;
  }

  /** uniform in [0, 1) */
  next(): number {
    const rotl = (x: number, k: number) => (x << k) | (x >>> (32 - k));
    const result = Math.imul(rotl(Math.imul(this.b, 5), 7), 9) >>> 0;
    const t = this.b << 9;
    this.c ^= this.a;
    this.d ^= this.b;
    this.b ^= this.c;
    this.a ^= this.d;
    this.c ^= t;
    this.d = rotl(this.d, 11);
    return result / 4294967296;
  }

  /** standard normal (Marsaglia polar method) */
  normal(): number {
    if (this.spare !== null) {
      const v = this.spare;
      this.spare = null;
      return v;
    }
    for (;;) {
      const u = 2 * this.next() - 1;
      const v = 2 * this.next() - 1;
      const s = u * u + v * v;
      if (s > 0 && s < 1) {
        const k = Math.sqrt((-2 * Math.log(s)) / s);
        this.spare = v * k;
        return u * k;
      }
    }
  }

  between(lo: number, hi: number): number {
    return lo + (hi - lo) * this.next();
  }

  /** integer in [lo, hi] */
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }

  chance(p: number): boolean {
    return this.next() < p;
  }

  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.next() * items.length)];
  }

  hex(length: number): string {
    let out = '';
    while (out.length < length)
      out += Math.floor(this.next() * 0x10000)
        .toString(16)
        .padStart(4, '0');
    return out.slice(0, length);
  }

  uuid(): string {
    const h = this.hex(32);
    const variant = '89ab'[Math.floor(this.next() * 4)];
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-${variant}${h.slice(17, 20)}-${h.slice(20)}`;
  }

  /** a pod IP in the cluster's VPC range */
  podIp(): string {
    return `10.${this.int(0, 3)}.${this.int(0, 255)}.${this.int(2, 254)}`;
  }

  /** Poisson-distributed count (Knuth; fine for the small means used here) */
  poisson(mean: number): number {
    if (mean <= 0) return 0;
    const limit = Math.exp(-mean);
    let k = 0;
    let p = this.next();
    while (p > limit) {
      k++;
      p *= this.next();
    }
    return k;
  }
}

// ============================================================================================
// Time
// ============================================================================================

function iso(seconds: number): string {
  return new Date(Math.round(seconds * 1000)).toISOString().replace('.000Z', 'Z');
}

function isoMillis(seconds: number): string {
  return new Date(Math.round(seconds * 1000)).toISOString();
}

const epoch = (text: string): number => Date.parse(text) / 1000;

class Clock {
  readonly start: number;
  readonly evaluateFrom: number;
  readonly end: number;
  readonly count: number;
  /** samples per minute */
  readonly perMinute: number;

  constructor(
    spec: ResolvedScenarioSpec,
    readonly step: number = spec.step,
  ) {
    this.start = epoch(spec.start);
    this.evaluateFrom = this.start + spec.historyDays * 86_400;
    this.end = this.evaluateFrom + spec.evaluateDays * 86_400;
    this.count = Math.round((this.end - this.start) / step);
    this.perMinute = 60 / step;
  }

  time(i: number): number {
    return this.start + i * this.step;
  }

  /** first sample index at or after t, clipped to [0, count] */
  indexFrom(t: number): number {
    return Math.min(this.count, Math.max(0, Math.ceil((t - this.start) / this.step - 1e-9)));
  }
}

// ============================================================================================
// Services, their baseline profile and their series
// ============================================================================================

interface Profile {
  rps: number;
  latency: number;
  cpu: number;
  mem: number;
  conn: number;
  disk: number;
  errors: number;
  lag: number;
  noise: number;
  daily: number;
  weekly: number;
  peakHour: number;
}

const PROFILE_DEFAULTS: Readonly<Record<ServiceKind, Profile>> = {
  service: {
    rps: 500,
    latency: 0.05,
    cpu: 0.35,
    mem: 0.45,
    conn: 0.3,
    disk: 0.55,
    errors: 0.002,
    lag: 200,
    noise: 0.04,
    daily: 0.35,
    weekly: 0.05,
    peakHour: 14,
  },
  datastore: {
    rps: 500,
    latency: 0.004,
    cpu: 0.3,
    mem: 0.6,
    conn: 0.3,
    disk: 0.55,
    errors: 0,
    lag: 200,
    noise: 0.04,
    daily: 0.35,
    weekly: 0.05,
    peakHour: 14,
  },
  queue: {
    rps: 2000,
    latency: 0.01,
    cpu: 0.3,
    mem: 0.45,
    conn: 0.3,
    disk: 0.55,
    errors: 0,
    lag: 200,
    noise: 0.04,
    daily: 0.35,
    weekly: 0.05,
    peakHour: 14,
  },
};

interface ServiceModel {
  readonly spec: ResolvedService;
  readonly name: string;
  readonly kind: ServiceKind;
  readonly namespace: string;
  readonly deployment: string;
  readonly replicas: number;
  readonly profile: Profile;
  readonly signals: Partial<Record<SignalKey, Float64Array>>;
  /** version running when the scenario starts */
  readonly initialVersion: string;
}

function modelServices(spec: ResolvedScenarioSpec, clock: Clock): ServiceModel[] {
  return spec.services.map((s) => {
    const rng = new Prng(spec.seed, `identity/${s.name}`);
    const defaults = PROFILE_DEFAULTS[s.kind];
    const profile: Profile = {
      rps: s.rps ?? defaults.rps,
      latency: s.latency ?? defaults.latency,
      cpu: s.cpu ?? defaults.cpu,
      mem: s.mem ?? defaults.mem,
      conn: s.conn ?? defaults.conn,
      disk: s.disk ?? defaults.disk,
      errors: s.errors ?? defaults.errors,
      lag: s.lag ?? defaults.lag,
      noise: s.noise ?? defaults.noise,
      daily: s.daily ?? defaults.daily,
      weekly: s.weekly ?? defaults.weekly,
      peakHour: s.peakHour ?? defaults.peakHour,
    };
    const signals: Partial<Record<SignalKey, Float64Array>> = {};
    for (const key of SIGNALS_OF_KIND[s.kind]) signals[key] = new Float64Array(clock.count);
    return {
      spec: s,
      name: s.name,
      kind: s.kind,
      namespace: s.namespace,
      deployment: s.deployment ?? s.name,
      replicas: s.replicas ?? 3,
      profile,
      signals,
      initialVersion: `v${rng.int(1, 4)}.${rng.int(0, 19)}.${rng.int(0, 9)}`,
    };
  });
}

class Topology {
  private readonly callers = new Map<string, ServiceModel[]>();
  readonly byName = new Map<string, ServiceModel>();

  constructor(readonly services: readonly ServiceModel[]) {
    for (const s of services) {
      this.byName.set(s.name, s);
      this.callers.set(s.name, []);
    }
    for (const s of services) for (const d of s.spec.dependsOn) this.callers.get(d)?.push(s);
  }

  get(name: string): ServiceModel {
    const s = this.byName.get(name);
    if (!s) throw new Error(`unknown service ${name}`);
    return s;
  }

  /**
   * The root and every service that (transitively) calls it, nearest first. `via` is the dependency
   * through which a caller sees the failure; `weight` is the attenuated share of the root's symptom.
   */
  blastRadius(root: ServiceModel): Impact[] {
    const seen = new Map<string, Impact>([[root.name, { svc: root, hop: 0, weight: 1, via: null }]]);
    const queue: Impact[] = [seen.get(root.name)!];
    for (let k = 0; k < queue.length; k++) {
      const here = queue[k];
      for (const caller of this.callers.get(here.svc.name) ?? []) {
        if (seen.has(caller.name)) continue;
        const next: Impact = {
          svc: caller,
          hop: here.hop + 1,
          weight: HOP_ATTENUATION ** (here.hop + 1),
          via: here.svc,
        };
        seen.set(caller.name, next);
        queue.push(next);
      }
    }
    return queue;
  }
}

interface Impact {
  svc: ServiceModel;
  hop: number;
  weight: number;
  via: ServiceModel | null;
}

const HOP_ATTENUATION = 0.6;

// ---------- baseline shapes ----------

const DAY = 86_400;

/** diurnal curve peaking at peakHour with a softer secondary bump, in multiples of the mean */
function diurnal(p: Profile, t: number): number {
  const hour = (t % DAY) / 3600;
  const phase = (2 * Math.PI * (hour - p.peakHour)) / 24;
  return 1 + p.daily * (0.92 * Math.cos(phase) + 0.12 * Math.cos(2 * phase - 0.7));
}

/** weekend dip, interpolated between midday anchors so there is no step at midnight */
function weekly(p: Profile, t: number): number {
  const level = (dayStart: number) => {
    const dow = new Date(dayStart * 1000).getUTCDay();
    return dow === 0 || dow === 6 ? 1 - p.weekly : 1 + 0.3 * p.weekly;
  };
  const anchor = Math.floor((t - DAY / 2) / DAY) * DAY + DAY / 2;
  const frac = (t - anchor) / DAY;
  return level(anchor - DAY / 2) * (1 - frac) + level(anchor + DAY / 2) * frac;
}

/** multiplicative noise: half autocorrelated (AR(1)), half white, with total deviation `sigma` */
class Wobble {
  private state = 0;
  private readonly arSigma: number;
  private readonly whiteSigma: number;

  constructor(
    private readonly rng: Prng,
    sigma: number,
    private readonly phi = 0.85,
  ) {
    this.arSigma = sigma * Math.SQRT1_2;
    this.whiteSigma = sigma * Math.SQRT1_2;
    this.state = this.arSigma * rng.normal();
  }

  next(): number {
    this.state = this.phi * this.state + Math.sqrt(1 - this.phi * this.phi) * this.arSigma * this.rng.normal();
    return Math.max(0.05, 1 + this.state + this.whiteSigma * this.rng.normal());
  }
}

const clamp = (v: number, lo: number, hi: number) => Math.max(lo, Math.min(hi, v));

/** fills the no-incident shape of every series; `rollouts` are deploy times per service (memory resets) */
function synthesizeBaseline(
  seed: number,
  clock: Clock,
  svc: ServiceModel,
  rollouts: readonly number[],
  restartWindow: number,
): void {
  const rng = new Prng(seed, `baseline/${svc.name}`);
  const p = svc.profile;
  const w = () => new Wobble(rng, p.noise);
  const s = svc.signals;
  const n = clock.count;
  const wob = { rps: w(), p99: w(), cpu: w(), conn: w(), qp99: w() };
  // memory: working set creeps up between rollouts and wanders slowly around it
  let lastRollout = clock.start - rng.between(0.3, 2.5) * DAY;
  let rolloutIdx = 0;
  let drift = 0;
  const sorted = [...rollouts].sort((a, b) => a - b);
  const diskSlope = rng.between(0.004, 0.007) / DAY;

  for (let i = 0; i < n; i++) {
    const t = clock.time(i);
    const load = diurnal(p, t) * weekly(p, t);
    if (svc.kind === 'service') {
      s.rps![i] = p.rps * load * wob.rps.next();
      s.err![i] = Math.max(0, p.errors * (1 + 0.3 * (load - 1)) * Math.max(0.15, 1 + 0.2 * rng.normal()));
      s.p99![i] = p.latency * (1 + 0.35 * (load - 1)) * wob.p99.next();
      s.cpu![i] = clamp(p.cpu * (0.1 + 0.9 * load) * wob.cpu.next(), 0, 1);
      while (rolloutIdx < sorted.length && sorted[rolloutIdx] <= t) lastRollout = sorted[rolloutIdx++];
      drift = 0.998 * drift + 0.0004 * rng.normal();
      const creep = (0.012 * (t - lastRollout)) / DAY;
      s.mem![i] = clamp(p.mem + creep + drift + 0.006 * rng.normal(), 0, 1);
      if (rng.chance(0.0002 / clock.perMinute)) {
        for (let k = i; k < Math.min(n, i + restartWindow); k++) s.rst![k] += 1;
      }
    } else if (svc.kind === 'datastore') {
      s.conn![i] = clamp(p.conn * (0.6 + 0.4 * load) * wob.conn.next(), 0, 1);
      s.qp99![i] = p.latency * (1 + 0.25 * (load - 1)) * wob.qp99.next();
      s.cpu![i] = clamp(p.cpu * load * wob.cpu.next(), 0, 1);
      s.disk![i] = clamp(p.disk - diskSlope * (t - clock.start) + 0.0008 * rng.normal(), 0, 1);
    } else {
      s.lag![i] = Math.max(0, p.lag * load * (1 + 0.3 * rng.normal()));
      s.rps![i] = p.rps * load * wob.rps.next();
    }
  }
}

// ============================================================================================
// Side channels: logs, Kubernetes events, deploy events
// ============================================================================================

type LogLevel = 'error' | 'warn' | 'info';

interface LogEntry {
  /** unix milliseconds */
  ms: number;
  service: string;
  namespace: string;
  level: LogLevel;
  line: string;
}

interface DeployEvent {
  time: string;
  service: string;
  namespace: string;
  version: string;
  previousVersion: string;
  actor: string;
  source: string;
}

interface KubeEvent {
  apiVersion: 'v1';
  kind: 'Event';
  metadata: { name: string; namespace: string; uid: string; resourceVersion: string; creationTimestamp: string };
  involvedObject: {
    apiVersion: string;
    kind: string;
    name: string;
    namespace: string;
    uid: string;
    fieldPath?: string;
  };
  reason: string;
  message: string;
  source: { component: string; host?: string };
  firstTimestamp: string;
  lastTimestamp: string;
  count: number;
  type: 'Normal' | 'Warning';
  eventTime: null;
  reportingComponent: string;
  reportingInstance: string;
}

const POD_HASH_ALPHABET = 'bcdfghjklmnpqrstvwxz2456789';

function podTemplateHash(deployment: string, version: string): string {
  let h = fnv1a32(`${deployment}@${version}`);
  let out = '';
  for (let k = 0; k < 10; k++) {
    out += POD_HASH_ALPHABET[h % POD_HASH_ALPHABET.length];
    h = Math.floor(h / POD_HASH_ALPHABET.length) ^ Math.imul(h, 31);
    h >>>= 0;
  }
  return out;
}

class ClusterRecorder {
  readonly logs: LogEntry[] = [];
  readonly deploys: DeployEvent[] = [];
  private readonly events: { at: number; event: KubeEvent }[] = [];
  private readonly uids = new Map<string, string>();
  private readonly nodes = new Map<string, string>();

  constructor(private readonly rng: Prng) {}

  log(svc: ServiceModel, atSeconds: number, level: LogLevel, line: string): void {
    const ms = Math.round(atSeconds * 1000);
    this.logs.push({ ms, service: svc.name, namespace: svc.namespace, level, line });
  }

  deploy(svc: ServiceModel, at: number, version: string, previousVersion: string): void {
    this.deploys.push({
      time: iso(at),
      service: svc.name,
      namespace: svc.namespace,
      version,
      previousVersion,
      actor: 'argocd',
      source: 'argocd',
    });
    const next = `${svc.deployment}-${podTemplateHash(svc.deployment, version)}`;
    const prev = `${svc.deployment}-${podTemplateHash(svc.deployment, previousVersion)}`;
    const deployment = { apiVersion: 'apps/v1', kind: 'Deployment', name: svc.deployment };
    this.event(svc, at + 1, deployment, 'ScalingReplicaSet', `Scaled up replica set ${next} to ${svc.replicas} from 0`);
    this.event(
      svc,
      at + 75 + this.rng.int(0, 40),
      deployment,
      'ScalingReplicaSet',
      `Scaled down replica set ${prev} to 0 from ${svc.replicas}`,
    );
  }

  podName(svc: ServiceModel, version: string, ordinal: number): string {
    const r = new Prng(ordinal, `pod/${svc.name}/${version}`);
    let suffix = '';
    for (let k = 0; k < 5; k++) suffix += r.pick([...POD_HASH_ALPHABET]);
    return `${svc.deployment}-${podTemplateHash(svc.deployment, version)}-${suffix}`;
  }

  /** records an event; repeated (object, reason) pairs within 10 minutes are folded into one with a count */
  event(
    svc: ServiceModel,
    at: number,
    object: { apiVersion: string; kind: string; name: string; fieldPath?: string },
    reason: string,
    message: string,
    type: 'Normal' | 'Warning' = 'Normal',
  ): void {
    const existing = this.events.find(
      (e) =>
        e.event.involvedObject.name === object.name &&
        e.event.reason === reason &&
        at - Date.parse(e.event.lastTimestamp) / 1000 <= 600,
    );
    if (existing && reason === 'BackOff') {
      existing.event.count += 1;
      existing.event.lastTimestamp = iso(at);
      existing.at = at;
      return;
    }
    const component =
      object.kind === 'Pod'
        ? 'kubelet'
        : object.kind === 'HorizontalPodAutoscaler'
          ? 'horizontal-pod-autoscaler'
          : 'deployment-controller';
    const host = object.kind === 'Pod' ? this.nodeOf(object.name) : undefined;
    const nanos = BigInt(Math.round(at * 1000)) * 1_000_000n + BigInt(this.rng.int(0, 999_999));
    this.events.push({
      at,
      event: {
        apiVersion: 'v1',
        kind: 'Event',
        metadata: {
          name: `${object.name}.${nanos.toString(16)}`,
          namespace: svc.namespace,
          uid: this.rng.uuid(),
          resourceVersion: '',
          creationTimestamp: iso(at),
        },
        involvedObject: { ...object, namespace: svc.namespace, uid: this.uidOf(object.name) },
        reason,
        message,
        source: host ? { component, host } : { component },
        firstTimestamp: iso(at),
        lastTimestamp: iso(at),
        count: 1,
        type,
        eventTime: null,
        reportingComponent: component === 'kubelet' ? 'kubelet' : component,
        reportingInstance: host ?? '',
      },
    });
  }

  eventList(): { apiVersion: 'v1'; kind: 'EventList'; items: KubeEvent[]; metadata: { resourceVersion: string } } {
    const ordered = [...this.events].sort((x, y) => x.at - y.at);
    let rv = 48_211_000 + this.rng.int(0, 9999);
    const items = ordered.map((e) => {
      rv += 1 + this.rng.int(0, 40);
      return { ...e.event, metadata: { ...e.event.metadata, resourceVersion: String(rv) } };
    });
    return { apiVersion: 'v1', kind: 'EventList', items, metadata: { resourceVersion: String(rv + 1) } };
  }

  /** stable UID of a Kubernetes object */
  uidOf(name: string): string {
    let uid = this.uids.get(name);
    if (!uid) {
      uid = new Prng(fnv1a32(name), 'uid').uuid();
      this.uids.set(name, uid);
    }
    return uid;
  }

  private nodeOf(pod: string): string {
    let node = this.nodes.get(pod);
    if (!node) {
      const r = new Prng(fnv1a32(pod), 'node');
      node = `ip-10-0-${r.int(16, 95)}-${r.int(2, 254)}.ap-northeast-1.compute.internal`;
      this.nodes.set(pod, node);
    }
    return node;
  }
}

// ============================================================================================
// Fault models
// ============================================================================================

/** what a fault model can touch at one (service, sample) cell */
interface Cell {
  readonly impact: Impact;
  readonly isRoot: boolean;
  /** effect strength for this service: ramp x severity x attenuation x jitter */
  readonly strength: number;
  /** ramp x severity, without attenuation */
  readonly ramp: number;
  /** minutes since onset */
  readonly minute: number;
  /** minute / duration, 0..1 */
  readonly progress: number;
  readonly fault: ResolvedFault;
  readonly rng: Prng;
  get(key: SignalKey): number;
  set(key: SignalKey, v: number): void;
  scale(key: SignalKey, k: number, cap?: number): void;
  add(key: SignalKey, d: number, cap?: number): void;
  /** value of the root's own series at the fault onset */
  onset(key: SignalKey): number;
}

interface LineContext {
  rng: Prng;
  svc: ServiceModel;
  /** the dependency a caller sees failing */
  via: string;
  fault?: ResolvedFault;
  /** when the line is written (unix seconds) */
  at: number;
}

type LineMaker = (c: LineContext) => string;

type Severity = 'critical' | 'warning' | 'info' | 'none';

interface AlertRule {
  alertname: string;
  severity: Severity;
  scope: 'root' | 'callers' | 'all';
  signal: SignalKey;
  /** PromQL condition appended to the series selector */
  condition: string;
  summary: string;
  /** onset of the alert for a custom-timed rule (seconds); null when it never fires */
  fireAt?: (f: FaultRun) => number | null;
}

interface FaultModel {
  rootKinds: readonly ServiceKind[];
  /** do callers of the root show symptoms (and log about it)? */
  spreads: boolean;
  effect(c: Cell): void;
  logLevel: LogLevel;
  /** level of the root's own lines when it differs (e.g. a database's server log) */
  rootLogLevel?: LogLevel;
  rootLines: readonly LineMaker[];
  /** lines of direct callers (default: generic upstream failures naming the dependency) */
  callerLines?: readonly LineMaker[];
  /** lines of callers two or more hops away (default: generic upstream failures) */
  deepCallerLines?: readonly LineMaker[];
  /** expected error lines per minute at full strength, at the root */
  rootLogRate: number;
  /** only log while this holds (default: always during the fault) */
  logWhen?: (progress: number, c: { svc: ServiceModel; index: number }) => boolean;
  alerts: readonly AlertRule[];
}

const ms = (r: Prng, lo: number, hi: number) => r.int(lo, hi);
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
/** the fixed pod IP of a service's own instance */
const stableIp = (name: string) => new Prng(fnv1a32(name), 'ip').podIp();
/** Redis server log time, e.g. "04 Nov 2026 03:05:12.345" */
function redisTime(at: number): string {
  const d = new Date(Math.round(at * 1000));
  const two = (n: number) => String(n).padStart(2, '0');
  const clock = `${two(d.getUTCHours())}:${two(d.getUTCMinutes())}:${two(d.getUTCSeconds())}`;
  const millis = String(d.getUTCMilliseconds()).padStart(3, '0');
  return `${two(d.getUTCDate())} ${MONTHS[d.getUTCMonth()]} ${d.getUTCFullYear()} ${clock}.${millis}`;
}
const trace = (r: Prng) => r.hex(32);
const orderId = (r: Prng) => String(r.int(1_000_000_000, 9_999_999_999));
const account = (r: Prng) => String(r.int(100_000, 9_999_999));
const symbol = (r: Prng) => r.pick(['BTC-USDT', 'ETH-USDT', 'SOL-USDT', 'XRP-USDT', 'BTC-JPY', 'ETH-BTC']);

const UPSTREAM_LINES: readonly LineMaker[] = [
  ({ rng, via }) =>
    `upstream ${via} returned 503 for POST /v1/${via.split('-')[0]}s in ${ms(rng, 180, 2400)}ms trace_id=${trace(rng)} peer=${rng.podIp()}:8080`,
  ({ rng, via }) =>
    `call to ${via} failed after 3 attempts: context deadline exceeded (Client.Timeout exceeded while awaiting headers) peer=${rng.podIp()}:8080 request_id=${rng.uuid()}`,
  ({ rng, via }) =>
    `circuit breaker for ${via} half-open: ${rng.int(3, 9)}/10 probes failed, last error "502 Bad Gateway"`,
  ({ rng, via }) =>
    `GET /v1/${via}/health from ${rng.podIp()} -> 500 (${ms(rng, 40, 900)}ms) span=${rng.hex(16)} retries=${rng.int(1, 3)}`,
];

const DEPLOY_LINES: readonly LineMaker[] = [
  ({ rng }) =>
    `ERROR [http-nio-8080-exec-${rng.int(1, 200)}] c.e.order.OrderController - POST /v1/orders failed trace_id=${trace(rng)}: java.lang.NullPointerException: Cannot invoke "java.math.BigDecimal.scale()" because "req.quantity" is null`,
  ({ rng }) =>
    `HTTP 500 POST /v1/orders/${orderId(rng)}/cancel client=${rng.podIp()} took=${ms(rng, 90, 1800)}ms error="unexpected field \\"clientOrderId\\" at offset ${rng.int(12, 480)}"`,
  ({ rng }) => {
    const len = rng.int(2, 8);
    return `panic: runtime error: index out of range [${len}] with length ${len} goroutine=${rng.int(1000, 99999)} request_id=${rng.uuid()}`;
  },
  ({ rng, fault }) =>
    `failed to encode OrderAck id=${rng.uuid()}: schema version ${rng.int(12, 19)} not registered at ${rng.podIp()}:8081 build=${fault?.version ?? 'unknown'}`,
];

const POOL_LINES: readonly LineMaker[] = [
  ({ rng, via }) => `SQLSTATE[08004] [1040] Too many connections (host ${via}.data.svc:3306 from ${rng.podIp()})`,
  ({ rng }) => {
    const total = rng.pick([20, 32, 50, 64]);
    return `HikariPool-1 - Connection is not available, request timed out after ${ms(rng, 2990, 3050)}ms (total=${total}, active=${total}, idle=0, waiting=${rng.int(8, 240)})`;
  },
  ({ rng }) =>
    `db query timeout after 2.0s: SELECT id, status FROM orders WHERE account_id = ${account(rng)} AND created_at > ? trace_id=${trace(rng)}`,
];

const SURGE_LINES: readonly LineMaker[] = [
  ({ rng }) =>
    `rate limiter: 429 Too Many Requests for ${rng.podIp()} (bucket api-key:${rng.hex(12)}, ${rng.int(40, 400)} req/s)`,
  ({ rng }) => `request queue depth ${rng.int(4097, 16000)} exceeds soft limit 4096 (worker=${rng.int(0, 31)})`,
];

const FAULT_MODELS: Readonly<Record<FaultKind, FaultModel>> = {
  'bad-deploy': {
    rootKinds: ['service'],
    spreads: true,
    effect: (c) => {
      c.add('err', (c.isRoot ? 0.09 : 0.03) * c.strength, 1);
      c.scale('p99', 1 + (c.isRoot ? 1.8 : 0.8) * c.strength);
      if (c.isRoot) c.scale('cpu', 1 + 0.1 * c.strength, 1);
    },
    logLevel: 'error',
    rootLines: DEPLOY_LINES,
    rootLogRate: 6,
    alerts: [errorRateRule('critical', 'all'), { ...latencyRule('warning', 'all'), alertname: 'HighLatencyP99' }],
  },
  'funds-service-errors': {
    rootKinds: ['service'],
    spreads: true,
    effect: (c) => {
      c.add('err', (c.isRoot ? 0.09 : 0.03) * c.strength, 1);
      c.scale('p99', 1 + (c.isRoot ? 1.8 : 0.8) * c.strength);
    },
    logLevel: 'error',
    rootLines: [
      ({ rng }) =>
        `withdrawal ${rng.int(10_000_000, 99_999_999)} failed: nonce too low (expected ${rng.int(4000, 9000)}, got ${rng.int(3000, 3999)}) chain=ETH account=${account(rng)}`,
      ({ rng }) =>
        `balance reconciliation mismatch for account ${account(rng)}: ledger=${rng.between(0.1, 3).toFixed(8)} BTC hot=${rng.between(0.1, 3).toFixed(8)} BTC`,
      ({ rng }) => `hot wallet signer ${rng.podIp()}:9443 timeout after 5000ms request_id=${rng.uuid()}`,
      ({ rng }) =>
        `broadcast tx 0x${rng.hex(64)} rejected: replacement transaction underpriced (gas ${rng.int(21, 140)} gwei)`,
    ],
    rootLogRate: 6,
    alerts: [
      errorRateRule('critical', 'all'),
      latencyRule('warning', 'all'),
      {
        alertname: 'WithdrawalFailuresHigh',
        severity: 'critical',
        scope: 'root',
        signal: 'err',
        condition: '> 0.03',
        summary: 'Withdrawals are failing',
      },
    ],
  },
  'dependency-outage': {
    rootKinds: ['service'],
    spreads: true,
    effect: (c) => {
      c.add('err', (c.isRoot ? 0.6 : 0.03) * c.strength, 1);
      c.scale('p99', 1 + (c.isRoot ? 1.8 : 0.8) * c.strength);
    },
    logLevel: 'error',
    rootLines: [
      ({ rng }) =>
        `upstream connect error or disconnect/reset before headers. reset reason: connection failure, transport failure reason: delayed connect error: 111 (${rng.podIp()}:8443)`,
      ({ rng }) => `dial tcp ${rng.podIp()}:8443: connect: connection refused request_id=${rng.uuid()}`,
      ({ rng }) =>
        `circuit breaker OPEN for kyc-provider after ${rng.int(20, 80)} consecutive failures (last: 503 in ${ms(rng, 30, 600)}ms)`,
    ],
    rootLogRate: 8,
    alerts: [errorRateRule('critical', 'all')],
  },
  'datastore-saturation': {
    rootKinds: ['datastore'],
    spreads: true,
    effect: (c) => {
      if (c.isRoot) {
        c.set('conn', 0.97 + 0.02 * c.rng.next());
        c.scale('qp99', 1 + 5 * c.strength);
        c.scale('cpu', 1 + 1.2 * c.strength, 1);
      } else if (c.impact.svc.kind === 'service') {
        c.scale('p99', 1 + 2.5 * c.strength);
        c.add('err', 0.04 * c.strength, 1);
      }
    },
    logLevel: 'error',
    rootLogLevel: 'warn',
    rootLines: [
      ({ rng }) =>
        `[Note] [MY-010914] [Server] Aborted connection ${rng.int(100000, 9999999)} to db: 'exchange' user: 'app' host: '${rng.podIp()}' (Got timeout reading communication packets).`,
      () => `[Warning] [MY-010055] [Server] Too many connections; max_connections=2000 reached`,
    ],
    callerLines: POOL_LINES,
    rootLogRate: 2,
    alerts: [
      {
        alertname: 'DatastoreConnectionsHigh',
        severity: 'critical',
        scope: 'root',
        signal: 'conn',
        condition: '> 0.9',
        summary: 'Connection pool almost exhausted',
      },
      latencyRule('warning', 'callers'),
      errorRateRule('critical', 'callers'),
    ],
  },
  'cache-latency': {
    rootKinds: ['datastore'],
    spreads: true,
    effect: (c) => {
      if (c.isRoot) c.scale('qp99', 1 + 9 * c.strength);
      else if (c.impact.svc.kind === 'service') c.scale('p99', 1 + 1.2 * c.strength);
    },
    logLevel: 'error',
    rootLogLevel: 'warn',
    rootLines: [
      ({ at }) =>
        `1:M ${redisTime(at)} * Asynchronous AOF fsync is taking too long (disk is busy?). Writing the AOF buffer without waiting for fsync to complete`,
      ({ rng, svc, at }) =>
        `1:M ${redisTime(at)} # Client id=${rng.int(1000, 99999)} addr=${rng.podIp()}:${rng.int(30000, 60999)} laddr=${stableIp(svc.name)}:6379 fd=${rng.int(8, 900)} name= age=${rng.int(1, 9000)} idle=0 flags=N db=0 sub=0 psub=0 multi=-1 qbuf=0 obl=0 oll=${rng.int(500, 9000)} omem=${rng.int(8, 64)}000000 cmd=get scheduled to be closed ASAP for overcoming of output buffer limits.`,
    ],
    callerLines: [
      ({ rng }) => `redis: i/o timeout after ${ms(rng, 480, 520)}ms addr=${rng.podIp()}:6379 cmd=GET`,
      ({ rng }) => `cache GET session:${rng.hex(24)} took ${ms(rng, 300, 1400)}ms (slow, threshold 50ms)`,
      ({ rng }) => `CLUSTERDOWN The cluster is down (slot ${rng.int(0, 16383)} from ${rng.podIp()}:6379)`,
    ],
    rootLogRate: 1,
    alerts: [
      {
        alertname: 'DatastoreQueryLatencyHigh',
        severity: 'warning',
        scope: 'root',
        signal: 'qp99',
        condition: '> 4 * (datastore:query_duration_seconds:p99 offset 1d)',
        summary: 'Query latency well above yesterday',
      },
      latencyRule('warning', 'callers'),
    ],
  },
  'engine-latency': {
    rootKinds: ['service'],
    spreads: true,
    effect: (c) => {
      if (c.isRoot) {
        c.scale('p99', 1 + 6 * c.strength);
        c.scale('cpu', 1 + 0.8 * c.strength, 1);
      } else c.scale('p99', 1 + 1.5 * c.strength);
    },
    logLevel: 'warn',
    callerLines: [
      ({ rng, via }) =>
        `${via} ack for order ${orderId(rng)} took ${ms(rng, 60, 400)}ms (deadline 50ms) symbol=${symbol(rng)} trace_id=${trace(rng)}`,
      ({ rng, via }) =>
        `order submit to ${via} timed out after 250ms, client ${rng.podIp()} will retry (attempt ${rng.int(1, 3)})`,
    ],
    rootLines: [
      ({ rng }) =>
        `matching loop iteration took ${ms(rng, 25, 60)}ms (budget 10ms) symbol=${symbol(rng)} seq=${rng.int(1e8, 9e8)}`,
      ({ rng }) =>
        `order book lock contention: waited ${ms(rng, 12, 45)}ms symbol=${symbol(rng)} thread=match-${rng.int(0, 7)}`,
    ],
    rootLogRate: 6,
    alerts: [latencyRule('critical', 'all')],
  },
  'traffic-surge': {
    rootKinds: ['service'],
    callerLines: SURGE_LINES,
    deepCallerLines: SURGE_LINES,
    spreads: true,
    effect: (c) => {
      if (c.impact.svc.kind === 'service') {
        const factor = c.fault.factor ?? 5;
        const k = 1 + (factor - 1) * c.ramp * (c.isRoot ? 1 : 0.8);
        c.scale('rps', k);
        c.scale('cpu', 1 + 0.5 * (k - 1), 1);
        c.scale('p99', 1 + 0.15 * (k - 1));
        if (c.get('cpu') > 0.9) c.add('err', 0.01 * c.ramp, 1);
      } else if (c.impact.svc.kind === 'datastore') c.scale('conn', 1 + 0.4 * c.strength, 1);
    },
    logLevel: 'warn',
    rootLines: SURGE_LINES,
    rootLogRate: 5,
    alerts: [
      {
        alertname: 'HighRequestRate',
        severity: 'warning',
        scope: 'all',
        signal: 'rps',
        condition: '> 2.5 * (service:http_requests:rate1m offset 1d)',
        summary: 'Request rate far above normal',
      },
      {
        alertname: 'HighCPU',
        severity: 'warning',
        scope: 'all',
        signal: 'cpu',
        condition: '> 0.85',
        summary: 'CPU close to its limit',
      },
    ],
  },
  'memory-leak': {
    rootKinds: ['service'],
    spreads: false,
    effect: (c) => {
      if (!c.isRoot) return;
      const progress = Math.min(1, c.progress * c.fault.severity);
      const mem = c.get('mem');
      c.set('mem', Math.min(0.99, mem + (0.985 - mem) * progress));
      if (progress > 0.7) {
        c.scale('p99', 1 + 2 * ((progress - 0.7) / 0.3));
        c.add('err', 0.01, 1);
      }
    },
    logLevel: 'error',
    rootLines: [
      () => 'java.lang.OutOfMemoryError: Java heap space',
      ({ rng }) =>
        `GC overhead limit exceeded (heap used ${rng.int(1950, 2047)}MB of 2048MB, ${rng.int(96, 99)}% time in GC)`,
      ({ rng }) =>
        `[GC (Allocation Failure) ${rng.int(2_000_000, 2_090_000)}K->${rng.int(1_990_000, 2_080_000)}K(2097152K), 0.${rng.int(100, 999)} secs]`,
    ],
    rootLogRate: 2,
    logWhen: (progress) => progress > 0.85,
    alerts: [
      {
        alertname: 'ContainerMemoryNearLimit',
        severity: 'warning',
        scope: 'root',
        signal: 'mem',
        condition: '> 0.9',
        summary: 'Working set close to the memory limit',
        fireAt: (f) => f.firstCrossing('mem', (v) => v > 0.9, 300),
      },
      {
        alertname: 'KubePodCrashLooping',
        severity: 'critical',
        scope: 'root',
        signal: 'rst',
        condition: '> 0',
        summary: 'Pod is restarting repeatedly',
        fireAt: (f) => (f.breachAt === null ? null : f.breachAt + 300),
      },
    ],
  },
  'consumer-lag': {
    rootKinds: ['queue', 'service'],
    spreads: false,
    effect: (c) => {
      if (!c.isRoot) return;
      const rate = (c.fault.rate ?? 900) * c.fault.severity;
      if (c.impact.svc.kind === 'queue') c.add('lag', rate * c.minute);
      else c.scale('cpu', 1.3, 1);
    },
    logLevel: 'warn',
    rootLines: [
      ({ rng, svc }) =>
        `consumer group ${svc.name}-cg rebalancing: member consumer-${rng.int(1, 12)}-${rng.uuid()} left the group`,
      ({ rng }) =>
        `slow handler: processed ${rng.int(50, 200)} msgs in ${rng.between(5, 15).toFixed(1)}s (partition ${rng.int(0, 23)}, offset ${rng.int(1e7, 9e7)})`,
    ],
    rootLogRate: 1,
    alerts: [
      {
        alertname: 'ConsumerLagHigh',
        severity: 'warning',
        scope: 'root',
        signal: 'lag',
        condition: '> 10000',
        summary: 'Consumers are falling behind',
        fireAt: (f) => f.start + 600,
      },
    ],
  },
  'disk-fill': {
    rootKinds: ['datastore'],
    spreads: false,
    effect: (c) => {
      if (!c.isRoot) return;
      const from = c.onset('disk');
      const drained = from * (c.fault.fill ?? 1) * c.progress * c.fault.severity;
      c.set('disk', Math.max(0, from - drained + 0.0004 * c.rng.normal()));
    },
    logLevel: 'warn',
    rootLines: [
      ({ rng }) =>
        `[Warning] [MY-012639] [InnoDB] Tablespace ./exchange/orders.ibd grew by ${rng.int(64, 512)}M; free space on /var/lib/mysql is low`,
      ({ rng }) =>
        `[ERROR] [MY-000035] [Server] Disk is full writing './binlog.${String(rng.int(1000, 9999)).padStart(6, '0')}' (OS errno 28 - No space left on device). Waiting for someone to free space...`,
    ],
    rootLogRate: 0.2,
    logWhen: (_p, { svc, index }) => (svc.signals.disk?.[index] ?? 1) < 0.05,
    alerts: [
      {
        alertname: 'NodeFilesystemSpaceFillingUp',
        severity: 'warning',
        scope: 'root',
        signal: 'disk',
        condition: ' < 0.4 and predict_linear(node:filesystem_avail:ratio[6h], 4 * 3600) < 0',
        summary: 'Filesystem is predicted to run out of space within 4 hours',
        fireAt: (f) => (f.breachAt === null ? null : Math.max(f.start + 3600, f.breachAt - 4 * 3600)),
      },
      {
        alertname: 'NodeFilesystemAlmostOutOfSpace',
        severity: 'critical',
        scope: 'root',
        signal: 'disk',
        condition: '< 0.05',
        summary: 'Filesystem has less than 5% space left',
        fireAt: (f) => f.firstCrossing('disk', (v) => v < 0.05, 300),
      },
    ],
  },
};

function errorRateRule(severity: Severity, scope: AlertRule['scope']): AlertRule {
  return { alertname: 'HighErrorRate', severity, scope, signal: 'err', condition: '> 0.01', summary: 'High 5xx ratio' };
}

function latencyRule(severity: Severity, scope: AlertRule['scope']): AlertRule {
  return {
    alertname: 'HighLatencyP99',
    severity,
    scope,
    signal: 'p99',
    condition: '> 1.5 * (service:http_request_duration_seconds:p99 offset 1d)',
    summary: 'p99 latency well above yesterday',
  };
}

// ============================================================================================
// Running faults and benign events over the series
// ============================================================================================

/** a fault applied to the scenario, with what the alert rules need to know */
class FaultRun {
  readonly start: number;
  readonly end: number;
  readonly root: ServiceModel;
  readonly impacts: Impact[];
  /** lag series of the queues a service root consumes from */
  readonly consumedQueues: Float64Array[];
  breachAt: number | null = null;

  constructor(
    readonly fault: ResolvedFault,
    readonly model: FaultModel,
    topology: Topology,
    private readonly clock: Clock,
  ) {
    this.start = epoch(fault.start);
    this.end = this.start + fault.duration * 60;
    this.root = topology.get(fault.service);
    this.impacts = model.spreads ? topology.blastRadius(this.root) : topology.blastRadius(this.root).slice(0, 1);
    this.consumedQueues =
      this.root.kind === 'service'
        ? this.root.spec.dependsOn.flatMap((d) => {
            const lag = topology.get(d).signals.lag;
            return lag ? [lag] : [];
          })
        : [];
  }

  /** time the root's `key` first satisfies `test` inside the fault window, plus `holdFor` seconds */
  firstCrossing(key: SignalKey, test: (v: number) => boolean, holdFor: number): number | null {
    const series = this.root.signals[key];
    if (!series) return null;
    for (let i = this.clock.indexFrom(this.start); i < this.clock.indexFrom(this.end); i++) {
      if (test(series[i])) return this.clock.time(i) + holdFor;
    }
    return null;
  }
}

function applyFault(run: FaultRun, clock: Clock, seed: number, recorder: ClusterRecorder): void {
  const { fault, model, root } = run;
  const rng = new Prng(seed, `fault/${fault.id}`);
  const lineRng = new Prng(seed, `fault-logs/${fault.id}`);
  const first = clock.indexFrom(run.start);
  const last = clock.indexFrom(run.end);
  const hopShift = clock.perMinute;
  const onsetValues = new Map<SignalKey, number>();
  for (const key of SIGNALS_OF_KIND[root.kind])
    onsetValues.set(key, root.signals[key]![Math.min(first, clock.count - 1)]);

  if (fault.kind === 'bad-deploy') {
    recorder.deploy(root, run.start - 120, fault.version ?? 'v2.4.0', fault.previousVersion ?? root.initialVersion);
  }
  let oomCount = 0;
  const version = fault.kind === 'bad-deploy' ? (fault.version ?? 'v2.4.0') : root.initialVersion;

  for (let i = first; i < last; i++) {
    const t = clock.time(i);
    const minute = (t - run.start) / 60;
    const progress = minute / fault.duration;
    const ramp = Math.min(1, (minute + 1) / 3) * fault.severity;
    for (const impact of run.impacts) {
      const j = i + impact.hop * hopShift;
      if (j >= clock.count) continue;
      const sig = impact.svc.signals;
      const cell: Cell = {
        impact,
        isRoot: impact.hop === 0,
        strength: ramp * impact.weight * rng.between(0.9, 1.1),
        ramp,
        minute,
        progress,
        fault,
        rng,
        get: (key) => sig[key]?.[j] ?? Number.NaN,
        set: (key, v) => {
          const arr = sig[key];
          if (arr) arr[j] = v;
        },
        scale: (key, k, cap = Number.POSITIVE_INFINITY) => {
          const arr = sig[key];
          if (arr) arr[j] = Math.min(cap, arr[j] * k);
        },
        add: (key, d, cap = Number.POSITIVE_INFINITY) => {
          const arr = sig[key];
          if (arr) arr[j] = Math.min(cap, arr[j] + d);
        },
        onset: (key) => onsetValues.get(key) ?? Number.NaN,
      };
      model.effect(cell);
      if (fault.kind === 'consumer-lag' && impact.hop === 0) {
        // a stuck consumer lets the backlog of every queue it reads from grow
        for (const lag of run.consumedQueues) lag[j] += (fault.rate ?? 900) * fault.severity * minute;
      }
    }

    // once per minute: logs, and for leaks the OOM kills
    if ((i - first) % clock.perMinute !== 0) continue;
    for (const impact of run.impacts) {
      const svc = impact.svc;
      const isRoot = impact.hop === 0;
      if (!isRoot && svc.kind !== 'service') continue;
      if (model.logWhen && !model.logWhen(progress, { svc, index: Math.min(clock.count - 1, i) })) continue;
      const lines = isRoot
        ? model.rootLines
        : impact.hop === 1 && model.callerLines
          ? model.callerLines
          : (model.deepCallerLines ?? UPSTREAM_LINES);
      const baseRate = isRoot ? model.rootLogRate : Math.max(1, model.rootLogRate * 0.35);
      const count = lineRng.poisson(baseRate * Math.min(1, ramp) * (isRoot ? 1 : impact.weight + 0.4));
      const via = impact.via?.name ?? svc.name;
      for (let k = 0; k < count; k++) {
        const at = t + impact.hop * 60 + lineRng.between(0, 59.999);
        const level = isRoot ? (model.rootLogLevel ?? model.logLevel) : model.logLevel;
        recorder.log(svc, at, level, lineRng.pick(lines)({ rng: lineRng, svc, via, fault, at }));
      }
    }
    if (fault.kind === 'memory-leak') {
      const minuteNo = Math.round(minute);
      const progressNow = Math.min(1, progress * fault.severity);
      if (progressNow > 0.85 && minuteNo % 3 === 0) {
        const pod = recorder.podName(root, version, oomCount % root.replicas);
        const podRef = { apiVersion: 'v1', kind: 'Pod', name: pod, fieldPath: 'spec.containers{app}' };
        recorder.event(
          root,
          t + rng.between(0, 20),
          podRef,
          'OOMKilled',
          `Container app exceeded its memory limit (2Gi) and was OOMKilled (exit code 137)`,
          'Warning',
        );
        recorder.event(
          root,
          t + 25 + rng.between(0, 10),
          podRef,
          'BackOff',
          `Back-off restarting failed container app in pod ${pod}_${root.namespace}(${recorder.uidOf(pod)})`,
          'Warning',
        );
        const rst = root.signals.rst!;
        for (let k = i; k < Math.min(clock.count, i + 5 * clock.perMinute); k++) rst[k] += 1;
        if (run.breachAt === null) run.breachAt = t;
        oomCount++;
      }
    }
    if (fault.kind === 'traffic-surge' && Math.round(minute) === 4 && (root.signals.cpu?.[i] ?? 0) > 0.7) {
      const target = Math.min(root.replicas * 3, Math.ceil(root.replicas * (fault.factor ?? 5) * 0.6));
      recorder.event(
        root,
        t + rng.between(0, 30),
        { apiVersion: 'autoscaling/v2', kind: 'HorizontalPodAutoscaler', name: root.deployment },
        'SuccessfulRescale',
        `New size: ${target}; reason: cpu resource utilization (percentage of request) above target`,
      );
    }
  }

  if (fault.kind === 'disk-fill') {
    const disk = root.signals.disk!;
    for (let i = first; i < last; i++) {
      if (disk[i] < 0.02) {
        run.breachAt = clock.time(i);
        break;
      }
    }
    if (run.breachAt === null) {
      // not reached inside the window: project the drain rate forward
      const from = onsetValues.get('disk') ?? 0;
      const perSecond = (from * (fault.fill ?? 1) * fault.severity) / (fault.duration * 60);
      run.breachAt = perSecond > 0 ? run.start + Math.max(0, from - 0.02) / perSecond : null;
    }
  }
}

interface QuietWindow {
  start: string;
  end: string;
  note: string;
}

function applyBenign(
  spec: ResolvedScenarioSpec,
  topology: Topology,
  clock: Clock,
  recorder: ClusterRecorder,
  quiet: QuietWindow[],
): void {
  for (const b of spec.benign) {
    const svc = topology.get(b.service);
    const at = epoch(b.at);
    const i0 = clock.indexFrom(at);
    if (b.kind === 'deploy') {
      const prev = b.previousVersion ?? svc.initialVersion;
      const next = b.version ?? bumpPatch(prev);
      recorder.deploy(svc, at, next, prev);
      quiet.push({
        start: iso(at),
        end: iso(at + 30 * 60),
        note: `routine deploy of ${svc.name} ${next}, no regression`,
      });
    } else if (b.kind === 'spike') {
      const arr = svc.signals[b.metric]!;
      const n = b.minutes * clock.perMinute;
      for (let k = i0; k < Math.min(clock.count, i0 + n); k++) {
        arr[k] *= b.factor;
        if (
          b.metric === 'err' ||
          b.metric === 'cpu' ||
          b.metric === 'mem' ||
          b.metric === 'conn' ||
          b.metric === 'disk'
        ) {
          arr[k] = Math.min(1, arr[k]);
        }
      }
      quiet.push({
        start: iso(at),
        end: iso(at + b.minutes * 60),
        note: `${b.minutes}-minute ${b.metric} blip (x${b.factor}) on ${svc.name}`,
      });
    } else {
      const n = b.minutes * clock.perMinute;
      for (const arr of Object.values(svc.signals)) {
        for (let k = i0; k < Math.min(clock.count, i0 + n); k++) arr[k] = Number.NaN;
      }
      quiet.push({ start: iso(at), end: iso(at + b.minutes * 60), note: `scrape gap: no samples for ${svc.name}` });
    }
  }
}

function bumpPatch(version: string): string {
  const m = /^(v?\d+\.\d+\.)(\d+)(.*)$/.exec(version);
  return m ? `${m[1]}${Number(m[2]) + 1}${m[3]}` : `${version}-1`;
}

// ============================================================================================
// Alertmanager: an HA Prometheus pair (both replicas' alerts arrive, told apart only by
// prometheus_replica), grouped by alertname and service, group_wait 30 s, group_interval and
// repeat_interval 5 min, resolved notifications sent.
// ============================================================================================

const REPLICAS = ['prometheus-k8s-0', 'prometheus-k8s-1'] as const;
const GROUP_WAIT = 30;
const REPEAT = 300;
const EXTERNAL_URL = 'http://alertmanager-main.monitoring.svc:9093';
const ZERO_TIME = '0001-01-01T00:00:00Z';

interface AlertEpisode {
  alertname: string;
  severity: Severity;
  /** absent for cluster-wide alerts such as the Watchdog */
  service?: { name: string; namespace: string };
  namespace: string;
  firingAt: number;
  /** null: still firing at the end of the scenario */
  resolvedAt: number | null;
  summary: string;
  description: string;
  expr: string;
  /** first delivery (default: firingAt + group_wait) */
  firstDelivery?: number;
  /** deliveries stop here (default: scenario end) */
  until?: number;
}

interface WebhookAlert {
  status: 'firing' | 'resolved';
  labels: Record<string, string>;
  annotations: Record<string, string>;
  startsAt: string;
  endsAt: string;
  generatorURL: string;
  fingerprint: string;
}

interface Delivery {
  receivedAt: string;
  payload: {
    receiver: string;
    status: 'firing' | 'resolved';
    alerts: WebhookAlert[];
    groupLabels: Record<string, string>;
    commonLabels: Record<string, string>;
    commonAnnotations: Record<string, string>;
    externalURL: string;
    version: '4';
    groupKey: string;
    truncatedAlerts: number;
  };
}

/** Prometheus-style label-set fingerprint: FNV-1a 64 over sorted name/value pairs */
function fingerprint(labels: Record<string, string>): string {
  let h = 0xcbf29ce484222325n;
  const prime = 0x100000001b3n;
  const mask = 0xffffffffffffffffn;
  for (const key of Object.keys(labels).sort()) {
    for (const ch of `${key}\xff${labels[key]}\xff`) {
      h ^= BigInt(ch.charCodeAt(0) & 0xff);
      h = (h * prime) & mask;
    }
  }
  return h.toString(16).padStart(16, '0');
}

function intersect(records: Record<string, string>[]): Record<string, string> {
  const [first, ...rest] = records;
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(first ?? {})) if (rest.every((r) => r[k] === v)) out[k] = v;
  return out;
}

class AlertmanagerSim {
  readonly deliveries: { at: number; line: Delivery }[] = [];

  constructor(
    private readonly rng: Prng,
    private readonly scenarioEnd: number,
  ) {}

  notify(ep: AlertEpisode): void {
    const until = Math.min(ep.until ?? this.scenarioEnd, this.scenarioEnd);
    // the second replica evaluates a few seconds apart from the first
    const offsets = REPLICAS.map((_, k) => (k === 0 ? 0 : this.rng.between(3, 14)));
    const instances = REPLICAS.map((replica, k) => {
      const labels: Record<string, string> = { alertname: ep.alertname, namespace: ep.namespace };
      if (ep.service) labels.service = ep.service.name;
      labels.severity = ep.severity;
      labels.prometheus = 'monitoring/k8s';
      labels.prometheus_replica = replica;
      const annotations: Record<string, string> = {
        summary: ep.summary,
        description: ep.description,
        runbook_url: `https://runbooks.sre.internal/alerts/${ep.alertname.toLowerCase()}`,
      };
      const host = `${replica}.prometheus-operated.monitoring.svc:9090`;
      return {
        labels,
        annotations,
        startsAt: ep.firingAt + offsets[k],
        generatorURL: `http://${host}/graph?g0.expr=${encodeURIComponent(ep.expr)}&g0.tab=1`,
        fingerprint: fingerprint(labels),
      };
    });
    const groupLabels: Record<string, string> = { alertname: ep.alertname };
    if (ep.service) groupLabels.service = ep.service.name;
    const groupKey = `{}/{severity=~"critical|warning|info|none"}:{${Object.entries(groupLabels)
      .map(([k, v]) => `${k}="${v}"`)
      .join(', ')}}`;

    let t = ep.firstDelivery ?? ep.firingAt + GROUP_WAIT + offsets[1];
    while (t < until) {
      const resolved = ep.resolvedAt !== null && t >= ep.resolvedAt;
      const alerts: WebhookAlert[] = instances.map((a, k) => ({
        status: resolved ? 'resolved' : 'firing',
        labels: a.labels,
        annotations: a.annotations,
        startsAt: isoMillis(a.startsAt),
        endsAt: resolved ? isoMillis((ep.resolvedAt ?? t) + offsets[k]) : ZERO_TIME,
        generatorURL: a.generatorURL,
        fingerprint: a.fingerprint,
      }));
      const at = t + this.rng.between(0.01, 0.6);
      this.deliveries.push({
        at,
        line: {
          receivedAt: isoMillis(at),
          payload: {
            receiver: 'sre-agent-webhook',
            status: resolved ? 'resolved' : 'firing',
            alerts,
            groupLabels,
            commonLabels: intersect(alerts.map((a) => a.labels)),
            commonAnnotations: intersect(alerts.map((a) => a.annotations)),
            externalURL: EXTERNAL_URL,
            version: '4',
            groupKey,
            truncatedAlerts: 0,
          },
        },
      });
      if (resolved) break;
      t += REPEAT;
    }
  }

  ordered(): Delivery[] {
    return [...this.deliveries].sort((a, b) => a.at - b.at).map((d) => d.line);
  }
}

function describeValue(signal: SignalKey, v: number): string {
  if (!Number.isFinite(v)) return 'n/a';
  switch (signal) {
    case 'err':
    case 'cpu':
    case 'mem':
    case 'conn':
    case 'disk':
      return `${(v * 100).toFixed(1)}%`;
    case 'p99':
    case 'qp99':
      return `${(v * 1000).toFixed(v < 0.01 ? 2 : 0)}ms`;
    case 'rps':
      return `${Math.round(v)} req/s`;
    case 'lag':
      return `${Math.round(v)} messages`;
    case 'rst':
      return `${Math.round(v)} restarts`;
  }
}

function raiseFaultAlerts(run: FaultRun, clock: Clock, am: AlertmanagerSim, rng: Prng): void {
  for (const rule of run.model.alerts) {
    for (const impact of run.impacts) {
      const svc = impact.svc;
      const inScope = rule.scope === 'all' || (rule.scope === 'root') === (impact.hop === 0);
      if (!inScope || !svc.signals[rule.signal]) continue;
      // `for: 2m` on a 30 s evaluation interval, after the symptom reaches this service
      const firingAt = rule.fireAt
        ? rule.fireAt(run)
        : Math.ceil((run.start + impact.hop * 60 + 120) / 30) * 30 + rng.between(0, 2);
      if (firingAt === null || firingAt >= run.end + impact.hop * 60) continue;
      const resolvedAt = run.end + impact.hop * 60 + rng.between(60, 150);
      const at = clock.indexFrom(firingAt);
      const value = svc.signals[rule.signal]![Math.min(clock.count - 1, Math.max(0, at - 1))];
      const selector = `${METRIC_OF[rule.signal]}{service="${svc.name}"}`;
      am.notify({
        alertname: rule.alertname,
        severity: rule.severity,
        service: { name: svc.name, namespace: svc.namespace },
        namespace: svc.namespace,
        firingAt,
        resolvedAt,
        summary: `${rule.summary} on ${svc.name}`,
        description: `${METRIC_OF[rule.signal]} for ${svc.namespace}/${svc.name} is ${describeValue(rule.signal, value)}.`,
        expr: `${selector} ${rule.condition.trim()}`,
      });
    }
  }
}

function raiseAlertNoise(
  clock: Clock,
  services: readonly ServiceModel[],
  runs: readonly FaultRun[],
  am: AlertmanagerSim,
  rng: Prng,
  quiet: QuietWindow[],
): void {
  // the always-firing heartbeat, re-sent every repeat interval through the evaluation window
  am.notify({
    alertname: 'Watchdog',
    severity: 'none',
    namespace: 'monitoring',
    firingAt: clock.start,
    resolvedAt: null,
    summary: 'An alert that should always be firing to certify that Alertmanager is working properly.',
    description: 'This is an alert meant to ensure that the entire alerting pipeline is functional.',
    expr: 'vector(1)',
    firstDelivery: clock.evaluateFrom,
  });
  // one CPUThrottlingHigh that flaps for an hour, away from every fault
  const candidates = services.filter((s) => s.kind !== 'queue');
  if (candidates.length === 0) return;
  const target = rng.pick(candidates);
  const busy = (from: number, to: number) => runs.some((r) => from < r.end + 1800 && to > r.start - 1800);
  const slots: number[] = [];
  for (let h = 0; h < 23; h++) {
    const from = clock.evaluateFrom + h * 3600 + 15 * 60;
    if (!busy(from, from + 3600)) slots.push(from);
  }
  if (slots.length === 0) return;
  const from = rng.pick(slots) + rng.int(0, 20) * 30;
  const cycles = 10;
  for (let k = 0; k < cycles; k++) {
    const st = from + k * 360;
    am.notify({
      alertname: 'CPUThrottlingHigh',
      severity: 'info',
      service: { name: target.name, namespace: target.namespace },
      namespace: target.namespace,
      firingAt: st,
      resolvedAt: st + 150 + rng.int(0, 60),
      summary: `Processes experience elevated CPU throttling on ${target.name}`,
      description: `${rng.int(26, 48)}% throttling of CPU in namespace ${target.namespace} for container app in ${target.name}.`,
      expr: 'sum(increase(container_cpu_cfs_throttled_periods_total{container!=""}[5m])) / sum(increase(container_cpu_cfs_periods_total[5m])) > 0.25',
    });
  }
  quiet.push({ start: iso(from), end: iso(from + cycles * 360), note: `flapping CPUThrottlingHigh on ${target.name}` });
}

// ============================================================================================
// Background log chatter: the odd warning every service prints on a normal day
// ============================================================================================

const CHATTER: readonly LineMaker[] = [
  ({ rng }) =>
    `slow request GET /v1/account/${account(rng)}/balances took ${ms(rng, 500, 1500)}ms client=${rng.podIp()}`,
  ({ rng }) => `client ${rng.podIp()}:${rng.int(30000, 60999)} disconnected: connection reset by peer`,
  ({ rng }) => `retrying request to upstream (attempt 2/3) after 502 trace_id=${trace(rng)}`,
  ({ rng }) => `jwt validation failed for session ${rng.hex(20)}: token expired ${rng.int(1, 3600)}s ago`,
];

function addChatter(seed: number, clock: Clock, svc: ServiceModel, recorder: ClusterRecorder): void {
  if (svc.kind !== 'service') return;
  const rng = new Prng(seed, `chatter/${svc.name}`);
  const meanGap = 3600;
  for (let t = clock.start + rng.between(0, meanGap); t < clock.end; t += -Math.log(1 - rng.next()) * meanGap) {
    recorder.log(svc, t, 'warn', rng.pick(CHATTER)({ rng, svc, via: svc.name, at: t }));
  }
}

// ============================================================================================
// Rendering
// ============================================================================================

const FAMILY_ORDER: readonly SignalKey[] = ['rps', 'err', 'p99', 'cpu', 'mem', 'rst', 'conn', 'qp99', 'lag', 'disk'];

/** about four significant digits, no exponent notation for the ranges used here */
export function compactNumber(v: number): string {
  if (v === 0) return '0';
  const a = Math.abs(v);
  if (a >= 1000) return String(Math.round(v));
  if (a < 1e-6) return '0';
  return String(Number(v.toPrecision(4)));
}

function renderOpenMetrics(services: readonly ServiceModel[], clock: Clock): string {
  const out: string[] = [];
  for (const key of FAMILY_ORDER) {
    const metric = METRIC_OF[key];
    const members = services.filter((s) => s.signals[key]);
    if (members.length === 0) continue;
    out.push(`# TYPE ${metric} gauge`);
    for (const s of members) {
      const head = `${metric}{service="${s.name}",namespace="${s.namespace}"} `;
      const values = s.signals[key]!;
      for (let i = 0; i < clock.count; i++) {
        const v = values[i];
        if (Number.isNaN(v)) continue;
        out.push(`${head}${compactNumber(v)} ${clock.time(i)}`);
      }
    }
  }
  out.push('# EOF');
  return `${out.join('\n')}\n`;
}

/** Promtail-style pushes: each service's entries batched per 5 s window, one stream per level */
function renderLokiPushes(entries: readonly LogEntry[]): string {
  const sorted = [...entries].sort((a, b) => a.ms - b.ms || a.service.localeCompare(b.service));
  const batches = new Map<string, LogEntry[]>();
  for (const e of sorted) {
    const key = `${Math.floor(e.ms / 5000)}|${e.service}`;
    const batch = batches.get(key);
    if (batch) batch.push(e);
    else batches.set(key, [e]);
  }
  const lines: string[] = [];
  for (const batch of batches.values()) {
    const streams = new Map<LogLevel, [string, string][]>();
    for (const e of batch) {
      const values = streams.get(e.level) ?? [];
      values.push([`${e.ms}000000`, e.line]);
      streams.set(e.level, values);
    }
    const first = batch[0];
    lines.push(
      JSON.stringify({
        streams: [...streams.entries()].map(([level, values]) => ({
          stream: { service: first.service, namespace: first.namespace, level },
          values,
        })),
      }),
    );
  }
  return jsonLines(lines);
}

const jsonLines = (lines: readonly string[]) => (lines.length ? `${lines.join('\n')}\n` : '');

export interface ScenarioTruth {
  faults: {
    id: string;
    start: string;
    end: string;
    rootCause: string;
    kind: FaultKind;
    tier: (typeof RISK_TIERS)[number];
    actions: string[];
    breachAt: string | null;
  }[];
  quiet: QuietWindow[];
  alerts: { raw: number };
}

export interface RenderedScenario {
  /** file name -> content */
  files: Map<string, Buffer>;
  stats: {
    series: number;
    samples: number;
    logLines: number;
    k8sEvents: number;
    deploys: number;
    alertDeliveries: number;
    rawAlerts: number;
    faults: number;
  };
  truth: ScenarioTruth;
}

/** Renders every file of a scenario in memory. */
export function renderScenario(input: ScenarioSpec, options: { gzipMetrics?: boolean } = {}): RenderedScenario {
  const spec = parseScenarioSpec(input);
  const clock = new Clock(spec);
  const services = modelServices(spec, clock);
  const topology = new Topology(services);
  const recorder = new ClusterRecorder(new Prng(spec.seed, 'cluster'));
  const quiet: QuietWindow[] = [];

  // memory resets at every rollout, so the baseline needs the deploy times up front
  const rollouts = new Map<string, number[]>(services.map((s) => [s.name, []]));
  for (const f of spec.faults) if (f.kind === 'bad-deploy') rollouts.get(f.service)?.push(epoch(f.start) - 120);
  for (const b of spec.benign) if (b.kind === 'deploy') rollouts.get(b.service)?.push(epoch(b.at));
  for (const s of services) {
    synthesizeBaseline(spec.seed, clock, s, rollouts.get(s.name) ?? [], 5 * clock.perMinute);
  }

  const runs = spec.faults.map((f) => new FaultRun(f, FAULT_MODELS[f.kind], topology, clock));
  for (const run of runs) applyFault(run, clock, spec.seed, recorder);
  applyBenign(spec, topology, clock, recorder, quiet);
  for (const s of services) addChatter(spec.seed, clock, s, recorder);

  const am = new AlertmanagerSim(new Prng(spec.seed, 'alertmanager'), clock.end);
  const alertRng = new Prng(spec.seed, 'alert-rules');
  for (const run of runs) raiseFaultAlerts(run, clock, am, alertRng);
  if (spec.alertNoise) raiseAlertNoise(clock, services, runs, am, new Prng(spec.seed, 'alert-noise'), quiet);
  const deliveries = am.ordered();
  const rawAlerts = deliveries.reduce((n, d) => n + d.payload.alerts.length, 0);

  const truth: ScenarioTruth = {
    faults: runs.map((r) => ({
      id: r.fault.id,
      start: iso(r.start),
      end: iso(r.end),
      rootCause: r.root.name,
      kind: r.fault.kind,
      tier: r.fault.tier,
      actions: [...r.fault.actions],
      breachAt: r.breachAt === null || !isSlowBurn(r.fault.kind) ? null : iso(r.breachAt),
    })),
    quiet: quiet.sort((a, b) => a.start.localeCompare(b.start)),
    alerts: { raw: rawAlerts },
  };

  const scenario = {
    name: spec.name,
    description: spec.description,
    start: iso(clock.start),
    end: iso(clock.end),
    evaluateFrom: iso(clock.evaluateFrom),
    step: `${spec.step}s`,
    topology: {
      services: services.map((s) => ({
        name: s.name,
        kind: s.kind,
        criticality: s.spec.criticality,
        namespace: s.namespace,
        ...(s.kind === 'datastore' ? {} : { deployment: s.deployment, replicas: s.replicas }),
        dependsOn: [...s.spec.dependsOn],
      })),
    },
  };

  const metrics = renderOpenMetrics(services, clock);
  const files = new Map<string, Buffer>();
  files.set('scenario.yaml', Buffer.from(stringify(scenario, { lineWidth: 0 })));
  if (options.gzipMetrics) files.set('metrics.om.gz', gzipSync(Buffer.from(metrics), { level: 9 }));
  else files.set('metrics.om', Buffer.from(metrics));
  files.set('logs.jsonl', Buffer.from(renderLokiPushes(recorder.logs)));
  files.set('k8s-events.json', Buffer.from(`${JSON.stringify(recorder.eventList(), null, 1)}\n`));
  const deploys = [...recorder.deploys].sort((a, b) => a.time.localeCompare(b.time));
  files.set('deploys.jsonl', Buffer.from(jsonLines(deploys.map((d) => JSON.stringify(d)))));
  files.set('alerts.jsonl', Buffer.from(jsonLines(deliveries.map((d) => JSON.stringify(d)))));
  files.set('truth.yaml', Buffer.from(stringify(truth, { lineWidth: 0 })));
  files.set('truth.json', Buffer.from(`${JSON.stringify(truth, null, 2)}\n`));

  const series = services.reduce((n, s) => n + Object.keys(s.signals).length, 0);
  const samples = services.reduce(
    (n, s) => n + Object.values(s.signals).reduce((m, arr) => m + arr.filter((v) => !Number.isNaN(v)).length, 0),
    0,
  );
  return {
    files,
    truth,
    stats: {
      series,
      samples,
      logLines: recorder.logs.length,
      k8sEvents: recorder.eventList().items.length,
      deploys: deploys.length,
      alertDeliveries: deliveries.length,
      rawAlerts,
      faults: runs.length,
    },
  };
}

function isSlowBurn(kind: FaultKind): boolean {
  return kind === 'disk-fill' || kind === 'memory-leak';
}

/** Writes rendered files into `outDir` (created if needed), replacing the other metrics variant. */
export function writeScenario(rendered: RenderedScenario, outDir: string): void {
  mkdirSync(outDir, { recursive: true });
  const stale = rendered.files.has('metrics.om.gz') ? 'metrics.om' : 'metrics.om.gz';
  if (existsSync(join(outDir, stale))) rmSync(join(outDir, stale));
  for (const [name, content] of rendered.files) writeFileSync(join(outDir, name), content);
}

/** Builds a scenario directory from a spec. */
export function buildScenario(spec: ScenarioSpec, outDir: string, options: { gzipMetrics?: boolean } = {}): void {
  writeScenario(renderScenario(spec, options), outDir);
}
