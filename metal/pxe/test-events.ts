/**
 * Boot events as a test records them, with a wait for the ones it needs: a test waits for the
 * event itself (a transfer's end, a response closed), never for a while.
 *
 *   const log = new EventLog()
 *   const server = await serveTftp({ files, events: log.sink })
 *   const [end] = await log.until('tftp.end', (e) => e.file === 'small.bin')
 */
import type { BootEvent, BootEventSink } from './events.ts'

export type EventOf<T extends BootEvent['type']> = Extract<BootEvent, { type: T }>

/** How long a wait may take before it counts as a hang (far beyond any loaded machine's delay). */
export const HANG_MS = 30_000

export class EventLog {
  readonly events: BootEvent[] = []
  private readonly waiters = new Set<() => void>()

  /** Pass this as the `events` option of the server under test. */
  readonly sink: BootEventSink = (event) => {
    this.events.push(event)
    for (const wake of [...this.waiters]) wake()
  }

  /** The events of one type recorded so far, optionally filtered. */
  of<T extends BootEvent['type']>(type: T, match: (e: EventOf<T>) => boolean = () => true): EventOf<T>[] {
    return this.events.filter((e): e is EventOf<T> => e.type === type && match(e as EventOf<T>))
  }

  /** Forgets what was recorded (a test that shares a server starts from an empty log). */
  clear(): void {
    this.events.length = 0
  }

  /**
   * Resolves once `count` events of `type` matching `match` were recorded (maybe already), with
   * them. Rejects after HANG_MS: only a stuck server gets there.
   */
  until<T extends BootEvent['type']>(
    type: T,
    match: (e: EventOf<T>) => boolean = () => true,
    count = 1,
  ): Promise<EventOf<T>[]> {
    const found = (): EventOf<T>[] | undefined => {
      const list = this.of(type, match)
      return list.length >= count ? list : undefined
    }
    const now = found()
    if (now !== undefined) return Promise.resolve(now)
    return new Promise((resolve, reject) => {
      const wake = (): void => {
        const list = found()
        if (list === undefined) return
        this.waiters.delete(wake)
        clearTimeout(timer)
        resolve(list)
      }
      const timer = setTimeout(() => {
        this.waiters.delete(wake)
        reject(
          new Error(
            `no ${count} "${type}" event(s) after ${HANG_MS} ms; events: ${JSON.stringify(this.events).slice(-2000)}`,
          ),
        )
      }, HANG_MS)
      this.waiters.add(wake)
    })
  }
}
