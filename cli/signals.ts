/**
 * One way for long commands to stop: the first SIGINT or SIGTERM aborts `signal` (the command winds
 * down and cleans up), a second one forces the exit. `cli/main.ts` turns a stopped command into
 * exit code 130 and one message, the same for every command.
 */

/** The exit code of a command stopped by a signal (128 + SIGINT, as shells report it). */
export const EXIT_INTERRUPTED = 130

export type StopSignal = 'SIGINT' | 'SIGTERM'

/** What the helper needs of `process` (tests pass an EventEmitter). */
export interface SignalSource {
  on(event: StopSignal, listener: (signal: StopSignal) => void): unknown
  off(event: StopSignal, listener: (signal: StopSignal) => void): unknown
}

export interface StopOnSignalsOptions {
  readonly source?: SignalSource
  /** Told once, on the first signal (e.g. "stopping: ..."). */
  readonly onStop?: (signal: StopSignal) => void
  /** Called on the second signal: ends the process (default: process.exit(130)). */
  readonly force?: (signal: StopSignal) => void
}

export interface StopOnSignals {
  readonly signal: AbortSignal
  /** The first signal received, if any. */
  stoppedBy(): StopSignal | undefined
  /** Removes the listeners (the command is over). */
  dispose(): void
}

const SIGNALS: readonly StopSignal[] = ['SIGINT', 'SIGTERM']

export function stopOnSignals(options: StopOnSignalsOptions = {}): StopOnSignals {
  const source = options.source ?? process
  const force = options.force ?? (() => process.exit(EXIT_INTERRUPTED))
  const abort = new AbortController()
  let first: StopSignal | undefined
  const listener = (name: StopSignal) => {
    if (first !== undefined) {
      dispose()
      force(name)
      return
    }
    first = name
    abort.abort(new StopError(name))
    options.onStop?.(name)
  }
  const dispose = () => {
    for (const name of SIGNALS) source.off(name, listener)
  }
  for (const name of SIGNALS) source.on(name, listener)
  return { signal: abort.signal, stoppedBy: () => first, dispose }
}

/** The abort reason: which signal stopped the command. */
export class StopError extends Error {
  override name = 'AbortError'
  readonly signal: StopSignal
  constructor(signal: StopSignal) {
    super(`stopped by ${signal}`)
    this.signal = signal
  }
}
