/**
 * Stand-in k3s nodes: one real OpenSSH server per node, each in its own network namespace and its
 * own private mount namespace, where overlayfs covers /etc, /usr and /var/lib. Whatever the node's
 * SSH sessions write lands in that node's upper dirs only (the host stays untouched), and stand-ins
 * replace what cannot run here: systemctl, sysctl, modprobe, and the k3s binary the cluster code
 * uploads (test/harness/standin/). The stand-ins record every call under /var/lib/homelab-standin/.
 *
 *   const lab = await StandinNodes.create('k3s', { subnet: '10.95.0', controllerIp: '10.95.0.2',
 *     nodes: [{ name: 'n1', ip: '10.95.0.11' }] })
 *   await lab.ctl.run(['ssh', '-i', lab.clientKeyPath, 'root@10.95.0.11', 'hostname'])
 *   await lab.node('n1').written()   // every file the node wrote, with mode and sha256
 *   await lab.destroy()              // kills every process by PID, unmounts, deletes namespaces
 *
 * Needs root, iproute2, util-linux (unshare), openssh-server, python3.
 */
import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import {
  chmod,
  copyFile,
  lstat,
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  readlink,
  rm,
  writeFile,
} from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { type Host, type NsProcess, sh, sshdConfig, TestNet, waitFor } from '../../tools/netns.ts'

const STANDIN_SRC = new URL('./standin/', import.meta.url).pathname
/** Where the stand-ins keep their records, on the node. */
export const STANDIN_STATE = '/var/lib/homelab-standin'
/** The overlaid trees: node path prefix → upper dir name. */
const TREES = [
  ['/etc', 'etc'],
  ['/usr', 'usr'],
  ['/var/lib', 'var-lib'],
] as const
/** Stand-ins placed on every node before its sshd starts (node path → file in standin/). */
const PLACED: Record<string, string> = {
  '/usr/bin/systemctl': 'systemctl',
  '/usr/sbin/sysctl': 'sysctl',
  '/usr/sbin/modprobe': 'modprobe',
}
const ENV_FILE = '/etc/homelab-standin.env'

export interface NodeSpec {
  name: string
  ip: string
}

export interface StandinNodesOptions {
  /** First three octets, like '10.95.0'; every address is in <subnet>.0/24. */
  subnet: string
  nodes: NodeSpec[]
  controllerIp: string
  /** The stand-in cluster store seen by every node (default: <tmp>/shared). */
  sharedDir?: string
}

export interface FileState {
  /** Permission bits (st_mode & 0o7777). */
  mode: number
  sha256: string
  mtimeMs: number
}

export interface WrittenFile {
  /** The path as seen on the node. */
  path: string
  mode: number
  /** Of the content; for a symlink, of its target path. */
  sha256: string
  /** Set for symlinks (like the ones systemctl enable makes). */
  linkTarget?: string
}

/** One line of /var/lib/homelab-standin/k3s-invocations.jsonl. */
export interface K3sInvocation {
  time: number
  argv: string[]
  role: 'server' | 'agent'
  env: Record<string, string>
  config: string | null
  files: Record<string, { mode: string; sha256: string }>
}

export interface StandinNode {
  readonly name: string
  readonly ip: string
  readonly host: Host
  /** The node's current SSH host key, "ssh-ed25519 AAAA..." (changes on rebuild). */
  readonly hostKey: string
  /** The node's view of a file it wrote under /etc, /usr or /var/lib; undefined when it wrote none there. */
  readFile(path: string): Promise<string | undefined>
  stat(path: string): Promise<FileState | undefined>
  /** Every regular file and symlink the node wrote, sorted by path, without the pre-placed stand-ins and their records. */
  written(): Promise<WrittenFile[]>
  /** Lines of /var/lib/homelab-standin/<name>.log (systemctl, sysctl, modprobe); [] when absent. */
  log(name: string): Promise<string[]>
  /** Every k3s server/agent start the stand-in k3s recorded. */
  k3sInvocations(): Promise<K3sInvocation[]>
  /** PIDs of processes alive in the node's namespaces (sshd, sessions, stand-in daemons). */
  pids(): Promise<number[]>
  /** Mount points in the node's own mount namespace (read from its sshd's /proc/PID/mounts). */
  mounts(): Promise<string[]>
  /** Names of the network links in the node's network namespace. */
  links(): Promise<string[]>
}

