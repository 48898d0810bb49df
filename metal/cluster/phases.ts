/**
 * The phases of buildCluster() (cluster.ts), in order: connect to every node and probe it (host
 * keys pinned, first contact recorded); the facts the plan is made from and its summary; the token
 * and the k3s release of each architecture; converging the nodes (members, the initialising
 * server, then joins, with rebuilt nodes forgotten first); and writing the kubeconfig, then
 * waiting until every node is Ready. Their pure parts (kubeconfigSource, notReadyMessage,
 * knownHostKey) and writeKubeconfig are exported for tests and `node remove`.
 */
import { chmod, readFile, rename, stat, writeFile } from 'node:fs/promises'
import type { Machine } from '../../core/config/schema.ts'
import {
  createKubeClient,
  type KubeClient,
  parseKubeconfig,
  rewriteKubeconfigServer,
} from '../../lib/kube/index.ts'
import { connectSsh, runOnMachines, SSH_DEFAULTS, type SshSession, sh } from '../../lib/ssh/index.ts'
import { type MachineRecord, readState, writeState } from '../provision/state.ts'
import { CLUSTER_DEFAULTS } from './defaults.ts'
import { convergeNode, probeNode, SERVER_TOKEN } from './node.ts'
import { type ClusterPlan, chooseToken, type NodeFacts, type PlannedNode } from './plan.ts'
import { waitReady } from './ready.ts'
import { ensureK3s, type K3sArch, type K3sArtifact, k3sArch } from './release.ts'
import { apiUrl, K3S_KUBECONFIG } from './render.ts'
import {
  ClusterError,
  type ClusterEvent,
  type ClusterOptions,
  type ClusterRun,
  type NodeRun,
  type PlanSummary,
} from './run.ts'
import {
  agentTokenPath,
  fullToken,
  generateToken,
  parseToken,
  readToken,
  tokenPath,
  writeToken,
} from './token.ts'
import { boundedSession, runBounded, waitEtcdHealthy, waitForCacerts, waitNodeGone } from './wait.ts'

