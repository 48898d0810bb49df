import assert from 'node:assert/strict'
import { createHash, randomBytes } from 'node:crypto'
import { mkdtemp, readdir, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { ensureIso, type IsoProgress, isoCacheStatus } from './iso.ts'

const image = randomBytes(64 * 1024 + 7)
const digest = createHash('sha256').update(image).digest('hex')
const url = 'http://mirror.invalid/Fedora.iso'

/** A fetch that serves the image and counts requests (no network). */
function serve(): { fetch: typeof fetch; requests: string[] } {
  const requests: string[] = []
  return {
    requests,
    fetch: (async (input: string | URL | Request) => {
      requests.push(String(input))
      return new Response(image, { headers: { 'content-length': String(image.length) } })
    }) as typeof fetch,
  }
}

test('ensureIso() caches the ISO as <sha256>.iso and reports iso.* progress', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'iso-'))
  const { fetch, requests } = serve()
  try {
    const events: IsoProgress['type'][] = []
    const path = await ensureIso({
      url,
      sha256: digest,
      cacheDir: dir,
      fetch,
      progress: (e) => events.push(e.type),
    })
    assert.equal(path, join(dir, `${digest}.iso`))
    assert.deepEqual(events, ['iso.download', 'iso.verify', 'iso.ready'])
    const again: IsoProgress['type'][] = []
    await ensureIso({ url, sha256: digest, cacheDir: dir, fetch, progress: (e) => again.push(e.type) })
    assert.deepEqual(again, ['iso.cached'])
    assert.deepEqual(requests, [url])
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
})

test('ensureIso() names os.iso.sha256 in homelab.yaml when the digest does not match', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'iso-'))
  try {
    const wrong = 'a'.repeat(64)
    await assert.rejects(
      ensureIso({ url, sha256: wrong, cacheDir: dir, fetch: serve().fetch }),
      new RegExp(`Cannot use ISO: its sha256 is ${digest}, but os.iso.sha256 in homelab.yaml says ${wrong}`),
    )
    assert.deepEqual(await readdir(dir), [])
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
})

test('isoCacheStatus() says whether the pinned ISO is here, without downloading or hashing it', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'iso-'))
  const { fetch, requests } = serve()
  try {
    const missing = await isoCacheStatus(url, digest, dir)
    assert.equal(missing.status, 'warn')
    assert.equal(missing.detail, `not downloaded yet: ${url}`)
    await ensureIso({ url, sha256: digest, cacheDir: dir, fetch })
    const here = await isoCacheStatus(url, digest, dir)
    assert.equal(here.status, 'ok')
    assert.match(here.detail, /is here and matches os\.iso\.sha256$/)
    assert.equal(requests.length, 1)
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
})
