/**
 * Bounded, observable waits of `homelab cluster` and `homelab node remove`: nothing on a node is
 * waited for without a deadline, and a wait that runs out names what it last saw.
 *
 *   runBounded()    one SSH command with a deadline: `timeout` on the node, and a timer here too
 *                   (a dead link or a hung sshd never answers, whatever runs on the node);
 *   startUnit()     `systemctl start|restart --no-block`, then polls the unit's state until it is
 *                   active (k3s's unit is Type=notify: active means k3s sent READY=1), failed, or
 *                   the deadline passed; the error carries the last state seen;
 *   waitForCacerts() polls https://ADDRESS:6443/cacerts until it answers 200: what a joining k3s
 *                   asks first (pkg/clientaccess/token.go, getCACerts), only once, fatal if it fails.
 *
 * Every wait takes a Clock (lib/poll), so tests drive time by hand.
 */
import { request } from 'node:https'
import { type Clock, PollTimeoutError, poll, REAL_CLOCK } from '../../lib/poll/index.ts'
import { type SshSession, sh } from '../../lib/ssh/index.ts'
import { apiUrl } from './render.ts'

/** The deadlines, in one place. */
export const WAIT_DEFAULTS = {
  /** One ordinary SSH command (write a file, read a state). */
  commandMs: 60_000,
  /** k3s from `systemctl start` to READY=1: a server's etcd and apiserver, an agent's node setup. */
  startMs: 300_000,
  /** Between two readings of a unit's state. */
  startPollMs: 2000,
  /** The join address answering /cacerts (kube-vip pulling its image and winning the lease). */
  cacertsMs: 300_000,
  cacertsPollMs: 2000,
  /** The uninstall script: the killall script, unmounts, removals. */
  uninstallMs: 300_000,
  /** A deleted Node to be gone (k3s's finalizer removes its etcd member first). */
  nodeGoneMs: 300_000,
  nodeGonePollMs: 2000,
  /** The k3s binary (about 70 MB) to one node. */
  uploadMs: 1_800_000,
} as const

export class WaitTimeoutError extends Error {
  readonly code = 'HOMELAB_CLUSTER_WAIT'
  override name = 'WaitTimeoutError'
  /** What was last seen before the deadline. */
  readonly lastSeen: string
  constructor(message: string, lastSeen: string) {
    super(message)
    this.lastSeen = lastSeen
  }
}

/**
 * Runs `script` on the node within `timeoutMs`: the node's `timeout` ends it (TERM, then KILL 5 s
 * later), and if the node does not answer by then plus 10 s, the promise rejects here anyway.
 */
export async function runBounded(
  session: SshSession,
  script: string,
  what: string,
  timeoutMs: number = WAIT_DEFAULTS.commandMs,
  options: { readonly allowFailure?: boolean } = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  const seconds = Math.max(1, Math.ceil(timeoutMs / 1000))
  const bounded = sh`timeout -k 5 ${String(seconds)} sh -c ${script}`
  let timer: NodeJS.Timeout | undefined
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        reject(
          new WaitTimeoutError(
            `Cannot ${what} on ${session.host}: no answer within ${seconds + 10} s (is the machine up and its SSH session alive?)`,
            'no answer',
          ),
        ),
      (seconds + 10) * 1000,
    )
    timer.unref()
  })
  try {
    const result = await Promise.race([session.run(bounded, { allowFailure: true }), late])
    if (result.code === 124 || result.code === 137) {
      throw new WaitTimeoutError(
        `Cannot ${what} on ${session.host}: still running after ${seconds} s, stopped (exit ${result.code})`,
        result.stderr.trim().split('\n').slice(-3).join(' | '),
      )
    }
    if (result.code !== 0 && options.allowFailure !== true) {
      const tail = result.stderr.trim().split('\n').slice(-5).join('\n')
      throw new Error(
        `Cannot ${what} on ${session.host}: exit code ${result.code}${tail ? `:\n${tail}` : ''}`,
      )
    }
    return result
  } finally {
    clearTimeout(timer)
  }
}

/** What `systemctl show -p ActiveState -p SubState -p Result` prints, read. */
export interface UnitState {
  readonly active: string
  readonly sub: string
  readonly result: string
}

export function parseUnitState(text: string): UnitState {
  const get = (key: string) => new RegExp(`^${key}=(.*)$`, 'm').exec(text)?.[1]?.trim() ?? 'unknown'
  return { active: get('ActiveState'), sub: get('SubState'), result: get('Result') }
}

