import assert from 'node:assert/strict'
import { test } from 'node:test'
import { ensurePrerequisites, PREREQUISITES, type PrereqSystem, PrerequisiteError } from './prereqs.ts'

function fakeSystem(options: { missing: string[]; debian: boolean; root: boolean; installFixes?: boolean }) {
  const missing = new Set(options.missing)
  const ran: string[] = []
  const system: PrereqSystem = {
    has: async (need) => !missing.has(need),
    isDebian: async () => options.debian,
    isRoot: () => options.root,
    run: async (cmd, args) => {
      ran.push([cmd, ...args].join(' '))
      if (args[0] === 'install' && options.installFixes !== false) missing.clear()
    },
  }
  return { system, ran }
}

test('ensurePrerequisites() does nothing when everything is there', async () => {
  const { system, ran } = fakeSystem({ missing: [], debian: true, root: true })
  const lines: string[] = []
  assert.deepEqual(await ensurePrerequisites((l) => lines.push(l), system), { installed: [] })
  assert.deepEqual([ran, lines], [[], []])
})

test('ensurePrerequisites() installs the missing packages on Debian as root, saying so', async () => {
  const { system, ran } = fakeSystem({
    missing: [
      'qemu-system-x86_64',
      '/usr/share/OVMF/OVMF_CODE_4M.fd',
      '/usr/share/OVMF/OVMF_VARS_4M.fd',
      'dnsmasq',
    ],
    debian: true,
    root: true,
  })
  const lines: string[] = []
  assert.deepEqual(await ensurePrerequisites((l) => lines.push(l), system), {
    installed: ['qemu-system-x86', 'ovmf', 'dnsmasq-base'],
  })
  assert.deepEqual(ran, [
    'apt-get update',
    'apt-get install -y --no-install-recommends qemu-system-x86 ovmf dnsmasq-base',
  ])
  assert.match(
    lines[0] ?? '',
    /^missing QEMU \(qemu-system-x86_64\), UEFI firmware .*: installing qemu-system-x86 ovmf dnsmasq-base$/,
  )
  assert.deepEqual(lines.slice(1), [
    '  apt-get update',
    '  apt-get install -y --no-install-recommends qemu-system-x86 ovmf dnsmasq-base',
  ])
})

test('ensurePrerequisites() fails with the exact list elsewhere: not root, or not Debian', async () => {
  const all = PREREQUISITES.map((p) => p.need)
  const notRoot = fakeSystem({ missing: all, debian: true, root: false })
  await assert.rejects(
    ensurePrerequisites(() => {}, notRoot.system),
    (err: Error) => {
      assert.ok(err instanceof PrerequisiteError)
      assert.match(
        err.message,
        /: run as root, or install them: sudo apt-get install -y --no-install-recommends qemu-system-x86 ovmf ipxe-qemu dnsmasq-base xorriso iproute2 cpio$/,
      )
      return true
    },
  )
  assert.deepEqual(notRoot.ran, [], 'nothing is run')
  const other = fakeSystem({ missing: ['xorriso'], debian: false, root: true })
  await assert.rejects(
    ensurePrerequisites(() => {}, other.system),
    new PrerequisiteError(
      'Cannot build the lab: missing xorriso (xorriso): install them with your package manager (Debian names: xorriso)',
    ),
  )
  assert.deepEqual(other.ran, [])
})

test('ensurePrerequisites() fails when apt-get installed the packages but something is still missing', async () => {
  const { system } = fakeSystem({ missing: ['cpio'], debian: true, root: true, installFixes: false })
  await assert.rejects(
    ensurePrerequisites(() => {}, system),
    /still missing after apt-get install: cpio \(cpio\)/,
  )
})
