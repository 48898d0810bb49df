/**
 * `homelab bootstrap`: ArgoCD from its pinned install manifest, then the root app, through the
 * Kubernetes API. See docs/gitops.md.
 *
 *   1. the manifest, verified against bootstrap/argocd/upstream.yaml (refused when unpinned), and
 *      bootstrap/argocd/install rendered against it with `kubectl kustomize`: the very objects the
 *      `argocd-install` Application renders from the same kustomization
 *   2. namespace argocd
 *   3. the CRDs (server-side apply, field manager argocd-controller, force), then wait until
 *      every one is Established
 *   4. everything else, namespaced objects into argocd; then wait until the Deployments are
 *      Available and the StatefulSets ready
 *   5. the generated secrets (secrets/registry.ts), each created only when absent, and ArgoCD's
 *      login through Dex (argocd/sso.ts, its own field manager) (docs/secrets.md)
 *   6. the root Application, following the in-cluster Gitea once it serves the repo, else the seed
 *   7. with `vault` set: once ArgoCD runs Vault, Vault initialised, unsealed and its Dex login
 *      configured (vault/, docs/secrets.md)
 *
 * Every apply reports created, changed or unchanged (same resourceVersion before and after):
 * a second run changes nothing, and recreates a deleted root app.
 */
import { fileURLToPath } from 'node:url'
import type { Derived } from '../core/config/checks.ts'
import type { Config } from '../core/config/schema.ts'
import type { DownloadProgress } from '../lib/download/index.ts'
import { KubeApiError, type KubeClient, type KubeObject } from '../lib/kube/index.ts'
import { ensureKubectl } from '../lib/toolbox/index.ts'
import { INSTALL_DIR, renderInstall } from './argocd/kustomize.ts'
import { ensureArgocdManifest, readUpstream, UPSTREAM_FILE } from './argocd/manifest.ts'
import { argocdSsoObjects, SSO_FIELD_MANAGER } from './argocd/sso.ts'
import { BOOTSTRAP_DEFAULTS } from './defaults.ts'
import { generateApplications } from './root/applications.ts'
import { ensureSecrets } from './secrets/secrets.ts'
import { type ClusterSettings, clusterSettings, giteaRepoURL } from './settings.ts'
import type { VaultTransport } from './vault/api.ts'
import { serviceProxyTransport } from './vault/api.ts'
import { bootstrapVault, vaultAnswers } from './vault/bootstrap-vault.ts'
import { waitAll as _waitAll, type Pending, PollTimeoutError, waitError } from './wait.ts'

/** The manager ArgoCD's own server-side apply uses: ArgoCD adopts what bootstrap applied. */
export const FIELD_MANAGER = 'argocd-controller'
export const ARGOCD_NAMESPACE = 'argocd'
export const ROOT_APP = 'root'
/** The root chart's folder in the repo (docs/gitops.md). */
export const ROOT_PATH = 'bootstrap/root'

export { BOOTSTRAP_DEFAULTS }

export type BootstrapStep =
  | 'manifest'
  | 'namespace'
  | 'crds'
  | 'established'
  | 'install'
  | 'available'
  | 'secrets'
  | 'sso'
  | 'source'
  | 'root'
  | 'vault'

export type ApplyResult = 'created' | 'changed' | 'unchanged'

export type BootstrapEvent =
  | { type: 'bootstrap.manifest'; version: string; url: string; path: string; objects: number }
  | { type: 'bootstrap.download'; detail: string }
  | { type: 'bootstrap.step'; step: BootstrapStep; status: 'running' | 'done'; detail: string }
  | {
      type: 'bootstrap.object'
      step: BootstrapStep
      kind: string
      name: string
      namespace?: string
      result: ApplyResult
    }
  | { type: 'bootstrap.waiting'; step: BootstrapStep; pending: { name: string; lastSeen: string }[] }
  | { type: 'bootstrap.source'; source: 'seed' | 'gitea'; repoURL: string; detail: string }
  | {
      type: 'bootstrap.summary'
      version: string
      created: number
      changed: number
      unchanged: number
      root: ApplyResult
      source: 'seed' | 'gitea'
      repoURL: string
    }

/** The project's own checkout: bootstrap/root is rendered from it. */
const PROJECT_ROOT = fileURLToPath(new URL('..', import.meta.url))

