/**
 * `homelab validate` with upstream charts: a STAND-IN upstream chart (stand-in-web, made here
 * with `helm package`, not a real upstream chart) served with its index.yaml from a loopback
 * server. The component pins it at https://charts.stand-in.test; the injected fetch routes that
 * name to the loopback server, so the real Chart.yaml rules (https only) apply unchanged.
 */
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { createHash } from 'node:crypto'
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { createServer } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { promisify } from 'node:util'
import { loadConfig } from '../../core/config/load.ts'
import { ensureHelm } from '../../lib/toolbox/index.ts'
import { clusterSettings } from '../settings.ts'
import { validateComponents } from './components.ts'

const run = promisify(execFile)
const repo = join(import.meta.dirname, '../..')
const STAND_IN_REPO = 'https://charts.stand-in.test/web'

async function settings() {
  const { config, derived } = await loadConfig(join(repo, 'homelab.yaml'))
  return clusterSettings(config, derived, config.gitops.seed.url)
}

/** Packs the stand-in upstream chart (a Deployment running `image`) with real `helm package`. */
async function packStandIn(
  work: string,
  image: string,
  description = 'a stand-in upstream chart',
): Promise<Buffer> {
  const src = join(
    work,
    `src-${createHash('sha256')
      .update(image + description)
      .digest('hex')
      .slice(0, 8)}`,
    'stand-in-web',
  )
  await mkdir(join(src, 'templates'), { recursive: true })
  await writeFile(
    join(src, 'Chart.yaml'),
    `apiVersion: v2\nname: stand-in-web\nversion: 1.2.3\ndescription: ${description}\n`,
  )
  await writeFile(join(src, 'values.yaml'), `image: ${JSON.stringify(image)}\n`)
  await writeFile(
    join(src, 'templates/deployment.yaml'),
    [
      'apiVersion: apps/v1',
      'kind: Deployment',
      'metadata:',
      '  name: {{ .Release.Name }}-stand-in',
      'spec:',
      '  selector:',
      '    matchLabels: { app: stand-in }',
      '  template:',
      '    metadata:',
      '      labels: { app: stand-in }',
      '    spec:',
      '      containers:',
      '        - name: web',
      '          image: {{ .Values.image | quote }}',
      '',
    ].join('\n'),
  )
  const home = join(work, 'helm-home')
  const env = {
    PATH: process.env.PATH ?? '',
    HELM_CACHE_HOME: home,
    HELM_CONFIG_HOME: home,
    HELM_DATA_HOME: home,
  }
  const out = join(src, '..', 'out')
  await run(await ensureHelm(), ['package', src, '--destination', out], { env })
  return readFile(join(out, 'stand-in-web-1.2.3.tgz'))
}

