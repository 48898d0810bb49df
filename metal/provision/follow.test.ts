import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import type { Config, Machine } from '../../core/config/schema.ts'
import { InstallTracker, reportAction } from './follow.ts'
import { readState } from './state.ts'
import type { MachineSummaryRow, ProvisionEvent } from './types.ts'
import { DEFAULT_TIMEOUTS } from './types.ts'

const m = { name: 'metal1', ip: '10.0.0.11', mac: '52:54:00:00:00:11' } as Machine

async function follow(reportedKey: string, answeredKey: string) {
  const stateDir = await mkdtemp(join(tmpdir(), 'hl-follow-'))
  try {
    const rows = new Map<string, MachineSummaryRow>()
    const events: ProvisionEvent[] = []
    let probes = 0
    const tracker = new InstallTracker({
      config: { machines: [m] } as unknown as Config,
      targets: [m],
      started: 0,
      timeouts: DEFAULT_TIMEOUTS,
      events: (e) => events.push(e),
      probe: async () => {
        probes++
        if (probes === 1) throw new Error('connection refused') // not up yet: retried
        return answeredKey
      },
      stateDir,
      records: {},
      rows,
      sshPollMs: 1,
    })
    const removed: string[] = []
    tracker.follow(
      { type: 'install.report', machine: m.name, stage: 'hostkey', detail: `${reportedKey}\n` },
      () => {},
    )
    tracker.follow({ type: 'install.report', machine: m.name, stage: 'installed' }, (x) =>
      removed.push(x.name),
    )
    await tracker.done
    return { row: rows.get(m.name), removed, probes, state: await readState(stateDir) }
  } finally {
    await rm(stateDir, { recursive: true, force: true })
  }
}

test('InstallTracker: once installed, SSH answering with the reported host key records the machine as installed', async () => {
  const { row, removed, probes, state } = await follow('ssh-ed25519 AAAAright', 'ssh-ed25519 AAAAright')
  assert.deepEqual(
    [row?.result, row?.detail, removed, probes],
    ['installed', 'SSH ready at 10.0.0.11', ['metal1'], 2],
  )
  assert.equal(state.machines.metal1?.hostKey, 'ssh-ed25519 AAAAright')
})

test('InstallTracker: SSH answering with another host key than the installer reported fails the machine, unrecorded', async () => {
  const { row, probes, state } = await follow('ssh-ed25519 AAAAright', 'ssh-ed25519 AAAAwrong')
  assert.deepEqual(
    [row?.result, row?.detail, probes],
    ['failed', 'SSH at 10.0.0.11 answers with another host key than metal1 reported at install', 2],
  )
  assert.equal(state.machines.metal1, undefined)
})

test('reportAction(): the installer reports that record a host key or NIC, fail the machine or start the SSH wait; others none', () => {
  const report = (stage: string, detail?: string, log?: string[]) =>
    reportAction({
      type: 'install.report',
      machine: 'metal1',
      stage,
      ...(detail === undefined ? {} : { detail }),
      ...(log === undefined ? {} : { log }),
    })
  assert.deepEqual(
    [
      report('hostkey', ' ssh-ed25519 AAAA \n'),
      report('hostkey'),
      report('failed', 'no disk vda', ['anaconda started', 'no disk vda']),
      report('failed'),
      report('nic', 'enp1s0'),
      report('nic'),
      report('installed'),
      report('partitioning'),
      reportAction({ type: 'pxe.warning', service: 'http', message: 'x' }),
    ],
    [
      { kind: 'hostkey', key: 'ssh-ed25519 AAAA' },
      undefined,
      {
        kind: 'failed',
        detail: 'the installer failed: no disk vda',
        lastLine: 'no disk vda',
        log: ['anaconda started', 'no disk vda'],
      },
      {
        kind: 'failed',
        detail: 'the installer failed: no reason given',
        lastLine: 'no reason given',
        log: [],
      },
      { kind: 'nic', name: 'enp1s0' },
      undefined,
      { kind: 'installed' },
      undefined,
      undefined,
    ],
  )
})

test('InstallTracker: a failed report ends the machine at once with its log tail, and its line stays "failed"', async () => {
  const other = { name: 'metal2', ip: '10.0.0.12', mac: '52:54:00:00:00:12' } as Machine
  const rows = new Map<string, MachineSummaryRow>()
  const events: ProvisionEvent[] = []
  const tracker = new InstallTracker({
    config: { machines: [m, other] } as unknown as Config,
    targets: [m, other],
    started: 0,
    timeouts: DEFAULT_TIMEOUTS,
    events: (e) => events.push(e),
    probe: async () => {
      throw new Error('never probed: nothing reported installed')
    },
    stateDir: '/nonexistent',
    records: {},
    rows,
  })
  const log = ['anaconda 43 started', 'error: disk /dev/sdz not found']
  tracker.follow({ type: 'install.report', machine: m.name, stage: 'failed', detail: log[1], log }, () => {})
  // Ended at once, not by a stall: the row is there before any watchdog tick.
  assert.deepEqual(rows.get(m.name), {
    machine: m.name,
    ip: m.ip,
    result: 'failed',
    stages: tracker.stagesOf(m.name),
    detail: 'the installer failed: error: disk /dev/sdz not found',
    log,
  })
  assert.deepEqual(
    events.filter((e) => e.type === 'machine.failed'),
    [{ type: 'machine.failed', machine: m.name, lastLine: 'error: disk /dev/sdz not found', log }],
  )
  // Later events of the ended machine are reported but no longer move its live line.
  const before = events.filter((e) => e.type === 'machine.progress').length
  tracker.follow(
    {
      type: 'http.served',
      client: m.ip,
      machine: m.name,
      method: 'GET',
      path: '/x',
      status: 200,
      bytes: 1,
      ms: 1,
    },
    () => {},
  )
  assert.equal(events.filter((e) => e.type === 'machine.progress').length, before)
  assert.equal(events.at(-1)?.type, 'http.served')
  // The other machine is still followed.
  tracker.stopAll()
  await tracker.done
  assert.equal(rows.get(other.name)?.result, 'failed')
  assert.equal(rows.get(other.name)?.log, undefined)
})

test('InstallTracker: the NIC name the installed system reported is recorded with the machine', async () => {
  const stateDir = await mkdtemp(join(tmpdir(), 'hl-follow-'))
  try {
    const rows = new Map<string, MachineSummaryRow>()
    const tracker = new InstallTracker({
      config: { machines: [m] } as unknown as Config,
      targets: [m],
      started: 0,
      timeouts: DEFAULT_TIMEOUTS,
      events: () => {},
      probe: async () => 'ssh-ed25519 AAAAk',
      stateDir,
      records: {},
      rows,
      sshPollMs: 1,
    })
    tracker.follow({ type: 'install.report', machine: m.name, stage: 'nic', detail: 'enp1s0' }, () => {})
    tracker.follow({ type: 'install.report', machine: m.name, stage: 'installed' }, () => {})
    await tracker.done
    assert.equal(rows.get(m.name)?.result, 'installed')
    assert.equal((await readState(stateDir)).machines.metal1?.nic, 'enp1s0')
  } finally {
    await rm(stateDir, { recursive: true, force: true })
  }
})