export interface BootstrapOptions {
  readonly api: KubeClient
  /** The repo whose bootstrap/root chart is rendered. @default this checkout */
  readonly repoRoot?: string
  readonly config: Config
  readonly derived: Derived
  /** `.cache/argocd` */
  readonly cacheDir: string
  /** @default bootstrap/argocd/upstream.yaml */
  readonly upstreamFile?: string
  /** Where the pinned manifest is downloaded from. @default HOMELAB_ARGOCD_MANIFEST_URL, else upstream.yaml's url */
  readonly manifestUrl?: string
  /** The kustomization to render. @default bootstrap/argocd/install */
  readonly installDir?: string
  /** The kubectl binary that renders it. @default ensureKubectl() (the pinned official kubectl) */
  readonly kubectl?: string
  readonly events?: (event: BootstrapEvent) => void
  /** Each wait (CRDs Established, workloads Available). @default BOOTSTRAP_DEFAULTS.timeoutMs */
  readonly timeoutMs?: number
  /** @default BOOTSTRAP_DEFAULTS.pollMs */
  readonly pollMs?: number
  readonly fetch?: typeof fetch
  readonly signal?: AbortSignal
  /**
   * Initialise, unseal and configure Vault once ArgoCD runs it, keeping its keys in
   * `<stateDir>/vault/init.json` (0600). @default skipped (the step needs the state folder)
   */
  readonly vault?: { readonly stateDir: string; readonly transport?: VaultTransport }
}

export interface BootstrapResult {
  readonly version: string
  readonly objects: readonly { kind: string; name: string; namespace?: string; result: ApplyResult }[]
  readonly root: ApplyResult
  readonly source: 'seed' | 'gitea'
  readonly settings: ClusterSettings
}

const isCrd = (o: KubeObject) =>
  o.kind === 'CustomResourceDefinition' && o.apiVersion.startsWith('apiextensions.k8s.io/')

type Condition = { type?: string; status?: string; reason?: string; message?: string }
const conditionOf = (o: KubeObject | undefined, type: string): Condition | undefined =>
  ((o?.status as { conditions?: Condition[] } | undefined)?.conditions ?? []).find((c) => c.type === type)

function describe(c: Condition | undefined, type: string): string {
  if (c === undefined) return `no ${type} condition yet`
  return `${type}=${c.status}${c.reason ? `: ${c.reason}` : ''}${c.message ? ` (${c.message})` : ''}`
}

type ObjectResult = { kind: string; name: string; namespace?: string; result: ApplyResult }

/** What the phases of bootstrap() share: the API, events, applies so far, and the wait. */
interface Run {
  readonly api: KubeClient
  readonly options: BootstrapOptions
  readonly emit: (event: BootstrapEvent) => void
  readonly results: ObjectResult[]
  step(s: BootstrapStep, status: 'running' | 'done', detail: string): void
  apply(s: BootstrapStep, obj: KubeObject): Promise<ApplyResult>
  waitAll(
    s: 'established' | 'available',
    names: string[],
    check: (name: string) => Promise<string | undefined>,
  ): Promise<void>
}

export async function bootstrap(options: BootstrapOptions): Promise<BootstrapResult> {
  const run = _run(options)
  const { upstream, objects } = await _manifest(run)
  run.step('namespace', 'running', ARGOCD_NAMESPACE)
  const nsResult = await run.apply('namespace', {
    apiVersion: 'v1',
    kind: 'Namespace',
    metadata: { name: ARGOCD_NAMESPACE },
  })
  run.step('namespace', 'done', `${ARGOCD_NAMESPACE}: ${nsResult}`)
  await _applyCrds(run, objects.filter(isCrd))
  const rest = objects.filter((o) => !isCrd(o))
  await _applyRest(run, rest)
  await _waitWorkloads(run, workloadsOf(rest))
  await _ensureSecrets(run)
  await _argocdSso(run)
  const { root, source, repoURL, settings } = await _applyRoot(run)
  if (options.vault !== undefined) await _vault(run, options.vault, settings)
  const n = (r: ApplyResult) => run.results.filter((x) => x.result === r).length
  run.emit({
    type: 'bootstrap.summary',
    version: upstream.version,
    created: n('created'),
    changed: n('changed'),
    unchanged: n('unchanged'),
    root,
    source,
    repoURL,
  })
  return { version: upstream.version, objects: run.results, root, source, settings }
}

