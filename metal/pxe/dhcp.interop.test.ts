/**
 * The DHCP service against real clients (busybox udhcpc, ISC dhclient, nmap, and our
 * PXE-firmware-like client) and beside a real home-router DHCP server (dnsmasq), each
 * test in its own network namespaces on real ports 67/68/4011.
 *
 * The server prints its events as it goes: a test waits for the ones it counts (`until`). A
 * check that nothing was answered is closed by a marker packet sent after it along the same path.
 */
import assert from 'node:assert/strict'
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { startHomeRouter } from '../../test/harness/home-router.ts'
import { type Host, type NsProcess, sh, TestNet, waitFor, within } from '../../tools/netns.ts'
import type { BootEvent } from './events.ts'

const root = join(import.meta.dirname, '../..')
const node24 = join(root, 'tools/node24')
const PXE_VENDOR = 'PXEClient:Arch:00007:UNDI:003016'
const KNOWN_MAC = '02:00:00:00:aa:01'
const UNKNOWN_MAC = '02:00:00:00:bb:01'
const NMAP_MAC = 'de:ad:c0:de:ca:fe' // what nmap's broadcast-dhcp-discover puts in chaddr
/** Deadline for waits: only a hang reaches it. */
const HANG_MS = 120_000

interface Server {
  readonly proc: NsProcess
  events(): BootEvent[]
  /** Waits until `count` events match, and returns them (a test then asserts the exact list). */
  until(what: string, match: (e: BootEvent) => boolean, count?: number): Promise<BootEvent[]>
}

async function startServer(host: Host, config: Record<string, unknown>): Promise<Server> {
  const proc = host.spawn([
    node24,
    join(root, 'tools/pxe/dhcp-run.ts'),
    '--config',
    JSON.stringify({ interface: host.ifname, serverAddress: host.ip, ...config }),
  ])
  const events = () =>
    proc
      .output()
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as BootEvent)
  const until = (what: string, match: (e: BootEvent) => boolean, count = 1): Promise<BootEvent[]> =>
    waitFor(
      what,
      () => {
        const found = events().filter(match)
        return found.length >= count ? found : undefined
      },
      HANG_MS,
    ).catch((error: Error) => {
      throw new Error(`${error.message}; its output: ${proc.output()}`)
    })
  await until('the DHCP server to listen', (e) => e.type === 'pxe.listening')
  return { proc, events, until }
}

const sent = (e: BootEvent): boolean => e.type === 'dhcp' && e.direction === 'out'

/**
 * Closes a check that `client` saw no DHCP reply: `from` sends a broadcast to UDP port 9 (discard)
 * out of the same interface a reply would take; once the client's tcpdump shows it, everything
 * sent before it has been shown too. Returns the tcpdump output before the marker.
 */
async function beforeMarker(from: Host, dump: NsProcess): Promise<string> {
  await from.run([
    node24,
    '-e',
    // Bound to its address, as our server's socket is: that picks the interface for 255.255.255.255.
    `const s=require('node:dgram').createSocket('udp4');s.bind(0,'${from.ip}',()=>{s.setBroadcast(true);s.send(Buffer.from('marker'),9,'255.255.255.255',(e)=>{if(e)throw e;s.close()})})`,
  ])
  const isMarker = (l: string): boolean => l.includes(` ${from.ip}.`) && l.includes(' > 255.255.255.255.9: ')
  const lines = await waitFor(
    'the marker in tcpdump',
    () => {
      const all = dump.output().split('\n')
      return all.some(isMarker) ? all : undefined
    },
    HANG_MS,
  ).catch((error: Error) => {
    throw new Error(`${error.message}; tcpdump: ${dump.output()}`)
  })
  return lines.slice(0, lines.findIndex(isMarker)).join('\n')
}

const machines = [
  { name: 'node1', mac: KNOWN_MAC, ip: '10.99.0.50' },
  { name: 'nmapbox', mac: NMAP_MAC, ip: '10.99.0.51' },
]
const full = {
  mode: 'full',
  machines,
  subnetMask: '255.255.255.0',
  gateway: '10.99.0.1',
  dns: ['10.99.0.1'],
  leaseSeconds: 600,
}

/** A udhcpc hook script that prints what udhcpc learned, one line per event. */
function udhcpcScript(dir: string): string {
  const path = join(dir, 'udhcpc.sh')
  writeFileSync(
    path,
    '#!/bin/sh\necho "UDHCPC $1 ip=$ip serverid=$serverid siaddr=$siaddr boot_file=$boot_file"\n',
  )
  chmodSync(path, 0o755)
  return path
}

/**
 * udhcpc options for a client that must get a lease: up to 10 DISCOVERs 3 s apart. Only a server
 * that does not answer makes it wait; one that does is answered at once.
 */
const patient = ['-t', '10', '-T', '3']

function udhcpc(script: string, extra: string[] = []): string[] {
  return [
    'busybox',
    'udhcpc',
    '-i',
    'eth0',
    '-f',
    '-q',
    '-n',
    '-s',
    script,
    '-V',
    PXE_VENDOR,
    '-x',
    '0x5d:0007',
    ...extra,
  ]
}

