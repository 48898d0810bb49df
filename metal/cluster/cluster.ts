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
 *
 * buildCluster() is here; its phases are in phases.ts, the run's shared state and events in
 * run.ts, and the readiness wait in ready.ts. The public names are re-exported from here.
 */
import { readState } from '../provision/state.ts'
import { CLUSTER_DEFAULTS } from './defaults.ts'
import { withInstalledNics } from './nic.ts'
import {
  _connectAndProbe,
  _converge,
  _kubeconfigAndReady,
  _tokenAndRelease,
  factsOf,
  summarizePlan,
} from './phases.ts'
import { planCluster } from './plan.ts'
import { _clusterRun, type ClusterOptions, type NodeOutcome, outcomesOf } from './run.ts'

export { knownHostKey, kubeconfigSource, notReadyMessage, writeKubeconfig } from './phases.ts'
export { type WaitReadyOptions, waitReady } from './ready.ts'
export {
  ClusterError,
  type ClusterEvent,
  type ClusterOptions,
  type NodeOutcome,
  type PlanSummary,
} from './run.ts'
export { CLUSTER_DEFAULTS }

/** Converges the cluster; resolves with one outcome per machine (never throws for one node). */
export async function buildCluster(given: ClusterOptions): Promise<NodeOutcome[]> {
  // Each node's interface is the one its installed system reported (nic.ts), else homelab.yaml's.
  const { config, warnings } = withInstalledNics(given.config, (await readState(given.stateDir)).machines)
  const options: ClusterOptions = { ...given, config }
  for (const [node, message] of warnings) options.events({ type: 'node.nic', node, message })
  const run = _clusterRun(options)
  try {
    await _connectAndProbe(run)
    const facts = factsOf(run.runs.values())
    const plan = planCluster(options.config.machines, options.config.cluster.endpoint, facts)
    run.events({ type: 'cluster.plan', plan: summarizePlan(plan) })
    const { token, agentToken, artifacts } = await _tokenAndRelease(run, plan, facts)
    const converged = await _converge(run, plan, { token, agentToken }, artifacts)
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
