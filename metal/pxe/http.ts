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
 * - Bodies are streamed from ServedFile.read with backpressure: each download holds at most
 *   `readAhead` buffers of `chunkSize` bytes (some being written while the next is read).
 *
 * The client gets a terse status line; the operator gets the detail in events.
 */
import { createServer, type IncomingMessage, type ServerResponse, STATUS_CODES } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { BootEventSink } from './events.ts'
import { type FileSource, normalizePath, PathError, type Requester, type ServedFile } from './files.ts'
import type { MachineDirectory } from './machine-directory.ts'

/** @default '0.0.0.0' */
export const DEFAULT_HTTP_HOST = '0.0.0.0'
/** @default 80 (needs root or CAP_NET_BIND_SERVICE) */
export const DEFAULT_HTTP_PORT = 80
/** Bytes read from the file and written to the socket at a time. Chosen with bench/http.ts. */
export const DEFAULT_CHUNK_SIZE = 16 * 1024 * 1024
/**
 * Buffers one download may hold (written, queued or being read): memory per download is at most
 * chunkSize * readAhead (32 MiB by default; a file smaller than a chunk gets one buffer of its size).
 * Chosen with bench/http.ts on an idle 2-core machine: 16 MiB x 2 served 2.7 GB/s to 4 clients at
 * 0.30-0.32 CPU-s per GiB, against 2.5 GB/s and 0.37 for 4 MiB x 2 (256 KiB x 2 used 0.55).
 */
export const DEFAULT_READ_AHEAD = 2
/** Longest decoded request path; longer ones get 414. */
export const DEFAULT_MAX_PATH_LENGTH = 1024
/** Longest installer report detail (POST body or `detail` query parameter); longer gets 413. */
export const DEFAULT_MAX_REPORT_BYTES = 4096
/** A connection with no traffic either way for this long is closed (a stalled client frees its file). */
export const DEFAULT_IDLE_TIMEOUT_MS = 120_000

/** Installer stages are short tokens: `started`, `kickstart`, `installing`, `installed`. */
export const REPORT_STAGE = /^[a-z0-9-]{1,32}$/

/** Content types by file extension; anything else is application/octet-stream. */
export const CONTENT_TYPES: Readonly<Record<string, string>> = {
  '.cfg': 'text/plain; charset=utf-8',
  '.conf': 'text/plain; charset=utf-8',
  '.ipxe': 'text/plain; charset=utf-8',
  '.ks': 'text/plain; charset=utf-8',
  '.txt': 'text/plain; charset=utf-8',
  '.sh': 'text/x-shellscript; charset=utf-8',
  '.html': 'text/html; charset=utf-8',
  '.json': 'application/json',
  '.yaml': 'application/yaml',
  '.yml': 'application/yaml',
  '.xml': 'application/xml',
  '.iso': 'application/x-iso9660-image',
  '.gz': 'application/gzip',
  '.xz': 'application/x-xz',
  '.zst': 'application/zstd',
  '.tar': 'application/x-tar',
}
const OCTET_STREAM = 'application/octet-stream'

/** What an installer told us: emitted as an 'install.report' event and passed to onReport. */
export interface InstallReport {
  readonly machine: string
  readonly ip: string
  readonly stage: string
  readonly detail?: string
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
  /** @default DEFAULT_CHUNK_SIZE */
  readonly chunkSize?: number
  /** @default DEFAULT_READ_AHEAD */
  readonly readAhead?: number
  /** @default DEFAULT_MAX_PATH_LENGTH */
  readonly maxPathLength?: number
  /** @default DEFAULT_MAX_REPORT_BYTES */
  readonly maxReportBytes?: number
  /** @default DEFAULT_IDLE_TIMEOUT_MS */
  readonly idleTimeoutMs?: number
}

export interface HttpServer {
  /** The address listened on. */
  readonly address: string
  /** The port listened on (the chosen one when the option was 0). */
  readonly port: number
  /** Stops listening, ends every connection (keep-alive and running downloads) and closes open files. */
  close(): Promise<void>
}

/** The answer to a Range header for a file of a given size. */
export type RangeAnswer =
  | { readonly kind: 'whole' }
  | { readonly kind: 'partial'; readonly start: number; readonly end: number }
  | { readonly kind: 'unsatisfiable' }

