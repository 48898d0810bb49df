/**
 * `homelab cluster`: turns installed machines into one k3s cluster, over SSH, and converges.
 *
 *   1. connect to every node (host keys pinned) and probe what it holds, touching nothing;
 *   2. plan: members keep their place; with no member, one server initialises (plan.ts);
 *   3. get the pinned k3s release (cached, sha256-verified) and the token (made once, 0600);
 *   4. converge members, then the initialising server, then joining servers one at a time
 *      (etcd adds one member at a time), then agents in parallel;
 *   5. write the kubeconfig (server rewritten to the endpoint, 0600) and wait until every
 *      node is Ready through the Kubernetes API.
 *
 * A rebuilt node (fresh disk, name still in the cluster) first has its old Node object
 * deleted, so it rejoins instead of being refused as an impostor.
 */
import { readFile, rename, writeFile } from 'node:fs/promises'
import type { Config, Machine } from '../../core/config/schema.ts'
import {
  createKubeClient,
  type KubeClient,
  listNodes,
  type NodeStatus,
  parseKubeconfig,
  rewriteKubeconfigServer,
} from '../../lib/kube/index.ts'
import { type Clock, PollTimeoutError, poll } from '../../lib/poll/index.ts'
import { connectSsh, runOnMachines, SSH_DEFAULTS, type SshSession } from '../../lib/ssh/index.ts'
import { type MachineRecord, readState, writeState } from '../provision/state.ts'
import { CLUSTER_DEFAULTS } from './defaults.ts'

export { CLUSTER_DEFAULTS }

import { convergeNode, probeNode, type StepName } from './node.ts'
import { type ClusterPlan, chooseToken, type NodeFacts, type PlannedNode, planCluster } from './plan.ts'
import { ensureK3s, type K3sArch, type K3sArtifact, k3sArch } from './release.ts'
import { apiUrl, K3S_KUBECONFIG } from './render.ts'
import { generateToken, readToken, tokenPath, writeToken } from './token.ts'

export type ClusterEvent =
  | { readonly type: 'cluster.plan'; readonly plan: PlanSummary }
  | { readonly type: 'cluster.token'; readonly source: 'stored' | 'member' | 'new'; readonly from?: string }
  | { readonly type: 'cluster.download'; readonly detail: string }
  | {
      readonly type: 'node.step'
      readonly node: string
      readonly step: StepName
      readonly status: 'running' | 'changed' | 'unchanged'
      readonly detail?: string
    }
  | { readonly type: 'node.failed'; readonly node: string; readonly step: StepName; readonly message: string }
  | { readonly type: 'node.rebuilt'; readonly node: string; readonly detail: string }
  | { readonly type: 'node.waiting'; readonly node: string; readonly lastSeen: string }
  | { readonly type: 'node.ready'; readonly node: string }
  | { readonly type: 'kubeconfig.written'; readonly path: string; readonly changed: boolean }
  | { readonly type: 'cluster.summary'; readonly nodes: readonly NodeOutcome[] }

export interface PlanSummary {
  readonly endpoint: string
  readonly endpointIsVip: boolean
  readonly members: readonly string[]
  readonly init: string | undefined
  readonly joinAddress: string
  readonly nodes: readonly { readonly name: string; readonly role: string; readonly phase: string }[]
}

export interface NodeOutcome {
  readonly node: string
  readonly role: string
  readonly result: 'unchanged' | 'changed' | 'failed' | 'not ready'
  readonly changed: readonly StepName[]
  readonly lastStep: StepName
  readonly detail: string
}

export interface ClusterOptions {
  readonly config: Config
  readonly stateDir: string
  readonly cacheDir: string
  readonly privateKey: Buffer
  readonly kubeconfigPath: string
  readonly events: (event: ClusterEvent) => void
  /** Nodes converged at once (agents, members). @default CLUSTER_DEFAULTS.parallel */
  readonly parallel?: number
  /** SSH connection retries per node. @default SSH_DEFAULTS.retries */
  readonly sshRetries?: number
  readonly sshRetryDelayMs?: number
  /** How long every node may take to turn Ready. @default CLUSTER_DEFAULTS.readyTimeoutMs */
  readonly readyTimeoutMs?: number
  /** Between two readings of the nodes' readiness. @default 1000 */
  readonly readyPollMs?: number
  readonly signal?: AbortSignal
}

export class ClusterError extends Error {
  readonly code = 'HOMELAB_CLUSTER'
  override name = 'ClusterError'
}

