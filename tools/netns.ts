/**
 * Test networks made of Linux network namespaces: each test makes its own,
 * runs real clients and servers inside, and removes everything afterwards
 * (processes by PID, then the namespaces). Traffic never leaves the namespaces.
 *
 *   const lab = await TestNet.create('dhcp')           // a namespace holding bridge br0
 *   const ctl = await lab.host('ctl', '10.99.0.2/24')  // a host namespace wired to br0 via veth
 *   const p = ctl.spawn(['udhcpc', ...])               // a process inside it (killed at cleanup)
 *   await lab.destroy()
 *
 * Needs root (CI runs as root) and iproute2.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { promisify } from 'node:util'
import { poll } from '../lib/poll/index.ts'

const exec = promisify(execFile)

export async function sh(cmd: string, args: readonly string[]): Promise<string> {
  try {
    const { stdout } = await exec(cmd, [...args], { maxBuffer: 16 * 1024 * 1024 })
    return stdout
  } catch (cause) {
    const err = cause as Error & { stderr?: string }
    throw new Error(`Command failed: ${cmd} ${args.join(' ')}: ${err.stderr?.trim() ?? err.message}`, {
      cause,
    })
  }
}

/** A process started inside a namespace; its output is collected for assertions and failure messages. */
export interface NsProcess {
  readonly child: ChildProcess
  readonly pid: number
  output(): string
  /** Resolves with the exit code (or signal name) when the process ends. */
  readonly exited: Promise<number | string>
  kill(signal?: NodeJS.Signals): Promise<void>
}

export class Host {
  readonly net: TestNet
  readonly ns: string
  /** Interface name inside the namespace (wired to the bridge). */
  readonly ifname: string
  /** The address with prefix, like 10.99.0.2/24, or '' when none. */
  readonly cidr: string
  readonly mac: string

  constructor(net: TestNet, ns: string, ifname: string, cidr: string, mac: string) {
    this.net = net
    this.ns = ns
    this.ifname = ifname
    this.cidr = cidr
    this.mac = mac
  }

  get ip(): string {
    return this.cidr.split('/')[0] ?? ''
  }

  /** Runs a command to completion inside this namespace and returns stdout. */
  run(args: readonly string[]): Promise<string> {
    return sh('ip', ['netns', 'exec', this.ns, ...args])
  }

  /** Starts a long-running process inside this namespace; it is killed by net.destroy(). */
  spawn(args: readonly string[], options: { env?: NodeJS.ProcessEnv; cwd?: string } = {}): NsProcess {
    return this.net.spawnIn(this.ns, args, options)
  }
}

export class TestNet {
  private readonly namespaces: string[] = []
  private readonly processes = new Set<NsProcess>()
  private hostCount = 0

  /** The namespace holding the bridge br0. */
  readonly switchNs: string
  readonly id: string

  private constructor(switchNs: string, id: string) {
    this.switchNs = switchNs
    this.id = id
  }

  /** Makes a namespace with a bridge `br0` (the "switch"). Names are unique per call. */
  static async create(label: string): Promise<TestNet> {
    const id = `${label.slice(0, 6)}${randomBytes(3).toString('hex')}`
    const net = new TestNet(`hlt-${id}-sw`, id)
    await net.addNamespace(net.switchNs)
    await sh('ip', [
      '-n',
      net.switchNs,
      'link',
      'add',
      'br0',
      'type',
      'bridge',
      'forward_delay',
      '0',
      'stp_state',
      '0',
    ])
    await sh('ip', ['-n', net.switchNs, 'link', 'set', 'br0', 'up'])
    return net
  }

  private async addNamespace(name: string): Promise<void> {
    await sh('ip', ['netns', 'add', name])
    this.namespaces.push(name)
    await sh('ip', ['-n', name, 'link', 'set', 'lo', 'up'])
  }

  /**
   * Makes a host namespace with interface `ifname` (default eth0) on the bridge.
   * cidr '' leaves it unaddressed (a DHCP client). mac defaults to a random local one.
   */
  async host(label: string, cidr: string, options: { ifname?: string; mac?: string } = {}): Promise<Host> {
    const n = this.hostCount++
    const ns = `hlt-${this.id}-${label.slice(0, 8)}`
    const ifname = options.ifname ?? 'eth0'
    const mac = options.mac ?? `02:${randomBytes(5).toString('hex').match(/../g)?.join(':')}`
    await this.addNamespace(ns)
    await this.wire(ns, ifname, mac, `v${this.id.slice(-4)}${n}`)
    if (cidr !== '') await sh('ip', ['-n', ns, 'addr', 'add', cidr, 'dev', ifname])
    return new Host(this, ns, ifname, cidr, mac)
  }

  /** Adds another interface, on this bridge, to an existing host namespace (multi-homed hosts). */
  async addInterface(host: Host | string, ifname: string, cidr: string, mac?: string): Promise<void> {
    const ns = typeof host === 'string' ? host : host.ns
    const n = this.hostCount++
    await this.wire(
      ns,
      ifname,
      mac ?? `02:${randomBytes(5).toString('hex').match(/../g)?.join(':')}`,
      `v${this.id.slice(-4)}${n}`,
    )
    if (cidr !== '') await sh('ip', ['-n', ns, 'addr', 'add', cidr, 'dev', ifname])
  }

