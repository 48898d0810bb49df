/**
 * Time for the PXE services, injectable: servers take a `clock` option (default `systemClock`), so
 * a unit test drives retransmission and give-up with a `ManualClock` and asserts on what happened,
 * never on how long it took.
 *
 *   const clock = new ManualClock()
 *   const tftp = await serveTftp({ files, clock })
 *   clock.advance(1000)          // runs every timer due by then, in order, synchronously
 */

/** A one-shot timer from a Clock. */
export interface ClockTimer {
  /** Starts the timer again from now, with the same delay, also after it fired (like Node's `Timeout.refresh()`). */
  refresh(): void
  /** Cancels the timer for good: it never fires, and refresh() does nothing after it. */
  cancel(): void
}

export interface Clock {
  /** Milliseconds since the epoch (or since any fixed origin: only differences are used). */
  now(): number
  /** Calls `callback` once, `ms` from now. */
  setTimer(callback: () => void, ms: number): ClockTimer
}

/** Real time: Date.now() and setTimeout. */
export const systemClock: Clock = {
  now: () => Date.now(),
  setTimer(callback, ms) {
    const timeout = setTimeout(callback, ms)
    let cancelled = false
    return {
      refresh: () => {
        if (!cancelled) timeout.refresh()
      },
      cancel: () => {
        cancelled = true
        clearTimeout(timeout)
      },
    }
  },
}

interface Pending {
  readonly id: number
  due: number
  readonly ms: number
  readonly callback: () => void
  /** Armed (in the list). */
  active: boolean
  cancelled: boolean
}

/**
 * A clock for tests: time stands still until `advance()` moves it, and timers fire only then,
 * synchronously, in due order (ties in the order they were set). `pending()` lists the armed timers.
 */
export class ManualClock implements Clock {
  private time: number
  private readonly timers: Pending[] = []
  private nextId = 0

  constructor(start = 1_000_000) {
    this.time = start
  }

  now(): number {
    return this.time
  }

  setTimer(callback: () => void, ms: number): ClockTimer {
    const timer: Pending = {
      id: this.nextId++,
      due: this.time + ms,
      ms,
      callback,
      active: true,
      cancelled: false,
    }
    this.timers.push(timer)
    return {
      refresh: () => {
        if (timer.cancelled) return
        if (!timer.active) {
          timer.active = true
          this.timers.push(timer)
        }
        timer.due = this.time + timer.ms
      },
      cancel: () => {
        timer.cancelled = true
        timer.active = false
        const at = this.timers.indexOf(timer)
        if (at >= 0) this.timers.splice(at, 1)
      },
    }
  }

  /** The delays, from now, of the armed timers, soonest first. */
  pending(): number[] {
    return this.timers.map((t) => t.due - this.time).sort((a, b) => a - b)
  }

  /** Moves time forward by `ms`, firing every timer that falls due on the way (also ones set meanwhile). */
  advance(ms: number): void {
    const end = this.time + ms
    for (;;) {
      let next: Pending | undefined
      for (const t of this.timers) {
        if (
          t.due <= end &&
          (next === undefined || t.due < next.due || (t.due === next.due && t.id < next.id))
        )
          next = t
      }
      if (next === undefined) break
      this.time = Math.max(this.time, next.due)
      next.active = false
      this.timers.splice(this.timers.indexOf(next), 1)
      next.callback()
    }
    this.time = end
  }
}
