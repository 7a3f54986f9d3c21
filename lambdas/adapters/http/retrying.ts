// The retry policy every outbound HTTP client shares: exponential backoff with full jitter, only for failures the
// client itself marked retryable, and a server's Retry-After honoured on top of the backoff.

import { backOff } from 'exponential-backoff';

/** A failed attempt as the clients describe it: whether another try may help, and how long the server asked to wait. */
export interface RetryableAttempt {
  readonly retryable: boolean;
  readonly retryAfterMs?: number;
  readonly failure: { readonly code: string };
}

export interface RetrySettings {
  /** Tries in all, the first included. */
  readonly attempts: number;
  readonly startMs: number;
  readonly maxMs: number;
  readonly sleep: (ms: number) => Promise<void>;
}

/** What a client logs about a retry: the attempt that failed, why, and the wait the server asked for. */
export interface RetryNotice<Code extends string = string> {
  readonly attempt: number;
  readonly code: Code;
  readonly waitMs?: number;
}

export function withRetries<T, A extends RetryableAttempt>(
  work: () => Promise<T>,
  isAttempt: (error: unknown) => error is A,
  settings: RetrySettings,
  onRetry: (notice: RetryNotice<A['failure']['code']>, error: A) => void,
): Promise<T> {
  return backOff(work, {
    numOfAttempts: settings.attempts,
    startingDelay: settings.startMs,
    timeMultiple: 2,
    maxDelay: settings.maxMs,
    jitter: 'full',
    retry: async (error: unknown, attempt: number) => {
      if (!isAttempt(error) || !error.retryable || attempt >= settings.attempts) return false;
      onRetry(
        {
          attempt,
          code: error.failure.code,
          ...(error.retryAfterMs !== undefined ? { waitMs: error.retryAfterMs } : {}),
        },
        error,
      );
      if (error.retryAfterMs) await settings.sleep(error.retryAfterMs);
      return true;
    },
  });
}

/**
 * One failed round trip of a query client (the metric and log sources): the error kind its port reports, whether
 * another try may help, the HTTP status and the wait the server asked for.
 */
export class QueryAttemptFailure<Kind extends string> extends Error {
  readonly failure: { readonly code: Kind };

  constructor(
    readonly kind: Kind,
    message: string,
    readonly retryable: boolean,
    readonly status?: number,
    readonly retryAfterMs?: number,
  ) {
    super(message);
    this.failure = { code: kind };
  }
}
