import assert from 'node:assert/strict'
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'node:test'
import fc from 'fast-check'
import { formatDiagnostic } from './diagnostics.ts'
import { parseConfig } from './load.ts'
import { renderJsonSchema } from './write-schema.ts'

const fixtures = join(import.meta.dirname, 'fixtures')
const root = join(import.meta.dirname, '..', '..')

function errorsOf(file: string, text: string): string[] {
  const result = parseConfig(text, file)
  assert.equal(result.ok, false, `${file} should be refused`)
  if (result.ok) return []
  return result.diagnostics.filter((d) => d.severity === 'error').map(formatDiagnostic)
}

const invalid = readdirSync(join(fixtures, 'invalid')).filter((f) => f.endsWith('.yaml'))

test('there are at least 15 invalid config fixtures, each with its expected messages', () => {
  assert.ok(invalid.length >= 15, `only ${invalid.length} invalid fixtures`)
})

for (const file of invalid) {
  test(`parseConfig() refuses invalid/${file} with the expected file:line:column messages`, () => {
    const text = readFileSync(join(fixtures, 'invalid', file), 'utf8')
    const expected = readFileSync(join(fixtures, 'invalid', file.replace(/\.yaml$/, '.expected')), 'utf8')
      .split('\n')
      .filter(Boolean)
    const actual = errorsOf(file, text)
    assert.deepEqual(actual, expected)
    for (const line of actual)
      assert.match(line, new RegExp(`^${file.replace('.', '\\.')}:[1-9]\\d*:[1-9]\\d* `))
  })
}

for (const file of readdirSync(join(fixtures, 'valid')).filter((f) => f.endsWith('.yaml'))) {
  test(`parseConfig() accepts valid/${file}`, () => {
    const result = parseConfig(readFileSync(join(fixtures, 'valid', file), 'utf8'), file)
    assert.ok(result.ok, result.ok ? '' : result.diagnostics.map(formatDiagnostic).join('\n'))
  })
}

test('parseConfig() accepts the shipped homelab.yaml and applies defaults', () => {
  const result = parseConfig(readFileSync(join(root, 'homelab.yaml'), 'utf8'), 'homelab.yaml')
  assert.ok(result.ok, result.ok ? '' : result.diagnostics.map(formatDiagnostic).join('\n'))
  assert.equal(result.value.config.network.dhcp.mode, 'proxy')
  assert.equal(result.value.derived.loadBalancerPoolIsDefault, true)
  assert.deepEqual(result.value.warnings, [])
})

test('parseConfig() warns, without failing, for an even number of servers', () => {
  const result = parseConfig(
    readFileSync(join(fixtures, 'valid', 'even-servers-warns.yaml'), 'utf8'),
    'x.yaml',
  )
  assert.ok(result.ok)
  assert.deepEqual(result.value.warnings.map(formatDiagnostic), [
    "x.yaml:8:3 machines: warning: has 2 servers: an even number adds no fault tolerance to embedded etcd's quorum (use 1 or 3)",
  ])
})

test('parseConfig() warns, without failing, for each install disk named by kernel enumeration', () => {
  const text = readFileSync(join(fixtures, 'valid', 'enumerated-disks-warns.yaml'), 'utf8')
  const result = parseConfig(text, 'x.yaml')
  assert.ok(result.ok)
  const advice = (name: string, disk: string) =>
    `is a kernel enumeration name, which can name another disk (a USB stick) when the installer runs, and that disk is wiped: use its stable link, /dev/disk/by-id/... (\`ls -l /dev/disk/by-id/\` on ${name} shows which one points at ${disk})`
  assert.deepEqual(result.value.warnings.map(formatDiagnostic), [
    `x.yaml:12:11 machines[0].disk: warning: "/dev/sda" of metal0 ${advice('metal0', 'sda')}`,
    `x.yaml:18:11 machines[1].disk: warning: "sda" of metal1 ${advice('metal1', 'sda')}`,
  ])
})

test('parseConfig() warns on enumerated disk names (sdX, vdX, hdX, xvdX, nvmeXnY, mmcblkX) and not on stable links', () => {
  const base = readFileSync(join(fixtures, 'valid', 'enumerated-disks-warns.yaml'), 'utf8')
  const cases: [string, boolean][] = [
    ['sdb', true],
    ['/dev/vda', true],
    ['hdc', true],
    ['xvda', true],
    ['nvme1n1', true],
    ['/dev/mmcblk0', true],
    ['/dev/disk/by-id/wwn-0x5000c500a1b2c3d4', false],
    ['/dev/disk/by-path/pci-0000:00:17.0-ata-1', false],
    ['disk/by-id/ata-X', false],
  ]
  for (const [disk, warned] of cases) {
    const text = base
      .replace('disk: /dev/sda', `disk: ${disk}`)
      .replace('disk: sda', 'disk: /dev/disk/by-id/ata-Y')
    const result = parseConfig(text, 'x.yaml')
    assert.ok(result.ok, disk)
    assert.equal(result.value.warnings.length, warned ? 1 : 0, disk)
  }
  const testOs = base.replace(/ {2}iso:\n(?: {4}.*\n)+/, '  iso: test-os\n')
  const lab = parseConfig(testOs, 'x.yaml')
  assert.ok(lab.ok)
  assert.deepEqual(lab.value.warnings, [], 'the test OS writes no disk: no warning')
})

test('parseConfig() points a missing field at its parent mapping', () => {
  const text = readFileSync(join(fixtures, 'base.yaml'), 'utf8').replace('  timezone: Europe/Paris\n', '')
  assert.deepEqual(errorsOf('h.yaml', text), [
    'h.yaml:30:3 os.timezone: is required: add it (time zone, like Europe/Paris)',
  ])
})

test('parseConfig() asks for quotes when YAML reads a digest as a number', () => {
  const text = readFileSync(join(fixtures, 'base.yaml'), 'utf8').replace(/sha256: \w+/, 'sha256: 1234')
  assert.deepEqual(errorsOf('h.yaml', text), [
    'h.yaml:33:13 os.iso.sha256: 1234 is read as a number by YAML, expected a string (put the value in quotes)',
  ])
})

test('parseConfig() reports an alias without its anchor instead of throwing', () => {
  assert.deepEqual(errorsOf('a.yaml', '*!'), [
    'a.yaml is not valid YAML: Unresolved alias (the anchor must be set before the alias): !',
  ])
})

test('parseConfig() never throws, whatever the text', () => {
  const base = readFileSync(join(fixtures, 'base.yaml'), 'utf8')
  fc.assert(
    fc.property(fc.string(), fc.nat(base.length), fc.nat(40), (insert, at, cut) => {
      const text = base.slice(0, at) + insert + base.slice(at + cut)
      const result = parseConfig(text, 'fuzz.yaml')
      if (!result.ok) assert.ok(result.diagnostics.length > 0)
    }),
    { numRuns: 300 },
  )
  fc.assert(
    fc.property(fc.string(), (text) => {
      parseConfig(text, 'fuzz.yaml')
    }),
  )
})

test('homelab.schema.json is the one generated from the zod schema (run `npm run schema` after changing it)', () => {
  assert.equal(readFileSync(join(root, 'homelab.schema.json'), 'utf8'), renderJsonSchema())
})

test('homelab.yaml points editors at the committed JSON Schema', () => {
  const first = readFileSync(join(root, 'homelab.yaml'), 'utf8').split('\n')[0]
  assert.equal(first, '# yaml-language-server: $schema=./homelab.schema.json')
})
