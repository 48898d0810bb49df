/**
 * The metal layer end to end with real firmware, boot loaders and kernels in QEMU:
 * the real `homelab metal` in a controller namespace, VMs powered on by its
 * Wake-on-LAN packets, installing the offline test OS (Fedora's layout, built from
 * Debian packages: signed shim, signed GRUB, a Debian kernel, a busybox installer).
 *
 * @heavy: QEMU under software emulation; `npm test` runs it alone (tools/check.ts).
 */
import assert from 'node:assert/strict'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { buildTestOs } from '../lab/testos/build.ts'
import { type Host, type NsProcess, sh, spawnDnsmasq, TestNet, waitFor, within } from '../tools/netns.ts'
import { type Firmware, startVm, type Vm } from '../tools/qemu.ts'

const root = join(import.meta.dirname, '..')

interface LabMachine {
  readonly name: string
  readonly mac: string
  readonly ip: string
  readonly firmware: Firmware
  readonly rom: 'ipxe' | 'default' | 'none'
}

function configFor(
  subnet: string,
  mode: 'full' | 'proxy',
  machines: readonly LabMachine[],
  keyPath: string,
): string {
  const list = machines
    .map(
      (m) =>
        `  - { name: ${m.name}, mac: "${m.mac}", ip: ${m.ip}, role: server, disk: vda, nic: eth0${m.firmware === 'bios' ? ', firmware: bios' : ''} }`,
    )
    .join('\n')
  return `network:
  interface: eth0
  subnet: ${subnet}.0/24
  gateway: ${subnet}.1
  controller: ${subnet}.2
  dhcp: { mode: ${mode} }
machines:
${list}
cluster: { k3sVersion: v1.33.5+k3s1, endpoint: ${subnet}.100 }
os: { release: 43, iso: test-os, timezone: UTC, sshPublicKey: ${keyPath} }
gitops: { seed: { url: "https://example.com/homelab" }, domain: lab.home.arpa }
`
}

interface Lab {
  readonly net: TestNet
  readonly dir: string
  readonly ctl: Host
  readonly vms: Map<string, Vm>
  metal(...extra: string[]): NsProcess
  /** Powers on VMs as their Wake-on-LAN packets arrive. */
  powerOnWake(machines: readonly LabMachine[]): () => void
  done(): Promise<void>
}