/** 1. Connect and probe, in parallel; host keys are pinned (first contact is recorded). */
export async function _connectAndProbe(cluster: ClusterRun): Promise<void> {
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
      run.session = await connectSshBounded({
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

/** connectSsh(), with deadlines on the session's file writes and uploads (wait.ts). */
async function connectSshBounded(options: Parameters<typeof connectSsh>[0]): Promise<SshSession> {
  return boundedSession(await connectSsh(options))
}

/** 2. What the nodes that were probed (and did not fail) hold, by name. */
export function factsOf(runs: Iterable<NodeRun>): Map<string, NodeFacts> {
  const facts = new Map<string, NodeFacts>()
  for (const run of runs)
    if (run.facts !== undefined && run.failed === undefined) facts.set(run.machine.name, run.facts)
  return facts
}

export function summarizePlan(plan: ClusterPlan): PlanSummary {
  return {
    endpoint: plan.endpoint,
    endpointIsVip: plan.endpointIsVip,
    members: plan.members,
    init: plan.init,
    joinAddress: plan.joinAddress,
    nodes: plan.nodes.map((n) => ({ name: n.machine.name, role: n.machine.role, phase: n.phase })),
  }
}

/** 3. The token (stored, read from a node, or new) and the k3s release of each architecture. */
export async function _tokenAndRelease(
  cluster: ClusterRun,
  plan: ClusterPlan,
  facts: ReadonlyMap<string, NodeFacts>,
) {
  const { options, events } = cluster
  const tokenFile = tokenPath(options.stateDir)
  const choice = chooseToken(await readToken(tokenFile), plan, facts, tokenFile)
  const token = choice.token ?? generateToken()
  if (choice.source !== 'stored') await writeToken(tokenFile, token)
  // The agent token: separate, made once, kept beside the server token.
  const agentFile = agentTokenPath(options.stateDir)
  let agentToken = await readToken(agentFile)
  if (agentToken === undefined) {
    agentToken = generateToken()
    await writeToken(agentFile, agentToken)
  }
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
  return { token, agentToken, artifacts }
}

/** What converging leaves for the last phase. */
export interface Converged {
  /** The kubeconfig of a server, read once per server. */
  readonly kubeconfigOf: (name: string) => Promise<string>
  /** A client made while converging (to forget rebuilt nodes), if one was. */
  readonly api: KubeClient | undefined
  /** Servers seen Ready after their change while converging. */
  readonly confirmed: ReadonlySet<string>
}

/** The secrets of the run: the server token's and the agent token's. */
export interface Tokens {
  readonly token: string
  readonly agentToken: string
}

/**
 * 4. Members, then the first server of a new cluster, then joins. Servers one at a time, each
 * Ready before the next (a version or config change never takes the control plane down at once);
 * agents in bounded parallel. Joins wait until the join address answers /cacerts, and use the
 * full tokens (K10<CA hash>::…) read from a running server.
 */
export async function _converge(
  cluster: ClusterRun,
  plan: ClusterPlan,
  tokens: Tokens,
  artifacts: ReadonlyMap<K3sArch, K3sArtifact>,
): Promise<Converged> {
  const { runs, ok, parallel, events, options } = cluster
  const endpoint = options.config.cluster.endpoint
  const kubeconfigs = new Map<string, Promise<string>>()
  const kubeconfigOf = (name: string): Promise<string> => {
    let text = kubeconfigs.get(name)
    if (text === undefined) {
      text = fetchKubeconfig(runs.get(name)?.session as SshSession)
      kubeconfigs.set(name, text)
    }
    return text
  }
  const confirmed = new Set<string>()
  let api: KubeClient | undefined
  let caHash: string | undefined
  const converge = async (planned: PlannedNode) => {
    const run = runs.get(planned.machine.name) as NodeRun
    if (run.session === undefined || run.facts === undefined) return
    try {
      await convergeNode({
        session: run.session,
        node: planned,
        facts: run.facts,
        artifact: artifacts.get(k3sArch(run.facts.arch) as K3sArch) as K3sArtifact,
        ...nodeTokens(planned, run.facts, tokens, caHash),
        endpoint,
        endpointIsVip: plan.endpointIsVip,
        report: cluster.reporter(run),
        onUpload: uploadProgress(run.machine.name, events),
        ...(options.startTimeoutMs === undefined ? {} : { startTimeoutMs: options.startTimeoutMs }),
        ...(options.startPollMs === undefined ? {} : { startPollMs: options.startPollMs }),
      })
    } catch (error) {
      cluster.fail(run, error)
    }
  }
  /** A server whose k3s (re)started: Ready through the API before the next one is touched. */
  const readyBeforeNext = async (planned: PlannedNode): Promise<void> => {
    const run = runs.get(planned.machine.name) as NodeRun
    if (!ok(run.machine.name) || !run.changed.includes('service')) return
    api ??= clientFor(await kubeconfigOf(run.machine.name), plan.joinAddress)
    const timeoutMs = options.readyTimeoutMs ?? CLUSTER_DEFAULTS.readyTimeoutMs
    const notReady = await waitReady(api, [run.machine.name], {
      timeoutMs,
      events,
      pollMs: options.readyPollMs,
      signal: options.signal,
    })
    for (const [name, lastSeen] of notReady) {
      run.lastStep = 'ready'
      cluster.fail(run, new Error(notReadyMessage(run.machine, timeoutMs, lastSeen)))
      throw new ClusterError(
        `Cannot go on with the other servers: ${name} is not Ready after its change (see above); the servers after it were left as they were`,
      )
    }
    // And etcd has quorum again, with this server's member back, before the next one restarts.
    await waitEtcdHealthy(api, {
      timeoutMs,
      ...(options.readyPollMs === undefined ? {} : { pollMs: options.readyPollMs }),
    }).catch((error: unknown) => {
      run.lastStep = 'ready'
      cluster.fail(run, error)
      throw new ClusterError(
        `Cannot go on with the other servers: etcd is not healthy after ${run.machine.name}'s change (see above); the servers after it were left as they were`,
      )
    })
    confirmed.add(run.machine.name)
  }
  const servers = (list: PlannedNode[]) => list.filter((n) => n.machine.role === 'server')
  const agents = (list: PlannedNode[]) => list.filter((n) => n.machine.role === 'agent')
  const members = plan.nodes.filter((n) => n.phase === 'member')
  // caHash from a member's full token (read at probe time), for joiners and agents.
  caHash = caHashOf(members.map((n) => runs.get(n.machine.name)?.facts?.serverToken))
  for (const planned of servers(members)) {
    await converge(planned)
    await readyBeforeNext(planned)
  }
  const initNode = plan.nodes.find((n) => n.phase === 'init')
  if (initNode !== undefined) {
    await converge(initNode)
    if (!ok(initNode.machine.name)) {
      throw new ClusterError(
        `Cannot start the cluster: ${initNode.machine.name} failed to initialise it (see above); no other node was changed`,
      )
    }
  }
  const source = [initNode?.machine.name, ...plan.members].find(
    (n) => n !== undefined && ok(n) && runs.get(n)?.machine.role === 'server',
  )
  if (caHash === undefined && source !== undefined) {
    caHash = caHashOf([await readServerToken(runs.get(source)?.session as SshSession)])
  }
  // The join address answers before anything goes through it (the first server's readiness too).
  const joiners = plan.nodes.filter((n) => n.phase === 'join')
  if (joiners.length > 0) await _beforeJoins(cluster, plan, joiners, caHash)
  if (initNode !== undefined) await readyBeforeNext(initNode)
  await runOnMachines(agents(members), parallel, converge)
  if (source !== undefined && joiners.some((n) => n.fresh && ok(n.machine.name))) {
    api ??= clientFor(await kubeconfigOf(source), plan.joinAddress)
    for (const planned of joiners.filter((n) => n.fresh && ok(n.machine.name))) {
      await forgetRebuiltNode(api, planned.machine, events, options).catch((error: unknown) =>
        cluster.fail(runs.get(planned.machine.name) as NodeRun, error),
      )
    }
  }
  for (const planned of servers(joiners).filter((n) => ok(n.machine.name))) {
    await converge(planned)
    await readyBeforeNext(planned)
  }
  await runOnMachines(
    agents(joiners).filter((n) => ok(n.machine.name)),
    parallel,
    converge,
  )
  return { kubeconfigOf, api, confirmed }
}

/** Before any join: the CA hash is known and the join address answers /cacerts; else the joiners fail. */
async function _beforeJoins(
  cluster: ClusterRun,
  plan: ClusterPlan,
  joiners: PlannedNode[],
  caHash: string | undefined,
): Promise<void> {
  const { runs, options, events } = cluster
  const waiting = joiners.filter((n) => cluster.ok(n.machine.name) && runs.get(n.machine.name)?.session)
  if (waiting.length === 0) return
  const failAll = (error: unknown) => {
    for (const n of waiting) cluster.fail(runs.get(n.machine.name) as NodeRun, error)
  }
  if (caHash === undefined) {
    failAll(
      new Error(
        `Cannot join: no running server's ${SERVER_TOKEN} could be read for the cluster's CA hash (is a server of the cluster up?)`,
      ),
    )
    return
  }
  try {
    await waitForCacerts(plan.joinAddress, {
      ...(options.cacertsTimeoutMs === undefined ? {} : { timeoutMs: options.cacertsTimeoutMs }),
      ...(options.cacertsPollMs === undefined ? {} : { pollMs: options.cacertsPollMs }),
      onState: (seen) => {
        for (const n of waiting) {
          events({
            type: 'node.step',
            node: n.machine.name,
            step: 'connect',
            status: 'running',
            detail: `waiting for ${apiUrl(plan.joinAddress)}/cacerts: ${seen}`,
          })
        }
      },
    })
  } catch (error) {
    failAll(error)
  }
}

/**
 * What a node's token file holds: a node whose file already holds this cluster's secret keeps it
 * (no restart for nothing); the first server the bare secret it creates the cluster with; joining
 * servers the full server token and agents the full agent token, so they check the cluster CA.
 */
export function nodeTokens(
  planned: PlannedNode,
  facts: NodeFacts,
  tokens: Tokens,
  caHash: string | undefined,
): { token: string; agentToken?: string } {
  const server = planned.machine.role === 'server'
  const secret = server ? tokens.token : tokens.agentToken
  const onNode = facts.token === undefined ? undefined : parseToken(facts.token)
  const kept =
    onNode !== undefined && onNode.secret === secret && (onNode.caHash !== '' || planned.phase !== 'join')
  const token = kept
    ? (facts.token as string)
    : planned.phase === 'init' || caHash === undefined
      ? secret
      : fullToken(caHash, server ? 'server' : 'node', secret)
  return server ? { token, agentToken: tokens.agentToken } : { token }
}

/** The CA hash of the first full token among these. */
function caHashOf(tokens: readonly (string | undefined)[]): string | undefined {
  for (const t of tokens) {
    const hash = t === undefined ? undefined : parseToken(t)?.caHash
    if (hash) return hash
  }
  return undefined
}

async function readServerToken(session: SshSession): Promise<string | undefined> {
  const read = await runBounded(session, sh`cat ${SERVER_TOKEN} 2>/dev/null || true`, 'read the server token')
  return read.stdout.trim() || undefined
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
export async function _kubeconfigAndReady(
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
  const waitFor = [...runs.values()].filter(
    (r) => r.failed === undefined && r.facts !== undefined && !converged.confirmed.has(r.machine.name),
  )
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

async function fetchKubeconfig(session: SshSession): Promise<string> {
  const text = (await runBounded(session, `cat ${K3S_KUBECONFIG}`, 'read the kubeconfig')).stdout
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

/**
 * Writes 0600 atomically; unchanged content is not rewritten, but its mode is made 0600 again on
 * every run (a kubeconfig left readable by others is a cluster-admin credential for anyone).
 */
export async function writeKubeconfig(path: string, text: string): Promise<boolean> {
  const current = await readFile(path, 'utf8').catch(() => undefined)
  if (current === text) {
    if (((await stat(path)).mode & 0o777) !== 0o600) await chmod(path, 0o600)
    return false
  }
  const temp = `${path}.${process.pid}.tmp`
  await writeFile(temp, text, { mode: 0o600 })
  await rename(temp, path)
  return true
}

/**
 * A fresh node whose name the cluster still lists was rebuilt: delete the stale Node, then wait
 * until it is gone (k3s removes a server's etcd member in the Node's finalizer, so DELETE returns
 * while the Node is still there; a server joining before then is refused as a duplicate name).
 */
async function forgetRebuiltNode(
  api: KubeClient,
  machine: Machine,
  events: (event: ClusterEvent) => void,
  options: ClusterOptions,
): Promise<void> {
  const path = `/api/v1/nodes/${encodeURIComponent(machine.name)}`
  const existing = await api.get(path)
  if (existing === undefined) return
  if ((existing as { metadata?: { deletionTimestamp?: string } }).metadata?.deletionTimestamp === undefined) {
    await api.delete(path)
  }
  await waitNodeGone(api, machine.name, {
    ...(options.nodeGoneTimeoutMs === undefined ? {} : { timeoutMs: options.nodeGoneTimeoutMs }),
    ...(options.readyPollMs === undefined ? {} : { pollMs: options.readyPollMs }),
  })
  events({
    type: 'node.rebuilt',
    node: machine.name,
    detail:
      'its disk holds no cluster data but the cluster still listed it: removed the old node (and waited until it was gone) so it can rejoin',
  })
}

/** The host key recorded for this machine, if its address still matches. */
export function knownHostKey(record: MachineRecord | undefined, machine: Machine): string | undefined {
  return record !== undefined && record.ip === machine.ip ? record.hostKey : undefined
}
