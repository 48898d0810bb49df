/**
 * Following the targets of provision() from their boot events to installed: progress per
 * machine, the wait for SSH once a machine reports installed, stalls, and the summary rows.
 */
import type { Config, Machine } from '../../core/config/schema.ts'
import { poll } from '../../lib/poll/index.ts'
import { SshHostKeyError, sameHostKey } from '../../lib/ssh/index.ts'
import type { BootEvent } from '../pxe/events.ts'
import { type MachineProgress, ProgressBoard, type Stage } from '../pxe/progress.ts'
import { type MachineRecord, writeState } from './state.ts'
import type { MachineSummaryRow, ProvisionEvent, StageTimeouts } from './types.ts'
import { findStalls, STALL_CHECKS } from './watchdog.ts'

export interface FollowOptions {
  readonly config: Config
  readonly targets: readonly Machine[]
  readonly started: number
  readonly timeouts: StageTimeouts
  readonly events: (event: ProvisionEvent) => void
  readonly probe: (ip: string) => Promise<string>
  readonly stateDir: string
  /** Every machine's record; a machine's is set when SSH answers after its install. */
  readonly records: Record<string, MachineRecord>
  /** Where each machine's summary row goes. */
  readonly rows: Map<string, MachineSummaryRow>
  readonly signal?: AbortSignal
  /** Between two SSH probes once installed. @default 1000 */
  readonly sshPollMs?: number
}

/** What an installer's report asks of the tracker. */
export type ReportAction =
  | { readonly kind: 'hostkey'; readonly key: string }
  | {
      readonly kind: 'failed'
      readonly detail: string
      readonly lastLine: string
      readonly log: readonly string[]
    }
  | { readonly kind: 'nic'; readonly name: string }
  | { readonly kind: 'installed' }

/**
 * The action a boot event asks for: only the installer's hostkey, nic, failed and installed
 * reports ask any.
 */
export function reportAction(event: BootEvent): ReportAction | undefined {
  if (event.type !== 'install.report') return undefined
  if (event.stage === 'hostkey')
    return event.detail === undefined ? undefined : { kind: 'hostkey', key: event.detail.trim() }
  if (event.stage === 'nic')
    return event.detail === undefined ? undefined : { kind: 'nic', name: event.detail }
  if (event.stage === 'failed') {
    const lastLine = event.detail ?? 'no reason given'
    return { kind: 'failed', detail: `the installer failed: ${lastLine}`, lastLine, log: event.log ?? [] }
  }
  if (event.stage === 'installed') return { kind: 'installed' }
  return undefined
}

/** The targets being followed; `done` resolves once each has a row. */
export class InstallTracker {
  readonly board: ProgressBoard
  readonly done: Promise<void>
  private readonly options: FollowOptions
  private readonly pending: Map<string, Machine>
  /** The host key each installer reported. */
  private readonly reported = new Map<string, string>()
  /** The interface name each installed system gives its configured NIC (`POST /report/nic`). */
  private readonly nics = new Map<string, string>()
  private resolveAll: () => void = () => {}

  constructor(options: FollowOptions) {
    this.options = options
    this.board = new ProgressBoard(options.targets.map((m) => m.name))
    this.pending = new Map(options.targets.map((m) => [m.name, m]))
    this.done = new Promise<void>((r) => {
      this.resolveAll = r
    })
  }

  /** Ends a machine with its row (the first row wins). */
  settle(m: Machine, result: MachineSummaryRow['result'], detail: string, log?: readonly string[]): void {
    if (!this.pending.has(m.name)) return
    this.pending.delete(m.name)
    this.options.rows.set(m.name, {
      machine: m.name,
      ip: m.ip,
      result,
      stages: this.stagesOf(m.name),
      detail,
      ...(log === undefined || log.length === 0 ? {} : { log }),
    })
    if (this.pending.size === 0) this.resolveAll()
  }

  /** Seconds from the start to each stage the machine reached, to a tenth. */
  stagesOf(name: string): Partial<Record<Stage, number>> {
    const reached = this.board.get(name)?.reached ?? {}
    const out: Partial<Record<Stage, number>> = {}
    for (const [stage, at] of Object.entries(reached))
      out[stage as Stage] = Math.round((at - this.options.started) / 100) / 10
    return out
  }

