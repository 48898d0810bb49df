import assert from 'node:assert/strict'
import { readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { buildDocs } from './docs.ts'

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
