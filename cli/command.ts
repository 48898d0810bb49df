import type { ParseArgsOptionsConfig } from 'node:util'
import type { EventSink } from '../core/log/events.ts'
import type { Output } from './output/output.ts'

export interface CommandContext {
  readonly configFile: string
  readonly json: boolean
  readonly repoRoot: string
  readonly values: Readonly<Record<string, string | boolean | string[] | undefined>>
  readonly positionals: readonly string[]
  /** Config and plan events (the same sink as `output.emit`). */
  readonly emit: EventSink
  /** Where every event goes: rendered for people, or JSON lines (cli/output/output.ts). */
  readonly output: Output
  /** Aborted by the first SIGINT or SIGTERM for `stoppable` commands (cli/signals.ts). */
  readonly signal: AbortSignal
}

/** Returns true on success. Throws for failures that are not already reported as events. */
export type CommandRun = (context: CommandContext) => Promise<boolean>

export interface CommandSpec {
  readonly name: string
  readonly summary: string
  readonly description: string
  /** Positional arguments, if the command takes any. */
  readonly usage?: string
  readonly options?: ParseArgsOptionsConfig
  readonly optionHelp?: readonly string[]
  /** A long command: the first SIGINT/SIGTERM aborts `context.signal`, a second forces the exit. */
  readonly stoppable?: boolean
  /** Lazy: heavy commands load their code only when run. */
  readonly load: () => Promise<CommandRun>
}

/** A mistake in how the command was called: exit code 2. */
export class UsageError extends Error {
  override name = 'UsageError'
}