/**
 * Decides how to answer `Range` (RFC 9110 §14.1.2, §14.2) for a file of `size` bytes. `end` is inclusive.
 * - no header, another unit, or syntax it cannot parse: the whole file (a server MAY ignore Range);
 * - more than one range: the whole file (documented choice: no multipart/byteranges);
 * - `a-b`, `a-`, `-n`: that range, clamped to the file; a last position before the first, a first
 *   position at or past the end, or a zero-length suffix: unsatisfiable (416).
 */
export function parseRangeHeader(header: string | undefined, size: number): RangeAnswer {
  if (header === undefined) return { kind: 'whole' }
  const eq = header.indexOf('=')
  if (eq < 0 || header.slice(0, eq).trim().toLowerCase() !== 'bytes') return { kind: 'whole' }
  // Empty list elements are allowed (RFC 9110 §5.6.1): "bytes=0-1," is one range.
  const specs = header
    .slice(eq + 1)
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '')
  if (specs.length !== 1) return { kind: 'whole' }
  const spec = specs[0] as string
  const suffix = /^-(\d+)$/.exec(spec)
  if (suffix !== null) {
    const length = Number(suffix[1])
    if (length === 0 || size === 0) return { kind: 'unsatisfiable' }
    return { kind: 'partial', start: Math.max(0, size - length), end: size - 1 }
  }
  const bounded = /^(\d+)-(\d*)$/.exec(spec)
  if (bounded === null) return { kind: 'whole' }
  const start = Number(bounded[1])
  const last = bounded[2] === '' ? Number.POSITIVE_INFINITY : Number(bounded[2])
  if (last < start || start >= size) return { kind: 'unsatisfiable' }
  return { kind: 'partial', start, end: Math.min(last, size - 1) }
}

/** A request that is answered with a 4xx before any file is opened. */
export class RequestError extends Error {
  readonly code = 'HOMELAB_HTTP_REQUEST'
  override name = 'RequestError'
  readonly status: number
  constructor(status: number, message: string) {
    super(message)
    this.status = status
  }
}

const utf8 = new TextDecoder('utf-8', { fatal: true })

/**
 * Splits a request target into its decoded path and raw query. Percent-decoding happens exactly
 * once, here: `%252e` becomes the literal `%2e`, never `.`. Throws RequestError (400) for targets
 * that are not origin- or absolute-form, for bad or non-UTF-8 escapes and raw non-ASCII bytes, and
 * (414) for decoded paths longer than `maxLength`.
 */
export function decodeTarget(
  target: string,
  maxLength = DEFAULT_MAX_PATH_LENGTH,
): { path: string; query: string } {
  let rest = target
  const absolute = /^https?:\/\/[^/?#]*/i.exec(rest)
  if (absolute !== null) rest = rest.slice(absolute[0].length) || '/'
  if (!rest.startsWith('/'))
    throw new RequestError(400, `Cannot serve file: request target "${target.slice(0, 80)}" is not a path`)
  const q = rest.indexOf('?')
  const rawPath = q < 0 ? rest : rest.slice(0, q)
  const query = q < 0 ? '' : rest.slice(q + 1)
  const bytes: number[] = []
  for (let i = 0; i < rawPath.length; i++) {
    const c = rawPath.charCodeAt(i)
    if (c <= 0x20 || c >= 0x7f)
      throw new RequestError(400, 'Cannot serve file: path contains a raw control or non-ASCII byte')
    if (c !== 0x25) {
      bytes.push(c)
      continue
    }
    const hex = rawPath.slice(i + 1, i + 3)
    if (!/^[0-9a-fA-F]{2}$/.test(hex))
      throw new RequestError(400, `Cannot serve file: bad percent-escape "%${hex}" in path`)
    bytes.push(Number.parseInt(hex, 16))
    i += 2
  }
  if (bytes.length > maxLength) {
    throw new RequestError(
      414,
      `Cannot serve file: path is ${bytes.length} bytes long, more than the ${maxLength} allowed`,
    )
  }
  let path: string
  try {
    path = utf8.decode(new Uint8Array(bytes))
  } catch {
    throw new RequestError(400, 'Cannot serve file: path is not valid UTF-8 once decoded')
  }
  return { path, query }
}

/** The content type for a path, by its extension. */
export function contentType(path: string): string {
  const name = path.slice(path.lastIndexOf('/') + 1)
  const dot = name.lastIndexOf('.')
  if (dot <= 0) return OCTET_STREAM
  return CONTENT_TYPES[name.slice(dot).toLowerCase()] ?? OCTET_STREAM
}

/** `::ffff:10.0.0.5` (a dual-stack socket's view of an IPv4 client) is 10.0.0.5. */
function _clientIp(remote: string | undefined): string {
  if (remote === undefined) return ''
  return remote.startsWith('::ffff:') && remote.includes('.') ? remote.slice(7) : remote
}

/** Big buffers, reused across downloads; a buffer comes back only once its socket write completed. */
class _BufferPool {
  readonly size: number
  private readonly keep: number
  private readonly free: Buffer[] = []
  constructor(size: number, keep: number) {
    this.size = size
    this.keep = keep
  }
  take(): Buffer {
    return this.free.pop() ?? Buffer.allocUnsafeSlow(this.size)
  }
  give(buffer: Buffer): void {
    if (this.free.length < this.keep) this.free.push(buffer)
  }
}

class _Aborted extends Error {}

function _checkInteger(name: string, value: number | undefined, min: number, max: number): void {
  if (value === undefined) return
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new RangeError(
      `Cannot serve HTTP: option "${name}" is ${String(value)}, expected an integer from ${min} to ${max}`,
    )
  }
}