export function describeUnitState(state: UnitState): string {
  return `${state.active} (${state.sub}${state.result !== 'success' && state.result !== 'unknown' ? `, result ${state.result}` : ''})`
}

export interface StartUnitOptions {
  readonly timeoutMs?: number
  readonly pollMs?: number
  readonly clock?: Clock
  /** Each new state seen (for the node's live line). */
  readonly onState?: (state: string) => void
}

/**
 * poll() for the waits of this module: the check reports each state it sees with `see` (new ones
 * reach `onState`), and running out of time becomes a WaitTimeoutError whose message `timedOut`
 * builds from the last state seen. Other errors (a failed unit) pass through.
 */
async function waitUntil(
  check: (see: (state: string) => void) => Promise<true | undefined>,
  options: {
    readonly what: string
    readonly intervalMs: number
    readonly timeoutMs: number
    readonly clock: Clock | undefined
    /** The state named when the check never saw one. */
    readonly initial: string
    readonly onState?: ((state: string) => void) | undefined
  },
  timedOut: (last: string) => string,
): Promise<void> {
  let last = options.initial
  const see = (state: string): void => {
    if (state !== last) options.onState?.(state)
    last = state
  }
  try {
    await poll(() => check(see), {
      what: options.what,
      intervalMs: options.intervalMs,
      timeoutMs: options.timeoutMs,
      clock: options.clock ?? REAL_CLOCK,
    })
  } catch (error) {
    if (!(error instanceof PollTimeoutError)) throw error
    throw new WaitTimeoutError(timedOut(last), last)
  }
}

/**
 * `systemctl ACTION --no-block UNIT`, then the unit's state polled until it is active. Rejects at
 * a failed unit or at the deadline, naming the last state seen and where to look.
 */
export async function startUnit(
  session: SshSession,
  unit: string,
  action: 'start' | 'restart',
  options: StartUnitOptions = {},
): Promise<void> {
  const timeoutMs = options.timeoutMs ?? WAIT_DEFAULTS.startMs
  await runBounded(session, sh`systemctl ${action} --no-block ${unit}`, `${action} ${unit}`)
  const hint = `check on the node: journalctl -u ${unit} -e`
  await waitUntil(
    async (see) => {
      const shown = await runBounded(
        session,
        sh`systemctl show -p ActiveState -p SubState -p Result ${unit}`,
        `read the state of ${unit}`,
      )
      const state = parseUnitState(shown.stdout)
      const text = describeUnitState(state)
      see(text)
      if (state.active === 'active') return true
      if (state.active === 'failed') {
        throw new Error(`${unit} failed to start: ${text}; ${hint}`)
      }
      return undefined
    },
    {
      what: `${unit} to start`,
      intervalMs: options.pollMs ?? WAIT_DEFAULTS.startPollMs,
      timeoutMs,
      clock: options.clock,
      initial: 'not read yet',
      onState: options.onState,
    },
    (last) =>
      `${unit} did not report ready within ${Math.round(timeoutMs / 1000)} s; last state: ${last}; ${hint}`,
  )
}

/** One GET of /cacerts: the status code, or the error's message. */
export type CacertsProbe = (url: string) => Promise<number | string>

/** GET with TLS unchecked (the CA is what is being fetched), 10 s at most, like k3s's own client. */
export const probeCacerts: CacertsProbe = (url) =>
  new Promise((resolve) => {
    const req = request(url, { method: 'GET', rejectUnauthorized: false, timeout: 10_000 }, (res) => {
      res.resume()
      resolve(res.statusCode ?? 0)
    })
    req.on('timeout', () => req.destroy(new Error('no answer within 10 s')))
    req.on('error', (error) => resolve(error.message))
    req.end()
  })

export interface WaitForCacertsOptions {
  readonly timeoutMs?: number
  readonly pollMs?: number
  readonly clock?: Clock
  readonly probe?: CacertsProbe
  readonly onState?: (seen: string) => void
}

/** Polls https://ADDRESS:6443/cacerts until it answers 200; rejects at the deadline with the last answer. */
export async function waitForCacerts(address: string, options: WaitForCacertsOptions = {}): Promise<void> {
  const url = `${apiUrl(address)}/cacerts`
  const probe = options.probe ?? probeCacerts
  const timeoutMs = options.timeoutMs ?? WAIT_DEFAULTS.cacertsMs
  await waitUntil(
    async (see) => {
      const answer = await probe(url)
      see(typeof answer === 'number' ? `HTTP ${answer}` : answer)
      return answer === 200 ? true : undefined
    },
    {
      what: `${url} to answer`,
      intervalMs: options.pollMs ?? WAIT_DEFAULTS.cacertsPollMs,
      timeoutMs,
      clock: options.clock,
      initial: 'not asked yet',
      onState: options.onState,
    },
    (last) =>
      `Cannot join through ${address}: ${url} did not answer within ${Math.round(timeoutMs / 1000)} s (last: ${last}); k3s on a joining node asks it once and stops if it fails: check that kube-vip holds ${address} on a server (crictl ps | grep kube-vip; journalctl -u k3s -e)`,
  )
}

