// One benchmark figure with its target, and the table `npm run bench` prints.

export interface BenchLine {
  readonly name: string;
  readonly value: number;
  readonly unit: string;
  /** The target in the same unit; for times, lower is better. Absent for a reference figure (no target). */
  readonly target?: number;
  /** target / value for times: above 1 beats the target. */
  readonly ratio?: number;
  readonly note?: string;
}

export const timeLine = (name: string, seconds: number, targetSeconds: number, note?: string): BenchLine => ({
  name,
  value: seconds,
  unit: 's',
  target: targetSeconds,
  ratio: targetSeconds / seconds,
  note,
});

/** A figure printed for comparison only, such as another implementation's time on the same input. */
export const referenceLine = (name: string, seconds: number, note?: string): BenchLine => ({
  name,
  value: seconds,
  unit: 's',
  note,
});

export function formatBench(lines: readonly BenchLine[]): string {
  const width = Math.max(...lines.map((l) => l.name.length));
  return lines
    .map((l) => {
      const value = l.unit === 's' ? formatSeconds(l.value) : `${l.value.toPrecision(4)} ${l.unit}`;
      const note = l.note ? `  (${l.note})` : '';
      if (l.target === undefined || l.ratio === undefined) {
        return `${l.name.padEnd(width)}  ${value.padStart(10)}  ${'reference, no target'.padEnd(45)}${note}`;
      }
      const target = l.unit === 's' ? formatSeconds(l.target) : `${l.target} ${l.unit}`;
      const verdict = l.ratio >= 1 ? 'meets target' : 'MISSES target';
      return `${l.name.padEnd(width)}  ${value.padStart(10)}  target ${target.padStart(9)}  ratio ${l.ratio.toFixed(2).padStart(6)}x  ${verdict}${note}`;
    })
    .join('\n');
}

const formatSeconds = (s: number): string => (s < 1 ? `${(s * 1000).toFixed(2)} ms` : `${s.toFixed(3)} s`);

/** Median wall time of `runs` calls after `warmup` unmeasured ones. */
export async function medianSeconds(fn: () => unknown, runs: number, warmup = 3): Promise<number> {
  for (let i = 0; i < warmup; i++) await fn();
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const start = process.hrtime.bigint();
    await fn();
    times.push(Number(process.hrtime.bigint() - start) / 1e9);
  }
  times.sort((a, b) => a - b);
  return times[times.length >> 1];
}