interface NodeRun {
  readonly machine: Machine
  session?: SshSession
  facts?: NodeFacts
  lastStep: StepName
  changed: StepName[]
  failed?: string
}

/** What the phases of buildCluster() share. */
interface ClusterRun {
  readonly options: ClusterOptions
  readonly events: (event: ClusterEvent) => void
  readonly runs: Map<string, NodeRun>
  readonly parallel: number
  /** Marks the node failed at its last step, with the error's message. */
  fail(run: NodeRun, error: unknown): void
  /** The node's step reporter: records the last step and what changed. */
  reporter(
    run: NodeRun,
  ): (step: StepName, status: 'running' | 'changed' | 'unchanged', detail?: string) => void
  /** Not failed (so far). */
  ok(name: string): boolean
}

/** Converges the cluster; resolves with one outcome per machine (never throws for one node). */
export async function buildCluster(options: ClusterOptions): Promise<NodeOutcome[]> {
  const run = _clusterRun(options)
  try {
    await _connectAndProbe(run)
    const facts = factsOf(run.runs.values())
    const plan = planCluster(options.config.machines, options.config.cluster.endpoint, facts)
    run.events({ type: 'cluster.plan', plan: summarizePlan(plan) })
    const { token, artifacts } = await _tokenAndRelease(run, plan, facts)
    const converged = await _converge(run, plan, token, artifacts)
    await _kubeconfigAndReady(run, plan, converged)
  } catch (error) {
    // A failure of the whole run: nodes not yet failed keep their last step, and the error names it.
    run.events({ type: 'cluster.summary', nodes: outcomesOf(run.runs) })
    throw error
  } finally {
    await Promise.all([...run.runs.values()].map((r) => r.session?.close()))
  }
  const outcomes = outcomesOf(run.runs)
  run.events({ type: 'cluster.summary', nodes: outcomes })
  return outcomes
}

function _clusterRun(options: ClusterOptions): ClusterRun {
  const { events } = options
  const runs = new Map<string, NodeRun>(
    options.config.machines.map((m) => [m.name, { machine: m, lastStep: 'connect', changed: [] }]),
  )
  return {
    options,
    events,
    runs,
    parallel: options.parallel ?? CLUSTER_DEFAULTS.parallel,
    fail(run, error) {
      const message = error instanceof Error ? error.message : String(error)
      run.failed = message
      events({ type: 'node.failed', node: run.machine.name, step: run.lastStep, message })
    },
    reporter: (run) => (step, status, detail) => {
      run.lastStep = step
      if (status === 'changed') run.changed.push(step)
      events({
        type: 'node.step',
        node: run.machine.name,
        step,
        status,
        ...(detail === undefined ? {} : { detail }),
      })
    },
    ok: (name) => runs.get(name)?.failed === undefined,
  }
}

/** 1. Connect and probe, in parallel; host keys are pinned (first contact is recorded). */
async function _connectAndProbe(cluster: ClusterRun): Promise<void> {
  const { options } = cluster
  const state = await readState(options.stateDir)
  const learned: Record<string, MachineRecord> = {}
  await runOnMachines([...cluster.runs.values()], cluster.parallel, async (run) => {
    const { machine } = run
    const report = cluster.reporter(run)
    try {
      report('connect', 'running')
      const record = state.machines[machine.name]
      const known = knownHostKey(record, machine)
      run.session = await connectSsh({
        host: machine.ip,
        privateKey: options.privateKey,
        ...(known === undefined ? {} : { knownHostKey: known }),
        retries: options.sshRetries ?? SSH_DEFAULTS.retries,
        ...(options.sshRetryDelayMs === undefined ? {} : { retryDelayMs: options.sshRetryDelayMs }),
        onFirstHostKey: (hostKey) => {
          learned[machine.name] = {
            mac: machine.mac,
            ip: machine.ip,
            hostKey,
            installedAt: record?.installedAt ?? 'unknown (key first seen by homelab cluster)',
          }
        },
      })
      report('probe', 'running')
      run.facts = await probeNode(run.session, machine.role)
      if (k3sArch(run.facts.arch) === undefined) {
        throw new Error(`its architecture ${run.facts.arch} has no k3s release (amd64 and arm64 do)`)
      }
    } catch (error) {
      cluster.fail(run, error)
    }
  })
  if (Object.keys(learned).length > 0) {
    await writeState(options.stateDir, { machines: { ...state.machines, ...learned } })
  }
}

