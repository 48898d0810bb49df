import assert from 'node:assert/strict'
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { buildDocs, readingOrder } from './docs.ts'

test('buildDocs() builds every page with a search index and finds no broken relative link', async () => {
  const out = join(tmpdir(), `docs-site-${process.pid}`)
  try {
    const { pages, broken } = await buildDocs(out)
    assert.deepEqual(broken, [])
    assert.ok(pages >= 5)
    const index = JSON.parse(await readFile(join(out, 'search-index.json'), 'utf8')) as { heading: string }[]
    assert.ok(index.some((s) => s.heading === 'Provisioning flow'))
    const home = await readFile(join(out, 'index.html'), 'utf8')
    assert.match(home, /<a href="architecture\.html">docs\/architecture\.md<\/a>/)
  } finally {
    await rm(out, { recursive: true, force: true })
  }
})

test('the site follows the reading order: parts in order, README first, every page placed once', async () => {
  const parts = await readingOrder()
  assert.deepEqual(
    parts.map((p) => p.part),
    [
      'What it is',
      'The lab',
      'Configuration',
      'Real machines',
      'The layers',
      'Operations',
      'Reference',
      'Contributing',
    ],
  )
  assert.deepEqual(parts[0]?.pages.slice(0, 2), ['README.md', 'docs/architecture.md'])
  const out = join(tmpdir(), `docs-order-${process.pid}`)
  try {
    await buildDocs(out)
    const nav = /<nav>([\s\S]*?)<\/nav>/.exec(await readFile(join(out, 'lab.html'), 'utf8'))?.[1] ?? ''
    const order = [...nav.matchAll(/<b>([^<]+)<\/b>|href="([^"]+)"/g)].map((m) => m[1] ?? m[2])
    assert.deepEqual(order.slice(0, 6), [
      'What it is',
      'index.html',
      'architecture.html',
      'The lab',
      'lab.html',
      'testos.html',
    ])
    assert.match(nav, /<a href="lab\.html" class="here">/)
  } finally {
    await rm(out, { recursive: true, force: true })
  }
})

test('readingOrder() refuses a page left out, a page placed twice and a page that does not exist', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'docs-order-'))
  try {
    await mkdir(join(dir, 'docs'))
    await writeFile(join(dir, 'docs', 'a.md'), '# A\n')
    await writeFile(join(dir, 'docs', 'b.md'), '# B\n')
    await writeFile(
      join(dir, 'docs', 'pages.json'),
      JSON.stringify([{ part: 'One', pages: ['docs/a.md', 'docs/a.md', 'docs/gone.md'] }]),
    )
    await assert.rejects(readingOrder(join(dir, 'docs')), (err: Error) => {
      assert.match(err.message, /^Cannot build the docs: .*pages\.json: /)
      assert.match(err.message, /docs\/b\.md is not placed: add it to a part/)
      assert.match(err.message, /docs\/a\.md is placed twice/)
      assert.match(err.message, /docs\/gone\.md is placed but does not exist/)
      return true
    })
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
})
