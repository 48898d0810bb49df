/**
 * `homelab cluster` end to end, on stand-in nodes: real OpenSSH servers, one per node in its own
 * network and mount namespace, carrying stand-ins for k3s, systemctl, sysctl and modprobe
 * (test/harness/k3s-nodes.ts), and a stand-in Kubernetes API server at the control-plane VIP
 * (test/harness/kube-standin.ts). k3s itself cannot run here: what is real is the CLI, SSH, the
 * files, their modes, the units, the order of starts and joins, and the API calls.
 *
 * Each test builds its own lab (nodes, API, config, state) and destroys it, pass or fail: no test
 * depends on another having run. The API holds every new node NotReady until it has been served
 * NotReady once, so the CLI is sure to see (and report) it before it turns Ready.
 */
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { copyFile, mkdir, readFile, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { type NsProcess, sh, waitFor } from '../tools/netns.ts'
import { isAlive, StandinNodes, type WrittenFile } from './harness/k3s-nodes.ts'

const ROOT = fileURLToPath(new URL('..', import.meta.url))
const HOMELAB = join(ROOT, 'bin', 'homelab')
const NODE24 = join(ROOT, 'tools', 'node24')
const NET = '10.96.0'
const VIP = `${NET}.100`
/**
 * A k3s version unique to the stand-in k3s's source. The CLI keeps a release's checksums and
 * binary in .cache/k3s/<version> for good (a real release never changes): a changed stand-in must
 * not be served from there.
 */
const VERSION = `v1.33.5+k3s${Number.parseInt(
  createHash('sha256')
    .update(readFileSync(join(ROOT, 'test', 'harness', 'standin', 'k3s')))
    .digest('hex')
    .slice(0, 7),
  16,
)}`

interface Machine {
  name: string
  ip: string
  role: 'server' | 'agent'
}

const server = (name: string, last: number): Machine => ({ name, ip: `${NET}.${last}`, role: 'server' })
const agent = (name: string, last: number): Machine => ({ name, ip: `${NET}.${last}`, role: 'agent' })
const METAL0 = server('metal0', 10)
const METAL1 = server('metal1', 11)
const METAL2 = server('metal2', 12)
const WORKER0 = agent('worker0', 20)
const WORKER1 = agent('worker1', 21)

interface Run {
  code: number | string
  output: string
  events: { type: string; [key: string]: unknown }[]
}

/** One test's stand-in machines, API server at the VIP, homelab.yaml, keys and state folder. */
class Lab {
  readonly nodes: StandinNodes
  readonly machines: Machine[]
  readonly configDir: string
  readonly stateDir: string
  api: NsProcess | undefined
  releases = ''

  constructor(nodes: StandinNodes, machines: Machine[]) {
    this.nodes = nodes
    this.machines = [...machines]
    this.configDir = join(nodes.dir, 'config')
    this.stateDir = join(this.configDir, '.state')
  }

  async start(): Promise<void> {
    await this.nodes.releaseDir(VERSION)
    this.releases = await this.nodes.startReleaseServer(this.nodes.ctl)
    const vip = await this.nodes.net.host('vip', `${VIP}/24`)
    const api = vip.spawn([
      NODE24,
      join(ROOT, 'test', 'harness', 'kube-standin.ts'),
      '--listen',
      `${VIP}:6443`,
      '--dir',
      join(this.nodes.shared, 'api'),
      '--nodes-dir',
      join(this.nodes.shared, 'nodes'),
      '--vip-holder',
      join(this.nodes.shared, 'vip-holder'),
      '--ready-after-reads',
      '1',
    ])
    this.api = api
    await waitFor(
      'the stand-in Kubernetes API',
      () => {
        if (/listening/.test(api.output())) return true
        if (api.child.exitCode !== null) throw new Error(`the stand-in API server exited:\n${api.output()}`)
        return undefined
      },
      60_000,
    )
    await mkdir(join(this.configDir, 'keys'), { recursive: true })
    await copyFile(this.nodes.clientKeyPath, join(this.configDir, 'keys', 'id_ed25519'))
    await copyFile(`${this.nodes.clientKeyPath}.pub`, join(this.configDir, 'keys', 'id_ed25519.pub'))
    await sh('chmod', ['600', join(this.configDir, 'keys', 'id_ed25519')])
    await this.writeConfig()
  }

  async writeConfig(): Promise<void> {
    const list = this.machines
      .map((m, i) =>
        [
          `  - name: ${m.name}`,
          `    mac: 52:54:00:96:00:${(16 + i).toString(16)}`,
          `    ip: ${m.ip}`,
          `    role: ${m.role}`,
          '    disk: vda',
          '    nic: enp0s2',
        ].join('\n'),
      )
      .join('\n')
    await writeFile(
      join(this.configDir, 'homelab.yaml'),
      `network:
  interface: eth0
  subnet: ${NET}.0/24
  gateway: ${NET}.1
  controller: ${NET}.2
machines:
${list}
cluster:
  k3sVersion: ${VERSION}
  endpoint: ${VIP}
os:
  release: 43
  iso: test-os
  timezone: UTC
  sshPublicKey: keys/id_ed25519.pub
gitops:
  seed:
    url: https://example.invalid/homelab
  domain: lab.home.arpa
`,
    )
  }

  /** A machine added to homelab.yaml, and to the lab as a fresh stand-in node. */
  async addMachine(machine: Machine): Promise<void> {
    await this.nodes.addNode(machine)
    this.machines.push(machine)
    await this.writeConfig()
  }

  /** Runs the CLI inside the controller's namespace, as a user would on the controller. */
  async homelab(args: string[], json = true): Promise<Run> {
    const p = this.nodes.ctl.spawn(
      [HOMELAB, ...args, '--config', join(this.configDir, 'homelab.yaml'), ...(json ? ['--json'] : [])],
      { env: { ...process.env, HOMELAB_K3S_RELEASES: this.releases } },
    )
    const code = await p.exited
    const output = p.output()
    const events = json
      ? output
          .split('\n')
          .filter((l) => l.startsWith('{'))
          .map((l) => JSON.parse(l) as Run['events'][number])
      : []
    return { code, output, events }
  }

  /** `homelab cluster` on a fresh lab: the cluster every later step starts from; asserts it formed. */
  async form(): Promise<Run> {
    const run = await this.homelab(['cluster', '--ready-timeout', '120'])
    assert.equal(run.code, 0, run.output)
    for (const m of this.machines) assert.equal(summary(run)[m.name]?.result, 'changed', m.name)
    return run
  }

  /** Everything observable on a node but the files etcd itself keeps writing while it runs (its data). */
  async snapshot(name: string) {
    const node = this.nodes.node(name)
    const files = (await node.written()).filter(
      (f) => !f.path.startsWith('/var/lib/rancher/k3s/server/db/etcd/'),
    )
    const times = await Promise.all(files.map(async (f) => [f.path, (await node.stat(f.path))?.mtimeMs]))
    return {
      files,
      times,
      systemctl: (await node.log('systemctl')).filter((l) => !/^is-(active|enabled)\b/.test(l)),
      starts: (await node.k3sInvocations()).length,
    }
  }

  snapshots(names: string[]) {
    return Promise.all(names.map((n) => this.snapshot(n)))
  }

  /** Every request the stand-in API server logged. */
  async requests(): Promise<{ time: string; method: string; path: string; status: number }[]> {
    return (await readFile(join(this.nodes.shared, 'api', 'requests.jsonl'), 'utf8'))
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l))
  }

  /** The real etcd cluster's started members (etcdctl member list, from the controller's namespace). */
  async etcdMembers(): Promise<string[]> {
    const endpoints = (await readFile(join(this.nodes.shared, 'etcd-endpoints'), 'utf8'))
      .split('\n')
      .filter(Boolean)
    const p = this.nodes.ctl.spawn(
      ['etcdctl', '--endpoints', endpoints.join(','), '--command-timeout=5s', 'member', 'list'],
      { env: { ...process.env, ETCDCTL_API: '3' } },
    )
    assert.equal(await p.exited, 0, p.output())
    return p
      .output()
      .split('\n')
      .map((l) => l.split(', '))
      .filter((f) => f.length >= 5 && f[1] === 'started')
      .map((f) => f[2] as string)
      .sort()
  }

  async forks(): Promise<string> {
    return readFile(join(this.nodes.shared, 'forks.log'), 'utf8').catch(() => '')
  }

  async destroy(): Promise<void> {
    try {
      await this.api?.kill('SIGTERM')
    } finally {
      await this.nodes.destroy()
    }
  }
}

