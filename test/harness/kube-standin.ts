/**
 * A stand-in Kubernetes API server for tests: real clusters cannot run on the test machines.
 * It speaks HTTPS with client-certificate auth, keeps objects in memory, serves discovery
 * for built-in kinds and CRDs created through it, registers Nodes from files a stand-in k3s
 * writes, and logs every request. It has no controllers, no watch, no admission, no
 * validation beyond names: see docs/kube.md.
 *
 * Nothing in it changes with time. What a controller or kubelet would do later (a node turning
 * Ready, a CRD Established, a workload rolled out, an evicted pod gone) happens once a client has
 * been served the earlier state a set number of times (a latch: the `*AfterReads` options and
 * annotations), or when the test says so (`setNodeReady()`, or `PUT /standin/nodes/NAME/ready`).
 * A client that polls is thus seen to poll, however slow the machine, and a test can hold a
 * state for as long as it needs.
 *
 * In-process: `await startKubeStandin({ dir })`. As a CLI (in a network namespace):
 *   tools/node24 test/harness/kube-standin.ts --listen 10.1.2.3:6443 --dir DIR [--nodes-dir DIR] [--vip-holder FILE]
 *     [--ready-after-reads N|never] [--crd-established-after-reads N|never] [--workload-ready-after-reads N|never]
 * prints `listening https://IP:PORT` when ready and exits on SIGTERM.
 */
