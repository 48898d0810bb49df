/**
 * Vault's initialisation, unsealing and OIDC login against the stand-in Vault HTTP API
 * (test/harness/vault-standin.ts: Vault cannot run here), and the service-proxy transport against
 * the stand-in Kubernetes API server.
 */
import assert from 'node:assert/strict'
import { chmod, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, test } from 'node:test'
import { createKubeClient } from '../../lib/kube/client.ts'
import { loadKubeconfig, rewriteKubeconfigServer } from '../../lib/kube/kubeconfig.ts'
import { startKubeStandin } from '../../test/harness/kube-standin.ts'
import { startVaultStandin, type VaultStandin } from '../../test/harness/vault-standin.ts'
import { ensureSecrets } from '../secrets/secrets.ts'
import type { ClusterSettings } from '../settings.ts'
import { httpTransport, serviceProxyTransport, vaultClient } from './api.ts'
import { bootstrapVault } from './bootstrap-vault.ts'
import { configureVaultOidc, vaultRedirectUris } from './oidc.ts'
import { ensureUnsealed, keysFile, readKeys, type VaultEvent } from './unseal.ts'

let dir = ''
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'hl-vault-'))
})
after(async () => {
  await rm(dir, { recursive: true, force: true })
})

async function withVault(body: (vault: VaultStandin, state: string) => Promise<void>): Promise<void> {
  const state = await mkdtemp(join(dir, 'state-'))
  const vault = await startVaultStandin()
  try {
    await body(vault, state)
  } finally {
    await vault.close()
    await rm(state, { recursive: true, force: true })
  }
}

/** Every secret string the stand-in issued, to look for in outputs. */
async function issued(state: string): Promise<string[]> {
  const keys = await readKeys(keysFile(state))
  assert.ok(keys)
  return [
    ...keys.keys_base64,
    ...keys.keys_base64.map((k) => Buffer.from(k, 'base64').toString('hex')),
    keys.root_token,
  ]
}

test('ensureUnsealed() initialises the stand-in Vault once, writes keys and root token 0600, unseals it, and no event holds a key', async () => {
  await withVault(async (standin, state) => {
    const events: VaultEvent[] = []
    const vault = vaultClient(httpTransport(standin.url))
    const result = await ensureUnsealed({ vault, stateDir: state, init: true, events: (e) => events.push(e) })
    assert.equal(result.initialised, true)
    assert.equal(result.unsealed, true)
    assert.deepEqual(standin.state(), { initialized: true, sealed: false, progress: 0 })
    assert.deepEqual(
      standin.requests().map((r) => `${r.method} ${r.path}`),
      [
        'GET sys/seal-status',
        'PUT sys/init',
        'GET sys/seal-status',
        'PUT sys/unseal',
        'PUT sys/unseal',
        'PUT sys/unseal',
      ],
    )
    const file = keysFile(state)
    assert.equal((await stat(file)).mode & 0o777, 0o600)
    assert.equal((await stat(join(state, 'vault'))).mode & 0o777, 0o700)
    const keys = await readKeys(file)
    assert.equal(keys?.keys_base64.length, 5)
    assert.equal(keys?.threshold, 3)
    const text = JSON.stringify(events)
    for (const secret of await issued(state)) assert.ok(!text.includes(secret), 'no key or token in an event')
    // again: nothing to do
    const again = await ensureUnsealed({ vault, stateDir: state, init: true })
    assert.deepEqual([again.initialised, again.unsealed], [false, false])
    assert.equal(standin.requests().filter((r) => r.path !== 'sys/seal-status').length, 4)
  })
})

test('ensureUnsealed() unseals the stand-in Vault after a restart from the keys file, without initialising', async () => {
  await withVault(async (standin, state) => {
    const vault = vaultClient(httpTransport(standin.url))
    await ensureUnsealed({ vault, stateDir: state, init: true })
    standin.restart()
    const result = await ensureUnsealed({ vault, stateDir: state, init: false })
    assert.deepEqual([result.initialised, result.unsealed], [false, true])
    assert.equal(standin.state().sealed, false)
    assert.equal(standin.requests().filter((r) => r.path === 'sys/init').length, 1)
  })
})

