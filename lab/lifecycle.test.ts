/**
 * The lab for real, through the `homelab lab` command: namespaces, the router's DHCP,
 * the power daemon and QEMU, then `lab down` leaving nothing behind. A unique prefix,
 * interface name, subnet (10.89.0.0/24) and state folder keep it apart from a developer's
 * running lab. Needs root, iproute2, dnsmasq, qemu-system-x86, ovmf, ipxe-qemu, busybox-static.
 *
 * @heavy: QEMU under software emulation; `npm test` runs it alone (tools/check.ts).
 */
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { promisify } from 'node:util'
import { poll } from '../lib/poll/index.ts'
import { wake } from '../metal/provision/wol.ts'
import { homelab } from '../test/harness/homelab-cli.ts'
import type { LabStatus, LabStep } from './lifecycle.ts'
import { type LabRecord, labPaths, type VmRecord, vmPaths } from './state.ts'

const exec = promisify(execFile)

async function sh(cmd: string, args: string[]): Promise<string> {
  return (await exec(cmd, args)).stdout
}

/** Gone: no such process, or a zombie waiting to be reaped. */
async function gone(pid: number): Promise<boolean> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '')
  return stat === '' || /^\d+ \(.*\) Z /.test(stat)
}

async function waitFor<T>(what: string, check: () => Promise<T | undefined>, ms: number): Promise<T> {
  return await poll(() => check(), { what, intervalMs: 200, timeoutMs: ms })
}

const id = randomBytes(3).toString('hex')
const prefix = `hlt-lab${id}`
const iface = `hltl${id}`
const BIOS_MAC = '52:54:00:89:00:10'
const UEFI_MAC = '52:54:00:89:00:11'

function config(): string {
  return `network:
  interface: ${iface}
  subnet: 10.89.0.0/24
  gateway: 10.89.0.1
  controller: 10.89.0.2
  dhcp: { mode: proxy }
machines:
  - { name: lab0, mac: "${BIOS_MAC}", ip: 10.89.0.10, role: server, disk: vda, nic: eth0, firmware: bios }
  - { name: lab1, mac: "${UEFI_MAC}", ip: 10.89.0.11, role: server, disk: vda, nic: eth0 }
  - { name: lab2, mac: "52:54:00:89:00:12", ip: 10.89.0.12, role: server, disk: vda, nic: eth0 }
cluster: { k3sVersion: v1.33.5+k3s1, endpoint: 10.89.0.100 }
os: { release: 43, iso: test-os, timezone: UTC, sshPublicKey: .state/lab/id_ed25519.pub }
gitops: { seed: { url: "https://example.com/homelab" }, domain: lab.home.arpa }
`
}

function events<T>(out: string, type: string): T[] {
  return out
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as { type: string })
    .filter((e) => e.type === type) as T[]
}

async function netnsList(): Promise<string[]> {
  return (await sh('ip', ['netns', 'list'])).split('\n').map((l) => l.split(' ')[0] ?? '')
}

