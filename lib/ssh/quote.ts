/**
 * Shell quoting for commands sent over SSH. Every value interpolated into `sh`
 * becomes one literal POSIX shell word, so nothing in it (spaces, quotes, `$()`,
 * backquotes, globs, semicolons, newlines) is ever interpreted by the remote shell.
 *
 *   sh`mkdir -p ${dir} && echo ${text}`      // dir and text are quoted
 *   sh`apt-get install -y ${['curl', 'jq']}` // an array becomes several quoted words
 */

/** A value `sh` accepts: a string or number is one word, an array is one word per element. */
export type ShellValue = string | number | bigint | readonly (string | number | bigint)[]

/** Words made only of these characters mean the same quoted or not (no `=`: `a=b` first would assign). */
const SAFE_WORD = /^[A-Za-z0-9_@%+:,./-]+$/

/** Quotes one value as a single POSIX shell word: single quotes, each embedded `'` written as `'\''`. */
export function quote(value: string | number | bigint): string {
  const text = String(value)
  if (text.includes('\0')) {
    throw new TypeError(`Cannot quote shell word: it contains a NUL byte, which no shell argument can hold`)
  }
  if (SAFE_WORD.test(text)) return text
  return `'${text.replaceAll("'", `'\\''`)}'`
}

/** Tagged template that quotes every interpolated value; the literal parts are kept as written. */
export function sh(strings: TemplateStringsArray, ...values: readonly ShellValue[]): string {
  let out = strings[0] ?? ''
  for (let i = 0; i < values.length; i++) {
    const value = values[i] as ShellValue
    out += Array.isArray(value)
      ? (value as readonly (string | number | bigint)[]).map(quote).join(' ')
      : quote(value as string | number | bigint)
    out += strings[i + 1] ?? ''
  }
  return out
}
