/**
 * `homelab discover` hears real firmware: QEMU machines PXE-booting on a test network, one with
 * OVMF's own UEFI PXE (no option ROM, as on most real machines) and one with SeaBIOS and its
 * iPXE ROM (legacy BIOS PXE). Nothing answers them: the listener sends nothing, and there is no
 * DHCP server on the segment, so the firmware keeps asking until the test has seen it.
 *
 * @heavy: QEMU under software emulation; `npm test` runs it alone (tools/check.ts).
 */
import assert from 'node:assert/strict'
import { copyFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { formatDiagnostic } from '../core/config/diagnostics.ts'
import { parseConfig } from '../core/config/load.ts'
import { TestNet, waitFor } from '../tools/netns.ts'
import { startVm } from '../tools/qemu.ts'

const root = join(import.meta.dirname, '..')
const homelab = join(root, 'bin/homelab')
/** Deadline for waits: only a hang reaches it (firmware under TCG takes tens of seconds to PXE). */
const HANG_MS = 300_000
const UEFI_MAC = '52:54:00:99:00:31'
const BIOS_MAC = '52:54:00:99:00:32'

function events(out: string): Record<string, unknown>[] {
  return out
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>)
}

test('homelab discover sees QEMU machines PXE-booting (OVMF UEFI, SeaBIOS) and --add appends them', async () => {
  const net = await TestNet.create('dqemu')
  const dir = mkdtempSync(join(tmpdir(), 'hl-discover-qemu-'))
  try {
    const ctl = await net.host('ctl', '10.99.0.2/24')
    const file = join(dir, 'homelab.yaml')
    copyFileSync(join(root, 'metal/discover/fixtures/discover-before.yaml'), file)
    const watcher = await net.host('watch', '')
    const dump = watcher.spawn(['tcpdump', '-i', 'eth0', '-n', '-l', '-e', `udp and ether src ${ctl.mac}`])
    await waitFor('tcpdump', () => (/listening on/.test(dump.output()) ? true : undefined), HANG_MS)
    const discover = ctl.spawn([
      'env',
      `HOME=${dir}`,
      homelab,
      'discover',
      '--json',
      '--add',
      '--config',
      file,
    ])
    await waitFor(
      'discover to listen',
      () => (events(discover.output()).some((e) => e.type === 'discover.listening') ? true : undefined),
      HANG_MS,
    )
    const uefiVm = await startVm(net, {
      mac: UEFI_MAC,
      firmware: 'uefi',
      rom: 'none',
      boot: { kind: 'network' },
    })
    const biosVm = await startVm(net, {
      mac: BIOS_MAC,
      firmware: 'bios',
      rom: 'default',
      boot: { kind: 'network' },
    })
    const seen = (mac: string) =>
      events(discover.output()).find(
        (e) => e.type === 'discover.machine' && e.mac === mac && e.netboot === true,
      )
    const uefi = await waitFor('the UEFI machine', () => seen(UEFI_MAC), HANG_MS)
    const bios = await waitFor('the BIOS machine', () => seen(BIOS_MAC), HANG_MS)
    await uefiVm.stop()
    await biosVm.stop()
    assert.equal(uefi.firmwareLabel, 'UEFI')
    assert.equal(bios.firmwareLabel, 'BIOS')
    assert.equal(uefi.vendor, 'locally administered')

    discover.child.kill('SIGINT')
    assert.equal(await discover.exited, 0, discover.output())
    const edited = events(discover.output()).find((e) => e.type === 'config.edited')
    // Added in the order first heard (SeaBIOS usually asks first): compare without the order.
    const added = ((edited?.machines ?? []) as { name: string; mac: string; ip: string; role: string }[]).map(
      (m) => `${m.name} ${m.mac} ${m.ip} ${m.role}`,
    )
    assert.deepEqual(added.map((a) => a.split(' ')[1]).sort(), [UEFI_MAC, BIOS_MAC].sort())
    assert.deepEqual(
      added.map((a) => `${a.split(' ')[0]} ${a.split(' ')[2]} ${a.split(' ')[3]}`),
      ['metal1 10.99.0.11 server', 'metal2 10.99.0.12 server'],
    )
    const after = readFileSync(file, 'utf8')
    assert.ok(
      after.startsWith(readFileSync(join(root, 'metal/discover/fixtures/discover-before.yaml'), 'utf8')),
    )
    assert.match(after, new RegExp(`mac: ${BIOS_MAC}\\n(.*\\n){4}    firmware: bios\\n`))
    const parsed = parseConfig(after, 'homelab.yaml')
    assert.ok(parsed.ok, parsed.ok ? '' : parsed.diagnostics.map(formatDiagnostic).join('\n'))

    // Nothing left the controller: a marker broadcast sent now is the first UDP frame from its MAC.
    await ctl.run([
      join(root, 'tools/node24'),
      '-e',
      "const s=require('node:dgram').createSocket('udp4');s.bind(0,'10.99.0.2',()=>{s.setBroadcast(true);s.send(Buffer.from('marker'),9,'255.255.255.255',(e)=>{if(e)throw e;s.close()})})",
    ])
    await waitFor('the marker', () => (/\.9: UDP, length 6/.test(dump.output()) ? true : undefined), HANG_MS)
    const frames = dump
      .output()
      .split('\n')
      .filter((l) => / > /.test(l))
    assert.equal(frames.length, 1, `the controller sent something before the marker:\n${dump.output()}`)
  } finally {
    await net.destroy()
    rmSync(dir, { recursive: true, force: true })
  }
})
