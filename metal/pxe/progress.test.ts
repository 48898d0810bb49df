import assert from 'node:assert/strict'
import { test } from 'node:test'
import { ProgressBoard } from './progress.ts'

test('ProgressBoard follows a machine from DHCP to installed and keeps what it last saw', () => {
  let now = 1000
  const board = new ProgressBoard(['metal0', 'metal1'], () => now)
  assert.equal(board.get('metal0')?.stage, 'waiting')
  board.apply({
    type: 'dhcp',
    direction: 'in',
    message: 'discover',
    mac: '52:54:00:00:00:01',
    machine: 'metal0',
    xid: 1,
    port: 67,
    arch: 7,
  })
  now = 2000
  board.apply({
    type: 'tftp.end',
    client: '10.0.0.10:2000',
    machine: 'metal0',
    file: 'uefi/shimx64.efi',
    ok: true,
    bytes: 950000,
    ms: 800,
  })
  assert.equal(board.get('metal0')?.stage, 'boot-loader')
  now = 3000
  board.apply({
    type: 'http.served',
    client: '10.0.0.10',
    machine: 'metal0',
    method: 'GET',
    path: '/images/pxeboot/vmlinuz',
    status: 200,
    bytes: 8,
    ms: 1,
  })
  assert.equal(board.get('metal0')?.stage, 'kernel')
  // A later boot-loader file does not move the machine backwards.
  board.apply({
    type: 'tftp.end',
    client: '10.0.0.10:2001',
    machine: 'metal0',
    file: 'grub/grub.cfg',
    ok: true,
    bytes: 10,
    ms: 1,
  })
  assert.equal(board.get('metal0')?.stage, 'kernel')
  now = 4000
  const last = board.apply({ type: 'install.report', machine: 'metal0', stage: 'installed' })
  assert.equal(last?.stage, 'installed')
  assert.equal(last?.lastSeen, 'installer: installed')
  assert.deepEqual(last?.reached, { dhcp: 1000, 'boot-loader': 2000, kernel: 3000, installed: 4000 })
  assert.equal(board.get('metal1')?.lastSeen, 'nothing yet')
})

test('ProgressBoard ignores events from machines that are not configured', () => {
  const board = new ProgressBoard(['metal0'])
  assert.equal(board.apply({ type: 'install.report', machine: 'intruder', stage: 'installed' }), undefined)
  assert.equal(
    board.apply({ type: 'dhcp.ignored', mac: '00:11:22:33:44:55', reason: 'unknown machine' }),
    undefined,
  )
  assert.deepEqual(
    board.all().map((m) => m.machine),
    ['metal0'],
  )
})

test('ProgressBoard describes a failed TFTP transfer with its error', () => {
  const board = new ProgressBoard(['metal0'])
  const state = board.apply({
    type: 'tftp.end',
    client: 'c',
    machine: 'metal0',
    file: 'uefi/grubx64.efi',
    ok: false,
    bytes: 0,
    ms: 5000,
    error: 'timed out waiting for ACK 3',
  })
  assert.equal(state?.lastSeen, 'TFTP uefi/grubx64.efi failed: timed out waiting for ACK 3')
})

test('ProgressBoard: transfer.progress moves the stage by file and refreshes what was last seen', () => {
  let now = 1000
  const board = new ProgressBoard(['metal0'], () => now)
  const progress = (protocol: 'http' | 'tftp', file: string, bytes: number) =>
    board.apply({
      type: 'transfer.progress',
      protocol,
      client: '10.0.0.10',
      machine: 'metal0',
      file,
      bytes,
      size: 8 * 2 ** 20,
    })
  assert.equal(progress('tftp', 'uefi/grubx64.efi', 2 ** 20)?.stage, 'boot-loader')
  now = 5000
  const kernel = progress('http', 'os/images/pxeboot/initrd.img', 3 * 2 ** 20)
  assert.deepEqual(
    [kernel?.stage, kernel?.lastSeen, kernel?.lastSeenAt],
    ['kernel', 'HTTP os/images/pxeboot/initrd.img: 3.0 of 8.0 MiB sent', 5000],
  )
  now = 9000
  assert.equal(progress('http', 'os/images/install.img', 2 ** 20)?.stage, 'installer')
})
