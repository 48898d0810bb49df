/**
 * `homelab init` and `homelab discover` on test networks (tools/netns.ts): the real CLI in a
 * controller namespace, dnsmasq as the home router (test/harness/home-router.ts), and real DHCP
 * clients (busybox udhcpc, ISC dhclient) announcing PXE firmware through option 93.
 */
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, relative } from 'node:path'
import { test } from 'node:test'
import { parseDocument } from 'yaml'
import { formatDiagnostic } from '../core/config/diagnostics.ts'
import { parseConfig } from '../core/config/load.ts'
import { type Host, type NsProcess, TestNet, waitFor } from '../tools/netns.ts'
import { startHomeRouter } from './harness/home-router.ts'

const root = join(import.meta.dirname, '..')
const homelab = join(root, 'bin/homelab')
const fixtures = join(root, 'metal/discover/fixtures')
/** Deadline for waits: only a hang reaches it. */
const HANG_MS = 120_000
const SHA = '0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef'

interface Lab {
  net: TestNet
  ctl: Host
  dir: string
}

/** A segment with a controller at 10.99.0.2 (default route via 10.99.0.1) whose resolv.conf names two servers. */
async function withLab(label: string, run: (lab: Lab) => Promise<void>): Promise<void> {
  const net = await TestNet.create(label)
  const dir = mkdtempSync(join(tmpdir(), `hl-${label}-`))
  let netnsEtc: string | undefined
  try {
    const ctl = await net.host('ctl', '10.99.0.2/24')
    await ctl.run(['ip', 'route', 'add', 'default', 'via', '10.99.0.1'])
    // `ip netns exec` bind-mounts /etc/netns/NS/resolv.conf over /etc/resolv.conf inside the namespace.
    netnsEtc = join('/etc/netns', ctl.ns)
    mkdirSync(netnsEtc, { recursive: true })
    writeFileSync(
      join(netnsEtc, 'resolv.conf'),
      'nameserver 127.0.0.1\nnameserver 10.99.0.53\nnameserver 10.99.0.54\n',
    )
    await run({ net, ctl, dir })
  } finally {
    await net.destroy()
    if (netnsEtc !== undefined) rmSync(netnsEtc, { recursive: true, force: true })
    rmSync(dir, { recursive: true, force: true })
  }
}

/** Runs the CLI inside the controller's namespace; resolves with its exit code and output. */
async function cli(ctl: Host, dir: string, args: string[]): Promise<{ code: number | string; out: string }> {
  const p = ctl.spawn(['env', `HOME=${dir}`, 'NO_COLOR=1', homelab, ...args])
  const code = await p.exited
  return { code, out: p.output() }
}

function events(out: string): Record<string, unknown>[] {
  return out
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>)
}

const initArgs = (file: string) => [
  'init',
  '--json',
  '--config',
  file,
  '--yes',
  '--iso-sha256',
  SHA,
  '--seed',
  'https://github.com/example/homelab',
  '--timezone',
  'Europe/Paris',
]

test('homelab init beside a home router (dnsmasq) proposes proxy mode, with the namespace subnet, gateway and DNS', async () => {
  await withLab('init-p', async ({ net, ctl, dir }) => {
    const router = await net.host('router', '10.99.0.1/24')
    startHomeRouter(router, dir)
    const file = join(dir, 'homelab.yaml')
    const run = await cli(ctl, dir, initArgs(file))
    assert.equal(run.code, 0, run.out)
    const text = readFileSync(file, 'utf8')
    const schema = relative(dir, join(root, 'homelab.schema.json'))
    assert.ok(text.startsWith(`# yaml-language-server: $schema=${schema}\n`), text)
    const doc = parseDocument(text).toJS() as {
      network: Record<string, unknown>
      os: Record<string, unknown>
    }
    assert.deepEqual(doc.network, {
      interface: 'eth0',
      subnet: '10.99.0.0/24',
      gateway: '10.99.0.1',
      controller: '10.99.0.2',
      dns: ['10.99.0.53', '10.99.0.54'],
      dhcp: { mode: 'proxy' },
    })
    assert.match(
      text,
      /mode: proxy # a DHCP server answers on this segment \(10\.99\.0\.1 \(offered 10\.99\.0\.1\d\d\)\)/,
    )
    // The key it made: private part 0600, its public part in the config.
    assert.equal(doc.os.sshPublicKey, '~/.ssh/id_ed25519.pub')
    assert.equal(statSync(join(dir, '.ssh/id_ed25519')).mode & 0o777, 0o600)
    assert.ok(
      events(run.out).some((e) => e.type === 'init.valid'),
      run.out,
    )
    // Only a DISCOVER was sent, never a REQUEST: the router leased nothing.
    assert.equal(readFileSync(join(dir, 'router.leases'), 'utf8'), '')
    // Never overwritten without --force.
    const again = await cli(ctl, dir, initArgs(file))
    assert.equal(again.code, 2)
    assert.match(again.out, /Cannot write .*homelab\.yaml: it exists \(pass --force to replace it\)/)
    assert.equal(readFileSync(file, 'utf8'), text)
  })
})

