/**
 * `lab up`: labUp() refuses a config that cannot make a lab, a user who is not root, a change to
 * settings a running lab cannot change, and a host whose interface or subnet is not the lab's;
 * then it installs what is missing, records the lab in lab.json before anything is made (so
 * `lab down` can undo a half-built lab), and runs the steps of up-steps.ts. The pure parts
 * (checkCanBuild, labRecord, changedSettings) are exported for tests.
 */
import { resolve } from 'node:path'
import type { Derived } from '../core/config/checks.ts'
import type { Config } from '../core/config/schema.ts'
import { formatCidr, maskOf, parseIPv4, type Subnet } from '../lib/ipv4/index.ts'
import { LabConfigError, labConfigProblems } from './check.ts'
import { ipv4Addresses, type LabEvents, type LabStep, link, namespaces } from './host.ts'
import { ensurePrerequisites, type PrereqSystem } from './prereqs.ts'
import { ensureLabKey } from './ssh-key.ts'
import {
  DEFAULT_PREFIX,
  type LabNames,
  type LabRecord,
  labNames,
  labPaths,
  readJson,
  writeJson,
} from './state.ts'
import {
  _controllerEnd,
  _powerDaemon,
  _router,
  _routerDhcp,
  _switch,
  type LabBuild,
  type MutableLabRecord,
} from './up-steps.ts'

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

/** Builds the lab, or converges a lab that is (partly) there. Throws LabConfigError for a config that is not a lab's. */
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
