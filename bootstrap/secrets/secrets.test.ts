/**
 * The generated secrets against the stand-in Kubernetes API server (test/harness/kube-standin.ts):
 * no real cluster runs here.
 */
import assert from 'node:assert/strict'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, test } from 'node:test'
import bcrypt from 'bcryptjs'
import { createKubeClient, type KubeClient, type KubeObject } from '../../lib/kube/client.ts'
import { loadKubeconfig, rewriteKubeconfigServer } from '../../lib/kube/kubeconfig.ts'
import { type KubeStandin, startKubeStandin } from '../../test/harness/kube-standin.ts'
import { GENERATED_SECRETS, secretById } from './registry.ts'
import { ensureSecrets, ROTATED_ANNOTATION, readSecret, rotateSecret } from './secrets.ts'

let dir = ''
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'hl-secrets-'))
})
after(async () => {
  await rm(dir, { recursive: true, force: true })
})

async function withApi(body: (api: KubeClient, standin: KubeStandin) => Promise<void>): Promise<void> {
  const labDir = await mkdtemp(join(dir, 'lab-'))
  let standin: KubeStandin | undefined
  try {
    standin = await startKubeStandin({ dir: join(labDir, 'api') })
    await writeFile(join(labDir, 'kubeconfig'), rewriteKubeconfigServer(standin.kubeconfig, standin.url))
    await body(createKubeClient(await loadKubeconfig(join(labDir, 'kubeconfig'))), standin)
  } finally {
    await standin?.close()
    await rm(labDir, { recursive: true, force: true })
  }
}

const places = GENERATED_SECRETS.flatMap((s) => s.places.map((p) => ({ id: s.id, ...p })))

/** Every generated Secret's data and resourceVersion, by namespace/name. */
async function snapshot(api: KubeClient): Promise<Map<string, { data: unknown; rv: unknown }>> {
  const out = new Map<string, { data: unknown; rv: unknown }>()
  for (const p of places) {
    const s = await api.get<KubeObject>(`/api/v1/namespaces/${p.namespace}/secrets/${p.name}`)
    assert.ok(s, `${p.namespace}/${p.name} exists`)
    out.set(`${p.namespace}/${p.name}`, {
      data: s.data,
      rv: (s.metadata as { resourceVersion?: string }).resourceVersion,
    })
  }
  return out
}

const decode = (s: KubeObject | undefined, key: string) =>
  Buffer.from(((s?.data ?? {}) as Record<string, string>)[key] ?? '', 'base64').toString()

test('ensureSecrets() creates every generated Secret once, with its namespace; a second run changes none (stand-in API server)', async () => {
  await withApi(async (api, standin) => {
    const first = await ensureSecrets(api)
    assert.deepEqual(
      first.map((e) => (e.type === 'secret' ? `${e.namespace}/${e.name} ${e.result}` : '')),
      places.map((p) => `${p.namespace}/${p.name} created`),
    )
    const before = await snapshot(api)
    const writes = standin.requests().filter((r) => r.method !== 'GET').length
    const second = await ensureSecrets(api)
    assert.ok(second.every((e) => e.type === 'secret' && e.result === 'unchanged'))
    assert.equal(
      standin.requests().filter((r) => r.method !== 'GET').length,
      writes,
      'no write on the second run',
    )
    assert.deepEqual(await snapshot(api), before)
  })
})

test('ensureSecrets() makes the admin hash a bcrypt of the password and copies an OIDC secret into both namespaces (stand-in API server)', async () => {
  await withApi(async (api) => {
    await ensureSecrets(api)
    const admin = await api.get<KubeObject>('/api/v1/namespaces/dex/secrets/homelab-admin')
    const password = decode(admin, 'password')
    assert.equal(password, await readSecret(api, 'admin'))
    assert.match(password, /^[A-Za-z0-9_-]{24}$/)
    assert.ok(bcrypt.compareSync(password, decode(admin, 'hash')))
    const dex = await api.get<KubeObject>('/api/v1/namespaces/dex/secrets/dex-client-gitea')
    const gitea = await api.get<KubeObject>('/api/v1/namespaces/gitea/secrets/gitea-oidc')
    assert.equal(decode(gitea, 'key'), 'gitea')
    assert.equal(decode(gitea, 'secret'), decode(dex, 'client-secret'))
    assert.equal(decode(dex, 'client-secret').length, 43)
  })
})

