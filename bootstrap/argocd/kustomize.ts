/**
 * bootstrap/argocd/install rendered as ArgoCD renders it (`kustomize build`), but against the
 * sha256-verified local copy of the pinned manifest instead of its URL: the kustomization and its
 * patches are copied into a scratch folder, the one resource equal to upstream.yaml's `url` is
 * pointed at the local copy, and `kubectl kustomize` (the pinned kubectl, lib/toolbox) renders it.
 * Everything else in the kustomization is used as it is, so both renders differ only in where the
 * same bytes were read from (docs/gitops.md, "How ArgoCD adopts its own install").
 */
import { execFile } from 'node:child_process'
import { copyFile, cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { parse as parseYaml, stringify } from 'yaml'
import type { KubeObject } from '../../lib/kube/index.ts'
import { splitManifest } from './manifest.ts'

/** The kustomization ArgoCD's `argocd-install` Application renders. */
export const INSTALL_DIR = fileURLToPath(new URL('install', import.meta.url))
/** The file name the verified copy gets in the scratch folder. */
export const LOCAL_MANIFEST = 'pinned-install.yaml'

const run = promisify(execFile)

export interface RenderInstallOptions {
  /** The kubectl binary (`ensureKubectl()`). */
  readonly kubectl: string
  /** The verified copy of the pinned manifest (`ensureArgocdManifest()`). */
  readonly manifestPath: string
  /** upstream.yaml's `url`: the resource the kustomization must list. */
  readonly pinnedUrl: string
  /** @default INSTALL_DIR */
  readonly dir?: string
  /** Where the scratch folder is made (and removed). @default os.tmpdir() */
  readonly tmpDir?: string
}

const isRemote = (resource: string) => /^[a-z][a-z0-9+.-]*:\/\//i.test(resource) || resource.includes('?ref=')

/**
 * The kustomization's `resources` with the pinned URL replaced by LOCAL_MANIFEST. Refuses a
 * kustomization that does not list the pinned URL, or that lists any other remote resource:
 * everything bootstrap applies is either verified by its sha256 or in this repository.
 */
export function localResources(
  kustomization: Record<string, unknown>,
  pinnedUrl: string,
  file: string,
): string[] {
  const resources = kustomization.resources
  if (!Array.isArray(resources) || !resources.every((r) => typeof r === 'string')) {
    throw new Error(`Cannot render ArgoCD's install: ${file}: "resources" is not a list of strings`)
  }
  if (!resources.includes(pinnedUrl)) {
    throw new Error(
      `Cannot render ArgoCD's install: ${file} does not list ${pinnedUrl}, the url pinned in bootstrap/argocd/upstream.yaml: make its resource the same url (a version change updates both files)`,
    )
  }
  const other = resources.find((r) => r !== pinnedUrl && isRemote(r))
  if (other !== undefined) {
    throw new Error(
      `Cannot render ArgoCD's install: ${file} lists the remote resource "${other}", which no sha256 pins: keep it in the repository next to the kustomization`,
    )
  }
  return resources.map((r) => (r === pinnedUrl ? LOCAL_MANIFEST : r))
}

/** The install's objects, as `kubectl kustomize` renders them from the verified local copy. */
export async function renderInstall(options: RenderInstallOptions): Promise<KubeObject[]> {
  const dir = options.dir ?? INSTALL_DIR
  const file = join(dir, 'kustomization.yaml')
  let kustomization: Record<string, unknown>
  try {
    kustomization = (parseYaml(await readFile(file, 'utf8')) ?? {}) as Record<string, unknown>
  } catch (cause) {
    throw new Error(`Cannot render ArgoCD's install: ${file}: ${(cause as Error).message}`, { cause })
  }
  const resources = localResources(kustomization, options.pinnedUrl, file)
  const scratch = await mkdtemp(join(options.tmpDir ?? tmpdir(), 'homelab-argocd-'))
  try {
    await cp(dir, scratch, { recursive: true })
    await writeFile(join(scratch, 'kustomization.yaml'), stringify({ ...kustomization, resources }))
    await copyFile(options.manifestPath, join(scratch, LOCAL_MANIFEST))
    const stdout = await kustomize(options.kubectl, scratch, dir)
    return splitManifest(stdout)
  } finally {
    await rm(scratch, { recursive: true, force: true })
  }
}

async function kustomize(kubectl: string, scratch: string, dir: string): Promise<string> {
  try {
    const { stdout } = await run(kubectl, ['kustomize', scratch], { maxBuffer: 256 * 2 ** 20 })
    return stdout
  } catch (error) {
    const e = error as NodeJS.ErrnoException & { stderr?: string; code?: number | string }
    if (e.code === 'ENOENT') {
      throw new Error(`Cannot render ArgoCD's install: ${kubectl} does not exist (is kubectl installed?)`)
    }
    const stderr = (e.stderr ?? '').trim().split('\n').slice(-5).join('\n')
    throw new Error(
      `Cannot render ArgoCD's install: \`kubectl kustomize ${dir}\` exited ${String(e.code)}: ${stderr || e.message}`,
      { cause: error },
    )
  }
}
