/**
 * The PXE server's HTTP service: kernels, initrds, install trees and per-machine
 * files (from a FileSource), plus the endpoint installers call to report progress.
 *
 *   const http = await serveHttp({ files, machines, events, port: 8080 })
 *   ...
 *   await http.close()          // also ends keep-alive connections and running downloads
 *
 * Wire behaviour (see docs/metal-pxe-http.md):
 * - GET and HEAD only (405 with Allow otherwise), except `/report/<stage>` (GET or POST).
 * - Single byte ranges (RFC 9110 §14): 206 with Content-Range, 416 with `bytes *\/size`;
 *   several ranges in one request are answered with the whole file (200): no firmware or
 *   installer asks for multipart/byteranges, and a whole file is always a correct answer.
 * - The request path is percent-decoded exactly once, then normalised by normalizePath:
 *   a path that could escape is a 400, a missing file a 404.
 * - Bodies are streamed from ServedFile.read with backpressure and bounded memory (http-stream.ts):
 *   a client that does not read holds one small buffer; big buffers come from a server-wide budget.
 * - Connections are capped in number, per client, idle time and total time (http-limits.ts).
 *
 * The client gets a terse status line; the operator gets the detail in events.
 */

import { createServer, type IncomingMessage, type ServerResponse, STATUS_CODES } from 'node:http'
import type { AddressInfo, Socket } from 'node:net'
import { type Clock, type ClockTimer, systemClock } from './clock.ts'
import type { BootEventSink } from './events.ts'
import type { FileSource, Requester, ServedFile } from './files.ts'
import {
  DEFAULT_IDLE_TIMEOUT_MS,
  DEFAULT_MAX_CONNECTION_MS,
  DEFAULT_MAX_CONNECTIONS,
  DEFAULT_MAX_CONNECTIONS_PER_CLIENT,
  limitConnections,
  touch,
} from './http-limits.ts'
import {
  DEFAULT_MAX_LOG_BYTES,
  DEFAULT_MAX_REPORT_BYTES,
  type InstallReport,
  REPORT_STAGE,
  readReport,
} from './http-report.ts'
import {
  CONTENT_TYPES,
  clientIp,
  contentType,
  DEFAULT_MAX_PATH_LENGTH,
  decodeTarget,
  parseRangeHeader,
  type RangeAnswer,
  RequestError,
  routeRequest,
} from './http-request.ts'
import { BufferPool, DownloadAborted, sendRange } from './http-stream.ts'
import type { MachineDirectory } from './machine-directory.ts'
import { PXE_PORTS } from './ports.ts'
import { DEFAULT_PROGRESS_MS, ProgressThrottle } from './transfer-progress.ts'

// These names moved to http-request.ts and http-report.ts; they stay importable from here.
export {
  CONTENT_TYPES,
  contentType,
  DEFAULT_MAX_LOG_BYTES,
  DEFAULT_MAX_PATH_LENGTH,
  DEFAULT_MAX_REPORT_BYTES,
  decodeTarget,
  type InstallReport,
  parseRangeHeader,
  type RangeAnswer,
  REPORT_STAGE,
  RequestError,
}

/** @default '0.0.0.0' */
export const DEFAULT_HTTP_HOST = '0.0.0.0'
/** @default 80 (needs root or CAP_NET_BIND_SERVICE) */
export const DEFAULT_HTTP_PORT = PXE_PORTS.http
/**
 * Big buffers: what a download that proved it reads moves to (read from the file and written to the
 * socket at a time). Chosen with bench/http.ts; see bench/README.md.
 */
export const DEFAULT_CHUNK_SIZE = 4 * 1024 * 1024
/** Small buffers: what every download starts with, and all a client that does not read ever holds. */
export const DEFAULT_SMALL_CHUNK_SIZE = 128 * 1024
/** Bytes all downloads together may hold in big buffers (the rest go on with small ones). */
export const DEFAULT_BUFFER_BUDGET = 64 * 1024 * 1024
/** Bytes a download's socket must have accepted before it may use big buffers. */
export const DEFAULT_GROW_AFTER = 16 * 1024 * 1024
/** close() waits this long (of the server clock) for running requests, then returns regardless. */
export const DEFAULT_SHUTDOWN_MS = 1_000
export {
  DEFAULT_IDLE_TIMEOUT_MS,
  DEFAULT_MAX_CONNECTION_MS,
  DEFAULT_MAX_CONNECTIONS,
  DEFAULT_MAX_CONNECTIONS_PER_CLIENT,
}