/**
 * Writes bytes [start, end] of `file` to `res`. Chunks are read ahead while earlier ones are being
 * written (prefetch), at most `readAhead` buffers exist per download (backpressure: a stalled client
 * stalls the reads), and a buffer is reused only after its write completed (the socket may still
 * reference it until then). `sent.bytes` counts bytes handed to the kernel.
 */
async function _sendRange(
  res: ServerResponse,
  file: ServedFile,
  start: number,
  end: number,
  pool: _BufferPool,
  readAhead: number,
  sent: { bytes: number },
): Promise<void> {
  const small = end + 1 - start < pool.size
  const idle: Buffer[] = []
  let taken = 0
  let finished = false
  let closed = res.destroyed
  let wake: (() => void) | undefined
  const onClose = (): void => {
    closed = true
    wake?.()
  }
  res.on('close', onClose)

  const acquire = async (): Promise<Buffer> => {
    for (;;) {
      if (closed) throw new _Aborted()
      const buffer = idle.pop()
      if (buffer !== undefined) return buffer
      if (taken < readAhead) {
        taken++
        // A range smaller than a chunk (config files, small images) gets a buffer of its own size.
        return small ? Buffer.allocUnsafe(end + 1 - start) : pool.take()
      }
      await new Promise<void>((resolve) => {
        wake = resolve
      })
      wake = undefined
    }
  }
  const release = (buffer: Buffer): void => {
    if (finished) {
      if (small) return
      pool.give(buffer)
      return
    }
    idle.push(buffer)
    wake?.()
  }
  const read = async (position: number): Promise<{ buffer: Buffer; length: number; wanted: number }> => {
    const buffer = await acquire()
    const wanted = Math.min(buffer.length, end + 1 - position)
    let length = 0
    while (length < wanted) {
      const n = await file.read(buffer, length, wanted - length, position + length)
      if (n <= 0) break
      length += n
    }
    return { buffer, length, wanted }
  }

  let position = start
  let next: Promise<{ buffer: Buffer; length: number; wanted: number }> | undefined = read(position)
  try {
    while (next !== undefined) {
      const { buffer, length, wanted } = await next
      next = undefined
      if (length < wanted) {
        throw new Error(`the file ended at byte ${position + length}, before byte ${end + 1}`)
      }
      position += length
      if (position <= end) {
        next = read(position)
        next.catch(() => undefined)
      }
      res.write(buffer.subarray(0, length), (err) => {
        if (err) return // the connection is gone; the buffer may still be referenced: drop it
        sent.bytes += length
        release(buffer)
      })
      // No wait for 'drain' here: the buffer pool is the backpressure. While `readAhead` buffers
      // are queued or being read, acquire() waits for a write to complete; keeping the next
      // chunk queued behind the current one lets libuv go straight from one write to the next.
      if (closed) throw new _Aborted()
    }
  } finally {
    // Never leave a read running on a file the caller is about to close.
    await next?.catch(() => undefined)
    res.off('close', onClose)
    if (!closed) {
      finished = true
      if (!small) for (const buffer of idle) pool.give(buffer)
    }
  }
}

/**
 * Starts the HTTP service. Resolves once listening; rejects when the address cannot be bound
 * (port 80 needs root or CAP_NET_BIND_SERVICE).
 */