async function withLab(label: string, body: (lab: TestNet, dir: string) => Promise<void>): Promise<void> {
  const lab = await TestNet.create(label)
  const dir = mkdtempSync(join(tmpdir(), 'hl-dhcp-'))
  try {
    await body(lab, dir)
  } finally {
    await lab.destroy()
    rmSync(dir, { recursive: true, force: true })
  }
  // This test's own namespaces are gone (others, of tests running beside it, may not be).
  const left = (await sh('ip', ['netns', 'list'])).split('\n').filter((l) => l.startsWith(`hlt-${lab.id}-`))
  assert.deepEqual(left, [], 'namespaces left behind')
}

test('serveDhcp() full mode: udhcpc with PXE options gets its configured address and the UEFI boot file', async () => {
  await withLab('dfull', async (lab, dir) => {
    const ctl = await lab.host('ctl', '10.99.0.2/24')
    const client = await lab.host('client', '', { mac: KNOWN_MAC })
    const server = await startServer(ctl, full)
    const out = await client.run(udhcpc(udhcpcScript(dir), patient))
    assert.match(
      out,
      /UDHCPC bound ip=10\.99\.0\.50 serverid=10\.99\.0\.2 siaddr=10\.99\.0\.2 boot_file=uefi\/shimx64\.efi/,
    )
    const replies = await server.until('the ACK', sent, 2)
    // A client that resent a packet before our answer came gets the same answer again: compare
    // the distinct replies.
    assert.deepEqual(
      [
        ...new Set(
          replies.map((e) =>
            JSON.stringify(e.type === 'dhcp' && [e.message, e.machine, e.ip, e.bootFile, e.port]),
          ),
        ),
      ],
      [
        JSON.stringify(['offer', 'node1', '10.99.0.50', 'uefi/shimx64.efi', 67]),
        JSON.stringify(['ack', 'node1', '10.99.0.50', 'uefi/shimx64.efi', 67]),
      ],
    )
  })
})

test('serveDhcp() full mode: ISC dhclient gets its configured address', async () => {
  await withLab('dhcli', async (lab, dir) => {
    const ctl = await lab.host('ctl', '10.99.0.2/24')
    const client = await lab.host('client', '', { mac: KNOWN_MAC })
    await startServer(ctl, full)
    const script = join(dir, 'dhclient.sh')
    const log = join(dir, 'dhclient.log')
    writeFileSync(
      script,
      `#!/bin/sh\necho "$reason ip=$new_ip_address mask=$new_subnet_mask routers=$new_routers" >> ${log}\n`,
    )
    chmodSync(script, 0o755)
    // dhclient forks into the background once bound; lab.destroy() kills it by PID.
    await client.run([
      'dhclient',
      '-1',
      '-sf',
      script,
      '-lf',
      join(dir, 'leases'),
      '-pf',
      join(dir, 'pid'),
      'eth0',
    ])
    assert.match(
      readFileSync(log, 'utf8'),
      /BOUND ip=10\.99\.0\.50 mask=255\.255\.255\.0 routers=10\.99\.0\.1/,
    )
  })
})

test('serveDhcp() full mode: nmap broadcast-dhcp-discover sees our offer', async () => {
  await withLab('dnmap', async (lab) => {
    const ctl = await lab.host('ctl', '10.99.0.2/24')
    const client = await lab.host('client', '10.99.0.60/24')
    await startServer(ctl, full)
    const out = await client.run([
      'nmap',
      '-e',
      'eth0',
      '--script',
      'broadcast-dhcp-discover',
      '--script-args',
      // nmap listens this long for offers (ours comes within milliseconds).
      'broadcast-dhcp-discover.timeout=5',
    ])
    assert.match(out, /IP Offered: 10\.99\.0\.51/)
    assert.match(out, /Server Identifier: 10\.99\.0\.2/)
    assert.match(out, /Subnet Mask: 255\.255\.255\.0/)
  })
})

test('serveDhcp() full mode: an unknown MAC gets a dynamic lease but never boot information', async () => {
  await withLab('dunkn', async (lab, dir) => {
    const ctl = await lab.host('ctl', '10.99.0.2/24')
    const client = await lab.host('client', '', { mac: UNKNOWN_MAC })
    const server = await startServer(ctl, {
      ...full,
      dynamicRange: { start: '10.99.0.200', end: '10.99.0.210' },
    })
    const out = await client.run(udhcpc(udhcpcScript(dir), patient))
    assert.match(out, /UDHCPC bound ip=10\.99\.0\.200 serverid=10\.99\.0\.2 siaddr= boot_file=$/m)
    await server.until('the unknown MAC reported', (e) => e.type === 'dhcp.ignored')
    // udhcpc sent a DISCOVER and a REQUEST, both from the unknown MAC.
    const ignored = server.events().filter((e) => e.type === 'dhcp.ignored')
    assert.equal(ignored.length, 1, 'an unknown MAC is reported once')
    assert.equal(ignored[0]?.type === 'dhcp.ignored' && ignored[0].mac, UNKNOWN_MAC)
  })
})