export interface HttpOptions {
  /** Address to listen on. @default DEFAULT_HTTP_HOST */
  readonly host?: string
  /** Port to listen on; 0 picks a free one. @default DEFAULT_HTTP_PORT */
  readonly port?: number
  /** Everything that can be downloaded. */
  readonly files: FileSource
  /** Configured machines: attributes requests by client address, and gates /report. */
  readonly machines?: MachineDirectory
  /** Boot events ('pxe.listening', 'http.served', 'install.report', 'pxe.warning'). Silent when absent. */
  readonly events?: BootEventSink
  /** Called for each accepted installer report, after the 'install.report' event. A throw answers 500. */
  readonly onReport?: (report: InstallReport) => void | Promise<void>
  /** Big buffer size. @default DEFAULT_CHUNK_SIZE */
  readonly chunkSize?: number
  /** Small buffer size (at most chunkSize). @default DEFAULT_SMALL_CHUNK_SIZE */
  readonly smallChunkSize?: number
  /** Bytes all downloads may hold in big buffers; at least one chunkSize. @default DEFAULT_BUFFER_BUDGET */
  readonly bufferBudget?: number
  /** @default DEFAULT_GROW_AFTER */
  readonly growAfter?: number
  /** @default DEFAULT_MAX_CONNECTIONS */
  readonly maxConnections?: number
  /** @default DEFAULT_MAX_CONNECTIONS_PER_CLIENT */
  readonly maxConnectionsPerClient?: number
  /** A connection open this long (of `clock`) is closed. @default DEFAULT_MAX_CONNECTION_MS */
  readonly maxConnectionMs?: number
  /** @default DEFAULT_MAX_PATH_LENGTH */
  readonly maxPathLength?: number
  /** @default DEFAULT_MAX_REPORT_BYTES */
  readonly maxReportBytes?: number
  /** Longest installer log `POST /report/failed` takes. @default DEFAULT_MAX_LOG_BYTES */
  readonly maxLogBytes?: number
  /** A connection without progress this long (of `clock`) is closed. @default DEFAULT_IDLE_TIMEOUT_MS */
  readonly idleTimeoutMs?: number
  /** Time for connection limits and 'transfer.progress' throttling (injectable for tests). @default systemClock */
  readonly clock?: Clock
  /** At most one 'transfer.progress' per download per this many ms of `clock`. @default DEFAULT_PROGRESS_MS */
  readonly progressMs?: number
  /** close() waits at most this many ms of `clock` for requests still running. @default DEFAULT_SHUTDOWN_MS */
  readonly shutdownMs?: number
}

export interface HttpServer {
  /** The address listened on. */
  readonly address: string
  /** The port listened on (the chosen one when the option was 0). */
  readonly port: number
  /**
   * Stops listening, ends every connection (keep-alive and running downloads) and closes open files.
   * Resolves within `shutdownMs` whatever clients or file sources do (a request still waiting for its
   * source then finishes on its own, with its connection already closed).
   */
  close(): Promise<void>
}

function _checkInteger(name: string, value: number | undefined, min: number, max: number): void {
  if (value === undefined) return
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new RangeError(
      `Cannot serve HTTP: option "${name}" is ${String(value)}, expected an integer from ${min} to ${max}`,
    )
  }
}

/** What the request handlers share: the checked options. */
interface _Context {
  readonly files: FileSource
  readonly machines: MachineDirectory | undefined
  readonly emit: BootEventSink
  readonly onReport: HttpOptions['onReport']
  readonly pool: BufferPool
  readonly growAfter: number
  /**
   * What each connection's socket accepted in its earlier responses (keep-alive): the bytes of the
   * ones before the last, and the last one's counter (read when the next request comes, since its
   * final writes complete after sendRange returned).
   */
  readonly accepted: WeakMap<object, { readonly prior: number; readonly last: { readonly bytes: number } }>
  readonly maxPathLength: number
  readonly maxReportBytes: number
  readonly maxLogBytes: number
  readonly clock: Clock
  readonly progressMs: number
}