import { spawnSync } from 'node:child_process'
import {
  appendFileSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs'
import type { IncomingMessage, ServerResponse } from 'node:http'
import https from 'node:https'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import type { TLSSocket } from 'node:tls'
import { parse as parseYaml } from 'yaml'
import { makeStandinCerts } from './kube-standin-certs.ts'
import {
  apiVersionOf,
  badRequest,
  type Json,
  jsonPatch,
  matchFields,
  matchLabels,
  mergePatch,
  notFound,
  type StandinResource,
  StandinStatusError,
  StandinStore,
} from './kube-standin-store.ts'

export { StandinStore } from './kube-standin-store.ts'

export interface StandinNode {
  name: string
  role: 'server' | 'agent'
  ip: string
  /**
   * How many times the node is served NotReady (by a GET or list) before it turns Ready; 0 registers
   * it Ready, Infinity holds it NotReady until `setNodeReady()`. Defaults to the server's readyAfterReads.
   */
  readyAfterReads?: number
}

export interface KubeStandinOptions {
  /** Where certificates, kubeconfig.yaml and requests.jsonl are written. */
  dir: string
  /** @default '127.0.0.1' */
  host?: string
  /** @default 0 (any free port) */
  port?: number
  /** Folder of `<name>.json` node files (`{"name","role","ip"}`) written by a stand-in k3s. */
  nodesDir?: string
  /**
   * The VIP stand-in: while this file does not exist, no kube-vip holds the address, and every
   * request is dropped unanswered (the connection is closed, recorded with status 0), after
   * `<file>.asked` is written; a stand-in k3s server with kube-vip's manifest writes the file
   * once it sees `<file>.asked` (test/harness/standin/k3s).
   */
  vipHolder?: string
  /** Nodes registered at start. */
  nodes?: StandinNode[]
  /**
   * How many times a newly registered node is served NotReady before it turns Ready (Infinity:
   * until `setNodeReady()`). @default 1
   */
  readyAfterReads?: number
  /**
   * How many times a new CRD is served with Established=False before it is Established and its
   * resources are served. @default 1
   */
  crdEstablishedAfterReads?: number
  /**
   * How many times a new Deployment or StatefulSet is served not rolled out before its status shows
   * it rolled out (Deployment Available=True, StatefulSet readyReplicas = replicas), as if its pods
   * ran. @default 1
   */
  workloadReadyAfterReads?: number
}

/** What a stand-in service answers through the API server's service proxy. */
export interface StandinProxyAnswer {
  status: number
  body: unknown
}

/** Answers requests to `/api/v1/namespaces/NS/services/NAME[:PORT]/proxy/PATH` (PATH starts with /). */
export type StandinServiceProxy = (path: string, method: string) => StandinProxyAnswer

export interface StandinRequest {
  time: string
  method: string
  path: string
  query: Record<string, string>
  contentType?: string
  fieldManager?: string
  status: number
}

export interface KubeStandin {
  /** `https://host:port`. */
  url: string
  host: string
  port: number
  /** The kubeconfig as k3s writes it (server https://127.0.0.1:6443), also in `dir/kubeconfig.yaml`. */
  kubeconfig: string
  store: StandinStore
  requests(): StandinRequest[]
  /** Registers (or re-registers) a node, Ready=False until it has been read readyAfterReads times. */
  addNode(node: StandinNode): void
  /**
   * Sets a registered node's Ready condition now, and ends its latch: it stays so until the next
   * call (or until it registers again). Throws when no such node is registered.
   */
  setNodeReady(name: string, ready: boolean): void
  /**
   * Stands in for a service behind the API server's service proxy (`service` as in the URL,
   * e.g. `gitea-http:3000`); undefined removes it. Without one the proxy answers 404 (no such service).
   */
  setServiceProxy(namespace: string, service: string, handler: StandinServiceProxy | undefined): void
  close(): Promise<void>
}

export const KUBELET_VERSION = 'v1.33.5+k3s1'
/** Pods whose annotation holds a number N refuse eviction with 429 N times, as a PodDisruptionBudget would. */
export const EVICTION_REFUSALS_ANNOTATION = 'standin.homelab.dev/eviction-refusals'
/**
 * Pods whose annotation holds a number N stay after eviction, with a deletionTimestamp, until they
 * have been served N times (by a GET or list); `never` keeps them there.
 */
export const TERMINATION_READS_ANNOTATION = 'standin.homelab.dev/termination-reads'

const status = (code: number, reason: string, message: string) =>
  new StandinStatusError(code, reason, message)
const now = () => new Date().toISOString().replace(/\.\d+Z$/, 'Z')

interface Route {
  res: StandinResource
  version: string
  namespace?: string
  name?: string
  sub?: string
}

export async function startKubeStandin(options: KubeStandinOptions): Promise<KubeStandin> {
  const host = options.host ?? '127.0.0.1'
  const readyAfterReads = options.readyAfterReads ?? 1
  const crdReads = options.crdEstablishedAfterReads ?? 1
  const workloadReads = options.workloadReadyAfterReads ?? 1
  const proxies = new Map<string, StandinServiceProxy>()
  mkdirSync(options.dir, { recursive: true })
  const certs = await makeStandinCerts(options.dir, [host])
  const kubeconfig = readFileSync(join(options.dir, 'kubeconfig.yaml'), 'utf8')
  const store = new StandinStore()
  const log: StandinRequest[] = []
  const refusals = new Map<string, number>()

  /**
   * Latches, by object uid: the reads left before `release` runs (what a controller would do).
   * Each GET or list that serves the object counts one, after its answer is made.
   */
  const latches = new Map<string, { left: number; release: () => void }>()
  function latch(uid: string, reads: number, release: () => void): void {
    if (!(reads > 0)) release()
    else latches.set(uid, { left: reads, release })
  }
  function served(objects: Json[]): void {
    for (const o of objects) {
      const l = latches.get(o?.metadata?.uid)
      if (l === undefined || --l.left > 0) continue
      latches.delete(o.metadata.uid)
      l.release()
    }
  }

  for (const ns of ['default', 'kube-system', 'kube-public', 'kube-node-lease']) {
    store.put({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns }, status: { phase: 'Active' } })
  }

  function addNode(node: StandinNode): void {
    const labels: Record<string, string> = {
      'kubernetes.io/hostname': node.name,
      'kubernetes.io/os': 'linux',
      'node.kubernetes.io/instance-type': 'k3s',
    }
    if (node.role === 'server') {
      labels['node-role.kubernetes.io/control-plane'] = 'true'
      labels['node-role.kubernetes.io/master'] = 'true'
    }
    const nodeRes = store.resourceOfKind('v1', 'Node')
    const old = store.delete(nodeRes, undefined, node.name)
    if (old !== undefined) latches.delete(old.metadata.uid)
    const created = store.put({
      apiVersion: 'v1',
      kind: 'Node',
      metadata: { name: node.name, labels },
      spec: {},
      status: {
        conditions: [readyCondition(false)],
        addresses: [
          { type: 'InternalIP', address: node.ip },
          { type: 'Hostname', address: node.name },
        ],
        nodeInfo: {
          kubeletVersion: KUBELET_VERSION,
          kubeProxyVersion: KUBELET_VERSION,
          operatingSystem: 'linux',
        },
      },
    })
    latch(created.metadata.uid, node.readyAfterReads ?? readyAfterReads, () => {
      const current = store.get(nodeRes, undefined, node.name)
      if (current?.metadata.uid !== created.metadata.uid) return
      current.status.conditions = [readyCondition(true)]
      store.put(current)
    })
  }

  /**
   * A Node is deleted like k3s deletes one (in k3s mode, with --nodes-dir): DELETE answers with the
   * Node terminating, held by k3s's finalizer; the finalizer removes the node's etcd member (the
   * real etcd member, via etcdctl) and its password, and the Node goes only once
   * a read has served it terminating, so a client that does not wait for the 404 is caught.
   */
  function deleteNodeLater(existing: Json): Json {
    if (existing.metadata.deletionTimestamp !== undefined) return existing
    const nodeRes = store.resourceOfKind('v1', 'Node')
    existing.metadata.deletionTimestamp = now()
    existing.metadata.finalizers = [NODE_FINALIZER]
    const terminating = store.put(existing)
    const name = terminating.metadata.name as string
    const nodesDir = options.nodesDir as string
    const finalize = () => {
      const current = store.get(nodeRes, undefined, name)
      if (current?.metadata.uid !== terminating.metadata.uid) return
      // The finalizer's work first; without quorum it fails, and the Node stays terminating.
      if (!removeEtcdMember(join(nodesDir, '..', 'etcd-endpoints'), name)) {
        latch(terminating.metadata.uid, 1, finalize)
        return
      }
      store.delete(nodeRes, undefined, name)
      // k3s deletes a node's password secret with its Node: the machine may register anew.
      rmSync(join(nodesDir, `${name}.json`), { force: true })
      seen.delete(join(nodesDir, `${name}.json`))
    }
    latch(terminating.metadata.uid, 1, finalize)
    return terminating
  }

  function setNodeReady(name: string, ready: boolean): void {
    const nodeRes = store.resourceOfKind('v1', 'Node')
    const current = store.get(nodeRes, undefined, name)
    if (current === undefined) throw notFound(nodeRes, name)
    latches.delete(current.metadata.uid)
    current.status.conditions = [readyCondition(ready)]
    store.put(current)
  }

  for (const node of options.nodes ?? []) addNode(node)

  /** Node files by path: what was last registered. A node registers again when its file says something else. */
  const seen = new Map<string, string>()
  function scanNodesDir(): void {
    if (!options.nodesDir) return
    let files: string[]
    try {
      files = readdirSync(options.nodesDir).filter((f) => f.endsWith('.json'))
    } catch {
      return
    }
    for (const f of files) {
      const path = join(options.nodesDir, f)
      try {
        const node = JSON.parse(readFileSync(path, 'utf8')) as StandinNode
        const text = JSON.stringify(node)
        if (seen.get(path) === text) continue
        seen.set(path, text)
        addNode({ ...node, name: node.name ?? f.slice(0, -5) })
      } catch {
        // half-written file: read it again on the next scan
      }
    }
  }
  // Read at start and before every request: a node whose file is there is registered, however slow the scan.
  scanNodesDir()

  function establishLater(crd: Json): void {
    latch(crd.metadata.uid, crdReads, () => {
      const crdRes = store.resourceOfKind('apiextensions.k8s.io/v1', 'CustomResourceDefinition')
      const current = store.get(crdRes, undefined, crd.metadata.name)
      if (!current || current.metadata.uid !== crd.metadata.uid) return
      const spec = current.spec ?? {}
      store.addResource({
        group: spec.group,
        versions: (spec.versions ?? []).filter((v: Json) => v.served !== false).map((v: Json) => v.name),
        plural: spec.names?.plural,
        kind: spec.names?.kind,
        namespaced: spec.scope !== 'Cluster',
      })
      current.status = {
        ...current.status,
        conditions: [
          { type: 'NamesAccepted', status: 'True', reason: 'NoConflicts', lastTransitionTime: now() },
          { type: 'Established', status: 'True', reason: 'InitialNamesAccepted', lastTransitionTime: now() },
        ],
        acceptedNames: spec.names,
        storedVersions: (spec.versions ?? []).filter((v: Json) => v.storage).map((v: Json) => v.name),
      }
      store.put(current)
    })
  }

  /** Writes through the API: namespace checks and CRD side effects. */
  function write(route: Route, obj: Json, created: boolean): Json {
    if (route.res.namespaced && created) {
      const nsRes = store.resourceOfKind('v1', 'Namespace')
      if (!store.get(nsRes, undefined, obj.metadata.namespace)) throw notFound(nsRes, obj.metadata.namespace)
    }
    const isCrd = route.res.plural === 'customresourcedefinitions'
    if (isCrd && created) {
      obj.status = {
        conditions: [
          { type: 'NamesAccepted', status: 'True', reason: 'NoConflicts', lastTransitionTime: now() },
          { type: 'Established', status: 'False', reason: 'Installing', lastTransitionTime: now() },
        ],
      }
    }
    const stored = store.put(obj, route.version)
    if (isCrd && created) establishLater(stored)
    if (created && (route.res.plural === 'deployments' || route.res.plural === 'statefulsets'))
      rollOutLater(route.res, stored)
    return stored
  }

  /** No controllers run: a new Deployment or StatefulSet reports itself rolled out once read enough. */
  function rollOutLater(res: StandinResource, created: Json): void {
    latch(created.metadata.uid, workloadReads, () => {
      const current = store.get(res, created.metadata.namespace, created.metadata.name)
      if (!current || current.metadata.uid !== created.metadata.uid) return
      const replicas = current.spec?.replicas ?? 1
      current.status =
        res.plural === 'deployments'
          ? {
              observedGeneration: 1,
              replicas,
              updatedReplicas: replicas,
              readyReplicas: replicas,
              availableReplicas: replicas,
              conditions: [
                {
                  type: 'Available',
                  status: 'True',
                  reason: 'MinimumReplicasAvailable',
                  message: 'Deployment has minimum availability.',
                  lastTransitionTime: now(),
                },
              ],
            }
          : { observedGeneration: 1, replicas, readyReplicas: replicas, currentReplicas: replicas }
      store.put(current)
    })
  }

  function route(segments: string[]): Route | Json {
    // /api, /api/v1, /apis, /apis/<group>/<version>, then the resource path
    let group: string
    let version: string
    let rest: string[]
    if (segments[0] === 'api') {
      if (segments.length === 1)
        return { kind: 'APIVersions', versions: ['v1'], serverAddressByClientCIDRs: [] }
      group = ''
      version = segments[1] as string
      rest = segments.slice(2)
    } else {
      if (segments.length === 1) return groupList()
      if (segments.length === 2) {
        const g = groupList().groups.find((x: Json) => x.name === segments[1])
        if (!g) throw status(404, 'NotFound', 'the server could not find the requested resource')
        return { kind: 'APIGroup', apiVersion: 'v1', ...g }
      }
      group = segments[1] as string
      version = segments[2] as string
      rest = segments.slice(3)
    }
    const inGroup = store.resources().filter((x) => x.group === group && x.versions.includes(version))
    if (inGroup.length === 0)
      throw status(404, 'NotFound', 'the server could not find the requested resource')
    if (rest.length === 0) {
      return {
        kind: 'APIResourceList',
        apiVersion: 'v1',
        groupVersion: apiVersionOf(group, version),
        resources: inGroup.flatMap((x) => {
          const base = {
            name: x.plural,
            singularName: x.kind.toLowerCase(),
            namespaced: x.namespaced,
            kind: x.kind,
          }
          const verbs = ['create', 'delete', 'get', 'list', 'patch', 'update']
          const subs = [{ ...base, name: `${x.plural}/status`, verbs: ['get', 'patch', 'update'] }]
          if (x.plural === 'pods')
            subs.push({ ...base, name: 'pods/eviction', kind: 'Eviction', verbs: ['create'] })
          return [{ ...base, verbs }, ...subs]
        }),
      }
    }
    const find = (plural: string | undefined) => inGroup.find((x) => x.plural === plural)
    const nsd = rest[0] === 'namespaces' && rest.length >= 3 ? find(rest[2]) : undefined
    if (nsd?.namespaced) {
      return { res: nsd, version, namespace: rest[1], name: rest[3], sub: rest[4] } satisfies Route
    }
    const res = find(rest[0])
    if (!res || rest.length > 3)
      throw status(404, 'NotFound', 'the server could not find the requested resource')
    if (res.namespaced && rest.length > 1)
      throw status(404, 'NotFound', 'the server could not find the requested resource')
    return { res, version, name: rest[1], sub: rest[2] } satisfies Route
  }

  function groupList(): Json {
    const groups = new Map<string, Set<string>>()
    for (const x of store.resources()) {
      if (x.group === '') continue
      const set = groups.get(x.group) ?? new Set()
      for (const v of x.versions) set.add(v)
      groups.set(x.group, set)
    }
    return {
      kind: 'APIGroupList',
      apiVersion: 'v1',
      groups: [...groups].map(([name, versions]) => {
        const list = [...versions].map((v) => ({ groupVersion: `${name}/${v}`, version: v }))
        return { name, versions: list, preferredVersion: list[0] }
      }),
    }
  }

  function handle(
    method: string,
    r: Route,
    query: URLSearchParams,
    contentType: string,
    body: Buffer,
  ): [number, Json] {
    const { res } = r
    const kindName = res.group ? `${res.plural}.${res.group}` : res.plural
    if (r.name === undefined) {
      if (method === 'GET') {
        if (query.get('watch') === 'true' || query.get('watch') === '1') {
          throw status(405, 'MethodNotAllowed', 'watch is not supported by the stand-in API server')
        }
        const items = store
          .list(res, r.namespace)
          .filter((o) => matchLabels(query.get('labelSelector') ?? undefined, o.metadata.labels))
          .filter((o) => matchFields(query.get('fieldSelector') ?? undefined, o))
        const list = {
          apiVersion: apiVersionOf(res.group, r.version),
          kind: `${res.kind}List`,
          metadata: { resourceVersion: store.currentResourceVersion() },
          items,
        }
        served(items)
        return [200, list]
      }
      if (method === 'POST') {
        const obj = parseBody(contentType, body)
        obj.metadata ??= {}
        if (!obj.metadata.name && obj.metadata.generateName) {
          obj.metadata.name = obj.metadata.generateName + Math.random().toString(36).slice(2, 7)
        }
        if (!obj.metadata.name)
          throw status(
            422,
            'Invalid',
            `${res.kind} is invalid: metadata.name: Required value: name or generateName is required`,
          )
        if (res.namespaced) obj.metadata.namespace = r.namespace ?? obj.metadata.namespace ?? 'default'
        if (store.get(res, obj.metadata.namespace, obj.metadata.name)) {
          throw status(409, 'AlreadyExists', `${kindName} "${obj.metadata.name}" already exists`)
        }
        obj.apiVersion ??= apiVersionOf(res.group, r.version)
        obj.kind ??= res.kind
        return [201, write(r, obj, true)]
      }
      throw status(405, 'MethodNotAllowed', `the server does not allow this method on the requested resource`)
    }
    const name = r.name
    const existing = store.get(res, r.namespace, name)
    if (r.sub === 'eviction' && res.plural === 'pods') {
      if (method !== 'POST') throw status(405, 'MethodNotAllowed', 'eviction accepts POST only')
      if (!existing) throw notFound(res, name)
      const key = `${r.namespace}/${name}`
      const left =
        refusals.get(key) ?? Number(existing.metadata.annotations?.[EVICTION_REFUSALS_ANNOTATION] ?? 0)
      if (left > 0) {
        refusals.set(key, left - 1)
        throw status(
          429,
          'TooManyRequests',
          "Cannot evict pod as it would violate the pod's disruption budget.",
        )
      }
      refusals.delete(key)
      const terminationReads = parseReads(
        existing.metadata.annotations?.[TERMINATION_READS_ANNOTATION] ?? '0',
      )
      if (terminationReads > 0) {
        if (existing.metadata.deletionTimestamp === undefined) {
          existing.metadata.deletionTimestamp = now()
          store.put(existing)
          latch(existing.metadata.uid, terminationReads, () => {
            if (store.get(res, r.namespace, name)?.metadata.uid === existing.metadata.uid)
              store.delete(res, r.namespace, name)
          })
        }
      } else {
        store.delete(res, r.namespace, name)
      }
      return [201, { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success', code: 201 }]
    }
    if (r.sub !== undefined && r.sub !== 'status')
      throw status(404, 'NotFound', 'the server could not find the requested resource')
    switch (method) {
      case 'GET':
        if (!existing) throw notFound(res, name)
        served([existing])
        return [200, existing]
      case 'DELETE': {
        if (!existing) throw notFound(res, name)
        if (res.plural === 'nodes' && options.nodesDir) return [200, deleteNodeLater(existing)]
        store.delete(res, r.namespace, name)
        latches.delete(existing.metadata.uid)
        if (res.plural === 'nodes' && options.nodesDir) {
          // k3s deletes a node's password secret with its Node: the machine may register anew.
          rmSync(join(options.nodesDir, `${name}.json`), { force: true })
          seen.delete(join(options.nodesDir, `${name}.json`))
        }
        if (res.plural === 'customresourcedefinitions' && existing.spec?.names?.plural) {
          store.removeResource(existing.spec.group, existing.spec.names.plural)
        }
        return [
          200,
          {
            kind: 'Status',
            apiVersion: 'v1',
            metadata: {},
            status: 'Success',
            details: { name, kind: res.plural, uid: existing.metadata.uid },
          },
        ]
      }
      case 'PUT': {
        if (!existing) throw notFound(res, name)
        const obj = parseBody(contentType, body)
        if (obj.metadata?.name !== name)
          throw badRequest(
            `the name of the object (${obj.metadata?.name}) does not match the name on the URL (${name})`,
          )
        const rv = obj.metadata.resourceVersion
        if (rv !== undefined && rv !== existing.metadata.resourceVersion) {
          throw status(
            409,
            'Conflict',
            `Operation cannot be fulfilled on ${kindName} "${name}": the object has been modified; please apply your changes to the latest version and try again`,
          )
        }
        if (res.namespaced) obj.metadata.namespace = r.namespace
        return [200, write(r, obj, false)]
      }
      case 'PATCH': {
        const type = contentType.split(';')[0]?.trim()
        if (type === 'application/apply-patch+yaml') {
          const manager = query.get('fieldManager')
          if (!manager)
            throw badRequest(
              'PATCH, application/apply-patch+yaml: fieldManager is required for apply requests',
            )
          const obj = parseBody('yaml', body)
          if (obj.metadata?.name !== undefined && obj.metadata.name !== name) {
            throw badRequest(
              `the name of the object (${obj.metadata.name}) does not match the name on the URL (${name})`,
            )
          }
          const merged = mergePatch(existing ?? {}, obj)
          merged.metadata.name = name
          if (res.namespaced) merged.metadata.namespace = r.namespace
          if (existing && unchangedByApply(existing, merged, manager)) {
            // as the real API: an apply that changes nothing writes nothing (same resourceVersion)
            return [200, existing]
          }
          const fields = (existing?.metadata.managedFields ?? []).filter((f: Json) => f.manager !== manager)
          fields.push({
            manager,
            operation: 'Apply',
            apiVersion: apiVersionOf(res.group, r.version),
            time: now(),
            fieldsType: 'FieldsV1',
          })
          merged.metadata.managedFields = fields
          merged.apiVersion ??= apiVersionOf(res.group, r.version)
          merged.kind ??= res.kind
          return [existing ? 200 : 201, write(r, merged, !existing)]
        }
        if (!existing) throw notFound(res, name)
        let patched: Json
        if (type === 'application/merge-patch+json' || type === 'application/strategic-merge-patch+json') {
          patched = mergePatch(existing, parseBody('json', body))
        } else if (type === 'application/json-patch+json') {
          patched = jsonPatch(existing, parseBody('json', body))
        } else {
          throw status(
            415,
            'UnsupportedMediaType',
            `the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml`,
          )
        }
        patched.metadata = { ...patched.metadata, name, uid: existing.metadata.uid }
        if (res.namespaced) patched.metadata.namespace = r.namespace
        return [200, write(r, patched, false)]
      }
      default:
        throw status(
          405,
          'MethodNotAllowed',
          'the server does not allow this method on the requested resource',
        )
    }
  }

  function record(entry: StandinRequest): void {
    log.push(entry)
    try {
      appendFileSync(join(options.dir, 'requests.jsonl'), `${JSON.stringify(entry)}\n`)
    } catch {
      // the log folder went away (test cleanup): keep the in-memory log only
    }
  }

  async function serve(req: IncomingMessage, resp: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'https://standin')
    const method = req.method ?? 'GET'
    const query = Object.fromEntries(url.searchParams)
    const contentType = req.headers['content-type'] ?? ''
    const chunks: Buffer[] = []
    for await (const c of req) chunks.push(c as Buffer)
    let code = 200
    let out: Json
    if (options.vipHolder !== undefined && !existsSync(options.vipHolder)) {
      record({ time: new Date().toISOString(), method, path: url.pathname, query, status: 0 })
      writeFileSync(`${options.vipHolder}.asked`, '')
      req.socket.destroy()
      return
    }
    try {
      // k3s serves its CA bundle to anyone: a joining node fetches it before it has credentials.
      if (url.pathname === '/cacerts' && method === 'GET') {
        out = certs.ca.toString('utf8')
      } else {
        if (!(req.socket as TLSSocket).authorized) throw status(401, 'Unauthorized', 'Unauthorized')
        scanNodesDir()
        const segments = url.pathname.split('/').filter(Boolean).map(decodeURIComponent)
        if (segments[0] === 'standin') {
          out = control(method, segments, Buffer.concat(chunks).toString('utf8').trim())
        } else if (url.pathname === '/readyz/etcd' && options.nodesDir) {
          // kube-apiserver's etcd check: here, a linearizable read of the real etcd (quorum needed).
          if (!etcdHealthy(join(options.nodesDir, '..', 'etcd-endpoints')))
            throw status(500, 'InternalError', '[-]etcd failed: reason withheld')
          out = 'ok'
        } else if (['/healthz', '/readyz', '/livez', '/readyz/etcd'].includes(url.pathname)) {
          out = 'ok'
        } else if (url.pathname === '/version') {
          out = { major: '1', minor: '33', gitVersion: KUBELET_VERSION, platform: 'linux/amd64' }
        } else if (isServiceProxy(segments)) {
          const [ns, service] = [segments[3] as string, segments[5] as string]
          const handler = proxies.get(`${ns}/${service}`)
          if (!handler) throw status(404, 'NotFound', `services "${service.split(':')[0]}" not found`)
          const rest = url.pathname.split('/').slice(8).join('/')
          const answer = handler(`/${rest}`, method)
          code = answer.status
          out = answer.body
        } else if (segments[0] === 'api' || segments[0] === 'apis') {
          const found = route(segments)
          if (found.res)
            [code, out] = handle(method, found as Route, url.searchParams, contentType, Buffer.concat(chunks))
          else if (method !== 'GET') throw status(405, 'MethodNotAllowed', 'discovery accepts GET only')
          else out = found
        } else {
          throw status(404, 'NotFound', 'the server could not find the requested resource')
        }
      }
    } catch (error) {
      const e =
        error instanceof StandinStatusError
          ? error
          : status(500, 'InternalError', `stand-in API server: ${(error as Error).message}`)
      code = e.code
      out = e.toStatus()
    }
    const entry: StandinRequest = {
      time: new Date().toISOString(),
      method,
      path: url.pathname,
      query,
      status: code,
    }
    if (contentType) entry.contentType = contentType
    if (query.fieldManager) entry.fieldManager = query.fieldManager
    record(entry)
    const text = typeof out === 'string' ? out : JSON.stringify(out)
    resp.writeHead(code, { 'content-type': typeof out === 'string' ? 'text/plain' : 'application/json' })
    resp.end(text)
  }

  /** The test's own controls, for the CLI form: `PUT /standin/nodes/NAME/ready` with `true` or `false`. */
  function control(method: string, segments: string[], body: string): Json {
    const [, what, name, field] = segments
    if (what !== 'nodes' || name === undefined || field !== 'ready' || segments.length !== 4)
      throw status(404, 'NotFound', 'stand-in control: the only one is PUT /standin/nodes/NAME/ready')
    if (method !== 'PUT') throw status(405, 'MethodNotAllowed', 'stand-in control: PUT true or false')
    if (body !== 'true' && body !== 'false')
      throw badRequest(`stand-in control: the body must be true or false, not "${body}"`)
    setNodeReady(name, body === 'true')
    return store.get(store.resourceOfKind('v1', 'Node'), undefined, name)
  }

  function parseBody(contentType: string, body: Buffer): Json {
    const text = body.toString('utf8')
    let obj: Json
    try {
      obj = contentType === 'yaml' || contentType.includes('yaml') ? parseYaml(text) : JSON.parse(text)
    } catch (error) {
      throw badRequest(`the body could not be decoded: ${(error as Error).message.split('\n')[0]}`)
    }
    if (typeof obj !== 'object' || obj === null) throw badRequest('the body is not an object')
    return obj
  }

  const server = https.createServer(
    {
      key: certs.serverKey,
      cert: certs.serverCert,
      ca: certs.ca,
      requestCert: true,
      rejectUnauthorized: false,
    },
    (req, resp) => {
      serve(req, resp).catch(() => resp.destroy())
    },
  )
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(options.port ?? 0, host, () => {
      server.off('error', reject)
      resolve()
    })
  })
  const port = (server.address() as AddressInfo).port
  return {
    url: `https://${host.includes(':') ? `[${host}]` : host}:${port}`,
    host,
    port,
    kubeconfig,
    store,
    requests: () => [...log],
    addNode,
    setNodeReady,
    setServiceProxy(namespace, service, handler) {
      if (handler) proxies.set(`${namespace}/${service}`, handler)
      else proxies.delete(`${namespace}/${service}`)
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve())
        server.closeAllConnections()
      }),
  }
}

