/**
 * How Go's text/template and Helm's functions turn values into text, for the values our Helm
 * subset can print. Where Helm's output would depend on details we do not reproduce (floats,
 * large numbers, maps printed with %v), these functions throw instead of guessing.
 */

/** Thrown when a value cannot be printed exactly as Helm prints it. */
export class UnprintableValueError extends Error {
  override name = 'UnprintableValueError'
}

/** Helm reads values through JSON: every number is a float64. Go prints integers below 1e6 plainly, larger ones as 1e+06. */
function printNumber(n: number): string {
  if (!Number.isInteger(n) || Math.abs(n) >= 1e6) {
    throw new UnprintableValueError(
      `${n} prints differently in Helm (a float64: 1e+06 and up, fractions): quote it in the values`,
    )
  }
  return Object.is(n, -0) ? '0' : String(n)
}

/** `{{ value }}`: Go's %v for the scalars of the subset. */
export function goPrint(value: unknown): string {
  if (typeof value === 'string') return value
  if (typeof value === 'boolean') return String(value)
  if (typeof value === 'number') return printNumber(value)
  if (value === null || value === undefined) {
    throw new UnprintableValueError('the value is not set (Helm would print nothing)')
  }
  throw new UnprintableValueError(
    `a ${Array.isArray(value) ? 'list' : 'map'} prints as Go syntax: use toJson`,
  )
}

// Go's unicode.IsPrint: letters, marks, numbers, punctuation, symbols and the ASCII space.
const PRINTABLE = /^[\p{L}\p{M}\p{N}\p{P}\p{S} ]$/u
const SHORT_ESCAPES: Readonly<Record<string, string>> = {
  '\x07': '\\a',
  '\b': '\\b',
  '\f': '\\f',
  '\n': '\\n',
  '\r': '\\r',
  '\t': '\\t',
  '\v': '\\v',
  '\\': '\\\\',
  '"': '\\"',
}

const hex = (n: number, width: number) => n.toString(16).padStart(width, '0')

/** Go's strconv.Quote (fmt %q), which Helm's `quote` applies to the value's text. */
export function goQuote(text: string): string {
  let out = '"'
  for (const ch of text) {
    const code = ch.codePointAt(0) ?? 0
    const short = SHORT_ESCAPES[ch]
    if (short !== undefined) out += short
    else if (code >= 0xd800 && code <= 0xdfff) {
      throw new UnprintableValueError('a lone UTF-16 surrogate has no UTF-8 form')
    } else if (PRINTABLE.test(ch)) out += ch
    else if (code < 0x20 || code === 0x7f) out += `\\x${hex(code, 2)}`
    else if (code < 0x10000) out += `\\u${hex(code, 4)}`
    else out += `\\U${hex(code, 8)}`
  }
  return `${out}"`
}

/** Helm's `quote`: the value's text (strval), quoted. */
export function helmQuote(value: unknown): string {
  return goQuote(goPrint(value))
}

/** Go's encoding/json string encoding: HTML characters and U+2028/U+2029 escaped. */
function jsonString(text: string): string {
  let out = '"'
  for (const ch of text) {
    const code = ch.codePointAt(0) ?? 0
    if (ch === '"' || ch === '\\') out += `\\${ch}`
    else if (ch === '\n') out += '\\n'
    else if (ch === '\r') out += '\\r'
    else if (ch === '\t') out += '\\t'
    else if (ch === '\b') out += '\\b'
    else if (ch === '\f') out += '\\f'
    else if (code < 0x20 || ch === '<' || ch === '>' || ch === '&' || code === 0x2028 || code === 0x2029) {
      out += `\\u${hex(code, 4)}`
    } else if (code >= 0xd800 && code <= 0xdfff) {
      throw new UnprintableValueError('a lone UTF-16 surrogate has no UTF-8 form')
    } else out += ch
  }
  return `${out}"`
}

/** Helm's `toJson` (Go's json.Marshal): compact, map keys sorted. */
export function helmToJson(value: unknown): string {
  if (value === null || value === undefined) return 'null'
  if (typeof value === 'string') return jsonString(value)
  if (typeof value === 'boolean') return String(value)
  if (typeof value === 'number') {
    if (!Number.isInteger(value) || Math.abs(value) >= 1e21) {
      throw new UnprintableValueError(`${value}: only integers are encoded identically by Go and JavaScript`)
    }
    return String(value)
  }
  if (Array.isArray(value)) return `[${value.map(helmToJson).join(',')}]`
  if (typeof value === 'object') {
    const keys = Object.keys(value).sort(compareGoStrings)
    const record = value as Record<string, unknown>
    return `{${keys.map((k) => `${jsonString(k)}:${helmToJson(record[k])}`).join(',')}}`
  }
  throw new UnprintableValueError(`a ${typeof value} has no JSON form`)
}

/** Go sorts map keys by their UTF-8 bytes. */
function compareGoStrings(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b))
}
