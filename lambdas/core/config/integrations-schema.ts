// The optional `integrations` config section: where incident notices go besides Slack (PagerDuty, Jira, a webhook).
// Secrets are named, never inlined: the config is committed, the routing keys and tokens live in Secrets Manager.

import { z } from 'zod';

const secretName = z.string().min(1, 'must name a Secrets Manager secret');
const timeoutMs = z.number().int().positive().max(10_000);
const retries = z.number().int().min(0).max(5);

/** http:// is accepted only for a local receiver; anything crossing a network must be https. */
const isLocal = (url: URL): boolean => ['localhost', '127.0.0.1', '[::1]'].includes(url.hostname);
// zod runs the refinement even when the URL check failed, so an unparsable value must not throw here.
const secureUrl = z.url().refine((value) => {
  if (!URL.canParse(value)) return true;
  const url = new URL(value);
  return url.protocol === 'https:' || (url.protocol === 'http:' && isLocal(url));
}, 'must be an https URL (http only for localhost)');

// Each integration's worst case (every attempt timing out) has to end well inside the notify Lambda's 30 s, or one
// slow integration would time the whole notice out and cost the others their delivery.
const MAX_TOTAL_MS = 15_000;
const withinBudget = (
  section: { readonly timeoutMs: number; readonly retries: number },
  ctx: z.RefinementCtx,
): void => {
  const total = section.timeoutMs * (section.retries + 1);
  if (total > MAX_TOTAL_MS) {
    ctx.addIssue({
      code: 'custom',
      path: ['timeoutMs'],
      message: `timeoutMs x (retries + 1) is ${total} ms; keep it within ${MAX_TOTAL_MS} ms so one slow integration cannot hold up the others`,
    });
  }
};

export const pagerDutySeveritySchema = z.enum(['critical', 'error', 'warning', 'info']);

export const pagerDutyIntegrationSchema = z
  .object({
    /** Secret holding the Events API v2 integration (routing) key of the on-call service. */
    routingKeySecret: secretName,
    /** Severities that page another PagerDuty service instead: severity -> that service's routing-key secret. */
    serviceBySeverity: z
      .object({
        critical: secretName.optional(),
        error: secretName.optional(),
        warning: secretName.optional(),
        info: secretName.optional(),
      })
      .strict()
      .default({}),
    /** The regional endpoint; EU accounts use https://events.eu.pagerduty.com/v2/enqueue. */
    eventsUrl: secureUrl.default('https://events.pagerduty.com/v2/enqueue'),
    /** `payload.group` of every event, e.g. the environment. */
    group: z.string().min(1).optional(),
    timeoutMs: timeoutMs.default(3_000),
    retries: retries.default(2),
  })
  .strict()
  .superRefine(withinBudget);
export type PagerDutyIntegration = z.infer<typeof pagerDutyIntegrationSchema>;

export const jiraIntegrationSchema = z
  .object({
    /** https://<site>.atlassian.net */
    siteUrl: secureUrl,
    projectKey: z.string().regex(/^[A-Z][A-Z0-9_]{1,9}$/, 'must be a Jira project key such as OPS'),
    /** `Task` exists in every Jira Software project; set `Incident` for a service-management project. */
    issueType: z.string().min(1).default('Task'),
    /** Secret holding {"email": "...", "apiToken": "..."} of the account the agent files tickets as. */
    credentialsSecret: secretName,
    /** Name of the workflow transition that closes a ticket. */
    doneTransition: z.string().min(1).default('Done'),
    /** Close the ticket when the agent's own remediation recovered the service. */
    resolveWhenRemediated: z.boolean().default(true),
    timeoutMs: timeoutMs.default(3_000),
    retries: retries.default(2),
  })
  .strict()
  .superRefine(withinBudget);
export type JiraIntegration = z.infer<typeof jiraIntegrationSchema>;

export const webhookIntegrationSchema = z
  .object({
    url: secureUrl,
    /** Secret holding the HMAC-SHA256 key the receiver verifies X-SRE-Agent-Signature with. */
    signingSecret: secretName,
    timeoutMs: timeoutMs.default(3_000),
    retries: retries.default(2),
  })
  .strict()
  .superRefine(withinBudget);
export type WebhookIntegration = z.infer<typeof webhookIntegrationSchema>;

/** Each integration is off unless configured; with none, notices reach only the audit log (and Slack, if set). */
export const integrationsSchema = z
  .object({
    pagerduty: pagerDutyIntegrationSchema.optional(),
    jira: jiraIntegrationSchema.optional(),
    webhook: webhookIntegrationSchema.optional(),
    /** How long one notice may take across all channels before the stragglers are reported as failed. */
    deadlineMs: z.number().int().positive().max(25_000).default(20_000),
  })
  .strict();
export type IntegrationsConfig = z.infer<typeof integrationsSchema>;
