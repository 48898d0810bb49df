/**
 * The endpoint installers call to report progress: `GET /report/<stage>?detail=...` or
 * `POST /report/<stage>` with the detail as the body (text or a form field `detail`).
 * `readReport` checks and reads one request into an InstallReport or a 4xx; serveHttp emits
 * the event and calls onReport. Only configured machines may report; the detail is bounded
 * and has its control bytes removed before it reaches a log.
 *
 * Two stages take their body as plain text whatever its Content-Type (curl --data-binary sends
 * application/x-www-form-urlencoded, and a log is no form):
 * - `POST /report/failed`: the installer's log (at most `maxLogBytes`, 16 KiB by default). Its last
 *   LOG_TAIL lines, each sanitised, become the report's `log`; the last line is its `detail`.
 * - `POST /report/nic`: the name the installed system gives the configured NIC, checked as a
 *   Linux interface name (IFNAME); anything else is a 400.
 */
import type { IncomingHttpHeaders } from 'node:http'

/** Longest installer report detail (POST body or `detail` query parameter); longer gets 413. */
export const DEFAULT_MAX_REPORT_BYTES = 4096

/** Longest body of `POST /report/failed` (the installer's log); longer gets 413. */
export const DEFAULT_MAX_LOG_BYTES = 16 * 1024

/** What is kept of a failed installer's log: its last lines, at most this many, and this many bytes. */
export const LOG_TAIL = { lines: 20, bytes: 2048 } as const

/**
 * A Linux interface name as the kernel accepts it (dev_valid_name: shorter than IFNAMSIZ 16, not
 * "." or "..", no "/", ":" or whitespace), narrowed to the characters udev and Anaconda use.
 */
export const IFNAME = /^(?!\.{1,2}$)[A-Za-z0-9_.-]{1,15}$/

/** Stages whose POST body is plain text whatever its Content-Type. */
const TEXT_STAGES: ReadonlySet<string> = new Set(['failed', 'nic'])

/** Installer stages are short tokens: `started`, `kickstart`, `installing`, `installed`. */
export const REPORT_STAGE = /^[a-z0-9-]{1,32}$/

/** What an installer told us: emitted as an 'install.report' event and passed to onReport. */
export interface InstallReport {
  readonly machine: string
  readonly ip: string
  readonly stage: string
  readonly detail?: string
  /** `failed` only: the installer log's last lines (LOG_TAIL), sanitised, oldest first. */
  readonly log?: readonly string[]
}

/** The part of IncomingMessage a report is read from. */
export type ReportRequest = {
  readonly method?: string | undefined
  readonly headers: Pick<IncomingHttpHeaders, 'content-length' | 'content-type'>
} & AsyncIterable<Buffer>

/** A report, or the status to answer instead, with the operator's detail. */
export type ReportOutcome =
  | { readonly kind: 'accepted'; readonly report: InstallReport }
  | {
      readonly kind: 'rejected'
      readonly status: number
      readonly why: string
      readonly headers: Readonly<Record<string, string>>
    }

/** The body, or undefined when it is (or says it is) longer than `limit`; reading stops there. */
export async function readBody(req: ReportRequest, limit: number): Promise<Buffer | undefined> {
  const declared = Number(req.headers['content-length'] ?? 0)
  if (declared > limit) return undefined
  const chunks: Buffer[] = []
  let total = 0
  for await (const chunk of req) {
    total += chunk.length
    if (total > limit) return undefined
    chunks.push(chunk)
  }
  return Buffer.concat(chunks)
}

/** The detail ends up on the operator's terminal: no escape sequences or other control bytes. */
export function sanitizeDetail(detail: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: removing control characters is the point
  return detail.replace(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/g, ' ').trim()
}

/**
 * One log line for a terminal: every C0 and C1 control character (ESC, CSI, tab, bell, DEL), the
 * Unicode line separators and the bidirectional overrides (which reorder what a terminal shows)
 * become spaces; trailing space is dropped.
 */
export function sanitizeLine(line: string): string {
  return (
    line
      // biome-ignore lint/suspicious/noControlCharactersInRegex: removing control characters is the point
      .replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069\ufeff]/g, ' ')
      .trimEnd()
  )
}

/** The end of `line` that fits in `bytes` UTF-8 bytes, marked with "…" when cut. */
function _tailBytes(line: string, bytes: number): string {
  if (Buffer.byteLength(line) <= bytes) return line
  const chars = [...line]
  let size = Buffer.byteLength('…')
  let start = chars.length
  while (start > 0 && size + Buffer.byteLength(chars[start - 1] ?? '') <= bytes) {
    start--
    size += Buffer.byteLength(chars[start] ?? '')
  }
  return `…${chars.slice(start).join('')}`
}