function readyCondition(ready: boolean): Json {
  return {
    type: 'Ready',
    status: ready ? 'True' : 'False',
    reason: ready ? 'KubeletReady' : 'KubeletNotReady',
    message: ready
      ? 'kubelet is posting ready status'
      : 'container runtime network not ready: cni plugin not initialized',
    lastTransitionTime: now(),
  }
}

/** A latch count: a whole number, or `never` (Infinity). */
/** The finalizer the stand-in puts on a deleted Node (k3s's own removes the etcd member). */
export const NODE_FINALIZER = 'standin.homelab.dev/etcd-member'

/** A linearizable read through the real etcd members (shared/etcd-endpoints) answers: quorum. */
function etcdHealthy(endpointsFile: string): boolean {
  let endpoints: string[]
  try {
    endpoints = readFileSync(endpointsFile, 'utf8').split('\n').filter(Boolean)
  } catch {
    return true // no etcd behind this stand-in
  }
  return (
    spawnSync('etcdctl', ['--endpoints', endpoints.join(','), '--command-timeout=5s', 'get', 'health'], {
      env: { ...process.env, ETCDCTL_API: '3' },
      timeout: 15_000,
    }).status === 0
  )
}

/**
 * k3s's finalizer on a deleted server's Node: the node's etcd member removed, with real etcdctl,
 * through the members' client URLs (shared/etcd-endpoints, written by the stand-in k3s). False
 * when it could not be removed (no quorum): the Node then stays terminating, as it does with k3s.
 */
