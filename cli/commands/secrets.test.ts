/**
 * `homelab secrets` and `homelab vault` (the real CLI, spawned) against the stand-in Kubernetes API
 * server and the stand-in Vault HTTP API: no cluster or Vault runs here. No value, key or token
 * appears in any output but the one `secrets show NAME` was asked for.
 */
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { GENERATED_SECRETS } from '../../bootstrap/secrets/registry.ts'
import { ensureSecrets, readSecret } from '../../bootstrap/secrets/secrets.ts'
import { httpTransport, vaultClient } from '../../bootstrap/vault/api.ts'
import { ensureUnsealed, keysFile, readKeys } from '../../bootstrap/vault/unseal.ts'
import { createKubeClient, type KubeClient } from '../../lib/kube/client.ts'
import { loadKubeconfig, rewriteKubeconfigServer } from '../../lib/kube/kubeconfig.ts'
import { type KubeStandin, startKubeStandin } from '../../test/harness/kube-standin.ts'
import { startVaultStandin, type VaultStandin } from '../../test/harness/vault-standin.ts'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))
let dir = ''
let state = ''
let standin: KubeStandin
let vault: VaultStandin
let api: KubeClient

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'hl-secrets-cli-'))
  state = join(dir, 'state')
  await mkdir(state)
  standin = await startKubeStandin({ dir: join(dir, 'api') })
  vault = await startVaultStandin()
  await writeFile(join(state, 'kubeconfig'), rewriteKubeconfigServer(standin.kubeconfig, standin.url))
  api = createKubeClient(await loadKubeconfig(join(state, 'kubeconfig')))
})
after(async () => {
  await vault?.close()
  await standin?.close()
  await rm(dir, { recursive: true, force: true })
})

const homelab = (...args: string[]) =>
  promisify(execFile)(
    join(ROOT, 'bin', 'homelab'),
    [...args, '--state', state, '-c', join(ROOT, 'homelab.yaml')],
    {
      cwd: ROOT,
    },
  )

/** Every generated value in the stand-in cluster. */
async function allValues(): Promise<string[]> {
  const out: string[] = []
  for (const s of GENERATED_SECRETS) {
    const secret = await api.get<{ data: Record<string, string> }>(
      `/api/v1/namespaces/${s.places[0]?.namespace}/secrets/${s.places[0]?.name}`,
    )
    for (const [k, v] of Object.entries(secret?.data ?? {})) {
      const value = Buffer.from(v, 'base64').toString()
      if (s.keys[k]?.kind !== 'fixed') out.push(value)
    }
  }
  return out
}

test('homelab secrets list (real CLI, stand-in API server) names every secret and where it is used, never a value', async () => {
  await ensureSecrets(api)
  const text = (await homelab('secrets', 'list')).stdout
  for (const s of GENERATED_SECRETS) assert.match(text, new RegExp(`^${s.id} `, 'm'))
  assert.match(
    text,
    /dex\/dex-client-grafana, monitoring\/grafana-oidc +deployment dex\/dex; deployment monitoring\/grafana/,
  )
  const json = (await homelab('secrets', 'list', '--json')).stdout
  assert.deepEqual(
    json
      .trim()
      .split('\n')
      .map((l) => (JSON.parse(l) as { type: string; name?: string }).name ?? ''),
    [...GENERATED_SECRETS.map((s) => s.id), ''],
  )
  for (const value of await allValues()) {
    assert.ok(!text.includes(value) && !json.includes(value), 'no value in list')
  }
})

test('homelab secrets show admin prints exactly the admin password; rotate prints no value and changes it (real CLI, stand-in API server)', async () => {
  await ensureSecrets(api)
  const password = await readSecret(api, 'admin')
  assert.equal((await homelab('secrets', 'show', 'admin')).stdout, `${password}\n`)
  const before = await readSecret(api, 'gitea-admin')
  const rotated = await homelab('secrets', 'rotate', 'gitea-admin')
  const after = await readSecret(api, 'gitea-admin')
  assert.notEqual(after, before)
  assert.equal(await readSecret(api, 'admin'), password, 'only the one named changes')
  assert.ok(!rotated.stdout.includes(after) && !rotated.stdout.includes(before))
  assert.match(
    rotated.stdout,
    /Secret gitea\/gitea-admin: new value\nDeployment gitea\/gitea: not deployed yet\n/,
  )
  await assert.rejects(homelab('secrets', 'show', 'nope'), (e: { code: number; stderr: string }) => {
    assert.equal(e.code, 1)
    assert.match(e.stderr, /Cannot find the generated secret "nope": .*homelab secrets list/)
    return true
  })
})

test('homelab vault unseal --json (real CLI, stand-in Vault HTTP API) unseals a restarted Vault; no key or token in any output', async () => {
  await ensureUnsealed({ vault: vaultClient(httpTransport(vault.url)), stateDir: state, init: true })
  vault.restart()
  const sealed = await homelab('vault', 'status', '--vault-addr', vault.url)
  assert.match(sealed.stdout, /initialised, sealed \(0\/3 keys; run `homelab vault unseal`\)/)
  const outputs = [await homelab('vault', 'unseal', '--json', '--vault-addr', vault.url)]
  assert.equal(vault.state().sealed, false)
  outputs.push(await homelab('vault', 'unseal', '--vault-addr', vault.url))
  outputs.push(await homelab('vault', 'status', '--json', '--vault-addr', vault.url))
  const events = outputs[0]?.stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { type: string })
  assert.deepEqual(
    events?.map((e) => e.type),
    ['vault', 'vault', 'vault', 'vault', 'vault.unsealed', 'done'],
  )
  assert.match(outputs[1]?.stdout ?? '', /Vault was not sealed: nothing to do/)
  const keys = await readKeys(keysFile(state))
  assert.ok(keys)
  const secrets = [
    ...keys.keys_base64,
    ...keys.keys_base64.map((k) => Buffer.from(k, 'base64').toString('hex')),
    keys.root_token,
  ]
  for (const o of outputs) for (const s of secrets) assert.ok(!o.stdout.includes(s) && !o.stderr.includes(s))
})
