/**
 * Reconnect delays: exponential backoff with full jitter, pure, with an injectable random.
 *
 * Full jitter (delay = uniform(0, min(cap, base * 2^attempt))) spreads the tabs that lost
 * the same server over the whole window, so they do not come back in one storm.
 */

/** The ceiling of the first reconnect delay. */
export const RECONNECT_BASE_DELAY_MS = 500;
/** No backoff delay goes beyond this (a server's retry-after aside). */
export const RECONNECT_MAX_DELAY_MS = 30_000;
/** After a server restart (close 1012) the client comes back at once, spread over this much. */
export const RESTART_JITTER_MAX_MS = 100;

/** 2^attempt beyond this is far past any cap; keeps the number finite. */
const MAX_EXPONENT = 30;

/** Returns a number in [0, 1), like Math.random. */
export type RandomSource = () => number;

/** The delay before retry number `attempt` (0 for the first): uniform over [0, ceiling). */
export function fullJitterDelayMs(
  attempt: number,
  baseMs: number,
  maxMs: number,
  random: RandomSource,
): number {
  const exponent = Math.min(Math.max(attempt, 0), MAX_EXPONENT);
  const ceiling = Math.min(maxMs, baseMs * 2 ** exponent);
  return random() * ceiling;
}

export interface BackoffOptions {
  /** The ceiling of the first delay, in ms. */
  baseDelayMs?: number;
  /** The ceiling no delay goes beyond (a server's retry-after aside), in ms. */
  maxDelayMs?: number;
  /** The random source; Math.random unless a test injects one. */
  random?: RandomSource;
}

/** Counts failed attempts and draws the next delay; `reset` after a good connection. */
export class Backoff {
  readonly baseDelayMs: number;
  readonly maxDelayMs: number;
  private readonly random: RandomSource;
  /** Failed attempts since the last reset. */
  attempt = 0;

  constructor({
    baseDelayMs = RECONNECT_BASE_DELAY_MS,
    maxDelayMs = RECONNECT_MAX_DELAY_MS,
    random = Math.random,
  }: BackoffOptions = {}) {
    if (baseDelayMs < 0 || maxDelayMs < 0) throw new RangeError("backoff delays must not be negative");
    this.baseDelayMs = baseDelayMs;
    this.maxDelayMs = maxDelayMs;
    this.random = random;
  }

  /**
   * The delay before the next attempt, then counts the attempt. `retryAfterMs` (a server's
   * `retry_after_ms`) is a floor: the jitter comes on top.
   */
  nextDelayMs(retryAfterMs: number | null = null): number {
    const delay = fullJitterDelayMs(this.attempt, this.baseDelayMs, this.maxDelayMs, this.random);
    this.attempt += 1;
    return delay + Math.max(retryAfterMs ?? 0, 0);
  }

  /** The delay after a server restart: at once, jittered by at most RESTART_JITTER_MAX_MS; resets. */
  restartDelayMs(): number {
    this.reset();
    return this.jitterMs();
  }

  /** A small random delay that leaves the attempt count alone. */
  jitterMs(): number {
    return this.random() * RESTART_JITTER_MAX_MS;
  }

  reset(): void {
    this.attempt = 0;
  }
}
