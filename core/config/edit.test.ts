import assert from 'node:assert/strict'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'node:test'
import { formatDiagnostic } from './diagnostics.ts'
import { addMachines, type MachineEntry, removeMachine, scalar } from './edit.ts'
import { parseConfig } from './load.ts'

const dir = join(import.meta.dirname, 'fixtures', 'edit')
const before = readFileSync(join(dir, 'before.yaml'), 'utf8')

/** Compares with a golden file; UPDATE_GOLDEN=1 rewrites it. */
function golden(name: string, actual: string): void {
  const path = join(dir, name)
  if (process.env.UPDATE_GOLDEN === '1') writeFileSync(path, actual)
  assert.equal(actual, readFileSync(path, 'utf8'))
}

const nodeC: MachineEntry = {
  name: 'node-c',
  mac: '00:1a:11:00:00:03',
  ip: '192.168.1.22',
  role: 'server',
  disk: '/dev/disk/by-id/ata-WDC_2',
  nic: 'eno1',
  firmware: 'bios',
  comment: 'Google, Inc., BIOS',
}

/** `after` is `before` with `inserted` put in at one place: every other byte is the same. */
function assertOnlyInserted(original: string, after: string, inserted: string): void {
  const at = after.indexOf(inserted)
  assert.ok(at >= 0, `the new lines are not in the result:\n${after}`)
  assert.equal(after.slice(0, at) + after.slice(at + inserted.length), original)
}

test('addMachines() appends after the last entry, indented like it, and changes no other byte', () => {
  const result = addMachines(before, 'before.yaml', [nodeC])
  assert.ok(result.ok, result.ok ? '' : result.diagnostics.map(formatDiagnostic).join('\n'))
  golden('add.expected.yaml', result.text)
  assertOnlyInserted(
    before,
    result.text,
    [
      '    - name: node-c # Google, Inc., BIOS',
      '      mac: 00:1a:11:00:00:03',
      '      ip: 192.168.1.22',
      '      role: server',
      '      disk: /dev/disk/by-id/ata-WDC_2',
      '      nic: eno1',
      '      firmware: bios',
      '',
    ].join('\n'),
  )
  const parsed = parseConfig(result.text, 'x.yaml')
  assert.ok(parsed.ok)
  assert.deepEqual(
    parsed.value.config.machines.map((m) => m.name),
    ['node-a', 'node-b', 'node-c'],
  )
})

test('removeMachine() deletes the entry and the comment above it, and changes no other byte', () => {
  const result = removeMachine(before, 'before.yaml', 'node-a')
  assert.ok(result.ok, result.ok ? '' : result.diagnostics.map(formatDiagnostic).join('\n'))
  golden('remove.expected.yaml', result.text)
  const removed = before.slice(before.indexOf('    # the first box'), before.indexOf('    - name: node-b'))
  assertOnlyInserted(result.text, before, removed)
})

test('removeMachine() then addMachines() of the same entry keeps the rest of the file', () => {
  const added = addMachines(before, 'before.yaml', [nodeC])
  assert.ok(added.ok)
  const removed = removeMachine(added.text, 'before.yaml', 'node-c')
  assert.ok(removed.ok)
  assert.equal(removed.text, before)
})

/** What `homelab validate` says of the file with the entry written in by hand. */
function validateSays(entry: MachineEntry): string[] {
  const byHand = before.replace(
    '    # - name: node-c',
    `    - name: ${entry.name}\n      mac: ${entry.mac}\n      ip: ${entry.ip}\n      role: ${entry.role}\n      disk: ${entry.disk}\n      nic: ${entry.nic}\n      firmware: bios\n    # - name: node-c`,
  )
  const result = parseConfig(byHand, 'before.yaml')
  return result.ok ? [] : result.diagnostics.filter((d) => d.severity === 'error').map(formatDiagnostic)
}

