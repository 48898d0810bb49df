/**
 * The endpoint installers call to report progress: `GET /report/<stage>?detail=...` or
 * `POST /report/<stage>` with the detail as the body (text or a form field `detail`).
 * `readReport` checks and reads one request into an InstallReport or a 4xx; serveHttp emits
 * the event and calls onReport. Only configured machines may report; the detail is bounded
 * and has its control bytes removed before it reaches a log.
 */
import type { IncomingHttpHeaders } from 'node:http'

/** Longest installer report detail (POST body or `detail` query parameter); longer gets 413. */
export const DEFAULT_MAX_REPORT_BYTES = 4096

/** Installer stages are short tokens: `started`, `kickstart`, `installing`, `installed`. */
export const REPORT_STAGE = /^[a-z0-9-]{1,32}$/

/** What an installer told us: emitted as an 'install.report' event and passed to onReport. */
export interface InstallReport {
  readonly machine: string
  readonly ip: string
  readonly stage: string
  readonly detail?: string
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
 * Checks and reads one report: 405 for methods other than GET and POST, 403 for a client that is
 * not a configured machine (body not read), 400 for a bad stage, 413 for a detail over
 * `maxReportBytes`. A rejection that leaves a body unread closes the connection.
 */
export async function readReport(
  req: ReportRequest,
  stage: string,
  query: string,
  ip: string,
  machine: string | undefined,
  maxReportBytes: number,
): Promise<ReportOutcome> {
  const reject = (status: number, why: string, headers: Record<string, string> = {}): ReportOutcome => ({
    kind: 'rejected',
    status,
    why,
    headers,
  })
  const close = { Connection: 'close' }
  if (req.method !== 'GET' && req.method !== 'POST') {
    return reject(405, `Cannot accept install report: method ${req.method} from ${ip}`, {
      Allow: 'GET, POST',
    })
  }
  if (machine === undefined) {
    // Not read: the body of an unknown client. Close so it is not parsed as a next request.
    const why = `Cannot accept install report: ${ip} is not a configured machine (stage "${stage.slice(0, 40)}")`
    return reject(403, why, close)
  }
  if (!REPORT_STAGE.test(stage)) {
    const why = `Cannot accept install report from ${machine}: stage "${stage.slice(0, 40)}" is not [a-z0-9-]{1,32}`
    return reject(400, why, close)
  }
  let detail = new URLSearchParams(query).get('detail') ?? ''
  if (req.method === 'POST') {
    const body = await readBody(req, maxReportBytes)
    if (body === undefined) {
      const why = `Cannot accept install report from ${machine}: body is larger than ${maxReportBytes} bytes`
      return reject(413, why, close)
    }
    const text = new TextDecoder().decode(body)
    const form = /^application\/x-www-form-urlencoded/i.test(req.headers['content-type'] ?? '')
    const fromForm = form ? new URLSearchParams(text).get('detail') : null
    if (fromForm !== null) detail = fromForm
    else if (text !== '') detail = text
  }
  if (Buffer.byteLength(detail) > maxReportBytes) {
    return reject(
      413,
      `Cannot accept install report from ${machine}: detail is larger than ${maxReportBytes} bytes`,
    )
  }
  detail = sanitizeDetail(detail)
  const report: InstallReport = detail === '' ? { machine, ip, stage } : { machine, ip, stage, detail }
  return { kind: 'accepted', report }
}