function _run(options: BootstrapOptions): Run {
  const { api } = options
  const emit = options.events ?? (() => {})
  const timeoutMs = options.timeoutMs ?? BOOTSTRAP_DEFAULTS.timeoutMs
  const pollMs = options.pollMs ?? BOOTSTRAP_DEFAULTS.pollMs
  const results: ObjectResult[] = []
  return {
    api,
    options,
    emit,
    results,
    step: (s, status, detail) => emit({ type: 'bootstrap.step', step: s, status, detail }),
    async apply(s, obj) {
      options.signal?.throwIfAborted()
      const path = await api.objectPath(obj)
      const before = await api.get<KubeObject>(path)
      const after = await api.apply<KubeObject>(path, obj, { fieldManager: FIELD_MANAGER, force: true })
      const result = applyResult(before, after)
      const ns = obj.metadata.namespace
      const named = {
        kind: obj.kind,
        name: obj.metadata.name,
        ...(ns === undefined ? {} : { namespace: ns }),
      }
      emit({ type: 'bootstrap.object', step: s, ...named, result })
      results.push({ ...named, result })
      return result
    },
    /** Polls `check` (undefined = ready, else what was last seen) for each name until all are ready. */
    waitAll: (s, names, check) =>
      _waitAll(names, check, {
        timeoutMs,
        pollMs,
        signal: options.signal,
        onPending: (pending) => emit({ type: 'bootstrap.waiting', step: s, pending }),
      }).catch((error: unknown) => {
        if (error instanceof PollTimeoutError) throw waitError(s, timeoutMs, error.lastSeen as Pending[])
        throw error
      }),
  }
}

/** Created when there was nothing before, unchanged when the resourceVersion stayed. */
export function applyResult(before: KubeObject | undefined, after: KubeObject | undefined): ApplyResult {
  const rv = (o: KubeObject | undefined) =>
    (o?.metadata as { resourceVersion?: string } | undefined)?.resourceVersion
  return before === undefined ? 'created' : rv(before) === rv(after) ? 'unchanged' : 'changed'
}

/** `N created, N changed, N unchanged` of the results from index `from` on. */
export function tally(results: readonly ObjectResult[], from: number): string {
  const part = results.slice(from)
  const n = (r: ApplyResult) => part.filter((x) => x.result === r).length
  return `${n('created')} created, ${n('changed')} changed, ${n('unchanged')} unchanged`
}

/** 1. the manifest: pinned, verified and rendered with our kustomization, before the cluster is touched. */
async function _manifest(run: Run) {
  const { options, emit } = run
  const upstream = await readUpstream(
    options.upstreamFile ?? UPSTREAM_FILE,
    options.manifestUrl === undefined ? process.env : { HOMELAB_ARGOCD_MANIFEST_URL: options.manifestUrl },
  )
  run.step('manifest', 'running', `ArgoCD ${upstream.version}`)
  const manifest = await ensureArgocdManifest({
    upstream,
    cacheDir: options.cacheDir,
    ...(options.fetch === undefined ? {} : { fetch: options.fetch }),
    progress: (e: DownloadProgress) => {
      if (e.type === 'download.progress')
        emit({
          type: 'bootstrap.download',
          detail: `downloading ${(e.received / 2 ** 20).toFixed(1)} MiB${e.total === undefined ? '' : ` of ${(e.total / 2 ** 20).toFixed(1)} MiB`}`,
        })
    },
  })
  const objects = await renderInstall({
    kubectl: options.kubectl ?? (await ensureKubectl()),
    manifestPath: manifest.path,
    pinnedUrl: upstream.pinnedUrl,
    dir: options.installDir ?? INSTALL_DIR,
  })
  emit({
    type: 'bootstrap.manifest',
    version: upstream.version,
    url: upstream.url,
    path: manifest.path,
    objects: objects.length,
  })
  run.step('manifest', 'done', `${objects.length} objects, sha256 verified, kustomized`)
  return { upstream, objects }
}

