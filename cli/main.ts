/**
 * The `homelab` command. Thin: parses flags into options and calls the library.
 * Only this file sets the exit code: 0 ok, 1 failed, 2 usage, 130 stopped by a signal.
 */
import { readFileSync } from 'node:fs'
import { Socket } from 'node:net'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { type CommandContext, type CommandSpec, UsageError } from './command.ts'
import { COMMANDS } from './commands/index.ts'
import { createOutput } from './output/output.ts'
import { EXIT_INTERRUPTED, type StopOnSignals, stopOnSignals } from './signals.ts'

const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..')
const EXIT = { ok: 0, failed: 1, usage: 2, interrupted: EXIT_INTERRUPTED } as const

const GLOBAL_OPTIONS = {
  config: { type: 'string', short: 'c' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
  version: { type: 'boolean', short: 'V' },
} as const

function version(): string {
  const pkg = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { version: string }
  return pkg.version
}

function mainHelp(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length))
  return [
    'Usage: homelab <command> [options]',
    '',
    'Homelab as code: one config file (homelab.yaml), bare metal to GitOps.',
    '',
    'Commands:',
    ...COMMANDS.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    '',
    'Global options:',
    ...globalOptionLines(),
    '',
    'Run `homelab <command> --help` for a command. Docs: docs/ (make docs).',
    '',
  ].join('\n')
}

function globalOptionLines(): string[] {
  return [
    '  -c, --config FILE      [string] the config file (default: homelab.yaml, or $HOMELAB_CONFIG)',
    '      --json             [boolean] print a stream of typed events, one JSON object per line',
    '  -h, --help             [boolean] show help',
    '  -V, --version          [boolean] print the version',
  ]
}

function commandHelp(c: CommandSpec): string {
  return [
    `Usage: homelab ${c.name}${c.usage === undefined ? ' [options]' : ` ${c.usage}`}`,
    '',
    c.description,
    '',
    'Options:',
    ...(c.optionHelp ?? []),
    ...globalOptionLines(),
    '',
  ].join('\n')
}

export async function main(argv: readonly string[]): Promise<number> {
  const [name, ...rest] = argv
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(mainHelp())
    return name === undefined ? EXIT.usage : EXIT.ok
  }
  if (name === '--version' || name === '-V') {
    process.stdout.write(`${version()}\n`)
    return EXIT.ok
  }
  const command = COMMANDS.find((c) => c.name === name)
  if (command === undefined) {
    process.stderr.write(`homelab: unknown command "${name}" (run \`homelab --help\` for the list)\n`)
    return EXIT.usage
  }
  let values: Record<string, string | boolean | string[] | undefined>
  let positionals: string[]
  try {
    const parsed = parseArgs({
      args: [...rest],
      options: { ...GLOBAL_OPTIONS, ...(command.options ?? {}) },
      allowPositionals: command.usage !== undefined,
      strict: true,
    })
    values = parsed.values as typeof values
    positionals = parsed.positionals
  } catch (cause) {
    process.stderr.write(`homelab ${name}: ${(cause as Error).message} (run \`homelab ${name} --help\`)\n`)
    return EXIT.usage
  }
  if (values.help === true) {
    process.stdout.write(commandHelp(command))
    return EXIT.ok
  }
  if (values.version === true) {
    process.stdout.write(`${version()}\n`)
    return EXIT.ok
  }
  return run(command, values, positionals)
}

/** Runs a parsed command: its output, its stop signal, its exit code. */
async function run(
  command: CommandSpec,
  values: Record<string, string | boolean | string[] | undefined>,
  positionals: string[],
): Promise<number> {
  const name = command.name
  const json = values.json === true
  const output = createOutput({ json, out: process.stdout, err: process.stderr })
  const stop = command.stoppable === true ? stopper(name) : undefined
  const context: CommandContext = {
    configFile: (values.config as string | undefined) ?? process.env.HOMELAB_CONFIG ?? 'homelab.yaml',
    json,
    repoRoot,
    values,
    positionals,
    emit: output.emit,
    output,
    signal: stop?.signal ?? new AbortController().signal,
  }
  const stopped = () => {
    const signal = stop?.stoppedBy()
    if (signal === undefined) return undefined
    process.stderr.write(`homelab ${name}: stopped by ${signal}\n`)
    return EXIT.interrupted
  }
  try {
    const ok = await (await command.load())(context)
    output.stop()
    output.emit({ type: 'done', ok, command: name })
    return ok ? EXIT.ok : (stopped() ?? EXIT.failed)
  } catch (cause) {
    output.stop()
    if (cause instanceof UsageError) {
      process.stderr.write(`homelab ${name}: ${cause.message}\n`)
      return EXIT.usage
    }
    const err = cause as Error & { code?: string }
    const interrupted = stopped()
    if (interrupted === undefined)
      output.emit({
        type: 'error',
        message: err.message,
        ...(err.code === undefined ? {} : { code: err.code }),
      })
    if (process.env.HOMELAB_DEBUG !== undefined) process.stderr.write(`${err.stack}\n`)
    output.emit({ type: 'done', ok: false, command: name })
    return interrupted ?? EXIT.failed
  } finally {
    stop?.dispose()
  }
}

/** The first SIGINT/SIGTERM asks the command to stop; a second one ends the process. */
function stopper(name: string): StopOnSignals {
  return stopOnSignals({
    onStop: (signal) =>
      process.stderr.write(`homelab ${name}: stopping (${signal}); press Ctrl-C again to stop at once\n`),
    force: (signal) => {
      process.stderr.write(`homelab ${name}: stopped at once by a second ${signal}\n`)
      process.exit(EXIT.interrupted)
    },
  })
}

// A closed pipe (`homelab plan | head`) is not an error.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0)
    throw err
  })
}
process.exitCode = await main(process.argv.slice(2))
/** The peers of sockets still open (stdio pipes aside), to name which connection was left open. */
function openSocketPeers(): string[] {
  const handles = (process as unknown as { _getActiveHandles?: () => unknown[] })._getActiveHandles?.() ?? []
  const peers: string[] = []
  for (const h of handles) {
    if (!(h instanceof Socket) || h.remoteAddress === undefined) continue
    peers.push(`a socket to ${h.remoteAddress}:${h.remotePort}`)
  }
  return peers
}

// The command is over, so the process should end now. If a socket, timer or child process that a
// library left open still holds it after a grace period (for closes under way), that is a bug:
// name what is open and fail, never exit quietly over it. The timer is unref'd: it keeps nothing alive.
const LEAK_GRACE_MS = 5000
setTimeout(() => {
  const open = process
    .getActiveResourcesInfo()
    .filter((r) => r !== 'TTYWrap')
    .concat(openSocketPeers())
  process.stderr.write(
    `homelab: internal error: the command finished but left ${open.join(', ') || 'handles'} open (a bug: please report it with HOMELAB_DEBUG=1 output)\n`,
  )
  process.exit(EXIT.failed)
}, LEAK_GRACE_MS).unref()
