/**
 * The waits of `homelab bootstrap` (CRDs Established, workloads ready): every pending name
 * checked each round with lib/poll, a `bootstrap.waiting` event per round that leaves some, and
 * at the timeout an error naming each with what was last seen.
 */
import { type Clock, PollTimeoutError, poll } from '../lib/poll/index.ts'

/** A name not ready yet, with what its check last saw. */
export interface Pending {
  name: string
  lastSeen: string
}

export interface WaitAllOptions {
  readonly timeoutMs: number
  readonly pollMs: number
  /** Called after each round that leaves names pending. */
  readonly onPending: (pending: Pending[]) => void
  readonly signal?: AbortSignal
  readonly clock?: Clock
}

/** The message when `step`'s wait ran out of time. */
export function waitError(
  step: 'established' | 'available',
  timeoutMs: number,
  pending: readonly Pending[],
): Error {
  const what = step === 'established' ? 'these CRDs are not Established' : 'these workloads are not ready'
  const fix =
    step === 'established'
      ? 'check the API server (journalctl -u k3s -e on a server), then run `homelab bootstrap` again'
      : 'check the pods: kubectl -n argocd get pods, kubectl -n argocd describe pod NAME (image pulls, node resources), then run `homelab bootstrap` again'
  return new Error(
    `Cannot install ArgoCD: after ${Math.round(timeoutMs / 1000)} s, ${what}: ` +
      `${pending.map((x) => `${x.name} (${x.lastSeen})`).join(', ')}: ${fix}`,
  )
}

/**
 * Checks each pending name (`check` returns undefined once it is ready, else what it shows) until
 * none is left; rejects with PollTimeoutError (lastSeen: the pending names) at the timeout.
 */
export async function waitAll(
  names: readonly string[],
  check: (name: string) => Promise<string | undefined>,
  options: WaitAllOptions,
): Promise<void> {
  let pending = [...names]
  await poll<true, Pending[]>(
    async ({ see }) => {
      const seen: Pending[] = []
      for (const name of pending) {
        const lastSeen = await check(name)
        if (lastSeen !== undefined) seen.push({ name, lastSeen })
      }
      if (seen.length === 0) return true
      pending = seen.map((x) => x.name)
      see(seen)
      options.onPending(seen)
      return undefined
    },
    {
      what: names.join(', '),
      intervalMs: options.pollMs,
      timeoutMs: options.timeoutMs,
      signal: options.signal,
      clock: options.clock,
    },
  )
}

export { PollTimeoutError }
