// The `alerting` config section: how the alert manager dedups, groups, holds flapping alerts, honours maintenance,
// watches heartbeats and routes by severity, service criticality and time of day. Every field has a default, so an
// empty section (`alerting: {}`) is a working setup.

import { z } from 'zod';
import { criticalitySchema } from '../config/criticality';
import type { Topology } from '../config/schema';
import { DEFAULT_REPLICA_LABELS, SEVERITIES } from './webhooks';

const minutes = z.number().int().positive();
const isoTime = z.iso.datetime({ offset: true });
const clock = z.string().regex(/^([01]\d|2[0-3]):[0-5]\d$/, 'must be a time of day such as 09:00');

/** Where a notification goes. Paging needs a PagerDuty service to page. */
export const routeSchema = z
  .object({
    slackChannel: z.string().min(1),
    pagerdutyService: z.string().min(1).optional(),
    /** Trigger a PagerDuty incident (wakes someone up). */
    page: z.boolean().default(false),
    /** Open a ticket so the problem is followed up even when nobody is paged. */
    ticket: z.boolean().default(false),
  })
  .strict()
  .refine((route) => !route.page || route.pagerdutyService, {
    message: 'page: true needs a pagerdutyService to page',
    path: ['pagerdutyService'],
  });
export type Route = z.infer<typeof routeSchema>;

/** A routing rule: the first whose conditions all hold decides the route; an omitted condition matches anything. */
export const routeRuleSchema = z
  .object({
    severity: z.array(z.enum(SEVERITIES)).min(1).optional(),
    criticality: z.array(criticalitySchema).min(1).optional(),
    /** business: inside business hours; night: outside them (nights, weekends); any: always. */
    hours: z.enum(['business', 'night', 'any']).default('any'),
    route: routeSchema,
  })
  .strict();
export type RouteRule = z.infer<typeof routeRuleSchema>;

const PAGERDUTY = 'sre-primary';

/**
 * Default routing: anything critical on a funds or core service pages at any hour; a critical problem on a standard
 * service pages during business hours and becomes a ticket at night (the design's "drowning in night-time alerts");
 * warnings go to Slack, with a ticket when nobody is there to read them or money is involved; info is Slack only.
 */
export const DEFAULT_ROUTES: readonly z.input<typeof routeRuleSchema>[] = [
  {
    severity: ['critical'],
    criticality: ['funds', 'core'],
    route: { slackChannel: '#sre-critical', pagerdutyService: PAGERDUTY, page: true, ticket: true },
  },
  {
    severity: ['critical'],
    hours: 'business',
    route: { slackChannel: '#sre-alerts', pagerdutyService: PAGERDUTY, page: true, ticket: true },
  },
  { severity: ['critical'], hours: 'night', route: { slackChannel: '#sre-alerts', ticket: true } },
  { severity: ['warning'], criticality: ['funds'], route: { slackChannel: '#sre-alerts', ticket: true } },
  { severity: ['warning'], hours: 'night', route: { slackChannel: '#sre-alerts', ticket: true } },
  { severity: ['warning'], route: { slackChannel: '#sre-alerts' } },
  { severity: ['info'], route: { slackChannel: '#sre-info' } },
];

export const maintenanceWindowSchema = z
  .object({
    /** Services covered; omitted: every service. */
    services: z.array(z.string().min(1)).min(1).optional(),
    start: isoTime,
    end: isoTime,
    reason: z.string().min(1),
  })
  .strict()
  .refine((w) => Date.parse(w.end) > Date.parse(w.start), { message: 'must be after start', path: ['end'] });
export type MaintenanceWindow = z.infer<typeof maintenanceWindowSchema>;

export const alertingConfigSchema = z
  .object({
    /** A related alert joins an open group when the group saw activity this recently. */
    groupWindowMinutes: minutes.default(15),
    /**
     * An alert that changes state `changes` times within `windowMinutes` is held until it has not changed for
     * `stableMinutes`. An even count is the safe default: detection then happens on a resolve, so while an alert is
     * held people have last been told it is firing, never that it is fine.
     */
    flapping: z
      .object({
        changes: z.number().int().min(2).default(4),
        windowMinutes: minutes.default(30),
        stableMinutes: minutes.default(15),
      })
      .strict()
      .prefault({}),
    maintenance: z.array(maintenanceWindowSchema).default([]),
    /**
     * Treat `guardrails.changeFreezes` as maintenance for every service. Off by default: a freeze forbids changes,
     * it does not mean faults are expected, and silencing alerts for a whole freeze would hide real incidents.
     */
    changeFreezesAsMaintenance: z.boolean().default(false),
    /** Alerts that prove the alerting pipeline works; never notified, and their absence is. */
    heartbeat: z
      .object({
        names: z.array(z.string().min(1)).default(['Watchdog', 'DeadMansSwitch']),
        /** How often the heartbeat arrives (the Alertmanager repeat interval of its route). */
        intervalMinutes: minutes.default(5),
        /** Extra slack before a late heartbeat counts as missing. */
        graceMinutes: z.number().int().nonnegative().default(5),
        route: routeSchema.default({
          slackChannel: '#sre-critical',
          pagerdutyService: PAGERDUTY,
          page: true,
          ticket: false,
        }),
      })
      .strict()
      .prefault({}),
    /** Helper alerts that are never notified and not watched (kube-prometheus's InfoInhibitor). */
    silentNames: z.array(z.string().min(1)).default(['InfoInhibitor']),
    /** Labels that only tell HA replicas apart (see webhooks.ts). */
    replicaLabels: z.array(z.string().min(1)).default([...DEFAULT_REPLICA_LABELS]),
    businessHours: z
      .object({
        /** Offset of the on-call team's local time from UTC, in minutes (480: UTC+8). */
        utcOffsetMinutes: z
          .number()
          .int()
          .min(-12 * 60)
          .max(14 * 60)
          .default(480),
        /** ISO days of the week: 1 is Monday, 7 Sunday. */
        days: z.array(z.number().int().min(1).max(7)).min(1).default([1, 2, 3, 4, 5]),
        start: clock.default('09:00'),
        end: clock.default('18:00'),
      })
      .strict()
      .refine((h) => h.end > h.start, { message: 'must be after start', path: ['end'] })
      .prefault({}),
    routes: z.array(routeRuleSchema).default(() => DEFAULT_ROUTES.map((rule) => routeRuleSchema.parse(rule))),
    /** Used when no rule matches. */
    defaultRoute: routeSchema.default({ slackChannel: '#sre-alerts', page: false, ticket: false }),
  })
  .strict();
export type AlertingConfig = z.infer<typeof alertingConfigSchema>;
export type AlertingConfigInput = z.input<typeof alertingConfigSchema>;

/** The working defaults: what `alerting: {}` parses to. */
export const defaultAlertingConfig = (): AlertingConfig => alertingConfigSchema.parse({});

/** Problems of an alerting section against the topology it runs with (maintenance naming unknown services). */
export function alertingTopologyProblems(alerting: AlertingConfig, topology: Topology): string[] {
  const known = new Set(topology.services.map((s) => s.name));
  const problems: string[] = [];
  alerting.maintenance.forEach((window, index) => {
    window.services?.forEach((service, serviceIndex) => {
      if (!known.has(service)) {
        problems.push(`alerting.maintenance[${index}].services[${serviceIndex}]: unknown service "${service}"`);
      }
    });
  });
  return problems;
}