async function makeLab(
  label: string,
  subnet: string,
  mode: 'full' | 'proxy',
  machines: readonly LabMachine[],
): Promise<Lab> {
  await buildTestOs({ cacheDir: join(root, '.cache') })
  const dir = await mkdtemp(join(tmpdir(), `metal-${label}-`))
  const net = await TestNet.create(label)
  await sh('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'controller', '-f', join(dir, 'id')])
  await writeFile(join(dir, 'homelab.yaml'), configFor(subnet, mode, machines, join(dir, 'id.pub')))
  const ctl = await net.host('ctl', `${subnet}.2/24`)
  const power = await net.host('power', '')
  const listener = power.spawn([process.execPath, join(root, 'test/harness/wol-listen.ts')])
  await waitFor('the Wake-on-LAN listener', () =>
    listener.output().includes('LISTENING') ? true : undefined,
  )
  const vms = new Map<string, Vm>()
  return {
    net,
    dir,
    ctl,
    vms,
    metal: (...extra) =>
      ctl.spawn([
        join(root, 'bin/homelab'),
        'metal',
        '--skip-doctor',
        '--skip-cluster',
        '--config',
        join(dir, 'homelab.yaml'),
        '--kernel-args',
        'console=ttyS0',
        '--timeout',
        'waiting=150',
        '--timeout',
        'dhcp=150',
        '--timeout',
        'boot-loader=150',
        '--timeout',
        'kernel=150',
        '--timeout',
        'installer=150',
        '--timeout',
        'installed=60',
        ...extra,
      ]),
    powerOnWake: (list) => {
      let stopped = false
      const started = new Set<string>()
      const count = (mac: string) => listener.output().split(`WAKE ${mac}`).length - 1
      const before = new Map(list.map((m) => [m.mac, count(m.mac)]))
      const tick = setInterval(() => {
        if (stopped) return
        for (const m of list) {
          if (!started.has(m.mac) && count(m.mac) > (before.get(m.mac) ?? 0)) {
            started.add(m.mac)
            void startVm(net, {
              mac: m.mac,
              firmware: m.firmware,
              rom: m.rom,
              boot: { kind: 'network' },
              memoryMb: 512,
            }).then((vm) => vms.set(m.name, vm))
          }
        }
      }, 200)
      return () => {
        stopped = true
        clearInterval(tick)
      }
    },
    done: async () => {
      for (const vm of vms.values()) await vm.stop()
      await net.destroy()
      await rm(dir, { recursive: true, force: true })
    },
  }
}

async function consoles(lab: Lab): Promise<string> {
  const parts: string[] = []
  for (const [name, vm] of lab.vms)
    parts.push(`--- ${name} console (tail) ---\n${(await vm.console()).split('\n').slice(-60).join('\n')}`)
  return parts.join('\n')
}

async function run(lab: Lab, p: NsProcess, ms: number): Promise<{ code: number | string; out: string }> {
  const code = await within(p.exited, ms, 'timed out')
  if (code === 'timed out') await p.kill('SIGINT')
  return { code, out: `${p.output()}\n${await consoles(lab)}` }
}

const SUMMARY_ROW = (m: LabMachine) =>
  new RegExp(
    `^ {2}${m.name}\\s+${m.ip.replaceAll('.', '\\.')}\\s+installed\\s+.*SSH ready at ${m.ip.replaceAll('.', '\\.')}$`,
    'm',
  )

test('homelab metal installs three UEFI machines at once in full mode (OVMF + iPXE), skips them on a re-run, and reinstalls one on --reinstall', async () => {
  const machines: LabMachine[] = [0, 1, 2].map((i) => ({
    name: `metal${i}`,
    mac: `52:54:00:91:00:1${i}`,
    ip: `10.91.0.1${i}`,
    firmware: 'uefi',
    rom: 'ipxe',
  }))
  const lab = await makeLab('qfull', '10.91.0', 'full', machines)
  try {
    const stop = lab.powerOnWake(machines)
    const first = await run(lab, lab.metal(), 420_000)
    stop()
    assert.equal(first.code, 0, first.out)
    for (const m of machines) assert.match(first.out, SUMMARY_ROW(m), first.out)
    const state = JSON.parse(await readFile(join(lab.dir, '.state/machines.json'), 'utf8')) as {
      machines: Record<string, { hostKey: string }>
    }
    assert.deepEqual(Object.keys(state.machines).sort(), ['metal0', 'metal1', 'metal2'])
    for (const vm of lab.vms.values()) assert.match(await vm.console(), /homelab TEST OS \(not Fedora\)/)

    // Re-run: every machine answers SSH with its recorded host key: nothing is served or woken.
    const again = await run(lab, lab.metal(), 60_000)
    assert.equal(again.code, 0, again.out)
    for (const m of machines) assert.match(again.out, new RegExp(`${m.name}: skipped: installed`))

    // --reinstall metal1: it is served again; "power-cycling" it netboots it into the installer.
    const vm1 = lab.vms.get('metal1')
    assert.ok(vm1)
    await vm1.stop()
    lab.vms.delete('metal1')
    const stop2 = lab.powerOnWake([machines[1] as LabMachine])
    const third = await run(lab, lab.metal('--reinstall', 'metal1'), 300_000)
    stop2()
    assert.equal(third.code, 0, third.out)
    assert.match(third.out, /metal1: to install: --reinstall/)
    assert.match(third.out, /metal0: skipped: installed/)
    assert.match(third.out, SUMMARY_ROW(machines[1] as LabMachine))
  } finally {
    await lab.done()
  }
})

interface JsonEvent {
  readonly type: string
  readonly [key: string]: unknown
}

function eventsOf(output: string): JsonEvent[] {
  return output
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as JsonEvent)
}

