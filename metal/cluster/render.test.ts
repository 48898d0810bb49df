import assert from 'node:assert/strict'
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { parse } from 'yaml'
import type { Machine } from '../../core/config/schema.ts'
import { digestFromSums, k3sArch } from './release.ts'
import { membershipOf, renderK3sConfig, renderKubeVip, renderUnit } from './render.ts'
import { fullToken, generateToken, parseToken, readToken, writeToken } from './token.ts'

const m: Machine = {
  name: 'metal0',
  ip: '10.77.0.10',
  role: 'server',
  mac: '52:54:00:77:00:10',
  disk: 'vda',
  nic: 'enp0s2',
}

test('a server config: k3s keys, the endpoint and its own address as TLS names, token by file', () => {
  const text = renderK3sConfig({ machine: m, membership: { kind: 'init' }, endpoint: '10.77.0.100' })
  const yaml = parse(text)
  assert.equal(yaml['cluster-init'], true)
  assert.equal(yaml.server, undefined)
  assert.equal(yaml['token-file'], '/etc/rancher/k3s/token')
  assert.equal(yaml.token, undefined, 'the secret never sits in config.yaml')
  assert.equal(yaml['node-name'], 'metal0')
  assert.equal(yaml['node-ip'], '10.77.0.10')
  assert.equal(yaml['flannel-iface'], 'enp0s2')
  assert.deepEqual(yaml['tls-san'], ['10.77.0.100', '10.77.0.10'])
  assert.deepEqual(yaml.disable, ['servicelb', 'traefik', 'local-storage'])
  assert.equal(yaml['write-kubeconfig-mode'], '0600')
})

test('an agent config joins and carries no server-only keys', () => {
  const agent: Machine = { ...m, name: 'worker', ip: '10.77.0.20', role: 'agent' }
  const text = renderK3sConfig({
    machine: agent,
    membership: { kind: 'join', server: 'https://10.77.0.100:6443' },
    endpoint: '10.77.0.100',
  })
  const yaml = parse(text)
  assert.equal(yaml.server, 'https://10.77.0.100:6443')
  assert.equal(yaml['cluster-init'], undefined)
  assert.equal(yaml['tls-san'], undefined)
  assert.equal(yaml.disable, undefined)
})

test('membership reads back from a rendered config', () => {
  for (const membership of [
    { kind: 'init' as const },
    { kind: 'join' as const, server: 'https://10.0.0.1:6443' },
  ]) {
    assert.deepEqual(
      membershipOf(renderK3sConfig({ machine: m, membership, endpoint: '10.0.0.1' })),
      membership,
    )
  }
  assert.equal(membershipOf('node-name: x\n'), undefined)
})

test('units: server and agent run the uploaded binary, as notify services', () => {
  assert.match(renderUnit('server'), /^ExecStart=\/usr\/local\/bin\/k3s server$/m)
  assert.match(renderUnit('agent'), /^ExecStart=\/usr\/local\/bin\/k3s agent$/m)
  assert.match(renderUnit('server'), /^Type=notify$/m)
  assert.match(renderUnit('server'), /^WantedBy=multi-user.target$/m)
})

test('kube-vip: a static pod in ARP mode holding the VIP on the machine NIC', () => {
  const pod = parse(renderKubeVip(m, '10.77.0.100'))
  assert.equal(pod.kind, 'Pod')
  assert.equal(pod.spec.hostNetwork, true)
  const env = Object.fromEntries(
    pod.spec.containers[0].env.map((e: { name: string; value: string }) => [e.name, e.value]),
  )
  assert.equal(env.vip_arp, 'true')
  assert.equal(env.address, '10.77.0.100')
  assert.equal(env.vip_interface, 'enp0s2')
  assert.equal(env.cp_enable, 'true')
  // kube-vip v0.9 reads the VIP's mask from vip_subnet; vip_cidr is no longer read.
  assert.equal(env.vip_subnet, '32')
  assert.equal(env.vip_cidr, undefined)
  assert.match(pod.spec.containers[0].image, /^ghcr\.io\/kube-vip\/kube-vip:v\d+\.\d+\.\d+$/)
})

test('release sums and architectures', () => {
  const a = 'a'.repeat(64)
  const b = 'b'.repeat(64)
  const sums = `${a}  k3s\n${b}  k3s-airgap-images-amd64.tar\n`
  assert.equal(digestFromSums(sums, 'k3s'), a)
  assert.equal(digestFromSums(sums, 'k3s-airgap-images-amd64.tar'), b)
  assert.equal(digestFromSums(sums, 'k3s-arm64'), undefined)
  assert.equal(k3sArch('x86_64'), 'amd64')
  assert.equal(k3sArch('aarch64'), 'arm64')
  assert.equal(k3sArch('riscv64'), undefined)
})

test('the token: 32 random characters, written 0600, read back, repaired to 0600', async () => {
  const tokens = new Set(Array.from({ length: 50 }, generateToken))
  assert.equal(tokens.size, 50)
  for (const t of tokens) assert.match(t, /^[A-Za-z0-9]{32}$/)
  const dir = await mkdtemp(join(tmpdir(), 'token-'))
  try {
    const path = join(dir, 'cluster', 'token')
    assert.equal(await readToken(path), undefined)
    await writeToken(path, 'x'.repeat(32))
    assert.equal((await stat(path)).mode & 0o777, 0o600)
    assert.equal((await stat(join(dir, 'cluster'))).mode & 0o777, 0o700)
    assert.equal(await readToken(path), 'x'.repeat(32))
    await writeFile(path, 'y'.repeat(32), { mode: 0o644 })
    assert.equal(await readToken(path), 'y'.repeat(32))
    assert.equal((await stat(path)).mode & 0o777, 0o600)
    assert.equal(await readFile(path, 'utf8'), 'y'.repeat(32))
    await writeFile(path, '\n')
    await assert.rejects(readToken(path), /is empty/)
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
})

test('generateToken() never starts with K10, which k3s would read as a full token', () => {
  for (let i = 0; i < 2000; i++) assert.ok(!generateToken().startsWith('K10'))
  // What k3s would make of such a bare secret: a full token with no `::`, refused.
  assert.equal(parseToken('K10abcdefghijklmnopqrstuvwxyz0123'), undefined)
})

test('parseToken() reads tokens the way k3s does (pkg/clientaccess/token.go)', () => {
  const hash = 'a'.repeat(64)
  assert.deepEqual(parseToken(`K10${hash}::server:s3cret`), {
    caHash: hash,
    user: 'server',
    secret: 's3cret',
  })
  assert.deepEqual(parseToken(fullToken(hash, 'node', 'agent')), {
    caHash: hash,
    user: 'node',
    secret: 'agent',
  })
  assert.deepEqual(parseToken('s3cret'), { caHash: '', user: '', secret: 's3cret' })
  assert.equal(parseToken('K10abc::server:s3cret'), undefined, 'a CA hash of the wrong length')
  assert.equal(parseToken(`K10${hash}::server:`), undefined, 'no secret')
  assert.equal(parseToken(''), undefined)
})
