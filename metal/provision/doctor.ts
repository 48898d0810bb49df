/**
 * `homelab doctor`: checks the controller and its network before anything is
 * booted, and says how to fix each problem. Also run first by `homelab metal`.
 *
 * Checks: the interface and its address; privileges for ports 67/69/80/4011;
 * those ports being free (naming the process that holds one); other DHCP servers
 * on the segment (an error in full mode, expected in proxy mode); the installer
 * ISO; and machine addresses already answered by hosts that are not the machine.
 */
import { createSocket, type Socket } from 'node:dgram'
import { readdir, readFile, readlink } from 'node:fs/promises'
import { createServer } from 'node:net'
import { networkInterfaces } from 'node:os'
import type { Derived } from '../../core/config/checks.ts'
import type { Config } from '../../core/config/schema.ts'
import { parseMac } from '../../lib/ipv4/index.ts'
import { DHCP_PROBE_MS } from '../discover/defaults.ts'
import { describeOffer, probeDhcp } from '../discover/dhcp-probe.ts'
import { addressOnInterface } from '../pxe/interface.ts'

export type CheckStatus = 'ok' | 'warn' | 'fail'

export interface DoctorCheck {
  readonly type: 'doctor.check'
  readonly check: string
  readonly status: CheckStatus
  readonly detail: string
  /** How to fix it, when status is not ok. */
  readonly fix?: string
}

export interface DoctorOptions {
  readonly config: Config
  readonly derived: Derived
  /** Where a verified ISO would be (metal/os/iso.ts); undefined skips that check. */
  readonly isoStatus?: () => Promise<{ status: CheckStatus; detail: string; fix?: string }>
  /** How long to listen for DHCP offers (routers such as dnsmasq ping an address for ~3 s before offering it). @default 4000 */
  readonly dhcpProbeMs?: number
  readonly emit: (check: DoctorCheck) => void
}

const PORTS: ReadonlyArray<{ port: number; proto: 'udp' | 'tcp'; service: string; anyAddress: boolean }> = [
  { port: 67, proto: 'udp', service: 'DHCP', anyAddress: true },
  { port: 4011, proto: 'udp', service: 'proxyDHCP', anyAddress: false },
  { port: 69, proto: 'udp', service: 'TFTP', anyAddress: false },
  { port: 80, proto: 'tcp', service: 'HTTP', anyAddress: false },
]

/** Runs every check; resolves true when none failed. */
export async function doctor(options: DoctorOptions): Promise<boolean> {
  const { config, derived, emit } = options
  let failed = false
  const report = (check: string, status: CheckStatus, detail: string, fix?: string) => {
    if (status === 'fail') failed = true
    emit({ type: 'doctor.check', check, status, detail, ...(fix === undefined ? {} : { fix }) })
  }

  let address: string | undefined
  try {
    address = config.network.controller ?? addressOnInterface(config.network.interface, derived.subnet)
    if (config.network.controller !== undefined) addressOnInterface(config.network.interface, derived.subnet)
    const present = networkInterfaces()[config.network.interface]?.some((a) => a.address === address) === true
    if (!present) {
      report(
        'interface',
        'fail',
        `${config.network.interface} does not have network.controller ${address}`,
        `add it (\`ip addr add ${address}/${derived.subnet.prefix} dev ${config.network.interface}\`) or fix network.controller`,
      )
      address = undefined
    } else {
      report('interface', 'ok', `${config.network.interface} has ${address}`)
    }
  } catch (err) {
    report(
      'interface',
      'fail',
      (err as Error).message,
      'see network.interface and network.subnet in homelab.yaml',
    )
  }

  const privileged = await canBindLowPorts()
  report(
    'privileges',
    privileged ? 'ok' : 'fail',
    privileged ? 'may bind ports below 1024' : 'cannot bind ports 67, 69 and 80',
    privileged ? undefined : 'run as root (sudo), or grant CAP_NET_BIND_SERVICE to node',
  )

  if (address !== undefined && privileged) {
    for (const p of PORTS) {
      if (p.service === 'proxyDHCP' && config.network.dhcp.mode !== 'proxy') continue
      const bindAddress = p.anyAddress ? '0.0.0.0' : address
      const error = await tryBind(p.proto, p.port, bindAddress)
      if (error === undefined) {
        report(`port ${p.port}/${p.proto}`, 'ok', `${p.service} port is free`)
      } else {
        const owner = error === 'EADDRINUSE' ? await portOwner(p.proto, p.port) : undefined
        report(
          `port ${p.port}/${p.proto}`,
          'fail',
          `${p.service} port ${p.port}/${p.proto} on ${bindAddress} is not free (${error}${owner === undefined ? '' : `, held by ${owner}`})`,
          p.port === 67
            ? 'stop the other DHCP server on this controller (e.g. `systemctl stop dnsmasq`), or run homelab elsewhere'
            : `stop the process holding port ${p.port}`,
        )
      }
    }
    await probeDhcpServers(options, address, report)
  }

  if (options.isoStatus !== undefined) {
    const iso = await options.isoStatus()
    report('iso', iso.status, iso.detail, iso.fix)
  }

  if (address !== undefined) await checkMachineAddresses(config, address, report)
  return !failed
}

async function canBindLowPorts(): Promise<boolean> {
  const error = await tryBind('tcp', 1, '127.0.0.1')
  return error === undefined || error === 'EADDRINUSE'
}

