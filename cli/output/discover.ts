/** How `homelab init`, `discover` and `machine` look for people: what was found, one line per machine, the edits. */
import type { DiscoverEvent } from '../../metal/discover/discover.ts'
import { line, note, type Renderers, row } from './shown.ts'

export type InitEvent =
  /** A value init found (or was given), and where from. */
  | { readonly type: 'init.found'; readonly what: string; readonly value: string; readonly source: string }
  | { readonly type: 'init.written'; readonly file: string; readonly mode: 'proxy' | 'full' }
  /** The written file passes every check of `homelab validate` but the one for machines. */
  | { readonly type: 'init.valid'; readonly file: string }
  /** Machines written to (or removed from) the config. */
  | {
      readonly type: 'config.edited'
      readonly file: string
      readonly action: 'added' | 'removed'
      readonly machines: readonly {
        readonly name: string
        readonly mac: string
        readonly ip: string
        readonly role: string
      }[]
    }

export type DiscoverOutputEvent = InitEvent | DiscoverEvent

export const DISCOVER: Renderers<DiscoverOutputEvent> = {
  'init.found': (e) => [line(`found ${e.what.padEnd(16)} ${e.value} (${e.source})`)],
  'init.written': (e) => [line(`wrote ${e.file} (dhcp.mode ${e.mode})`)],
  'init.valid': (e) => [
    line(`${e.file} is valid; it lists no machine yet.`),
    line('Next: power the machines on (or `homelab discover --wake MAC`) and run `homelab discover --add`.'),
  ],
  'discover.listening': (e) => [
    note(
      `listening on ${e.interface} for netbooting machines, answering nothing${e.seconds === undefined ? ' (Ctrl-C stops)' : ` for ${e.seconds} s`}`,
    ),
  ],
  'discover.machine': (e) => [
    row(
      e.mac,
      e.firmwareLabel,
      `${e.vendor}${e.known === undefined ? (e.netboot ? ', new' : ', not netbooting: ignored') : `, in homelab.yaml as ${e.known}`}`,
    ),
  ],
  'discover.wake': (e) => [note(`Wake-on-LAN sent to ${e.name} (${e.mac})`)],
  'config.edited': (e) =>
    e.machines.length === 0
      ? [line(`${e.file}: nothing to add (no new netbooting machine)`)]
      : e.machines.map((m) => line(`${e.file}: ${e.action} ${m.name} (${m.mac}, ${m.ip}, ${m.role})`)),
}