function removeEtcdMember(endpointsFile: string, name: string): boolean {
  let endpoints: string[]
  try {
    endpoints = readFileSync(endpointsFile, 'utf8').split('\n').filter(Boolean)
  } catch {
    return true // no etcd: an agent, or no server ever started
  }
  const etcdctl = (...args: string[]) =>
    spawnSync('etcdctl', ['--endpoints', endpoints.join(','), '--command-timeout=5s', ...args], {
      encoding: 'utf8',
      env: { ...process.env, ETCDCTL_API: '3' },
      timeout: 15_000,
    })
  const listed = etcdctl('member', 'list')
  if (listed.status !== 0) return false
  // "ID, status, name, peer URLs, client URLs, is learner"
  const fields = listed.stdout
    .split('\n')
    .map((l) => l.split(', '))
    .find((f) => f[2] === name)
  if (fields === undefined) return true
  if (etcdctl('member', 'remove', fields[0] as string).status !== 0) return false
  const left = endpoints.filter((e) => e !== fields[4])
  writeFileSync(`${endpointsFile}.tmp`, `${left.join('\n')}\n`)
  renameSync(`${endpointsFile}.tmp`, endpointsFile)
  return true
}

export function parseReads(text: string): number {
  if (text === 'never') return Number.POSITIVE_INFINITY
  if (!/^\d+$/.test(text)) throw new Error(`"${text}" is not a number of reads (a whole number or never)`)
  return Number(text)
}

