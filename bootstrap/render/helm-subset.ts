/**
 * An offline renderer for exactly the Helm template subset of docs/gitops.md: value paths,
 * `quote`, `toJson`, string literals, `include` of `define`d templates, `range` over lists,
 * `{{-`/`-}}` trimming and comments. Anything else throws, naming the file, the line and the
 * construct, so a template that renders here renders the same in Helm.
 */
import { readdir, readFile } from 'node:fs/promises'
import { join, relative, resolve } from 'node:path'
import { parseAllDocuments, parse as parseYaml } from 'yaml'
import { goPrint, helmQuote, helmToJson, UnprintableValueError } from './go-format.ts'

/** A template outside the subset, or one that cannot render. */
export class HelmSubsetError extends Error {
  override name = 'HelmSubsetError'
  readonly file: string
  readonly line: number
  /** The message without the location. */
  readonly detail: string
  constructor(file: string, line: number, message: string, options?: ErrorOptions) {
    super(`${file}:${line}: ${message}`, options)
    this.file = file
    this.line = line
    this.detail = message
  }
}

const SUBSET = 'outside the Helm subset of docs/gitops.md'

// ---- lexing -------------------------------------------------------------------------------

type Token =
  | { readonly kind: 'text'; text: string; readonly line: number }
  | {
      readonly kind: 'action'
      readonly words: readonly Word[]
      readonly source: string
      readonly line: number
    }

type Word =
  | { readonly kind: 'string'; readonly value: string }
  | { readonly kind: 'pipe' }
  | { readonly kind: 'word'; readonly value: string }

const SPACE = new Set([' ', '\t', '\r', '\n'])
const trimEnd = (s: string) => s.replace(/[ \t\r\n]+$/, '')
const trimStart = (s: string) => s.replace(/^[ \t\r\n]+/, '')

function lex(file: string, text: string): Token[] {
  const tokens: Token[] = []
  let pos = 0
  let line = 1
  let trimNext = false
  const lineAt = (from: number, to: number) => {
    for (let i = from; i < to; i++) if (text[i] === '\n') line++
  }
  while (pos < text.length) {
    const open = text.indexOf('{{', pos)
    let chunk = text.slice(pos, open === -1 ? text.length : open)
    if (trimNext) chunk = trimStart(chunk)
    trimNext = false
    const textLine = line
    lineAt(pos, open === -1 ? text.length : open)
    if (open === -1) {
      tokens.push({ kind: 'text', text: chunk, line: textLine })
      break
    }
    let p = open + 2
    let trimLeft = false
    if (text[p] === '-') {
      if (!SPACE.has(text[p + 1] ?? '')) {
        throw new HelmSubsetError(file, line, `"{{-" without a space after it is ${SUBSET}`)
      }
      trimLeft = true
      p += 2
    }
    if (trimLeft) chunk = trimEnd(chunk)
    tokens.push({ kind: 'text', text: chunk, line: textLine })
    const actionLine = line
    if (text.startsWith('/*', p)) {
      const end = text.indexOf('*/', p + 2)
      if (end === -1) throw new HelmSubsetError(file, actionLine, 'unclosed comment: add "*/}}"')
      let q = end + 2
      if (text.startsWith('}}', q)) q += 2
      else if (SPACE.has(text[q] ?? '') && text.startsWith('-}}', q + 1)) {
        trimNext = true
        q += 4
      } else {
        throw new HelmSubsetError(file, actionLine, 'a comment must end with "*/}}" or "*/ -}}"')
      }
      lineAt(open, q)
      pos = q
      continue
    }
    // Scan to the closing "}}", skipping quoted strings.
    const words: Word[] = []
    let q = p
    let closed = false
    let current = ''
    const flush = () => {
      if (current !== '') words.push({ kind: 'word', value: current })
      current = ''
    }
    while (q < text.length) {
      const ch = text[q] as string
      if (ch === '\n') {
        throw new HelmSubsetError(file, actionLine, `an action spanning lines is ${SUBSET}`)
      }
      if (ch === '}' && text[q + 1] === '}') {
        closed = true
        break
      }
      if (ch === '-' && text[q + 1] === '}' && text[q + 2] === '}' && SPACE.has(text[q - 1] ?? '')) {
        trimNext = true
        closed = true
        break
      }
      if (ch === '"') {
        flush()
        let value = ''
        let r = q + 1
        for (; r < text.length && text[r] !== '"'; r++) {
          const c = text[r] as string
          if (c === '\n') break
          if (c === '\\') {
            const next = text[r + 1]
            if (next !== '"' && next !== '\\') {
              throw new HelmSubsetError(
                file,
                actionLine,
                `the escape "\\${next ?? ''}" in a string is ${SUBSET}`,
              )
            }
            value += next
            r++
          } else value += c
        }
        if (text[r] !== '"') throw new HelmSubsetError(file, actionLine, 'unterminated string')
        words.push({ kind: 'string', value })
        q = r + 1
        continue
      }
      if (SPACE.has(ch)) flush()
      else if (ch === '|') {
        flush()
        words.push({ kind: 'pipe' })
      } else current += ch
      q++
    }
    flush()
    if (!closed) throw new HelmSubsetError(file, actionLine, 'unclosed action: add "}}"')
    const end = trimNext ? q + 3 : q + 2
    tokens.push({ kind: 'action', words, source: text.slice(open, end), line: actionLine })
    lineAt(open, end)
    pos = end
  }
  // Apply right-trims recorded on comments/actions to the text that follows: done above via trimNext.
  return tokens
}

