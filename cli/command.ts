import type { ParseArgsOptionsConfig } from 'node:util'
import type { EventSink } from '../core/log/events.ts'

export interface CommandContext {
  readonly configFile: string
  readonly json: boolean
  readonly repoRoot: string
  readonly values: Readonly<Record<string, string | boolean | string[] | undefined>>
  readonly positionals: readonly string[]
  readonly emit: EventSink
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
  /** Lazy: heavy commands load their code only when run. */
  readonly load: () => Promise<CommandRun>
}

/** A mistake in how the command was called: exit code 2. */
export class UsageError extends Error {
  override name = 'UsageError'
}
