// Reads a scenario's ground truth for evaluation (tests only: the agent itself never opens these files).

import { readFileSync } from 'node:fs';
import { join } from 'node:path';

export interface Truth {
  readonly faults: {
    readonly id: string;
    readonly start: string;
    readonly end: string;
    readonly rootCause: string;
    readonly kind: string;
    readonly tier: string;
    readonly actions: string[];
    readonly breachAt: string | null;
  }[];
  readonly quiet: { readonly start: string; readonly end: string; readonly note: string }[];
}

export const readTruth = (dir: string): Truth => JSON.parse(readFileSync(join(dir, 'truth.json'), 'utf8')) as Truth;
