/**
 * Per-machine progress from boot events: what the CLI shows as one live line per
 * machine, and what a stall message quotes ("last seen: ...").
 */
import type { BootEvent } from './events.ts'

/** The stages a netbooting machine passes, in order. */
export const STAGES = [
  'waiting',
  'dhcp',
  'boot-loader',
  'kernel',
  'installer',
  'installed',
  'ssh-ready',
] as const
export type Stage = (typeof STAGES)[number]

export interface MachineProgress {
  readonly machine: string
  readonly stage: Stage
  /** A short human description of the last event seen from the machine. */
  readonly lastSeen: string
  /** When the last event was seen (ms since epoch), or 0 when nothing yet. */
  readonly lastSeenAt: number
  /** When each stage was first reached (ms since epoch). */
  readonly reached: Readonly<Partial<Record<Stage, number>>>
}

const KERNEL_FILE = /(vmlinuz|linux|bzImage|initrd)/i

function stageOf(event: BootEvent): Stage | undefined {
  switch (event.type) {
    case 'dhcp':
      return 'dhcp'
    case 'tftp.start':
    case 'tftp.end':
      return KERNEL_FILE.test(event.file) ? 'kernel' : 'boot-loader'
    case 'transfer.progress':
      return KERNEL_FILE.test(event.file)
        ? 'kernel'
        : event.protocol === 'tftp' || /\.(efi|0|ipxe|kpxe)$|grub/i.test(event.file)
          ? 'boot-loader'
          : 'installer'
    case 'http.served':
      if (event.path.startsWith('/report/')) return undefined
      return KERNEL_FILE.test(event.path)
        ? 'kernel'
        : /\.(efi|0|ipxe)$|grub/i.test(event.path)
          ? 'boot-loader'
          : 'installer'
    case 'install.report':
      return event.stage === 'installed' ? 'installed' : 'installer'
    default:
      return undefined
  }
}

function describe(event: BootEvent): string {
  switch (event.type) {
    case 'dhcp':
      return `DHCP ${event.message} ${event.direction === 'in' ? 'from' : 'to'} ${event.mac}${event.ip === undefined ? '' : ` (${event.ip})`}${event.bootFile === undefined ? '' : ` boot ${event.bootFile}`}`
    case 'tftp.start':
      return `TFTP ${event.file} started (${event.size} bytes, blksize ${event.blksize})`
    case 'tftp.end':
      return event.ok
        ? `TFTP ${event.file} sent (${event.bytes} bytes in ${event.ms} ms)`
        : `TFTP ${event.file} failed: ${event.error ?? 'unknown error'}`
    case 'transfer.progress':
      return `${event.protocol.toUpperCase()} ${event.file}: ${_mib(event.bytes)} of ${_mib(event.size)} MiB sent`
    case 'http.served':
      return `HTTP ${event.method} ${event.path} ${event.status} (${event.bytes} bytes in ${event.ms} ms)`
    case 'install.report':
      return `installer: ${event.stage}${event.detail === undefined ? '' : ` (${event.detail})`}`
    default:
      return event.type
  }
}

function _mib(bytes: number): string {
  return (bytes / 2 ** 20).toFixed(1)
}

function machineOf(event: BootEvent): string | undefined {
  return 'machine' in event ? event.machine : undefined
}

/** Tracks every configured machine's progress; `apply` returns the machine's new state when it changed. */
export class ProgressBoard {
  private readonly states = new Map<string, MachineProgress>()
  private readonly now: () => number

  constructor(machines: readonly string[], now: () => number = Date.now) {
    this.now = now
    for (const machine of machines) {
      this.states.set(machine, {
        machine,
        stage: 'waiting',
        lastSeen: 'nothing yet',
        lastSeenAt: 0,
        reached: {},
      })
    }
  }

  apply(event: BootEvent): MachineProgress | undefined {
    const machine = machineOf(event)
    if (machine === undefined) return undefined
    const before = this.states.get(machine)
    if (before === undefined) return undefined
    const at = this.now()
    const stage = stageOf(event)
    // Stages only move forward, except that a new DHCP exchange after "installed" means a reboot.
    let next = before.stage
    if (stage !== undefined && STAGES.indexOf(stage) > STAGES.indexOf(before.stage)) next = stage
    const reached =
      stage !== undefined && before.reached[next] === undefined
        ? { ...before.reached, [next]: at }
        : before.reached
    const after: MachineProgress = {
      machine,
      stage: next,
      lastSeen: describe(event),
      lastSeenAt: at,
      reached,
    }
    this.states.set(machine, after)
    return after
  }

  /** Records a stage seen outside the boot events (e.g. SSH answering); returns the new state. */
  mark(machine: string, stage: Stage, lastSeen: string): MachineProgress | undefined {
    const before = this.states.get(machine)
    if (before === undefined) return undefined
    const at = this.now()
    const forward = STAGES.indexOf(stage) > STAGES.indexOf(before.stage)
    const after: MachineProgress = {
      machine,
      stage: forward ? stage : before.stage,
      lastSeen,
      lastSeenAt: at,
      reached:
        forward && before.reached[stage] === undefined ? { ...before.reached, [stage]: at } : before.reached,
    }
    this.states.set(machine, after)
    return after
  }

  get(machine: string): MachineProgress | undefined {
    return this.states.get(machine)
  }

  all(): MachineProgress[] {
    return [...this.states.values()]
  }
}