export async function serveHttp(options: HttpOptions): Promise<HttpServer> {
  const host = options.host ?? DEFAULT_HTTP_HOST
  const port = options.port ?? DEFAULT_HTTP_PORT
  _checkInteger('port', port, 0, 65535)
  _checkInteger('chunkSize', options.chunkSize, 4096, 64 * 1024 * 1024)
  _checkInteger('readAhead', options.readAhead, 1, 64)
  _checkInteger('maxPathLength', options.maxPathLength, 1, 65536)
  _checkInteger('maxReportBytes', options.maxReportBytes, 0, 1024 * 1024)
  _checkInteger('idleTimeoutMs', options.idleTimeoutMs, 0, 2 ** 31 - 1)
  if (typeof options.files?.open !== 'function') {
    throw new TypeError('Cannot serve HTTP: option "files" must be a FileSource (an object with open())')
  }
  const files = options.files
  const machines = options.machines
  const emit: BootEventSink = options.events ?? (() => undefined)
  const readAhead = options.readAhead ?? DEFAULT_READ_AHEAD
  // Idle buffers kept for the next downloads: two downloads' worth (64 MiB by default).
  const pool = new _BufferPool(options.chunkSize ?? DEFAULT_CHUNK_SIZE, 2 * readAhead)
  const maxPathLength = options.maxPathLength ?? DEFAULT_MAX_PATH_LENGTH
  const maxReportBytes = options.maxReportBytes ?? DEFAULT_MAX_REPORT_BYTES
  const running = new Set<Promise<void>>()

  const warn = (message: string): void => emit({ type: 'pxe.warning', service: 'http', message })

  /** A terse answer for the client; `why` (when given) goes to the operator as a warning. */
  const reply = (
    res: ServerResponse,
    status: number,
    why?: string,
    headers: Record<string, string | number> = {},
  ): void => {
    if (why !== undefined) warn(why)
    const body = status === 204 ? '' : `${status} ${STATUS_CODES[status] ?? ''}\n`
    res.writeHead(status, {
      ...(body === ''
        ? {}
        : { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': Buffer.byteLength(body) }),
      ...headers,
    })
    res.end(res.req.method === 'HEAD' ? undefined : body)
  }

  const serveFile = async (
    req: IncomingMessage,
    res: ServerResponse,
    path: string,
    requester: Requester,
    sent: { bytes: number },
  ): Promise<void> => {
    const who = requester.machine === undefined ? requester.ip : `${requester.machine} (${requester.ip})`
    let file: ServedFile | undefined
    try {
      file = await files.open(path, requester)
    } catch (cause) {
      reply(res, 500, `Cannot serve file: opening "${path}" for ${who} failed: ${(cause as Error).message}`)
      return
    }
    if (file === undefined) {
      reply(res, 404, `Cannot serve file: "${path}" asked by ${who} does not exist`)
      return
    }
    try {
      const size = file.size
      // No validators (ETag/Last-Modified) to compare, so an If-Range can never match: whole file.
      const range: RangeAnswer =
        req.headers['if-range'] !== undefined ? { kind: 'whole' } : parseRangeHeader(req.headers.range, size)
      const common = { 'Content-Type': contentType(path), 'Accept-Ranges': 'bytes' }
      if (range.kind === 'unsatisfiable') {
        reply(res, 416, undefined, { ...common, 'Content-Range': `bytes */${size}` })
        return
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
        return
      }
      try {
        await _sendRange(res, file, start, end, pool, readAhead, sent)
      } catch (cause) {
        if (cause instanceof _Aborted) return
        warn(`Cannot serve file: sending "${path}" to ${who} failed: ${(cause as Error).message}`)
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

  const readBody = async (req: IncomingMessage, limit: number): Promise<Buffer | undefined> => {
    const declared = Number(req.headers['content-length'] ?? 0)
    if (declared > limit) return undefined
    const chunks: Buffer[] = []
    let total = 0
    for await (const chunk of req as AsyncIterable<Buffer>) {
      total += chunk.length
      if (total > limit) return undefined
      chunks.push(chunk)
    }
    return Buffer.concat(chunks)
  }

  const serveReport = async (
    req: IncomingMessage,
    res: ServerResponse,
    stage: string,
    query: string,
    ip: string,
    machine: string | undefined,
  ): Promise<void> => {
    if (req.method !== 'GET' && req.method !== 'POST') {
      reply(res, 405, `Cannot accept install report: method ${req.method} from ${ip}`, { Allow: 'GET, POST' })
      return
    }
    if (machine === undefined) {
      // Not read: the body of an unknown client. Close so it is not parsed as a next request.
      reply(
        res,
        403,
        `Cannot accept install report: ${ip} is not a configured machine (stage "${stage.slice(0, 40)}")`,
        {
          Connection: 'close',
        },
      )
      return
    }
    if (!REPORT_STAGE.test(stage)) {
      reply(
        res,
        400,
        `Cannot accept install report from ${machine}: stage "${stage.slice(0, 40)}" is not [a-z0-9-]{1,32}`,
        {
          Connection: 'close',
        },
      )
      return
    }
    let detail = new URLSearchParams(query).get('detail') ?? ''
    if (req.method === 'POST') {
      const body = await readBody(req, maxReportBytes)
      if (body === undefined) {
        reply(
          res,
          413,
          `Cannot accept install report from ${machine}: body is larger than ${maxReportBytes} bytes`,
          {
            Connection: 'close',
          },
        )
        return
      }
      const text = new TextDecoder().decode(body)
      const form = /^application\/x-www-form-urlencoded/i.test(req.headers['content-type'] ?? '')
      const fromForm = form ? new URLSearchParams(text).get('detail') : null
      if (fromForm !== null) detail = fromForm
      else if (text !== '') detail = text
    }
    if (Buffer.byteLength(detail) > maxReportBytes) {
      reply(
        res,
        413,
        `Cannot accept install report from ${machine}: detail is larger than ${maxReportBytes} bytes`,
      )
      return
    }
    // The detail ends up on the operator's terminal: no escape sequences or other control bytes.
    // biome-ignore lint/suspicious/noControlCharactersInRegex: removing control characters is the point
    detail = detail.replace(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/g, ' ').trim()
    const report: InstallReport = detail === '' ? { machine, ip, stage } : { machine, ip, stage, detail }
    emit({ type: 'install.report', machine, stage, ...(detail === '' ? {} : { detail }) })
    try {
      await options.onReport?.(report)
    } catch (cause) {
      reply(
        res,
        500,
        `Cannot accept install report from ${machine}: onReport failed: ${(cause as Error).message}`,
      )
      return
    }
    reply(res, 204)
  }

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const started = performance.now()
    const ip = _clientIp(req.socket.remoteAddress)
    const machine = machines?.byIp(ip)?.name
    const sent = { bytes: 0 }
    let shownPath = (req.url ?? '').split('?')[0]?.slice(0, 256) ?? ''
    res.once('close', () => {
      emit({
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
    let path: string
    let query: string
    try {
      ;({ path, query } = decodeTarget(req.url ?? '', maxPathLength))
    } catch (cause) {
      const err = cause as RequestError
      reply(res, err.status ?? 400, `${err.message} (from ${ip})`, { Connection: 'close' })
      return
    }
    const segments = path.split('/').filter((s) => s !== '' && s !== '.')
    if (segments[0] === 'report') {
      // The whole /report/ folder is the endpoint: /report/a/b is a bad stage, never a file.
      shownPath = `/${segments.join('/')}`.slice(0, 256)
      await serveReport(req, res, segments.slice(1).join('/'), query, ip, machine)
      return
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      reply(res, 405, `Cannot serve file: method ${req.method} from ${ip} is not GET or HEAD`, {
        Allow: 'GET, HEAD',
      })
      return
    }
    if (segments.length === 0) {
      reply(res, 404, `Cannot serve file: "/" asked by ${ip} names no file`)
      return
    }
    let normal: string
    try {
      normal = normalizePath(path)
    } catch (cause) {
      if (!(cause instanceof PathError)) throw cause
      reply(res, 400, `${cause.message}: "${path.slice(0, 200)}" from ${ip}`)
      return
    }
    shownPath = `/${normal}`
    await serveFile(req, res, normal, { ip, machine }, sent)
  }

  const server = createServer((req, res) => {
    const job = handle(req, res)
      .catch((cause: unknown) => {
        warn(`Cannot serve file: unexpected failure for ${req.url}: ${(cause as Error).message}`)
        if (!res.headersSent) reply(res, 500)
        else res.destroy()
      })
      .finally(() => running.delete(job))
    running.add(job)
  })
  server.timeout = options.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS

  await new Promise<void>((resolve, reject) => {
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
  server.on('error', (cause) => warn(`HTTP server error: ${cause.message}`))
  const bound = server.address() as AddressInfo
  emit({ type: 'pxe.listening', service: 'http', address: `${bound.address}:${bound.port}` })

  let closing: Promise<void> | undefined
  return {
    address: bound.address,
    port: bound.port,
    close(): Promise<void> {
      closing ??= (async () => {
        const stopped = new Promise<void>((resolve) => server.close(() => resolve()))
        server.closeAllConnections()
        await stopped
        await Promise.all(running)
      })()
      return closing
    },
  }
}