test('homelab init on a segment without a DHCP server proposes full mode', async () => {
  await withLab('init-f', async ({ ctl, dir }) => {
    const file = join(dir, 'homelab.yaml')
    const run = await cli(ctl, dir, [...initArgs(file), '--probe', '2'])
    assert.equal(run.code, 0, run.out)
    const doc = parseDocument(readFileSync(file, 'utf8')).toJS() as { network: Record<string, unknown> }
    assert.deepEqual(doc.network.dhcp, { mode: 'full' })
    assert.equal(doc.network.gateway, '10.99.0.1')
    assert.deepEqual(doc.network.dns, ['10.99.0.53', '10.99.0.54'])
  })
})

/** A DHCP client in its own namespace; the spawned process is killed with the net. */
async function client(
  net: TestNet,
  label: string,
  mac: string,
  args: (host: Host) => string[],
): Promise<NsProcess> {
  const host = await net.host(label, '', { mac })
  return host.spawn(args(host))
}

test('homelab discover hears udhcpc (UEFI) and dhclient (BIOS), answers nothing, and --add appends them (golden)', async () => {
  await withLab('disc', async ({ net, ctl, dir }) => {
    const file = join(dir, 'homelab.yaml')
    copyFileSync(join(fixtures, 'discover-before.yaml'), file)
    // Everything the controller sends over UDP, seen from another port of the switch.
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
    const seen = (mac: string) =>
      events(discover.output()).find((e) => e.type === 'discover.machine' && e.mac === mac)
    await waitFor(
      'discover to listen',
      () => (events(discover.output()).some((e) => e.type === 'discover.listening') ? true : undefined),
      HANG_MS,
    )
    // UEFI x64 PXE: busybox udhcpc with the PXE vendor class and option 93 = 7.
    await client(net, 'uefi', '00:1a:11:00:00:21', () => [
      'busybox',
      'udhcpc',
      '-i',
      'eth0',
      '-f',
      '-n',
      '-t',
      '1000',
      '-T',
      '1',
      '-s',
      '/bin/true',
      '-V',
      'PXEClient:Arch:00007:UNDI:003016',
      '-x',
      '0x5d:0007',
    ])
    const uefi = await waitFor('the UEFI client', () => seen('00:1a:11:00:00:21'), HANG_MS)
    // Legacy BIOS PXE: ISC dhclient configured to send option 93 = 0 and the PXE vendor class.
    const conf = join(dir, 'dhclient.conf')
    writeFileSync(
      conf,
      'option pxe-arch code 93 = unsigned integer 16;\nsend pxe-arch 0;\nsend vendor-class-identifier "PXEClient:Arch:00000:UNDI:002001";\n',
    )
    await client(net, 'bios', '02:00:00:00:00:22', () => [
      'dhclient',
      '-d',
      '-1',
      '-v',
      '-cf',
      conf,
      '-sf',
      '/bin/true',
      '-lf',
      join(dir, 'dhclient.leases'),
      '-pf',
      join(dir, 'dhclient.pid'),
      'eth0',
    ])
    const bios = await waitFor('the BIOS client', () => seen('02:00:00:00:00:22'), HANG_MS)
    // A machine already in homelab.yaml, asking for an address without netbooting.
    await client(net, 'known', '00:1a:11:00:00:20', () => [
      'busybox',
      'udhcpc',
      '-i',
      'eth0',
      '-f',
      '-n',
      '-t',
      '1000',
      '-T',
      '1',
      '-s',
      '/bin/true',
    ])
    const known = await waitFor('the known machine', () => seen('00:1a:11:00:00:20'), HANG_MS)

    assert.deepEqual(
      { vendor: uefi.vendor, firmware: uefi.firmwareLabel, netboot: uefi.netboot, known: uefi.known },
      { vendor: 'Google, Inc.', firmware: 'UEFI', netboot: true, known: undefined },
    )
    assert.deepEqual(
      { vendor: bios.vendor, firmware: bios.firmwareLabel, netboot: bios.netboot },
      { vendor: 'locally administered', firmware: 'BIOS', netboot: true },
    )
    assert.deepEqual(
      { firmware: known.firmwareLabel, known: known.known },
      { firmware: 'not netbooting', known: 'metal0' },
    )

    // Ctrl-C ends the discovery; --add then writes the new netbooting machines.
    discover.child.kill('SIGINT')
    assert.equal(await discover.exited, 0, discover.output())
    const edited = events(discover.output()).find((e) => e.type === 'config.edited')
    assert.deepEqual(edited?.machines, [
      { name: 'metal1', mac: '00:1a:11:00:00:21', ip: '10.99.0.11', role: 'server' },
      { name: 'metal2', mac: '02:00:00:00:00:22', ip: '10.99.0.12', role: 'server' },
    ])
    const after = readFileSync(file, 'utf8')
    const golden = join(fixtures, 'discover-after.yaml')
    if (process.env.UPDATE_GOLDEN === '1') writeFileSync(golden, after)
    assert.equal(after, readFileSync(golden, 'utf8'))
    const before = readFileSync(join(fixtures, 'discover-before.yaml'), 'utf8')
    assert.ok(
      after.startsWith(before),
      'the original file is a prefix of the result: only entries were added',
    )
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
  })
})

