/**
 * Option negotiation for a read request (RFC 2347), as a pure function: what the
 * client asked, the server's limits and the file size in; the OACK to send and the
 * transfer parameters out.
 *
 * Supported: blksize (RFC 2348), tsize and timeout (RFC 2349), windowsize (RFC 7440).
 * Unknown options are ignored (left out of the OACK, RFC 2347 §2). An option with an
 * invalid value is ignored the same way and reported in `ignored`, so the operator can
 * see it; values above the server's limit are lowered (RFC 2348 §2 and RFC 7440 §3 let
 * the server answer a smaller value).
 */
import {
  BLKSIZE_MAX,
  BLKSIZE_MIN,
  DEFAULT_BLKSIZE,
  TIMEOUT_MAX,
  TIMEOUT_MIN,
  WINDOWSIZE_MAX,
  WINDOWSIZE_MIN,
} from './constants.ts'

/** Names of the options this module understands (lower-case, as decoded). */
export const OptionName = {
  Blksize: 'blksize', // RFC 2348, octets 8..65464
  Tsize: 'tsize', // RFC 2349, octets; 0 in a RRQ asks the size
  Timeout: 'timeout', // RFC 2349, seconds 1..255
  Windowsize: 'windowsize', // RFC 7440, blocks 1..65535
} as const

export interface NegotiationLimits {
  /** The largest block size the server accepts (lower requests pass unchanged). */
  readonly maxBlksize: number
  /** The largest window the server accepts. */
  readonly maxWindowsize: number
  /** Also bounds the window in bytes (windowsize x blksize), to bound buffer memory; default no bound. */
  readonly maxWindowBytes?: number
  /** The retransmission timeout used when the client asks none, in ms. */
  readonly defaultTimeoutMs: number
}

export interface Negotiated {
  readonly blksize: number
  readonly windowsize: number
  /** Retransmission timeout in ms: the client's `timeout` option, else the default. */
  readonly timeoutMs: number
  /** The OACK's options (the accepted ones, in request order); undefined: send no OACK, start with DATA 1. */
  readonly oack: ReadonlyMap<string, string> | undefined
  /** Options the client sent with a value we cannot accept: name and why. */
  readonly ignored: readonly { readonly name: string; readonly reason: string }[]
}

/**
 * Parses a decimal option value: digits only (no sign, no spaces, no hex), at most
 * 10 digits so that the number is exact. Undefined when it is not such a number.
 */
export function parseOptionInteger(value: string): number | undefined {
  if (!/^[0-9]{1,10}$/.test(value)) return undefined
  return Number(value)
}

/** Negotiates a read request's options against the limits and the file size (RFC 2347 §2). */
export function negotiateOptions(
  requested: ReadonlyMap<string, string>,
  limits: NegotiationLimits,
  fileSize: number,
): Negotiated {
  let blksize = DEFAULT_BLKSIZE
  let windowsize = 1
  let timeoutMs = limits.defaultTimeoutMs
  const oack = new Map<string, string>()
  const ignored: { name: string; reason: string }[] = []

  for (const [name, value] of requested) {
    const n = parseOptionInteger(value)
    switch (name) {
      case OptionName.Blksize:
        // RFC 2348 §2: 8..65464; the server may answer a smaller value.
        if (n === undefined || n < BLKSIZE_MIN) {
          ignored.push({ name, reason: `"${value}" is not a block size of at least ${BLKSIZE_MIN}` })
          break
        }
        blksize = Math.min(n, BLKSIZE_MAX, limits.maxBlksize)
        oack.set(name, String(blksize))
        break
      case OptionName.Tsize:
        // RFC 2349 §4: a RRQ carries 0 and the server answers the size.
        if (n === undefined) {
          ignored.push({ name, reason: `"${value}" is not a size` })
          break
        }
        oack.set(name, String(fileSize))
        break
      case OptionName.Timeout:
        // RFC 2349 §3: 1..255 seconds; the server must answer the same value.
        if (n === undefined || n < TIMEOUT_MIN || n > TIMEOUT_MAX) {
          ignored.push({
            name,
            reason: `"${value}" is not a timeout of ${TIMEOUT_MIN}..${TIMEOUT_MAX} seconds`,
          })
          break
        }
        timeoutMs = n * 1000
        oack.set(name, String(n))
        break
      case OptionName.Windowsize:
        // RFC 7440 §3: 1..65535; the server may answer a smaller value.
        if (n === undefined || n < WINDOWSIZE_MIN || n > WINDOWSIZE_MAX) {
          ignored.push({
            name,
            reason: `"${value}" is not a window size of ${WINDOWSIZE_MIN}..${WINDOWSIZE_MAX}`,
          })
          break
        }
        windowsize = Math.max(1, Math.min(n, limits.maxWindowsize))
        oack.set(name, '') // the value is set below, once blksize is known
        break
      default:
        // RFC 2347 §2: options the server does not support are left out of the OACK.
        break
    }
  }
  if (oack.has(OptionName.Windowsize)) {
    if (limits.maxWindowBytes !== undefined) {
      windowsize = Math.max(1, Math.min(windowsize, Math.floor(limits.maxWindowBytes / blksize)))
    }
    oack.set(OptionName.Windowsize, String(windowsize))
  }
  return { blksize, windowsize, timeoutMs, oack: oack.size > 0 ? oack : undefined, ignored }
}
