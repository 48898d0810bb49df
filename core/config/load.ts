/**
 * Reads homelab.yaml: YAML syntax, then the schema, then the cross-field checks.
 * Every problem becomes a Diagnostic with file, line, column and field.
 */
import { isCollection, isMap, isNode, isPair, isScalar, LineCounter, type Node, parseDocument } from 'yaml'
import type { z } from 'zod'
import { checkConfig, type Derived, derive, type Finding } from './checks.ts'
import { ConfigError, type Diagnostic, formatPath, type PathSegment } from './diagnostics.ts'
import { ReadProblem, readConfigText } from './read-file.ts'
import { type Config, configSchema } from './schema.ts'

export interface LoadedConfig {
  readonly file: string
  readonly config: Config
  readonly derived: Derived
  /** Warnings only: a config with errors is not returned. */
  readonly warnings: readonly Diagnostic[]
  /** Line and column of a field, for diagnostics found later (e.g. a missing key file). */
  locate(path: readonly PathSegment[]): { line: number; column: number }
}

export type ParseResult =
  | { readonly ok: true; readonly value: LoadedConfig }
  | { readonly ok: false; readonly diagnostics: readonly Diagnostic[] }

/** Parses config text; never throws for bad input. */
export function parseConfig(text: string, file: string): ParseResult {
  const lines = new LineCounter()
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: true, uniqueKeys: true })
  const diagnostics: Diagnostic[] = []
  // The first syntax error is the one to fix: later ones are usually its echoes.
  for (const err of doc.errors.slice(0, 1)) {
    const pos = err.linePos?.[0]
    diagnostics.push({
      severity: 'error',
      file,
      line: pos?.line ?? 0,
      column: pos?.col ?? 0,
      field: '',
      message: _yamlMessage(err.code, err.message),
    })
  }
  if (diagnostics.length > 0) return { ok: false, diagnostics }
  const deep = _tooDeep(doc.contents)
  if (deep !== undefined) {
    const pos = lines.linePos(deep)
    const message = `is nested more than ${MAX_DEPTH} levels deep: a homelab config needs fewer than 10 (check the brackets and indentation here)`
    return {
      ok: false,
      diagnostics: [{ severity: 'error', file, line: pos.line, column: pos.col, field: '', message }],
    }
  }

  let plain: unknown
  try {
    // Throws for an alias without its anchor, or too many aliases (a "billion laughs" file).
    plain = doc.toJS({ maxAliasCount: 100 })
  } catch (cause) {
    const message = `is not valid YAML: ${firstLine((cause as Error).message)}`
    return { ok: false, diagnostics: [{ severity: 'error', file, line: 0, column: 0, field: '', message }] }
  }
  const locate = (path: readonly PathSegment[], key?: string) => locateIn(doc.contents, path, lines, key)
  if (plain === null || plain === undefined || typeof plain !== 'object' || Array.isArray(plain)) {
    return {
      ok: false,
      diagnostics: [
        {
          severity: 'error',
          file,
          line: 1,
          column: 1,
          field: '',
          message: 'is not a mapping of settings (start from the homelab.yaml shipped with the project)',
        },
      ],
    }
  }
  const parsed = configSchema.safeParse(plain)
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      for (const { path, message, key } of describeIssue(issue, plain)) {
        // An unknown key points at the key itself (its parent's entry), not at its value.
        const pos = key === undefined ? locate(path) : locate(path.slice(0, -1), key)
        diagnostics.push({ severity: 'error', file, ...pos, field: formatPath(path), message })
      }
    }
    return { ok: false, diagnostics: sortDiagnostics(diagnostics) }
  }
  const findings: Finding[] = checkConfig(parsed.data)
  for (const f of findings) {
    diagnostics.push({
      severity: f.severity,
      file,
      ...locate(f.path),
      field: formatPath(f.path),
      message: f.message,
    })
  }
  const sorted = sortDiagnostics(diagnostics)
  if (sorted.some((d) => d.severity === 'error')) return { ok: false, diagnostics: sorted }
  return {
    ok: true,
    value: { file, config: parsed.data, derived: derive(parsed.data), warnings: sorted, locate },
  }
}