function _checkOptions(options: HttpOptions): void {
  _checkInteger('port', options.port, 0, 65535)
  _checkInteger('chunkSize', options.chunkSize, 4096, 64 * 1024 * 1024)
  _checkInteger('smallChunkSize', options.smallChunkSize, 1024, 64 * 1024 * 1024)
  _checkInteger('bufferBudget', options.bufferBudget, options.chunkSize ?? DEFAULT_CHUNK_SIZE, 2 ** 40)
  _checkInteger('growAfter', options.growAfter, 0, 2 ** 50)
  _checkInteger('maxConnections', options.maxConnections, 1, 1_000_000)
  _checkInteger('maxConnectionsPerClient', options.maxConnectionsPerClient, 1, 1_000_000)
  _checkInteger('maxConnectionMs', options.maxConnectionMs, 1, 2 ** 31 - 1)
  _checkInteger('maxPathLength', options.maxPathLength, 1, 65536)
  _checkInteger('maxReportBytes', options.maxReportBytes, 0, 1024 * 1024)
  _checkInteger('maxLogBytes', options.maxLogBytes, 0, 1024 * 1024)
  _checkInteger('idleTimeoutMs', options.idleTimeoutMs, 1, 2 ** 31 - 1)
  _checkInteger('progressMs', options.progressMs, 0, 2 ** 31 - 1)
  _checkInteger('shutdownMs', options.shutdownMs, 0, 2 ** 31 - 1)
  if (typeof options.files?.open !== 'function') {
    throw new TypeError('Cannot serve HTTP: option "files" must be a FileSource (an object with open())')
  }
}

function _warn(ctx: _Context, message: string): void {
  ctx.emit({ type: 'pxe.warning', service: 'http', message })
}

