/** The stall watchdog of provision(): which machines stayed too long in a stage, and what to check. */
import type { Config, Machine } from '../../core/config/schema.ts'
import { DEFAULT_HTTP_PORT } from '../pxe/http.ts'
import type { MachineProgress } from '../pxe/progress.ts'
import type { StageTimeouts } from './types.ts'

/** What to check when a machine stalls in each stage. */
export const STALL_CHECKS: Record<keyof StageTimeouts, (m: Machine, c: Config) => string> = {
  waiting: (m, c) =>
    `is ${m.name} powered on (or Wake-on-LAN enabled in its firmware) and set to boot from the network first? Is its MAC ${m.mac} right, and is it on ${c.network.interface}'s segment? In proxy mode the router must lease it an address (homelab doctor)`,
  dhcp: (m) =>
    `${m.name} got our DHCP answer but fetched no boot loader: is TFTP (port 69) blocked by a firewall on the controller? Does its firmware boot in the mode of its firmware hint (${m.firmware ?? 'uefi'})?`,
  'boot-loader': (m) =>
    `${m.name} loaded the boot loader but not the kernel: is HTTP (port ${DEFAULT_HTTP_PORT}) blocked by a firewall on the controller? Is Secure Boot refusing the kernel? Watch its console`,
  kernel: (m) =>
    `${m.name}'s installer started but never fetched its kickstart or reported: watch its console`,
  installer: (m) =>
    `${m.name}'s installer stopped reporting: watch its console; is disk ${m.disk} present, and can it reach the install tree over HTTP?`,
  installed: (m) =>
    `${m.name} installed but SSH at ${m.ip} does not answer: does it boot from disk (not from the network) now, and is its NIC really named ${m.nic}?`,
}

export interface Stall {
  readonly machine: string
  readonly stage: keyof StageTimeouts
  /** The stage's limit, in seconds. */
  readonly seconds: number
  readonly lastSeen: string
}

/**
 * The machines whose last event (or the start, when none came yet) is older than their stage's
 * limit at `now`; machines that reached ssh-ready never stall.
 */
export function findStalls(
  states: readonly MachineProgress[],
  now: number,
  started: number,
  timeouts: StageTimeouts,
): Stall[] {
  const stalls: Stall[] = []
  for (const state of states) {
    if (state.stage === 'ssh-ready') continue
    const stage = state.stage
    const since = state.lastSeenAt === 0 ? started : state.lastSeenAt
    const limit = timeouts[stage]
    if (now - since > limit * 1000) {
      stalls.push({ machine: state.machine, stage, seconds: limit, lastSeen: state.lastSeen })
    }
  }
  return stalls
}