/** Reads and parses a config file; throws ConfigError (with every diagnostic) when it cannot be used. */
export async function loadConfig(file: string): Promise<LoadedConfig> {
  let text: string
  try {
    text = await readConfigText(file)
  } catch (cause) {
    if (!(cause instanceof ReadProblem)) throw cause
    const { line, column, message } = cause
    throw new ConfigError([{ severity: 'error', file, line, column, field: '', message }])
  }
  const result = parseConfig(text, file)
  if (!result.ok) throw new ConfigError(result.diagnostics)
  return result.value
}

/** Lists and mappings inside each other deeper than this are refused before anything walks them. */
export const MAX_DEPTH = 64

/** The YAML parser's message in plain words, for the errors a person can make. */
function _yamlMessage(code: string, message: string): string {
  if (code === 'MULTIPLE_DOCS') {
    return 'holds more than one YAML document (a line "---" starts another): keep the settings in one document'
  }
  if (code === 'RESOURCE_EXHAUSTION' && /call stack/i.test(message)) {
    return `is nested more than ${MAX_DEPTH} levels deep: a homelab config needs fewer than 10 (check the brackets and indentation here)`
  }
  return `is not valid YAML: ${firstLine(message)}`
}

/** The offset of the first node nested deeper than MAX_DEPTH, found without recursion. */
function _tooDeep(root: unknown): number | undefined {
  const stack: [unknown, number][] = [[root, 0]]
  while (stack.length > 0) {
    const [node, depth] = stack.pop() as [unknown, number]
    if (!isNode(node) && !isPair(node)) continue
    if (isCollection(node)) {
      if (depth >= MAX_DEPTH) return node.range?.[0] ?? 0
      for (const item of node.items) stack.push([item, depth + 1])
    } else if (isPair(node)) {
      stack.push([node.value, depth])
    }
  }
  return undefined
}

function sortDiagnostics(list: Diagnostic[]): Diagnostic[] {
  return list.sort((a, b) => a.line - b.line || a.column - b.column)
}

function firstLine(text: string): string {
  return (text.split('\n')[0] ?? text).replace(/ at line \d+, column \d+:?$/, '')
}

function locateIn(
  root: unknown,
  path: readonly PathSegment[],
  lines: LineCounter,
  key?: string,
): { line: number; column: number } {
  let node: unknown = root
  for (const segment of path) {
    if (!isNode(node) || !('get' in node)) break
    const next = (node as { get(k: unknown, keep: true): unknown }).get(segment, true)
    if (next === undefined || next === null) break
    node = next
  }
  if (key !== undefined && isMap(node)) {
    const pair = node.items.find((p) => isScalar(p.key) && p.key.value === key)
    if (pair !== undefined && isNode(pair.key)) node = pair.key
  }
  const range = isNode(node) ? (node as Node).range : undefined
  if (range === undefined || range === null) return { line: 1, column: 1 }
  const pos = lines.linePos(range[0])
  return { line: pos.line, column: pos.col }
}

function valueAt(root: unknown, path: readonly PropertyKey[]): unknown {
  let value = root
  for (const segment of path) {
    if (value === null || typeof value !== 'object') return undefined
    value = (value as Record<PropertyKey, unknown>)[segment as string]
  }
  return value
}

function show(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value)
  if (value === null) return 'null'
  if (Array.isArray(value)) return 'a list'
  if (typeof value === 'object') return 'a mapping'
  return String(value)
}

function lowerFirst(text: string): string {
  return /^[A-Z][a-z]/.test(text) ? text[0]?.toLowerCase() + text.slice(1) : text
}

function kindOf(value: unknown): string {
  if (value === null) return 'empty'
  if (Array.isArray(value)) return 'a list'
  if (typeof value === 'object') return 'a mapping'
  return `a ${typeof value}`
}

const EXPECTED: Record<string, string> = {
  object: 'a mapping of fields',
  array: 'a list',
  string: 'a string',
}

interface Described {
  path: PathSegment[]
  message: string
  key?: string
}

