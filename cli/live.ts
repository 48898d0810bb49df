/**
 * One live line per machine. On a TTY the lines are redrawn in place; otherwise each
 * change is printed as a plain line (machine, stage, what was seen), which suits logs.
 */
import type { Writable } from 'node:stream'

/** What a live line shows: a machine, its stage and what was last seen (netboot, cluster steps). */
export interface LiveState {
  readonly machine: string
  readonly stage: string
  readonly lastSeen: string
  /** ms since epoch, or 0 when nothing was seen yet. */
  readonly lastSeenAt: number
}

export interface LiveLines {
  update(state: LiveState): void
  /** Prints a line above the live lines (warnings, server messages). */
  note(line: string): void
  stop(): void
}

function elapsed(state: LiveState, start: number): string {
  if (state.lastSeenAt === 0) return ''
  return `${((state.lastSeenAt - start) / 1000).toFixed(1)}s`
}

function render(state: LiveState, width: number, start: number): string {
  const line = `${state.machine.padEnd(width)}  ${state.stage.padEnd(11)} ${elapsed(state, start).padStart(7)}  ${state.lastSeen}`
  return line
}

export function createLiveLines(
  out: Writable & { isTTY?: boolean; columns?: number },
  machines: readonly LiveState[],
  start = Date.now(),
): LiveLines {
  const width = Math.max(8, ...machines.map((m) => m.machine.length))
  const states = new Map(machines.map((m) => [m.machine, m]))
  if (out.isTTY !== true) {
    return {
      update: (state) => {
        states.set(state.machine, state)
        out.write(`${render(state, width, start)}\n`)
      },
      note: (line) => out.write(`${line}\n`),
      stop: () => {},
    }
  }
  let drawn = 0
  const draw = () => {
    const columns = out.columns ?? 120
    let text = drawn > 0 ? `\x1b[${drawn}F` : ''
    for (const state of states.values())
      text += `\x1b[2K${render(state, width, start).slice(0, columns - 1)}\n`
    drawn = states.size
    out.write(text)
  }
  draw()
  return {
    update: (state) => {
      states.set(state.machine, state)
      draw()
    },
    note: (line) => {
      out.write(`${drawn > 0 ? `\x1b[${drawn}F\x1b[J` : ''}${line}\n`)
      drawn = 0
      draw()
    },
    stop: () => {},
  }
}
