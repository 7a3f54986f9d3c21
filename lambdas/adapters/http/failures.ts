// How the HTTP clients describe what went wrong, in one place: a body cut to a readable snippet, the network
// cause of a failed fetch, timeouts, and the basic-auth secret formats the metric and log sources accept.

export const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/** A response body on one line, cut to `max` characters. */
export function snippet(text: string, max = 300): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  if (flat === '') return '(empty body)';
  return flat.length > max ? `${flat.slice(0, max)}…` : flat;
}

/** Why a fetch failed, as `CODE: message` from its cause when undici gives one (ECONNREFUSED, ENOTFOUND, ...). */
export function networkCause(error: unknown): string {
  const cause = isRecord(error) || error instanceof Error ? (error as { cause?: unknown }).cause : undefined;
  const source = cause ?? error;
  if (source instanceof Error || isRecord(source)) {
    const { code, message } = source as { code?: unknown; message?: unknown };
    const parts = [typeof code === 'string' ? code : undefined, typeof message === 'string' ? message : undefined];
    const text = parts.filter((part) => part && part.length > 0).join(': ');
    if (text) return text;
  }
  return String(source);
}

/** Only the cause's code (ECONNREFUSED), else its message: short enough for a chat line or a ticket comment. */
export function networkCode(error: unknown): string {
  const cause = (error as { cause?: { code?: unknown; message?: unknown } } | undefined)?.cause;
  if (cause && typeof cause.code === 'string') return cause.code;
  if (cause && typeof cause.message === 'string') return cause.message;
  return error instanceof Error ? error.message : String(error);
}

/** The code of a failed fetch's cause, when there is one. */
export function causeCode(error: unknown): string | undefined {
  const cause = (error as { cause?: { code?: unknown } } | undefined)?.cause;
  return typeof cause?.code === 'string' ? cause.code : undefined;
}

/** An AbortSignal.timeout or an abort. */
export function isTimeout(error: unknown): boolean {
  const name = (error as { name?: unknown } | undefined)?.name;
  return name === 'TimeoutError' || name === 'AbortError';
}

/** Basic credentials from a secret: `user:password` or JSON {"username","password"}. */
export function parseBasicSecret(secretName: string, value: string): { username: string; password: string } {
  const trimmed = value.trim();
  if (trimmed.startsWith('{')) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(trimmed);
    } catch {
      throw new Error(`secret "${secretName}" looks like JSON but does not parse`);
    }
    if (isRecord(parsed) && typeof parsed.username === 'string' && typeof parsed.password === 'string') {
      return { username: parsed.username, password: parsed.password };
    }
    throw new Error(`secret "${secretName}" must be JSON {"username","password"} or "user:password"`);
  }
  const colon = trimmed.indexOf(':');
  if (colon <= 0) throw new Error(`secret "${secretName}" must be "user:password" or JSON {"username","password"}`);
  return { username: trimmed.slice(0, colon), password: trimmed.slice(colon + 1) };
}
