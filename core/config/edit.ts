/**
 * Edits homelab.yaml the way a careful person would: only the lines of the machines added or removed
 * change, every other byte (comments, blank lines, quoting, key order) stays as it was.
 *
 * The file is parsed into a YAML document (the `yaml` package) only to find where things are: the
 * node ranges say which bytes hold the `machines` list and each of its entries. The edit is then a
 * splice of those bytes, and the result is parsed and checked again with the rules of `homelab
 * validate` (parseConfig); an edit that would make the file invalid is refused with validate's own
 * messages.
 */
import { isMap, isScalar, isSeq, LineCounter, type Node, parseDocument, type YAMLMap } from 'yaml'
import type { Diagnostic } from './diagnostics.ts'
import { parseConfig } from './load.ts'

/** A machine entry as it is written (firmware omitted means uefi). */
export interface MachineEntry {
  readonly name: string
  readonly mac: string
  readonly ip: string
  readonly role: 'server' | 'agent'
  readonly disk: string
  readonly nic: string
  readonly firmware?: 'uefi' | 'bios' | 'uefi-http'
  /** A comment written after the name (e.g. the vendor found by discover); one line, sanitised. */
  readonly comment?: string
}

export type EditResult =
  | { readonly ok: true; readonly text: string }
  | {
      readonly ok: false
      /** Problems of the file as it is (fix them first), or of the file the edit would make. */
      readonly diagnostics: readonly Diagnostic[]
      /** Which file the diagnostics' lines refer to. */
      readonly in: 'file' | 'edit'
    }

/** Errors a config without machines has: `homelab init` writes one, `discover --add` fills it. */
export function isMissingMachines(d: Diagnostic): boolean {
  return (
    d.field === 'machines' &&
    (d.message.startsWith('needs at least') || d.message.startsWith('has no machine with role: server'))
  )
}

/** Appends machines at the end of the `machines:` list. */
export function addMachines(text: string, file: string, machines: readonly MachineEntry[]): EditResult {
  const blocking = errorsOf(text, file).filter((d) => !isMissingMachines(d))
  if (blocking.length > 0) return { ok: false, diagnostics: blocking, in: 'file' }
  const where = _machinesList(text)
  if ('error' in where) return { ok: false, diagnostics: [where.error(file)], in: 'file' }
  const edited = _insert(text, where, machines)
  const errors = errorsOf(edited, file)
  return errors.length > 0 ? { ok: false, diagnostics: errors, in: 'edit' } : { ok: true, text: edited }
}

/** Deletes the entry of machine `name` (its lines only). */
export function removeMachine(text: string, file: string, name: string): EditResult {
  const blocking = errorsOf(text, file)
  if (blocking.length > 0) return { ok: false, diagnostics: blocking, in: 'file' }
  const where = _machinesList(text)
  if ('error' in where) return { ok: false, diagnostics: [where.error(file)], in: 'file' }
  const index = where.items.findIndex((item) => isMap(item) && item.get('name') === name)
  const item = where.items[index]
  if (item === undefined || item.range === null || item.range === undefined) {
    const names = where.items.map((i) => (isMap(i) ? String(i.get('name')) : '?'))
    return {
      ok: false,
      in: 'file',
      diagnostics: [
        {
          severity: 'error',
          file,
          ...where.position(where.keyStart),
          field: 'machines',
          message: `has no machine named "${name}" (the machines are: ${names.join(', ')})`,
        },
      ],
    }
  }
  const [start, end] = _entryLines(text, item.range[0], item.range[1])
  const edited = text.slice(0, start) + text.slice(end)
  const errors = errorsOf(edited, file)
  return errors.length > 0 ? { ok: false, diagnostics: errors, in: 'edit' } : { ok: true, text: edited }
}

/**
 * The lines of one list entry: from its `- ` line to the end of its last value, with the comment lines
 * right above it at the dash's indentation (they describe it), and the blank line that separated it
 * from the next entry when nothing but the list's start or another blank line is above it.
 */
