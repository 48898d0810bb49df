/**
 * The steps of `lab up` (labUp() in up.ts runs them in this order): the switch namespace with its
 * bridge, the home router on it, the controller's end (network.interface, marked as the lab's and
 * isolated), the router's DHCP server, and the power daemon that turns Wake-on-LAN into QEMU. Each
 * step makes its piece only when it is missing and keeps a process that still runs.
 */
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { Config } from '../core/config/schema.ts'
import { formatIPv4, type Subnet } from '../lib/ipv4/index.ts'
import { ip, isRunning, run, runningAfterStart, startDaemon, stopProcess, waitUntil } from './_process.ts'
import { routerRange } from './check.ts'
import { daemonMarker, dnsmasqMarker, type LabStep, link } from './host.ts'
import { powerSpec } from './power.ts'
import {
  BRIDGE,
  type LabNames,
  type LabPaths,
  type LabRecord,
  ROUTER_IF,
  SWITCH_PORT_CONTROLLER,
  SWITCH_PORT_ROUTER,
  WOL_PORT,
  writeJson,
} from './state.ts'

const DAEMON_ENTRY = join(import.meta.dirname, 'power-daemon.ts')

export type MutableLabRecord = { -readonly [K in keyof LabRecord]: LabRecord[K] }

/** What the steps of labUp() share. */
export interface LabBuild {
  readonly config: Config
  readonly subnet: Subnet
  readonly controller: string
  readonly names: LabNames
  readonly paths: LabPaths
  readonly stateDir: string
  /** Written to lab.json as the steps change it. */
  readonly record: MutableLabRecord
  step(name: string, status: LabStep['status'], detail?: string): void
}

/** The switch: a namespace holding the bridge. */
export async function _switch(lab: LabBuild, have: Set<string>): Promise<void> {
  const sw = lab.names.switchNs
  const swMade = await ensureNamespace(sw, have)
  if ((await link(BRIDGE, sw)) === undefined) {
    await ip(['link', 'add', BRIDGE, 'type', 'bridge', 'forward_delay', '0', 'stp_state', '0'], sw)
  }
  await ip(['link', 'set', BRIDGE, 'up'], sw)
  lab.step(`switch ${sw}`, swMade ? 'created' : 'exists', `bridge ${BRIDGE}`)
}

/** The home router: a namespace on the switch holding the gateway address. */
export async function _router(lab: LabBuild, have: Set<string>): Promise<void> {
  const { config, subnet } = lab
  const sw = lab.names.switchNs
  const rt = lab.names.routerNs
  const rtMade = await ensureNamespace(rt, have)
  if ((await link(ROUTER_IF, rt)) === undefined) {
    await ip(['link', 'del', SWITCH_PORT_ROUTER], sw).catch(() => undefined)
    await ip(['link', 'add', SWITCH_PORT_ROUTER, 'type', 'veth', 'peer', 'name', ROUTER_IF, 'netns', rt], sw)
  }
  await ip(['link', 'set', SWITCH_PORT_ROUTER, 'master', BRIDGE, 'up'], sw)
  await ip(['addr', 'replace', `${config.network.gateway}/${subnet.prefix}`, 'dev', ROUTER_IF], rt)
  await ip(['link', 'set', ROUTER_IF, 'up'], rt)
  lab.step(
    `router ${rt}`,
    rtMade ? 'created' : 'exists',
    `${ROUTER_IF} ${config.network.gateway}/${subnet.prefix}`,
  )
}

/** The controller's end: network.interface in this namespace, marked as the lab's. */
export async function _controllerEnd(lab: LabBuild): Promise<void> {
  const { subnet, controller } = lab
  const sw = lab.names.switchNs
  const iface = lab.config.network.interface
  const ifMade = (await link(iface)) === undefined
  if (ifMade) {
    await ip(['link', 'del', SWITCH_PORT_CONTROLLER], sw).catch(() => undefined)
    await ip(['link', 'add', iface, 'type', 'veth', 'peer', 'name', SWITCH_PORT_CONTROLLER, 'netns', sw])
    await ip(['link', 'set', 'dev', iface, 'alias', lab.names.alias])
  }
  await ip(['link', 'set', SWITCH_PORT_CONTROLLER, 'master', BRIDGE, 'up'], sw)
  await isolate(iface)
  await ip(['addr', 'replace', `${controller}/${subnet.prefix}`, 'dev', iface])
  await ip(['link', 'set', 'dev', iface, 'up'])
  lab.step(`controller ${iface}`, ifMade ? 'created' : 'exists', `${controller}/${subnet.prefix}`)
}

/** The router's DHCP server (proxy mode: the router leases, homelab metal adds boot information). */
export async function _routerDhcp(lab: LabBuild): Promise<void> {
  const { config, subnet, names, paths, record } = lab
  if (config.network.dhcp.mode === 'proxy') {
    const range = routerRange(subnet)
    const detail = `dnsmasq leases ${formatIPv4(range.start)}-${formatIPv4(range.end)}, log ${paths.dnsmasqLog}`
    if (await isRunning(record.dnsmasq?.pid, dnsmasqMarker(paths))) {
      lab.step('router DHCP', 'running', `pid ${record.dnsmasq?.pid}, ${detail}`)
    } else {
      const pid = await startDnsmasq(config, subnet, names, paths)
      record.dnsmasq = { pid }
      await writeJson(paths.labJson, record)
      lab.step('router DHCP', 'started', `pid ${pid}, ${detail}`)
    }
  } else {
    if (await stopProcess(record.dnsmasq?.pid, dnsmasqMarker(paths)))
      lab.step('router DHCP', 'stopped', 'full mode: homelab metal leases the addresses')
    delete record.dnsmasq
    await writeJson(paths.labJson, record)
  }
}

