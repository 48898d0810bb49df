import { resolve } from 'node:path'
import type { BootEvent } from '../../metal/pxe/events.ts'
import { directoryFromConfig } from '../../metal/pxe/machine-directory.ts'
import { ProgressBoard } from '../../metal/pxe/progress.ts'
import { startPxe } from '../../metal/pxe/server.ts'
import type { CommandContext, CommandRun } from '../command.ts'
import { UsageError } from '../command.ts'
import { loadAndReport } from './load-config.ts'

function port(context: CommandContext, name: string): number | undefined {
  const value = context.values[name]
  if (value === undefined) return undefined
  const n = Number(value)
  if (!Number.isInteger(n) || n < 0 || n > 65535)
    throw new UsageError(`--${name} "${String(value)}" is not a port (0-65535)`)
  return n
}

function ports(context: CommandContext): { httpPort?: number; tftpPort?: number } {
  const httpPort = port(context, 'http-port')
  const tftpPort = port(context, 'tftp-port')
  return {
    ...(httpPort === undefined ? {} : { httpPort }),
    ...(tftpPort === undefined ? {} : { tftpPort }),
  }
}

/** Resolves when the command is asked to stop (the first SIGINT or SIGTERM). */
function stopped(signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve()
  return new Promise((done) => signal.addEventListener('abort', () => done(), { once: true }))
}

/** `homelab pxe`: the PXE server alone, until Ctrl-C. */
export const pxe: CommandRun = async (context) => {
  const loaded = await loadAndReport(context)
  if (loaded === undefined) return false
  const root = context.values.root
  if (typeof root !== 'string')
    throw new UsageError('--root DIR is required: the folder served over TFTP and HTTP')
  const { output } = context
  output.setVerbose(context.values.verbose === true)
  const board = new ProgressBoard(directoryFromConfig(loaded.config).entries.map((e) => e.name))
  output.board(board.all())
  const events = (event: BootEvent) => {
    output.emit(event)
    // the live lines follow each machine's stage, derived from the boot events
    const state = board.apply(event)
    if (state !== undefined) output.show({ type: 'machine.progress', state })
  }
  const server = await startPxe({
    config: loaded.config,
    derived: loaded.derived,
    root: resolve(root),
    events,
    ...ports(context),
  })
  output.text(
    `PXE server on ${server.serverAddress} (${loaded.config.network.dhcp.mode} mode); Ctrl-C stops it`,
  )
  await stopped(context.signal)
  await server.close()
  output.text('PXE server stopped')
  return true
}
