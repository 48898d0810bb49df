/**
 * The built-in lab's lifecycle (labUp, labStatus, labDown): a private network with a "home router"
 * and QEMU machines, that `homelab metal` provisions exactly as it would real machines.
 *
 *   root namespace            <prefix>-sw (switch)                    <prefix>-router
 *   network.interface ─veth─ ctl ─┐
 *   (network.controller)          br0 ── router ─veth──────────────── eth0 (network.gateway)
 *                          tapN ──┘  power daemon (UDP 9) -> QEMU      dnsmasq: DHCP .150-.199 (proxy mode)
 *
 * labUp() converges: each piece is made only when it is missing, and processes that still run
 * are kept (same PIDs). Nothing is routed beyond these namespaces and the veth: no NAT, no
 * forwarding (forwarding is off on the controller's interface, and the router has no route out).
 * labDown() ends every process by its recorded PID and deletes the namespaces and the veth.
 */
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import type { Derived } from '../core/config/checks.ts'
import type { Config } from '../core/config/schema.ts'
import { formatCidr, formatIPv4, maskOf, parseIPv4, type Subnet } from '../lib/ipv4/index.ts'
import { ip, isRunning, run, runningAfterStart, startDaemon, stopProcess, waitUntil } from './_process.ts'
import { LabConfigError, labConfigProblems, routerRange } from './check.ts'
import { type PowerSpec, powerSpec } from './power.ts'
import { ensurePrerequisites, type PrereqSystem } from './prereqs.ts'
import { ensureLabKey } from './ssh-key.ts'
import {
  BRIDGE,
  DEFAULT_PREFIX,
  type LabNames,
  type LabPaths,
  type LabRecord,
  labNames,
  labPaths,
  ROUTER_IF,
  readJson,
  SWITCH_PORT_CONTROLLER,
  SWITCH_PORT_ROUTER,
  type VmRecord,
  vmPaths,
  WOL_PORT,
  writeJson,
} from './state.ts'

/** One step of `lab up` or `lab down`, for progress lines and `--json`. */
export interface LabStep {
  readonly type: 'lab.step'
  readonly step: string
  readonly status:
    | 'created'
    | 'exists'
    | 'started'
    | 'running'
    | 'restarted'
    | 'stopped'
    | 'removed'
    | 'absent'
    | 'installed'
    | 'present'
    | 'made'
    | 'kept'
  readonly detail: string
}

export type LabEvents = (step: LabStep) => void

export interface LabUpOptions {
  readonly config: Config
  readonly derived: Derived
  /** The config file (recorded, for messages). */
  readonly configFile: string
  /** `.state` beside homelab.yaml: the lab lives in its `lab/` folder. */
  readonly stateDir: string
  /** @default 'hl-lab' */
  readonly prefix?: string
  readonly events: LabEvents
  /** Progress of package installs (apt-get). */
  readonly progress?: (line: string) => void
  /** Seam for tests: the system the prerequisites are checked on. */
  readonly prereqSystem?: PrereqSystem
}

const DAEMON_ENTRY = join(import.meta.dirname, 'power-daemon.ts')

function daemonMarker(stateDir: string): string {
  return `power-daemon.ts --state ${stateDir}`
}

function dnsmasqMarker(paths: LabPaths): string {
  return `--dhcp-leasefile=${paths.leases}`
}

// ---------------------------------------------------------------- queries

async function namespaces(): Promise<Set<string>> {
  const out = await ip(['netns', 'list'])
  return new Set(
    out
      .split('\n')
      .map((l) => l.trim().split(/\s+/)[0] ?? '')
      .filter(Boolean),
  )
}

interface LinkInfo {
  readonly ifname: string
  readonly ifalias?: string
  readonly operstate?: string
  readonly linkinfo?: { readonly info_kind?: string }
}