test('ensureUnsealed() refuses: a keys file others may read, keys of an earlier Vault, unseal before init (stand-in Vault)', async () => {
  await withVault(async (standin, state) => {
    const vault = vaultClient(httpTransport(standin.url))
    await assert.rejects(
      ensureUnsealed({ vault, stateDir: state, init: false }),
      /it is not initialised yet: run `homelab bootstrap`/,
    )
    const file = keysFile(state)
    await ensureUnsealed({ vault, stateDir: state, init: true })
    standin.restart()
    await chmod(file, 0o644)
    await assert.rejects(
      ensureUnsealed({ vault, stateDir: state, init: false }),
      /its mode is 644, readable by others: run chmod 600/,
    )
    await chmod(file, 0o600)
    const fresh = await startVaultStandin()
    try {
      const other = vaultClient(httpTransport(fresh.url))
      await assert.rejects(
        ensureUnsealed({ vault: other, stateDir: state, init: true }),
        /holds the keys of an earlier Vault: move that file away/,
      )
      assert.deepEqual(
        fresh.requests().map((r) => r.path),
        ['sys/seal-status'],
        'no init when keys exist',
      )
    } finally {
      await fresh.close()
    }
    const keysText = await readFile(file, 'utf8')
    await writeFile(file, keysText.replace(/"keys_base64": \[[^\]]*\]/, '"keys_base64": ["AAAA"]'))
    await assert.rejects(ensureUnsealed({ vault, stateDir: state, init: false }), (e: Error) => {
      assert.match(e.message, /Vault API PUT \/v1\/sys\/unseal: 400/)
      assert.ok(!e.message.includes('AAAA'), 'the key is not in the error')
      return true
    })
  })
})

test('configureVaultOidc() enables the oidc method once and writes config, admin policy and role with the Dex client (stand-in Vault)', async () => {
  await withVault(async (standin, state) => {
    const vault = vaultClient(httpTransport(standin.url))
    await ensureUnsealed({ vault, stateDir: state, init: true })
    const token = (await readKeys(keysFile(state)))?.root_token ?? ''
    const settings = {
      domain: 'lab.home.arpa',
      clientId: 'vault',
      clientSecret: 's3cret',
      adminEmail: 'admin@lab.home.arpa',
    }
    assert.deepEqual(await configureVaultOidc(vault, token, settings), [
      'enabled auth method oidc/',
      'configured auth/oidc/config',
      'wrote policy admin',
      'wrote role default',
    ])
    assert.equal((await configureVaultOidc(vault, token, settings))[0], 'configured auth/oidc/config')
    assert.deepEqual(standin.written.get('auth/oidc/config'), {
      oidc_discovery_url: 'https://dex.lab.home.arpa',
      oidc_client_id: 'vault',
      oidc_client_secret: 's3cret',
      default_role: 'default',
    })
    const role = standin.written.get('auth/oidc/role/default') as Record<string, unknown>
    assert.deepEqual(role.allowed_redirect_uris, vaultRedirectUris('lab.home.arpa'))
    assert.deepEqual(role.bound_claims, { email: ['admin@lab.home.arpa'] })
    await assert.rejects(configureVaultOidc(vault, 'wrong', settings), /403: permission denied/)
  })
})

test('serviceProxyTransport() reaches Vault at /api/v1/namespaces/vault/services/vault:8200/proxy/v1/ (stand-in API server and stand-in Vault)', async () => {
  const labDir = await mkdtemp(join(dir, 'kube-'))
  const standin = await startKubeStandin({ dir: join(labDir, 'api') })
  const vault = await startVaultStandin()
  try {
    await writeFile(join(labDir, 'kubeconfig'), rewriteKubeconfigServer(standin.kubeconfig, standin.url))
    const api = createKubeClient(await loadKubeconfig(join(labDir, 'kubeconfig')))
    const client = vaultClient(serviceProxyTransport(api))
    await assert.rejects(client.sealStatus(), /Vault API GET \/v1\/sys\/seal-status: 404/)
    standin.setServiceProxy('vault', 'vault:8200', vault.proxyHandler())
    const status = await client.sealStatus()
    assert.deepEqual([status.initialized, status.sealed], [false, true])
  } finally {
    await vault.close()
    await standin.close()
    await rm(labDir, { recursive: true, force: true })
  }
})

test('bootstrapVault() leaves Vault unsealed and says to run bootstrap again when Vault refuses the OIDC config (stand-in Vault: discovery not reachable)', async () => {
  const labDir = await mkdtemp(join(dir, 'kube-'))
  const standin = await startKubeStandin({ dir: join(labDir, 'api') })
  const vault = await startVaultStandin({ discoveryError: 'error checking oidc discovery URL' })
  try {
    await writeFile(join(labDir, 'kubeconfig'), rewriteKubeconfigServer(standin.kubeconfig, standin.url))
    const api = createKubeClient(await loadKubeconfig(join(labDir, 'kubeconfig')))
    await ensureSecrets(api)
    const events: VaultEvent[] = []
    const settings = { domain: 'lab.home.arpa', clusterIssuer: 'homelab-selfsigned' } as ClusterSettings
    const ok = await bootstrapVault({
      api,
      stateDir: join(labDir, 'state'),
      settings,
      transport: httpTransport(vault.url),
      events: (e) => events.push(e),
    })
    assert.equal(ok, false)
    assert.equal(vault.state().sealed, false)
    assert.match(
      events.at(-1)?.detail ?? '',
      /login through Dex not configured yet \(.*error checking oidc discovery URL\): once https:\/\/dex\.lab\.home\.arpa answers inside the cluster, run `homelab bootstrap` again/,
    )
  } finally {
    await vault.close()
    await standin.close()
    await rm(labDir, { recursive: true, force: true })
  }
})