// ---- parsing ------------------------------------------------------------------------------

/** `.a.b` (from dot), `$.a.b` (from the root), or a string literal. */
type Operand =
  | { readonly kind: 'path'; readonly root: 'dot' | 'root'; readonly keys: readonly string[] }
  | { readonly kind: 'literal'; readonly value: string }

interface Pipeline {
  readonly head: Operand | { readonly kind: 'include'; readonly name: string; readonly arg: Operand }
  readonly functions: readonly ('quote' | 'toJson')[]
}

type Node =
  | { readonly kind: 'text'; readonly text: string }
  | { readonly kind: 'output'; readonly pipeline: Pipeline; readonly line: number; readonly source: string }
  | {
      readonly kind: 'range'
      readonly over: Operand
      readonly body: readonly Node[]
      readonly line: number
      readonly source: string
    }

interface Define {
  readonly file: string
  readonly body: readonly Node[]
}

interface ParsedTemplate {
  readonly file: string
  readonly body: readonly Node[]
  readonly defines: ReadonlyMap<string, Define>
}

const IDENT = /^[A-Za-z_][A-Za-z0-9_]*$/

function parseOperand(file: string, line: number, word: Word | undefined, source: string): Operand {
  if (word?.kind === 'string') return { kind: 'literal', value: word.value }
  if (word?.kind === 'word') {
    const w = word.value
    if (w === '.') return { kind: 'path', root: 'dot', keys: [] }
    if (w === '$') return { kind: 'path', root: 'root', keys: [] }
    const root = w.startsWith('$.') ? 'root' : w.startsWith('.') ? 'dot' : undefined
    const keys = (root === 'root' ? w.slice(2) : w.slice(1)).split('.')
    if (root !== undefined && keys.every((k) => IDENT.test(k))) return { kind: 'path', root, keys }
  }
  throw new HelmSubsetError(file, line, `${describe(source)} is ${SUBSET}`)
}

function describe(source: string): string {
  return `the construct ${JSON.stringify(source)}`
}

function parsePipeline(file: string, line: number, words: readonly Word[], source: string): Pipeline {
  const commands: Word[][] = [[]]
  for (const w of words) {
    if (w.kind === 'pipe') commands.push([])
    else commands[commands.length - 1]?.push(w)
  }
  const [first = [], ...rest] = commands
  const bad = () => new HelmSubsetError(file, line, `${describe(source)} is ${SUBSET}`)
  let head: Pipeline['head']
  if (first[0]?.kind === 'word' && first[0].value === 'include') {
    const name = first[1]
    if (first.length !== 3 || name?.kind !== 'string') throw bad()
    head = { kind: 'include', name: name.value, arg: parseOperand(file, line, first[2], source) }
  } else {
    if (first.length !== 1) throw bad()
    head = parseOperand(file, line, first[0], source)
  }
  const functions = rest.map((command) => {
    const [fn] = command
    if (command.length !== 1 || fn?.kind !== 'word' || (fn.value !== 'quote' && fn.value !== 'toJson')) {
      throw bad()
    }
    return fn.value
  })
  return { head, functions }
}