class NodeState implements StandinNode {
  readonly name: string
  readonly ip: string
  readonly host: Host
  hostKey = ''
  sshd: NsProcess | undefined
  readonly dir: string

  constructor(name: string, ip: string, host: Host, dir: string) {
    this.name = name
    this.ip = ip
    this.host = host
    this.dir = dir
  }

  /** Host path of a node path inside its upper dirs. */
  upper(path: string): string {
    for (const [prefix, tree] of TREES) {
      if (path === prefix || path.startsWith(`${prefix}/`)) {
        return join(this.dir, `${tree}-upper`, path.slice(prefix.length))
      }
    }
    throw new RangeError(
      `Cannot map "${path}" on stand-in node "${this.name}": only /etc, /usr and /var/lib are per node`,
    )
  }

  async stat(path: string): Promise<FileState | undefined> {
    const file = this.upper(path)
    const st = await lstat(file).catch(() => undefined)
    // Character devices 0/0 are overlayfs whiteouts: the node deleted the file.
    if (st === undefined || !st.isFile()) return undefined
    const sha256 = createHash('sha256')
      .update(await readFile(file))
      .digest('hex')
    return { mode: st.mode & 0o7777, sha256, mtimeMs: st.mtimeMs }
  }

  async readFile(path: string): Promise<string | undefined> {
    const file = this.upper(path)
    const st = await lstat(file).catch(() => undefined)
    return st?.isFile() === true ? readFile(file, 'utf8') : undefined
  }

  async written(): Promise<WrittenFile[]> {
    const out: WrittenFile[] = []
    const walk = async (hostDir: string, nodeDir: string): Promise<void> => {
      for (const entry of await readdir(hostDir, { withFileTypes: true }).catch(() => [])) {
        const nodePath = `${nodeDir}/${entry.name}`
        if (nodePath === STANDIN_STATE || nodePath === ENV_FILE || PLACED[nodePath] !== undefined) continue
        if (entry.isDirectory()) await walk(join(hostDir, entry.name), nodePath)
        else if (entry.isFile()) {
          const st = await this.stat(nodePath)
          if (st !== undefined) out.push({ path: nodePath, mode: st.mode, sha256: st.sha256 })
        } else if (entry.isSymbolicLink()) {
          const linkTarget = await readlink(join(hostDir, entry.name))
          const sha256 = createHash('sha256').update(linkTarget).digest('hex')
          out.push({ path: nodePath, mode: 0o777, sha256, linkTarget })
        }
      }
    }
    for (const [prefix, tree] of TREES) await walk(join(this.dir, `${tree}-upper`), prefix)
    return out.sort((a, b) => (a.path < b.path ? -1 : 1))
  }

  async log(name: string): Promise<string[]> {
    const text = await this.readFile(`${STANDIN_STATE}/${name}.log`)
    return text === undefined ? [] : text.split('\n').filter((l) => l !== '')
  }

  async k3sInvocations(): Promise<K3sInvocation[]> {
    const text = (await this.readFile(`${STANDIN_STATE}/k3s-invocations.jsonl`)) ?? ''
    return text
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => JSON.parse(l) as K3sInvocation)
  }

  /** PIDs from the stand-in systemctl's pid files. */
  async daemonPids(): Promise<number[]> {
    const dir = this.upper(STANDIN_STATE)
    const pids: number[] = []
    for (const f of await readdir(dir).catch(() => [])) {
      if (!f.endsWith('.pid')) continue
      const pid = Number((await readFile(join(dir, f), 'utf8')).trim())
      if (Number.isInteger(pid) && pid > 0) pids.push(pid)
    }
    return pids
  }

  async mounts(): Promise<string[]> {
    if (this.sshd === undefined) return []
    const text = await readFile(`/proc/${this.sshd.pid}/mounts`, 'utf8').catch(() => '')
    return text
      .split('\n')
      .filter(Boolean)
      .map((l) => l.split(' ')[1] as string)
  }

  async links(): Promise<string[]> {
    const text = await sh('ip', ['-n', this.host.ns, '-o', 'link', 'show'])
    return text
      .split('\n')
      .filter(Boolean)
      .map((l) => (l.split(': ')[1] ?? '').split('@')[0] as string)
  }

  async pids(): Promise<number[]> {
    const inNet = (await sh('ip', ['netns', 'pids', this.host.ns]).catch(() => ''))
      .split('\n')
      .filter(Boolean)
      .map(Number)
    const candidates = new Set([
      ...inNet,
      ...(await this.daemonPids()),
      ...(this.sshd ? [this.sshd.pid] : []),
    ])
    return [...candidates].filter(isAlive).sort((a, b) => a - b)
  }
}

