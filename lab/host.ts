/**
 * What `lab up`, `lab down` and `lab status` share: the step event they report, the markers that
 * tell the lab's processes (dnsmasq, the power daemon) from any other process with the same PID,
 * and read-only queries of the host's network (namespaces, one link, IPv4 addresses). Nothing
 * here changes the host.
 */
import { ip } from './_process.ts'
import type { LabPaths } from './state.ts'

/** One step of `lab up` or `lab down`, for progress lines and `--json`. */
export interface LabStep {
  readonly type: 'lab.step'
  readonly step: string
  readonly status:
    | 'created'
    | 'exists'
    | 'started'
    | 'running'
    | 'restarted'
    | 'stopped'
    | 'removed'
    | 'absent'
    | 'installed'
    | 'present'
    | 'made'
    | 'kept'
  readonly detail: string
}

export type LabEvents = (step: LabStep) => void

export function daemonMarker(stateDir: string): string {
  return `power-daemon.ts --state ${stateDir}`
}

export function dnsmasqMarker(paths: LabPaths): string {
  return `--dhcp-leasefile=${paths.leases}`
}

export async function namespaces(): Promise<Set<string>> {
  const out = await ip(['netns', 'list'])
  return new Set(
    out
      .split('\n')
      .map((l) => l.trim().split(/\s+/)[0] ?? '')
      .filter(Boolean),
  )
}

export interface LinkInfo {
  readonly ifname: string
  readonly ifalias?: string
  readonly operstate?: string
  readonly linkinfo?: { readonly info_kind?: string }
}

export async function link(name: string, ns?: string): Promise<LinkInfo | undefined> {
  const out = await ip(['-j', '-d', 'link', 'show', 'dev', name], ns).catch(() => undefined)
  if (out === undefined) return undefined
  const parsed = JSON.parse(out) as LinkInfo[]
  return parsed[0]
}

interface AddrInfo {
  readonly ifname: string
  readonly addr_info?: ReadonlyArray<{
    readonly family: string
    readonly local: string
    readonly prefixlen: number
  }>
}

export async function ipv4Addresses(
  ns?: string,
): Promise<Array<{ ifname: string; local: string; prefixlen: number }>> {
  const out = await ip(['-j', '-4', 'addr', 'show'], ns)
  const parsed = JSON.parse(out) as AddrInfo[]
  return parsed.flatMap((i) =>
    (i.addr_info ?? [])
      .filter((a) => a.family === 'inet')
      .map((a) => ({ ifname: i.ifname, local: a.local, prefixlen: a.prefixlen })),
  )
}