function tryBind(proto: 'udp' | 'tcp', port: number, address: string): Promise<string | undefined> {
  return new Promise((resolve) => {
    if (proto === 'tcp') {
      const server = createServer()
      server.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message))
      server.listen({ port, host: address, exclusive: true }, () => server.close(() => resolve(undefined)))
      return
    }
    // No SO_REUSEADDR: a port held by any other socket is reported, as the server would need it.
    const socket = createSocket({ type: 'udp4', reuseAddr: false })
    socket.once('error', (err: NodeJS.ErrnoException) => {
      socket.close()
      resolve(err.code ?? err.message)
    })
    socket.bind({ port, address, exclusive: true }, () => socket.close(() => resolve(undefined)))
  })
}

/** Finds "name (pid N)" of the process holding a port, from /proc; undefined when unknown. */
export async function portOwner(proto: 'udp' | 'tcp', port: number): Promise<string | undefined> {
  const inodes = new Set<string>()
  const table = await readFile(`/proc/net/${proto}`, 'utf8').catch(() => '')
  for (const line of table.split('\n').slice(1)) {
    const fields = line.trim().split(/\s+/)
    const local = fields[1]
    const inode = fields[9]
    if (local === undefined || inode === undefined) continue
    if (Number.parseInt(local.split(':')[1] ?? '', 16) === port && inode !== '0') inodes.add(inode)
  }
  if (inodes.size === 0) return undefined
  for (const pid of await readdir('/proc').catch(() => [] as string[])) {
    if (!/^\d+$/.test(pid) || Number(pid) === process.pid) continue
    const fds = await readdir(`/proc/${pid}/fd`).catch(() => [] as string[])
    for (const fd of fds) {
      const target = await readlink(`/proc/${pid}/fd/${fd}`).catch(() => '')
      const inode = /^socket:\[(\d+)\]$/.exec(target)?.[1]
      if (inode !== undefined && inodes.has(inode)) {
        // The program's name from its command line (a thread may have renamed comm).
        const argv0 = (await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '')).split('\0')[0] ?? ''
        const name =
          argv0.split('/').pop() || (await readFile(`/proc/${pid}/comm`, 'utf8').catch(() => '?')).trim()
        return `${name} (pid ${pid})`
      }
    }
  }
  return undefined
}

function bindUdp(port: number, address: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = createSocket({ type: 'udp4', reuseAddr: true })
    socket.once('error', reject)
    socket.bind({ port, address }, () => {
      socket.off('error', reject)
      resolve(socket)
    })
  })
}

/** Broadcasts one DHCPDISCOVER from the interface (never followed by a REQUEST) and lists who offers. */
async function probeDhcpServers(
  options: DoctorOptions,
  address: string,
  report: (check: string, status: CheckStatus, detail: string, fix?: string) => void,
): Promise<void> {
  const { config } = options
  const probe = await probeDhcp({
    interface: config.network.interface,
    address,
    waitMs: options.dhcpProbeMs ?? DHCP_PROBE_MS,
  })
  if (!probe.ok) {
    report(
      'dhcp servers',
      'warn',
      `could not probe for DHCP servers: ${probe.reason}`,
      'stop the DHCP client holding port 68 for a moment, or ignore this',
    )
    return
  }
  const servers = probe.offers
  const found = servers.map(describeOffer).join(', ')
  if (config.network.dhcp.mode === 'full') {
    if (servers.length === 0) report('dhcp servers', 'ok', 'no other DHCP server answers on this segment')
    else
      report(
        'dhcp servers',
        'fail',
        `another DHCP server answers on this segment: ${found}`,
        'two DHCP servers fight over clients: set network.dhcp.mode: proxy to work beside it, or turn it off',
      )
  } else if (servers.length === 0) {
    report(
      'dhcp servers',
      'warn',
      'no DHCP server answered: in proxy mode your router must lease the addresses',
      "check the router's DHCP, or set network.dhcp.mode: full",
    )
  } else {
    report(
      'dhcp servers',
      'ok',
      `the router's DHCP answers: ${found} (proxy mode adds boot information beside it)`,
    )
  }
}

/** Makes the kernel resolve each machine's address (ARP), then compares the MAC that answered. */
async function checkMachineAddresses(
  config: Config,
  address: string,
  report: (check: string, status: CheckStatus, detail: string, fix?: string) => void,
): Promise<void> {
  const socket = await bindUdp(0, address)
  for (const m of config.machines) {
    await new Promise<void>((resolve) => socket.send(new Uint8Array(1), 9, m.ip, () => resolve()))
  }
  await new Promise((r) => setTimeout(r, 1500))
  socket.close()
  const arp = await readFile('/proc/net/arp', 'utf8').catch(() => '')
  const answered = new Map<string, string>()
  for (const line of arp.split('\n').slice(1)) {
    const [ip, , flags, mac, , device] = line.trim().split(/\s+/)
    if (ip === undefined || mac === undefined || device !== config.network.interface) continue
    if ((Number.parseInt(flags ?? '0', 16) & 0x2) !== 0 && mac !== '00:00:00:00:00:00') answered.set(ip, mac)
  }
  config.machines.forEach((m, i) => {
    const mac = answered.get(m.ip)
    const own = parseMac(m.mac)
    if (mac === undefined) report(`address ${m.name}`, 'ok', `${m.ip} is free (no host answers)`)
    else if (mac === own)
      report(`address ${m.name}`, 'ok', `${m.ip} is answered by ${m.name} itself (${mac})`)
    else
      report(
        `address ${m.name}`,
        'fail',
        `${m.ip} is answered by ${mac}, which is not ${m.name} (${own})`,
        `another host holds this address: give machines[${i}].ip another address, or free it (e.g. a DHCP reservation on the router)`,
      )
  })
}
