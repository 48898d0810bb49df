import assert from 'node:assert/strict'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'node:test'
import { formatDiagnostic } from '../../core/config/diagnostics.ts'
import { addMachines, isMissingMachines } from '../../core/config/edit.ts'
import { parseConfig } from '../../core/config/load.ts'
import { FEDORA_ISO_URL, FEDORA_RELEASE, K3S_VERSION } from './defaults.ts'
import { type InitAnswers, renderInitConfig } from './init-config.ts'

const ANSWERS: InitAnswers = {
  schema: './homelab.schema.json',
  interface: 'eno1',
  subnet: '192.168.1.0/24',
  gateway: '192.168.1.1',
  gatewaySource: 'from the default route',
  controller: '192.168.1.2',
  dns: ['192.168.1.1', '9.9.9.9'],
  dnsSource: '/etc/resolv.conf',
  mode: 'proxy',
  modeReason:
    'a DHCP server answers on this segment (192.168.1.1 (offered 192.168.1.101)): it leases, we add boot information',
  endpoint: '192.168.1.10',
  k3sVersion: K3S_VERSION,
  release: FEDORA_RELEASE,
  iso: { url: FEDORA_ISO_URL, sha256: '0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef' },
  timezone: 'Europe/Paris',
  sshPublicKey: '~/.ssh/id_ed25519.pub',
  seed: 'https://github.com/example/homelab',
  domain: 'home.arpa',
}

test('renderInitConfig() writes the golden file: every value with where it came from, machines last', () => {
  const text = renderInitConfig(ANSWERS)
  const golden = join(import.meta.dirname, 'fixtures', 'init.expected.yaml')
  if (process.env.UPDATE_GOLDEN === '1') writeFileSync(golden, text)
  assert.equal(text, readFileSync(golden, 'utf8'))
})

test('renderInitConfig() output fails validation only for its missing machines, and validates with one', () => {
  const text = renderInitConfig(ANSWERS)
  const parsed = parseConfig(text, 'homelab.yaml')
  assert.equal(parsed.ok, false)
  if (!parsed.ok)
    assert.ok(
      parsed.diagnostics.every(isMissingMachines),
      parsed.diagnostics.map(formatDiagnostic).join('\n'),
    )
  const filled = addMachines(text, 'homelab.yaml', [
    {
      name: 'metal0',
      mac: '00:1a:11:00:00:01',
      ip: '192.168.1.11',
      role: 'server',
      disk: '/dev/disk/by-id/x',
      nic: 'eno1',
    },
  ])
  assert.ok(filled.ok, filled.ok ? '' : filled.diagnostics.map(formatDiagnostic).join('\n'))
})
