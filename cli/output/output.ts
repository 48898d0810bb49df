/**
 * The one place that writes what commands report. Every command emits typed events; with --json
 * each event is one JSON object per line, else each kind's renderer (metal.ts, cluster.ts,
 * bootstrap.ts, lab.ts; the config and plan kinds in core/log/reporter.ts) turns it into `Shown`
 * items, written here: live lines on a TTY (redrawn in place), plain lines otherwise. Each event is
 * sanitised first (core/log/sanitize.ts): no control character a peer sent reaches the terminal.
 */
import type { Writable } from 'node:stream'
import type { BootstrapEvent } from '../../bootstrap/bootstrap.ts'
import type { HomelabEvent } from '../../core/log/events.ts'
import { createReporter } from '../../core/log/reporter.ts'
import { jsonLine, sanitizeEvent, terminalText } from '../../core/log/sanitize.ts'
import type { ExternalEvent } from '../../external/index.ts'
import { createLiveLines, type LiveLines, type LiveState } from '../live.ts'
import { BOOTSTRAP, CLUSTER_VIEW, type ClusterViewEvent } from './bootstrap.ts'
import { CLUSTER, type ClusterOutputEvent } from './cluster.ts'
import { DISCOVER, type DiscoverOutputEvent } from './discover.ts'
import { EXTERNAL } from './external.ts'
import { LAB, type LabEvent } from './lab.ts'
import { METAL, type MetalEvent } from './metal.ts'
import type { Renderers, Shown } from './shown.ts'

/** Every event a command may emit. */
export type CliEvent =
  | HomelabEvent
  | MetalEvent
  | ClusterOutputEvent
  | BootstrapEvent
  | ClusterViewEvent
  | LabEvent
  | DiscoverOutputEvent
  | ExternalEvent

const RENDERERS: Renderers<Exclude<CliEvent, HomelabEvent>> = {
  ...METAL,
  ...CLUSTER,
  ...BOOTSTRAP,
  ...CLUSTER_VIEW,
  ...LAB,
  ...DISCOVER,
  ...EXTERNAL,
}

/** What `event` looks like for people; undefined for the kinds core/log/reporter.ts renders. */
export function render(event: CliEvent): readonly Shown[] | undefined {
  const renderer = (RENDERERS as Record<string, ((e: CliEvent) => readonly Shown[]) | undefined>)[event.type]
  return renderer?.(event)
}

type Terminal = Writable & { isTTY?: boolean; columns?: number }

export interface OutputOptions {
  readonly json: boolean
  readonly out: Terminal
  readonly err: Terminal
  /** Also show what only -v shows (clients that are ignored). */
  readonly verbose?: boolean
  readonly now?: () => number
}

export interface Output {
  /** Reports an event: one JSON line with --json, else rendered for people. */
  emit(event: CliEvent): void
  /** Renders an event for people only (state derived from events already in the JSON stream). */
  show(event: CliEvent): void
  /** A line for people only (what a command is about to do, next steps), above any live lines. */
  text(line: string): void
  /** The live rows to show (waiting) once the first row changes; times count from `start`. */
  board(rows: readonly LiveState[], start?: number): void
  /** Sets -v (commands with --verbose). */
  setVerbose(verbose: boolean): void
  /** Ends the live lines. */
  stop(): void
}

/** A live row that has not started yet. */
export function waiting(name: string): LiveState {
  return { machine: name, stage: 'waiting', lastSeen: '', lastSeenAt: 0 }
}

export function createOutput(options: OutputOptions): Output {
  const { out, json } = options
  const now = options.now ?? Date.now
  const reporter = createReporter({ json, out: options.out, err: options.err })
  let verbose = options.verbose === true
  let states = new Map<string, LiveState>()
  let start = now()
  let live: LiveLines | undefined
  const print = (text: string) => {
    if (!json) out.write(`${text}\n`)
  }
  const update = (state: LiveState) => {
    states.set(state.machine, state)
    live ??= createLiveLines(out, [...states.values()], start)
    live.update(state)
  }
  const stop = () => {
    live?.stop()
    live = undefined
    states = new Map()
  }
  const write = (shown: Shown) => {
    switch (shown.to) {
      case 'line':
        return print(shown.text)
      case 'note':
        if (shown.verbose === true && !verbose) return
        return live === undefined ? print(shown.text) : live.note(shown.text)
      case 'row':
        return update({ machine: shown.row, stage: shown.stage, lastSeen: shown.detail, lastSeenAt: now() })
      case 'live':
        return update(shown.state)
      case 'summary':
        stop()
        return print(['', ...shown.lines].join('\n'))
    }
  }
  const show = (unsafe: CliEvent) => {
    // The one gate for people: every string of the event escaped and capped (core/log/sanitize.ts)
    // before any renderer (board, notes, warnings, summaries) sees it.
    const event = sanitizeEvent(unsafe)
    const shown = render(event)
    if (shown === undefined) reporter(event as HomelabEvent)
    else for (const s of shown) write(s)
  }
  return {
    emit: (event) => {
      if (json) out.write(jsonLine(event))
      else show(event)
    },
    show: (event) => {
      if (!json) show(event)
    },
    text: (text) => write({ to: 'note', text: terminalText(text, 4096, true) }),
    board: (rows, at = now()) => {
      states = new Map(rows.map((r) => [r.machine, r]))
      start = at
    },
    setVerbose: (on) => {
      verbose = on
    },
    stop,
  }
}
