// Fixed-capacity windows over the most recent values, on typed arrays so a streaming detector allocates nothing
// per point.

/**
 * The last `capacity` values kept both in arrival order (a ring) and sorted, so order statistics (median,
 * quantiles, ranks) cost a binary search instead of a sort per point. Insertion and eviction move at most
 * `capacity` doubles with one native `copyWithin` each, which for the few hundred to few thousand values
 * used here is far cheaper than any tree structure in JavaScript.
 */
export class SortedWindow {
  private readonly ring: Float64Array;
  private readonly sorted: Float64Array;
  private head = 0;
  private count = 0;

  constructor(readonly capacity: number) {
    if (!(capacity >= 1)) throw new RangeError(`window capacity must be >= 1, got ${capacity}`);
    this.ring = new Float64Array(capacity);
    this.sorted = new Float64Array(capacity);
  }

  get length(): number {
    return this.count;
  }

  /** Adds a finite value, evicting the oldest once full. */
  push(x: number): void {
    const sorted = this.sorted;
    const n = this.count;
    if (n === this.capacity) {
      // Replace the evicted value in place and shift only the values between its slot and the new one's.
      const out = this.lowerBound(this.ring[this.head], n);
      if (x >= sorted[out]) {
        const at = this.upperBound(x, n) - 1;
        sorted.copyWithin(out, out + 1, at + 1);
        sorted[at] = x;
      } else {
        const at = this.upperBound(x, n);
        sorted.copyWithin(at + 1, at, out);
        sorted[at] = x;
      }
    } else {
      const at = this.upperBound(x, n);
      sorted.copyWithin(at + 1, at, n);
      sorted[at] = x;
      this.count++;
    }
    this.ring[this.head] = x;
    this.head = this.head + 1 === this.capacity ? 0 : this.head + 1;
  }

  /** Quantile with linear interpolation between order statistics (type 7, as numpy's default). */
  quantile(q: number): number {
    const n = this.count;
    if (n === 0) return Number.NaN;
    const pos = q * (n - 1);
    const lo = Math.floor(pos);
    const frac = pos - lo;
    const a = this.sorted[lo];
    return frac === 0 || lo + 1 >= n ? a : a + frac * (this.sorted[lo + 1] - a);
  }

  /** The k-th smallest value (0-based). */
  at(k: number): number {
    return this.sorted[k];
  }

  min(): number {
    return this.count ? this.sorted[0] : Number.NaN;
  }

  max(): number {
    return this.count ? this.sorted[this.count - 1] : Number.NaN;
  }

  /** How many held values are >= x. */
  countAtLeast(x: number): number {
    return this.count - this.lowerBound(x, this.count);
  }

  /** How many held values equal x. */
  countEqual(x: number): number {
    return this.upperBound(x, this.count) - this.lowerBound(x, this.count);
  }

  /** First index whose value is >= x. */
  private lowerBound(x: number, n: number): number {
    let lo = 0;
    let hi = n;
    const s = this.sorted;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (s[mid] < x) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** First index whose value is > x. */
  private upperBound(x: number, n: number): number {
    let lo = 0;
    let hi = n;
    const s = this.sorted;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (s[mid] <= x) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}

/** Gaussian-consistent spread of a sorted window: the first non-zero of IQR, 80 % and 98 % ranges, full range. */
export function robustScale(w: SortedWindow): number {
  // Each range divided by its width in standard deviations of a normal distribution, so all agree on Gaussian
  // data; wider ones take over when most values are identical (counters idling at zero, flat lines with spikes).
  const iqr = (w.quantile(0.75) - w.quantile(0.25)) / 1.349;
  if (iqr > 0) return iqr;
  const p80 = (w.quantile(0.9) - w.quantile(0.1)) / 2.563;
  if (p80 > 0) return p80;
  const p98 = (w.quantile(0.99) - w.quantile(0.01)) / 4.653;
  if (p98 > 0) return p98;
  return (w.max() - w.min()) / 6;
}

/** A ring of the last `capacity` values in arrival order (NaN for missing points). */
export class Ring {
  private readonly data: Float64Array;
  private head = 0;
  private count = 0;

  constructor(readonly capacity: number) {
    this.data = new Float64Array(capacity).fill(Number.NaN);
  }

  get length(): number {
    return this.count;
  }

  push(x: number): void {
    this.data[this.head] = x;
    this.head = this.head + 1 === this.capacity ? 0 : this.head + 1;
    if (this.count < this.capacity) this.count++;
  }

  /** The value pushed `lag` pushes ago (0 = the latest); NaN when not held. */
  recent(lag: number): number {
    if (lag < 0 || lag >= this.count) return Number.NaN;
    let i = this.head - 1 - lag;
    if (i < 0) i += this.capacity;
    return this.data[i];
  }
}
