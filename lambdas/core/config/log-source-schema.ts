// Configuration of the log source (Loki): where it is, how to authenticate, and which lines count as errors.

import { z } from 'zod';
import { SERVICE_PLACEHOLDER, selectorTemplateProblem } from '../perception/log-source';

/** Streams of one service: the `service` label, as Promtail and the Grafana Agent are usually configured. */
export const DEFAULT_LOG_SELECTOR = `{service="${SERVICE_PLACEHOLDER}"}`;
/** Lines that mention an error; set "" with a selector such as {service="<svc>", level="error"} to use levels. */
export const DEFAULT_ERROR_FILTER = '|~ "(?i)(error|exception|fatal|panic|fail|timed? ?out|refused)"';

const logAuthSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('none') }).strict(),
  /** Secret value `user:password` or {"username","password"} (Grafana Cloud: instance id and access token). */
  z.object({ type: z.literal('basic'), secretName: z.string().min(1) }).strict(),
  z.object({ type: z.literal('bearer'), secretName: z.string().min(1) }).strict(),
]);
export type LogSourceAuth = z.infer<typeof logAuthSchema>;

export const logSourceSchema = z
  .object({
    /** Base URL of Loki (the query frontend), e.g. http://loki-gateway.monitoring; /loki/api/v1/... is appended. */
    url: z.url(),
    /** Loki tenant, sent as X-Scope-OrgID. */
    tenant: z.string().min(1).optional(),
    auth: logAuthSchema.default({ type: 'none' }),
    timeoutMs: z.number().int().positive().max(30_000).default(5_000),
    retries: z.number().int().min(0).max(5).default(2),
    /** Stream selector of one service; <svc> is replaced by the service name, escaped. */
    selector: z
      .string()
      .default(DEFAULT_LOG_SELECTOR)
      .superRefine((selector, ctx) => {
        const problem = selectorTemplateProblem(selector);
        if (problem) ctx.addIssue({ code: 'custom', message: problem });
      }),
    /** LogQL pipeline keeping error lines; "" keeps every line of the selected streams. */
    errorFilter: z
      .string()
      .default(DEFAULT_ERROR_FILTER)
      .refine((filter) => filter.trim() === '' || /^[|!]/.test(filter.trim()), {
        message: 'must be empty or a LogQL pipeline such as |~ "(?i)error" or |= "ERROR"',
      }),
  })
  .strict()
  .superRefine((source, ctx) => {
    if (source.timeoutMs * (source.retries + 1) > 30_000) {
      ctx.addIssue({
        code: 'custom',
        path: ['timeoutMs'],
        message: `timeoutMs x (retries + 1) is ${source.timeoutMs * (source.retries + 1)} ms; keep it within 30000 ms so a diagnosis step ends well inside its Lambda timeout`,
      });
    }
  });
export type LogSourceConfig = z.infer<typeof logSourceSchema>;