function parse(file: string, text: string): ParsedTemplate {
  const tokens = lex(file, text)
  const defines = new Map<string, Define>()
  // A stack of open blocks: the file body, then nested define/range bodies.
  type Frame = {
    nodes: Node[]
    kind: 'file' | 'define' | 'range'
    line: number
    source: string
    name?: string
    over?: Operand
  }
  const stack: Frame[] = [{ nodes: [], kind: 'file', line: 1, source: '' }]
  const top = () => stack[stack.length - 1] as Frame
  for (const token of tokens) {
    if (token.kind === 'text') {
      if (token.text !== '') top().nodes.push({ kind: 'text', text: token.text })
      continue
    }
    const { words, line, source } = token
    const keyword = words[0]?.kind === 'word' ? words[0].value : undefined
    if (keyword === 'define') {
      const name = words[1]
      if (words.length !== 2 || name?.kind !== 'string' || stack.length !== 1) {
        throw new HelmSubsetError(
          file,
          line,
          `${describe(source)} is ${SUBSET} (define "name" at the top level)`,
        )
      }
      stack.push({ nodes: [], kind: 'define', line, source, name: name.value })
    } else if (keyword === 'range') {
      if (words.length !== 2) throw new HelmSubsetError(file, line, `${describe(source)} is ${SUBSET}`)
      const over = parseOperand(file, line, words[1], source)
      if (over.kind !== 'path') throw new HelmSubsetError(file, line, `${describe(source)} is ${SUBSET}`)
      stack.push({ nodes: [], kind: 'range', line, source, over })
    } else if (keyword === 'end') {
      const frame = top()
      if (words.length !== 1 || frame.kind === 'file') {
        throw new HelmSubsetError(file, line, `${describe(source)} closes nothing`)
      }
      stack.pop()
      if (frame.kind === 'define') {
        const name = frame.name as string
        if (defines.has(name)) throw new HelmSubsetError(file, line, `template "${name}" is defined twice`)
        defines.set(name, { file, body: frame.nodes })
      } else {
        top().nodes.push({
          kind: 'range',
          over: frame.over as Operand,
          body: frame.nodes,
          line: frame.line,
          source: frame.source,
        })
      }
    } else if (
      keyword !== undefined &&
      ['if', 'else', 'with', 'template', 'block', 'break', 'continue', 'nil'].includes(keyword)
    ) {
      throw new HelmSubsetError(file, line, `${describe(source)} is ${SUBSET}`)
    } else {
      if (words.length === 0) throw new HelmSubsetError(file, line, 'an empty action')
      top().nodes.push({ kind: 'output', pipeline: parsePipeline(file, line, words, source), line, source })
    }
  }
  if (stack.length !== 1) {
    const open = top()
    throw new HelmSubsetError(file, open.line, `${describe(open.source)} has no {{ end }}`)
  }
  return { file, body: (stack[0] as Frame).nodes, defines }
}

// ---- rendering ----------------------------------------------------------------------------

interface Scope {
  readonly dot: unknown
  readonly root: unknown
  readonly depth: number
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

class Renderer {
  readonly defines: ReadonlyMap<string, Define>
  constructor(defines: ReadonlyMap<string, Define>) {
    this.defines = defines
  }

