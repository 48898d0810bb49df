/**
 * The shared state of one `homelab cluster` run: the events it reports (ClusterEvent), its
 * options, the error that stops the whole run (ClusterError), and what the phases of
 * buildCluster() share: one NodeRun per machine (its SSH session, what it holds, its last step,
 * what changed, why it failed) and the helpers that record a node's steps and failure. The
 * outcome of each node is read from its NodeRun at the end.
 */
import type { Config, Machine } from '../../core/config/schema.ts'
import type { SshSession } from '../../lib/ssh/index.ts'
import { CLUSTER_DEFAULTS } from './defaults.ts'
import type { StepName } from './node.ts'
import type { NodeFacts } from './plan.ts'

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
  /** The node's interface differs from homelab.yaml's `nic` (metal/cluster/nic.ts): which is used, and the fix. */
  | { readonly type: 'node.nic'; readonly node: string; readonly message: string }
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
  /** How long k3s may take from start to ready on one node. @default WAIT_DEFAULTS.startMs */
  readonly startTimeoutMs?: number
  readonly startPollMs?: number
  /** How long joins wait for the join address to answer /cacerts. @default WAIT_DEFAULTS.cacertsMs */
  readonly cacertsTimeoutMs?: number
  readonly cacertsPollMs?: number
  /** How long a rebuilt node's deleted Node may take to go. @default WAIT_DEFAULTS.nodeGoneMs */
  readonly nodeGoneTimeoutMs?: number
  readonly signal?: AbortSignal
}

export class ClusterError extends Error {
  readonly code = 'HOMELAB_CLUSTER'
  override name = 'ClusterError'
}
export interface NodeRun {
  readonly machine: Machine
  session?: SshSession
  facts?: NodeFacts
  lastStep: StepName
  changed: StepName[]
  failed?: string
}

/** What the phases of buildCluster() share. */
export interface ClusterRun {
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

export function _clusterRun(options: ClusterOptions): ClusterRun {
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

export function outcomesOf(runs: Map<string, NodeRun>): NodeOutcome[] {
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