function _entryLines(text: string, from: number, to: number): [number, number] {
  let start = lineStart(text, from)
  const indent = /^[ \t]*/.exec(text.slice(start))?.[0] ?? ''
  let end = lineAfter(text, to)
  for (;;) {
    if (start === 0) break
    const above = lineStart(text, start - 1)
    const line = text.slice(above, start - 1)
    if (!line.startsWith(`${indent}#`)) break
    start = above
  }
  const before = start === 0 ? '' : text.slice(lineStart(text, start - 1), start - 1)
  const after = text.slice(end, lineAfter(text, end + 1))
  if (after.trim() === '' && end < text.length && (before.trim() === '' || /:\s*(#.*)?$/.test(before)))
    end += after.length
  return [start, end]
}

function errorsOf(text: string, file: string): Diagnostic[] {
  const result = parseConfig(text, file)
  return result.ok ? [] : result.diagnostics.filter((d) => d.severity === 'error')
}

interface MachinesList {
  /** Offset of the `machines` key. */
  readonly keyStart: number
  /** The list's value: a block or flow sequence, or nothing (`machines:` alone). */
  readonly value: Node | null
  readonly items: readonly Node[]
  position(offset: number): { line: number; column: number }
}

function _machinesList(text: string): MachinesList | { error: (file: string) => Diagnostic } {
  const lines = new LineCounter()
  const doc = parseDocument(text, { lineCounter: lines, keepSourceTokens: true })
  const position = (offset: number) => {
    const p = lines.linePos(offset)
    return { line: p.line, column: p.col }
  }
  const root = doc.contents
  const pair = isMap(root)
    ? (root as YAMLMap).items.find((p) => isScalar(p.key) && p.key.value === 'machines')
    : undefined
  const fail = (message: string, offset = 0) => ({
    error: (file: string): Diagnostic => ({
      severity: 'error',
      file,
      ...(offset === 0 ? { line: 0, column: 0 } : position(offset)),
      field: 'machines',
      message,
    }),
  })
  if (pair === undefined || !isScalar(pair.key) || pair.key.range === null || pair.key.range === undefined)
    return fail('is missing: add a line `machines: []` (then run this again)')
  const keyStart = pair.key.range[0]
  const value = pair.value as Node | null
  if (value === null || (isScalar(value) && value.value === null))
    return { keyStart, value: null, items: [], position }
  if (!isSeq(value)) return fail('is not a list (expected `- name: ...` entries)', keyStart)
  if (value.flow === true && value.items.length > 0)
    return fail(
      'is a flow list ([...]) with entries: write it as a block list (`- name: ...`) to edit it',
      keyStart,
    )
  return { keyStart, value, items: value.items as Node[], position }
}

/** The text with the new entries after the last one (or in place of `[]` / nothing). */
function _insert(text: string, where: MachinesList, machines: readonly MachineEntry[]): string {
  const last = where.items.at(-1)
  if (last?.range !== undefined && last.range !== null) {
    // Indent like the first entry: the text between its line start and its first key is "  - ".
    const first = where.items[0] as Node
    const firstStart = (first.range as [number, number, number])[0]
    const prefix = text.slice(lineStart(text, firstStart), firstStart)
    const dash = prefix.replace(/-\s*$/, '')
    const at = lineAfter(text, last.range[1])
    const block = machines.map((m) => entryText(m, dash, prefix.length)).join('')
    return text.slice(0, at) + (at > 0 && text[at - 1] !== '\n' ? '\n' : '') + block + text.slice(at)
  }
  const block = machines.map((m) => entryText(m, '  ', 4)).join('')
  if (where.value === null) {
    // `machines:` alone (maybe with a comment): the entries go on the lines after the key.
    const at = lineAfter(text, where.keyStart)
    return text.slice(0, at) + (text[at - 1] === '\n' ? '' : '\n') + block + text.slice(at)
  }
  // `machines: []`: the brackets become the block, which starts on the next line.
  const range = where.value.range as [number, number, number]
  const lineEnd = lineAfter(text, range[1])
  const rest = text.slice(range[1], lineEnd).replace(/\n$/, '')
  return `${text.slice(0, range[0]).replace(/[ \t]+$/, '')}${rest}\n${block}${text.slice(lineEnd)}`
}

function entryText(m: MachineEntry, dash: string, keyColumn: number): string {
  const pad = ' '.repeat(keyColumn)
  const comment = m.comment === undefined ? '' : ` # ${oneLine(m.comment)}`
  const lines = [`${dash}- name: ${scalar(m.name)}${comment}`]
  const fields: [string, string | undefined][] = [
    ['mac', m.mac],
    ['ip', m.ip],
    ['role', m.role],
    ['disk', m.disk],
    ['nic', m.nic],
    ['firmware', m.firmware],
  ]
  for (const [key, value] of fields) if (value !== undefined) lines.push(`${pad}${key}: ${scalar(value)}`)
  return `${lines.join('\n')}\n`
}

/** Plain when YAML reads it back as the same string, else double-quoted. */
export function scalar(value: string): string {
  if (/^[A-Za-z0-9._/:+-]+$/.test(value) && !/^[-:]|:$|: /.test(value)) {
    const back = parseDocument(`v: ${value}`).get('v')
    if (back === value) return value
  }
  return JSON.stringify(value)
}

/** A comment's text: printable ASCII on one line (it may come from the network). */
function oneLine(text: string): string {
  return text
    .replace(/[^\x20-\x7e]+/g, ' ')
    .trim()
    .slice(0, 100)
}

function lineStart(text: string, offset: number): number {
  return text.lastIndexOf('\n', offset - 1) + 1
}

/** The offset just after the newline ending the line that holds `offset - 1` (the end of a range). */
function lineAfter(text: string, offset: number): number {
  const newline = text.indexOf('\n', Math.max(offset - 1, 0))
  return newline === -1 ? text.length : newline + 1
}
