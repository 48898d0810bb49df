/** How the lab's events look for people: one line per step, and the status table. */
import type { LabStatus, LabStep } from '../../lab/lifecycle.ts'
import { show } from './paths.ts'
import { line, type Renderers } from './shown.ts'

export type LabEvent = LabStep | LabStatus

function stepLine(step: LabStep): string {
  const detail = step.detail.replaceAll(`${process.cwd()}/`, '')
  return `${step.step}: ${step.status}${detail === '' ? '' : ` (${detail})`}`
}

export function statusLines(s: LabStatus): string[] {
  const lines = [
    `lab ${s.prefix} (${show(s.stateDir)}/lab): ${s.up ? 'up' : s.interface === null ? 'down' : 'partly up (run homelab lab up to repair, or homelab lab down)'}`,
  ]
  const add = (a: string, b: string, c: string) => lines.push(`  ${a.padEnd(12)} ${b.padEnd(18)} ${c}`)
  const [sw, rt] = s.namespaces
  if (sw !== undefined) add('switch', sw.name, sw.present ? 'present (bridge br0)' : 'missing')
  if (rt !== undefined) add('router', rt.name, rt.present ? 'present' : 'missing')
  if (s.interface !== null)
    add(
      'controller',
      s.interface.name,
      s.interface.present ? (s.interface.address ?? 'no address') : 'missing',
    )
  if (s.router !== null && s.interface !== null)
    add(
      'router DHCP',
      s.router.address,
      s.router.running ? `dnsmasq pid ${s.router.pid}, log ${show(s.router.log)}` : 'not running',
    )
  if (s.interface !== null)
    add(
      'power',
      'Wake-on-LAN UDP 9',
      s.daemon.running ? `daemon pid ${s.daemon.pid}, log ${show(s.daemon.log)}` : 'daemon not running',
    )
  for (const m of s.machines)
    add(
      m.name,
      `${m.mac} ${m.firmware}`,
      `${m.state === 'on' ? `on   pid ${m.pid}` : 'off'}  console ${show(m.console)}`,
    )
  return lines
}

export const LAB: Renderers<LabEvent> = {
  'lab.step': (e) => [line(stepLine(e))],
  'lab.status': (e) => statusLines(e).map(line),
}