test('ensureSecrets() recreates a deleted copy with the value the other copy keeps (stand-in API server)', async () => {
  await withApi(async (api) => {
    await ensureSecrets(api)
    const secret = decode(await api.get<KubeObject>('/api/v1/namespaces/gitea/secrets/gitea-oidc'), 'secret')
    assert.equal(await api.delete('/api/v1/namespaces/dex/secrets/dex-client-gitea'), true)
    const events = await ensureSecrets(api)
    assert.deepEqual(
      events
        .filter((e) => e.type === 'secret' && e.result === 'created')
        .map((e) => `${e.namespace}/${e.name}`),
      ['dex/dex-client-gitea'],
    )
    const dex = await api.get<KubeObject>('/api/v1/namespaces/dex/secrets/dex-client-gitea')
    assert.equal(decode(dex, 'client-secret'), secret)
  })
})

test('rotateSecret() changes exactly one entry, in all its places, and restarts the workloads that use it (stand-in API server)', async () => {
  await withApi(async (api) => {
    await ensureSecrets(api)
    for (const w of [
      { namespace: 'dex', name: 'dex' },
      { namespace: 'monitoring', name: 'grafana' },
      { namespace: 'gitea', name: 'gitea' },
    ]) {
      await api.request('POST', `/apis/apps/v1/namespaces/${w.namespace}/deployments`, {
        body: {
          apiVersion: 'apps/v1',
          kind: 'Deployment',
          metadata: { name: w.name, namespace: w.namespace },
          spec: {
            selector: { matchLabels: { app: w.name } },
            template: {
              metadata: { labels: { app: w.name } },
              spec: { containers: [{ name: 'c', image: 'x' }] },
            },
          },
        },
      })
    }
    const before = await snapshot(api)
    const oldSecret = await readSecret(api, 'oidc-grafana')
    const events = await rotateSecret(api, 'oidc-grafana', { now: () => new Date('2026-12-02T10:00:00Z') })
    const after = await snapshot(api)
    const changed = [...after.keys()].filter(
      (k) => JSON.stringify(after.get(k)?.data) !== JSON.stringify(before.get(k)?.data),
    )
    assert.deepEqual(changed, ['dex/dex-client-grafana', 'monitoring/grafana-oidc'])
    const newSecret = await readSecret(api, 'oidc-grafana')
    assert.notEqual(newSecret, oldSecret)
    const grafana = await api.get<KubeObject>('/api/v1/namespaces/monitoring/secrets/grafana-oidc')
    assert.equal(decode(grafana, 'client-id'), 'grafana', 'a fixed key keeps its value')
    assert.equal(decode(grafana, 'client-secret'), newSecret)
    const annotation = async (ns: string, name: string) =>
      (
        await api.get<{ spec: { template: { metadata: { annotations?: Record<string, string> } } } }>(
          `/apis/apps/v1/namespaces/${ns}/deployments/${name}`,
        )
      )?.spec.template.metadata.annotations?.[ROTATED_ANNOTATION]
    assert.equal(await annotation('dex', 'dex'), 'oidc-grafana 2026-12-02T10:00:00.000Z')
    assert.equal(await annotation('monitoring', 'grafana'), 'oidc-grafana 2026-12-02T10:00:00.000Z')
    assert.equal(
      await annotation('gitea', 'gitea'),
      undefined,
      'a workload that does not use it keeps running',
    )
    assert.deepEqual(
      events.filter((e) => e.type === 'secret.restart').map((e) => `${e.namespace}/${e.name} ${e.result}`),
      ['dex/dex restarted', 'monitoring/grafana restarted'],
    )
    // a later bootstrap keeps the rotated value
    await ensureSecrets(api)
    assert.equal(await readSecret(api, 'oidc-grafana'), newSecret)
  })
})

test('secretById() names the secrets there are when the name is unknown', () => {
  assert.throws(
    () => secretById('nope'),
    /Cannot find the generated secret "nope": .*pick one of admin, gitea-admin/,
  )
})