  private progress(state: MachineProgress | undefined): void {
    if (state !== undefined) this.options.events({ type: 'machine.progress', state })
  }

  /** Something seen outside the boot events (sent back to netboot): the pending machine's line shows it. */
  seen(m: Machine, lastSeen: string): void {
    if (this.pending.has(m.name)) this.progress(this.board.mark(m.name, 'waiting', lastSeen))
  }

  /**
   * One boot event: reported, and fed to the progress board while its machine is pending (a
   * machine that ended keeps its last line). An installer's report records its host key or NIC
   * name, ends the machine as failed at once (a 'machine.failed' event with the log's tail), or
   * starts the wait for SSH. `onInstalled` runs first then.
   */
  follow(event: BootEvent, onInstalled: (m: Machine) => void): void {
    this.options.events(event)
    if (!('machine' in event) || event.machine === undefined || this.pending.has(event.machine))
      this.progress(this.board.apply(event))
    const m = event.type === 'install.report' ? this.pending.get(event.machine) : undefined
    const action = m === undefined ? undefined : reportAction(event)
    if (m === undefined || action === undefined) return
    if (action.kind === 'hostkey') this.reported.set(m.name, action.key)
    if (action.kind === 'nic') this.nics.set(m.name, action.name)
    if (action.kind === 'failed') {
      this.options.events({
        type: 'machine.failed',
        machine: m.name,
        lastLine: action.lastLine,
        log: action.log,
      })
      this.settle(m, 'failed', action.detail, action.log)
    }
    if (action.kind === 'installed') {
      onInstalled(m)
      void this.waitForSsh(m)
    }
  }

  /**
   * Probes SSH until it answers (with the host key the installer reported, when it did), records
   * the machine, and ends it installed; another host key ends it failed. Gives up silently at the
   * `installed` timeout (the watchdog reports the stall) or when stopped.
   */
  async waitForSsh(m: Machine): Promise<void> {
    const { options } = this
    try {
      await poll(() => (this.pending.has(m.name) ? this.sshOnce(m) : true), {
        what: `SSH at ${m.ip}`,
        intervalMs: options.sshPollMs ?? 1000,
        timeoutMs: options.timeouts.installed * 1000,
        signal: options.signal,
        retry: (error) => !(error instanceof SshHostKeyError),
      })
    } catch (error) {
      if (error instanceof SshHostKeyError) {
        this.settle(
          m,
          'failed',
          `SSH at ${m.ip} answers with another host key than ${m.name} reported at install`,
        )
      }
    }
  }

  private async sshOnce(m: Machine): Promise<true> {
    const { options } = this
    const key = await options.probe(m.ip)
    const expected = this.reported.get(m.name)
    if (expected !== undefined && !sameHostKey(key, expected)) throw new SshHostKeyError(m.ip, expected, key)
    const nic = this.nics.get(m.name)
    options.records[m.name] = {
      mac: m.mac,
      ip: m.ip,
      hostKey: expected ?? key,
      installedAt: new Date().toISOString(),
      ...(nic === undefined ? {} : { nic }),
    }
    await writeState(options.stateDir, { machines: options.records })
    this.progress(this.board.mark(m.name, 'ssh-ready', `SSH answers at ${m.ip}`))
    this.settle(m, 'installed', `SSH ready at ${m.ip}`)
    return true
  }

  /** The watchdog's tick: every pending machine stalled at `now` is reported and ends failed. */
  checkStalls(now: number): void {
    const { options } = this
    const states = [...this.pending.keys()].flatMap((n) => this.board.get(n) ?? [])
    for (const stall of findStalls(states, now, options.started, options.timeouts)) {
      const m = this.pending.get(stall.machine) as Machine
      options.events({
        type: 'machine.stalled',
        ...stall,
        check: STALL_CHECKS[stall.stage](m, options.config),
      })
      this.settle(
        m,
        'failed',
        `stalled in ${stall.stage} for ${stall.seconds} s; last seen: ${stall.lastSeen}`,
      )
    }
  }

  /** Stopped (Ctrl-C): every pending machine ends failed with what was last seen. */
  stopAll(): void {
    for (const m of [...this.pending.values()]) {
      this.settle(m, 'failed', `stopped; last seen: ${this.board.get(m.name)?.lastSeen ?? 'nothing'}`)
    }
  }
}
