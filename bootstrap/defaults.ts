/** The defaults of `homelab bootstrap`, in one place (no imports: the CLI help reads them). */
export const BOOTSTRAP_DEFAULTS = {
  /** Each wait (CRDs Established, workloads ready). */
  timeoutMs: 600_000,
  /** Between two checks of a wait. */
  pollMs: 1000,
} as const
