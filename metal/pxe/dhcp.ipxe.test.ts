/**
 * Real PXE firmware against proxy mode: the iPXE BIOS option ROM (ipxe-qemu, QEMU's
 * default e1000 ROM) in QEMU on a bridge with dnsmasq as the home router. It must take
 * its address from the router and its boot file from us. Needs qemu-system-x86 and
 * ipxe-qemu; about 20 s under software emulation.
 *
 * @heavy: QEMU under software emulation; `npm test` runs it alone (tools/check.ts).
 */
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { startHomeRouter } from '../../test/harness/home-router.ts'
import { sh, TestNet, waitFor } from '../../tools/netns.ts'

const root = join(import.meta.dirname, '../..')
const node24 = join(root, 'tools/node24')
const VM_MAC = '52:54:00:00:dd:01'

/** Deadlines only catch a hang: SeaBIOS and iPXE under software emulation on a busy machine. */
const HANG_MS = 300_000

interface DhcpLine {
  direction: string
  message: string
  port: number
  arch?: number
}

test('serveDhcp() proxy mode: iPXE firmware in QEMU takes the router lease and our boot file', async () => {
  const lab = await TestNet.create('dipxe')
  const dir = mkdtempSync(join(tmpdir(), 'hl-dhcp-ipxe-'))
  try {
    const router = await lab.host('router', '10.99.0.1/24')
    const ctl = await lab.host('ctl', '10.99.0.2/24')
    const server = ctl.spawn([
      node24,
      join(root, 'tools/pxe/dhcp-run.ts'),
      '--config',
      JSON.stringify({
        interface: 'eth0',
        serverAddress: '10.99.0.2',
        mode: 'proxy',
        machines: [{ name: 'vm1', mac: VM_MAC, ip: '10.99.0.60' }],
      }),
    ])
    const events = (): DhcpLine[] =>
      server
        .output()
        .split('\n')
        .filter((l) => l.includes('"type":"dhcp"') && l.endsWith('}'))
        .map((l) => JSON.parse(l) as DhcpLine)
    await waitFor(
      'the DHCP server to listen',
      () => (/pxe\.listening/.test(server.output()) ? true : undefined),
      HANG_MS,
    ).catch((error: Error) => {
      throw new Error(`${error.message}; server: ${server.output()}`)
    })
    await sh('ip', ['-n', lab.switchNs, 'tuntap', 'add', 'tap0', 'mode', 'tap'])
    await sh('ip', ['-n', lab.switchNs, 'link', 'set', 'tap0', 'master', 'br0'])
    await sh('ip', ['-n', lab.switchNs, 'link', 'set', 'tap0', 'up'])
    const vm = lab.spawnIn(lab.switchNs, [
      'qemu-system-x86_64',
      '-nographic',
      '-no-reboot',
      '-m',
      '128',
      '-netdev',
      'tap,id=n0,ifname=tap0,script=no,downscript=no',
      '-device',
      `e1000,netdev=n0,mac=${VM_MAC},bootindex=1`,
    ])
    const screen = () => vm.output().replaceAll('\x1b', '')
    const failed = (error: Error): never => {
      throw new Error(`${error.message}; screen: ${screen().slice(-1500)}; server: ${server.output()}`)
    }
    // The router starts once we have answered: so iPXE holds our proxy offer when the router's
    // lease offer comes, and takes both at once. (With the lease offer first, iPXE would wait only
    // about 2 s for a proxy offer: a race with our server that a loaded machine could lose.)
    await waitFor(
      'our proxy offer to the firmware',
      () => (events().some((e) => e.direction === 'out' && e.message === 'offer') ? true : undefined),
      HANG_MS,
    ).catch(failed)
    startHomeRouter(router, dir)
    // iPXE prints its configuration, then tries the file it was given. The serial console
    // comes a few characters at a time: wait for the whole line.
    await waitFor(
      'iPXE to print its boot file',
      () => (/Filename: \S+\r?\n/.test(screen()) ? true : undefined),
      HANG_MS,
    ).catch(failed)
    await vm.kill('SIGKILL')
    assert.match(
      screen(),
      /net0: 10\.99\.0\.(1[0-4][0-9]|150)\/255\.255\.255\.0 gw 10\.99\.0\.1/,
      `lease from the router; screen: ${screen().slice(-1500)}`,
    )
    assert.match(
      screen(),
      /Filename: http:\/\/10\.99\.0\.2\/boot\.ipxe/,
      `iPXE (user class "iPXE") gets the boot.ipxe URL; screen: ${screen().slice(-1500)}`,
    )
    assert.ok(
      events().some((e) => e.direction === 'in' && e.message === 'discover' && e.arch === 0),
      server.output(),
    )
    assert.ok(
      events().some((e) => e.direction === 'out' && e.message === 'offer' && e.port === 67),
      server.output(),
    )
  } finally {
    await lab.destroy()
    rmSync(dir, { recursive: true, force: true })
  }
})