test('homelab metal in proxy mode beside a router installs a UEFI machine (iPXE) and gives a stranger on the segment nothing', async () => {
  const machine: LabMachine = {
    name: 'proxy0',
    mac: '52:54:00:90:00:10',
    ip: '10.90.0.10',
    firmware: 'uefi',
    rom: 'ipxe',
  }
  const strangerMac = '52:54:00:90:00:99'
  const lab = await makeLab('qproxy', '10.90.0', 'proxy', [machine])
  try {
    const router = await lab.net.host('router', '10.90.0.1/24')
    spawnDnsmasq(router, {
      range: '10.90.0.150,10.90.0.199,1h',
      leaseFile: join(lab.dir, 'leases'),
      extra: ['--dhcp-option=3,10.90.0.1'],
    })
    const stop = lab.powerOnWake([machine])
    const metal = lab.metal('--json')
    // The stranger netboots on the same segment while our server runs.
    const stranger = await within(
      waitFor(
        'the PXE server',
        () => (metal.output().includes('"pxe.listening"') ? true : undefined),
        60_000,
      ).then(() =>
        startVm(lab.net, { mac: strangerMac, firmware: 'uefi', rom: 'ipxe', boot: { kind: 'network' } }),
      ),
      70_000,
      undefined,
    )
    assert.ok(stranger, `the PXE server did not start:\n${metal.output()}`)
    lab.vms.set('stranger', stranger)
    const result = await run(lab, metal, 360_000)
    stop()
    assert.equal(result.code, 0, result.out)
    const events = eventsOf(metal.output())
    const summary = events.find((e) => e.type === 'metal.summary') as
      | { machines: { machine: string; result: string }[] }
      | undefined
    assert.deepEqual(
      summary?.machines.map((m) => `${m.machine} ${m.result}`),
      ['proxy0 installed'],
      result.out,
    )
    // It kept the router's lease while netbooting, and got its boot file from us.
    assert.ok(
      events.some(
        (e) =>
          e.type === 'dhcp' &&
          e.machine === 'proxy0' &&
          typeof e.ip === 'string' &&
          /^10\.90\.0\.1[5-9]\d$/.test(e.ip),
      ),
    )
    assert.ok(
      events.some(
        (e) =>
          e.type === 'http.served' &&
          e.machine === 'proxy0' &&
          e.path === '/os/images/pxeboot/vmlinuz' &&
          e.status === 200,
      ),
    )
    // The stranger was seen and ignored, never answered, and fetched nothing.
    assert.ok(
      events.some((e) => e.type === 'dhcp.ignored' && e.mac === strangerMac),
      'the stranger was never seen: the test proves nothing',
    )
    assert.ok(!events.some((e) => e.type === 'dhcp' && e.mac === strangerMac))
    assert.ok(
      !events.some((e) => (e.type === 'http.served' || e.type === 'tftp.start') && e.machine === undefined),
    )
    assert.doesNotMatch(await stranger.console(), /homelab TEST OS/)
  } finally {
    await lab.done()
  }
})

test('homelab metal installs a machine with UEFI Secure Boot enforced: signed shim -> signed GRUB -> signed kernel (OVMF PXE, no iPXE)', async () => {
  const machine: LabMachine = {
    name: 'secure0',
    mac: '52:54:00:88:00:10',
    ip: '10.88.0.10',
    firmware: 'uefi-secure',
    rom: 'none',
  }
  const lab = await makeLab('qsecure', '10.88.0', 'full', [machine])
  try {
    const stop = lab.powerOnWake([machine])
    const metal = lab.metal('--json')
    const result = await run(lab, metal, 300_000)
    stop()
    assert.equal(result.code, 0, result.out)
    const events = eventsOf(metal.output())
    const files = events
      .filter((e) => e.type === 'tftp.end' && e.machine === 'secure0' && e.ok === true)
      .map((e) => e.file)
    // Debian's signed netboot GRUB has no http module: grub.cfg falls back to TFTP for kernel and initrd.
    for (const file of [
      'uefi/shimx64.efi',
      'uefi/grubx64.efi',
      'grub/grub.cfg',
      'os/images/pxeboot/vmlinuz',
      'os/images/pxeboot/initrd.img',
    ]) {
      assert.ok(files.includes(file), `${file} not served over TFTP: ${JSON.stringify(files)}`)
    }
    const text = (await lab.vms.get('secure0')?.console()) ?? ''
    assert.match(text, /Secure boot enabled/i)
    assert.match(text, /homelab TEST OS \(not Fedora\)/)
  } finally {
    await lab.done()
  }
})

test("homelab metal installs a legacy BIOS machine (SeaBIOS + QEMU's iPXE ROM, kernel over HTTP)", async () => {
  const machine: LabMachine = {
    name: 'bios0',
    mac: '52:54:00:87:00:10',
    ip: '10.87.0.10',
    firmware: 'bios',
    rom: 'default',
  }
  const lab = await makeLab('qbios', '10.87.0', 'full', [machine])
  try {
    const stop = lab.powerOnWake([machine])
    const result = await run(lab, lab.metal(), 300_000)
    stop()
    assert.equal(result.code, 0, result.out)
    assert.match(result.out, SUMMARY_ROW(machine))
    assert.match((await lab.vms.get('bios0')?.console()) ?? '', /homelab TEST OS \(not Fedora\)/)
  } finally {
    await lab.done()
  }
})
