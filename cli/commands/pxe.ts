import { resolve } from 'node:path'
import type { BootEvent } from '../../metal/pxe/events.ts'
import { directoryFromConfig } from '../../metal/pxe/machine-directory.ts'
import { ProgressBoard } from '../../metal/pxe/progress.ts'
import { startPxe } from '../../metal/pxe/server.ts'
import type { CommandRun } from '../command.ts'
import { UsageError } from '../command.ts'
import { createLiveLines } from '../live.ts'
import { loadAndReport } from './load-config.ts'

function port(value: unknown, name: string): number | undefined {
  if (value === undefined) return undefined
  const n = Number(value)
  if (!Number.isInteger(n) || n < 0 || n > 65535)
    throw new UsageError(`--${name} "${String(value)}" is not a port (0-65535)`)
  return n
}

function describeServerEvent(event: BootEvent): string | undefined {
  switch (event.type) {
    case 'pxe.listening':
      return `${event.service} listening on ${event.address}`
    case 'pxe.warning':
      return `warning: ${event.service}: ${event.message}`
    case 'dhcp.ignored':
      return `ignored ${event.mac}: ${event.reason}`
    default:
      return undefined
  }
}

/** `homelab pxe`: the PXE server alone, until Ctrl-C. */
export const pxe: CommandRun = async (context) => {
  const loaded = await loadAndReport(context)
  if (loaded === undefined) return false
  const root = context.values.root
  if (typeof root !== 'string')
    throw new UsageError('--root DIR is required: the folder served over TFTP and HTTP')
  const verbose = context.values.verbose === true
  const machines = directoryFromConfig(loaded.config).entries.map((e) => e.name)
  const board = new ProgressBoard(machines)
  const live = context.json ? undefined : createLiveLines(process.stdout, board.all())
  const onEvent = (event: BootEvent) => {
    if (context.json) {
      process.stdout.write(`${JSON.stringify(event)}\n`)
      return
    }
    const state = board.apply(event)
    if (state !== undefined) {
      live?.update(state)
      return
    }
    if (event.type === 'dhcp.ignored' && !verbose) return
    const line = describeServerEvent(event)
    if (line !== undefined) live?.note(line)
  }
  const server = await startPxe({
    config: loaded.config,
    derived: loaded.derived,
    root: resolve(root),
    events: onEvent,
    ...(port(context.values['http-port'], 'http-port') === undefined
      ? {}
      : { httpPort: port(context.values['http-port'], 'http-port') }),
    ...(port(context.values['tftp-port'], 'tftp-port') === undefined
      ? {}
      : { tftpPort: port(context.values['tftp-port'], 'tftp-port') }),
  })
  live?.note(
    `PXE server on ${server.serverAddress} (${loaded.config.network.dhcp.mode} mode); Ctrl-C stops it`,
  )
  await new Promise<void>((done) => {
    process.once('SIGINT', done)
    process.once('SIGTERM', done)
  })
  await server.close()
  live?.note('PXE server stopped')
  live?.stop()
  return true
}
