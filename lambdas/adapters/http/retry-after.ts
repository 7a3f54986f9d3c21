// Reads an HTTP Retry-After header, as both Slack (429) and Prometheus-compatible sources (429/503) send it.

/** Retry-After (delta seconds or an HTTP date) in ms, never negative; undefined when absent or unreadable. */
export function retryAfterMs(header: string | null, now = Date.now()): number | undefined {
  if (!header) return undefined;
  const trimmed = header.trim();
  if (/^\d+(\.\d+)?$/.test(trimmed)) return Math.round(Number(trimmed) * 1000);
  const date = Date.parse(trimmed);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}