/** GETs until the API answers 404 for the Node; rejects at the deadline with what was last seen. */
export async function waitNodeGone(
  api: { get(path: string): Promise<unknown> },
  name: string,
  options: { readonly timeoutMs?: number; readonly pollMs?: number; readonly clock?: Clock } = {},
): Promise<void> {
  const timeoutMs = options.timeoutMs ?? WAIT_DEFAULTS.nodeGoneMs
  await waitUntil(
    async (see) => {
      const node = (await api.get(`/api/v1/nodes/${encodeURIComponent(name)}`)) as
        | { metadata?: { deletionTimestamp?: string; finalizers?: string[] } }
        | undefined
      if (node === undefined) return true
      const finalizers = node.metadata?.finalizers ?? []
      see(
        node.metadata?.deletionTimestamp === undefined
          ? 'still listed, not being deleted'
          : `terminating${finalizers.length > 0 ? ` (finalizers: ${finalizers.join(', ')})` : ''}`,
      )
      return undefined
    },
    {
      what: `node ${name} to be gone`,
      intervalMs: options.pollMs ?? WAIT_DEFAULTS.nodeGonePollMs,
      timeoutMs,
      clock: options.clock,
      initial: 'not read yet',
    },
    (last) =>
      `Cannot remove node ${name}: the API still lists it after ${Math.round(timeoutMs / 1000)} s (${last}); k3s removes a server's etcd member before the Node goes: check the servers' logs (journalctl -u k3s -e)`,
  )
}

/** Rejects with a WaitTimeoutError when `promise` has not settled within `ms`. */
export async function within<T>(promise: Promise<T>, ms: number, message: () => string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new WaitTimeoutError(message(), 'no answer')), ms)
    timer.unref()
  })
  try {
    return await Promise.race([promise, late])
  } finally {
    clearTimeout(timer)
  }
}

/**
 * The session with deadlines on its file operations too (lib/ssh's ensureFile() and upload() have
 * none of their own): a file write within WAIT_DEFAULTS.commandMs, an upload within uploadMs.
 */
export function boundedSession(session: SshSession, uploadMs: number = WAIT_DEFAULTS.uploadMs): SshSession {
  return {
    host: session.host,
    hostKey: session.hostKey,
    run: (script, options) => session.run(script, options),
    ensureFile: (path, content, mode) =>
      within(
        session.ensureFile(path, content, mode),
        WAIT_DEFAULTS.commandMs,
        () => `Cannot write ${path} on ${session.host}: no answer within ${WAIT_DEFAULTS.commandMs / 1000} s`,
      ),
    upload: (local, remote, options) =>
      within(
        session.upload(local, remote, options),
        uploadMs,
        () => `Cannot upload ${remote} to ${session.host}: not done within ${uploadMs / 1000} s`,
      ),
    close: () => session.close(),
  }
}

/**
 * Polls the API server's etcd readiness check (`GET /readyz/etcd`, a kube-apiserver health check)
 * until it answers 200: the etcd cluster behind the API has quorum again. Rejects at the deadline
 * with the last answer.
 */
export async function waitEtcdHealthy(
  api: { request<T>(method: string, path: string, options?: { timeoutMs?: number }): Promise<T> },
  options: { readonly timeoutMs?: number; readonly pollMs?: number; readonly clock?: Clock } = {},
): Promise<void> {
  const timeoutMs = options.timeoutMs ?? WAIT_DEFAULTS.startMs
  await waitUntil(
    async (see) => {
      try {
        await api.request('GET', '/readyz/etcd', { timeoutMs: 10_000 })
        return true
      } catch (error) {
        see(error instanceof Error ? error.message : String(error))
        return undefined
      }
    },
    {
      what: 'etcd to be healthy',
      intervalMs: options.pollMs ?? WAIT_DEFAULTS.startPollMs,
      timeoutMs,
      clock: options.clock,
      initial: 'not asked yet',
    },
    (last) =>
      `etcd was not healthy within ${Math.round(timeoutMs / 1000)} s (GET /readyz/etcd: ${last}); check the servers: journalctl -u k3s -e`,
  )
}