test('homelab discover --wake sends Wake-on-LAN to machines of the config only', async () => {
  await withLab('dwake', async ({ net, ctl, dir }) => {
    const file = join(dir, 'homelab.yaml')
    copyFileSync(join(fixtures, 'discover-before.yaml'), file)
    const sleeper = await net.host('sleeper', '')
    const listener = sleeper.spawn([join(root, 'tools/node24'), join(root, 'test/harness/wol-listen.ts')])
    await waitFor(
      'the Wake-on-LAN listener',
      () => (/LISTENING/.test(listener.output()) ? true : undefined),
      HANG_MS,
    )
    const discover = ctl.spawn([
      'env',
      `HOME=${dir}`,
      homelab,
      'discover',
      '--json',
      '--wake',
      'metal0',
      '--config',
      file,
    ])
    await waitFor(
      'the magic packet',
      () => (/WAKE 00:1a:11:00:00:20/.test(listener.output()) ? true : undefined),
      HANG_MS,
    )
    await waitFor(
      'the wake event',
      () => events(discover.output()).find((e) => e.type === 'discover.wake'),
      HANG_MS,
    )
    discover.child.kill('SIGINT')
    assert.equal(await discover.exited, 0, discover.output())
    assert.deepEqual(
      events(discover.output()).find((e) => e.type === 'discover.wake'),
      { type: 'discover.wake', mac: '00:1a:11:00:00:20', name: 'metal0' },
    )
    // Only known machines are woken; the file is not touched without --add.
    const unknown = await cli(ctl, dir, [
      'discover',
      '--wake',
      '00:1a:11:00:00:99',
      '--for',
      '1',
      '--config',
      file,
    ])
    assert.equal(unknown.code, 2)
    assert.match(
      unknown.out,
      /--wake: "00:1a:11:00:00:99" is not a machine of .*known: metal0 00:1a:11:00:00:20/,
    )
    assert.equal(readFileSync(file, 'utf8'), readFileSync(join(fixtures, 'discover-before.yaml'), 'utf8'))
  })
})

test('homelab init on a terminal asks only what it cannot find, with the defaults shown', async () => {
  await withLab('init-t', async ({ ctl, dir }) => {
    const file = join(dir, 'homelab.yaml')
    mkdirSync(join(dir, '.ssh'))
    writeFileSync(
      join(dir, '.ssh/id_ed25519.pub'),
      'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA test\n',
    )
    const command = `env HOME=${dir} NO_COLOR=1 TZ=UTC ${homelab} init --config ${file} --probe 1`
    // script(1) gives the CLI a terminal; the answers are typed once each prompt is shown.
    const child = spawn('ip', ['netns', 'exec', ctl.ns, 'script', '-qfec', command, '/dev/null'], {
      stdio: ['pipe', 'pipe', 'pipe'],
    })
    let out = ''
    child.stdout.on('data', (c: Buffer) => {
      out += c.toString()
    })
    child.stderr.on('data', (c: Buffer) => {
      out += c.toString()
    })
    const exited = new Promise<number | null>((resolve) => child.on('close', resolve))
    try {
      let seen = 0
      const answer = async (prompt: string, text: string) => {
        const at = await waitFor(
          `the prompt "${prompt}"`,
          () => {
            const i = out.indexOf(prompt, seen)
            return i < 0 ? undefined : i
          },
          HANG_MS,
        )
        seen = at + prompt.length
        child.stdin.write(`${text}\r`)
      }
      await answer('Fedora release [43]: ', '')
      await answer("(from the release's CHECKSUM file): ", SHA)
      await answer('Time zone [UTC]: ', 'Europe/Paris')
      await answer('Seed repository ArgoCD reads first [https://github.com/homelab-as-code/homelab]: ', '')
      await answer('Domain (apps are served as <app>.DOMAIN) [home.arpa]: ', 'lab.example.com')
      assert.equal(await exited, 0, out)
    } finally {
      child.kill('SIGKILL')
      await exited
    }
    assert.doesNotMatch(out, /Gateway|interface \[|subnet \[|SSH key/, out)
    const doc = parseDocument(readFileSync(file, 'utf8')).toJS() as {
      os: Record<string, unknown>
      gitops: Record<string, unknown>
      network: Record<string, unknown>
    }
    assert.deepEqual(
      [doc.os.release, doc.os.timezone, doc.os.sshPublicKey, doc.gitops.domain, doc.network.dhcp],
      [43, 'Europe/Paris', '~/.ssh/id_ed25519.pub', 'lab.example.com', { mode: 'full' }],
    )
    assert.match(out, /is valid; it lists no machine yet/)
  })
})
