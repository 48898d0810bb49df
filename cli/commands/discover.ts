/**
 * `homelab discover [--for S] [--add] [--wake MAC...]`: lists the machines that netboot, answering
 * nothing (metal/discover/), and with --add appends the new ones to the config, comments kept.
 */
import { readFile, writeFile } from 'node:fs/promises'
import { networkInterfaces } from 'node:os'
import { type Draft, readDraft } from '../../core/config/draft.ts'
import { addMachines } from '../../core/config/edit.ts'
import { formatCidr, formatIPv4, isHostAddress, parseIPv4, parseMac } from '../../lib/ipv4/index.ts'
import { discover as listen, proposeMachines } from '../../metal/discover/discover.ts'
import { wake } from '../../metal/provision/wol.ts'
import { type CommandContext, type CommandRun, UsageError } from '../command.ts'
import { reportEditRefused } from './machine.ts'

export const discover: CommandRun = async (context) => {
  const { text, draft } = await readConfig(context)
  const iface = typeof context.values.interface === 'string' ? context.values.interface : draft.interface
  if (iface === undefined)
    throw new UsageError(
      `Cannot tell where to listen: ${context.configFile} has no network.interface (pass --interface IF)`,
    )
  const forMs = seconds(context.values.for)
  const role = context.values.role
  if (role !== undefined && role !== 'server' && role !== 'agent')
    throw new UsageError(`--role: "${String(role)}" is not server or agent`)
  const controller = controllerAddress(draft, iface)
  const wakeList = wakeTargets(context, draft)
  if (wakeList.length > 0 && controller === undefined)
    throw new UsageError(`Cannot send Wake-on-LAN: ${iface} has no address in the config's subnet`)
  const found = await listen({
    interface: iface,
    draft,
    signal: context.signal,
    ...(forMs === undefined ? {} : { forMs }),
    emit: context.output.emit,
    onListening: async () => {
      if (wakeList.length === 0 || controller === undefined) return
      await wake(
        wakeList.map((m) => m.mac),
        { from: controller },
      )
      for (const m of wakeList) context.output.emit({ type: 'discover.wake', mac: m.mac, name: m.name })
    },
  })
  context.output.stop()
  // Ctrl-C is how a discovery without --for ends: not a failure.
  if (context.values.add !== true) return true
  const entries = proposeMachines(draft, found, {
    ...(role === undefined ? {} : { role }),
    taken: controller === undefined ? [] : [parseIPv4(controller) as number],
  })
  const edited =
    entries.length === 0 ? { ok: true as const, text } : addMachines(text, context.configFile, entries)
  if (!edited.ok) return reportEditRefused(context, edited)
  if (entries.length > 0) await writeFile(context.configFile, edited.text)
  context.output.emit({
    type: 'config.edited',
    file: context.configFile,
    action: 'added',
    machines: entries.map(({ name, mac, ip, role: r }) => ({ name, mac, ip, role: r })),
  })
  return true
}

export async function readConfig(context: CommandContext): Promise<{ text: string; draft: Draft }> {
  let text: string
  try {
    text = await readFile(context.configFile, 'utf8')
  } catch (cause) {
    const code = (cause as NodeJS.ErrnoException).code
    throw new UsageError(
      `Cannot read ${context.configFile}: ${code === 'ENOENT' ? 'no such file (run `homelab init` first, or pass --config FILE)' : String(cause)}`,
    )
  }
  return { text, draft: readDraft(text) }
}

function seconds(value: unknown): number | undefined {
  if (value === undefined) return undefined
  const n = Number(value)
  if (!Number.isFinite(n) || n <= 0)
    throw new UsageError(`--for: "${String(value)}" is not a number of seconds above 0`)
  return n * 1000
}

/** network.controller, else the interface's address in the subnet. */
function controllerAddress(draft: Draft, iface: string): string | undefined {
  if (draft.controller !== undefined) return formatIPv4(draft.controller)
  const subnet = draft.subnet
  const addresses = networkInterfaces()[iface]?.filter((a) => a.family === 'IPv4') ?? []
  const inSubnet = addresses.find((a) => {
    const v = parseIPv4(a.address)
    return subnet === undefined ? true : v !== undefined && isHostAddress(subnet, v)
  })
  return inSubnet?.address
}

/** --wake MAC...: each must be a machine of the config (Wake-on-LAN wakes known machines only). */
function wakeTargets(context: CommandContext, draft: Draft): { mac: string; name: string }[] {
  const list = (context.values.wake as string[] | undefined) ?? []
  return list.map((text) => {
    const mac = parseMac(text)
    const machine = draft.machines.find((m) => m.mac === mac || m.name === text)
    if (machine === undefined)
      throw new UsageError(
        `--wake: "${text}" is not a machine of ${context.configFile} (${draft.machines.length === 0 ? 'it has none yet' : `known: ${draft.machines.map((m) => `${m.name} ${m.mac}`).join(', ')}`}${draft.subnet === undefined ? '' : ` on ${formatCidr(draft.subnet)}`}): add it first, or power it on by hand`,
      )
    return { mac: machine.mac, name: machine.name }
  })
}
