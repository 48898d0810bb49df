/**
 * The lab's names and its record on disk.
 *
 * Names derive from a prefix (default `hl-lab`), so labs with other prefixes (tests) never
 * collide with a developer's running lab: namespaces `<prefix>-sw` (the switch: bridge br0)
 * and `<prefix>-router` (the home router). The controller's end of the lab is the config's
 * `network.interface` in the root namespace, marked with the alias `homelab-lab <prefix>` so
 * that an interface the lab did not make is never touched.
 *
 * Files, in `<state>/lab/` (`<state>` is `.state` beside homelab.yaml):
 *   lab.json                what `lab up` made and started (namespaces, interface, dnsmasq and daemon PIDs)
 *   power.json              the machines the power daemon may power on (name, MAC, firmware, tap)
 *   power.log               the power daemon's log (magic packets, power on/off)
 *   router/dnsmasq.log      the router's DHCP log; router/leases its lease file
 *   vms/<name>/vm.json      the machine's power state and QEMU PID (written by the power daemon)
 *   vms/<name>/console.log  its serial console (console.prev.log: the power-on before)
 *   id_ed25519[.pub]        the lab's SSH key (root on every machine)
 */
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises'
import { dirname, join } from 'node:path'

export const DEFAULT_PREFIX = 'hl-lab'

export interface LabNames {
  readonly prefix: string
  /** The switch namespace: bridge br0, the power daemon, the VMs' taps and QEMUs. */
  readonly switchNs: string
  /** The home router's namespace: eth0 with the gateway address, dnsmasq. */
  readonly routerNs: string
  /** The alias written on the controller interface: the mark of an interface the lab made. */
  readonly alias: string
}

export function labNames(prefix = DEFAULT_PREFIX): LabNames {
  if (!/^[a-z0-9][a-z0-9-]{0,30}$/.test(prefix))
    throw new TypeError(`Cannot name the lab: prefix "${prefix}" is not lower-case letters, digits and "-"`)
  return { prefix, switchNs: `${prefix}-sw`, routerNs: `${prefix}-router`, alias: `homelab-lab ${prefix}` }
}

/** Interface names inside the switch namespace. */
export const BRIDGE = 'br0'
export const SWITCH_PORT_CONTROLLER = 'ctl'
export const SWITCH_PORT_ROUTER = 'router'
/** The router's interface inside its namespace. */
export const ROUTER_IF = 'eth0'
/** The Wake-on-LAN port the power daemon listens on. */
export const WOL_PORT = 9

export interface LabPaths {
  readonly dir: string
  readonly labJson: string
  readonly powerJson: string
  readonly powerLog: string
  readonly routerDir: string
  readonly dnsmasqLog: string
  readonly leases: string
  readonly vmsDir: string
  readonly privateKey: string
  readonly publicKey: string
}

/** The lab's files under `<stateDir>/lab`. */
export function labPaths(stateDir: string): LabPaths {
  const dir = join(stateDir, 'lab')
  return {
    dir,
    labJson: join(dir, 'lab.json'),
    powerJson: join(dir, 'power.json'),
    powerLog: join(dir, 'power.log'),
    routerDir: join(dir, 'router'),
    dnsmasqLog: join(dir, 'router', 'dnsmasq.log'),
    leases: join(dir, 'router', 'leases'),
    vmsDir: join(dir, 'vms'),
    privateKey: join(dir, 'id_ed25519'),
    publicKey: join(dir, 'id_ed25519.pub'),
  }
}

export function vmPaths(paths: LabPaths, machine: string) {
  const dir = join(paths.vmsDir, machine)
  return {
    dir,
    vmJson: join(dir, 'vm.json'),
    console: join(dir, 'console.log'),
    previousConsole: join(dir, 'console.prev.log'),
    qemuLog: join(dir, 'qemu.log'),
    vars: join(dir, 'OVMF_VARS.fd'),
    disk: join(dir, 'disk.img'),
  }
}

/** What `lab up` made; `lab down` undoes exactly this. */
export interface LabRecord {
  readonly version: 1
  readonly prefix: string
  readonly switchNs: string
  readonly routerNs: string
  readonly interface: string
  readonly subnet: string
  readonly gateway: string
  readonly controller: string
  readonly dhcpMode: 'proxy' | 'full'
  readonly configFile: string
  /** The router's DHCP server (proxy mode only). */
  readonly dnsmasq?: { readonly pid: number }
  readonly daemon?: { readonly pid: number }
  readonly upAt: string
}

/** One machine's power state, written by the power daemon. */
export interface VmRecord {
  readonly name: string
  readonly mac: string
  readonly state: 'on' | 'off'
  /** QEMU's PID while on. */
  readonly pid?: number
  readonly poweredOnAt?: string
  readonly poweredOffAt?: string
  /** QEMU's exit code (or signal) at the last power-off. */
  readonly exit?: number | string
  readonly console: string
}

export async function readJson<T>(path: string): Promise<T | undefined> {
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (cause) {
    if ((cause as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw new Error(`Cannot read lab state: ${path}`, { cause })
  }
  try {
    return JSON.parse(text) as T
  } catch (cause) {
    throw new Error(`Cannot read lab state: ${path} is not JSON (remove it and run \`homelab lab down\`)`, {
      cause,
    })
  }
}

/** Writes atomically (temp file, then rename), mode 0600. */
export async function writeJson(path: string, value: unknown): Promise<void> {
  await mkdir(dirname(path), { recursive: true, mode: 0o700 })
  const temp = `${path}.${process.pid}.tmp`
  await writeFile(temp, `${JSON.stringify(value, null, 2)}\n`, { mode: 0o600 })
  await rename(temp, path)
}