/** 2. What the nodes that were probed (and did not fail) hold, by name. */
function factsOf(runs: Iterable<NodeRun>): Map<string, NodeFacts> {
  const facts = new Map<string, NodeFacts>()
  for (const run of runs)
    if (run.facts !== undefined && run.failed === undefined) facts.set(run.machine.name, run.facts)
  return facts
}

/** 3. The token (stored, read from a node, or new) and the k3s release of each architecture. */
async function _tokenAndRelease(
  cluster: ClusterRun,
  plan: ClusterPlan,
  facts: ReadonlyMap<string, NodeFacts>,
) {
  const { options, events } = cluster
  const tokenFile = tokenPath(options.stateDir)
  const choice = chooseToken(await readToken(tokenFile), plan, facts, tokenFile)
  const token = choice.token ?? generateToken()
  if (choice.source !== 'stored') await writeToken(tokenFile, token)
  events({
    type: 'cluster.token',
    source: choice.source,
    ...(choice.from === undefined ? {} : { from: choice.from }),
  })
  const artifacts = new Map<K3sArch, K3sArtifact>()
  for (const f of facts.values()) {
    const arch = k3sArch(f.arch) as K3sArch
    if (artifacts.has(arch)) continue
    artifacts.set(
      arch,
      await ensureK3s({
        version: options.config.cluster.k3sVersion,
        arch,
        cacheDir: options.cacheDir,
        progress: (e) => {
          if (e.type === 'download.progress')
            events({
              type: 'cluster.download',
              detail: `k3s ${arch}: ${(e.received / 2 ** 20).toFixed(0)} MiB`,
            })
          if (e.type === 'download.ready')
            events({ type: 'cluster.download', detail: `k3s ${arch}: verified` })
        },
      }),
    )
  }
  return { token, artifacts }
}

/** What converging leaves for the last phase. */
interface Converged {
  /** The kubeconfig of a server, read once per server. */
  readonly kubeconfigOf: (name: string) => Promise<string>
  /** A client made while converging (to forget rebuilt nodes), if one was. */
  readonly api: KubeClient | undefined
}

/** 4. Members, then the first server of a new cluster, then joins: servers one at a time, agents in parallel. */
async function _converge(
  cluster: ClusterRun,
  plan: ClusterPlan,
  token: string,
  artifacts: ReadonlyMap<K3sArch, K3sArtifact>,
): Promise<Converged> {
  const { runs, ok, parallel, events } = cluster
  const endpoint = cluster.options.config.cluster.endpoint
  const converge = async (planned: PlannedNode) => {
    const run = runs.get(planned.machine.name) as NodeRun
    if (run.session === undefined || run.facts === undefined) return
    try {
      await convergeNode({
        session: run.session,
        node: planned,
        facts: run.facts,
        artifact: artifacts.get(k3sArch(run.facts.arch) as K3sArch) as K3sArtifact,
        token,
        endpoint,
        endpointIsVip: plan.endpointIsVip,
        report: cluster.reporter(run),
        onUpload: uploadProgress(run.machine.name, events),
      })
    } catch (error) {
      cluster.fail(run, error)
    }
  }
  await runOnMachines(
    plan.nodes.filter((n) => n.phase === 'member'),
    parallel,
    converge,
  )
  const initNode = plan.nodes.find((n) => n.phase === 'init')
  if (initNode !== undefined) {
    await converge(initNode)
    if (!ok(initNode.machine.name)) {
      throw new ClusterError(
        `Cannot start the cluster: ${initNode.machine.name} failed to initialise it (see above); no other node was changed`,
      )
    }
  }
  const kubeconfigs = new Map<string, Promise<string>>()
  const kubeconfigOf = (name: string): Promise<string> => {
    let text = kubeconfigs.get(name)
    if (text === undefined) {
      text = fetchKubeconfig(runs.get(name)?.session as SshSession)
      kubeconfigs.set(name, text)
    }
    return text
  }
  const source = [initNode?.machine.name, ...plan.members].find((n) => n !== undefined && ok(n))
  let api: KubeClient | undefined
  const joiners = plan.nodes.filter((n) => n.phase === 'join')
  if (source !== undefined && joiners.some((n) => n.fresh)) {
    api = clientFor(await kubeconfigOf(source), plan.joinAddress)
    for (const planned of joiners.filter((n) => n.fresh)) {
      await forgetRebuiltNode(api, planned.machine, events).catch((error: unknown) =>
        cluster.fail(runs.get(planned.machine.name) as NodeRun, error),
      )
    }
  }
  for (const planned of joiners.filter((n) => n.machine.role === 'server' && ok(n.machine.name))) {
    await converge(planned)
  }
  await runOnMachines(
    joiners.filter((n) => n.machine.role === 'agent' && ok(n.machine.name)),
    parallel,
    converge,
  )
  return { kubeconfigOf, api }
}

