/**
 * Renders events for people (aligned lines, colour on a TTY) or for programs
 * (`--json`: one JSON object per line). Library code emits events; only this
 * module writes to the terminal.
 */
import type { Writable } from 'node:stream'
import { formatDiagnostic } from '../config/diagnostics.ts'
import type { ConfigSummary, EventSink, HomelabEvent } from './events.ts'
import { jsonLine, sanitizeEvent } from './sanitize.ts'
import { formatTable } from './table.ts'

export interface ReporterOptions {
  readonly json: boolean
  readonly out: Writable & { isTTY?: boolean }
  readonly err: Writable & { isTTY?: boolean }
  /** Colour when undefined: on when `out` is a TTY and NO_COLOR is unset. */
  readonly color?: boolean
}

interface Paint {
  bold(s: string): string
  dim(s: string): string
  red(s: string): string
  yellow(s: string): string
  green(s: string): string
}

function paint(on: boolean): Paint {
  const wrap = (code: number, reset: number) => (s: string) => (on ? `\x1b[${code}m${s}\x1b[${reset}m` : s)
  return { bold: wrap(1, 22), dim: wrap(2, 22), red: wrap(31, 39), yellow: wrap(33, 39), green: wrap(32, 39) }
}

export function createReporter(options: ReporterOptions): EventSink {
  if (options.json) {
    return (event) => {
      options.out.write(jsonLine(event))
    }
  }
  const color = options.color ?? (options.out.isTTY === true && process.env.NO_COLOR === undefined)
  const p = paint(color)
  let lastLayer = ''
  return (unsafe: HomelabEvent) => {
    // Every string an event carries may come from a peer or a file: escaped here (sanitize.ts).
    const event = sanitizeEvent(unsafe)
    switch (event.type) {
      case 'config.diagnostic': {
        const line = formatDiagnostic(event)
        options.err.write(`${event.severity === 'error' ? p.red(line) : p.yellow(line)}\n`)
        return
      }
      case 'config.summary':
        options.out.write(formatSummary(event, p))
        return
      case 'plan.step':
        if (event.layer !== lastLayer) {
          options.out.write(`${p.bold(event.layer)}\n`)
          lastLayer = event.layer
        }
        options.out.write(
          `  ${event.machine === undefined ? '' : `${event.machine.padEnd(10)} `}${event.detail}\n`,
        )
        return
      case 'plan.app':
        if (lastLayer !== 'applications') {
          options.out.write(`${p.bold('applications')} ${p.dim('(one ArgoCD Application per folder)')}\n`)
          lastLayer = 'applications'
        }
        options.out.write(
          `  ${`${event.layer}/${event.name}`.padEnd(28)} namespace ${event.namespace} (${event.source})\n`,
        )
        return
      case 'flow.step':
        if (event.status === 'running') options.out.write(`\n${p.bold(`${event.step} (${event.command})`)}\n`)
        if (event.status === 'skipped') options.out.write(`\n${p.dim(`${event.step}: skipped`)}\n`)
        return
      case 'error':
        options.err.write(`${p.red(`error: ${event.message}`)}\n`)
        return
      case 'done':
        if (event.command === 'plan' && lastLayer !== 'applications') {
          options.out.write(
            `${p.bold('applications')}\n  none yet: no component folders under system/, platform/ or apps/\n`,
          )
        }
        return
    }
  }
}

function formatSummary(s: ConfigSummary, p: Paint): string {
  const lines: string[] = []
  lines.push(`${p.green('✓')} ${s.file} is valid`)
  const dhcp =
    s.dhcpMode === 'proxy'
      ? 'proxy (your router leases addresses; we answer only the machines below, with boot information)'
      : `full (we lease each machine its address${s.dhcpRange === null ? '' : `; others get ${s.dhcpRange} without boot information`})`
  const pool = `${s.loadBalancerPool} (${s.loadBalancerPoolSize} addresses${s.loadBalancerPoolIsDefault ? ', default: the last /27 of the subnet' : ''})`
  lines.push(
    ...formatTable([
      ['network', `${s.subnet} on ${s.interface}, gateway ${s.gateway}, DNS ${s.dns.join(', ')}`],
      ['controller', s.controller ?? `read from ${s.interface} at start`],
      ['DHCP', dhcp],
      [
        'endpoint',
        `${s.endpoint} (${s.endpointKind === 'virtual-ip' ? 'virtual IP in front of the servers' : 'a server'})`,
      ],
      ['LB pool', pool],
      ['k3s', s.k3sVersion],
      ['OS', s.os],
      ['domain', s.domain],
    ]).map((l) => `  ${l}`),
  )
  lines.push(`  machines (${s.machines.length})`)
  lines.push(
    ...formatTable([
      ['NAME', 'ROLE', 'MAC', 'IP', 'DISK', 'NIC', 'BOOT'],
      ...s.machines.map((m) => [m.name, m.role, m.mac, m.ip, m.disk, m.nic, m.boot]),
    ]).map((l) => `    ${l}`),
  )
  return `${lines.join('\n')}\n`
}
