import { loadConfig } from '../../core/config/load.ts'
import { type LabStatus, type LabStep, labDown, labStatus, labUp } from '../../lab/lifecycle.ts'
import { DEFAULT_PREFIX, labNames, labPaths } from '../../lab/state.ts'
import { type CommandContext, type CommandRun, UsageError } from '../command.ts'
import { show, stateDirOf, writer } from './common.ts'
import { loadAndReport } from './load-config.ts'

const SUBCOMMANDS = ['up', 'down', 'status'] as const
type Subcommand = (typeof SUBCOMMANDS)[number]

function prefixOf(context: CommandContext): string {
  const prefix = typeof context.values.prefix === 'string' ? context.values.prefix : DEFAULT_PREFIX
  try {
    labNames(prefix)
  } catch (cause) {
    throw new UsageError(`--prefix: ${(cause as Error).message}`)
  }
  return prefix
}

function stepLine(step: LabStep): string {
  const detail = step.detail.replaceAll(`${process.cwd()}/`, '')
  return `${step.step}: ${step.status}${detail === '' ? '' : ` (${detail})`}`
}

/** `homelab lab up|down|status`: the built-in lab (lab/). */
export const lab: CommandRun = async (context) => {
  if (context.positionals.length !== 1 || !SUBCOMMANDS.includes(context.positionals[0] as Subcommand))
    throw new UsageError(
      `expected one of ${SUBCOMMANDS.join(', ')}${context.positionals.length === 0 ? '' : `, got "${context.positionals.join(' ')}"`}`,
    )
  const sub = context.positionals[0] as Subcommand
  const stateDir = stateDirOf(context)
  const prefix = prefixOf(context)
  const out = writer(context)
  const events = (step: LabStep) => {
    out.json(step)
    out.print(stepLine(step))
  }

  if (sub === 'up') {
    const loaded = await loadAndReport(context)
    if (loaded === undefined) return false
    await labUp({
      config: loaded.config,
      derived: loaded.derived,
      configFile: loaded.file,
      stateDir,
      prefix,
      events,
      progress: (line) => out.print(line),
    })
    const paths = labPaths(stateDir)
    const machines = loaded.config.machines
    out.print(
      `lab up: ${machines.length} machine${machines.length === 1 ? '' : 's'} (${machines.map((m) => m.name).join(', ')}), off until woken by Wake-on-LAN`,
    )
    out.print('  next: homelab metal --kernel-args console=ttyS0   (make lab does both)')
    out.print(`  look: homelab lab status; consoles in ${show(paths.vmsDir)}/<name>/console.log`)
    out.print(`  ssh:  ssh -i ${show(paths.privateKey)} root@${machines[0]?.ip ?? '<machine ip>'}`)
    out.print('  remove: homelab lab down (make lab-down)')
    return true
  }

  if (sub === 'down') {
    // The config is read only for network.interface, in case the lab was never recorded.
    const iface = await loadConfig(context.configFile).then(
      (l) => l.config.network.interface,
      () => undefined,
    )
    await labDown({ stateDir, prefix, ...(iface === undefined ? {} : { interface: iface }), events })
    out.print('lab down: no lab process, namespace or interface is left (SSH key and console logs are kept)')
    return true
  }

  const status = await labStatus({ stateDir, prefix })
  out.json(status)
  for (const line of statusLines(status)) out.print(line)
  return true
}

export function statusLines(s: LabStatus): string[] {
  const lines = [
    `lab ${s.prefix} (${show(s.stateDir)}/lab): ${s.up ? 'up' : s.interface === null ? 'down' : 'partly up (run homelab lab up to repair, or homelab lab down)'}`,
  ]
  const row = (a: string, b: string, c: string) => lines.push(`  ${a.padEnd(12)} ${b.padEnd(18)} ${c}`)
  const [sw, rt] = s.namespaces
  if (sw !== undefined) row('switch', sw.name, sw.present ? 'present (bridge br0)' : 'missing')
  if (rt !== undefined) row('router', rt.name, rt.present ? 'present' : 'missing')
  if (s.interface !== null)
    row(
      'controller',
      s.interface.name,
      s.interface.present ? (s.interface.address ?? 'no address') : 'missing',
    )
  if (s.router !== null && s.interface !== null)
    row(
      'router DHCP',
      s.router.address,
      s.router.running ? `dnsmasq pid ${s.router.pid}, log ${show(s.router.log)}` : 'not running',
    )
  if (s.interface !== null)
    row(
      'power',
      'Wake-on-LAN UDP 9',
      s.daemon.running ? `daemon pid ${s.daemon.pid}, log ${show(s.daemon.log)}` : 'daemon not running',
    )
  for (const m of s.machines)
    row(
      m.name,
      `${m.mac} ${m.firmware}`,
      `${m.state === 'on' ? `on   pid ${m.pid}` : 'off'}  console ${show(m.console)}`,
    )
  return lines
}
