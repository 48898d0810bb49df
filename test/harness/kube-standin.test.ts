import assert from 'node:assert/strict'
import { type ChildProcess, spawn } from 'node:child_process'
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { createKubeClient, KubeApiError, type KubeClient } from '../../lib/kube/client.ts'
import { loadKubeconfig, parseKubeconfig, rewriteKubeconfigServer } from '../../lib/kube/kubeconfig.ts'
import { deleteNode, listNodes } from '../../lib/kube/nodes.ts'
import { NODE_FINALIZER, startKubeStandin, TERMINATION_READS_ANNOTATION } from './kube-standin.ts'

const SCRIPT = new URL('./kube-standin.ts', import.meta.url).pathname

async function freePort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as { port: number }
  await new Promise((resolve) => server.close(resolve))
  return port
}

function firstLine(child: ChildProcess): Promise<string> {
  return new Promise((resolve, reject) => {
    let out = ''
    let err = ''
    child.stderr?.on('data', (c) => {
      err += c
    })
    child.stdout?.on('data', (c) => {
      out += c
      if (out.includes('\n')) resolve(out.split('\n')[0] as string)
    })
    child.once('exit', (code) =>
      reject(new Error(`the stand-in exited with ${code} before listening: ${err}`)),
    )
  })
}

/** Each listNodes() answer as `name:Ready|NotReady`. */
async function readiness(kube: KubeClient): Promise<string[]> {
  return (await listNodes(kube)).map((n) => `${n.name}:${n.ready ? 'Ready' : 'NotReady'}`)
}

test('kube-standin.ts as a CLI (stand-in API server) writes a k3s-shaped kubeconfig, registers nodes from files, holds them NotReady for --ready-after-reads reads, stops on SIGTERM', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'kube-standin-cli-'))
  let child: ChildProcess | undefined
  let exited: Promise<number | null> = Promise.resolve(0)
  try {
    const nodesDir = join(dir, 'nodes')
    await mkdir(nodesDir)
    const port = await freePort()
    child = spawn(
      process.execPath,
      [
        SCRIPT,
        '--listen',
        `127.0.0.1:${port}`,
        '--dir',
        dir,
        '--nodes-dir',
        nodesDir,
        '--ready-after-reads',
        '2',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    )
    const proc = child
    exited = new Promise((resolve) => proc.once('exit', (code) => resolve(code)))
    assert.equal(await firstLine(child), `listening https://127.0.0.1:${port}`)
    const written = await readFile(join(dir, 'kubeconfig.yaml'), 'utf8')
    assert.match(written, /server: https:\/\/127\.0\.0\.1:6443\n {2}name: default\n/)
    assert.match(written, /client-key-data: [A-Za-z0-9+/=]+\n/)
    const url = `https://127.0.0.1:${port}`
    await writeFile(join(dir, 'lab.yaml'), rewriteKubeconfigServer(written, url))
    const kube = createKubeClient(await loadKubeconfig(join(dir, 'lab.yaml')))

    // A node file is registered by the next request; served NotReady twice, then Ready.
    const nodeFile = join(nodesDir, 'metal0.json')
    await writeFile(nodeFile, JSON.stringify({ name: 'metal0', role: 'server', ip: '10.1.2.10' }))
    assert.deepEqual(
      [await readiness(kube), await readiness(kube), await readiness(kube), await readiness(kube)],
      [['metal0:NotReady'], ['metal0:NotReady'], ['metal0:Ready'], ['metal0:Ready']],
    )
    const [node] = await listNodes(kube)
    assert.deepEqual([node?.roles, node?.internalIP], [['control-plane', 'master'], '10.1.2.10'])

    // The test's control: hold a node NotReady for as long as it likes, then release it.
    const control = (body: string) => kube.request('PUT', '/standin/nodes/metal0/ready', { body })
    await control('false')
    for (let i = 0; i < 5; i++) assert.deepEqual(await readiness(kube), ['metal0:NotReady'])
    await control('true')
    assert.deepEqual(await readiness(kube), ['metal0:Ready'])
    const bad = await control('yes').catch((e: unknown) => e)
    assert.ok(bad instanceof KubeApiError && bad.status === 400, String(bad))
    const missing = await kube.request('PUT', '/standin/nodes/nope/ready', { body: 'true' }).catch((e) => e)
    assert.ok(missing instanceof KubeApiError && missing.status === 404, String(missing))

    assert.equal(await deleteNode(kube, 'metal0'), true)
    await stat(nodeFile) // its password stays while the Node is terminating
    // Like k3s: the Node stays, terminating, held by the finalizer that removes its etcd member,
    // until a read has served it so; then it is gone.
    const terminating = (await kube.get('/api/v1/nodes/metal0')) as {
      metadata: { deletionTimestamp?: string; finalizers?: string[] }
    }
    assert.ok(terminating.metadata.deletionTimestamp, 'the deleted Node is terminating')
    assert.deepEqual(terminating.metadata.finalizers, [NODE_FINALIZER])
    assert.equal(await kube.get('/api/v1/nodes/metal0'), undefined, 'gone once seen terminating')
    assert.deepEqual(await listNodes(kube), [], 'a deleted node came back while its file was unchanged')
    // k3s deletes the node's password secret with it: the stand-in removes its file, and a
    // machine that registers again writes a new one, NotReady again
    await assert.rejects(stat(nodeFile), { code: 'ENOENT' })
    await writeFile(nodeFile, JSON.stringify({ name: 'metal0', role: 'server', ip: '10.1.2.10' }))
    assert.deepEqual(await readiness(kube), ['metal0:NotReady'])

    const log = (await readFile(join(dir, 'requests.jsonl'), 'utf8')).trim().split('\n')
    const del = log.map((l) => JSON.parse(l)).find((r) => r.method === 'DELETE')
    assert.deepEqual([del.path, del.status], ['/api/v1/nodes/metal0', 200])
  } finally {
    if (child?.pid !== undefined && child.exitCode === null) process.kill(child.pid, 'SIGTERM')
    const code = await exited
    await rm(dir, { recursive: true, force: true })
    assert.equal(code, 0)
  }
})