for (const { what, entry, expected } of [
  {
    what: 'a name already used',
    entry: { ...nodeC, name: 'node-b' },
    expected: [
      'before.yaml:26:13 machines[2].name: "node-b" is already used by machines[1] (each name must be unique)',
    ],
  },
  {
    what: 'a MAC already used (in another case)',
    entry: { ...nodeC, mac: '00:1A:11:00:00:02' },
    expected: [
      'before.yaml:27:12 machines[2].mac: "00:1A:11:00:00:02" is already used by machines[1] (each mac must be unique)',
    ],
  },
  {
    what: 'an address already used',
    entry: { ...nodeC, ip: '192.168.1.20' },
    expected: [
      'before.yaml:28:11 machines[2].ip: "192.168.1.20" is already used by machines[0] (each ip must be unique)',
    ],
  },
  {
    what: 'an address in the load-balancer pool',
    entry: { ...nodeC, ip: '192.168.1.230' },
    expected: [
      'before.yaml:28:11 machines[2].ip: "192.168.1.230" is inside the load-balancer pool 192.168.1.224-192.168.1.254 (a machine needs an address outside it, or set cluster.loadBalancerPool)',
    ],
  },
]) {
  test(`addMachines() refuses ${what} with validate's file:line:column message`, () => {
    const result = addMachines(before, 'before.yaml', [entry])
    assert.equal(result.ok, false)
    if (result.ok) return
    assert.equal(result.in, 'edit')
    const messages = result.diagnostics.map(formatDiagnostic)
    assert.deepEqual(messages, expected)
    assert.deepEqual(messages, validateSays(entry))
  })
}

test('addMachines() refuses to edit a file that has errors, reporting them where they are', () => {
  const broken = before.replace(
    'sha256: 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef',
    'sha256: 0',
  )
  const result = addMachines(broken, 'before.yaml', [nodeC])
  assert.equal(result.ok, false)
  if (result.ok) return
  assert.equal(result.in, 'file')
  assert.deepEqual(result.diagnostics.map(formatDiagnostic), [
    'before.yaml:36:13 os.iso.sha256: 0 is read as a number by YAML, expected a string (put the value in quotes)',
  ])
})

test('addMachines() fills `machines: []` (what homelab init writes) with a block list', () => {
  const start = before.slice(0, before.indexOf('machines:'))
  const empty = `${before.replace(/machines:[\s\S]*?\n\ncluster:/, 'cluster:')}\n# found later\nmachines: [] # by discover\n`
  const result = addMachines(empty, 'x.yaml', [nodeC])
  assert.ok(result.ok, result.ok ? '' : result.diagnostics.map(formatDiagnostic).join('\n'))
  assert.ok(result.text.startsWith(start))
  assert.ok(
    result.text.endsWith(
      '# found later\nmachines: # by discover\n  - name: node-c # Google, Inc., BIOS\n    mac: 00:1a:11:00:00:03\n    ip: 192.168.1.22\n    role: server\n    disk: /dev/disk/by-id/ata-WDC_2\n    nic: eno1\n    firmware: bios\n',
    ),
    result.text,
  )
})

test('removeMachine() refuses a name that is not there, and removing the last server', () => {
  const missing = removeMachine(before, 'before.yaml', 'node-x')
  assert.equal(missing.ok, false)
  if (!missing.ok)
    assert.deepEqual(missing.diagnostics.map(formatDiagnostic), [
      'before.yaml:11:1 machines: has no machine named "node-x" (the machines are: node-a, node-b)',
    ])
  const one = removeMachine(before, 'before.yaml', 'node-a')
  assert.ok(one.ok)
  const last = removeMachine(one.text, 'before.yaml', 'node-b')
  assert.equal(last.ok, false)
  if (!last.ok) assert.equal(last.in, 'edit')
})

test('scalar() writes plain text when YAML reads it back unchanged, else quotes it', () => {
  assert.equal(scalar('eno1'), 'eno1')
  assert.equal(scalar('52:54:00:77:00:10'), '52:54:00:77:00:10')
  assert.equal(scalar('/dev/disk/by-id/nvme-x_1'), '/dev/disk/by-id/nvme-x_1')
  assert.equal(scalar('123'), '"123"')
  assert.equal(scalar('true'), '"true"')
  assert.equal(scalar('~/.ssh/id_ed25519.pub'), '"~/.ssh/id_ed25519.pub"')
  assert.equal(scalar('a b'), '"a b"')
})
