import assert from 'node:assert/strict'
import { test } from 'node:test'
import { nextFreeAddresses, nextFreeNames, readDraft } from './draft.ts'

const TEXT = `
network:
  interface: eno1
  subnet: 192.168.1.0/24
  gateway: 192.168.1.10
  controller: 192.168.1.12
  dhcp: { mode: full, range: 192.168.1.14-192.168.1.15 }
cluster:
  endpoint: 192.168.1.17
machines:
  - { name: metal0, mac: 00-1A-11-00-00-01, ip: 192.168.1.11, role: server }
  - { name: metal2, mac: 00:1a:11:00:00:02, ip: 192.168.1.13, role: agent }
`

test('readDraft() reads a partial config leniently, normalising MACs', () => {
  const draft = readDraft(TEXT)
  assert.equal(draft.interface, 'eno1')
  assert.deepEqual(
    draft.machines.map((m) => m.mac),
    ['00:1a:11:00:00:01', '00:1a:11:00:00:02'],
  )
  assert.deepEqual(readDraft('machines: []\nnetwork: { subnet: nonsense }').machines, [])
  assert.equal(readDraft('network: { subnet: nonsense }').subnet, undefined)
})

test('nextFreeAddresses() skips machines, gateway, controller, endpoint, dhcp.range, the pool and `taken`', () => {
  const draft = readDraft(TEXT)
  assert.deepEqual(nextFreeAddresses(draft, 3), ['192.168.1.16', '192.168.1.18', '192.168.1.19'])
  assert.deepEqual(nextFreeAddresses(draft, 2, [0xc0a80110]), ['192.168.1.18', '192.168.1.19'])
  // The default pool is 192.168.1.224-254: never proposed, and the list ends before it.
  const all = nextFreeAddresses(draft, 1000)
  assert.equal(all.at(-1), '192.168.1.223')
  assert.equal(all.length, 223 - 10 + 1 - 7)
})

test('nextFreeNames() proposes metalN names no machine has', () => {
  assert.deepEqual(nextFreeNames(readDraft(TEXT), 3), ['metal1', 'metal3', 'metal4'])
})