test('kube-standin.ts as a CLI refuses an unknown option and a count that is not a number of reads', async () => {
  for (const [args, message] of [
    [['--ready-after-ms', '300'], /unknown option "--ready-after-ms"/],
    [['--ready-after-reads', 'soon'], /--ready-after-reads: "soon" is not a number of reads/],
  ] as const) {
    const child = spawn(
      process.execPath,
      [SCRIPT, '--listen', '127.0.0.1:1', '--dir', '/nonexistent', ...args],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    )
    let err = ''
    child.stderr.on('data', (c) => {
      err += c
    })
    const code = await new Promise((resolve) => child.once('exit', resolve))
    assert.equal(code, 2)
    assert.match(err, message)
  }
})

test('startKubeStandin() latches: nodes, CRDs, workloads and terminating pods change only after being served N times, or when the test says', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'kube-standin-latch-'))
  const standin = await startKubeStandin({
    dir,
    crdEstablishedAfterReads: 2,
    workloadReadyAfterReads: 3,
    nodes: [
      { name: 'a', role: 'server', ip: '10.1.2.10' },
      { name: 'b', role: 'agent', ip: '10.1.2.11', readyAfterReads: 0 },
      { name: 'c', role: 'agent', ip: '10.1.2.12', readyAfterReads: Number.POSITIVE_INFINITY },
    ],
  })
  try {
    const kube = createKubeClient(
      parseKubeconfig(rewriteKubeconfigServer(standin.kubeconfig, standin.url), 'stand-in'),
    )
    // Nodes: a (the default, 1 read), b (Ready at once), c (held until the test releases it).
    // The test's own reads of the store do not count.
    for (let i = 0; i < 3; i++) standin.store.list(standin.store.resourceOfKind('v1', 'Node'))
    assert.deepEqual(await readiness(kube), ['a:NotReady', 'b:Ready', 'c:NotReady'])
    for (let i = 0; i < 5; i++) assert.deepEqual(await readiness(kube), ['a:Ready', 'b:Ready', 'c:NotReady'])
    standin.setNodeReady('c', true)
    assert.deepEqual(await readiness(kube), ['a:Ready', 'b:Ready', 'c:Ready'])
    standin.setNodeReady('a', false)
    assert.deepEqual(await readiness(kube), ['a:NotReady', 'b:Ready', 'c:Ready'])
    assert.throws(() => standin.setNodeReady('z', true), /nodes "z" not found/)
    // A single GET counts as a read as well.
    standin.addNode({ name: 'd', role: 'agent', ip: '10.1.2.13' })
    type Obj = { status?: { conditions?: { type: string; status: string }[] } }
    const cond = (o: Obj | undefined, type: string) =>
      o?.status?.conditions?.find((c) => c.type === type)?.status
    assert.equal(cond(await kube.get<Obj>('/api/v1/nodes/d'), 'Ready'), 'False')
    assert.equal(cond(await kube.get<Obj>('/api/v1/nodes/d'), 'Ready'), 'True')

    // A CRD: Established=False for two reads, its kind not served until Established.
    const crdPath = '/apis/apiextensions.k8s.io/v1/customresourcedefinitions/widgets.example.com'
    await kube.apply(
      crdPath,
      {
        apiVersion: 'apiextensions.k8s.io/v1',
        kind: 'CustomResourceDefinition',
        metadata: { name: 'widgets.example.com' },
        spec: {
          group: 'example.com',
          names: { kind: 'Widget', plural: 'widgets' },
          scope: 'Namespaced',
          versions: [{ name: 'v1', served: true, storage: true }],
        },
      },
      { fieldManager: 'test' },
    )
    const established = async () => cond(await kube.get<Obj>(crdPath), 'Established')
    const served = async () =>
      (await kube.get('/apis/example.com/v1')) === undefined ? 'not served' : 'served'
    assert.deepEqual(
      [await served(), await established(), await served(), await established()],
      ['not served', 'False', 'not served', 'False'],
    )
    assert.deepEqual([await served(), await established()], ['served', 'True'])

    // A Deployment: rolled out after three reads.
    await kube.request('POST', '/apis/apps/v1/namespaces/default/deployments', {
      body: { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'web' }, spec: { replicas: 2 } },
    })
    const available: (string | undefined)[] = []
    for (let i = 0; i < 4; i++)
      available.push(
        cond(await kube.get<Obj>('/apis/apps/v1/namespaces/default/deployments/web'), 'Available'),
      )
    assert.deepEqual(available, [undefined, undefined, undefined, 'True'])

    // An evicted pod annotated to terminate after two reads: there twice (with a deletionTimestamp), then gone.
    standin.store.put({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'p', namespace: 'default', annotations: { [TERMINATION_READS_ANNOTATION]: '2' } },
      spec: { nodeName: 'a' },
    })
    const evict = () =>
      kube.request('POST', '/api/v1/namespaces/default/pods/p/eviction', {
        body: { apiVersion: 'policy/v1', kind: 'Eviction', metadata: { name: 'p', namespace: 'default' } },
      })
    await evict()
    await evict() // a second eviction of a terminating pod changes nothing
    const pods = async () =>
      (
        await kube.list<{ metadata: { name: string; deletionTimestamp?: string } }>('/api/v1/pods', {
          fieldSelector: 'spec.nodeName=a',
        })
      ).items.map((p) => `${p.metadata.name}${p.metadata.deletionTimestamp ? ' terminating' : ''}`)
    assert.deepEqual([await pods(), await pods(), await pods()], [['p terminating'], ['p terminating'], []])
  } finally {
    await standin.close()
    await rm(dir, { recursive: true, force: true })
  }
})
