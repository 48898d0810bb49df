/**
 * `make docs`: builds docs/ (and the README) into a static, searchable site in
 * docs/.site/. No server needed: open docs/.site/index.html, or serve the folder.
 * Search runs in the page over an index of every section built here.
 *
 * Also checks that every relative link between pages points at a page or file
 * that exists (`buildDocs()` returns the broken ones; the test fails on any).
 */
import { existsSync } from 'node:fs'
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { dirname, join, relative } from 'node:path'
import { Marked } from 'marked'

const root = join(import.meta.dirname, '..')

interface Page {
  /** Source path relative to the repo, like docs/architecture.md. */
  readonly source: string
  /** Output path relative to the site, like architecture.html. */
  readonly output: string
  readonly title: string
  readonly html: string
  readonly sections: { id: string; heading: string; text: string }[]
}

function slug(text: string): string {
  return text
    .toLowerCase()
    .replace(/<[^>]+>/g, '')
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-|-$/g, '')
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c] ?? c)
}

function outputOf(source: string): string {
  if (source === 'README.md') return 'index.html'
  return `${source
    .replace(/^docs\//, '')
    .replace(/\.md$/, '')
    .toLowerCase()}.html`
}

/** A part of the site's reading order (docs/pages.json) and its pages, in the order a user meets them. */
export interface Part {
  readonly part: string
  readonly pages: readonly string[]
}

/**
 * The reading order from docs/pages.json. Every page in docs/ must be placed exactly once, and every
 * placed page must exist: a new page cannot be forgotten, a removed one cannot linger.
 */
export async function readingOrder(docsDir = join(root, 'docs')): Promise<Part[]> {
  const file = join(docsDir, 'pages.json')
  const parts = JSON.parse(await readFile(file, 'utf8')) as Part[]
  const placed = parts.flatMap((p) => p.pages)
  const onDisk = (await readdir(docsDir, { recursive: true }))
    .filter((e) => e.endsWith('.md') && !e.startsWith('.'))
    .map((e) => `docs/${e}`)
  const problems: string[] = []
  for (const page of onDisk)
    if (!placed.includes(page)) problems.push(`${page} is not placed: add it to a part`)
  for (const page of placed) {
    if (placed.indexOf(page) !== placed.lastIndexOf(page)) problems.push(`${page} is placed twice`)
    if (!existsSync(join(docsDir, '..', page))) problems.push(`${page} is placed but does not exist`)
  }
  if (problems.length > 0)
    throw new Error(`Cannot build the docs: ${relative(root, file)}: ${[...new Set(problems)].join('; ')}`)
  return parts
}

/** One page: its HTML, sections for the search index, and any relative link that points nowhere (into `broken`). */
async function renderPage(source: string, sources: readonly string[], broken: string[]): Promise<Page> {
  const markdown = await readFile(join(root, source), 'utf8')
  const sections: Page['sections'] = []
  let current = { id: '', heading: '', text: '' }
  const marked = new Marked({
    renderer: {
      heading({ tokens, depth }) {
        const text = this.parser.parseInline(tokens)
        const id = slug(text)
        current = { id, heading: text.replace(/<[^>]+>/g, ''), text: '' }
        sections.push(current)
        return `<h${depth} id="${id}"><a href="#${id}">${text}</a></h${depth}>\n`
      },
      link({ href, tokens }) {
        const text = this.parser.parseInline(tokens)
        let target = href
        if (!/^[a-z]+:|^#/.test(href)) {
          const [path = '', hash] = href.split('#')
          const resolved = relative(root, join(root, dirname(source), path))
          if (!existsSync(join(root, resolved))) broken.push(`${source}: link to "${href}" (no ${resolved})`)
          if (sources.includes(resolved)) {
            const from = dirname(outputOf(source))
            target = relative(from, outputOf(resolved)) + (hash === undefined ? '' : `#${hash}`)
          }
        }
        return `<a href="${escapeHtml(target)}">${text}</a>`
      },
    },
    walkTokens(token) {
      if (token.type === 'text' || token.type === 'codespan' || token.type === 'code') {
        current.text += ` ${token.raw}`
      }
    },
  })
  const html = await marked.parse(markdown)
  const title = sections[0]?.heading ?? source
  return { source, output: outputOf(source), title, html, sections }
}