test('homelab lab up converges, the router leases, magic packets power machines on, lab down leaves nothing', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'hl-lab-'))
  const file = join(dir, 'homelab.yaml')
  await writeFile(file, config())
  const paths = labPaths(join(dir, '.state'))
  const lab = (...args: string[]) => homelab(['lab', ...args, '-c', file, '--prefix', prefix])
  const probeNs = `${prefix}-probe`
  let record: LabRecord | undefined
  const qemuPids: number[] = []
  try {
    await t.test(
      'lab up builds the switch, the router, the controller interface and starts its processes',
      async () => {
        const r = await lab('up', '--json')
        assert.equal(r.code, 0, r.err + r.out)
        const steps = events<LabStep>(r.out, 'lab.step')
        assert.deepEqual(
          steps.map((s) => `${s.step}: ${s.status}`),
          [
            'prerequisites: present',
            `switch ${prefix}-sw: created`,
            `router ${prefix}-router: created`,
            `controller ${iface}: created`,
            'router DHCP: started',
            'ssh key: made',
            'power daemon: started',
          ],
        )
        record = JSON.parse(await readFile(paths.labJson, 'utf8')) as LabRecord
        assert.ok(record.dnsmasq !== undefined && record.daemon !== undefined)
        const link = JSON.parse(await sh('ip', ['-j', 'link', 'show', 'dev', iface])) as Array<{
          ifalias?: string
        }>
        assert.equal(link[0]?.ifalias, `homelab-lab ${prefix}`, 'the interface carries the lab mark')
        assert.equal(
          (await readFile(`/proc/sys/net/ipv4/conf/${iface}/forwarding`, 'utf8')).trim(),
          '0',
          'nothing arriving from the lab is forwarded',
        )
        for (const ns of [`${prefix}-sw`, `${prefix}-router`])
          assert.equal(
            (await sh('ip', ['netns', 'exec', ns, 'cat', '/proc/sys/net/ipv4/ip_forward'])).trim(),
            '0',
            `${ns} forwards nothing`,
          )
      },
    )

    await t.test(
      'lab up again converges: same namespaces, interfaces and PIDs, nothing duplicated',
      async () => {
        const r = await lab('up', '--json')
        assert.equal(r.code, 0, r.err + r.out)
        assert.deepEqual(
          events<LabStep>(r.out, 'lab.step').map((s) => `${s.step}: ${s.status}`),
          [
            'prerequisites: present',
            `switch ${prefix}-sw: exists`,
            `router ${prefix}-router: exists`,
            `controller ${iface}: exists`,
            'router DHCP: running',
            'ssh key: exists',
            'power daemon: running',
          ],
        )
        const again = JSON.parse(await readFile(paths.labJson, 'utf8')) as LabRecord
        assert.deepEqual([again.dnsmasq, again.daemon], [record?.dnsmasq, record?.daemon])
        const ns = await netnsList()
        assert.deepEqual(ns.filter((n) => n.startsWith(prefix)).sort(), [`${prefix}-router`, `${prefix}-sw`])
        const ports = (await sh('ip', ['-n', `${prefix}-sw`, '-o', 'link', 'show', 'master', 'br0']))
          .split('\n')
          .filter(Boolean)
          .map((l) => l.split(': ')[1]?.split('@')[0])
        assert.deepEqual(ports.sort(), ['ctl', 'router'])
        const addrs = JSON.parse(await sh('ip', ['-j', '-4', 'addr', 'show', 'dev', iface])) as Array<{
          addr_info: Array<{ local: string }>
        }>
        assert.deepEqual(
          addrs[0]?.addr_info.map((a) => a.local),
          ['10.89.0.2'],
        )
        const procs = (await sh('ip', ['netns', 'pids', `${prefix}-router`])).split('\n').filter(Boolean)
        assert.deepEqual(procs, [String(record?.dnsmasq?.pid)], 'one dnsmasq')
      },
    )

    await t.test('the home router leases an address from .150-.199 to a client on the switch', async () => {
      await sh('ip', ['netns', 'add', probeNs])
      await sh('ip', [
        '-n',
        `${prefix}-sw`,
        'link',
        'add',
        'probe',
        'type',
        'veth',
        'peer',
        'name',
        'eth0',
        'netns',
        probeNs,
      ])
      await sh('ip', ['-n', `${prefix}-sw`, 'link', 'set', 'probe', 'master', 'br0', 'up'])
      await sh('ip', ['-n', probeNs, 'link', 'set', 'eth0', 'up'])
      const { stderr, stdout } = await exec('ip', [
        'netns',
        'exec',
        probeNs,
        'busybox',
        'udhcpc',
        '-i',
        'eth0',
        '-n',
        '-q',
        '-f',
        '-t',
        '6',
        '-T',
        '2',
        '-s',
        '/bin/true',
      ])
      const lease = /lease of (10\.89\.0\.(\d+)) obtained from 10\.89\.0\.1\b/.exec(stdout + stderr)
      assert.ok(lease, stdout + stderr)
      const host = Number(lease[2])
      assert.ok(host >= 150 && host <= 199, `${lease[1]} is in the router's range`)
      await sh('ip', ['netns', 'del', probeNs])
    })

    await t.test(
      'a magic packet for a lab machine powers it on once; one for another MAC powers on nothing',
      async () => {
        await wake([BIOS_MAC, '52:54:00:89:00:99'], { from: '10.89.0.2' })
        const files = vmPaths(paths, 'lab0')
        const vm = await waitFor(
          'lab0 on',
          async () => {
            const v = JSON.parse(await readFile(files.vmJson, 'utf8').catch(() => '{}')) as Partial<VmRecord>
            return v.state === 'on' ? v : undefined
          },
          15_000,
        )
        const pid = vm.pid as number
        qemuPids.push(pid)
        const cmdline = (await readFile(`/proc/${pid}/cmdline`, 'utf8')).split('\0')
        assert.equal(cmdline[0], 'qemu-system-x86_64')
        assert.ok(cmdline.some((a) => a.includes(`mac=${BIOS_MAC}`)))
        // Firmware output on the serial console: SeaBIOS, then the NIC's iPXE ROM.
        await waitFor(
          'firmware output on the console',
          async () => (/iPXE/.test(await readFile(files.console, 'utf8').catch(() => '')) ? true : undefined),
          60_000,
        )
        // A second packet for the running machine: wait for the daemon's word on it, not a while.
        await wake([BIOS_MAC], { from: '10.89.0.2' })
        const alreadyOn = new RegExp(
          `magic packet for ${BIOS_MAC} \\(lab0\\) from 10\\.89\\.0\\.2:\\d+: already on`,
        )
        const log = await waitFor(
          'the power daemon handling the second packet',
          async () => {
            const text = await readFile(paths.powerLog, 'utf8').catch(() => '')
            return alreadyOn.test(text) ? text : undefined
          },
          30_000,
        )
        assert.match(
          log,
          /magic packet for 52:54:00:89:00:99 from 10\.89\.0\.2:\d+: ignored \(not a machine of this lab\)/,
        )
        assert.equal([...log.matchAll(/lab0: on \(QEMU pid/g)].length, 1, 'powered on once')
        const inSwitch = (await sh('ip', ['netns', 'pids', `${prefix}-sw`]))
          .split('\n')
          .filter(Boolean)
          .sort()
        assert.deepEqual(
          inSwitch,
          [String(record?.daemon?.pid), String(pid)].sort(),
          'the daemon and one QEMU',
        )
      },
    )

    await t.test('lab status lists the namespaces, router, daemon and each machine on or off', async () => {
      const r = await lab('status', '--json')
      assert.equal(r.code, 0, r.err)
      const [s] = events<LabStatus>(r.out, 'lab.status')
      assert.ok(s)
      assert.equal(s.up, true)
      assert.deepEqual(s.namespaces, [
        { name: `${prefix}-sw`, present: true },
        { name: `${prefix}-router`, present: true },
      ])
      assert.deepEqual(s.interface, { name: iface, present: true, address: '10.89.0.2/24' })
      assert.deepEqual(
        [s.router?.running, s.router?.pid, s.daemon.running, s.daemon.pid],
        [true, record?.dnsmasq?.pid, true, record?.daemon?.pid],
      )
      assert.deepEqual(
        s.machines.map((m) => [m.name, m.state, m.pid]),
        [
          ['lab0', 'on', qemuPids[0]],
          ['lab1', 'off', null],
          ['lab2', 'off', null],
        ],
      )
      const text = await lab('status')
      assert.match(text.out, new RegExp(`^lab ${prefix} \\(.*\\): up$`, 'm'))
      assert.match(
        text.out,
        new RegExp(
          `^  lab0 +${BIOS_MAC} bios +on   pid ${qemuPids[0]}  console .*/vms/lab0/console\\.log$`,
          'm',
        ),
      )
    })

    await t.test('a machine that powered off is powered on again by the next magic packet', async () => {
      // QEMU ending is what a guest's poweroff looks like.
      process.kill(qemuPids[0] as number, 'SIGTERM')
      const files = vmPaths(paths, 'lab0')
      await waitFor(
        'lab0 off',
        async () =>
          (JSON.parse(await readFile(files.vmJson, 'utf8')) as VmRecord).state === 'off' ? true : undefined,
        10_000,
      )
      await wake([BIOS_MAC], { from: '10.89.0.2' })
      const vm = await waitFor(
        'lab0 on again',
        async () => {
          const v = JSON.parse(await readFile(files.vmJson, 'utf8')) as VmRecord
          return v.state === 'on' ? v : undefined
        },
        15_000,
      )
      assert.notEqual(vm.pid, qemuPids[0])
      qemuPids.push(vm.pid as number)
    })

    await t.test(
      'lab down ends every process by PID and removes the namespaces and the interface',
      async () => {
        const r = await lab('down')
        assert.equal(r.code, 0, r.err + r.out)
        assert.match(r.out, /^power daemon: stopped/m)
        assert.match(r.out, /^machine lab0: stopped \(QEMU pid \d+\)$/m)
        assert.doesNotMatch((await netnsList()).join('\n'), new RegExp(prefix))
        await assert.rejects(sh('ip', ['link', 'show', 'dev', iface]))
        for (const pid of [record?.dnsmasq?.pid, record?.daemon?.pid, ...qemuPids])
          assert.ok(await gone(pid as number), `pid ${pid} is gone`)
        const again = await lab('down')
        assert.equal(again.code, 0, 'twice is fine')
      },
    )
  } finally {
    await sh('ip', ['netns', 'del', probeNs]).catch(() => undefined)
    await lab('down')
    await rm(dir, { recursive: true, force: true })
  }
})

test('homelab lab up refuses an interface it did not make, and a config that is not a lab config', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'hl-lab-'))
  try {
    const file = join(dir, 'homelab.yaml')
    await writeFile(file, config().replace(`interface: ${iface}`, 'interface: lo'))
    const r = await homelab(['lab', 'up', '-c', file, '--prefix', `${prefix}x`])
    assert.equal(r.code, 1)
    assert.match(
      r.err,
      /Cannot build the lab on network\.interface "lo": that interface exists and was not made by the lab/,
    )
    assert.deepEqual(
      (await netnsList()).filter((n) => n.startsWith(`${prefix}x`)),
      [],
      'nothing was made',
    )

    await writeFile(
      file,
      config().replace(
        'iso: test-os',
        `iso: { url: "https://example.com/f.iso", sha256: ${'a'.repeat(64)} }`,
      ),
    )
    const iso = await homelab(['lab', 'up', '-c', file, '--prefix', `${prefix}x`])
    assert.equal(iso.code, 1)
    assert.match(iso.err, /set `os\.iso: test-os`/)

    const usage = await homelab(['lab', 'sideways', '-c', file])
    assert.equal(usage.code, 2)
    assert.match(usage.err, /expected one of up, down, status, got "sideways"/)
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
})
