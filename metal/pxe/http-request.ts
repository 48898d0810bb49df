/**
 * HTTP requests as pure functions: the request target decoded and checked (`decodeTarget`), routed
 * to a file or the report endpoint or a 4xx (`routeRequest`), the Range header answered
 * (`parseRangeHeader`), and the content type picked (`contentType`). No sockets: tested in
 * http-request.test.ts and through serveHttp in http.test.ts.
 */
import { normalizePath, PathError } from './files.ts'

/** Longest decoded request path; longer ones get 414. */
export const DEFAULT_MAX_PATH_LENGTH = 1024

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
export function clientIp(remote: string | undefined): string {
  if (remote === undefined) return ''
  return remote.startsWith('::ffff:') && remote.includes('.') ? remote.slice(7) : remote
}

/** What a request asks for, decided before any file is opened. `shownPath` is for logs (bounded). */
export type Route =
  | { readonly kind: 'file'; readonly path: string; readonly shownPath: string }
  | { readonly kind: 'report'; readonly stage: string; readonly query: string; readonly shownPath: string }
  | {
      readonly kind: 'reject'
      readonly status: number
      /** The detail for the operator. */
      readonly why: string
      readonly headers: Readonly<Record<string, string>>
      readonly shownPath: string
    }

/**
 * Routes a request: a bad target is a 400/414 (connection closed), anything under /report/ the
 * report endpoint (any method: it answers 405 itself), other methods than GET and HEAD a 405,
 * `/` a 404, a path that could escape the root a 400, and the rest a file by its normalised path.
 * `ip` only goes into the operator's messages.
 */
export function routeRequest(
  method: string | undefined,
  target: string,
  ip: string,
  maxPathLength = DEFAULT_MAX_PATH_LENGTH,
): Route {
  const rawShown = target.split('?')[0]?.slice(0, 256) ?? ''
  const reject = (status: number, why: string, headers: Record<string, string> = {}): Route => ({
    kind: 'reject',
    status,
    why,
    headers,
    shownPath: rawShown,
  })
  let path: string
  let query: string
  try {
    ;({ path, query } = decodeTarget(target, maxPathLength))
  } catch (cause) {
    if (!(cause instanceof RequestError)) throw cause
    return reject(cause.status, `${cause.message} (from ${ip})`, { Connection: 'close' })
  }
  const segments = path.split('/').filter((s) => s !== '' && s !== '.')
  if (segments[0] === 'report') {
    // The whole /report/ folder is the endpoint: /report/a/b is a bad stage, never a file.
    const shownPath = `/${segments.join('/')}`.slice(0, 256)
    return { kind: 'report', stage: segments.slice(1).join('/'), query, shownPath }
  }
  if (method !== 'GET' && method !== 'HEAD') {
    return reject(405, `Cannot serve file: method ${method} from ${ip} is not GET or HEAD`, {
      Allow: 'GET, HEAD',
    })
  }
  if (segments.length === 0) return reject(404, `Cannot serve file: "/" asked by ${ip} names no file`)
  let normal: string
  try {
    normal = normalizePath(path)
  } catch (cause) {
    if (!(cause instanceof PathError)) throw cause
    return reject(400, `${cause.message}: "${path.slice(0, 200)}" from ${ip}`)
  }
  return { kind: 'file', path: normal, shownPath: `/${normal}` }
}
