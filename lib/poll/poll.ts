import { setTimeout as sleepFor } from 'node:timers/promises'

/** What time it is and how to wait: tests pass a clock they drive. */
export interface Clock {
  now(): number
  sleep(ms: number, signal?: AbortSignal): Promise<void>
}

/** The wall clock; its sleep() ends early, rejecting, when the signal aborts. */
export const REAL_CLOCK: Clock = {
  now: () => Date.now(),
  sleep: (ms, signal) => sleepFor(ms, undefined, signal === undefined ? undefined : { signal }),
}

/** What a check is handed on each call. */
export interface PollAttempt<S> {
  /** 1 for the first call. */
  readonly attempt: number
  /** Records what this call saw while not done yet; the timeout error carries the last one. */
  see(observation: S): void
}

/** Why poll() waits before its next check. */
export interface PollWait<S> {
  /** The attempt that just ended without a value. */
  readonly attempt: number
  readonly delayMs: number
  readonly lastSeen: S | undefined
  /** The error that attempt threw (and `retry` let through), if it threw. */
  readonly error: unknown
}

export interface PollOptions<S> {
  /** Named in the timeout error: `Timed out after 500 ms waiting for WHAT`. */
  readonly what: string
  /** Between two checks, before backoff. */
  readonly intervalMs: number
  /** Give up when the next check would start after this. @default no deadline */
  readonly timeoutMs?: number
  /** Each wait is the previous one times `factor`, at most `maxMs`. @default a fixed interval */
  readonly backoff?: { readonly factor: number; readonly maxMs: number }
  /** Aborting rejects with the signal's reason, before the next check or during a wait. */
  readonly signal?: AbortSignal
  /** Errors a check throws for which this returns true are remembered and retried; others end the poll. @default none */
  readonly retry?: (error: unknown) => boolean
  /** Called before each wait (to report progress). */
  readonly onWait?: (wait: PollWait<S>) => void
  /** @default REAL_CLOCK */
  readonly clock?: Clock
}

/** poll() ran out of time; carries what the check last saw and the last error it threw. */
export class PollTimeoutError<S = unknown> extends Error {
  readonly code = 'POLL_TIMEOUT'
  readonly what: string
  readonly timeoutMs: number
  readonly attempts: number
  readonly lastSeen: S | undefined
  readonly lastError: unknown
  constructor(
    what: string,
    timeoutMs: number,
    attempts: number,
    lastSeen: S | undefined,
    lastError: unknown,
  ) {
    const seen =
      lastSeen !== undefined
        ? `; last seen: ${typeof lastSeen === 'string' ? lastSeen : JSON.stringify(lastSeen)}`
        : lastError !== undefined
          ? `; last error: ${lastError instanceof Error ? lastError.message : String(lastError)}`
          : ''
    super(
      `Timed out after ${timeoutMs} ms waiting for ${what}${seen}`,
      lastError === undefined ? {} : { cause: lastError },
    )
    this.name = 'PollTimeoutError'
    this.what = what
    this.timeoutMs = timeoutMs
    this.attempts = attempts
    this.lastSeen = lastSeen
    this.lastError = lastError
  }
}

/**
 * Calls `check` until it returns a value other than undefined, and resolves with it. Between calls
 * it waits `intervalMs` (growing with `backoff`); it never starts a wait that would end after the
 * deadline, and rejects then with a PollTimeoutError holding what was last seen.
 */
export async function poll<T, S = string>(
  check: (attempt: PollAttempt<S>) => T | undefined | Promise<T | undefined>,
  options: PollOptions<S>,
): Promise<T> {
  const clock = options.clock ?? REAL_CLOCK
  const { signal, timeoutMs } = options
  const deadline = timeoutMs === undefined ? Number.POSITIVE_INFINITY : clock.now() + timeoutMs
  let delayMs = options.intervalMs
  let lastSeen: S | undefined
  let lastError: unknown
  for (let attempt = 1; ; attempt++) {
    signal?.throwIfAborted()
    let error: unknown
    try {
      const value = await check({
        attempt,
        see: (observation) => {
          lastSeen = observation
        },
      })
      if (value !== undefined) return value
    } catch (err) {
      if (options.retry?.(err) !== true) throw err
      error = err
      lastError = err
    }
    if (clock.now() + delayMs > deadline) {
      throw new PollTimeoutError(options.what, timeoutMs ?? 0, attempt, lastSeen, lastError)
    }
    options.onWait?.({ attempt, delayMs, lastSeen, error })
    signal?.throwIfAborted()
    await clock.sleep(delayMs, signal).catch((error: unknown) => {
      signal?.throwIfAborted() // the signal's reason, not the timer's AbortError
      throw error
    })
    if (options.backoff !== undefined)
      delayMs = Math.min(delayMs * options.backoff.factor, options.backoff.maxMs)
  }
}
