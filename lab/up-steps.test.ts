import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'node:test'
import { parseConfig } from '../core/config/load.ts'
import { LabConfigError } from './check.ts'
import { changedSettings, checkCanBuild, labRecord } from './lifecycle.ts'
import { labNames } from './state.ts'

const parsed = parseConfig(readFileSync(join(import.meta.dirname, '../homelab.yaml'), 'utf8'), 'homelab.yaml')
assert.ok(parsed.ok)
const { config, derived } = parsed.value

test('checkCanBuild() refuses a non-root user, and accepts root with the shipped config', () => {
  assert.throws(
    () => checkCanBuild({ config, configFile: 'homelab.yaml' }, derived.subnet, 1000),
    LabConfigError,
  )
  assert.throws(
    () => checkCanBuild({ config, configFile: 'homelab.yaml' }, derived.subnet, undefined),
    /needs root/,
  )
  checkCanBuild({ config, configFile: 'homelab.yaml' }, derived.subnet, 0)
})

test('labRecord() keeps the running daemons of the previous record; changedSettings() names what a running lab cannot change', () => {
  const previous = {
    ...labRecord(config, derived.subnet, labNames('hl-lab'), '/x/homelab.yaml', undefined, 't0'),
    dnsmasq: { pid: 41 },
    daemon: { pid: 42 },
  }
  const next = labRecord(config, derived.subnet, labNames('other'), '/x/homelab.yaml', previous, 't1')
  assert.deepEqual([next.dnsmasq, next.daemon, next.upAt], [{ pid: 41 }, { pid: 42 }, 't1'])
  assert.deepEqual(changedSettings(previous, next), ['prefix hl-lab -> other'])
  assert.deepEqual(changedSettings(previous, { ...previous, upAt: 'later' }), [])
})
