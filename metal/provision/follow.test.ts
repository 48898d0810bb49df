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

test('reportAction(): the installer reports that record a host key, fail the machine or start the SSH wait; others none', () => {
  const report = (stage: string, detail?: string) =>
    reportAction({
      type: 'install.report',
      machine: 'metal1',
      stage,
      ...(detail === undefined ? {} : { detail }),
    })
  assert.deepEqual(
    [
      report('hostkey', ' ssh-ed25519 AAAA \n'),
      report('hostkey'),
      report('failed', 'no disk vda'),
      report('failed'),
      report('installed'),
      report('partitioning'),
      reportAction({ type: 'pxe.warning', service: 'http', message: 'x' }),
    ],
    [
      { kind: 'hostkey', key: 'ssh-ed25519 AAAA' },
      undefined,
      { kind: 'failed', detail: 'the installer failed: no disk vda' },
      { kind: 'failed', detail: 'the installer failed: no reason given' },
      { kind: 'installed' },
      undefined,
      undefined,
    ],
  )
})
