/** The defaults of `homelab cluster` and `homelab node remove`, in one place (no imports: the CLI help reads them). */
export const CLUSTER_DEFAULTS = {
  /** How long every node may take to turn Ready. */
  readyTimeoutMs: 600_000,
  /** Between two readings of the nodes' readiness. */
  readyPollMs: 1000,
  /** Nodes converged at once (agents, members). */
  parallel: 4,
  /** SSH connection retries per node, with backoff (the same as lib/ssh's own default). */
  sshRetries: 5,
  /** How long `node remove` allows the pods to leave a drained node. */
  drainTimeoutMs: 300_000,
} as const