/** The server the kubeconfig is read from: the first server that did not fail, init and members first. */
export function kubeconfigSource(
  plan: ClusterPlan,
  ok: (name: string) => boolean,
  roleOf: (name: string) => Machine['role'] | undefined,
): string | undefined {
  const init = plan.nodes.find((n) => n.phase === 'init')
  const joiners = plan.nodes.filter((n) => n.phase === 'join')
  return [init?.machine.name, ...plan.members, ...joiners.map((n) => n.machine.name)].find(
    (n): n is string => n !== undefined && ok(n) && roleOf(n) === 'server',
  )
}

/** Why a node failed its readiness wait, and where to look. */
export function notReadyMessage(machine: Machine, timeoutMs: number, lastSeen: string): string {
  return `not Ready after ${Math.round(timeoutMs / 1000)} s; last seen: ${lastSeen}; check on ${machine.name}: journalctl -u ${machine.role === 'server' ? 'k3s' : 'k3s-agent'} -e`
}

/** 5. The kubeconfig (written 0600, server rewritten to the endpoint), then every node Ready. */
async function _kubeconfigAndReady(
  cluster: ClusterRun,
  plan: ClusterPlan,
  converged: Converged,
): Promise<void> {
  const { options, events, runs } = cluster
  const kubeSource = kubeconfigSource(plan, cluster.ok, (n) => runs.get(n)?.machine.role)
  if (kubeSource === undefined) throw new ClusterError('Cannot write the kubeconfig: no server was converged')
  const kubeText = await converged.kubeconfigOf(kubeSource)
  const changed = await writeKubeconfig(
    options.kubeconfigPath,
    rewriteKubeconfigServer(kubeText, apiUrl(options.config.cluster.endpoint), {
      cluster: 'homelab',
      context: 'homelab',
      user: 'homelab',
    }),
  )
  events({ type: 'kubeconfig.written', path: options.kubeconfigPath, changed })
  const api = converged.api ?? clientFor(kubeText, plan.joinAddress)
  const waitFor = [...runs.values()].filter((r) => r.failed === undefined && r.facts !== undefined)
  const timeoutMs = options.readyTimeoutMs ?? CLUSTER_DEFAULTS.readyTimeoutMs
  const notReady = await waitReady(
    api,
    waitFor.map((r) => r.machine.name),
    { timeoutMs, events, pollMs: options.readyPollMs, signal: options.signal },
  )
  for (const [name, lastSeen] of notReady) {
    const run = runs.get(name) as NodeRun
    run.lastStep = 'ready'
    run.failed = notReadyMessage(run.machine, timeoutMs, lastSeen)
    events({ type: 'node.failed', node: name, step: 'ready', message: run.failed })
  }
}

/** Upload progress as live-line details, every 10 %. */
function uploadProgress(node: string, events: (event: ClusterEvent) => void) {
  let shown = -1
  return (transferred: number, total: number) => {
    const tenth = total > 0 ? Math.floor((transferred / total) * 10) : 10
    if (tenth === shown) return
    shown = tenth
    const detail = `uploading ${(transferred / 2 ** 20).toFixed(0)} of ${(total / 2 ** 20).toFixed(0)} MiB`
    events({ type: 'node.step', node, step: 'k3s binary', status: 'running', detail })
  }
}

function outcomesOf(runs: Map<string, NodeRun>): NodeOutcome[] {
  return [...runs.values()].map((r) => ({
    node: r.machine.name,
    role: r.machine.role,
    result:
      r.failed !== undefined
        ? r.lastStep === 'ready'
          ? 'not ready'
          : 'failed'
        : r.changed.length > 0
          ? 'changed'
          : 'unchanged',
    changed: r.changed,
    lastStep: r.lastStep,
    detail: r.failed ?? (r.changed.length > 0 ? `changed: ${r.changed.join(', ')}` : 'nothing to do'),
  }))
}

function summarizePlan(plan: ClusterPlan): PlanSummary {
  return {
    endpoint: plan.endpoint,
    endpointIsVip: plan.endpointIsVip,
    members: plan.members,
    init: plan.init,
    joinAddress: plan.joinAddress,
    nodes: plan.nodes.map((n) => ({ name: n.machine.name, role: n.machine.role, phase: n.phase })),
  }
}

