/**
 * Kubeconfig files: read the current context's server and credentials, and rewrite the
 * file k3s writes (`/etc/rancher/k3s/k3s.yaml`: everything named `default`, server
 * `https://127.0.0.1:6443`) so it points at the cluster endpoint under our own names.
 */
import { readFileSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { dirname, isAbsolute, join } from 'node:path'
import { parse, parseDocument, YAMLMap } from 'yaml'

export interface KubeConfig {
  /** API server URL, like `https://10.0.0.20:6443`. */
  server: string
  ca?: Buffer
  cert?: Buffer
  key?: Buffer
  token?: string
  insecureSkipTlsVerify: boolean
  contextName: string
}

export class KubeconfigError extends Error {
  readonly code = 'HOMELAB_KUBECONFIG'
  override name = 'KubeconfigError'
  readonly source: string
  constructor(source: string, what: string, fix: string, cause?: unknown) {
    super(`Cannot read kubeconfig ${source}: ${what} (${fix})`, cause === undefined ? undefined : { cause })
    this.source = source
  }
}

type Obj = Record<string, unknown>

function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

function named(list: unknown, kind: string, name: string, source: string): Obj {
  const entries = Array.isArray(list) ? list : []
  const entry = entries.find((e) => isObj(e) && e.name === name)
  if (!isObj(entry)) {
    const names = entries.filter(isObj).map((e) => `"${String(e.name)}"`)
    throw new KubeconfigError(
      source,
      `no ${kind} named "${name}" (has ${names.length ? names.join(', ') : 'none'})`,
      `add it under ${kind}s or fix the reference`,
    )
  }
  const body = entry[kind]
  return isObj(body) ? body : {}
}

function readRef(path: string, baseDir: string | undefined, source: string, field: string): Buffer {
  const full = isAbsolute(path) || baseDir === undefined ? path : join(baseDir, path)
  try {
    return readFileSync(full)
  } catch (error) {
    throw new KubeconfigError(
      source,
      `${field} "${full}" cannot be read: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`,
      'check the path, or embed the file as *-data',
      error,
    )
  }
}

function base64(value: unknown, source: string, field: string): Buffer {
  if (typeof value !== 'string' || !/^[A-Za-z0-9+/=\s]*$/.test(value) || value.trim() === '') {
    throw new KubeconfigError(source, `${field} is not base64`, `set ${field} to the base64 of the PEM file`)
  }
  return Buffer.from(value, 'base64')
}

function pick(
  body: Obj,
  dataField: string,
  fileField: string,
  source: string,
  baseDir: string | undefined,
): Buffer | undefined {
  if (body[dataField] !== undefined) return base64(body[dataField], source, dataField)
  const file = body[fileField]
  if (typeof file === 'string') return readRef(file, baseDir, source, fileField)
  return undefined
}

/**
 * Reads the current context (or the only context) of a kubeconfig. `source` names the file in
 * errors. File references (`certificate-authority`, `client-certificate`, `client-key`) are read
 * relative to `baseDir` (the kubeconfig's folder).
 */
export function parseKubeconfig(text: string, source: string, baseDir?: string): KubeConfig {
  let doc: unknown
  try {
    doc = parse(text)
  } catch (error) {
    const first = (error as Error).message.split('\n')[0]
    throw new KubeconfigError(source, `not valid YAML: ${first}`, 'fix the YAML', error)
  }
  if (!isObj(doc)) {
    throw new KubeconfigError(source, 'not a YAML mapping', 'point to a kubeconfig file such as k3s.yaml')
  }
  const contexts = Array.isArray(doc.contexts) ? doc.contexts.filter(isObj) : []
  let contextName = typeof doc['current-context'] === 'string' ? doc['current-context'] : ''
  if (contextName === '') {
    if (contexts.length !== 1) {
      throw new KubeconfigError(
        source,
        `no current-context and ${contexts.length} contexts`,
        'set current-context to one of the contexts',
      )
    }
    contextName = String(contexts[0]?.name)
  }
  const context = named(doc.contexts, 'context', contextName, source)
  const cluster = named(doc.clusters, 'cluster', String(context.cluster), source)
  const user = context.user === undefined ? {} : named(doc.users, 'user', String(context.user), source)
  const server = cluster.server
  if (typeof server !== 'string' || !/^https?:\/\/[^/]+/.test(server)) {
    throw new KubeconfigError(
      source,
      `cluster "${String(context.cluster)}" has no valid server (got ${JSON.stringify(server)})`,
      'set server to https://HOST:6443',
    )
  }
  const config: KubeConfig = {
    server: server.replace(/\/+$/, ''),
    insecureSkipTlsVerify: cluster['insecure-skip-tls-verify'] === true,
    contextName,
  }
  const ca = pick(cluster, 'certificate-authority-data', 'certificate-authority', source, baseDir)
  const cert = pick(user, 'client-certificate-data', 'client-certificate', source, baseDir)
  const key = pick(user, 'client-key-data', 'client-key', source, baseDir)
  if (ca) config.ca = ca
  if (cert) config.cert = cert
  if (key) config.key = key
  if (typeof user.token === 'string') config.token = user.token
  if ((cert === undefined) !== (key === undefined)) {
    throw new KubeconfigError(
      source,
      `user "${String(context.user)}" has a client ${cert ? 'certificate without a key' : 'key without a certificate'}`,
      'give both client-certificate(-data) and client-key(-data)',
    )
  }
  return config
}

/** Reads a kubeconfig file, with file references resolved against its folder. */
export async function loadKubeconfig(path: string): Promise<KubeConfig> {
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (error) {
    throw new KubeconfigError(path, (error as Error).message, 'check the path', error)
  }
  return parseKubeconfig(text, path, dirname(path))
}

/**
 * Returns the kubeconfig with every cluster's server set to `server`, and the cluster, context and
 * user entries named `default` renamed to `names` (references updated). Everything else is kept.
 */
export function rewriteKubeconfigServer(
  text: string,
  server: string,
  names: { cluster?: string; context?: string; user?: string } = {},
): string {
  const doc = parseDocument(text)
  if (doc.errors.length > 0) {
    throw new KubeconfigError('(text)', `not valid YAML: ${doc.errors[0]?.message}`, 'fix the YAML')
  }
  const list = (key: string): YAMLMap[] => {
    const node = doc.get(key) as { items?: unknown[] } | undefined
    return (node?.items ?? []).filter((i): i is YAMLMap => i instanceof YAMLMap)
  }
  const rename = (entry: YAMLMap, to: string | undefined) => {
    if (to !== undefined && entry.get('name') === 'default') entry.set('name', to)
  }
  for (const c of list('clusters')) {
    const body = c.get('cluster')
    if (body instanceof YAMLMap) body.set('server', server)
    rename(c, names.cluster)
  }
  for (const u of list('users')) rename(u, names.user)
  for (const c of list('contexts')) {
    rename(c, names.context)
    const body = c.get('context')
    if (body instanceof YAMLMap) {
      if (names.cluster !== undefined && body.get('cluster') === 'default') body.set('cluster', names.cluster)
      if (names.user !== undefined && body.get('user') === 'default') body.set('user', names.user)
    }
  }
  if (names.context !== undefined && doc.get('current-context') === 'default') {
    doc.set('current-context', names.context)
  }
  return doc.toString({ lineWidth: 0, indentSeq: false })
}
