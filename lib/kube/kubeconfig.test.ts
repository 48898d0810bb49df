import assert from 'node:assert/strict'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { parse } from 'yaml'
import { k3sKubeconfig } from '../../test/harness/kube-standin-certs.ts'
import { loadKubeconfig, parseKubeconfig, rewriteKubeconfigServer } from './kubeconfig.ts'

const b64 = (s: string) => Buffer.from(s).toString('base64')

/** The shape k3s writes to /etc/rancher/k3s/k3s.yaml. */
const K3S_YAML = k3sKubeconfig({
  ca: Buffer.from('CA PEM'),
  adminCert: Buffer.from('CERT PEM'),
  adminKey: Buffer.from('KEY PEM'),
})

test('parseKubeconfig() reads the server and credentials of a k3s kubeconfig', () => {
  const c = parseKubeconfig(K3S_YAML, 'k3s.yaml')
  assert.equal(c.server, 'https://127.0.0.1:6443')
  assert.equal(c.contextName, 'default')
  assert.equal(c.ca?.toString(), 'CA PEM')
  assert.equal(c.cert?.toString(), 'CERT PEM')
  assert.equal(c.key?.toString(), 'KEY PEM')
  assert.equal(c.token, undefined)
  assert.equal(c.insecureSkipTlsVerify, false)
})

test('parseKubeconfig() picks the current context among several, with a token user', () => {
  const text = `
clusters:
- {name: a, cluster: {server: 'https://a:6443'}}
- {name: b, cluster: {server: 'https://b:6443/', insecure-skip-tls-verify: true}}
contexts:
- {name: ca, context: {cluster: a, user: ua}}
- {name: cb, context: {cluster: b, user: ub}}
current-context: cb
users:
- {name: ua, user: {token: aaa}}
- {name: ub, user: {token: bbb}}
`
  const c = parseKubeconfig(text, 'x')
  assert.deepEqual(c, {
    server: 'https://b:6443',
    insecureSkipTlsVerify: true,
    contextName: 'cb',
    token: 'bbb',
  })
})

test('parseKubeconfig() uses the only context when current-context is unset', () => {
  const c = parseKubeconfig(K3S_YAML.replace('current-context: default\n', ''), 'x')
  assert.equal(c.contextName, 'default')
})

test('parseKubeconfig() explains what is wrong and how to fix it', () => {
  const cases: [string, RegExp][] = [
    ['{{{', /^KubeconfigError: Cannot read kubeconfig k\.yaml: not valid YAML: [^\n]* \(fix the YAML\)$/],
    [
      '- a',
      /^KubeconfigError: Cannot read kubeconfig k\.yaml: not a YAML mapping \(point to a kubeconfig file/,
    ],
    [
      K3S_YAML.replace('current-context: default', 'current-context: lab'),
      /^KubeconfigError: Cannot read kubeconfig k\.yaml: no context named "lab" \(has "default"\) \(add it under contexts/,
    ],
    [
      K3S_YAML.replace('server: https://127.0.0.1:6443', 'server: 127.0.0.1'),
      /^KubeconfigError: Cannot read kubeconfig k\.yaml: cluster "default" has no valid server \(got "127\.0\.0\.1"\) \(set server to https:\/\/HOST:6443\)$/,
    ],
    [
      K3S_YAML.replace(/client-key-data: .*\n/, ''),
      /^KubeconfigError: Cannot read kubeconfig k\.yaml: user "default" has a client certificate without a key/,
    ],
    [
      K3S_YAML.replace(/certificate-authority-data: .*\n/, 'certificate-authority-data: "%%%"\n'),
      /^KubeconfigError: Cannot read kubeconfig k\.yaml: certificate-authority-data is not base64/,
    ],
  ]
  for (const [text, message] of cases) assert.throws(() => parseKubeconfig(text, 'k.yaml'), message)
})

test('loadKubeconfig() reads file references relative to the kubeconfig folder', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'kubeconfig-'))
  try {
    await writeFile(join(dir, 'ca.crt'), 'CA FILE')
    await writeFile(join(dir, 'admin.crt'), 'CERT FILE')
    await writeFile(join(dir, 'admin.key'), 'KEY FILE')
    const text = K3S_YAML.replace(/certificate-authority-data: .*/, 'certificate-authority: ca.crt')
      .replace(/client-certificate-data: .*/, 'client-certificate: admin.crt')
      .replace(/client-key-data: .*/, `client-key: ${join(dir, 'admin.key')}`)
    await writeFile(join(dir, 'config'), text)
    const c = await loadKubeconfig(join(dir, 'config'))
    assert.equal(c.ca?.toString(), 'CA FILE')
    assert.equal(c.cert?.toString(), 'CERT FILE')
    assert.equal(c.key?.toString(), 'KEY FILE')
    await rm(join(dir, 'ca.crt'))
    await assert.rejects(
      loadKubeconfig(join(dir, 'config')),
      /certificate-authority ".*ca\.crt" cannot be read: ENOENT/,
    )
    await assert.rejects(
      loadKubeconfig(join(dir, 'missing')),
      /^KubeconfigError: Cannot read kubeconfig .*missing: ENOENT/,
    )
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
})

test('rewriteKubeconfigServer() points every cluster at the endpoint and renames the default entries', () => {
  const out = rewriteKubeconfigServer(K3S_YAML, 'https://10.0.0.20:6443', {
    cluster: 'homelab',
    context: 'homelab',
    user: 'homelab-admin',
  })
  const doc = parse(out)
  assert.equal(doc.clusters[0].name, 'homelab')
  assert.equal(doc.clusters[0].cluster.server, 'https://10.0.0.20:6443')
  assert.equal(doc.clusters[0].cluster['certificate-authority-data'], b64('CA PEM'))
  assert.deepEqual(doc.contexts[0], {
    name: 'homelab',
    context: { cluster: 'homelab', user: 'homelab-admin' },
  })
  assert.equal(doc.users[0].name, 'homelab-admin')
  assert.equal(doc['current-context'], 'homelab')
  assert.deepEqual(doc.preferences, {})
  const c = parseKubeconfig(out, 'out')
  assert.equal(c.server, 'https://10.0.0.20:6443')
  assert.equal(c.contextName, 'homelab')
  assert.equal(c.key?.toString(), 'KEY PEM')
})

test('rewriteKubeconfigServer() without names keeps the names and changes only the server', () => {
  const out = rewriteKubeconfigServer(K3S_YAML, 'https://10.0.0.20:6443')
  assert.equal(out, K3S_YAML.replace('https://127.0.0.1:6443', 'https://10.0.0.20:6443'))
})
