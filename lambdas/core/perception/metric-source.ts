// The MetricSource port: what the core asks of Prometheus, Mimir, Amazon Managed Prometheus or a replayed scenario.

import type { Result } from '../result';

/** One value of one series at one instant (PromQL instant-vector element). */
export interface InstantSample {
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

/** One series over a range (PromQL range-query matrix element); timestamps in epoch seconds. */
export interface RangeSeries {
  readonly labels: Readonly<Record<string, string>>;
  readonly timestamps: Float64Array;
  readonly values: Float64Array;
}

export type MetricErrorKind =
  | 'unreachable' // connection refused, DNS, TLS
  | 'timeout' // no answer within the configured timeout
  | 'http' // non-2xx status without a PromQL error body
  | 'query' // the source rejected the PromQL (bad_data, execution error)
  | 'response'; // the answer was not the expected JSON shape

/** Why a query failed, with everything a human (or an LLM) needs to correct it. */
export interface MetricQueryError {
  readonly kind: MetricErrorKind;
  readonly query: string;
  readonly message: string;
  /** HTTP status when the source answered. */
  readonly status?: number;
  /** Epoch seconds of the instant (instant query) or range start/end. */
  readonly time?: number;
  readonly range?: { readonly start: number; readonly end: number; readonly stepSeconds: number };
  readonly attempts?: number;
}

export type InstantResult = Result<InstantSample[], MetricQueryError>;
export type RangeResult = Result<RangeSeries[], MetricQueryError>;

export interface MetricSource {
  /** Evaluates `query` at `time` (epoch seconds). Never throws for source or query errors. */
  instant(query: string, time: number): Promise<InstantResult>;
  /** Evaluates `query` over [start, end] at `stepSeconds` resolution. Never throws for source or query errors. */
  range(query: string, start: number, end: number, stepSeconds: number): Promise<RangeResult>;
}
