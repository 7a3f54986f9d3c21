// Time for the local runtime: the wall clock when watching a live source, or a simulated clock that the
// replay drives tick by tick, so a workflow waiting for recovery sees the ticks that come after it.

export interface AgentClock {
  now(): number;
  /** Resolves once the clock reads at least `atMs` (epoch ms). */
  until(atMs: number): Promise<void>;
  /** Callers waiting in `until` right now. */
  readonly parked: number;
}

export class WallClock implements AgentClock {
  private sleeping = 0;

  now(): number {
    return Date.now();
  }

  async until(atMs: number): Promise<void> {
    const wait = atMs - Date.now();
    if (wait <= 0) return;
    this.sleeping++;
    try {
      await new Promise((resolve) => setTimeout(resolve, wait));
    } finally {
      this.sleeping--;
    }
  }

  get parked(): number {
    return this.sleeping;
  }
}

/**
 * Simulated time. Driven: only `advanceTo` moves it, and `until` parks the caller until then (the replay
 * advances it after each tick). Free-running: `until` jumps straight to the time asked for, for a workflow
 * run on its own in a test.
 */
export class SimulatedClock implements AgentClock {
  private current: number;
  private readonly waiters: { readonly atMs: number; readonly resolve: () => void }[] = [];

  constructor(
    startMs: number,
    private readonly driven: boolean,
  ) {
    this.current = startMs;
  }

  now(): number {
    return this.current;
  }

  until(atMs: number): Promise<void> {
    if (atMs <= this.current) return Promise.resolve();
    if (!this.driven) {
      this.current = atMs;
      return Promise.resolve();
    }
    return new Promise((resolve) => this.waiters.push({ atMs, resolve }));
  }

  /** Moves time forward (never back) without waking anyone yet: the tick at that time runs first. */
  set(ms: number): void {
    this.current = Math.max(this.current, ms);
  }

  /** Moves time forward (never back) and wakes everyone waiting for a time now passed. */
  advanceTo(ms: number): void {
    this.set(ms);
    this.wakeDue();
  }

  /** Wakes everyone waiting for a time already reached. */
  wakeDue(): void {
    for (let i = this.waiters.length - 1; i >= 0; i--) {
      if (this.waiters[i].atMs <= this.current) {
        const [due] = this.waiters.splice(i, 1);
        due.resolve();
      }
    }
  }

  /** Callers parked in `until`. */
  get parked(): number {
    return this.waiters.length;
  }
}
