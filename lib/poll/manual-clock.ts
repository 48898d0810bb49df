import type { Clock } from './poll.ts'

/** A clock driven by hand, for tests and stand-ins: sleep() moves time on at once and records each wait. */
export interface ManualClock {
  readonly clock: Clock
  /** Every wait asked of `clock.sleep()`, in order. */
  readonly slept: number[]
  /** The time now, as `clock.now()` reports it. */
  now(): number
}

/** A manual clock starting at `startMs` (0 by default); it ignores abort signals, since it never really waits. */
export function manualClock(startMs = 0): ManualClock {
  let t = startMs
  const slept: number[] = []
  return {
    clock: {
      now: () => t,
      sleep: async (ms) => {
        slept.push(ms)
        t += ms
      },
    },
    slept,
    now: () => t,
  }
}
