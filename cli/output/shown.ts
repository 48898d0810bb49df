/**
 * What an event looks like for people, as data: each renderer turns one event kind into a list of
 * `Shown` items, and `createOutput()` (output.ts) is the one place that writes them (live lines on a
 * TTY, plain lines otherwise). With `--json` nothing is rendered: each event is one JSON line.
 */
import type { LiveState } from '../live.ts'

export type Shown =
  /** A plain line. */
  | { readonly to: 'line'; readonly text: string }
  /** A line above the live lines (a plain line while there are none); `verbose`: only with -v. */
  | { readonly to: 'note'; readonly text: string; readonly verbose?: boolean }
  /** A live row's stage and detail, seen now. */
  | { readonly to: 'row'; readonly row: string; readonly stage: string; readonly detail: string }
  /** A live row's whole state (its time included). */
  | { readonly to: 'live'; readonly state: LiveState }
  /** The end of the live lines, then an empty line and these lines. */
  | { readonly to: 'summary'; readonly lines: readonly string[] }

/** One renderer per event kind of the union E. */
export type Renderers<E extends { readonly type: string }> = {
  readonly [K in E['type']]?: (event: Extract<E, { readonly type: K }>) => readonly Shown[]
}

export const line = (text: string): Shown => ({ to: 'line', text })
export const note = (text: string, verbose = false): Shown =>
  verbose ? { to: 'note', text, verbose } : { to: 'note', text }
export const row = (name: string, stage: string, detail: string): Shown => ({
  to: 'row',
  row: name,
  stage,
  detail,
})