  private async wire(ns: string, ifname: string, mac: string, peer: string): Promise<void> {
    // Create the pair inside the switch namespace, then move one end to the host.
    await sh('ip', ['-n', this.switchNs, 'link', 'add', peer, 'type', 'veth', 'peer', 'name', 'tmp-hl'])
    await sh('ip', ['-n', this.switchNs, 'link', 'set', 'tmp-hl', 'netns', ns])
    await sh('ip', ['-n', ns, 'link', 'set', 'tmp-hl', 'name', ifname])
    await sh('ip', ['-n', ns, 'link', 'set', ifname, 'address', mac])
    await sh('ip', ['-n', ns, 'link', 'set', ifname, 'up'])
    await sh('ip', ['-n', this.switchNs, 'link', 'set', peer, 'master', 'br0'])
    await sh('ip', ['-n', this.switchNs, 'link', 'set', peer, 'up'])
  }

  spawnIn(
    ns: string,
    args: readonly string[],
    options: { env?: NodeJS.ProcessEnv; cwd?: string } = {},
  ): NsProcess {
    const child = spawn('ip', ['netns', 'exec', ns, ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: options.env ?? process.env,
      cwd: options.cwd,
    })
    let out = ''
    child.stdout?.on('data', (c: Buffer) => {
      out += c.toString()
    })
    child.stderr?.on('data', (c: Buffer) => {
      out += c.toString()
    })
    const exited = new Promise<number | string>((resolve) => {
      child.on('close', (code, signal) => resolve(code ?? signal ?? 'unknown'))
      child.on('error', (err) => {
        out += `spawn error: ${err.message}\n`
        resolve('spawn-error')
      })
    })
    if (child.pid === undefined) throw new Error(`Cannot start process in ${ns}: ${args.join(' ')}`)
    const proc: NsProcess = {
      child,
      pid: child.pid,
      output: () => out,
      exited,
      kill: async (signal: NodeJS.Signals = 'SIGTERM') => {
        if (child.exitCode === null && child.signalCode === null) {
          child.kill(signal)
          const timer = setTimeout(() => child.kill('SIGKILL'), 2000)
          await exited
          clearTimeout(timer)
        }
        this.processes.delete(proc)
      },
    }
    this.processes.add(proc)
    return proc
  }

  /** Applies `tc netem` (e.g. ['loss', '10%']) on the host's own interface, inside its namespace (egress from that host). */
  async netem(host: Host, args: readonly string[]): Promise<void> {
    await sh('ip', [
      'netns',
      'exec',
      host.ns,
      'tc',
      'qdisc',
      'replace',
      'dev',
      host.ifname,
      'root',
      'netem',
      ...args,
    ])
  }

  /** Kills every process this net started (by PID), then deletes every namespace it made. */
  async destroy(): Promise<void> {
    await Promise.all([...this.processes].map((p) => p.kill('SIGTERM')))
    for (const ns of this.namespaces.reverse()) {
      // Any stray process left in the namespace (e.g. a daemon that forked) is killed by PID.
      const pids = (await sh('ip', ['netns', 'pids', ns]).catch(() => '')).split('\n').filter(Boolean)
      for (const pid of pids) {
        try {
          process.kill(Number(pid), 'SIGKILL')
        } catch {
          // already gone
        }
      }
      await sh('ip', ['netns', 'del', ns]).catch(() => undefined)
    }
    this.namespaces.length = 0
  }
}

/** Polls until check() returns a value (not undefined), or throws lib/poll's PollTimeoutError after timeoutMs. */
export async function waitFor<T>(
  what: string,
  check: () => T | undefined | Promise<T | undefined>,
  timeoutMs = 10000,
): Promise<T> {
  return await poll(() => check(), { what, intervalMs: 50, timeoutMs })
}

/** Resolves like `promise`, or with `onTimeout` after ms; the timer never outlives the promise. */
export async function within<T, U>(promise: Promise<T>, ms: number, onTimeout: U): Promise<T | U> {
  let timer: NodeJS.Timeout | undefined
  try {
    return await Promise.race([promise, new Promise<U>((r) => (timer = setTimeout(() => r(onTimeout), ms)))])
  } finally {
    clearTimeout(timer)
  }
}

/**
 * Starts dnsmasq as a DHCP server only (no DNS) on a host's eth0: the "home router" or the
 * seed's PXE server of many tests. `range` is dnsmasq's --dhcp-range value; `extra` adds options.
 */
export function spawnDnsmasq(
  host: Host,
  options: { range: string; leaseFile: string; ping?: boolean; extra?: readonly string[] },
): NsProcess {
  return host.spawn([
    'dnsmasq',
    '--no-daemon',
    '--port=0',
    `--interface=${host.ifname}`,
    '--bind-interfaces',
    '--no-resolv',
    ...(options.ping === true ? [] : ['--no-ping']),
    `--dhcp-range=${options.range}`,
    `--dhcp-leasefile=${options.leaseFile}`,
    ...(options.extra ?? []),
  ])
}

/**
 * An sshd_config for a test OpenSSH server: root logs in with a key only, SFTP served in-process,
 * every path in the test's own folder (nothing of the host's sshd is used).
 */
export function sshdConfig(options: {
  hostKey: string
  listen: string
  pidFile: string
  authorizedKeys: string
  extra?: readonly string[]
}): string {
  return [
    `HostKey ${options.hostKey}`,
    `ListenAddress ${options.listen}`,
    `PidFile ${options.pidFile}`,
    'UsePAM no',
    `AuthorizedKeysFile ${options.authorizedKeys}`,
    'StrictModes no',
    'Subsystem sftp internal-sftp',
    'PermitRootLogin prohibit-password',
    'PasswordAuthentication no',
    'KbdInteractiveAuthentication no',
    'MaxStartups 50',
    ...(options.extra ?? []),
    '',
  ].join('\n')
}
