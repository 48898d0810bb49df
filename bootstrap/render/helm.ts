/**
 * Renders a chart with real Helm (`helm template`, the pinned Helm 4 of lib/toolbox), offline.
 *
 * The chart is staged in a temporary folder first, so Helm never reaches the network: each
 * `file://` dependency (homelab-lib) is copied into `charts/`; each upstream dependency is copied
 * in from its verified archive when the caller has one, and removed from Chart.yaml otherwise
 * (reported in `notRendered`, so the caller can say so). Helm runs with its config, cache and data
 * folders inside the stage, so the user's repositories and plugins play no part.
 */
import { execFile } from 'node:child_process'
import { cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { basename, join, resolve } from 'node:path'
import { parseDocument, parse as parseYaml, stringify } from 'yaml'
import { ensureHelm } from '../../lib/toolbox/index.ts'

export interface RenderedManifest {
  /** Where it came from, relative to the chart folder (`templates/routes.yaml`, `charts/redis/templates/x.yaml`). */
  readonly template: string
  readonly manifest: Record<string, unknown>
}

/** A chart dependency as Chart.yaml declares it. */
export interface ChartDependency {
  readonly name: string
  readonly version: string
  readonly repository: string
  readonly alias?: string
  readonly condition?: string
}

/** Helm refused the chart: `file` (absolute) and `line` when Helm named them, else the Chart.yaml and 0. */
export class HelmRenderError extends Error {
  override name = 'HelmRenderError'
  readonly file: string
  readonly line: number
  /** The message without the location. */
  readonly detail: string
  constructor(file: string, line: number, detail: string, options?: ErrorOptions) {
    super(`${file}${line > 0 ? `:${line}` : ''}: ${detail}`, options)
    this.file = file
    this.line = line
    this.detail = detail
  }
}

export interface HelmRenderOptions {
  /** The release name (ArgoCD uses the Application's name: the folder's). @default the folder's name */
  readonly release?: string
  /** @default the folder's name (the root app's destination namespace) */
  readonly namespace?: string
  /** The verified archive (.tgz) of an upstream dependency, or undefined to render without it. */
  readonly archive?: (dependency: ChartDependency) => Promise<string | undefined>
  /** The Helm binary. @default ensureHelm() */
  readonly helm?: string
}

export interface HelmRender {
  readonly manifests: RenderedManifest[]
  /** Upstream dependencies left out because no archive was given for them. */
  readonly notRendered: readonly ChartDependency[]
}

/** Renders the chart at `dir` with `values` over its values.yaml (plus CRDs, as ArgoCD does). */
export async function helmTemplate(
  dir: string,
  values: Record<string, unknown> = {},
  options: HelmRenderOptions = {},
): Promise<HelmRender> {
  const folder = basename(resolve(dir))
  const helm = options.helm ?? (await ensureHelm())
  const stage = await mkdtemp(join(tmpdir(), 'homelab-helm-'))
  try {
    const { chartDir, chartName, notRendered, libraries } = await _stage(resolve(dir), stage, options)
    const valuesFile = join(stage, 'values.json')
    await writeFile(valuesFile, JSON.stringify(values))
    const args = ['template', options.release ?? folder, chartDir, '--namespace', options.namespace ?? folder]
    const stdout = await _run(helm, [...args, '--include-crds', '--values', valuesFile], stage, (stderr) =>
      _helmError(stderr, resolve(dir), chartName, libraries),
    )
    return { manifests: _manifests(stdout, chartName, resolve(dir)), notRendered }
  } finally {
    await rm(stage, { recursive: true, force: true })
  }
}

/** Renders and returns the manifests only (upstream dependencies without an archive are left out). */
export async function renderChart(
  dir: string,
  values: Record<string, unknown> = {},
  options: HelmRenderOptions = {},
): Promise<RenderedManifest[]> {
  return (await helmTemplate(dir, values, options)).manifests
}

/** Copies the chart into the stage with its dependencies resolved offline. */
async function _stage(dir: string, stage: string, options: HelmRenderOptions) {
  const chartFile = join(dir, 'Chart.yaml')
  const chart = (parseYaml(await readFile(chartFile, 'utf8')) ?? {}) as {
    name?: unknown
    dependencies?: ChartDependency[]
  }
  const chartName = typeof chart.name === 'string' ? chart.name : basename(dir)
  const chartDir = join(stage, 'chart', chartName)
  await cp(dir, chartDir, {
    recursive: true,
    filter: (src) => src !== join(dir, 'charts') && src !== join(dir, 'Chart.lock'),
  })
  await mkdir(join(chartDir, 'charts'), { recursive: true })
  const kept: ChartDependency[] = []
  const notRendered: ChartDependency[] = []
  /** Where each library's templates came from: charts/<name> → its source folder. */
  const libraries = new Map<string, string>()
  for (const dep of chart.dependencies ?? []) {
    if (typeof dep?.repository === 'string' && dep.repository.startsWith('file://')) {
      const source = resolve(dir, dep.repository.slice('file://'.length))
      await cp(source, join(chartDir, 'charts', dep.name), { recursive: true })
      libraries.set(dep.name, source)
      kept.push(dep)
      continue
    }
    const archive = await options.archive?.(dep)
    if (archive === undefined) {
      notRendered.push(dep)
      continue
    }
    await cp(archive, join(chartDir, 'charts', `${dep.name}-${dep.version}.tgz`))
    kept.push(dep)
  }
  if (notRendered.length > 0) {
    const doc = parseDocument(await readFile(chartFile, 'utf8'))
    doc.set('dependencies', kept)
    await writeFile(join(chartDir, 'Chart.yaml'), stringify(doc))
  }
  return { chartDir, chartName, notRendered, libraries }
}

/** Runs Helm with its homes inside the stage; resolves with stdout, throws toError(stderr) on failure. */
function _run(
  helm: string,
  args: string[],
  stage: string,
  toError: (stderr: string) => Error,
): Promise<string> {
  const env = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: stage,
    HELM_CACHE_HOME: join(stage, 'helm/cache'),
    HELM_CONFIG_HOME: join(stage, 'helm/config'),
    HELM_DATA_HOME: join(stage, 'helm/data'),
  }
  return new Promise((resolvePromise, reject) => {
    execFile(helm, args, { env, maxBuffer: 256 << 20, encoding: 'utf8' }, (error, stdout, stderr) => {
      if (error === null) resolvePromise(stdout)
      else if ((error as NodeJS.ErrnoException).code === 'ENOENT')
        reject(new Error(`Cannot run Helm: ${helm} does not exist (delete .cache/tools and run again)`))
      else reject(toError(stderr || error.message))
    })
  })
}