async function link(name: string, ns?: string): Promise<LinkInfo | undefined> {
  const out = await ip(['-j', '-d', 'link', 'show', 'dev', name], ns).catch(() => undefined)
  if (out === undefined) return undefined
  const parsed = JSON.parse(out) as LinkInfo[]
  return parsed[0]
}

interface AddrInfo {
  readonly ifname: string
  readonly addr_info?: ReadonlyArray<{
    readonly family: string
    readonly local: string
    readonly prefixlen: number
  }>
}

async function ipv4Addresses(
  ns?: string,
): Promise<Array<{ ifname: string; local: string; prefixlen: number }>> {
  const out = await ip(['-j', '-4', 'addr', 'show'], ns)
  const parsed = JSON.parse(out) as AddrInfo[]
  return parsed.flatMap((i) =>
    (i.addr_info ?? [])
      .filter((a) => a.family === 'inet')
      .map((a) => ({ ifname: i.ifname, local: a.local, prefixlen: a.prefixlen })),
  )
}

function overlaps(a: Subnet, b: Subnet): boolean {
  const mask = maskOf(Math.min(a.prefix, b.prefix))
  return (a.network & mask) >>> 0 === (b.network & mask) >>> 0
}

/**
 * Refuses to touch what is not the lab's: network.interface when it exists without the lab's
 * mark, and a subnet that is already in use on another interface of this machine.
 */
async function checkHost(config: Config, subnet: Subnet, names: LabNames): Promise<void> {
  const name = config.network.interface
  const existing = await link(name)
  if (existing !== undefined && existing.ifalias !== names.alias) {
    throw new LabConfigError(
      `Cannot build the lab on network.interface "${name}": that interface exists and was not made by the lab ` +
        `(the lab never touches a real interface): set network.interface to a name that is not in use, e.g. hl-lab0`,
    )
  }
  for (const a of await ipv4Addresses()) {
    if (a.ifname === name) continue
    const ip = parseIPv4(a.local)
    if (ip === undefined) continue
    const theirs = { network: (ip & maskOf(a.prefixlen)) >>> 0, prefix: a.prefixlen }
    if (a.prefixlen > 0 && overlaps(theirs, subnet)) {
      throw new LabConfigError(
        `Cannot build the lab on ${formatCidr(subnet)}: ${a.ifname} already has ${a.local}/${a.prefixlen} in it ` +
          '(the lab would take over that network): set network.subnet, gateway, controller and the machine addresses to an unused private subnet, e.g. 10.77.0.0/24',
      )
    }
  }
}

// ---------------------------------------------------------------- up

/** Builds the lab, or converges a lab that is (partly) there. Throws LabConfigError for a config that is not a lab's. */
type MutableLabRecord = { -readonly [K in keyof LabRecord]: LabRecord[K] }