test('serveDhcp() proxy mode: an unknown MAC gets no answer at all', async () => {
  await withLab('dpunk', async (lab, dir) => {
    const ctl = await lab.host('ctl', '10.99.0.2/24')
    const client = await lab.host('client', '', { mac: UNKNOWN_MAC })
    const server = await startServer(ctl, { mode: 'proxy', machines })
    const dump = client.spawn([
      'tcpdump',
      '-i',
      'eth0',
      '-n',
      '-l',
      'udp and (src port 67 or src port 4011 or dst port 9)',
    ])
    await waitFor('tcpdump', () => (/listening on/.test(dump.output()) ? true : undefined), HANG_MS)
    await assert.rejects(client.run(udhcpc(udhcpcScript(dir), ['-t', '2', '-T', '1'])), /Command failed/)
    await server.until('the unknown MAC reported', (e) => e.type === 'dhcp.ignored')
    assert.doesNotMatch(await beforeMarker(ctl, dump), /BOOTP\/DHCP/)
    assert.deepEqual(
      server
        .events()
        .filter((e) => e.type !== 'pxe.listening')
        .map((e) => e.type),
      ['dhcp.ignored'],
    )
  })
})

/** The home router, logging each DHCP exchange to its output. */
const startRouter = (router: Host, dir: string): NsProcess =>
  startHomeRouter(router, dir, ['--log-dhcp', '--log-facility=-'])

test('serveDhcp() proxy mode beside dnsmasq: PXE firmware takes the router lease and our boot file, then the 4011 ACK', async () => {
  await withLab('dprox', async (lab, dir) => {
    const router = await lab.host('router', '10.99.0.1/24')
    const ctl = await lab.host('ctl', '10.99.0.2/24')
    const client = await lab.host('client', '', { mac: KNOWN_MAC })
    startRouter(router, dir)
    const server = await startServer(ctl, { mode: 'proxy', machines })
    await client.run(['ip', 'route', 'add', '255.255.255.255/32', 'dev', 'eth0'])
    const out = await client.run([
      node24,
      join(root, 'tools/pxe/dhcp-test-client.ts'),
      'pxe',
      '--mac',
      KNOWN_MAC,
      '--arch',
      '7',
    ])
    const result = JSON.parse(out.trim().split('\n').pop() as string)
    const proxyOffer = result.offers.find((o: { yiaddr: string }) => o.yiaddr === '0.0.0.0')
    assert.deepEqual(proxyOffer, {
      server: '10.99.0.2',
      yiaddr: '0.0.0.0',
      siaddr: '10.99.0.2',
      file: 'uefi/shimx64.efi',
      bootfile: 'uefi/shimx64.efi',
      vendorClass: 'PXEClient',
      vendorOptions: '060108ff',
      guidEchoed: true,
    })
    assert.equal(result.ack.server, '10.99.0.1', 'the lease comes from the router')
    assert.match(result.ack.yiaddr, /^10\.99\.0\.(1[0-4][0-9]|150)$/)
    assert.equal(result.proxyAck?.bootfile, 'uefi/shimx64.efi', `4011 ACK missing: ${out}`)
    assert.equal(result.proxyAck?.file, 'uefi/shimx64.efi')
    assert.equal(result.proxyAck?.server, '10.99.0.2')
    const ports = (await server.until('the 4011 ACK', sent, 2)).flatMap((e) =>
      e.type === 'dhcp' ? [[e.message, e.port]] : [],
    )
    assert.deepEqual(ports, [
      ['offer', 67],
      ['ack', 4011],
    ])
  })
})

test('serveDhcp() proxy mode beside a late dnsmasq: udhcpc with a PXE vendor class, which takes the first offer, is told no and ends with the router lease', async () => {
  await withLab('dpudh', async (lab, dir) => {
    const router = await lab.host('router', '10.99.0.1/24')
    const ctl = await lab.host('ctl', '10.99.0.2/24')
    const client = await lab.host('client', '', { mac: KNOWN_MAC })
    const server = await startServer(ctl, { mode: 'proxy', machines })
    // The worst case: udhcpc takes our address-less proxy offer first and asks us for 0.0.0.0.
    // The router starts only once we have said no, so that order is certain.
    const dhcp = client.spawn(udhcpc(udhcpcScript(dir), patient))
    await server.until('our NAK', (e) => sent(e) && e.type === 'dhcp' && e.message === 'nak')
    startRouter(router, dir)
    const code = await within(dhcp.exited, HANG_MS, 'still running')
    const out = dhcp.output()
    assert.equal(code, 0, out)
    const bound = /UDHCPC bound ip=(\S+) serverid=(\S+)/.exec(out)
    assert.ok(bound, `udhcpc did not bind: ${out}`)
    assert.equal(bound[2], '10.99.0.1', 'the lease must come from the router')
    assert.match(bound[1] as string, /^10\.99\.0\.(1[0-4][0-9]|150)$/)
  })
})