/** The power daemon: Wake-on-LAN -> QEMU; restarted when the machines changed. */
export async function _powerDaemon(lab: LabBuild): Promise<void> {
  const { paths, record, names, stateDir } = lab
  const sw = names.switchNs
  const specText = `${JSON.stringify(powerSpec(lab.config.machines), null, 2)}\n`
  const oldSpec = await readFile(paths.powerJson, 'utf8').catch(() => undefined)
  const marker = daemonMarker(stateDir)
  const daemonUp = await isRunning(record.daemon?.pid, marker)
  if (daemonUp && oldSpec === specText) {
    lab.step('power daemon', 'running', `pid ${record.daemon?.pid}, Wake-on-LAN on UDP ${WOL_PORT} in ${sw}`)
    return
  }
  if (daemonUp) await stopProcess(record.daemon?.pid, marker)
  await writeFile(paths.powerJson, specText, { mode: 0o600 })
  const pid = await startPowerDaemon(stateDir, names, paths)
  record.daemon = { pid }
  await writeJson(paths.labJson, record)
  lab.step(
    'power daemon',
    daemonUp ? 'restarted' : 'started',
    `pid ${pid}, Wake-on-LAN on UDP ${WOL_PORT} in ${sw}, log ${paths.powerLog}`,
  )
}

async function ensureNamespace(name: string, have: Set<string>): Promise<boolean> {
  const made = !have.has(name)
  if (made) await ip(['netns', 'add', name])
  await ip(['link', 'set', 'lo', 'up'], name)
  // A new namespace inherits the host's IPv4 settings (net.core.devconf_inherit_init_net=0), so
  // forwarding is turned off explicitly; and no IPv6: nothing to autoconfigure, nothing to route.
  const settings: Array<[string, string]> = [
    ['net/ipv4/ip_forward', '0'],
    ['net/ipv6/conf/all/disable_ipv6', '1'],
    ['net/ipv6/conf/default/disable_ipv6', '1'],
  ]
  for (const [key, value] of settings)
    await run('ip', ['netns', 'exec', name, 'sh', '-c', `echo ${value} > /proc/sys/${key}`])
  return made
}

/** The controller's end forwards nothing that arrives on it, and speaks no IPv6. */
async function isolate(iface: string): Promise<void> {
  await writeFile(`/proc/sys/net/ipv4/conf/${iface}/forwarding`, '0')
  await writeFile(`/proc/sys/net/ipv6/conf/${iface}/disable_ipv6`, '1').catch(() => undefined)
}

async function tail(path: string, lines = 15): Promise<string> {
  const text = await readFile(path, 'utf8').catch(() => '')
  return text.trim().split('\n').slice(-lines).join('\n')
}

async function startDnsmasq(
  config: Config,
  subnet: Subnet,
  names: LabNames,
  paths: LabPaths,
): Promise<number> {
  const range = routerRange(subnet)
  await mkdir(paths.routerDir, { recursive: true, mode: 0o700 })
  await rm(paths.dnsmasqLog, { force: true })
  const args = [
    'dnsmasq',
    '--no-daemon',
    '--port=0',
    `--interface=${ROUTER_IF}`,
    '--bind-interfaces',
    '--conf-file=/dev/null',
    '--no-resolv',
    '--no-hosts',
    '--pid-file=',
    '--log-facility=-',
    '--log-dhcp',
    `--dhcp-range=${formatIPv4(range.start)},${formatIPv4(range.end)},1h`,
    `--dhcp-option=3,${config.network.gateway}`,
    `--dhcp-leasefile=${paths.leases}`,
  ]
  const pid = await startDaemon(args, { ns: names.routerNs, logFile: paths.dnsmasqLog })
  const marker = dnsmasqMarker(paths)
  await waitUntil(
    `dnsmasq in ${names.routerNs} to start`,
    async () => {
      if (!(await runningAfterStart(pid, marker)))
        throw new Error(`Cannot start the lab router's dnsmasq: it exited:\n${await tail(paths.dnsmasqLog)}`)
      return /DHCP, IP range/.test(await readFile(paths.dnsmasqLog, 'utf8').catch(() => ''))
    },
    10_000,
  )
  return pid
}

async function startPowerDaemon(stateDir: string, names: LabNames, paths: LabPaths): Promise<number> {
  const args = [process.execPath, '--disable-warning=ExperimentalWarning', DAEMON_ENTRY, '--state', stateDir]
  const pid = await startDaemon(args, { ns: names.switchNs, logFile: paths.powerLog })
  const marker = daemonMarker(stateDir)
  await waitUntil(
    `the power daemon in ${names.switchNs} to listen`,
    async () => {
      if (!(await runningAfterStart(pid, marker)))
        throw new Error(`Cannot start the lab's power daemon: it exited:\n${await tail(paths.powerLog)}`)
      return (await readFile(paths.powerLog, 'utf8').catch(() => '')).includes(`(pid ${pid})`)
    },
    30_000,
  )
  return pid
}
