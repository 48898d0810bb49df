/**
 * convergeExternal() and externalDoctor() against the stand-in Cloudflare v4 API server
 * (test/harness/cloudflare-standin.ts) and the stand-in Kubernetes API server
 * (test/harness/kube-standin.ts): no internet, no cluster.
 */
import assert from 'node:assert/strict'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { createKubeClient, type KubeClient } from '../lib/kube/index.ts'
import { loadKubeconfig, rewriteKubeconfigServer } from '../lib/kube/kubeconfig.ts'
import { type CloudflareStandin, startCloudflareStandin } from '../test/harness/cloudflare-standin.ts'
import { startKubeStandin } from '../test/harness/kube-standin.ts'
import { createCloudflareApi } from './cloudflare/api.ts'
import { convergeExternal, type ExternalSettings } from './converge.ts'
import { externalDoctor } from './doctor.ts'
import type { ExternalEvent } from './events.ts'
import { readSecretKey } from './kube-secrets.ts'
import { RECORD_COMMENT, TOKEN_SECRETS, TUNNEL_SECRET, tokenName, tunnelName } from './names.ts'

const ADMIN = 'standinAdminToken0123456789abcdefghijklmn'
const ACCOUNT = '0123456789abcdef0123456789abcdef'
const SETTINGS: ExternalSettings = {
  accountId: ACCOUNT,
  zone: 'example.com',
  domain: 'home.example.com',
  trustedCertificate: false,
}
const NOW = new Date('2026-12-02T10:00:00Z')

interface World {
  cf: CloudflareStandin
  kube: KubeClient
  run(options?: {
    plan?: boolean
    now?: Date
    token?: string
  }): Promise<{ changes: number; events: ExternalEvent[] }>
}

async function withWorld(body: (w: World) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'external-'))
  const cf = await startCloudflareStandin({ adminToken: ADMIN, accountId: ACCOUNT, zone: 'example.com' })
  const kubeStandin = await startKubeStandin({ dir: join(dir, 'api') })
  try {
    await writeFile(join(dir, 'kubeconfig'), rewriteKubeconfigServer(kubeStandin.kubeconfig, kubeStandin.url))
    const kube = createKubeClient(await loadKubeconfig(join(dir, 'kubeconfig')))
    const apiWith = (token: string) => createCloudflareApi({ token, baseUrl: cf.url })
    const run: World['run'] = async (o = {}) => {
      const events: ExternalEvent[] = []
      const changes = await convergeExternal({
        settings: SETTINGS,
        api: apiWith(o.token ?? ADMIN),
        apiWith,
        kube,
        plan: o.plan ?? false,
        emit: (e) => events.push(e),
        now: () => o.now ?? NOW,
      })
      return { changes, events }
    }
    await body({ cf, kube, run })
  } finally {
    await cf.close()
    await kubeStandin.close()
    await rm(dir, { recursive: true, force: true })
  }
}

const changed = (events: ExternalEvent[]) =>
  events.flatMap((e) =>
    e.type === 'external.change' && e.action !== 'keep' ? [`${e.action} ${e.object} ${e.name}`] : [],
  )

test('convergeExternal() first run creates the tunnel, its ingress, the record, both tokens and every Secret', async () => {
  await withWorld(async ({ cf, kube, run }) => {
    const { changes, events } = await run()
    const tunnel = cf.state.tunnels.find((t) => t.name === tunnelName('home.example.com'))
    assert.ok(tunnel, 'the tunnel exists')
    assert.equal(tunnel.config_src, 'cloudflare')
    assert.deepEqual(tunnel.config, {
      ingress: [
        {
          hostname: '*.home.example.com',
          service: 'https://homelab-gateway.envoy-gateway.svc:443',
          originRequest: { matchSNItoHost: true, noTLSVerify: true },
        },
        { service: 'http_status:404' },
      ],
    })
    assert.deepEqual(
      cf.state.records.map((r) => [r.type, r.name, r.content, r.proxied, r.comment]),
      [
        ['CNAME', '*.home.example.com', `${tunnel.id}.cfargotunnel.com`, true, RECORD_COMMENT],
        // external-dns's target (the shared Gateway's annotation): each route's host -> this name
        ['CNAME', 'tunnel.home.example.com', `${tunnel.id}.cfargotunnel.com`, true, RECORD_COMMENT],
      ],
    )
    // the tunnel token cloudflared runs with
    const stored = await readSecretKey(kube, TUNNEL_SECRET)
    assert.deepEqual(JSON.parse(Buffer.from(stored ?? '', 'base64').toString()), {
      a: ACCOUNT,
      t: tunnel.id,
      s: tunnel.secret,
    })
    for (const role of ['external-dns', 'cert-manager'] as const) {
      const token = cf.state.tokens.find((t) => t.name === tokenName(role, 'example.com'))
      assert.ok(token, `${role}'s token exists`)
      assert.deepEqual(token.policies[0]?.resources, {
        [`com.cloudflare.api.account.zone.${cf.state.zone.id}`]: '*',
      })
      assert.deepEqual(token.policies[0]?.permission_groups.map((g) => g.id).sort(), [
        '4755a26eedb94da69e1066d98aa820be',
        'c8fed203ed3043cba015a93ad1616f1f',
      ])
      assert.equal(token.expires_on, '2027-03-02T10:00:00Z')
      assert.equal(await readSecretKey(kube, TOKEN_SECRETS[role]), token.value)
    }
    assert.equal(changes, changed(events).length)
    assert.ok(changes >= 8, `${changes} changes`)
  })
})

