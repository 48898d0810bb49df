import assert from 'node:assert/strict'
import { test } from 'node:test'
import type { Machine } from '../../core/config/schema.ts'
import type { MachineProgress } from '../pxe/progress.ts'
import type { MachineRecord } from './state.ts'
import { decideTarget, needsProbe } from './targets.ts'
import { DEFAULT_TIMEOUTS } from './types.ts'
import { findStalls } from './watchdog.ts'

const m = { name: 'metal1', ip: '10.0.0.11', mac: '52:54:00:00:00:11' } as Machine
const KEY = 'ssh-ed25519 AAAArecorded'
const record: MachineRecord = { mac: m.mac, ip: m.ip, hostKey: KEY, installedAt: '2026-01-01T00:00:00.000Z' }

test('decideTarget(): --reinstall and never installed are targets; the recorded key skips; no answer installs again; another key refuses', () => {
  const none = new Set<string>()
  const table: [string, ReturnType<typeof decideTarget>['kind'], RegExp][] = [
    ['reinstall', decideTarget(m, record, new Set(['metal1']), KEY).kind, /^target$/],
    ['no record', decideTarget(m, undefined, none, undefined).kind, /^target$/],
    ['no answer', decideTarget(m, record, none, undefined).kind, /^target$/],
    ['same key, another comment', decideTarget(m, record, none, `${KEY} root@metal1`).kind, /^skipped$/],
    ['another key', decideTarget(m, record, none, 'ssh-ed25519 AAAAother').kind, /^refused$/],
  ]
  for (const [name, kind, expected] of table) assert.match(kind, expected, name)
  const refused = decideTarget(m, record, none, 'ssh-ed25519 AAAAother')
  assert.equal(refused.kind === 'refused' && refused.row.result, 'refused')
  assert.match(refused.reason, /another host may hold the address.*--reinstall metal1/)
})

test('needsProbe(): machines installed before are probed, --reinstall ones too (to send them back to netboot)', () => {
  assert.deepEqual([needsProbe(record), needsProbe(undefined)], [true, false])
})

test('decideTarget(): --reinstall sends a machine back to netboot only when SSH answers with its recorded key', () => {
  const again = new Set(['metal1'])
  const running = decideTarget(m, record, again, `${KEY} root@metal1`)
  assert.deepEqual(running, {
    kind: 'target',
    reason:
      '--reinstall: SSH at 10.0.0.11 answers with its recorded host key, so it is told to netboot once (UEFI BootNext) and rebooted',
    sendBack: true,
  })
  for (const [name, r, key] of [
    ['no answer', record, undefined],
    ['another key: never logged into', record, 'ssh-ed25519 AAAAother'],
    ['never recorded', undefined, KEY],
  ] as const) {
    const d = decideTarget(m, r, again, key)
    assert.deepEqual(
      d,
      { kind: 'target', reason: '--reinstall: it is installed again when it netboots' },
      name,
    )
  }
})

test('findStalls(): a machine past its stage limit since its last event (or the start) stalls; ssh-ready never does', () => {
  const state = (machine: string, stage: MachineProgress['stage'], lastSeenAt: number): MachineProgress => ({
    machine,
    stage,
    lastSeen: `${machine} last`,
    lastSeenAt,
    reached: {},
  })
  const started = 1_000_000
  const now = started + 700_000
  const stalls = findStalls(
    [
      state('a', 'waiting', 0), // since the start: 700 s > 600 s
      state('b', 'dhcp', now - 180_000), // exactly at its limit: not yet
      state('c', 'dhcp', now - 180_001),
      state('d', 'ssh-ready', 0),
    ],
    now,
    started,
    DEFAULT_TIMEOUTS,
  )
  assert.deepEqual(stalls, [
    { machine: 'a', stage: 'waiting', seconds: 600, lastSeen: 'a last' },
    { machine: 'c', stage: 'dhcp', seconds: 180, lastSeen: 'c last' },
  ])
})
