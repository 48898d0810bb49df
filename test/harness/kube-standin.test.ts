import assert from 'node:assert/strict'
import { type ChildProcess, spawn } from 'node:child_process'
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { createKubeClient } from '../../core/kube/client.ts'
import { loadKubeconfig, rewriteKubeconfigServer } from '../../core/kube/kubeconfig.ts'
import { deleteNode, listNodes } from '../../core/kube/nodes.ts'

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

async function until(what: string, check: () => Promise<boolean>, timeoutMs = 5000): Promise<void> {
  const start = Date.now()
  while (!(await check())) {
    if (Date.now() - start > timeoutMs) assert.fail(`timed out waiting: ${what}`)
    await new Promise((r) => setTimeout(r, 25))
  }
}

test('kube-standin.ts as a CLI (stand-in API server) writes a k3s-shaped kubeconfig, registers nodes from files, stops on SIGTERM', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'kube-standin-cli-'))
  const nodesDir = join(dir, 'nodes')
  await mkdir(nodesDir)
  const port = await freePort()
  const child = spawn(
    process.execPath,
    [
      SCRIPT,
      '--listen',
      `127.0.0.1:${port}`,
      '--dir',
      dir,
      '--nodes-dir',
      nodesDir,
      '--ready-after-ms',
      '100',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  )
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
  try {
    assert.equal(await firstLine(child), `listening https://127.0.0.1:${port}`)
    const written = await readFile(join(dir, 'kubeconfig.yaml'), 'utf8')
    assert.match(written, /server: https:\/\/127\.0\.0\.1:6443\n {2}name: default\n/)
    assert.match(written, /client-key-data: [A-Za-z0-9+/=]+\n/)
    const url = `https://127.0.0.1:${port}`
    await writeFile(join(dir, 'lab.yaml'), rewriteKubeconfigServer(written, url))
    const kube = createKubeClient(await loadKubeconfig(join(dir, 'lab.yaml')))

    const nodeFile = join(nodesDir, 'metal0.json')
    await writeFile(nodeFile, JSON.stringify({ name: 'metal0', role: 'server', ip: '10.1.2.10' }))
    await until('metal0 registered', async () => (await listNodes(kube)).some((n) => n.name === 'metal0'))
    await until('metal0 Ready', async () =>
      (await listNodes(kube)).some((n) => n.name === 'metal0' && n.ready),
    )
    const [node] = await listNodes(kube)
    assert.deepEqual([node?.roles, node?.internalIP], [['control-plane', 'master'], '10.1.2.10'])

    assert.equal(await deleteNode(kube, 'metal0'), true)
    await new Promise((r) => setTimeout(r, 250))
    assert.deepEqual(await listNodes(kube), [], 'a deleted node came back while its file was unchanged')
    // k3s deletes the node's password secret with it: the stand-in removes its file, and a
    // machine that registers again writes a new one
    await assert.rejects(stat(nodeFile), { code: 'ENOENT' })
    await writeFile(nodeFile, JSON.stringify({ name: 'metal0', role: 'server', ip: '10.1.2.10' }))
    await until('metal0 re-registered', async () => (await listNodes(kube)).some((n) => n.name === 'metal0'))

    const log = (await readFile(join(dir, 'requests.jsonl'), 'utf8')).trim().split('\n')
    const del = log.map((l) => JSON.parse(l)).find((r) => r.method === 'DELETE')
    assert.deepEqual([del.path, del.status], ['/api/v1/nodes/metal0', 200])
  } finally {
    if (child.pid !== undefined && child.exitCode === null) process.kill(child.pid, 'SIGTERM')
    assert.equal(await exited, 0)
    await rm(dir, { recursive: true, force: true })
  }
})