test('convergeExternal() second run changes nothing, not in Cloudflare, not in the cluster', async () => {
  await withWorld(async ({ cf, run }) => {
    await run()
    const writes = cf.writes().length
    const second = await run()
    assert.deepEqual(changed(second.events), [])
    assert.equal(second.changes, 0)
    assert.equal(cf.writes().length, writes, 'no write to the Cloudflare API')
  })
})

test('convergeExternal() --plan reports the changes and makes none', async () => {
  await withWorld(async ({ cf, kube, run }) => {
    const { changes, events } = await run({ plan: true })
    assert.ok(changes >= 8)
    assert.ok(events.every((e) => e.type !== 'external.change' || e.planned))
    assert.deepEqual(cf.writes(), [])
    assert.equal(await readSecretKey(kube, TUNNEL_SECRET), undefined)
  })
})

test('convergeExternal() recreates a deleted Secret with a new value of the same token', async () => {
  await withWorld(async ({ cf, kube, run }) => {
    await run()
    const ref = TOKEN_SECRETS['external-dns']
    const before = cf.state.tokens.find((t) => t.name === tokenName('external-dns', 'example.com'))
    const oldValue = before?.value
    assert.ok(await kube.delete(`/api/v1/namespaces/${ref.namespace}/secrets/${ref.name}`))
    const { events } = await run()
    assert.deepEqual(changed(events), ['create secret external-dns/cloudflare-api-token'])
    const after = cf.state.tokens.filter((t) => t.name === tokenName('external-dns', 'example.com'))
    assert.equal(after.length, 1, 'no second token')
    assert.notEqual(after[0]?.value, oldValue, 'rolled: the lost value no longer works')
    assert.equal(await readSecretKey(kube, ref), after[0]?.value)
  })
})

test('convergeExternal() recreates a token deleted in Cloudflare and rotates one close to expiry', async () => {
  await withWorld(async ({ cf, kube, run }) => {
    await run()
    cf.state.tokens = cf.state.tokens.filter((t) => t.name !== tokenName('cert-manager', 'example.com'))
    const later = new Date('2027-02-15T00:00:00Z') // 15 days before the tokens made at NOW expire
    const { events } = await run({ now: later })
    assert.deepEqual(changed(events).sort(), [
      'create token homelab-cert-manager-example-com',
      'rotate token homelab-external-dns-example-com',
      'update secret cert-manager/cloudflare-api-token',
      'update secret external-dns/cloudflare-api-token',
    ])
    for (const role of ['external-dns', 'cert-manager'] as const) {
      const token = cf.state.tokens.find((t) => t.name === tokenName(role, 'example.com'))
      assert.equal(token?.expires_on, '2027-05-16T00:00:00Z')
      assert.equal(await readSecretKey(kube, TOKEN_SECRETS[role]), token?.value)
    }
  })
})

test('convergeExternal() leaves a foreign tunnel, a foreign token and a foreign record of our name alone', async () => {
  await withWorld(async ({ cf, run }) => {
    cf.state.tunnels.push({
      id: 'ffffffff-0000-0000-0000-000000000001',
      name: 'my-other-tunnel',
      account_tag: ACCOUNT,
      config_src: 'local',
      created_at: '2025-01-01T00:00:00Z',
      deleted_at: null,
      status: 'healthy',
      connections: [],
      secret: 'x',
    })
    const foreign = {
      id: 'f00d',
      zone_id: cf.state.zone.id,
      name: '*.home.example.com',
      type: 'A',
      content: '203.0.113.7',
      proxied: false,
      ttl: 300,
      comment: null,
    }
    cf.state.records.push({ ...foreign })
    const tokensBefore = cf.state.tokens.map((t) => ({ ...t }))
    const { events } = await run()
    assert.ok(
      events.some(
        (e) =>
          e.type === 'external.change' &&
          e.object === 'dns-record' &&
          e.action === 'conflict' &&
          /left alone/.test(e.detail),
      ),
    )
    assert.deepEqual(
      cf.state.records.filter((r) => r.name === '*.home.example.com'),
      [foreign],
      'the foreign record is unchanged, and no second one was added',
    )
    assert.equal(cf.state.tunnels.find((t) => t.name === 'my-other-tunnel')?.config, undefined)
    assert.deepEqual(cf.state.tokens.slice(0, tokensBefore.length), tokensBefore)
    assert.ok(cf.writes().every((w) => !w.path.includes('ffffffff-0000') && !w.path.includes('f00d')))
  })
})