/** 3. the CRDs, then until every one is Established. */
async function _applyCrds(run: Run, crds: readonly KubeObject[]): Promise<void> {
  const { api } = run
  run.step('crds', 'running', `${crds.length} CustomResourceDefinitions`)
  const mark = run.results.length
  for (const crd of crds) await run.apply('crds', crd)
  run.step('crds', 'done', tally(run.results, mark))
  run.step('established', 'running', `${crds.length} CRDs`)
  await run.waitAll(
    'established',
    crds.map((c) => c.metadata.name),
    async (name) => {
      const crd = await api.get<KubeObject>(`/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${name}`)
      if (crd === undefined) return 'not found'
      const c = conditionOf(crd, 'Established')
      return c?.status === 'True' ? undefined : describe(c, 'Established')
    },
  )
  api.invalidateDiscovery()
  run.step('established', 'done', `${crds.length} CRDs Established`)
}

/** The Deployments and StatefulSets among the objects. */
export function workloadsOf(objects: readonly KubeObject[]): KubeObject[] {
  return objects.filter(
    (o) => o.apiVersion === 'apps/v1' && (o.kind === 'Deployment' || o.kind === 'StatefulSet'),
  )
}

/** 4. everything else, namespaced objects into argocd. */
async function _applyRest(run: Run, rest: readonly KubeObject[]): Promise<void> {
  run.step('install', 'running', `${rest.length} objects`)
  const mark = run.results.length
  for (const obj of rest) {
    const info = await run.api.resourceFor(obj.apiVersion, obj.kind)
    if (info.namespaced && obj.metadata.namespace === undefined) obj.metadata.namespace = ARGOCD_NAMESPACE
    await run.apply('install', obj)
  }
  run.step('install', 'done', tally(run.results, mark))
}

/** Until the Deployments are Available and the StatefulSets have a ready replica. */
async function _waitWorkloads(run: Run, workloads: readonly KubeObject[]): Promise<void> {
  const { api } = run
  run.step('available', 'running', `${workloads.length} workloads`)
  const workloadKey = (o: KubeObject) =>
    `${o.kind === 'Deployment' ? 'deployment' : 'statefulset'}/${o.metadata.name}`
  await run.waitAll('available', workloads.map(workloadKey), async (key) => {
    const obj = workloads.find((o) => workloadKey(o) === key) as KubeObject
    const current = await api.get<KubeObject>(await api.objectPath(obj))
    if (current === undefined) return 'not found'
    if (obj.kind === 'Deployment') {
      const c = conditionOf(current, 'Available')
      return c?.status === 'True' ? undefined : describe(c, 'Available')
    }
    const ready = (current.status as { readyReplicas?: number } | undefined)?.readyReplicas ?? 0
    return ready >= 1 ? undefined : `${ready} ready replicas`
  })
  run.step('available', 'done', `${workloads.length} workloads ready`)
}

/** 5. the generated secrets: created when absent, never changed (no value in any event). */
async function _ensureSecrets(run: Run): Promise<void> {
  run.step('secrets', 'running', 'generated secrets, created only when absent')
  const events = await ensureSecrets(run.api, {
    events: (e) => {
      if (e.type === 'secret' && e.result !== 'rotated')
        run.emit({
          type: 'bootstrap.object',
          step: 'secrets',
          kind: 'Secret',
          name: e.name,
          namespace: e.namespace,
          result: e.result,
        })
    },
  })
  const created = events.filter((e) => e.type === 'secret' && e.result === 'created').length
  run.step('secrets', 'done', `${created} created, ${events.length - created} unchanged`)
}

/** ArgoCD's url, oidc.config and admin mapping, applied by their own field manager (argocd/sso.ts). */
async function _argocdSso(run: Run): Promise<void> {
  const { api } = run
  run.step('sso', 'running', "ArgoCD's login through Dex")
  const results: ApplyResult[] = []
  for (const obj of argocdSsoObjects(run.options.config.gitops.domain)) {
    run.options.signal?.throwIfAborted()
    const path = await api.objectPath(obj)
    const before = await api.get<KubeObject>(path)
    const after = await api.apply<KubeObject>(path, obj, { fieldManager: SSO_FIELD_MANAGER, force: true })
    const result = applyResult(before, after)
    results.push(result)
    run.emit({
      type: 'bootstrap.object',
      step: 'sso',
      kind: obj.kind,
      name: obj.metadata.name,
      namespace: 'argocd',
      result,
    })
  }
  run.step('sso', 'done', results.join(', '))
}