/** True while the process exists and is not a zombie (killed orphans may stay zombies under some inits). */
export function isAlive(pid: number): boolean {
  try {
    // "pid (comm) S ...": the state letter follows the last parenthesis.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    return !/^[ZX]/.test(stat.slice(stat.lastIndexOf(')') + 2))
  } catch {
    return false
  }
}

export class StandinNodes {
  readonly net: TestNet
  /** The controller's namespace: run the cluster CLI here with ctl.spawn([...]). */
  readonly ctl: Host
  /** Host path of the per-test directory. */
  readonly dir: string
  /** Host path of the stand-in cluster store, seen by every node at the same path. */
  readonly shared: string
  readonly clientKeyPath: string
  readonly clientPublicKey: string
  readonly subnet: string
  private readonly nodes = new Map<string, NodeState>()
  private tmpfsMounted = false

  private constructor(
    net: TestNet,
    ctl: Host,
    dir: string,
    shared: string,
    subnet: string,
    clientPublicKey: string,
  ) {
    this.net = net
    this.ctl = ctl
    this.dir = dir
    this.shared = shared
    this.subnet = subnet
    this.clientKeyPath = join(dir, 'client_ed25519')
    this.clientPublicKey = clientPublicKey
  }

  static async create(label: string, options: StandinNodesOptions): Promise<StandinNodes> {
    const dir = await mkdtemp(join(tmpdir(), `standin-${label}-`))
    const net = await TestNet.create(label)
    let lab: StandinNodes | undefined
    try {
      await mkdir(join(dir, 'nodes'))
      await sh('mount', ['-t', 'tmpfs', '-o', 'mode=0755', 'standin-nodes', join(dir, 'nodes')])
      await sh('ssh-keygen', [
        '-q',
        '-t',
        'ed25519',
        '-N',
        '',
        '-C',
        'standin-client',
        '-f',
        join(dir, 'client_ed25519'),
      ])
      const clientPub = (await readFile(join(dir, 'client_ed25519.pub'), 'utf8')).trim()
      await writeFile(join(dir, 'authorized_keys'), `${clientPub}\n`, { mode: 0o600 })
      const ctl = await net.host('ctl', `${options.controllerIp}/24`)
      const shared = options.sharedDir ?? join(dir, 'shared')
      await mkdir(shared, { recursive: true })
      lab = new StandinNodes(net, ctl, dir, shared, options.subnet, clientPub)
      lab.tmpfsMounted = true
      await sh('mkdir', ['-p', '/run/sshd'])
      for (const spec of options.nodes) await lab.addNode(spec)
      return lab
    } catch (err) {
      if (lab) await lab.destroy()
      else {
        await sh('umount', [join(dir, 'nodes')]).catch(() => undefined)
        await net.destroy()
        await rm(dir, { recursive: true, force: true })
      }
      throw err
    }
  }

  node(name: string): StandinNode {
    return this.get(name)
  }

  private get(name: string): NodeState {
    const n = this.nodes.get(name)
    if (n === undefined) {
      throw new RangeError(
        `Cannot find stand-in node "${name}": known are ${[...this.nodes.keys()].join(', ')}`,
      )
    }
    return n
  }

  async addNode(spec: NodeSpec): Promise<StandinNode> {
    if (this.nodes.has(spec.name)) throw new Error(`Cannot add stand-in node "${spec.name}": it exists`)
    if (!spec.ip.startsWith(`${this.subnet}.`)) {
      throw new RangeError(
        `Cannot add stand-in node "${spec.name}": "${spec.ip}" is not in ${this.subnet}.0/24`,
      )
    }
    const host = await this.net.host(spec.name, `${spec.ip}/24`)
    const node = new NodeState(spec.name, spec.ip, host, join(this.dir, 'nodes', spec.name))
    this.nodes.set(spec.name, node)
    await this.prepare(node)
    await this.start(spec.name)
    return node
  }

