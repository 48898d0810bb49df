import assert from 'node:assert/strict'
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, test } from 'node:test'
import { homelab } from '../../test/harness/homelab-cli.ts'
import { type KubeStandin, startKubeStandin } from '../../test/harness/kube-standin.ts'

const original = readFileSync(
  join(import.meta.dirname, '../../core/config/fixtures/edit/before.yaml'),
  'utf8',
)
let dir: string
let file: string

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'hl-machine-'))
})
after(() => rmSync(dir, { recursive: true, force: true }))

function fresh(): string {
  file = join(dir, 'homelab.yaml')
  writeFileSync(file, original)
  return file
}

test('homelab machine add writes one entry and leaves every other byte of the file as it was', async () => {
  fresh()
  const run = await homelab([
    'machine',
    'add',
    'node-c',
    '--mac',
    '00:1A:11:00:00:03',
    '--role',
    'agent',
    '--config',
    file,
  ])
  assert.equal(run.code, 0, run.err)
  assert.match(run.out, /added node-c \(00:1A:11:00:00:03, 192\.168\.1\.10, agent\)/)
  const inserted =
    '    - name: node-c\n      mac: 00:1A:11:00:00:03\n      ip: 192.168.1.10\n      role: agent\n      disk: sda\n      nic: eno1\n'
  const text = readFileSync(file, 'utf8')
  const at = text.indexOf(inserted)
  assert.ok(at > 0, text)
  assert.equal(text.slice(0, at) + text.slice(at + inserted.length), original)
})

test("homelab machine add refuses a duplicate MAC, name or pool address with validate's messages, writing nothing", async () => {
  fresh()
  const cases: [string[], string][] = [
    [
      ['--mac', '00:1a:11:00:00:02'],
      'homelab.yaml:27:12 machines[2].mac: "00:1a:11:00:00:02" is already used by machines[1] (each mac must be unique)',
    ],
    [
      ['--mac', '00:1a:11:00:00:09', '--ip', '192.168.1.240'],
      'homelab.yaml:28:11 machines[2].ip: "192.168.1.240" is inside the load-balancer pool 192.168.1.224-192.168.1.254 (a machine needs an address outside it, or set cluster.loadBalancerPool)',
    ],
  ]
  for (const [args, message] of cases) {
    const run = await homelab(['machine', 'add', 'node-c', ...args, '--config', file])
    assert.equal(run.code, 1, run.out)
    assert.ok(run.err.includes(`${file.replace(/homelab\.yaml$/, '')}${message}`), run.err)
    assert.match(run.err, /the result would not validate .*the file is unchanged/)
    assert.equal(readFileSync(file, 'utf8'), original)
  }
  const named = await homelab(['machine', 'add', 'node-a', '--mac', '00:1a:11:00:00:09', '--config', file])
  assert.equal(named.code, 1)
  assert.match(
    named.err,
    /machines\[2\]\.name: "node-a" is already used by machines\[0\] \(each name must be unique\)/,
  )
})

test('homelab machine remove deletes the entry when there is no cluster', async () => {
  fresh()
  const run = await homelab(['machine', 'remove', 'node-b', '--config', file])
  assert.equal(run.code, 0, run.err)
  const removed =
    '    - name: node-b\n      mac: 00:1a:11:00:00:02\n      ip: 192.168.1.21\n      role: server   # second server\n      disk: /dev/disk/by-id/ata-WDC_1\n      nic: eno1\n'
  assert.equal(readFileSync(file, 'utf8'), original.replace(removed, ''))
})

test('homelab machine remove refuses a node of the cluster (stand-in API server) and says to run node remove', async () => {
  fresh()
  const state = join(dir, 'state')
  mkdirSync(state, { recursive: true })
  let api: KubeStandin | undefined
  try {
    api = await startKubeStandin({
      dir: join(dir, 'api'),
      nodes: [{ name: 'node-a', role: 'server', ip: '192.168.1.20', readyAfterReads: 0 }],
    })
    writeFileSync(join(state, 'kubeconfig'), api.kubeconfig.replace('https://127.0.0.1:6443', api.url), {
      mode: 0o600,
    })
    const refused = await homelab(['machine', 'remove', 'node-a', '--state', state, '--config', file])
    assert.equal(refused.code, 1, refused.out)
    assert.match(
      refused.err,
      /Cannot remove node-a: it is a node of the cluster \(node-a, Ready\): run `homelab node remove node-a` first/,
    )
    assert.equal(readFileSync(file, 'utf8'), original)
    // node-b is not a node: it goes.
    const removed = await homelab(['machine', 'remove', 'node-b', '--state', state, '--config', file])
    assert.equal(removed.code, 0, removed.err)
    assert.ok(!readFileSync(file, 'utf8').includes('node-b'))
  } finally {
    await api?.close()
  }
})

test('homelab machine remove refuses when the cluster cannot be asked', async () => {
  fresh()
  const state = join(dir, 'state-gone')
  mkdirSync(state, { recursive: true })
  writeFileSync(join(state, 'kubeconfig'), 'not: a kubeconfig\n', { mode: 0o600 })
  const run = await homelab(['machine', 'remove', 'node-a', '--state', state, '--config', file])
  assert.equal(run.code, 1)
  assert.match(
    run.err,
    /Cannot remove node-a: cannot tell whether it is a node of the cluster .*run `homelab node remove node-a` first, or remove .*kubeconfig if the cluster is gone/,
  )
  assert.equal(readFileSync(file, 'utf8'), original)
})