test('convergeExternal() keeps tunnel.<domain> (external-dns target) once, and leaves a foreign one alone', async () => {
  await withWorld(async ({ cf, run }) => {
    const first = await run()
    assert.ok(changed(first.events).includes('create dns-record tunnel.home.example.com'))
    const second = await run()
    assert.deepEqual(changed(second.events), [])
    const ours = cf.state.records.filter((r) => r.name === 'tunnel.home.example.com')
    assert.equal(ours.length, 1, 'created once')
    // someone else's tunnel.<domain>: reported, never changed, no second record added
    const foreign = { ...(ours[0] as (typeof ours)[number]), type: 'A', content: '192.0.2.9', comment: null }
    cf.state.records = [...cf.state.records.filter((r) => r.name !== 'tunnel.home.example.com'), foreign]
    const writes = cf.writes().length
    const third = await run()
    assert.ok(
      third.events.some(
        (e) =>
          e.type === 'external.change' &&
          e.object === 'dns-record' &&
          e.name === 'tunnel.home.example.com' &&
          e.action === 'conflict',
      ),
    )
    assert.deepEqual(
      cf.state.records.filter((r) => r.name === 'tunnel.home.example.com'),
      [foreign],
    )
    assert.equal(cf.writes().length, writes, 'no write to the Cloudflare API')
  })
})

test('convergeExternal() refuses an invalid token with the fix, and never says the token', async () => {
  await withWorld(async ({ cf, run }) => {
    const bad = 'notTheRightToken0123456789abcdefghijkl'
    await assert.rejects(
      () => run({ token: bad }),
      (e: Error) => {
        assert.match(
          e.message,
          /^Cannot use the Cloudflare API token: Cloudflare refused it \(401: Invalid API Token \(code 1000\)\): create a token/,
        )
        assert.match(e.message, /HOMELAB_CLOUDFLARE_API_TOKEN/)
        assert.ok(!e.message.includes(bad) && !e.message.includes(ADMIN))
        return true
      },
    )
    assert.deepEqual(cf.writes(), [])
  })
})

test('convergeExternal() emits no token value in any event', async () => {
  await withWorld(async ({ cf, run }) => {
    const first = await run()
    await run({ now: new Date('2027-02-20T00:00:00Z') })
    const text = JSON.stringify(first.events)
    for (const t of cf.state.tokens)
      assert.ok(!text.includes(t.value), `token ${t.name} is not in the events`)
    for (const t of cf.state.tunnels) assert.ok(!text.includes(t.secret))
  })
})

test('externalDoctor() passes on a converged layer with the tunnel connected and names each problem', async () => {
  await withWorld(async ({ cf, kube, run }) => {
    const doctor = async () => {
      const events: ExternalEvent[] = []
      const apiWith = (token: string) => createCloudflareApi({ token, baseUrl: cf.url })
      const ok = await externalDoctor({
        settings: SETTINGS,
        api: apiWith(ADMIN),
        apiWith,
        kube,
        emit: (e) => events.push(e),
        now: () => NOW,
      })
      return { ok, failed: events.flatMap((e) => (e.type === 'external.check' && !e.ok ? [e.check] : [])) }
    }
    await run()
    assert.deepEqual(await doctor(), { ok: false, failed: ['tunnel connected'] })
    const tunnel = cf.state.tunnels[0]
    assert.ok(tunnel)
    cf.setConnected(tunnel.id, true)
    assert.deepEqual(await doctor(), { ok: true, failed: [] })
    const record = cf.state.records.find((r) => r.name === 'tunnel.home.example.com')
    assert.ok(record)
    record.content = 'elsewhere.example.net'
    const ref = TOKEN_SECRETS['cert-manager']
    await kube.delete(`/api/v1/namespaces/${ref.namespace}/secrets/${ref.name}`)
    assert.deepEqual(await doctor(), {
      ok: false,
      failed: ['secret cert-manager/cloudflare-api-token', 'dns'],
    })
  })
})