/** A terse answer for the client; `why` (when given) goes to the operator as a warning. */
function _reply(
  ctx: _Context,
  res: ServerResponse,
  status: number,
  why?: string,
  headers: Readonly<Record<string, string | number>> = {},
): void {
  if (why !== undefined) _warn(ctx, why)
  const body = status === 204 ? '' : `${status} ${STATUS_CODES[status] ?? ''}\n`
  res.writeHead(status, {
    ...(body === ''
      ? {}
      : { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': Buffer.byteLength(body) }),
    ...headers,
  })
  res.end(res.req.method === 'HEAD' ? undefined : body)
}

/** Status line and headers for a file (200, 206 or 416); the range to send, or undefined when none. */
function _writeFileHead(
  ctx: _Context,
  req: IncomingMessage,
  res: ServerResponse,
  path: string,
  size: number,
): { start: number; end: number } | undefined {
  // No validators (ETag/Last-Modified) to compare, so an If-Range can never match: whole file.
  const range: RangeAnswer =
    req.headers['if-range'] !== undefined ? { kind: 'whole' } : parseRangeHeader(req.headers.range, size)
  const common = { 'Content-Type': contentType(path), 'Accept-Ranges': 'bytes' }
  if (range.kind === 'unsatisfiable') {
    _reply(ctx, res, 416, undefined, { ...common, 'Content-Range': `bytes */${size}` })
    return undefined
  }
  const [start, end] = range.kind === 'partial' ? [range.start, range.end] : [0, size - 1]
  if (range.kind === 'partial') {
    res.writeHead(206, {
      ...common,
      'Content-Range': `bytes ${start}-${end}/${size}`,
      'Content-Length': end - start + 1,
    })
  } else {
    res.writeHead(200, { ...common, 'Content-Length': size })
  }
  if (req.method === 'HEAD' || end < start) {
    res.end()
    return undefined
  }
  return { start, end }
}

/**
 * sendRange() with what the connection proved: one that already took growAfter bytes (the kernel,
 * then the initrd, on one keep-alive connection) starts its next file with big buffers.
 */
async function _send(
  ctx: _Context,
  res: ServerResponse,
  file: ServedFile,
  range: { start: number; end: number },
  sent: { bytes: number; onSent?: () => void },
): Promise<void> {
  const socket = res.socket
  const earlier = socket === null ? undefined : ctx.accepted.get(socket)
  const before = earlier === undefined ? 0 : earlier.prior + earlier.last.bytes
  if (socket !== null) ctx.accepted.set(socket, { prior: before, last: sent })
  await sendRange(res, file, range.start, range.end, ctx.pool, sent, {
    growAfter: Math.max(0, ctx.growAfter - before),
  })
}

async function _serveFile(
  ctx: _Context,
  req: IncomingMessage,
  res: ServerResponse,
  path: string,
  requester: Requester,
  sent: { bytes: number; onSent?: () => void },
): Promise<void> {
  const who = requester.machine === undefined ? requester.ip : `${requester.machine} (${requester.ip})`
  let file: ServedFile | undefined
  try {
    file = await ctx.files.open(path, requester)
  } catch (cause) {
    _reply(
      ctx,
      res,
      500,
      `Cannot serve file: opening "${path}" for ${who} failed: ${(cause as Error).message}`,
    )
    return
  }
  if (file === undefined) {
    _reply(ctx, res, 404, `Cannot serve file: "${path}" asked by ${who} does not exist`)
    return
  }
  try {
    const range = _writeFileHead(ctx, req, res, path, file.size)
    if (range === undefined) return
    const throttle = new ProgressThrottle(ctx.clock, ctx.progressMs)
    const size = range.end - range.start + 1
    sent.onSent = () => {
      touch(res.socket)
      if (sent.bytes >= size || !throttle.due(sent.bytes)) return // the end is 'http.served'
      ctx.emit({
        type: 'transfer.progress',
        protocol: 'http',
        client: requester.ip,
        ...(requester.machine === undefined ? {} : { machine: requester.machine }),
        file: path,
        bytes: sent.bytes,
        size,
      })
    }
    try {
      await _send(ctx, res, file, range, sent)
    } catch (cause) {
      if (cause instanceof DownloadAborted) return
      _warn(ctx, `Cannot serve file: sending "${path}" to ${who} failed: ${(cause as Error).message}`)
      // Send what was already queued, then close: the client sees fewer bytes than
      // Content-Length (a truncated transfer), never padding or a second response.
      if (res.socket === null) res.destroy()
      else res.socket.end()
      return
    }
    res.end()
  } finally {
    await file.close().catch(() => undefined)
  }
}

async function _serveReport(
  ctx: _Context,
  req: IncomingMessage,
  res: ServerResponse,
  route: { readonly stage: string; readonly query: string },
  ip: string,
  machine: string | undefined,
): Promise<void> {
  const outcome = await readReport(
    req,
    route.stage,
    route.query,
    ip,
    machine,
    ctx.maxReportBytes,
    ctx.maxLogBytes,
  )
  if (outcome.kind === 'rejected') {
    _reply(ctx, res, outcome.status, outcome.why, outcome.headers)
    return
  }
  const { report } = outcome
  const { detail, log } = report
  ctx.emit({
    type: 'install.report',
    machine: report.machine,
    stage: report.stage,
    ...(detail === undefined ? {} : { detail }),
    ...(log === undefined ? {} : { log }),
  })
  try {
    await ctx.onReport?.(report)
  } catch (cause) {
    const why = `Cannot accept install report from ${report.machine}: onReport failed: ${(cause as Error).message}`
    _reply(ctx, res, 500, why)
    return
  }
  _reply(ctx, res, 204)
}

/** One request: routed, answered, and reported as an 'http.served' event when its response closes. */
async function _handle(ctx: _Context, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const started = performance.now()
  const ip = clientIp(req.socket.remoteAddress)
  const machine = ctx.machines?.byIp(ip)?.name
  const sent: { bytes: number; onSent?: () => void } = { bytes: 0 }
  let shownPath = (req.url ?? '').split('?')[0]?.slice(0, 256) ?? ''
  res.once('close', () => {
    ctx.emit({
      type: 'http.served',
      client: ip,
      ...(machine === undefined ? {} : { machine }),
      method: req.method ?? '',
      path: shownPath,
      status: res.statusCode,
      bytes: sent.bytes,
      ms: Math.round(performance.now() - started),
    })
  })
  const route = routeRequest(req.method, req.url ?? '', ip, ctx.maxPathLength)
  shownPath = route.shownPath
  if (route.kind === 'reject') _reply(ctx, res, route.status, route.why, route.headers)
  else if (route.kind === 'report') await _serveReport(ctx, req, res, route, ip, machine)
  else await _serveFile(ctx, req, res, route.path, { ip, machine }, sent)
}

function _listen(server: ReturnType<typeof createServer>, host: string, port: number): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const failed = (cause: Error): void => {
      const hint = port > 0 && port < 1024 ? ' (ports below 1024 need root or CAP_NET_BIND_SERVICE)' : ''
      reject(
        new Error(`Cannot serve HTTP: listening on ${host}:${port} failed: ${cause.message}${hint}`, {
          cause,
        }),
      )
    }
    server.once('error', failed)
    server.listen({ host, port }, () => {
      server.off('error', failed)
      resolve()
    })
  })
}

/**
 * Starts the HTTP service. Resolves once listening; rejects when the address cannot be bound
 * (port 80 needs root or CAP_NET_BIND_SERVICE).
 */
/** GRUB's HTTP client names itself `GRUB <version>` (grub-core/net/http.c: PACKAGE_STRING). */
export function isGrub(userAgent: string | undefined): boolean {
  return userAgent !== undefined && /^GRUB\b/.test(userAgent)
}