export async function buildDocs(
  outDir = join(root, 'docs/.site'),
): Promise<{ pages: number; broken: string[] }> {
  const parts = await readingOrder()
  const sources = parts.flatMap((p) => p.pages)
  const broken: string[] = []
  const pages: Page[] = []
  for (const source of sources) pages.push(await renderPage(source, sources, broken))

  await rm(outDir, { recursive: true, force: true })
  const index = pages.flatMap((p) =>
    p.sections.map((s) => ({
      page: p.output,
      title: p.title,
      id: s.id,
      heading: s.heading,
      text: s.text.slice(0, 2000),
    })),
  )
  for (const page of pages) {
    const depth = page.output.split('/').length - 1
    const up = '../'.repeat(depth)
    const link = (source: string) => {
      const p = pages.find((x) => x.source === source)
      if (p === undefined) return ''
      return `<li><a href="${up}${p.output}"${p === page ? ' class="here"' : ''}>${escapeHtml(p.title)}</a></li>`
    }
    const nav = parts
      .map((part) => `<li><b>${escapeHtml(part.part)}</b><ul>${part.pages.map(link).join('')}</ul></li>`)
      .join('')
    const doc = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(page.title)} · homelab</title><link rel="stylesheet" href="${up}style.css"></head>
<body><nav><input id="q" type="search" placeholder="Search the docs" autocomplete="off"><ol id="hits"></ol><ul>${nav}</ul></nav>
<main>${page.html}</main><script>window.SITE_ROOT=${JSON.stringify(up)}</script><script src="${up}search.js"></script></body></html>\n`
    await mkdir(dirname(join(outDir, page.output)), { recursive: true })
    await writeFile(join(outDir, page.output), doc)
  }
  await writeFile(join(outDir, 'search-index.json'), JSON.stringify(index))
  await writeFile(join(outDir, 'search.js'), SEARCH_JS)
  await writeFile(join(outDir, 'style.css'), STYLE)
  return { pages: pages.length, broken }
}

const SEARCH_JS = `// Client-side search over search-index.json: every word must match; headings weigh more.
(async () => {
  const q = document.getElementById('q'), hits = document.getElementById('hits')
  const index = await (await fetch(SITE_ROOT + 'search-index.json')).json().catch(() => [])
  q.addEventListener('input', () => {
    const words = q.value.toLowerCase().split(/\\s+/).filter(Boolean)
    hits.innerHTML = ''
    if (words.length === 0) return
    const scored = []
    for (const s of index) {
      const head = s.heading.toLowerCase(), body = s.text.toLowerCase()
      let score = 0
      for (const w of words) {
        if (head.includes(w)) score += 5
        else if (body.includes(w)) score += 1
        else { score = 0; break }
      }
      if (score > 0) scored.push([score, s])
    }
    scored.sort((a, b) => b[0] - a[0])
    for (const [, s] of scored.slice(0, 12)) {
      const li = document.createElement('li'), a = document.createElement('a')
      a.href = SITE_ROOT + s.page + '#' + s.id
      a.textContent = s.title + ' › ' + s.heading
      li.appendChild(a); hits.appendChild(li)
    }
  })
})()
`

const STYLE = `body{margin:0;display:flex;font:16px/1.55 system-ui,sans-serif;color:#1d2328}
nav{width:17rem;flex:none;padding:1rem;border-right:1px solid #ddd;height:100vh;position:sticky;top:0;overflow:auto;box-sizing:border-box}
nav ul,nav ol{list-style:none;padding:0}nav ul ul{margin:.2rem 0 .8rem .6rem}nav a{color:#234;text-decoration:none}nav a.here{font-weight:600}
#q{width:100%;padding:.4rem;box-sizing:border-box}#hits li{margin:.3rem 0;font-size:.9rem}
main{max-width:52rem;padding:1rem 2.5rem;overflow-wrap:anywhere}h1 a,h2 a,h3 a,h4 a{color:inherit;text-decoration:none}
pre{background:#f4f5f6;padding:.8rem;overflow:auto}code{font-size:.9em}table{border-collapse:collapse}td,th{border:1px solid #ddd;padding:.25rem .5rem}
`

if (import.meta.main) {
  const { pages, broken } = await buildDocs()
  for (const b of broken) process.stderr.write(`docs: broken link: ${b}\n`)
  process.stdout.write(`docs: ${pages} pages built in docs/.site (open docs/.site/index.html)\n`)
  if (broken.length > 0) process.exitCode = 1
}
