/**
 * `homelab discover`: the machines that netboot on the segment, as they ask for an address. Each
 * one is an event (a live line for people): MAC, vendor, firmware, and its name when homelab.yaml
 * already has it. Then, for `--add`, the entries to append: proposed names and free addresses.
 */
import type { Draft } from '../../core/config/draft.ts'
import { nextFreeAddresses, nextFreeNames } from '../../core/config/draft.ts'
import type { MachineEntry } from '../../core/config/edit.ts'
import type { IPv4 } from '../../lib/ipv4/index.ts'
import { type Firmware, firmwareLabel, type SeenClient } from './client.ts'
import { SERVERS_FIRST } from './defaults.ts'
import { listenForClients } from './listen.ts'
import { vendorOf } from './vendor.ts'

export interface DiscoveredMachine {
  readonly type: 'discover.machine'
  readonly mac: string
  /** The IEEE registry's organisation, "locally administered", or "unknown". */
  readonly vendor: string
  /** BIOS, UEFI, UEFI HTTP, arch N, or "not netbooting". */
  readonly firmwareLabel: string
  readonly firmware?: Firmware
  readonly netboot: boolean
  /** Its name in homelab.yaml, when it is there. */
  readonly known?: string
  /** Requests seen from it so far. */
  readonly requests: number
}

export type DiscoverEvent =
  | { readonly type: 'discover.listening'; readonly interface: string; readonly seconds?: number }
  | DiscoveredMachine
  | { readonly type: 'discover.wake'; readonly mac: string; readonly name: string }

export interface DiscoverOptions {
  readonly interface: string
  readonly draft: Draft
  readonly signal: AbortSignal
  /** Stop after this long; default: when the signal is aborted. */
  readonly forMs?: number
  readonly emit: (event: DiscoverEvent) => void
  /** Before listening is announced (Wake-on-LAN is sent from here: the socket is bound by then). */
  readonly onListening?: () => Promise<void> | void
  /** Tests: another port and address. */
  readonly port?: number
  readonly address?: string
  /**
   * Machines remembered at most: requests from further MACs (a flood of made-up ones) are dropped.
   * @default MAX_MACHINES
   */
  readonly maxMachines?: number
}

/** Far more machines than a homelab has, few enough that a flood of random MACs stays small. */
export const MAX_MACHINES = 1024

/** Listens and reports each machine when it is first seen and when what it says changes. */
export async function discover(options: DiscoverOptions): Promise<DiscoveredMachine[]> {
  const known = new Map(options.draft.machines.map((m) => [m.mac, m.name]))
  const seen = new Map<string, DiscoveredMachine>()
  const stop = new AbortController()
  const onAbort = () => stop.abort()
  options.signal.addEventListener('abort', onAbort, { once: true })
  const timer = options.forMs === undefined ? undefined : setTimeout(() => stop.abort(), options.forMs)
  if (options.signal.aborted) stop.abort()
  const onClient = (client: SeenClient) => {
    const before = seen.get(client.mac)
    if (before === undefined && seen.size >= (options.maxMachines ?? MAX_MACHINES)) return
    // A client that later says more (option 93 on its second request) keeps the fuller description.
    const netboot = client.netboot || before?.netboot === true
    const firmware = client.firmware ?? before?.firmware
    const name = known.get(client.mac)
    const now: DiscoveredMachine = {
      type: 'discover.machine',
      mac: client.mac,
      vendor: before?.vendor ?? vendorOf(client.mac) ?? 'unknown',
      firmwareLabel:
        client.firmware !== undefined || client.netboot
          ? firmwareLabel(client)
          : (before?.firmwareLabel ?? firmwareLabel(client)),
      ...(firmware === undefined ? {} : { firmware }),
      netboot,
      ...(name === undefined ? {} : { known: name }),
      requests: (before?.requests ?? 0) + 1,
    }
    seen.set(client.mac, now)
    options.emit(now)
  }
  try {
    await listenForClients({
      signal: stop.signal,
      onClient,
      ...(options.port === undefined ? {} : { port: options.port }),
      ...(options.address === undefined ? {} : { address: options.address }),
      onListening: async () => {
        await options.onListening?.()
        options.emit({
          type: 'discover.listening',
          interface: options.interface,
          ...(options.forMs === undefined ? {} : { seconds: options.forMs / 1000 }),
        })
      },
    })
  } finally {
    clearTimeout(timer)
    options.signal.removeEventListener('abort', onAbort)
  }
  return [...seen.values()]
}

/**
 * Entries for the netbooting machines not in the config: names metalN, the next free addresses
 * (`taken` adds the controller's address when the config does not name it), role `server` until
 * the config has SERVERS_FIRST servers (or `role`), disk and NIC to be checked (placeholders the
 * installer reports: docs/configuration.md).
 */
export function proposeMachines(
  draft: Draft,
  found: readonly DiscoveredMachine[],
  options: { role?: 'server' | 'agent'; taken?: readonly IPv4[] } = {},
): MachineEntry[] {
  const fresh = found.filter((m) => m.netboot && m.known === undefined)
  const names = nextFreeNames(draft, fresh.length)
  const ips = nextFreeAddresses(draft, fresh.length, options.taken ?? [])
  let servers = draft.machines.filter((m) => m.role === 'server').length
  return fresh.flatMap((m, i): MachineEntry[] => {
    const name = names[i]
    const ip = ips[i]
    if (name === undefined || ip === undefined) return []
    const role = options.role ?? (servers < SERVERS_FIRST ? 'server' : 'agent')
    if (role === 'server') servers++
    return [
      {
        name,
        mac: m.mac,
        ip,
        role,
        disk: 'sda',
        nic: 'eno1',
        ...(m.firmware === undefined || m.firmware === 'uefi' ? {} : { firmware: m.firmware }),
        comment: `${m.vendor}, ${m.firmwareLabel}: found by homelab discover; check disk and nic`,
      },
    ]
  })
}