/** What the steps of labUp() share. */
interface LabBuild {
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

export async function labUp(options: LabUpOptions): Promise<LabRecord> {
  const { config, derived, events } = options
  const stateDir = resolve(options.stateDir)
  const subnet = derived.subnet
  checkCanBuild(options, subnet, process.getuid?.())
  const controller = config.network.controller as string
  const names = labNames(options.prefix ?? DEFAULT_PREFIX)
  const paths = labPaths(stateDir)
  const step = (name: string, status: LabStep['status'], detail = '') =>
    events({ type: 'lab.step', step: name, status, detail })
  const previous = await readJson<LabRecord>(paths.labJson)
  const wanted = labRecord(config, subnet, names, resolve(options.configFile), previous, '')
  if (previous !== undefined) {
    const changed = changedSettings(previous, wanted)
    if (changed.length > 0)
      throw new LabConfigError(
        `Cannot change the running lab in ${paths.dir}: ${changed.join(', ')}: run \`homelab lab down\` first, then \`homelab lab up\``,
      )
  }
  const installed = await ensurePrerequisites(options.progress ?? (() => {}), options.prereqSystem)
  step(
    'prerequisites',
    installed.installed.length > 0 ? 'installed' : 'present',
    installed.installed.length > 0
      ? installed.installed.join(' ')
      : 'qemu-system-x86_64, OVMF, iPXE ROMs, dnsmasq, xorriso, ip, cpio',
  )
  await checkHost(config, subnet, names)
  const record: MutableLabRecord = { ...wanted, upAt: new Date().toISOString() }
  // Recorded before anything is made, so `lab down` can undo a half-built lab.
  await writeJson(paths.labJson, record)
  const lab: LabBuild = { config, subnet, controller, names, paths, stateDir, record, step }
  const have = await namespaces()
  await _switch(lab, have)
  await _router(lab, have)
  await _controllerEnd(lab)
  await _routerDhcp(lab)
  // The SSH key machines are installed with (homelab.yaml's os.sshPublicKey points at it).
  const key = await ensureLabKey(paths.privateKey, paths.publicKey)
  step('ssh key', key.made ? 'made' : 'exists', paths.privateKey)
  await _powerDaemon(lab)
  return record
}

/** Throws when the config cannot make a lab, or when not root (`uid`). */
export function checkCanBuild(
  options: Pick<LabUpOptions, 'config' | 'configFile'>,
  subnet: Subnet,
  uid: number | undefined,
): void {
  const problems = labConfigProblems(options.config, subnet)
  if (problems.length > 0)
    throw new LabConfigError(`Cannot build the lab from ${options.configFile}: ${problems.join('; ')}`)
  if (uid !== 0)
    throw new LabConfigError(
      'Cannot build the lab: it makes network namespaces and interfaces, which needs root: run it as root (sudo make lab)',
    )
}

/** The lab's record for this config; the running daemons of the previous record are kept. */
export function labRecord(
  config: Config,
  subnet: Subnet,
  names: LabNames,
  configFile: string,
  previous: LabRecord | undefined,
  upAt: string,
): MutableLabRecord {
  return {
    version: 1,
    prefix: names.prefix,
    switchNs: names.switchNs,
    routerNs: names.routerNs,
    interface: config.network.interface,
    subnet: formatCidr(subnet),
    gateway: config.network.gateway,
    controller: config.network.controller as string,
    dhcpMode: config.network.dhcp.mode,
    configFile,
    ...(previous?.dnsmasq === undefined ? {} : { dnsmasq: previous.dnsmasq }),
    ...(previous?.daemon === undefined ? {} : { daemon: previous.daemon }),
    upAt,
  }
}

/** The settings a running lab cannot change, as `what old -> new`. */
export function changedSettings(previous: LabRecord, next: LabRecord): string[] {
  const fields: [string, keyof LabRecord][] = [
    ['prefix', 'prefix'],
    ['network.interface', 'interface'],
    ['network.subnet', 'subnet'],
    ['network.gateway', 'gateway'],
    ['network.controller', 'controller'],
  ]
  return fields
    .filter(([, key]) => previous[key] !== next[key])
    .map(([what, key]) => `${what} ${String(previous[key])} -> ${String(next[key])}`)
}

/** The switch: a namespace holding the bridge. */
async function _switch(lab: LabBuild, have: Set<string>): Promise<void> {
  const sw = lab.names.switchNs
  const swMade = await ensureNamespace(sw, have)
  if ((await link(BRIDGE, sw)) === undefined) {
    await ip(['link', 'add', BRIDGE, 'type', 'bridge', 'forward_delay', '0', 'stp_state', '0'], sw)
  }
  await ip(['link', 'set', BRIDGE, 'up'], sw)
  lab.step(`switch ${sw}`, swMade ? 'created' : 'exists', `bridge ${BRIDGE}`)
}

/** The home router: a namespace on the switch holding the gateway address. */
async function _router(lab: LabBuild, have: Set<string>): Promise<void> {
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
async function _controllerEnd(lab: LabBuild): Promise<void> {
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
async function _routerDhcp(lab: LabBuild): Promise<void> {
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
async function _powerDaemon(lab: LabBuild): Promise<void> {
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

// ---------------------------------------------------------------- down

export interface LabDownOptions {
  readonly stateDir: string
  /** Used when lab.json is missing (a lab half-built before it was recorded). @default 'hl-lab' */
  readonly prefix?: string
  /** The config's network.interface, used when lab.json is missing. */
  readonly interface?: string
  readonly events: LabEvents
}

/** Ends every lab process by PID, deletes the namespaces and the veth. Safe to run twice. */
export async function labDown(options: LabDownOptions): Promise<void> {
  const stateDir = resolve(options.stateDir)
  const paths = labPaths(stateDir)
  const record = await readJson<LabRecord>(paths.labJson)
  const names = labNames(record?.prefix ?? options.prefix ?? DEFAULT_PREFIX)
  const step = (name: string, status: LabStep['status'], detail = '') =>
    options.events({ type: 'lab.step', step: name, status, detail })

  // First the power daemon, so that nothing is powered on while the lab goes away.
  const daemonPid = record?.daemon?.pid
  step(
    'power daemon',
    (await stopProcess(daemonPid, daemonMarker(stateDir))) ? 'stopped' : 'absent',
    daemonPid === undefined ? '' : `pid ${daemonPid}`,
  )
  for (const vm of await vmRecords(paths)) {
    const files = vmPaths(paths, vm.name)
    const stopped = vm.state === 'on' && (await stopProcess(vm.pid, files.console, 2000))
    step(`machine ${vm.name}`, stopped ? 'stopped' : 'absent', stopped ? `QEMU pid ${vm.pid}` : 'off')
    await rm(files.vmJson, { force: true })
    await rm(files.vars, { force: true })
  }
  const dnsmasqPid = record?.dnsmasq?.pid
  if (dnsmasqPid !== undefined)
    step(
      'router DHCP',
      (await stopProcess(dnsmasqPid, dnsmasqMarker(paths))) ? 'stopped' : 'absent',
      `pid ${dnsmasqPid}`,
    )

  const iface = record?.interface ?? options.interface
  const ifaceBefore = iface === undefined ? undefined : await link(iface)
  const have = await namespaces()
  for (const ns of [names.switchNs, names.routerNs]) {
    if (!have.has(ns)) {
      step(`namespace ${ns}`, 'absent')
      continue
    }
    // Anything still running inside (started by hand, or by a daemon that was killed) ends by PID.
    const pids = (await ip(['netns', 'pids', ns]).catch(() => ''))
      .split('\n')
      .map(Number)
      .filter((p) => Number.isInteger(p) && p > 1)
    for (const pid of pids) await stopProcess(pid, '', 2000)
    await ip(['netns', 'del', ns])
    step(`namespace ${ns}`, 'removed', pids.length > 0 ? `ended pids ${pids.join(', ')}` : '')
  }
  // Deleting the switch removed the veth; an interface left over is removed only when it is the lab's.
  if (iface !== undefined) {
    const left = await link(iface)
    if (ifaceBefore === undefined) step(`controller ${iface}`, 'absent')
    else if (ifaceBefore.ifalias !== names.alias) step(`controller ${iface}`, 'kept', 'not made by the lab')
    else {
      // The kernel removes a veth whose peer's namespace was deleted in the background: the
      // interface seen a moment ago may be gone by the time we delete it, which is the goal.
      if (left !== undefined)
        await ip(['link', 'del', 'dev', iface]).catch(async (cause: unknown) => {
          if ((await link(iface)) !== undefined) throw cause
        })
      step(`controller ${iface}`, 'removed')
    }
  }
  await rm(paths.powerJson, { force: true })
  await rm(paths.leases, { force: true })
  await rm(paths.labJson, { force: true })
}

async function vmRecords(paths: LabPaths): Promise<VmRecord[]> {
  const names = await readdir(paths.vmsDir).catch(() => [] as string[])
  const records: VmRecord[] = []
  for (const name of names.sort()) {
    const record = await readJson<VmRecord>(vmPaths(paths, name).vmJson).catch(() => undefined)
    if (record !== undefined) records.push(record)
  }
  return records
}

// ---------------------------------------------------------------- status

export interface LabMachineStatus {
  readonly name: string
  readonly mac: string
  readonly firmware: 'uefi' | 'bios'
  readonly state: 'on' | 'off'
  readonly pid: number | null
  readonly console: string
}

export interface LabStatus {
  readonly type: 'lab.status'
  /** Every piece is there and every process runs. */
  readonly up: boolean
  readonly prefix: string
  readonly stateDir: string
  readonly namespaces: ReadonlyArray<{ readonly name: string; readonly present: boolean }>
  readonly interface: {
    readonly name: string
    readonly present: boolean
    readonly address: string | null
  } | null
  /** null in full mode (no router DHCP). */
  readonly router: {
    readonly address: string
    readonly pid: number | null
    readonly running: boolean
    readonly log: string
  } | null
  readonly daemon: { readonly pid: number | null; readonly running: boolean; readonly log: string }
  readonly machines: readonly LabMachineStatus[]
}

export interface LabStatusOptions {
  readonly stateDir: string
  readonly prefix?: string
}

/** What exists and runs: namespaces, the controller interface, router, daemon, each machine. */
export async function labStatus(options: LabStatusOptions): Promise<LabStatus> {
  const stateDir = resolve(options.stateDir)
  const paths = labPaths(stateDir)
  const record = await readJson<LabRecord>(paths.labJson)
  const names = labNames(record?.prefix ?? options.prefix ?? DEFAULT_PREFIX)
  const have = await namespaces()
  const nsList = [names.switchNs, names.routerNs].map((name) => ({ name, present: have.has(name) }))
  let iface: LabStatus['interface'] = null
  if (record !== undefined) {
    const present = (await link(record.interface))?.ifalias === names.alias
    const address = present
      ? ((await ipv4Addresses()).find((a) => a.ifname === record.interface && a.local === record.controller)
          ?.local ?? null)
      : null
    iface = {
      name: record.interface,
      present,
      address: address === null ? null : `${address}/${record.subnet.split('/')[1]}`,
    }
  }
  const router =
    record === undefined || record.dhcpMode === 'proxy'
      ? {
          address: record?.gateway ?? '',
          pid: record?.dnsmasq?.pid ?? null,
          running: await isRunning(record?.dnsmasq?.pid, dnsmasqMarker(paths)),
          log: paths.dnsmasqLog,
        }
      : null
  const daemon = {
    pid: record?.daemon?.pid ?? null,
    running: await isRunning(record?.daemon?.pid, daemonMarker(stateDir)),
    log: paths.powerLog,
  }
  const spec = await readJson<PowerSpec>(paths.powerJson).catch(() => undefined)
  const machines: LabMachineStatus[] = []
  for (const m of spec?.machines ?? []) {
    const files = vmPaths(paths, m.name)
    const vm = await readJson<VmRecord>(files.vmJson).catch(() => undefined)
    const on = vm?.state === 'on' && (await isRunning(vm.pid, files.console))
    machines.push({
      name: m.name,
      mac: m.mac,
      firmware: m.firmware,
      state: on ? 'on' : 'off',
      pid: on ? (vm?.pid ?? null) : null,
      console: files.console,
    })
  }
  const up =
    record !== undefined &&
    nsList.every((n) => n.present) &&
    iface?.present === true &&
    iface.address !== null &&
    (router === null || router.running) &&
    daemon.running
  return {
    type: 'lab.status',
    up,
    prefix: names.prefix,
    stateDir,
    namespaces: nsList,
    interface: iface,
    router,
    daemon,
    machines,
  }
}