/** Runs `body` in a new lab of these machines; everything it made is removed afterwards, pass or fail. */
async function withLab(label: string, machines: Machine[], body: (lab: Lab) => Promise<void>): Promise<void> {
  const nodes = await StandinNodes.create(label, { subnet: NET, nodes: machines, controllerIp: `${NET}.2` })
  const lab = new Lab(nodes, machines)
  try {
    await lab.start()
    await body(lab)
  } finally {
    await lab.destroy()
  }
}

function summary(run: Run): Record<string, { result: string; lastStep: string; detail: string }> {
  const event = run.events.find((e) => e.type === 'cluster.summary') as
    | { nodes: { node: string; result: string; lastStep: string; detail: string }[] }
    | undefined
  assert.ok(event, `no summary in:\n${run.output}`)
  return Object.fromEntries(event.nodes.map((n) => [n.node, n]))
}

/** Per node, what the live readiness lines said, in order: `NotReady...`, then `Ready`. */
function readiness(run: Run): Record<string, string[]> {
  const out: Record<string, string[]> = {}
  for (const e of run.events) {
    const line =
      e.type === 'node.waiting' ? String(e.lastSeen) : e.type === 'node.ready' ? 'Ready' : undefined
    if (line !== undefined) out[String(e.node)] = [...(out[String(e.node)] ?? []), line]
  }
  return out
}