  resolve(file: string, line: number, operand: Operand, scope: Scope, optional = false): unknown {
    if (operand.kind === 'literal') return operand.value
    let value = operand.root === 'root' ? scope.root : scope.dot
    const walked: string[] = [operand.root === 'root' ? '$' : '']
    for (const key of operand.keys) {
      walked.push(key)
      if (!isRecord(value)) {
        throw new HelmSubsetError(file, line, `cannot read "${walked.join('.')}": its parent is not a map`)
      }
      value = value[key]
      if (value === undefined && !(optional && key === operand.keys[operand.keys.length - 1])) {
        throw new HelmSubsetError(file, line, `"${walked.join('.')}" is not set: add it to the values`)
      }
    }
    return value
  }

  nodes(file: string, nodes: readonly Node[], scope: Scope): string {
    let out = ''
    for (const node of nodes) {
      if (node.kind === 'text') out += node.text
      else if (node.kind === 'range') {
        const list = this.resolve(file, node.line, node.over, scope, true)
        if (list === undefined || list === null) continue
        if (!Array.isArray(list)) {
          throw new HelmSubsetError(file, node.line, `${describe(node.source)}: ranges over lists only`)
        }
        for (const item of list) out += this.nodes(file, node.body, { ...scope, dot: item })
      } else out += this.output(file, node, scope)
    }
    return out
  }