/** 7. Vault, once ArgoCD runs it: initialised, unsealed, its Dex login configured. */
async function _vault(
  run: Run,
  vault: NonNullable<BootstrapOptions['vault']>,
  settings: ClusterSettings,
): Promise<void> {
  const { options } = run
  const transport = vault.transport ?? serviceProxyTransport(run.api)
  const timeoutMs = options.timeoutMs ?? BOOTSTRAP_DEFAULTS.timeoutMs
  run.step('vault', 'running', 'waiting for Vault to answer (ArgoCD deploys it)')
  await _waitAll(['vault'], () => vaultAnswers(transport), {
    timeoutMs,
    pollMs: options.pollMs ?? BOOTSTRAP_DEFAULTS.pollMs,
    signal: options.signal,
    onPending: (pending) => run.emit({ type: 'bootstrap.waiting', step: 'vault', pending }),
  }).catch((error: unknown) => {
    if (!(error instanceof PollTimeoutError)) throw error
    throw new Error(
      `Cannot initialise Vault: after ${Math.round(timeoutMs / 1000)} s, Vault does not answer at vault/vault:8200 (${(error.lastSeen as Pending[]).map((p) => p.lastSeen).join(', ')}): check the Application vault (homelab status), then run \`homelab bootstrap\` again`,
    )
  })
  const sso = await bootstrapVault({
    api: run.api,
    stateDir: vault.stateDir,
    settings,
    transport,
    events: (e) => run.step('vault', 'running', e.detail),
  })
  run.step(
    'vault',
    'done',
    sso
      ? 'initialised, unsealed, login through Dex configured'
      : 'initialised, unsealed; login through Dex not configured yet: run `homelab bootstrap` again once Dex answers',
  )
}

/** 6. the root app: Gitea once it serves the repo, else the seed. */
async function _applyRoot(run: Run) {
  const { options } = run
  run.step('source', 'running', 'does the in-cluster Gitea serve the repo?')
  const gitea = await giteaServesRepo(run.api, options.config.gitops.clusterRepo)
  const source: 'seed' | 'gitea' = gitea.serves ? 'gitea' : 'seed'
  const repoURL = gitea.serves ? giteaRepoURL(options.config) : options.config.gitops.seed.url
  run.emit({ type: 'bootstrap.source', source, repoURL, detail: gitea.detail })
  run.step('source', 'done', `${source}: ${repoURL}`)
  const settings = clusterSettings(options.config, options.derived, repoURL)
  run.step('root', 'running', `Application ${ROOT_APP}`)
  const root = await run.apply('root', await rootApplication(options.repoRoot ?? PROJECT_ROOT, settings))
  run.step('root', 'done', `${root} (${ROOT_PATH} of ${repoURL} at ${settings.revision})`)
  return { root, source, repoURL, settings }
}

/** The Gitea API through the API server's service proxy: 200 with a non-empty repo means it serves it. */
export async function giteaServesRepo(
  api: KubeClient,
  clusterRepo: string,
): Promise<{ serves: boolean; detail: string }> {
  const path = `/api/v1/namespaces/gitea/services/gitea-http:3000/proxy/api/v1/repos/${clusterRepo}`
  try {
    const repo = await api.request<{ empty?: boolean } | undefined>('GET', path)
    if (repo?.empty === true)
      return { serves: false, detail: `Gitea has ${clusterRepo}, still empty (migrating?)` }
    return { serves: true, detail: `Gitea serves ${clusterRepo}` }
  } catch (error) {
    if (error instanceof KubeApiError) {
      return {
        serves: false,
        detail: `Gitea does not serve ${clusterRepo} yet (${error.status} ${error.reason})`,
      }
    }
    throw error
  }
}

/**
 * The root Application: exactly the one the root chart generates for bootstrap/root (so that,
 * once ArgoCD renders the root chart, the root app managing itself is a no-op).
 */
export async function rootApplication(repoRoot: string, settings: ClusterSettings): Promise<KubeObject> {
  const generated = (await generateApplications(repoRoot, settings)).find((a) => a.path === ROOT_PATH)
  if (generated === undefined) {
    throw new Error(
      `Cannot bootstrap: the root chart generates no Application for ${ROOT_PATH} (check bootstrap/root/values.yaml)`,
    )
  }
  return generated.application as unknown as KubeObject
}
