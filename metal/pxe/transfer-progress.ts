/**
 * Progress of a file while it transfers: the servers emit a 'transfer.progress' event with the
 * bytes so far, at most once per `everyMs` of their clock and only when bytes moved since the last
 * one. The stall watchdog (metal/provision/watchdog.ts) then measures silence, not file size: a
 * 100 MB initrd crawling through GRUB's TFTP keeps its machine's "last seen" fresh, and a transfer
 * that stops moving goes quiet. The clock is the server's (injectable): tests drive it by hand.
 */
import type { Clock } from './clock.ts'

/** @default at most one progress event every 2 s per transfer */
export const DEFAULT_PROGRESS_MS = 2000

/** Decides, per transfer, when its bytes so far are worth an event. */
export class ProgressThrottle {
  private readonly clock: Clock
  private readonly everyMs: number
  private lastAt: number
  private lastBytes = 0

  /** Starts counting from now (the transfer's start). */
  constructor(clock: Clock, everyMs: number = DEFAULT_PROGRESS_MS) {
    this.clock = clock
    this.everyMs = everyMs
    this.lastAt = clock.now()
  }

  /** True (and the report counted) when `everyMs` passed since the last report and bytes moved. */
  due(bytes: number): boolean {
    const now = this.clock.now()
    if (bytes <= this.lastBytes || now - this.lastAt < this.everyMs) return false
    this.lastAt = now
    this.lastBytes = bytes
    return true
  }
}