/** `/api/v1/namespaces/NS/services/NAME/proxy[/...]`. */
function isServiceProxy(segments: string[]): boolean {
  return (
    segments[0] === 'api' &&
    segments[1] === 'v1' &&
    segments[2] === 'namespaces' &&
    segments[4] === 'services' &&
    segments[6] === 'proxy' &&
    segments.length >= 7
  )
}

/** True when an apply by `manager` leaves the object as it was (managedFields aside) and the manager already owned fields. */
function unchangedByApply(existing: Json, merged: Json, manager: string): boolean {
  const owned = (existing.metadata.managedFields ?? []).some((f: Json) => f.manager === manager)
  const strip = (o: Json) => ({ ...o, metadata: { ...o.metadata, managedFields: undefined } })
  return owned && JSON.stringify(strip(existing)) === JSON.stringify(strip(merged))
}

function usage(message: string): never {
  process.stderr.write(
    `kube-standin: ${message}\n` +
      'usage: tools/node24 test/harness/kube-standin.ts --listen IP:PORT --dir DIR [--nodes-dir DIR] [--vip-holder FILE]\n' +
      '         [--ready-after-reads N|never] [--crd-established-after-reads N|never] [--workload-ready-after-reads N|never]\n',
  )
  process.exit(2)
}

async function main(argv: string[]): Promise<void> {
  const args = new Map<string, string>()
  for (let i = 0; i < argv.length; i += 2) {
    const [k, v] = [argv[i], argv[i + 1]]
    if (!k?.startsWith('--') || v === undefined) usage(`unexpected argument "${k}"`)
    args.set(k.slice(2), v)
  }
  const listen = args.get('listen') ?? usage('--listen is required')
  const dir = args.get('dir') ?? usage('--dir is required')
  const m = /^(.+):(\d+)$/.exec(listen) ?? usage(`--listen "${listen}" is not IP:PORT`)
  const options: KubeStandinOptions = {
    dir,
    host: (m[1] as string).replace(/^\[|\]$/g, ''),
    port: Number(m[2]),
  }
  const nodesDir = args.get('nodes-dir')
  if (nodesDir) options.nodesDir = nodesDir
  const vipHolder = args.get('vip-holder')
  if (vipHolder) options.vipHolder = vipHolder
  const count = (name: string): number | undefined => {
    const v = args.get(name)
    if (v === undefined) return undefined
    try {
      return parseReads(v)
    } catch (error) {
      return usage(`--${name}: ${(error as Error).message}`)
    }
  }
  const ready = count('ready-after-reads')
  if (ready !== undefined) options.readyAfterReads = ready
  const crd = count('crd-established-after-reads')
  if (crd !== undefined) options.crdEstablishedAfterReads = crd
  const workload = count('workload-ready-after-reads')
  if (workload !== undefined) options.workloadReadyAfterReads = workload
  for (const k of args.keys()) {
    if (
      ![
        'listen',
        'dir',
        'nodes-dir',
        'vip-holder',
        'ready-after-reads',
        'crd-established-after-reads',
        'workload-ready-after-reads',
      ].includes(k)
    )
      usage(`unknown option "--${k}"`)
  }
  const standin = await startKubeStandin(options)
  process.stdout.write(`listening ${standin.url}\n`)
  const stop = () => {
    standin.close().then(() => process.exit(0))
  }
  process.on('SIGTERM', stop)
  process.on('SIGINT', stop)
}

if (import.meta.main) {
  main(process.argv.slice(2)).catch((error: Error) => {
    process.stderr.write(`kube-standin: ${error.message}\n`)
    process.exit(1)
  })
}
