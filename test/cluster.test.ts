/**
 * `homelab cluster` end to end, on stand-in nodes: real OpenSSH servers, one per node in its own
 * network and mount namespace, carrying stand-ins for k3s, systemctl, sysctl and modprobe
 * (test/harness/k3s-nodes.ts), and a stand-in Kubernetes API server at the control-plane VIP
 * (test/harness/kube-standin.ts). k3s itself cannot run here: what is real is the CLI, SSH, the
 * files, their modes, the units, the order of starts and joins, and the API calls.
 */
import assert from 'node:assert/strict'
import { copyFile, mkdir, readFile, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { after, before, test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { type StandinNodes as Nodes, StandinNodes, type WrittenFile } from './harness/k3s-nodes.ts'
import { type NsProcess, sh, waitFor } from './harness/netns.ts'

const ROOT = fileURLToPath(new URL('..', import.meta.url))
const HOMELAB = join(ROOT, 'bin', 'homelab')
const NODE24 = join(ROOT, 'tools', 'node24')
const NET = '10.96.0'
const VIP = `${NET}.100`
const VERSION = 'v1.33.5+k3s1'
const SERVERS = ['metal0', 'metal1', 'metal2']

let nodes: Nodes
let api: NsProcess
let releases = ''
let configDir = ''
let stateDir = ''
const machines: { name: string; ip: string; role: 'server' | 'agent' }[] = [
  { name: 'metal0', ip: `${NET}.10`, role: 'server' },
  { name: 'metal1', ip: `${NET}.11`, role: 'server' },
  { name: 'metal2', ip: `${NET}.12`, role: 'server' },
  { name: 'worker0', ip: `${NET}.20`, role: 'agent' },
]

async function writeConfig(): Promise<void> {
  const list = machines
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
    join(configDir, 'homelab.yaml'),
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

interface Run {
  code: number | string
  output: string
  events: { type: string; [key: string]: unknown }[]
}

/** Runs the CLI inside the controller's namespace, as a user would on the controller. */
async function homelab(args: string[], json = true): Promise<Run> {
  const p = nodes.ctl.spawn(
    [HOMELAB, ...args, '--config', join(configDir, 'homelab.yaml'), ...(json ? ['--json'] : [])],
    { env: { ...process.env, HOMELAB_K3S_RELEASES: releases } },
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

function summary(run: Run): Record<string, { result: string; lastStep: string; detail: string }> {
  const event = run.events.find((e) => e.type === 'cluster.summary') as
    | { nodes: { node: string; result: string; lastStep: string; detail: string }[] }
    | undefined
  assert.ok(event, `no summary in:\n${run.output}`)
  return Object.fromEntries(event.nodes.map((n) => [n.node, n]))
}

/** Everything observable on a node: files (path, mode, content hash, mtime), logs, k3s starts. */
async function snapshot(name: string) {
  const node = nodes.node(name)
  const files = await node.written()
  const times = await Promise.all(files.map(async (f) => [f.path, (await node.stat(f.path))?.mtimeMs]))
  return {
    files,
    times,
    systemctl: (await node.log('systemctl')).filter((l) => !/^is-(active|enabled)\b/.test(l)),
    starts: (await node.k3sInvocations()).length,
  }
}

const paths = (files: WrittenFile[]) => files.map((f) => `${f.path} ${f.mode.toString(8)}`)

before(async () => {
  nodes = await StandinNodes.create('cluster', { subnet: NET, nodes: machines, controllerIp: `${NET}.2` })
  await nodes.releaseDir(VERSION)
  releases = await nodes.startReleaseServer(nodes.ctl)
  const vip = await nodes.net.host('vip', `${VIP}/24`)
  api = vip.spawn([
    NODE24,
    join(ROOT, 'test', 'harness', 'kube-standin.ts'),
    '--listen',
    `${VIP}:6443`,
    '--dir',
    join(nodes.shared, 'api'),
    '--nodes-dir',
    join(nodes.shared, 'nodes'),
    '--ready-after-reads',
    '1',
  ])
  await waitFor(
    'the stand-in Kubernetes API',
    () => (/listening/.test(api.output()) ? true : undefined),
    20_000,
  )
  configDir = join(nodes.dir, 'config')
  stateDir = join(configDir, '.state')
  await mkdir(join(configDir, 'keys'), { recursive: true })
  await copyFile(nodes.clientKeyPath, join(configDir, 'keys', 'id_ed25519'))
  await copyFile(`${nodes.clientKeyPath}.pub`, join(configDir, 'keys', 'id_ed25519.pub'))
  await sh('chmod', ['600', join(configDir, 'keys', 'id_ed25519')])
  await writeConfig()
})

after(async () => {
  await api?.kill('SIGTERM')
  await nodes?.destroy()
})

test('stand-in nodes, first run: one server initialises, the others join through the VIP one at a time, every node Ready', async () => {
  const run = await homelab(['cluster', '--ready-timeout', '60'])
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
  for (const name of SERVERS) {
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
      written.filter(
        (w) => !w.startsWith('/var/lib/rancher/k3s/server/') && !w.startsWith('/var/lib/rancher/k3s/agent/'),
      ),
      [
        '/etc/modules-load.d/homelab-k3s.conf 644',
        '/etc/rancher/k3s/config.yaml 600',
        '/etc/rancher/k3s/k3s.yaml 600',
        '/etc/rancher/k3s/token 600',
        '/etc/rancher/node/password 600',
        '/etc/sysctl.d/90-homelab-k3s.conf 644',
        '/etc/systemd/system/k3s.service 644',
        '/etc/systemd/system/multi-user.target.wants/k3s.service 777',
        '/usr/local/bin/k3s 755',
      ],
      `${name}: no other file outside k3s's own data`,
    )
  }
  const agentFiles = paths(await nodes.node('worker0').written())
  for (const p of [...ours, '/etc/systemd/system/k3s-agent.service 644', '/usr/local/bin/k3s 755']) {
    assert.ok(agentFiles.includes(p), `worker0 lacks ${p}: ${agentFiles.join(', ')}`)
  }
  assert.ok(
    !agentFiles.some((p) => p.includes('kube-vip') || p.includes('k3s.service ')),
    agentFiles.join(', '),
  )

  // The token: 32 characters, 0600 on the controller, the same on every node, never printed.
  const tokenFile = join(stateDir, 'cluster', 'token')
  const token = (await readFile(tokenFile, 'utf8')).trim()
  assert.match(token, /^[A-Za-z0-9]{32}$/)
  assert.equal((await stat(tokenFile)).mode & 0o777, 0o600)
  assert.ok(!run.output.includes(token), 'the token is never printed')
  for (const m of machines)
    assert.equal((await nodes.node(m.name).readFile('/etc/rancher/k3s/token'))?.trim(), token)

  // What the stand-in k3s saw: who initialised, who joined where, and in which order.
  const first = async (name: string) => {
    const [invocation] = await nodes.node(name).k3sInvocations()
    assert.ok(invocation, `${name} never started k3s`)
    return invocation
  }
  const starts = await Promise.all(machines.map((m) => first(m.name)))
  assert.match(starts[0]?.config ?? '', /^cluster-init: true$/m)
  for (const s of starts.slice(1)) {
    assert.match(s.config ?? '', new RegExp(`^server: https://${VIP.replaceAll('.', '\\.')}:6443$`, 'm'))
    assert.doesNotMatch(s.config ?? '', /cluster-init/)
  }
  assert.deepEqual(
    starts.map((s) => s.argv),
    [['server'], ['server'], ['server'], ['agent']],
  )
  const times = starts.map((s) => s.time)
  assert.ok(
    (times[0] ?? 0) < (times[1] ?? 0) && (times[1] ?? 0) < (times[2] ?? 0),
    `servers one at a time: ${times}`,
  )
  assert.ok((times[2] ?? 0) <= (times[3] ?? 0), 'the agent after the servers')
  assert.equal(await readFile(join(nodes.shared, 'forks.log'), 'utf8').catch(() => ''), '')

  // Units: written, reloaded before they were started, never started stale.
  for (const m of machines) {
    const log = await nodes.node(m.name).log('systemctl')
    const unit = m.role === 'server' ? 'k3s' : 'k3s-agent'
    assert.ok(!log.some((l) => l.startsWith('warning')), log.join('\n'))
    const reload = log.indexOf('daemon-reload')
    const start = log.indexOf(`start ${unit}`)
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
  const ready = run.events.filter((e) => e.type === 'node.ready').map((e) => e.node)
  assert.deepEqual(new Set(ready), new Set(machines.map((m) => m.name)))
  const waiting = run.events.filter((e) => e.type === 'node.waiting').map((e) => String(e.lastSeen))
  assert.ok(
    waiting.some((w) => /NotReady/.test(w)),
    `the live lines showed nodes not Ready yet: ${waiting}`,
  )

  const printed = await homelab(['kubeconfig'], false)
  assert.equal(printed.code, 0)
  assert.equal(printed.output.trim(), `export KUBECONFIG=${kubeconfig}`)
})

test('stand-in nodes, re-run: nothing changes on any node', async () => {
  const before = await Promise.all(machines.map((m) => snapshot(m.name)))
  const run = await homelab(['cluster', '--ready-timeout', '60'])
  assert.equal(run.code, 0, run.output)
  const result = summary(run)
  for (const m of machines)
    assert.equal(result[m.name]?.result, 'unchanged', `${m.name}: ${result[m.name]?.detail}`)
  const after = await Promise.all(machines.map((m) => snapshot(m.name)))
  assert.deepEqual(after, before)
  assert.ok(
    run.events.some((e) => e.type === 'kubeconfig.written' && e.changed === false),
    'the kubeconfig was left as it was',
  )
})

test('stand-in nodes, a new agent in homelab.yaml joins, and nothing else changes', async () => {
  const others = await Promise.all(machines.map((m) => snapshot(m.name)))
  const added = { name: 'worker1', ip: `${NET}.21`, role: 'agent' as const }
  await nodes.addNode(added)
  machines.push(added)
  await writeConfig()
  const run = await homelab(['cluster', '--ready-timeout', '60'])
  assert.equal(run.code, 0, run.output)
  const result = summary(run)
  assert.equal(result.worker1?.result, 'changed')
  for (const m of machines.slice(0, -1)) assert.equal(result[m.name]?.result, 'unchanged', m.name)
  assert.deepEqual(await Promise.all(machines.slice(0, -1).map((m) => snapshot(m.name))), others)
  const [joined] = await nodes.node('worker1').k3sInvocations()
  assert.match(joined?.config ?? '', /^server: https:\/\/10\.96\.0\.100:6443$/m)
})

test('stand-in nodes, the first server rebuilt: it rejoins through the VIP, no second cluster-init', async () => {
  const others = await Promise.all(['metal1', 'metal2', 'worker0', 'worker1'].map((n) => snapshot(n)))
  await nodes.rebuild('metal0')
  // What `homelab metal --reinstall metal0` records: the new host key of the reinstalled machine.
  const statePath = join(stateDir, 'machines.json')
  const state = JSON.parse(await readFile(statePath, 'utf8'))
  state.machines.metal0.hostKey = nodes.node('metal0').hostKey
  await writeFile(statePath, JSON.stringify(state), { mode: 0o600 })

  const run = await homelab(['cluster', '--ready-timeout', '60'])
  assert.equal(run.code, 0, run.output)
  const plan = run.events.find((e) => e.type === 'cluster.plan')?.plan as { init?: string; members: string[] }
  assert.equal(plan.init, undefined)
  assert.deepEqual(plan.members, ['metal1', 'metal2'])
  const [rejoin] = await nodes.node('metal0').k3sInvocations()
  assert.match(rejoin?.config ?? '', /^server: https:\/\/10\.96\.0\.100:6443$/m)
  assert.doesNotMatch(rejoin?.config ?? '', /cluster-init/)
  assert.equal(await readFile(join(nodes.shared, 'forks.log'), 'utf8').catch(() => ''), '')
  assert.ok(
    run.events.some((e) => e.type === 'node.rebuilt' && e.node === 'metal0'),
    'the old metal0 was removed from the cluster before it rejoined',
  )
  const requests = (await readFile(join(nodes.shared, 'api', 'requests.jsonl'), 'utf8'))
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as { method: string; path: string })
  assert.ok(requests.some((r) => r.method === 'DELETE' && r.path === '/api/v1/nodes/metal0'))
  assert.deepEqual(
    await Promise.all(['metal1', 'metal2', 'worker0', 'worker1'].map((n) => snapshot(n))),
    others,
  )
  assert.equal(summary(run).metal0?.result, 'changed')
})

test('stand-in nodes, a changed host key is refused, naming the node; the others are left alone', async () => {
  const others = await Promise.all(['metal0', 'metal1', 'metal2', 'worker1'].map((n) => snapshot(n)))
  await nodes.rebuild('worker0')
  const run = await homelab(['cluster', '--ready-timeout', '60'])
  assert.equal(run.code, 1, run.output)
  const result = summary(run)
  assert.equal(result.worker0?.result, 'failed')
  assert.equal(result.worker0?.lastStep, 'connect')
  assert.match(result.worker0?.detail ?? '', /host key changed/)
  assert.deepEqual(await nodes.node('worker0').written(), [], 'nothing was written to worker0')
  assert.deepEqual(
    await Promise.all(['metal0', 'metal1', 'metal2', 'worker1'].map((n) => snapshot(n))),
    others,
  )
})

test('stand-in nodes, an unreachable node fails with its name and the last step it reached', async () => {
  await nodes.stop('worker1')
  const run = await homelab(['cluster', '--ready-timeout', '30', '--ssh-retries', '1'], false)
  assert.equal(run.code, 1, run.output)
  assert.match(run.output, /worker1: failed at step "connect": Cannot connect to 10\.96\.0\.21:22/)
  assert.match(run.output, /worker1 +agent +failed/)
  await nodes.start('worker1')
})

test('stand-in nodes, node remove: drains (DaemonSet pods stay), deletes the node, uninstalls k3s', async () => {
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
    const { createKubeClient } = await import(${JSON.stringify(join(ROOT, 'core/kube/client.ts'))})
    const { loadKubeconfig } = await import(${JSON.stringify(join(ROOT, 'core/kube/kubeconfig.ts'))})
    const c = createKubeClient(await loadKubeconfig(${JSON.stringify(join(stateDir, 'kubeconfig'))}))
    for (const p of ${JSON.stringify([pod('web'), pod('logs', 'log-shipper')])})
      await c.request('POST', '/api/v1/namespaces/default/pods', { body: p })
    `,
  ])
  assert.equal(await seed.exited, 0, seed.output())

  const run = await homelab(['node', 'remove', 'metal2'], false)
  assert.equal(run.code, 0, run.output)
  assert.match(run.output, /metal2: cordoned/)
  assert.match(run.output, /metal2: evicting default\/web/)
  assert.doesNotMatch(run.output, /evicting default\/logs/)
  assert.match(run.output, /now delete it from homelab\.yaml/)
  const node = nodes.node('metal2')
  for (const gone of [
    '/etc/rancher/k3s/config.yaml',
    '/etc/rancher/k3s/token',
    '/usr/local/bin/k3s',
    '/etc/systemd/system/k3s.service',
  ]) {
    assert.equal(await node.stat(gone), undefined, `${gone} is still on metal2`)
  }
  assert.ok((await node.log('systemctl')).includes('disable --now k3s'))
  const requests = (await readFile(join(nodes.shared, 'api', 'requests.jsonl'), 'utf8'))
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as { method: string; path: string })
  const removal = requests.filter((r) => r.path.includes('metal2') || r.path.includes('/pods'))
  const order = removal.map((r) => `${r.method} ${r.path.replace(/\?.*/, '')}`)
  const cordonAt = order.findIndex((r) => r.startsWith('PATCH /api/v1/nodes/metal2'))
  const evictAt = order.findIndex((r) => r.endsWith('/pods/web/eviction'))
  const deleteAt = order.indexOf('DELETE /api/v1/nodes/metal2')
  assert.ok(cordonAt >= 0 && cordonAt < evictAt && evictAt < deleteAt, order.join('\n'))

  // The only-server refusal: a config with a single server.
  const again = await homelab(['node', 'remove', 'metal2'], false)
  assert.equal(again.code, 0, again.output)
  assert.match(again.output, /already removed/)
})
