/**
 * `homelab pxe` end to end, as a user runs it: the real CLI in a controller namespace,
 * real clients (busybox udhcpc, curl) in machine namespaces on the same bridge.
 *
 * The CLI prints events as it goes (a client can exit before the server has taken its last
 * packet): the test waits for the events it checks; its deadlines only catch a hang.
 */
import assert from 'node:assert/strict'
import { createHash, randomBytes } from 'node:crypto'
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { TestNet, waitFor, within } from '../tools/netns.ts'

const root = join(import.meta.dirname, '..')
const sha = (b: Uint8Array | string) => createHash('sha256').update(b).digest('hex')
/** Deadline for waits: only a hang reaches it. */
const HANG_MS = 120_000
const STRANGER = '52:54:00:98:00:99'

function config(mac: string): string {
  return `network:
  interface: eth0
  subnet: 10.98.0.0/24
  gateway: 10.98.0.1
  controller: 10.98.0.2
  dhcp:
    mode: full
machines:
  - name: m0
    mac: ${mac}
    ip: 10.98.0.10
    role: server
    disk: vda
    nic: eth0
cluster:
  k3sVersion: v1.33.5+k3s1
  endpoint: 10.98.0.10
os:
  release: 43
  iso: test-os
  timezone: UTC
  sshPublicKey: key.pub
gitops:
  seed:
    url: https://example.com/homelab
  domain: lab.home.arpa
`
}

test('homelab pxe serves a configured machine over DHCP, TFTP and HTTP, ignores others, and stops on Ctrl-C', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'pxe-e2e-'))
  const net = await TestNet.create('pxe')
  try {
    const mac = '52:54:00:98:00:10'
    await mkdir(join(dir, 'root/uefi'), { recursive: true })
    await mkdir(join(dir, 'root/images/pxeboot'), { recursive: true })
    const shim = randomBytes(300_000)
    const kernel = randomBytes(2_000_000)
    await writeFile(join(dir, 'root/uefi/shimx64.efi'), shim)
    await writeFile(join(dir, 'root/images/pxeboot/vmlinuz'), kernel)
    await writeFile(join(dir, 'homelab.yaml'), config(mac))
    await writeFile(
      join(dir, 'udhcpc.sh'),
      '#!/bin/sh\n[ "$1" = bound ] && echo "LEASE ip=$ip siaddr=$siaddr boot_file=$boot_file"\nexit 0\n',
      { mode: 0o755 },
    )

    const ctl = await net.host('ctl', '10.98.0.2/24')
    const machine = await net.host('m0', '', { mac })
    const stranger = await net.host('other', '', { mac: STRANGER })

    const server = ctl.spawn([
      join(root, 'bin/homelab'),
      'pxe',
      '--json',
      '--config',
      join(dir, 'homelab.yaml'),
      '--root',
      join(dir, 'root'),
    ])
    const events = () =>
      server
        .output()
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as Record<string, unknown>)
    await waitFor(
      'the PXE server to listen',
      () => (events().filter((e) => e.type === 'pxe.listening').length >= 3 ? true : undefined),
      HANG_MS,
    ).catch((err: Error) => {
      throw new Error(`${err.message}\n${server.output()}`)
    })

    const udhcpc = (host: typeof machine, tries: string, pause: string) =>
      host.run([
        'busybox',
        'udhcpc',
        '-i',
        'eth0',
        '-f',
        '-q',
        '-n',
        '-t',
        tries,
        '-T',
        pause,
        '-V',
        'PXEClient:Arch:00007:UNDI:003016',
        '-x',
        '0x5d:0007',
        '-s',
        join(dir, 'udhcpc.sh'),
      ])
    // Up to 10 DISCOVERs 3 s apart: only a server that does not answer makes it wait.
    const lease = await udhcpc(machine, '10', '3')
    assert.match(lease, /LEASE ip=10\.98\.0\.10 siaddr=10\.98\.0\.2 boot_file=uefi\/shimx64\.efi/)

    await machine.run(['ip', 'addr', 'add', '10.98.0.10/24', 'dev', 'eth0'])
    await machine.run([
      'curl',
      '-sf',
      '--tftp-blksize',
      '1468',
      '-o',
      join(dir, 'shim.out'),
      'tftp://10.98.0.2/uefi/shimx64.efi',
    ])
    await machine.run([
      'curl',
      '-sf',
      '-o',
      join(dir, 'kernel.out'),
      'http://10.98.0.2/images/pxeboot/vmlinuz',
    ])
    const { readFile } = await import('node:fs/promises')
    assert.equal(sha(await readFile(join(dir, 'shim.out'))), sha(shim))
    assert.equal(sha(await readFile(join(dir, 'kernel.out'))), sha(kernel))
    await machine.run(['curl', '-sf', 'http://10.98.0.2/report/installed?detail=e2e'])

    // A machine that is not in the config gets nothing: udhcpc gives up without a lease.
    await assert.rejects(udhcpc(stranger, '4', '1'), /Command failed/)

    const seen = await waitFor(
      'the events of the run',
      () => {
        const all = events()
        const done =
          all.some((e) => e.type === 'tftp.end' && e.machine === 'm0') &&
          all.filter((e) => e.type === 'http.served' && e.machine === 'm0').length >= 2 &&
          all.some((e) => e.type === 'install.report') &&
          all.some((e) => e.type === 'dhcp.ignored' && e.mac === STRANGER)
        return done ? all : undefined
      },
      HANG_MS,
    ).catch((err: Error) => {
      throw new Error(`${err.message}\n${server.output()}`)
    })
    const forM0 = seen.filter((e) => e.machine === 'm0')
    assert.deepEqual(
      [...new Set(forM0.map((e) => (e.type === 'dhcp' ? `dhcp.${String(e.message)}` : String(e.type))))],
      [
        'dhcp.discover',
        'dhcp.offer',
        'dhcp.request',
        'dhcp.ack',
        'tftp.start',
        'tftp.end',
        'http.served',
        'install.report',
      ],
    )
    assert.ok(seen.some((e) => e.type === 'tftp.end' && e.ok === true && e.bytes === shim.length))
    assert.ok(seen.some((e) => e.type === 'install.report' && e.stage === 'installed' && e.detail === 'e2e'))
    // The server reports a DHCP reply before it sends it, so the stranger's would be here.
    assert.ok(!seen.some((e) => e.type === 'dhcp' && e.mac === STRANGER), 'the stranger was answered')

    server.child.kill('SIGINT')
    const code = await within(server.exited, HANG_MS, 'still running')
    assert.equal(code, 0, server.output())
  } finally {
    await net.destroy()
    await rm(dir, { recursive: true, force: true })
  }
})