const _resetting = new WeakSet<Socket>()

/**
 * GRUB's TCP (grub-core/net/tcp.c) numbers its source ports from 21550 on every boot, starts its
 * sequence numbers at its uptime in ms, and forgets a connection once it has sent its FIN (it
 * answers nothing after). A server socket left in LAST_ACK or FIN_WAIT for that address and port
 * makes the next boot's SYN on the same port fail: a machine netbooting again within minutes (a
 * reinstall right after an install) stops after the kernel, never fetching the initrd. So when
 * GRUB closes a connection, it is reset at once: no state is left for that port.
 */
function resetOnPeerClose(socket: Socket): void {
  if (_resetting.has(socket)) return
  _resetting.add(socket)
  // Before Node's own 'end' handler, which shuts our side down: libuv refuses to reset a socket
  // that is shutting down (uv_tcp_close_reset: EINVAL), and Node then never closes its handle.
  socket.prependOnceListener('end', () => {
    if (socket.destroyed) return
    if (socket.writableEnded) socket.destroy()
    else socket.resetAndDestroy()
  })
}

export async function serveHttp(options: HttpOptions): Promise<HttpServer> {
  const host = options.host ?? DEFAULT_HTTP_HOST
  const port = options.port ?? DEFAULT_HTTP_PORT
  _checkOptions({ ...options, port })
  const chunkSize = options.chunkSize ?? DEFAULT_CHUNK_SIZE
  const ctx: _Context = {
    files: options.files,
    machines: options.machines,
    emit: options.events ?? (() => undefined),
    onReport: options.onReport,
    pool: new BufferPool({
      bigSize: chunkSize,
      smallSize: options.smallChunkSize ?? DEFAULT_SMALL_CHUNK_SIZE,
      maxBig: Math.floor((options.bufferBudget ?? DEFAULT_BUFFER_BUDGET) / chunkSize),
    }),
    growAfter: options.growAfter ?? DEFAULT_GROW_AFTER,
    accepted: new WeakMap(),
    maxPathLength: options.maxPathLength ?? DEFAULT_MAX_PATH_LENGTH,
    maxReportBytes: options.maxReportBytes ?? DEFAULT_MAX_REPORT_BYTES,
    maxLogBytes: options.maxLogBytes ?? DEFAULT_MAX_LOG_BYTES,
    clock: options.clock ?? systemClock,
    progressMs: options.progressMs ?? DEFAULT_PROGRESS_MS,
  }
  const running = new Set<Promise<void>>()
  const server = createServer((req, res) => {
    if (isGrub(req.headers['user-agent'])) resetOnPeerClose(req.socket)
    const job = _handle(ctx, req, res)
      .catch((cause: unknown) => {
        _warn(ctx, `Cannot serve file: unexpected failure for ${req.url}: ${(cause as Error).message}`)
        if (!res.headersSent) _reply(ctx, res, 500)
        else res.destroy()
      })
      .finally(() => running.delete(job))
    running.add(job)
  })
  const connections = limitConnections(server, {
    maxConnections: options.maxConnections ?? DEFAULT_MAX_CONNECTIONS,
    maxPerClient: options.maxConnectionsPerClient ?? DEFAULT_MAX_CONNECTIONS_PER_CLIENT,
    idleMs: options.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS,
    maxMs: options.maxConnectionMs ?? DEFAULT_MAX_CONNECTION_MS,
    clock: ctx.clock,
    clientIp,
    warn: (message) => _warn(ctx, message),
    // No connection left: every buffer slab goes back to the system.
    onIdle: () => ctx.pool.trim(),
  })
  await _listen(server, host, port)
  server.on('error', (cause) => _warn(ctx, `HTTP server error: ${cause.message}`))
  const bound = server.address() as AddressInfo
  ctx.emit({ type: 'pxe.listening', service: 'http', address: `${bound.address}:${bound.port}` })

  let closing: Promise<void> | undefined
  return {
    address: bound.address,
    port: bound.port,
    close(): Promise<void> {
      closing ??= (async () => {
        const stopped = new Promise<void>((resolve) => server.close(() => resolve()))
        server.closeAllConnections()
        connections.destroyAll()
        let timer: ClockTimer | undefined
        const deadline = new Promise<void>((resolve) => {
          timer = ctx.clock.setTimer(resolve, options.shutdownMs ?? DEFAULT_SHUTDOWN_MS)
        })
        await Promise.race([Promise.all([stopped, ...running]), deadline])
        timer?.cancel()
      })()
      return closing
    },
  }
}
