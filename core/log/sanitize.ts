/**
 * The one place that makes text safe for a terminal or a log line. Anything a network peer controls
 * (a requested path, a MAC, an installer's report, a TFTP file name) reaches people only through
 * events, and every renderer (cli/output/output.ts, core/log/reporter.ts) passes each event through
 * `sanitizeEvent` first, so no renderer has to remember it.
 *
 * - Control characters are escaped visibly, never dropped: ESC becomes the four characters `\x1b`, a
 *   newline `\n`, so the operator sees what was sent and a peer cannot move the cursor, clear the
 *   screen, set the window title (OSC), ring the bell or add fake lines. C0, DEL and C1 controls,
 *   the Unicode line and paragraph separators, the bidirectional marks and overrides (which reorder
 *   what a terminal shows) and the byte order mark are escaped.
 * - Each string is capped at `MAX_SHOWN_CHARS` characters (marked with "…" when cut): a peer cannot
 *   flood the terminal with one 64 KiB URL.
 * - `--json` stays JSON: `jsonLine` escapes the same characters as `\uXXXX` (JSON.stringify already
 *   does C0), so a JSON line on a TTY holds no raw control character either.
 */

/** The longest string shown, in characters (UTF-16 code units), before it is cut with "…". */
export const MAX_SHOWN_CHARS = 1024
/** The longest `error` message shown (own messages, which may quote a command's output). */
export const MAX_ERROR_CHARS = 16 * 1024

/** Unicode that reorders or breaks what a terminal shows: bidi marks, overrides and isolates, separators, BOM. */
const UNICODE = '\\u061c\\u200e\\u200f\\u2028\\u2029\\u202a-\\u202e\\u2066-\\u2069\\ufeff'
const UNSAFE = new RegExp(`[\\u0000-\\u001f\\u007f-\\u009f${UNICODE}]`, 'g')
const UNSAFE_KEEP_NEWLINE = new RegExp(`[\\u0000-\\u0009\\u000b-\\u001f\\u007f-\\u009f${UNICODE}]`, 'g')
const UNSAFE_IN_JSON = new RegExp(`[\\u007f-\\u009f${UNICODE}]`, 'g')

const NAMED: Readonly<Record<string, string>> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' }

function _escape(char: string): string {
  const named = NAMED[char]
  if (named !== undefined) return named
  const code = char.charCodeAt(0)
  return code < 0x100
    ? `\\x${code.toString(16).padStart(2, '0')}`
    : `\\u${code.toString(16).padStart(4, '0')}`
}

function _cut(text: string, max: number): string {
  let cut = max - 1
  // Never split a surrogate pair.
  const last = text.charCodeAt(cut - 1)
  if (last >= 0xd800 && last <= 0xdbff) cut--
  return `${text.slice(0, cut)}…`
}

/**
 * `text` as it may be shown: control characters escaped (see the module comment), at most `max`
 * characters. With `keepNewlines`, line feeds stay (for the program's own multi-line messages).
 */
export function terminalText(text: string, max = MAX_SHOWN_CHARS, keepNewlines = false): string {
  // Cut first, so a huge string is not escaped whole.
  const long = text.length > max
  const escaped = (long ? text.slice(0, max) : text).replace(
    keepNewlines ? UNSAFE_KEEP_NEWLINE : UNSAFE,
    _escape,
  )
  return long || escaped.length > max ? _cut(escaped, max) : escaped
}

const MAX_DEPTH = 8

function _clean(value: unknown, max: number, keepNewlines: boolean, depth: number): unknown {
  if (typeof value === 'string') return terminalText(value, max, keepNewlines)
  if (value === null || typeof value !== 'object') return value
  if (depth >= MAX_DEPTH) return '…'
  if (Array.isArray(value)) return value.map((v) => _clean(v, max, keepNewlines, depth + 1))
  const out: Record<string, unknown> = {}
  for (const [key, v] of Object.entries(value)) out[key] = _clean(v, max, keepNewlines, depth + 1)
  return out
}

/**
 * A copy of `event` whose every string (nested ones too) went through terminalText. `error` events
 * keep their line breaks (the program's own messages); everything else shows `\n` escaped.
 */
export function sanitizeEvent<E extends { readonly type: string }>(event: E): E {
  const isError = event.type === 'error'
  return _clean(event, isError ? MAX_ERROR_CHARS : MAX_SHOWN_CHARS, isError, 0) as E
}

/** One JSON line for `--json`: JSON.stringify, with the characters it leaves raw escaped as \uXXXX. */
export function jsonLine(event: unknown): string {
  const json = JSON.stringify(event).replace(
    UNSAFE_IN_JSON,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  )
  return `${json}\n`
}