  output(file: string, node: Extract<Node, { kind: 'output' }>, scope: Scope): string {
    const { head, functions } = node.pipeline
    let value: unknown
    if (head.kind === 'include') {
      const define = this.defines.get(head.name)
      if (define === undefined) {
        throw new HelmSubsetError(
          file,
          node.line,
          `template "${head.name}" is not defined (no define in the chart or its file:// libraries)`,
        )
      }
      if (scope.depth > 100)
        throw new HelmSubsetError(file, node.line, `include "${head.name}" recurses too deep`)
      const arg = this.resolve(file, node.line, head.arg, scope)
      value = this.nodes(define.file, define.body, { dot: arg, root: arg, depth: scope.depth + 1 })
    } else value = this.resolve(file, node.line, head, scope)
    try {
      if (functions.length === 0) return goPrint(value)
      let text = ''
      for (const fn of functions) {
        text = fn === 'quote' ? helmQuote(value) : helmToJson(value)
        value = text
      }
      return text
    } catch (cause) {
      if (!(cause instanceof UnprintableValueError)) throw cause
      throw new HelmSubsetError(file, node.line, `${describe(node.source)}: ${cause.message}`, { cause })
    }
  }
}

/** A template file: its path (for messages) and text. */
export interface TemplateFile {
  readonly file: string
  readonly text: string
}

/**
 * Renders `entries` with the defines of `entries` and `libraries` (text outside defines in
 * `libraries` is not rendered), `.` being `{ Values: values }` as in Helm. Returns one text per entry.
 */
export function renderTemplates(
  entries: readonly TemplateFile[],
  libraries: readonly TemplateFile[],
  values: Record<string, unknown>,
): string[] {
  const parsed = entries.map((t) => parse(t.file, t.text))
  const defines = new Map<string, Define>()
  for (const template of [...parsed, ...libraries.map((t) => parse(t.file, t.text))]) {
    for (const [name, define] of template.defines) {
      // Helm keeps one definition per name; we refuse the ambiguity instead.
      if (defines.has(name)) {
        throw new HelmSubsetError(
          define.file,
          1,
          `template "${name}" is also defined in ${defines.get(name)?.file}`,
        )
      }
      defines.set(name, define)
    }
  }
  const renderer = new Renderer(defines)
  const context = { Values: values }
  return parsed.map((t) => renderer.nodes(t.file, t.body, { dot: context, root: context, depth: 0 }))
}

// ---- charts -------------------------------------------------------------------------------

/** A manifest rendered from one of the chart's own templates. */
export interface RenderedManifest {
  /** The template's path, relative to the chart folder (`templates/ingress.yaml`). */
  readonly template: string
  readonly manifest: Record<string, unknown>
}

/** Helm's value coalescing: maps merge deeply, anything else is replaced, null deletes. */
export function mergeValues(base: unknown, override: unknown): Record<string, unknown> {
  const out: Record<string, unknown> = isRecord(base) ? { ...base } : {}
  if (!isRecord(override)) return out
  for (const [key, value] of Object.entries(override)) {
    if (value === null) delete out[key]
    else if (isRecord(value) && isRecord(out[key])) out[key] = mergeValues(out[key], value)
    else out[key] = value
  }
  return out
}

async function listFiles(dir: string): Promise<string[]> {
  let entries: import('node:fs').Dirent[]
  try {
    entries = await readdir(dir, { withFileTypes: true })
  } catch (cause) {
    if ((cause as NodeJS.ErrnoException).code === 'ENOENT') return []
    throw cause
  }
  const files: string[] = []
  for (const entry of entries.sort((a, b) => (a.name < b.name ? -1 : 1))) {
    const path = join(dir, entry.name)
    if (entry.isDirectory()) files.push(...(await listFiles(path)))
    else files.push(path)
  }
  return files
}

interface ChartYaml {
  readonly dependencies?: readonly { readonly name?: unknown; readonly repository?: unknown }[]
}

/** Every template file of the chart's file:// dependencies, recursively. */
async function libraryTemplates(chartDir: string, seen: Set<string>): Promise<TemplateFile[]> {
  const chart = (parseYaml(await readFile(join(chartDir, 'Chart.yaml'), 'utf8')) ?? {}) as ChartYaml
  const out: TemplateFile[] = []
  for (const dep of chart.dependencies ?? []) {
    if (typeof dep.repository !== 'string' || !dep.repository.startsWith('file://')) continue
    const dir = resolve(chartDir, dep.repository.slice('file://'.length))
    if (seen.has(dir)) continue
    seen.add(dir)
    for (const path of await listFiles(join(dir, 'templates'))) {
      out.push({ file: relative(process.cwd(), path), text: await readFile(path, 'utf8') })
    }
    out.push(...(await libraryTemplates(dir, seen)))
  }
  return out
}

/**
 * Renders the chart's own templates (not its subcharts') with values.yaml merged with `values`,
 * and returns the non-empty YAML documents. Files whose name starts with `_` only hold defines.
 */
export async function renderChart(
  dir: string,
  values: Record<string, unknown> = {},
): Promise<RenderedManifest[]> {
  let defaults: unknown = {}
  try {
    defaults = parseYaml(await readFile(join(dir, 'values.yaml'), 'utf8')) ?? {}
  } catch (cause) {
    if ((cause as NodeJS.ErrnoException).code !== 'ENOENT') throw cause
  }
  const merged = mergeValues(defaults, values)
  const templates = join(dir, 'templates')
  const entries: TemplateFile[] = []
  const helpers: TemplateFile[] = []
  for (const path of await listFiles(templates)) {
    const name = relative(dir, path)
    const base = path.slice(path.lastIndexOf('/') + 1)
    if (base === 'NOTES.txt') continue
    const file = { file: relative(process.cwd(), path), text: await readFile(path, 'utf8') }
    if (base.startsWith('_')) helpers.push(file)
    else if (/\.ya?ml$/.test(base)) entries.push(file)
    else
      throw new HelmSubsetError(
        file.file,
        1,
        `only .yaml templates and _*.tpl helpers are in the subset (${name})`,
      )
  }
  const texts = renderTemplates(
    entries,
    [...helpers, ...(await libraryTemplates(dir, new Set([resolve(dir)])))],
    merged,
  )
  const out: RenderedManifest[] = []
  texts.forEach((text, i) => {
    const entry = entries[i] as TemplateFile
    const template = relative(dir, resolve(process.cwd(), entry.file))
    for (const doc of parseAllDocuments(text)) {
      if (doc.errors.length > 0) {
        throw new HelmSubsetError(
          entry.file,
          1,
          `the rendered template is not YAML: ${doc.errors[0]?.message}`,
        )
      }
      const manifest = doc.toJS() as unknown
      if (manifest === null || manifest === undefined) continue
      if (!isRecord(manifest)) {
        throw new HelmSubsetError(entry.file, 1, 'a rendered document is not a map (a Kubernetes object)')
      }
      out.push({ template, manifest })
    }
  })
  return out
}