async function fetchKubeconfig(session: SshSession): Promise<string> {
  const text = (await session.run(`cat ${K3S_KUBECONFIG}`)).stdout
  if (!/\bserver:/.test(text)) {
    throw new ClusterError(
      `Cannot read the kubeconfig on ${session.host}: ${K3S_KUBECONFIG} has no server entry`,
    )
  }
  return text
}

function clientFor(kubeconfigText: string, address: string): KubeClient {
  return createKubeClient(
    parseKubeconfig(rewriteKubeconfigServer(kubeconfigText, apiUrl(address)), K3S_KUBECONFIG),
  )
}

/** Writes 0600 atomically; unchanged content is not rewritten. */
export async function writeKubeconfig(path: string, text: string): Promise<boolean> {
  const current = await readFile(path, 'utf8').catch(() => undefined)
  if (current === text) return false
  const temp = `${path}.${process.pid}.tmp`
  await writeFile(temp, text, { mode: 0o600 })
  await rename(temp, path)
  return true
}

/** A fresh node whose name the cluster still lists was rebuilt: delete the stale Node first. */
async function forgetRebuiltNode(
  api: KubeClient,
  machine: Machine,
  events: (event: ClusterEvent) => void,
): Promise<void> {
  const existing = await api.get(`/api/v1/nodes/${encodeURIComponent(machine.name)}`)
  if (existing === undefined) return
  await api.delete(`/api/v1/nodes/${encodeURIComponent(machine.name)}`)
  events({
    type: 'node.rebuilt',
    node: machine.name,
    detail:
      'its disk holds no cluster data but the cluster still listed it: removed the old node so it can rejoin',
  })
}

function describe(node: NodeStatus | undefined): string {
  if (node === undefined) return 'not registered with the API yet'
  if (node.ready) return 'Ready'
  return `NotReady${node.readyReason === undefined ? '' : `: ${node.readyReason}`}${node.readyMessage === undefined ? '' : ` (${node.readyMessage})`}`
}

export interface WaitReadyOptions {
  readonly timeoutMs: number
  readonly events: (event: ClusterEvent) => void
  /** Between two readings. @default 1000 */
  readonly pollMs?: number
  readonly signal?: AbortSignal
  /** @default the wall clock */
  readonly clock?: Clock
}

/**
 * Polls the API until every named node is Ready; returns the ones that are not, with what was
 * last seen (at the timeout, or when the signal aborts). A `node.waiting` event each time what a
 * node shows changes, `node.ready` once.
 */
export async function waitReady(
  api: KubeClient,
  names: readonly string[],
  options: WaitReadyOptions,
): Promise<Map<string, string>> {
  const { timeoutMs, events, signal } = options
  const last = new Map<string, string>(names.map((n) => [n, 'not checked yet']))
  const ready = new Set<string>()
  /** Records what a node shows now; an event when that changed. */
  const see = (n: string, seen: string, isReady: boolean) => {
    if (isReady) {
      ready.add(n)
      events({ type: 'node.ready', node: n })
    } else if (last.get(n) !== seen) {
      events({ type: 'node.waiting', node: n, lastSeen: seen })
    }
    last.set(n, seen)
  }
  const check = async (): Promise<true | undefined> => {
    const waiting = names.filter((n) => !ready.has(n))
    try {
      const nodes = await listNodes(api)
      for (const n of waiting) {
        const node = nodes.find((x) => x.name === n)
        see(n, describe(node), node?.ready === true)
      }
    } catch (error) {
      for (const n of waiting) see(n, `the API did not answer: ${(error as Error).message}`, false)
    }
    return ready.size === names.length ? true : undefined
  }
  try {
    await poll(check, {
      what: 'the nodes to be Ready',
      intervalMs: options.pollMs ?? CLUSTER_DEFAULTS.readyPollMs,
      timeoutMs,
      signal,
      clock: options.clock,
    })
    return new Map()
  } catch (error) {
    if (!(error instanceof PollTimeoutError) && signal?.aborted !== true) throw error
    return new Map([...last].filter(([n]) => !ready.has(n)))
  }
}

/** The host key recorded for this machine, if its address still matches. */
export function knownHostKey(record: MachineRecord | undefined, machine: Machine): string | undefined {
  return record !== undefined && record.ip === machine.ip ? record.hostKey : undefined
}