/**
 * The tail of an installer log as the operator sees it: lines (split at CR, LF or CRLF) sanitised
 * with sanitizeLine, blank ones dropped, the last `lines` of them, then as many of those as fit in
 * `bytes` (a newline counted per line; a single line too long keeps its end).
 */
export function trimLog(
  text: string,
  lines: number = LOG_TAIL.lines,
  bytes: number = LOG_TAIL.bytes,
): string[] {
  const all = text
    .split(/\r\n|\r|\n/)
    .map(sanitizeLine)
    .filter((l) => l.trim() !== '')
  const kept: string[] = []
  let total = 0
  for (const line of all.slice(-lines).reverse()) {
    const size = Buffer.byteLength(line) + 1
    if (total + size > bytes) {
      if (kept.length === 0) kept.push(_tailBytes(line, bytes - 1))
      break
    }
    kept.push(line)
    total += size
  }
  return kept.reverse()
}

/**
 * Checks and reads one report: 405 for methods other than GET and POST, 403 for a client that is
 * not a configured machine (body not read), 400 for a bad stage or a bad interface name (`nic`),
 * 413 for a detail over `maxReportBytes` (a `failed` log over `maxLogBytes`). A rejection that
 * leaves a body unread closes the connection.
 */
export async function readReport(
  req: ReportRequest,
  stage: string,
  query: string,
  ip: string,
  machine: string | undefined,
  maxReportBytes: number,
  maxLogBytes: number = DEFAULT_MAX_LOG_BYTES,
): Promise<ReportOutcome> {
  const close = { Connection: 'close' }
  if (req.method !== 'GET' && req.method !== 'POST') {
    return _reject(405, `Cannot accept install report: method ${req.method} from ${ip}`, {
      Allow: 'GET, POST',
    })
  }
  if (machine === undefined) {
    // Not read: the body of an unknown client. Close so it is not parsed as a next request.
    const why = `Cannot accept install report: ${ip} is not a configured machine (stage "${stage.slice(0, 40)}")`
    return _reject(403, why, close)
  }
  if (!REPORT_STAGE.test(stage)) {
    const why = `Cannot accept install report from ${machine}: stage "${stage.slice(0, 40)}" is not [a-z0-9-]{1,32}`
    return _reject(400, why, close)
  }
  const limit = stage === 'failed' ? maxLogBytes : maxReportBytes
  const fromQuery = new URLSearchParams(query).get('detail') ?? ''
  const body = req.method === 'POST' ? await readBody(req, limit) : Buffer.alloc(0)
  if (body === undefined) {
    return _reject(
      413,
      `Cannot accept install report from ${machine}: body is larger than ${limit} bytes`,
      close,
    )
  }
  const text = new TextDecoder().decode(body)
  if (TEXT_STAGES.has(stage)) return _textReport(machine, ip, stage, text === '' ? fromQuery : text, limit)
  let detail = fromQuery
  const form = /^application\/x-www-form-urlencoded/i.test(req.headers['content-type'] ?? '')
  const fromForm = form ? new URLSearchParams(text).get('detail') : null
  if (fromForm !== null) detail = fromForm
  else if (text !== '') detail = text
  if (Buffer.byteLength(detail) > maxReportBytes) {
    return _reject(
      413,
      `Cannot accept install report from ${machine}: detail is larger than ${maxReportBytes} bytes`,
    )
  }
  detail = sanitizeDetail(detail)
  const report: InstallReport = detail === '' ? { machine, ip, stage } : { machine, ip, stage, detail }
  return { kind: 'accepted', report }
}

function _reject(status: number, why: string, headers: Record<string, string> = {}): ReportOutcome {
  return { kind: 'rejected', status, why, headers }
}

/** `failed` (a log, trimmed to its tail) and `nic` (an interface name): the body is plain text. */
function _textReport(machine: string, ip: string, stage: string, text: string, limit: number): ReportOutcome {
  if (Buffer.byteLength(text) > limit) {
    return _reject(413, `Cannot accept install report from ${machine}: detail is larger than ${limit} bytes`)
  }
  if (stage === 'failed') {
    const log = trimLog(text)
    const last = log.at(-1)
    return {
      kind: 'accepted',
      report: { machine, ip, stage, ...(last === undefined ? {} : { detail: last }), log },
    }
  }
  const name = text.trim()
  if (!IFNAME.test(name)) {
    const shown = JSON.stringify(sanitizeLine(name.slice(0, 40)))
    const why = `Cannot accept install report from ${machine}: interface name ${shown} is not a Linux interface name (1 to 15 of A-Z a-z 0-9 _ . -)`
    return _reject(400, why)
  }
  return { kind: 'accepted', report: { machine, ip, stage, detail: name } }
}