function describeIssue(issue: z.core.$ZodIssue, root: unknown): Described[] {
  const path = issue.path.filter((p): p is PathSegment => typeof p !== 'symbol')
  const value = valueAt(root, path)
  switch (issue.code) {
    case 'invalid_type': {
      if (value === undefined) {
        const what = describeField(path)
        return [{ path, message: `is required: add it${what === '' ? '' : ` (${lowerFirst(what)})`}` }]
      }
      const expected = EXPECTED[issue.expected] ?? `a ${issue.expected}`
      if (issue.expected === 'string' && (typeof value === 'number' || typeof value === 'boolean')) {
        return [
          {
            path,
            message: `${show(value)} is read as ${kindOf(value)} by YAML, expected a string (put the value in quotes)`,
          },
        ]
      }
      return [{ path, message: `${show(value)} is ${kindOf(value)}, expected ${expected}` }]
    }
    case 'invalid_value':
      if (value === undefined) {
        return [
          {
            path,
            message: `is required: add it (one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')})`,
          },
        ]
      }
      return [
        {
          path,
          message: `${show(value)} is not one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')}`,
        },
      ]
    case 'unrecognized_keys': {
      const allowed = allowedKeys(path)
      return issue.keys.map((key) => {
        const guess = closest(key, allowed)
        const hint =
          guess !== undefined ? `did you mean "${guess}"?` : `expected one of: ${allowed.join(', ')}`
        return { path: [...path, key], key, message: `is not a known field (${hint})` }
      })
    }
    case 'invalid_union': {
      // Prefer the branch that got past the type check: its issues are the useful ones.
      for (const branch of issue.errors) {
        const deeper = branch.filter((i) => i.path.length > 0)
        if (deeper.length > 0 && deeper.length === branch.length) {
          return deeper.flatMap((i) => describeIssue({ ...i, path: [...issue.path, ...i.path] }, root))
        }
      }
      const what = describeField(path)
      if (value === undefined)
        return [{ path, message: `is required: add it${what === '' ? '' : ` (${what})`}` }]
      return [{ path, message: `${show(value)} is not valid${what === '' ? '' : ` (expected ${what})`}` }]
    }
    case 'too_small':
      if (issue.origin === 'array') {
        return [{ path, message: `needs at least ${issue.minimum} entr${issue.minimum === 1 ? 'y' : 'ies'}` }]
      }
      return [{ path, message: `${show(value)} is too small (the minimum is ${issue.minimum})` }]
    default:
      if (issue.message.startsWith('is ')) return [{ path, message: `${show(value)} ${issue.message}` }]
      return [{ path, message: `${show(value)}: ${issue.message}` }]
  }
}

type AnySchema = z.ZodType & { description?: string; def?: unknown; shape?: Record<string, AnySchema> }

/** Walks the schema along a path, through optional/default wrappers and arrays. */
function schemaAt(path: readonly PathSegment[]): AnySchema | undefined {
  let schema: AnySchema | undefined = configSchema as unknown as AnySchema
  for (const segment of path) {
    schema = unwrap(schema)
    if (schema === undefined) return undefined
    if (typeof segment === 'number') {
      schema = (schema as unknown as { element?: AnySchema }).element
    } else {
      schema = schema.shape?.[segment]
    }
  }
  return schema
}

function unwrap(schema: AnySchema | undefined): AnySchema | undefined {
  let s = schema
  for (let i = 0; i < 5 && s !== undefined; i++) {
    const inner = (s as unknown as { unwrap?: () => AnySchema }).unwrap
    const def = (s as unknown as { def?: { innerType?: AnySchema } }).def
    if (def?.innerType !== undefined) s = def.innerType
    else if (typeof inner === 'function' && !('element' in s)) s = inner.call(s)
    else break
  }
  return s
}

function describeField(path: readonly PathSegment[]): string {
  const schema = schemaAt(path)
  return schema?.description ?? ''
}

function allowedKeys(path: readonly PathSegment[]): string[] {
  const schema = unwrap(schemaAt(path))
  return Object.keys(schema?.shape ?? {})
}

function closest(word: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined
  let bestDistance = 3
  for (const c of candidates) {
    const dist = editDistance(word.toLowerCase(), c.toLowerCase())
    if (dist < bestDistance) {
      best = c
      bestDistance = dist
    }
  }
  return best
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j)
  for (let i = 1; i <= a.length; i++) {
    const row = [i]
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1
      row[j] = Math.min((prev[j] as number) + 1, (row[j - 1] as number) + 1, (prev[j - 1] as number) + cost)
    }
    prev = row
  }
  return prev[b.length] as number
}
