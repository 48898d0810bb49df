/**
 * `homelab machine add NAME --mac MAC [--ip ...]` and `homelab machine remove NAME`: edits of the
 * machines list through the comment-preserving editor (core/config/edit.ts). Nothing else in the
 * file changes; an edit validate would reject is refused with validate's messages.
 */
import { access, readFile, writeFile } from 'node:fs/promises'
import { nextFreeAddresses, readDraft } from '../../core/config/draft.ts'
import { addMachines, type EditResult, type MachineEntry, removeMachine } from '../../core/config/edit.ts'
import { createKubeClient, listNodes, loadKubeconfig } from '../../lib/kube/index.ts'
import { type CommandContext, type CommandRun, UsageError } from '../command.ts'
import { kubeconfigPathOf } from './common.ts'

const USAGE =
  'usage: homelab machine add NAME --mac MAC [--ip ADDR] [--role ROLE] | homelab machine remove NAME'

export const machine: CommandRun = async (context) => {
  const [sub, name, ...rest] = context.positionals
  if ((sub !== 'add' && sub !== 'remove') || name === undefined || rest.length > 0)
    throw new UsageError(USAGE)
  const text = await readText(context)
  return sub === 'add' ? add(context, text, name) : remove(context, text, name)
}

async function add(context: CommandContext, text: string, name: string): Promise<boolean> {
  const v = context.values
  const str = (key: string) => (typeof v[key] === 'string' ? (v[key] as string) : undefined)
  const mac = str('mac')
  if (mac === undefined) throw new UsageError(`--mac is required (${USAGE})`)
  const role = str('role') ?? 'server'
  if (role !== 'server' && role !== 'agent') throw new UsageError(`--role: "${role}" is not server or agent`)
  const firmware = str('firmware')
  if (firmware !== undefined && firmware !== 'uefi' && firmware !== 'bios' && firmware !== 'uefi-http')
    throw new UsageError(`--firmware: "${firmware}" is not uefi, uefi-http or bios`)
  const ip = str('ip') ?? nextFreeAddresses(readDraft(text), 1)[0]
  if (ip === undefined)
    throw new UsageError(`Cannot propose an address: ${context.configFile} has no free one (pass --ip)`)
  const entry: MachineEntry = {
    name,
    mac,
    ip,
    role,
    disk: str('disk') ?? 'sda',
    nic: str('nic') ?? 'eno1',
    ...(firmware === undefined ? {} : { firmware }),
  }
  const edited = addMachines(text, context.configFile, [entry])
  if (!edited.ok) return reportEditRefused(context, edited)
  await writeFile(context.configFile, edited.text)
  context.output.emit({
    type: 'config.edited',
    file: context.configFile,
    action: 'added',
    machines: [{ name, mac, ip, role }],
  })
  return true
}

async function remove(context: CommandContext, text: string, name: string): Promise<boolean> {
  const entry = readDraft(text).machines.find((m) => m.name === name)
  if (entry !== undefined) await refuseClusterNode(context, entry)
  const edited = removeMachine(text, context.configFile, name)
  if (!edited.ok) return reportEditRefused(context, edited)
  await writeFile(context.configFile, edited.text)
  context.output.emit({
    type: 'config.edited',
    file: context.configFile,
    action: 'removed',
    machines: entry === undefined ? [] : [{ name, mac: entry.mac, ip: entry.ip, role: entry.role }],
  })
  return true
}

/**
 * A machine still in the cluster must leave it first (`homelab node remove` drains it and uninstalls
 * k3s); dropping it from homelab.yaml alone would leave a node nothing manages. The cluster is the one
 * `homelab cluster` built: its kubeconfig in the state folder. No kubeconfig, no cluster.
 */
async function refuseClusterNode(context: CommandContext, m: { name: string; ip: string }): Promise<void> {
  const path = kubeconfigPathOf(context)
  if (
    !(await access(path).then(
      () => true,
      () => false,
    ))
  )
    return
  let nodes: Awaited<ReturnType<typeof listNodes>>
  try {
    nodes = await listNodes(createKubeClient(await loadKubeconfig(path)))
  } catch (cause) {
    throw new Error(
      `Cannot remove ${m.name}: cannot tell whether it is a node of the cluster (${(cause as Error).message}); run \`homelab node remove ${m.name}\` first, or remove ${path} if the cluster is gone`,
      { cause },
    )
  }
  const node = nodes.find((n) => n.name === m.name || n.internalIP === m.ip)
  if (node !== undefined)
    throw new Error(
      `Cannot remove ${m.name}: it is a node of the cluster (${node.name}, ${node.ready ? 'Ready' : 'not Ready'}): run \`homelab node remove ${m.name}\` first`,
    )
}

async function readText(context: CommandContext): Promise<string> {
  try {
    return await readFile(context.configFile, 'utf8')
  } catch (cause) {
    const code = (cause as NodeJS.ErrnoException).code
    throw new UsageError(
      `Cannot read ${context.configFile}: ${code === 'ENOENT' ? 'no such file (run `homelab init` first, or pass --config FILE)' : String(cause)}`,
    )
  }
}

/** The diagnostics of a refused edit, as validate prints them; the file is left as it was. */
export function reportEditRefused(
  context: CommandContext,
  result: Extract<EditResult, { ok: false }>,
): false {
  for (const d of result.diagnostics) context.emit({ type: 'config.diagnostic', ...d })
  context.output.emit({
    type: 'error',
    message:
      result.in === 'file'
        ? `Cannot edit ${context.configFile}: it has errors (above): fix them first`
        : `Cannot edit ${context.configFile}: the result would not validate (above, at the lines the edit would have written); the file is unchanged`,
  })
  return false
}
