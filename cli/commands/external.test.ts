/**
 * `homelab external` as users run it (bin/homelab), against the stand-in Cloudflare v4 API server
 * (CLOUDFLARE_BASE_URL) and the stand-in Kubernetes API server: the token given once by the
 * environment, kept 0600, never in the output, the --json events or the stand-ins' logs.
 */
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import {
  copyFileSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, test } from 'node:test'
import { promisify } from 'node:util'
import { rewriteKubeconfigServer } from '../../lib/kube/kubeconfig.ts'
import { type CloudflareStandin, startCloudflareStandin } from '../../test/harness/cloudflare-standin.ts'
import { type KubeStandin, startKubeStandin } from '../../test/harness/kube-standin.ts'

const exec = promisify(execFile)
const root = join(import.meta.dirname, '..', '..')
const TOKEN = 'cliStandinToken_0123456789abcdefghijklmnop'
let dir: string
let config: string
let cf: CloudflareStandin
let kube: KubeStandin

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'hl-external-'))
  config = join(dir, 'homelab.yaml')
  copyFileSync(join(root, 'core/config/fixtures/valid/external.yaml'), config)
  cf = await startCloudflareStandin({
    adminToken: TOKEN,
    accountId: '0123456789abcdef0123456789abcdef',
    zone: 'example.com',
  })
  kube = await startKubeStandin({ dir: join(dir, 'api') })
  mkdirSync(join(dir, '.state'))
  writeFileSync(join(dir, '.state', 'kubeconfig'), rewriteKubeconfigServer(kube.kubeconfig, kube.url), {
    mode: 0o600,
  })
})
after(async () => {
  await cf.close()
  await kube.close()
  rmSync(dir, { recursive: true, force: true })
})

async function run(args: string[], env: Record<string, string> = {}) {
  const { HOMELAB_CLOUDFLARE_API_TOKEN: _drop, ...base } = process.env
  try {
    const { stdout, stderr } = await exec(join(root, 'bin/homelab'), [...args, '--config', config], {
      env: { ...base, NO_COLOR: '1', CLOUDFLARE_BASE_URL: cf.url, ...env },
    })
    return { code: 0, out: stdout, err: stderr }
  } catch (cause) {
    const e = cause as { code: number; stdout: string; stderr: string }
    return { code: e.code, out: e.stdout, err: e.stderr }
  }
}

/** Every token and tunnel secret the stand-in holds, with the user's. */
const secrets = () => [
  TOKEN,
  ...cf.state.tokens.map((t) => t.value),
  ...cf.state.tunnels.map((t) => t.secret),
]

function assertNoSecret(text: string, where: string) {
  for (const s of secrets()) assert.ok(!text.includes(s), `a token appears in ${where}`)
}

test('homelab external: --plan, then a run with the token in the environment, then a run from the stored token that changes nothing', async () => {
  const plan = await run(['external', '--plan'], { HOMELAB_CLOUDFLARE_API_TOKEN: TOKEN })
  assert.equal(plan.code, 0, plan.err)
  assert.match(plan.out, /would create tunnel homelab-home-example-com/)
  assert.match(plan.out, /nothing changed \(--plan\)/)
  assert.deepEqual(cf.writes(), [])

  const first = await run(['external', '--json'], { HOMELAB_CLOUDFLARE_API_TOKEN: TOKEN })
  assert.equal(first.code, 0, first.err)
  const events = first.out
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { type: string; object?: string; action?: string; name?: string })
  assert.ok(
    events.some((e) => e.type === 'external.change' && e.object === 'tunnel' && e.action === 'create'),
  )
  assert.ok(
    events.some((e) => e.type === 'external.change' && e.name === 'kube-system/homelab-cloudflare-api-token'),
  )
  const stored = join(dir, '.state', 'cloudflare-api-token')
  assert.equal(readFileSync(stored, 'utf8').trim(), TOKEN)
  assert.equal(statSync(stored).mode & 0o777, 0o600)

  const second = await run(['external'])
  assert.equal(second.code, 0, second.err)
  assert.match(second.out, /external: nothing to change/)

  for (const [name, text] of [
    ['plan output', plan.out + plan.err],
    ['--json events', first.out + first.err],
    ['second output', second.out + second.err],
    ['the Cloudflare stand-in request log', JSON.stringify(cf.requests)],
    ['the Kubernetes stand-in request log', JSON.stringify(kube.requests())],
    ...readdirSync(join(dir, 'api')).map((f) => [`api/${f}`, readFileSync(join(dir, 'api', f), 'utf8')]),
  ] as const) {
    assertNoSecret(text, name)
  }
})

test('homelab external: an invalid token is refused with the fix, not stored, not printed', async () => {
  const bad = 'wrongToken_0123456789abcdefghijklmnopqrs'
  const result = await run(['external', '--state', join(dir, 'other-state')], {
    HOMELAB_CLOUDFLARE_API_TOKEN: bad,
  })
  assert.equal(result.code, 1)
  assert.match(
    result.err + result.out,
    /Cannot use the Cloudflare API token: Cloudflare refused it .*Invalid API Token \(code 1000\).*HOMELAB_CLOUDFLARE_API_TOKEN/,
  )
  assert.ok(!(result.err + result.out).includes(bad))
  assert.throws(() => statSync(join(dir, 'other-state', 'cloudflare-api-token')))
})