const NOT_READY =
  'NotReady: KubeletNotReady (container runtime network not ready: cni plugin not initialized)'

/**
 * The tool links a node gets: like install.sh, only for kubectl, crictl and ctr where no such
 * command is found (the nodes see the host's /usr and /usr/local/bin, with sshd's PATH).
 */
const TOOL_LINKS = ['crictl', 'ctr', 'kubectl'].filter(
  (t) =>
    spawnSync('sh', ['-c', `command -v ${t}`], {
      env: { PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' },
    }).status !== 0,
)

const paths = (files: WrittenFile[]) => files.map((f) => `${f.path} ${f.mode.toString(8)}`)
const joinsThroughVip = new RegExp(`^server: https://${VIP.replaceAll('.', '\\.')}:6443$`, 'm')

test('stand-in nodes, first run: one server initialises, the others join through the stand-in VIP once kube-vip holds it, one at a time, every node reported NotReady then Ready; a re-run changes nothing', async () => {
  await withLab('cl-first', [METAL0, METAL1, METAL2, WORKER0], async (lab) => {
    const { nodes, machines, stateDir } = lab
    const run = await lab.homelab(['cluster', '--ready-timeout', '120'])
    assert.equal(run.code, 0, run.output)
    const result = summary(run)
    for (const m of machines) assert.equal(result[m.name]?.result, 'changed', m.name)

    // The plan: metal0 initialises (no server held a cluster), joins go through the VIP.
    const plan = run.events.find((e) => e.type === 'cluster.plan')?.plan as {
      init: string
      joinAddress: string
    }
    assert.equal(plan.init, 'metal0')
    assert.equal(plan.joinAddress, VIP)

    // Exactly these files, with these modes, on a server and on the agent.
    const ours = [
      '/etc/modules-load.d/homelab-k3s.conf 644',
      '/etc/rancher/k3s/config.yaml 600',
      '/etc/rancher/k3s/token 600',
      '/etc/sysctl.d/90-homelab-k3s.conf 644',
    ]
    for (const name of ['metal0', 'metal1', 'metal2']) {
      const written = paths(await nodes.node(name).written())
      for (const p of [
        ...ours,
        '/etc/rancher/k3s/k3s.yaml 600',
        '/etc/systemd/system/k3s.service 644',
        '/etc/systemd/system/multi-user.target.wants/k3s.service 777',
        '/usr/local/bin/k3s 755',
        '/var/lib/rancher/k3s/agent/pod-manifests/kube-vip.yaml 600',
      ]) {
        assert.ok(written.includes(p), `${name} lacks ${p}: ${written.join(', ')}`)
      }
      assert.deepEqual(
        written.filter((w) => !/^\/var\/lib\/rancher\/k3s\/(server|agent|data)\//.test(w)),
        [
          '/etc/modules-load.d/homelab-k3s.conf 644',
          '/etc/rancher/k3s/agent-token 600',
          '/etc/rancher/k3s/config.yaml 600',
          '/etc/rancher/k3s/k3s.yaml 600',
          '/etc/rancher/k3s/token 600',
          '/etc/rancher/node/password 600',
          '/etc/sysctl.d/90-homelab-k3s.conf 644',
          '/etc/systemd/system/k3s.service 644',
          '/etc/systemd/system/k3s.service.env 600',
          '/etc/systemd/system/multi-user.target.wants/k3s.service 777',
          ...TOOL_LINKS.filter((t) => t < 'k3s').map((t) => `/usr/local/bin/${t} 777`),
          '/usr/local/bin/k3s 755',
          '/usr/local/bin/k3s-killall.sh 755',
          '/usr/local/bin/k3s-uninstall.sh 755',
          ...TOOL_LINKS.filter((t) => t > 'k3s').map((t) => `/usr/local/bin/${t} 777`),
        ],
        `${name}: no other file outside k3s's own data`,
      )
    }
    const agentFiles = paths(await nodes.node('worker0').written())
    for (const p of [
      ...ours,
      '/etc/systemd/system/k3s-agent.service 644',
      '/etc/systemd/system/k3s-agent.service.env 600',
      '/usr/local/bin/k3s 755',
      '/usr/local/bin/k3s-killall.sh 755',
      '/usr/local/bin/k3s-agent-uninstall.sh 755',
    ]) {
      assert.ok(agentFiles.includes(p), `worker0 lacks ${p}: ${agentFiles.join(', ')}`)
    }
    assert.ok(
      !agentFiles.some(
        (p) => p.includes('kube-vip') || p.includes('k3s.service ') || p.includes('agent-token'),
      ),
      agentFiles.join(', '),
    )

    // The tokens: 32 characters each, 0600 on the controller, never printed. The first server
    // holds the bare server secret; joining servers the full server token read from it (with the
    // cluster CA's hash, so they check the CA); the agent a full token of the separate agent secret.
    const secretOf = async (name: string) => {
      const file = join(stateDir, 'cluster', name)
      assert.equal((await stat(file)).mode & 0o777, 0o600)
      const secret = (await readFile(file, 'utf8')).trim()
      assert.match(secret, /^[A-Za-z0-9]{32}$/)
      assert.ok(!run.output.includes(secret), `the ${name} is never printed`)
      return secret
    }
    const token = await secretOf('token')
    const agentToken = await secretOf('agent-token')
    assert.notEqual(token, agentToken)
    const tokenOn = async (name: string) =>
      (await nodes.node(name).readFile('/etc/rancher/k3s/token'))?.trim()
    assert.equal(await tokenOn('metal0'), token)
    const full = (await nodes.node('metal0').readFile('/var/lib/rancher/k3s/server/token'))?.trim() ?? ''
    const caHash = /^K10([0-9a-f]{64})::server:/.exec(full)?.[1]
    assert.ok(caHash, full === '' ? 'no server token on metal0' : "the server token is in k3s's full form")
    for (const name of ['metal1', 'metal2'])
      assert.equal(await tokenOn(name), `K10${caHash}::server:${token}`)
    assert.equal(await tokenOn('worker0'), `K10${caHash}::node:${agentToken}`)
    for (const name of ['metal0', 'metal1', 'metal2']) {
      assert.equal((await nodes.node(name).readFile('/etc/rancher/k3s/agent-token'))?.trim(), agentToken)
    }
    for (const m of machines) {
      assert.equal(
        await nodes.node(m.name).readFile('/var/lib/homelab-standin/bare-token.log'),
        undefined,
        `${m.name} joined with a token without the CA hash`,
      )
    }
    // The joins waited for the VIP: it was asked (and dropped) before kube-vip held it, and
    // every joining node (which asks /cacerts once, fatally) found it answering.
    const asked = (await lab.requests()).filter((r) => r.path === '/cacerts')
    assert.equal(asked[0]?.status, 0, 'the VIP was asked before anything held it')
    assert.equal(asked.at(-1)?.status, 200)
    assert.equal((await readFile(join(nodes.shared, 'vip-holder'), 'utf8')).trim(), 'metal0')

    // What the stand-in k3s saw: who initialised, who joined where, and in which order: each
    // server started only once the one before was ready (systemctl start returned), the agent last.
    const first = async (name: string) => {
      const [invocation] = await nodes.node(name).k3sInvocations()
      assert.ok(invocation, `${name} never started k3s`)
      return invocation
    }
    const starts = await Promise.all(machines.map((m) => first(m.name)))
    assert.match(starts[0]?.config ?? '', /^cluster-init: true$/m)
    for (const s of starts.slice(1)) {
      assert.match(s.config ?? '', joinsThroughVip)
      assert.doesNotMatch(s.config ?? '', /cluster-init/)
    }
    assert.deepEqual(
      starts.map((s) => s.argv),
      [['server'], ['server'], ['server'], ['agent']],
    )
    assert.deepEqual(await nodes.k3sEvents(), [
      'metal0 server start',
      'metal0 server ready',
      'metal1 server start',
      'metal1 server ready',
      'metal2 server start',
      'metal2 server ready',
      'worker0 agent start',
      'worker0 agent ready',
    ])
    assert.equal(await lab.forks(), '')

    // Units: written, reloaded before they were started, never started stale.
    for (const m of machines) {
      const log = await nodes.node(m.name).log('systemctl')
      const unit = m.role === 'server' ? 'k3s' : 'k3s-agent'
      assert.ok(!log.some((l) => l.startsWith('warning')), log.join('\n'))
      const reload = log.indexOf('daemon-reload')
      const start = log.indexOf(`start --no-block ${unit}`)
      assert.ok(reload >= 0 && start > reload, `${m.name}: ${log.join(' | ')}`)
      assert.ok(log.includes(`enable ${unit}`), `${m.name}: ${log.join(' | ')}`)
      assert.deepEqual(
        (await nodes.node(m.name).readFile('/var/lib/homelab-standin/modules'))?.trim().split('\n'),
        ['br_netfilter', 'overlay'],
      )
    }

    // The kubeconfig: 0600, pointing at the endpoint, and the API answers through it.
    const kubeconfig = join(stateDir, 'kubeconfig')
    assert.equal((await stat(kubeconfig)).mode & 0o777, 0o600)
    const text = await readFile(kubeconfig, 'utf8')
    assert.match(text, new RegExp(`server: https://${VIP.replaceAll('.', '\\.')}:6443`))
    assert.doesNotMatch(text, /127\.0\.0\.1/)
    // The live lines: every node reported NotReady (the API holds each until it served it so
    // once), then Ready.
    const seen = readiness(run)
    for (const m of machines) assert.deepEqual(seen[m.name], [NOT_READY, 'Ready'], m.name)

    const printed = await lab.homelab(['kubeconfig'], false)
    assert.equal(printed.code, 0)
    assert.equal(printed.output.trim(), `export KUBECONFIG=${kubeconfig}`)

    // Run again: nothing changes on any node (files, modes, mtimes, service calls, k3s starts).
    const before = await lab.snapshots(machines.map((m) => m.name))
    const again = await lab.homelab(['cluster', '--ready-timeout', '120'])
    assert.equal(again.code, 0, again.output)
    const second = summary(again)
    for (const m of machines)
      assert.equal(second[m.name]?.result, 'unchanged', `${m.name}: ${second[m.name]?.detail}`)
    assert.deepEqual(await lab.snapshots(machines.map((m) => m.name)), before)
    assert.ok(
      again.events.some((e) => e.type === 'kubeconfig.written' && e.changed === false),
      'the kubeconfig was left as it was',
    )
    assert.equal((await nodes.k3sEvents()).length, 8, 'no k3s started again')
  })
})

test('stand-in nodes, a new agent in homelab.yaml joins, and nothing else changes', async () => {
  await withLab('cl-agent', [METAL0, WORKER0], async (lab) => {
    await lab.form()
    const others = await lab.snapshots(['metal0', 'worker0'])
    await lab.addMachine(WORKER1)
    const run = await lab.homelab(['cluster', '--ready-timeout', '120'])
    assert.equal(run.code, 0, run.output)
    const result = summary(run)
    assert.deepEqual(
      ['metal0', 'worker0', 'worker1'].map((n) => result[n]?.result),
      ['unchanged', 'unchanged', 'changed'],
    )
    assert.deepEqual(await lab.snapshots(['metal0', 'worker0']), others)
    const [joined] = await lab.nodes.node('worker1').k3sInvocations()
    assert.match(joined?.config ?? '', joinsThroughVip)
    const seen = readiness(run)
    assert.deepEqual(seen.worker1, [NOT_READY, 'Ready'])
    assert.deepEqual([seen.metal0, seen.worker0], [['Ready'], ['Ready']])
  })
})

test('stand-in nodes with real etcd, the first server rebuilt: its old Node (held by the stand-in finalizer) and etcd member gone first, then it rejoins through the VIP, no second cluster-init', async () => {
  await withLab('cl-rebuild', [METAL0, METAL1, METAL2], async (lab) => {
    const { nodes, stateDir } = lab
    await lab.form()
    const others = await lab.snapshots(['metal1', 'metal2'])
    await nodes.rebuild('metal0')
    // What `homelab metal --reinstall metal0` records: the new host key of the reinstalled machine.
    const statePath = join(stateDir, 'machines.json')
    const state = JSON.parse(await readFile(statePath, 'utf8'))
    state.machines.metal0.hostKey = nodes.node('metal0').hostKey
    await writeFile(statePath, JSON.stringify(state), { mode: 0o600 })

    const run = await lab.homelab(['cluster', '--ready-timeout', '120'])
    assert.equal(run.code, 0, run.output)
    const plan = run.events.find((e) => e.type === 'cluster.plan')?.plan as {
      init?: string
      members: string[]
    }
    assert.equal(plan.init, undefined)
    assert.deepEqual(plan.members, ['metal1', 'metal2'])
    const [rejoin] = await nodes.node('metal0').k3sInvocations()
    assert.match(rejoin?.config ?? '', joinsThroughVip)
    assert.doesNotMatch(rejoin?.config ?? '', /cluster-init/)
    assert.equal(await lab.forks(), '')
    assert.ok(
      run.events.some((e) => e.type === 'node.rebuilt' && e.node === 'metal0'),
      'the old metal0 was removed from the cluster before it rejoined',
    )
    const requests = await lab.requests()
    const deleted = requests.findIndex((r) => r.method === 'DELETE' && r.path === '/api/v1/nodes/metal0')
    assert.ok(deleted >= 0, 'the old metal0 was deleted through the API')
    // The stand-in API holds the deleted Node terminating (k3s's finalizer removes its etcd
    // member) until it was served so: the CLI read it terminating, then its 404, and only then
    // started k3s on metal0, which the stand-in would refuse as a duplicate etcd member before.
    const onMetal0 = (i: number, status: number) =>
      requests.findIndex(
        (r, j) => j > i && r.method === 'GET' && r.path === '/api/v1/nodes/metal0' && r.status === status,
      )
    const terminating = onMetal0(deleted, 200)
    const gone = onMetal0(terminating, 404)
    assert.ok(terminating > deleted && gone > terminating, 'read terminating, then gone')
    assert.ok(
      Date.parse(requests[gone]?.time as string) / 1000 <= (rejoin?.time ?? 0),
      'k3s started after the 404',
    )
    assert.deepEqual(
      await lab.etcdMembers(),
      ['metal0', 'metal1', 'metal2'],
      'a member again, the old one gone',
    )
    // its new registration was seen NotReady, then Ready
    assert.deepEqual(readiness(run).metal0, [NOT_READY, 'Ready'])
    assert.deepEqual(await lab.snapshots(['metal1', 'metal2']), others)
    assert.equal(summary(run).metal0?.result, 'changed')
  })
})

test('stand-in nodes, a changed host key is refused, naming the node; the others are left alone', async () => {
  await withLab('cl-hostkey', [METAL0, WORKER0], async (lab) => {
    await lab.form()
    const others = await lab.snapshots(['metal0'])
    await lab.nodes.rebuild('worker0')
    const run = await lab.homelab(['cluster', '--ready-timeout', '120'])
    assert.equal(run.code, 1, run.output)
    const result = summary(run)
    assert.equal(result.worker0?.result, 'failed')
    assert.equal(result.worker0?.lastStep, 'connect')
    assert.match(result.worker0?.detail ?? '', /host key changed/)
    assert.equal(result.metal0?.result, 'unchanged')
    assert.deepEqual(await lab.nodes.node('worker0').written(), [], 'nothing was written to worker0')
    assert.deepEqual(await lab.snapshots(['metal0']), others)
  })
})

test('stand-in nodes, an unreachable node fails with its name and the last step it reached', async () => {
  await withLab('cl-unreach', [METAL0, WORKER0], async (lab) => {
    await lab.nodes.stop('worker0')
    const run = await lab.homelab(['cluster', '--ready-timeout', '120', '--ssh-retries', '1'], false)
    assert.equal(run.code, 1, run.output)
    assert.match(run.output, /worker0: failed at step "connect": Cannot connect to 10\.96\.0\.20:22/)
    assert.match(run.output, /worker0 +agent +failed/)
    assert.match(run.output, /metal0 +server +changed/)
  })
})

test("stand-in nodes with real etcd, node remove: drains (DaemonSet pods stay), waits for the Node and its member to go, the uninstall leaves none of the stand-in k3s's processes, mounts or links; a second run finds it already removed; one of two servers is refused", async () => {
  await withLab('cl-remove', [METAL0, METAL1, METAL2], async (lab) => {
    const { nodes, stateDir } = lab
    await lab.form()
    // Seeded through the stand-in API from the controller's side: two pods on metal2, one of a DaemonSet.
    const pod = (name: string, owner?: string) => ({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: {
        name,
        namespace: 'default',
        ...(owner === undefined
          ? {}
          : { ownerReferences: [{ apiVersion: 'apps/v1', kind: 'DaemonSet', name: owner, uid: 'x' }] }),
      },
      spec: { nodeName: 'metal2', containers: [{ name: 'c', image: 'busybox' }] },
    })
    const seed = nodes.ctl.spawn([
      NODE24,
      '-e',
      `
      const { createKubeClient } = await import(${JSON.stringify(join(ROOT, 'lib/kube/client.ts'))})
      const { loadKubeconfig } = await import(${JSON.stringify(join(ROOT, 'lib/kube/kubeconfig.ts'))})
      const c = createKubeClient(await loadKubeconfig(${JSON.stringify(join(stateDir, 'kubeconfig'))}))
      for (const p of ${JSON.stringify([pod('web'), pod('logs', 'log-shipper')])})
        await c.request('POST', '/api/v1/namespaces/default/pods', { body: p })
      `,
    ])
    assert.equal(await seed.exited, 0, seed.output())

    // What k3s leaves on metal2 when its unit stops: a containerd shim and its container, tmpfs
    // mounts under /run/k3s and /var/lib/kubelet/pods, cni0 (with a veth in it) and flannel.1.
    const node = nodes.node('metal2')
    const shim = Number((await node.readFile('/var/lib/homelab-standin/shim.pid'))?.trim())
    const k3sMounts = async () =>
      (await node.mounts()).filter((m) => /^\/(run\/k3s|var\/lib\/kubelet)\//.test(m))
    const k3sLinks = async () =>
      (await node.links()).filter((l) => ['cni0', 'flannel.1', 'vethstandin'].includes(l))
    assert.ok(isAlive(shim), 'the stand-in shim runs')
    assert.equal((await k3sMounts()).length, 2)
    assert.deepEqual((await k3sLinks()).sort(), ['cni0', 'flannel.1', 'vethstandin'])

    const run = await lab.homelab(['node', 'remove', 'metal2'], false)
    assert.equal(run.code, 0, run.output)
    assert.ok(!isAlive(shim), 'the shim was killed with its container')
    assert.deepEqual(await k3sMounts(), [], 'nothing of k3s is mounted')
    assert.deepEqual(await k3sLinks(), [], 'no CNI link is left')
    assert.match(run.output, /metal2: cordoned/)
    assert.match(run.output, /metal2: evicting default\/web/)
    assert.doesNotMatch(run.output, /evicting default\/logs/)
    assert.match(run.output, /now delete it from homelab\.yaml/)
    for (const gone of [
      '/etc/rancher/k3s/config.yaml',
      '/etc/rancher/k3s/token',
      '/usr/local/bin/k3s',
      '/etc/systemd/system/k3s.service',
      '/etc/systemd/system/k3s.service.env',
      '/usr/local/bin/k3s-killall.sh',
      '/usr/local/bin/k3s-uninstall.sh',
    ]) {
      assert.equal(await node.stat(gone), undefined, `${gone} is still on metal2`)
    }
    const systemctl = await node.log('systemctl')
    assert.ok(
      systemctl.includes('stop k3s.service') && systemctl.includes('disable k3s'),
      systemctl.join('\n'),
    )
    const removal = (await lab.requests()).filter(
      (r) => r.path.includes('metal2') || r.path.includes('/pods'),
    )
    const order = removal.map((r) => `${r.method} ${r.path.replace(/\?.*/, '')}`)
    const cordonAt = order.findIndex((r) => r.startsWith('PATCH /api/v1/nodes/metal2'))
    const evictAt = order.findIndex((r) => r.endsWith('/pods/web/eviction'))
    const deleteAt = order.indexOf('DELETE /api/v1/nodes/metal2')
    assert.ok(cordonAt >= 0 && cordonAt < evictAt && evictAt < deleteAt, order.join('\n'))
    // k3s still ran until the Node was gone: its finalizer (the etcd member) had run.
    assert.ok(
      removal.some(
        (r, i) => i > deleteAt && r.method === 'GET' && r.path === '/api/v1/nodes/metal2' && r.status === 404,
      ),
      'the CLI waited for the 404',
    )
    assert.deepEqual(await lab.etcdMembers(), ['metal0', 'metal1'], 'its etcd member was removed')

    const again = await lab.homelab(['node', 'remove', 'metal2'], false)
    assert.equal(again.code, 0, again.output)
    assert.match(again.output, /already removed/)

    // Now two servers are left: removing either would break etcd quorum, and is refused.
    const refused = await lab.homelab(['node', 'remove', 'metal1'], false)
    assert.equal(refused.code, 1, refused.output)
    assert.match(refused.output, /Cannot remove metal1: etcd needs a majority of its 2 members \(2\)/)
    assert.ok(await nodes.node('metal1').stat('/usr/local/bin/k3s'), 'metal1 was left as it was')
    assert.ok(
      !(await lab.requests()).some((r) => r.path.startsWith('/api/v1/nodes/metal1') && r.method !== 'GET'),
    )
  })
})

test('stand-in nodes, a k3s version change restarts the servers one at a time, each Ready before the next, then the agent', async () => {
  await withLab('cl-roll', [METAL0, METAL1, WORKER0], async (lab) => {
    await lab.form()
    const before = (await lab.nodes.k3sEvents()).length
    const next = `v1.33.6+k3s${VERSION.split('+k3s')[1]}`
    await lab.nodes.releaseDir(next)
    await writeFile(
      join(lab.configDir, 'homelab.yaml'),
      (await readFile(join(lab.configDir, 'homelab.yaml'), 'utf8')).replace(
        `k3sVersion: ${VERSION}`,
        `k3sVersion: ${next}`,
      ),
    )
    const run = await lab.homelab(['cluster', '--ready-timeout', '120'])
    assert.equal(run.code, 0, run.output)
    for (const m of ['metal0', 'metal1', 'worker0']) assert.equal(summary(run)[m]?.result, 'changed', m)
    assert.deepEqual((await lab.nodes.k3sEvents()).slice(before), [
      'metal0 server start',
      'metal0 server ready',
      'metal1 server start',
      'metal1 server ready',
      'worker0 agent start',
      'worker0 agent ready',
    ])
    // metal1 was restarted only once metal0 was seen Ready through the API after its restart.
    const steps = run.events
      .map((e) =>
        e.type === 'node.ready'
          ? `${e.node} ready`
          : e.type === 'node.step' && e.step === 'service' && e.status === 'running' && e.detail === undefined
            ? `${e.node} service`
            : undefined,
      )
      .filter(Boolean)
    assert.ok(steps.indexOf('metal0 ready') < steps.indexOf('metal1 service'), steps.join(', '))
    for (const m of ['metal0', 'metal1']) {
      const log = await lab.nodes.node(m).log('systemctl')
      assert.ok(log.includes('restart --no-block k3s'), `${m}: ${log.join(' | ')}`)
    }
    // ... and once etcd (real, behind the stand-in servers) answered a quorum read again.
    const restartedAt = async (m: string) =>
      ((await lab.nodes.node(m).k3sInvocations()).at(-1)?.time ?? 0) * 1000
    const [metal0At, metal1At] = [await restartedAt('metal0'), await restartedAt('metal1')]
    const healthy = (await lab.requests()).filter((r) => r.path === '/readyz/etcd' && r.status === 200)
    assert.ok(
      healthy.some((r) => Date.parse(r.time) > metal0At && Date.parse(r.time) < metal1At),
      'etcd was checked healthy between the two restarts',
    )
  })
})
