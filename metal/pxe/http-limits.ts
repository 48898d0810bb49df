/**
 * Limits on the HTTP service's connections, whatever clients do (docs/metal-pxe-http.md#limits):
 *
 * - at most `maxConnections` at once, and at most `maxPerClient` from one address: a connection over
 *   either is closed at once (one warning per address until it is back under its limit);
 * - a connection with no progress for `idleMs` of the server clock is closed (progress: a request
 *   received, or a chunk of a download accepted by the socket — see `touch`); a request whose
 *   headers trickle in is Node's `headersTimeout`'s (60 s);
 * - a connection open for `maxMs` in total is closed, busy or not.
 *
 * Timers run on the injectable Clock, so tests drive them with a ManualClock.
 */
import type { Server } from 'node:http'
import type { Socket } from 'node:net'
import type { Clock, ClockTimer } from './clock.ts'

/** Connections served at once. */
export const DEFAULT_MAX_CONNECTIONS = 1024
/** Connections from one client address at once (firmware and installers use a few). */
export const DEFAULT_MAX_CONNECTIONS_PER_CLIENT = 64
/** A connection without progress for this long is closed (a stalled client frees its file and buffers). */
export const DEFAULT_IDLE_TIMEOUT_MS = 120_000
/** A connection is closed after this long whatever it does (a 10 GB image at 100 Mbit/s takes 15 min). */
export const DEFAULT_MAX_CONNECTION_MS = 60 * 60 * 1000

export interface ConnectionLimits {
  readonly maxConnections: number
  readonly maxPerClient: number
  readonly idleMs: number
  readonly maxMs: number
  readonly clock: Clock
  /** The client address as events show it (IPv4-mapped IPv6 unwrapped). */
  readonly clientIp: (address: string | undefined) => string
  readonly warn: (message: string) => void
  /** Called when the last open connection ends. */
  readonly onIdle?: () => void
}

interface _Tracked {
  readonly ip: string
  readonly idle: ClockTimer
  readonly total: ClockTimer
}

const _tracked = new WeakMap<Socket, _Tracked>()

/** Progress on a connection: its idle timer starts again. */
export function touch(socket: Socket | null | undefined): void {
  if (socket) _tracked.get(socket)?.idle.refresh()
}

/** The connections open now, by client address (for tests and the operator). */
export interface ConnectionCounts {
  readonly total: number
  byClient(ip: string): number
  /**
   * Destroys every open connection. Node's closeAllConnections() misses some: connections idle
   * after a completed response to a client that vanished (GRUB, once the kernel it loaded runs)
   * were seen left open after close(), holding the process.
   */
  destroyAll(): void
}

/** Applies the limits to `server`'s connections; returns live counts. */
export function limitConnections(server: Server, limits: ConnectionLimits): ConnectionCounts {
  const perClient = new Map<string, number>()
  const warned = new Set<string>()
  let total = 0
  let warnedTotal = false
  const open = new Set<Socket>()
  server.on('connection', (socket: Socket) => {
    const ip = limits.clientIp(socket.remoteAddress)
    const mine = perClient.get(ip) ?? 0
    if (total >= limits.maxConnections || mine >= limits.maxPerClient) {
      const overall = total >= limits.maxConnections
      if (overall ? !warnedTotal : !warned.has(ip)) {
        if (overall) warnedTotal = true
        else warned.add(ip)
        limits.warn(
          overall
            ? `Refused connections: ${limits.maxConnections} are open (maxConnections); more are closed at once until some end`
            : `Refused connections from ${ip}: it has ${limits.maxPerClient} open (maxConnectionsPerClient); more are closed at once until some end`,
        )
      }
      socket.destroy()
      return
    }
    total++
    perClient.set(ip, mine + 1)
    const idle = limits.clock.setTimer(() => socket.destroy(), limits.idleMs)
    const whole = limits.clock.setTimer(() => socket.destroy(), limits.maxMs)
    _tracked.set(socket, { ip, idle, total: whole })
    open.add(socket)
    socket.once('close', () => {
      open.delete(socket)
      idle.cancel()
      whole.cancel()
      total--
      if (total < limits.maxConnections) warnedTotal = false
      if (total === 0) limits.onIdle?.()
      const left = (perClient.get(ip) ?? 1) - 1
      if (left <= 0) perClient.delete(ip)
      else perClient.set(ip, left)
      if (left < limits.maxPerClient) warned.delete(ip)
    })
  })
  // A request received is progress. (Bytes of a request still arriving are Node's headersTimeout's
  // business: a 'data' listener here would take the socket from the HTTP parser.)
  server.on('request', (req: { socket: Socket }) => touch(req.socket))
  return {
    get total() {
      return total
    },
    byClient: (ip) => perClient.get(ip) ?? 0,
    destroyAll: () => {
      for (const socket of open) socket.destroy()
    },
  }
}
