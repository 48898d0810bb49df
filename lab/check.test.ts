import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'node:test'
import { parseConfig } from '../core/config/load.ts'
import { labConfigProblems } from './check.ts'

const shipped = readFileSync(join(import.meta.dirname, '../homelab.yaml'), 'utf8')

function problems(text: string): string[] {
  const parsed = parseConfig(text, 'homelab.yaml')
  assert.ok(parsed.ok, parsed.ok ? '' : JSON.stringify(parsed.diagnostics))
  return labConfigProblems(parsed.value.config, parsed.value.derived.subnet)
}

test('labConfigProblems() accepts the shipped homelab.yaml', () => {
  assert.deepEqual(problems(shipped), [])
})

test('labConfigProblems() says what to change for a config that is not a lab config', () => {
  const iso = shipped.replace(
    '  iso: test-os',
    `  iso:\n    url: https://example.com/f.iso\n    sha256: ${'a'.repeat(64)}`,
  )
  assert.deepEqual(problems(iso), [
    'os.iso is an ISO download, but the lab installs only the offline test OS: set `os.iso: test-os` (the shipped homelab.yaml is a lab config; for real machines use `homelab metal` without the lab)',
  ])
  assert.deepEqual(problems(shipped.replace('  controller: 10.77.0.2\n', '')), [
    'network.controller is not set: the lab gives that address to network.interface; set it, e.g. `controller: 10.77.0.2`',
  ])
  assert.deepEqual(problems(shipped.replace('ip: 10.77.0.11', 'ip: 10.77.0.160')), [
    "machines[1].ip (metal1) 10.77.0.160 is in the lab router's DHCP range 10.77.0.150-10.77.0.199: pick an address outside it",
  ])
})