  /** Fresh upper and work dirs with the stand-ins placed, and a new host key. */
  private async prepare(node: NodeState): Promise<void> {
    await rm(node.dir, { recursive: true, force: true })
    for (const [, tree] of TREES) {
      await mkdir(join(node.dir, `${tree}-upper`), { recursive: true })
      await mkdir(join(node.dir, `${tree}-work`), { recursive: true })
    }
    for (const [path, file] of Object.entries(PLACED)) {
      const target = node.upper(path)
      await mkdir(join(target, '..'), { recursive: true })
      await copyFile(join(STANDIN_SRC, file), target)
      await chmod(target, 0o755)
    }
    await writeFile(
      node.upper(ENV_FILE),
      `STANDIN_SHARED=${this.shared}\nSTANDIN_NODE=${node.name}\nSTANDIN_IP=${node.ip}\n`,
    )
    const key = join(this.dir, 'keys', node.name, 'host_ed25519')
    await rm(join(key, '..'), { recursive: true, force: true })
    await mkdir(join(key, '..'), { recursive: true })
    await sh('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', node.name, '-f', key])
    node.hostKey = (await readFile(`${key}.pub`, 'utf8')).trim().split(' ').slice(0, 2).join(' ')
    await writeFile(
      join(this.dir, 'keys', node.name, 'sshd_config'),
      sshdConfig({
        hostKey: key,
        listen: node.ip,
        pidFile: join(this.dir, 'keys', node.name, 'sshd.pid'),
        authorizedKeys: join(this.dir, 'authorized_keys'),
      }),
    )
  }

  /** Starts the node's sshd (in a new private mount namespace with the overlays) and waits until it listens. */
  async start(name: string): Promise<void> {
    const node = this.get(name)
    if (node.sshd !== undefined) throw new Error(`Cannot start stand-in node "${name}": it is running`)
    // A boot: what systemd knew of running units (the stand-in's pid and ready files) is gone.
    const state = node.upper(STANDIN_STATE)
    for (const f of await readdir(state).catch(() => [])) {
      if (f.endsWith('.pid') || f.endsWith('.ready')) await rm(join(state, f), { force: true })
    }
    const q = (s: string) => `'${s.replaceAll("'", `'\\''`)}'`
    const mounts = TREES.map(([prefix, tree]) => {
      const opts = `lowerdir=${prefix},upperdir=${join(node.dir, `${tree}-upper`)},workdir=${join(node.dir, `${tree}-work`)}`
      return `mount -t overlay standin-${tree} -o ${q(opts)} ${prefix}`
    })
    const script = [
      'set -e',
      ...mounts,
      // A fresh machine's root home: not the host's (its shell rc files, its credentials).
      'mount -t tmpfs -o mode=0700 standin-root /root',
      // Its own /run (k3s mounts under /run/k3s; sshd needs /run/sshd), gone with the namespace.
      'mount -t tmpfs -o mode=0755 standin-run /run',
      'mkdir -p /run/sshd',
      `hostname ${q(name)}`,
      `exec /usr/sbin/sshd -D -e -f ${q(join(this.dir, 'keys', name, 'sshd_config'))}`,
    ].join('; ')
    const sshd = node.host.spawn([
      'unshare',
      '--mount',
      '--uts',
      '--propagation',
      'private',
      '--',
      'sh',
      '-c',
      script,
    ])
    node.sshd = sshd
    await waitFor(
      `sshd on stand-in node "${name}"`,
      async () => {
        if (/Server listening/.test(sshd.output())) return true
        if (sshd.child.exitCode !== null) throw new Error(`Cannot start sshd on "${name}":\n${sshd.output()}`)
        return undefined
      },
      30_000,
    )
  }

  /** Kills the node's sshd, its sessions and its stand-in daemons (by PID): an unreachable machine. */
  async stop(name: string): Promise<void> {
    const node = this.get(name)
    const daemons = await node.daemonPids()
    for (const pid of daemons) kill(-pid) // setsid made each daemon a process group leader
    if (node.sshd !== undefined) await node.sshd.kill('SIGKILL')
    node.sshd = undefined
    await waitFor(
      `every process of stand-in node "${name}" to end`,
      async () => {
        const left = await node.pids()
        for (const pid of left) kill(pid)
        return left.length === 0 ? true : undefined
      },
      30_000,
    )
  }

  /** A reinstalled machine: everything killed, upper dirs wiped, stand-ins re-placed, a new host key. */
  async rebuild(name: string): Promise<void> {
    const node = this.get(name)
    await this.stop(name)
    // The mount namespace dies with its last process; wait for its overlays to let go of the dirs.
    await this.prepare(node)
    await this.start(name)
  }

  /** Stand-in k3s release files in <dir>/releases/<version>/, laid out like GitHub's release assets. */
  async releaseDir(version: string, arch = 'amd64'): Promise<string> {
    const dir = join(this.dir, 'releases', version)
    await mkdir(dir, { recursive: true })
    const binary = arch === 'amd64' ? 'k3s' : `k3s-${arch}`
    const source = (await readFile(join(STANDIN_SRC, 'k3s'), 'utf8')).replaceAll('@VERSION@', version)
    await writeFile(join(dir, binary), source, { mode: 0o755 })
    await chmod(join(dir, binary), 0o755)
    const images = `k3s-airgap-images-${arch}.tar`
    await writeFile(join(dir, images), `stand-in airgap images for ${version} ${arch}\n`)
    const lines: string[] = []
    for (const f of [binary, images]) {
      const hex = createHash('sha256')
        .update(await readFile(join(dir, f)))
        .digest('hex')
      lines.push(`${hex}  ${f}`)
    }
    await writeFile(join(dir, `sha256sum-${arch}.txt`), `${lines.join('\n')}\n`)
    return dir
  }

  /**
   * Serves <dir>/releases over HTTP inside `host`; returns the base URL. A release's files are at
   * `${base}/${encodeURIComponent(version)}/k3s` (the server decodes %2B to +, as GitHub does).
   */
  async startReleaseServer(host: Host, port = 8080): Promise<string> {
    await mkdir(join(this.dir, 'releases'), { recursive: true })
    const server = host.spawn([
      'python3',
      '-u',
      '-m',
      'http.server',
      '--bind',
      host.ip,
      '--directory',
      join(this.dir, 'releases'),
      String(port),
    ])
    await waitFor(
      'the stand-in release server',
      () => {
        if (/Serving HTTP/.test(server.output())) return true
        if (server.child.exitCode !== null)
          throw new Error(`Cannot start the release server:\n${server.output()}`)
        return undefined
      },
      30_000,
    )
    return `http://${host.ip}:${port}`
  }

  /**
   * Lines of `shared/k3s-events.log`, `<node> <server|agent> start|ready`, in the order the stand-in
   * k3s processes of every node reached them: a start, and its readiness (after which systemctl
   * start returns). [] when no k3s started.
   */
  async k3sEvents(): Promise<string[]> {
    const text = await readFile(join(this.shared, 'k3s-events.log'), 'utf8').catch(() => '')
    return text.split('\n').filter(Boolean)
  }

  /** Kills every sshd and stand-in daemon by PID, unmounts the tmpfs, deletes the namespaces and files. */
  async destroy(): Promise<void> {
    const errors: unknown[] = []
    for (const name of this.nodes.keys()) await this.stop(name).catch((e: unknown) => errors.push(e))
    await this.net.destroy().catch((e: unknown) => errors.push(e))
    if (this.tmpfsMounted) {
      const mnt = join(this.dir, 'nodes')
      await sh('umount', [mnt]).catch(() => sh('umount', ['-l', mnt]).catch((e: unknown) => errors.push(e)))
      this.tmpfsMounted = false
    }
    await rm(this.dir, { recursive: true, force: true })
    if (errors.length > 0) throw new AggregateError(errors, 'Cannot destroy the stand-in nodes cleanly')
  }
}

function kill(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL')
  } catch {
    // already gone
  }
}