/** A loopback chart repository stand-in: serves /web/index.yaml and the archive; the index's digest can lie. */
async function chartRepo(archive: Buffer, digest = createHash('sha256').update(archive).digest('hex')) {
  const state = { archive, digest, requests: [] as string[] }
  const server = createServer((req, res) => {
    state.requests.push(req.url ?? '')
    if (req.url === '/web/index.yaml') {
      res.end(
        `apiVersion: v1\nentries:\n  stand-in-web:\n    - name: stand-in-web\n      version: 1.2.3\n      digest: ${state.digest}\n      urls: [stand-in-web-1.2.3.tgz]\n    - name: stand-in-web\n      version: 1.0.0\n      urls: [old.tgz]\n`,
      )
    } else if (req.url === '/web/stand-in-web-1.2.3.tgz') res.end(state.archive)
    else res.writeHead(404).end()
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  const { port } = server.address() as { port: number }
  const routed: typeof fetch = (input, init) =>
    fetch(String(input).replace('https://charts.stand-in.test', `http://127.0.0.1:${port}`), init)
  return { state, fetch: routed, close: () => new Promise<void>((r) => server.close(() => r())) }
}

/** A repo with one component, apps/web, wrapping the stand-in chart, plus its own ConfigMap running no image. */
async function component(
  work: string,
  ownTemplate = 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: web\ndata: {}\n',
) {
  const root = join(work, 'repo')
  await mkdir(join(root, 'apps/web/templates'), { recursive: true })
  await writeFile(
    join(root, 'apps/web/Chart.yaml'),
    `apiVersion: v2\nname: web\nversion: 0.1.0\ndependencies:\n  - name: stand-in-web\n    version: 1.2.3\n    repository: ${STAND_IN_REPO}\n`,
  )
  await writeFile(join(root, 'apps/web/templates/own.yaml'), ownTemplate)
  return root
}

async function withWork(fn: (work: string) => Promise<void>) {
  const work = await mkdtemp(join(tmpdir(), 'validate-charts-'))
  try {
    await fn(work)
  } finally {
    await rm(work, { recursive: true, force: true })
  }
}

const summary = (result: Awaited<ReturnType<typeof validateComponents>>) => ({
  problems: result.problems.map((p) => `${p.file}: ${p.message}`),
  templates: result.components.flatMap((c) => c.manifests.map((m) => `${c.folder.path}/${m.template}`)),
  notRendered: result.notRendered.map(
    (n) => `${n.folder.path}: ${n.dependency.name} ${n.dependency.version}`,
  ),
})

test('validateComponents() renders only our templates without a cached archive; --fetch downloads it, and later runs render it from the cache offline', () =>
  withWork(async (work) => {
    const s = await settings()
    const root = await component(work)
    const cache = join(work, 'charts')
    const chartRepoStandIn = await chartRepo(await packStandIn(work, 'ghcr.io/stand-in/web:1.0'))
    try {
      const offline = await validateComponents(root, s, undefined, { chartCache: cache })
      assert.deepEqual(summary(offline), {
        problems: [],
        templates: ['apps/web/templates/own.yaml'],
        notRendered: ['apps/web: stand-in-web 1.2.3'],
      })
      assert.deepEqual(chartRepoStandIn.state.requests, [], 'no network without --fetch')

      const fetched = await validateComponents(root, s, undefined, {
        chartCache: cache,
        fetch: true,
        fetchImpl: chartRepoStandIn.fetch,
      })
      const rendered = {
        problems: [],
        // Helm orders by kind: the ConfigMap before the Deployment.
        templates: ['apps/web/templates/own.yaml', 'apps/web/charts/stand-in-web/templates/deployment.yaml'],
        notRendered: [],
      }
      assert.deepEqual(summary(fetched), rendered)
      assert.deepEqual(chartRepoStandIn.state.requests, ['/web/index.yaml', '/web/stand-in-web-1.2.3.tgz'])
      const record = JSON.parse(await readFile(join(cache, 'stand-in-web-1.2.3.tgz.digest.json'), 'utf8'))
      assert.equal(record.sha256, chartRepoStandIn.state.digest, 'the index digest is recorded')

      assert.deepEqual(summary(await validateComponents(root, s, undefined, { chartCache: cache })), rendered)
      assert.equal(chartRepoStandIn.state.requests.length, 2, 'the cached archive is used offline')
    } finally {
      await chartRepoStandIn.close()
    }
  }))

test('validateComponents() --fetch leaves an oci:// chart unfetched and reports it as not rendered, without a problem', () =>
  withWork(async (work) => {
    const root = await component(work)
    await writeFile(
      join(root, 'apps/web/Chart.yaml'),
      'apiVersion: v2\nname: web\nversion: 0.1.0\ndependencies:\n  - name: gateway-helm\n    version: v1.9.0\n    repository: oci://registry.stand-in.test/charts\n',
    )
    const requests: string[] = []
    const fetchImpl: typeof fetch = async (input) => {
      requests.push(String(input))
      return new Response('', { status: 404 })
    }
    const result = await validateComponents(root, await settings(), undefined, {
      chartCache: join(work, 'charts'),
      fetch: true,
      fetchImpl,
    })
    assert.deepEqual(summary(result), {
      problems: [],
      templates: ['apps/web/templates/own.yaml'],
      notRendered: ['apps/web: gateway-helm v1.9.0'],
    })
    assert.deepEqual(requests, [])
  }))

test('validateComponents() --fetch refuses an archive whose sha256 is not the digest of the index, and caches nothing', () =>
  withWork(async (work) => {
    const root = await component(work)
    const cache = join(work, 'charts')
    const liar = await chartRepo(await packStandIn(work, 'ghcr.io/stand-in/web:1.0'), 'e'.repeat(64))
    try {
      const result = summary(
        await validateComponents(root, await settings(), undefined, {
          chartCache: cache,
          fetch: true,
          fetchImpl: liar.fetch,
        }),
      )
      assert.equal(result.problems.length, 1)
      assert.match(
        result.problems[0] ?? '',
        /^apps\/web\/Chart\.yaml: Cannot use chart stand-in-web 1\.2\.3: its sha256 is [0-9a-f]{64}, but https:\/\/charts\.stand-in\.test\/web\/index\.yaml says e{64}/,
      )
      assert.deepEqual(result.notRendered, ['apps/web: stand-in-web 1.2.3'])
      assert.deepEqual(await readdir(cache), [])
    } finally {
      await liar.close()
    }
  }))

test('validateComponents() --fetch refuses a republished chart (the index digest changed since the first fetch); a tampered cached archive is not used', () =>
  withWork(async (work) => {
    const s = await settings()
    const root = await component(work)
    const cache = join(work, 'charts')
    const chartRepoStandIn = await chartRepo(await packStandIn(work, 'ghcr.io/stand-in/web:1.0'))
    try {
      const options = { chartCache: cache, fetch: true, fetchImpl: chartRepoStandIn.fetch }
      assert.deepEqual(summary(await validateComponents(root, s, undefined, options)).problems, [])
      const republished = await packStandIn(
        work,
        'ghcr.io/stand-in/web:1.0',
        'the same version, packed again',
      )
      chartRepoStandIn.state.archive = republished
      chartRepoStandIn.state.digest = createHash('sha256').update(republished).digest('hex')
      const again = summary(await validateComponents(root, s, undefined, options))
      assert.match(
        again.problems[0] ?? '',
        /index\.yaml now says sha256 [0-9a-f]{64}, but it said [0-9a-f]{64} when the archive was first fetched/,
      )

      await writeFile(join(cache, 'stand-in-web-1.2.3.tgz'), republished)
      const tampered = summary(await validateComponents(root, s, undefined, { chartCache: cache }))
      assert.match(
        tampered.problems[0] ?? '',
        /stand-in-web-1\.2\.3\.tgz has sha256 [0-9a-f]{64}, but .* gave [0-9a-f]{64} when it was fetched: delete it and run `homelab validate --fetch`$/,
      )
      assert.deepEqual(tampered.notRendered, ['apps/web: stand-in-web 1.2.3'])
    } finally {
      await chartRepoStandIn.close()
    }
  }))

test('validateComponents() refuses a Bitnami image, in our templates and in a rendered upstream chart, naming the component, the object and why', () =>
  withWork(async (work) => {
    const own = [
      'apiVersion: batch/v1',
      'kind: CronJob',
      'metadata:',
      '  name: backup',
      'spec:',
      '  schedule: "@daily"',
      '  jobTemplate:',
      '    spec:',
      '      template:',
      '        spec:',
      '          restartPolicy: Never',
      '          containers:',
      '            - name: dump',
      '              image: bitnami/postgresql:16.4.0',
      '',
    ].join('\n')
    const root = await component(work, own)
    const cache = join(work, 'charts')
    const chartRepoStandIn = await chartRepo(await packStandIn(work, 'docker.io/bitnami/redis:7.2.5'))
    try {
      const result = summary(
        await validateComponents(root, await settings(), undefined, {
          chartCache: cache,
          fetch: true,
          fetchImpl: chartRepoStandIn.fetch,
        }),
      )
      assert.deepEqual(result.problems, [
        'apps/web/charts/stand-in-web/templates/deployment.yaml: Deployment "web-stand-in": spec.template.spec.containers[0].image "docker.io/bitnami/redis:7.2.5" is a Bitnami image: Bitnami moved its public Docker Hub images to docker.io/bitnamilegacy in August 2025 (bitnami/containers#83267): versioned docker.io/bitnami tags no longer pull, and the legacy copies receive no updates; use the upstream project\'s own image',
        'apps/web/templates/own.yaml: CronJob "backup": spec.jobTemplate.spec.template.spec.containers[0].image "bitnami/postgresql:16.4.0" is a Bitnami image: Bitnami moved its public Docker Hub images to docker.io/bitnamilegacy in August 2025 (bitnami/containers#83267): versioned docker.io/bitnami tags no longer pull, and the legacy copies receive no updates; use the upstream project\'s own image',
      ])
    } finally {
      await chartRepoStandIn.close()
    }
  }))
