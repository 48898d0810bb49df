import { loadConfig } from '../../core/config/load.ts'
import { labDown, labStatus, labUp } from '../../lab/lifecycle.ts'
import { DEFAULT_PREFIX, labNames, labPaths } from '../../lab/state.ts'
import { type CommandContext, type CommandRun, UsageError } from '../command.ts'
import { show, stateDirOf } from './common.ts'
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

/** `lab up`: builds or repairs the lab, then says what to run next. */
async function up(context: CommandContext, stateDir: string, prefix: string): Promise<boolean> {
  const loaded = await loadAndReport(context)
  if (loaded === undefined) return false
  const out = context.output
  await labUp({
    config: loaded.config,
    derived: loaded.derived,
    configFile: loaded.file,
    stateDir,
    prefix,
    events: out.emit,
    progress: out.text,
  })
  // labUp takes no signal: a first Ctrl-C lets it finish (it leaves a lab `lab up` can repair)
  if (context.signal.aborted) return false
  const paths = labPaths(stateDir)
  const machines = loaded.config.machines
  out.text(
    `lab up: ${machines.length} machine${machines.length === 1 ? '' : 's'} (${machines.map((m) => m.name).join(', ')}), off until woken by Wake-on-LAN`,
  )
  out.text('  next: homelab metal --kernel-args console=ttyS0   (make lab does both)')
  out.text(`  look: homelab lab status; consoles in ${show(paths.vmsDir)}/<name>/console.log`)
  out.text(`  ssh:  ssh -i ${show(paths.privateKey)} root@${machines[0]?.ip ?? '<machine ip>'}`)
  out.text('  remove: homelab lab down (make lab-down)')
  return true
}

/** `lab down`: ends every lab process and removes what the lab created. */
async function down(context: CommandContext, stateDir: string, prefix: string): Promise<boolean> {
  // The config is read only for network.interface, in case the lab was never recorded.
  const iface = await loadConfig(context.configFile).then(
    (l) => l.config.network.interface,
    () => undefined,
  )
  await labDown({
    stateDir,
    prefix,
    ...(iface === undefined ? {} : { interface: iface }),
    events: context.output.emit,
  })
  if (context.signal.aborted) return false
  context.output.text(
    'lab down: no lab process, namespace or interface is left (SSH key and console logs are kept)',
  )
  return true
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
  if (sub === 'up') return up(context, stateDir, prefix)
  if (sub === 'down') return down(context, stateDir, prefix)
  context.output.emit(await labStatus({ stateDir, prefix }))
  return true
}
