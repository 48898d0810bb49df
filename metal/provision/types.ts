/** The types provision() and its parts share (and the CLI reads). */
import type { BootEvent } from '../pxe/events.ts'
import type { MachineProgress, Stage } from '../pxe/progress.ts'

/** Seconds a machine may stay in a stage before it is reported as stalled. */
export interface StageTimeouts {
  readonly waiting: number
  readonly dhcp: number
  readonly 'boot-loader': number
  readonly kernel: number
  readonly installer: number
  readonly installed: number
}

/** Defaults for real hardware: slow POSTs, a full Fedora install. */
export const DEFAULT_TIMEOUTS: StageTimeouts = {
  waiting: 600,
  dhcp: 180,
  'boot-loader': 180,
  kernel: 300,
  installer: 3600,
  installed: 900,
}

export type ProvisionEvent =
  | BootEvent
  | { readonly type: 'machine.skipped'; readonly machine: string; readonly reason: string }
  | { readonly type: 'machine.target'; readonly machine: string; readonly reason: string }
  | { readonly type: 'machine.progress'; readonly state: MachineProgress }
  | {
      readonly type: 'machine.stalled'
      readonly machine: string
      readonly stage: Stage
      readonly seconds: number
      readonly lastSeen: string
      readonly check: string
    }
  | { readonly type: 'machine.refused'; readonly machine: string; readonly reason: string }
  | {
      /** The installer reported a failure (`POST /report/failed`): the machine ends failed at once. */
      readonly type: 'machine.failed'
      readonly machine: string
      /** The last line of the installer's log (or its reason), sanitised. */
      readonly lastLine: string
      /** The installer log's tail, sanitised, oldest first. */
      readonly log: readonly string[]
    }
  | {
      /**
       * An installed machine to reinstall was (or could not be) sent back to netboot once:
       * `rebooted` (BootNext set to its network entry, then rebooted) or `manual` (the operator
       * must choose network boot once in the firmware's boot menu).
       */
      readonly type: 'machine.netboot'
      readonly machine: string
      readonly result: 'rebooted' | 'manual'
      readonly detail: string
    }
  | { readonly type: 'metal.summary'; readonly machines: readonly MachineSummaryRow[] }

export interface MachineSummaryRow {
  readonly machine: string
  readonly ip: string
  readonly result: 'installed' | 'skipped' | 'failed' | 'refused'
  /** Seconds from the start to each stage reached. */
  readonly stages: Readonly<Partial<Record<Stage, number>>>
  readonly detail: string
  /** A failed installer's log tail (sanitised), printed after the summary. */
  readonly log?: readonly string[]
}
