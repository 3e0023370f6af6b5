// Reconnection schedule: exponential backoff with full jitter (docs/sdk.md, "Backoff").
// After the n-th consecutive failure (n = 0, 1, ...) the wait is uniform in
// [0, min(cap, base * 2^n)]. The count resets only when a connection stayed online for at
// least `stableAfterMs` before it dropped.

export interface BackoffOptions {
  baseMs: number;
  capMs: number;
  stableAfterMs: number;
}

export const DEFAULT_BACKOFF: BackoffOptions = { baseMs: 500, capMs: 30_000, stableAfterMs: 10_000 };

export class Backoff {
  #failures = 0;
  #onlineSince: number | null = null;

  /** `random` returns a number in [0, 1) (Math.random by default; tests pass a seeded one);
   *  `now` returns milliseconds. */
  constructor(
    readonly opt: BackoffOptions = DEFAULT_BACKOFF,
    private readonly random: () => number = Math.random,
    private readonly now: () => number = Date.now,
  ) {}

  /** The ceiling for the n-th consecutive failure. */
  ceiling(n: number): number {
    // 2^n overflows to Infinity for large n, and min() handles that.
    return Math.min(this.opt.capMs, this.opt.baseMs * 2 ** n);
  }

  /** Consecutive failures so far. */
  get failures(): number {
    return this.#failures;
  }

  /** A connection went online. */
  onConnected(): void {
    this.#onlineSince = this.now();
  }

  /** The connection failed or dropped: returns how long to wait before the next attempt. */
  nextDelay(): number {
    if (this.#onlineSince !== null && this.now() - this.#onlineSince >= this.opt.stableAfterMs) {
      this.#failures = 0;
    }
    this.#onlineSince = null;
    const delay = Math.floor(this.random() * (this.ceiling(this.#failures) + 1));
    this.#failures++;
    return Math.min(delay, this.ceiling(this.#failures - 1));
  }
}

/** A small seeded generator (mulberry32) for reproducible jitter in tests. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