/**
 * Helm's error, located: Helm names template files as `<chart>/templates/x.yaml:LINE[:COL]`
 * (`<chart>/charts/<lib>/templates/...` for a library); they are mapped back to the source files.
 */
function _helmError(
  stderr: string,
  dir: string,
  chartName: string,
  libraries: Map<string, string>,
): HelmRenderError {
  const text = stderr
    .split('\n')
    .filter((l) => l.trim() !== '' && !l.startsWith('WARNING'))
    .join('; ')
    .replace(/^Error: /, '')
    .replace(/;?\s*Use --debug flag to render out invalid YAML/, '')
    .replace(/\s+/g, ' ')
  const where = new RegExp(`(?:^|[\\s(])${_escape(chartName)}/((?:charts/[^/\\s:]+/)?[^\\s:]+):(\\d+)`).exec(
    text,
  )
  if (where === null) return new HelmRenderError(join(dir, 'Chart.yaml'), 0, `helm template failed: ${text}`)
  const path = where[1] ?? ''
  const lib = /^charts\/([^/]+)\/(.*)$/.exec(path)
  const file =
    lib !== null && libraries.has(lib[1] ?? '')
      ? join(libraries.get(lib[1] ?? '') ?? '', lib[2] ?? '')
      : join(dir, path)
  return new HelmRenderError(file, Number(where[2]), `helm template failed: ${text}`)
}

const _escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')

/** Helm's output: documents separated by `---`, each after a `# Source: <chart>/<path>` line. */
function _manifests(stdout: string, chartName: string, dir: string): RenderedManifest[] {
  const out: RenderedManifest[] = []
  for (const chunk of stdout.split(/^---\s*$/m)) {
    const source = /^# Source: (.+)$/m.exec(chunk)?.[1]?.trim()
    if (source === undefined) continue
    const template = source.startsWith(`${chartName}/`) ? source.slice(chartName.length + 1) : source
    const doc = parseDocument(chunk)
    if (doc.errors.length > 0) {
      throw new HelmRenderError(
        join(dir, template),
        0,
        `the rendered template is not YAML: ${doc.errors[0]?.message}`,
      )
    }
    const manifest = doc.toJS() as unknown
    if (manifest === null || manifest === undefined) continue
    if (typeof manifest !== 'object' || Array.isArray(manifest)) {
      throw new HelmRenderError(
        join(dir, template),
        0,
        'a rendered document is not a map (a Kubernetes object)',
      )
    }
    out.push({ template, manifest: manifest as Record<string, unknown> })
  }
  return out
}
