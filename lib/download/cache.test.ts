import assert from 'node:assert/strict'
import { createHash, randomBytes } from 'node:crypto'
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { createServer, type Server } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { cachedFile, DownloadError, type DownloadProgress, ensureDownload, resumePoint } from './cache.ts'

const image = randomBytes(3 * 1024 * 1024 + 123)
const digest = createHash('sha256').update(image).digest('hex')

/** A loopback server that honours Range and can cut the first download short. */
async function server(
  cutAfter?: number,
): Promise<{ url: string; requests: string[]; close(): Promise<void> }> {
  const requests: string[] = []
  let cut = cutAfter
  const srv: Server = createServer((req, res) => {
    requests.push(req.headers.range ?? 'whole')
    const m = /^bytes=(\d+)-$/.exec(req.headers.range ?? '')
    const start = m === null ? 0 : Number(m[1])
    const body = image.subarray(start)
    res.writeHead(m === null ? 200 : 206, { 'content-length': body.length })
    if (cut !== undefined) {
      res.write(body.subarray(0, cut), () => res.destroy())
      cut = undefined
      return
    }
    res.end(body)
  })
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r))
  const { port } = srv.address() as { port: number }
  return {
    url: `http://127.0.0.1:${port}/image.bin`,
    requests,
    close: () => new Promise((r) => srv.close(() => r())),
  }
}

const label = { what: 'the test image', pinnedBy: 'the test', urlFix: 'check the test server' }
const fileName = 'image.bin'

test('ensureDownload() resumes a broken download with a Range request, verifies it, then serves it from the cache', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'download-cache-'))
  const s = await server(1024 * 1024)
  try {
    await assert.rejects(
      ensureDownload({ url: s.url, sha256: digest, cacheDir: dir, fileName, label }),
      /broke after|got \d+ of/,
    )
    const events: DownloadProgress['type'][] = []
    const path = await ensureDownload({
      url: s.url,
      sha256: digest,
      cacheDir: dir,
      fileName,
      label,
      progress: (e) => events.push(e.type),
    })
    assert.equal(path, join(dir, fileName))
    assert.deepEqual(await readFile(path), image)
    assert.equal(s.requests.length, 2)
    assert.match(s.requests[1] ?? '', /^bytes=[1-9]\d*-$/)
    assert.ok(events.includes('download.ready'))
    const again: DownloadProgress['type'][] = []
    assert.equal(
      await ensureDownload({
        url: s.url,
        sha256: digest,
        cacheDir: dir,
        fileName,
        label,
        progress: (e) => again.push(e.type),
      }),
      path,
    )
    assert.deepEqual(again, ['download.cached'])
    assert.equal(s.requests.length, 2, 'a cached file is not downloaded again')
  } finally {
    await s.close()
    await rm(dir, { recursive: true, force: true })
  }
})

test('ensureDownload() removes a download whose sha256 does not match, names both digests and says where the digest is pinned', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'download-cache-'))
  const s = await server()
  try {
    const wrong = 'a'.repeat(64)
    await assert.rejects(
      ensureDownload({ url: s.url, sha256: wrong, cacheDir: dir, fileName, label }),
      (e) => {
        assert.ok(e instanceof DownloadError)
        assert.equal(e.code, 'HOMELAB_DOWNLOAD_CHECKSUM')
        assert.match(
          e.message,
          new RegExp(`^Cannot use the test image: its sha256 is ${digest}, but the test says ${wrong}`),
        )
        return true
      },
    )
    assert.deepEqual(await readdir(dir), [])
  } finally {
    await s.close()
    await rm(dir, { recursive: true, force: true })
  }
})

test("ensureDownload() reports a URL that answers with an error as HOMELAB_DOWNLOAD_FAILED, with the label's fix", async () => {
  const dir = await mkdtemp(join(tmpdir(), 'download-cache-'))
  try {
    const notFound = async () => new Response('no', { status: 404, statusText: 'Not Found' })
    await assert.rejects(
      ensureDownload({
        url: 'http://mirror.invalid/x',
        sha256: digest,
        cacheDir: dir,
        fileName,
        label,
        fetch: notFound,
      }),
      (e) => {
        assert.ok(e instanceof DownloadError)
        assert.equal(e.code, 'HOMELAB_DOWNLOAD_FAILED')
        assert.equal(
          e.message,
          'Cannot download the test image: http://mirror.invalid/x answered 404 Not Found (check the test server)',
        )
        return true
      },
    )
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
})

test('ensureDownload() re-verifies a cached file that changed on disk', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'download-cache-'))
  const s = await server()
  try {
    const path = await ensureDownload({ url: s.url, sha256: digest, cacheDir: dir, fileName, label })
    await writeFile(path, Buffer.concat([image.subarray(0, 10), Buffer.from('corrupted')]))
    const again = await ensureDownload({ url: s.url, sha256: digest, cacheDir: dir, fileName, label })
    assert.deepEqual(await readFile(again), image)
    assert.equal(s.requests.length, 2)
  } finally {
    await s.close()
    await rm(dir, { recursive: true, force: true })
  }
})

test('cachedFile() says whether a file is here, verified or not, or how much of a download waits, without downloading or hashing', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'download-cache-'))
  const s = await server(1024 * 1024)
  try {
    assert.deepEqual(await cachedFile(dir, fileName), {
      state: 'missing',
      path: join(dir, fileName),
      partialBytes: undefined,
    })
    await assert.rejects(ensureDownload({ url: s.url, sha256: digest, cacheDir: dir, fileName, label }))
    const partial = await cachedFile(dir, fileName)
    assert.equal(partial.state, 'missing')
    assert.ok(partial.state === 'missing' && partial.partialBytes !== undefined && partial.partialBytes > 0)
    await ensureDownload({ url: s.url, sha256: digest, cacheDir: dir, fileName, label })
    assert.deepEqual(await cachedFile(dir, fileName), { state: 'verified', path: join(dir, fileName) })
    await writeFile(join(dir, fileName), image.subarray(1)) // changed on disk: no longer known good
    assert.deepEqual(await cachedFile(dir, fileName), { state: 'unverified', path: join(dir, fileName) })
    assert.equal(s.requests.length, 2)
  } finally {
    await s.close()
    await rm(dir, { recursive: true, force: true })
  }
})

test('resumePoint(): resumes at the offset on 206, starts over when the server sent the whole file, totals when it can', () => {
  assert.deepEqual(
    [
      resumePoint(100, 206, '50'),
      resumePoint(100, 200, '150'),
      resumePoint(0, 200, '150'),
      resumePoint(100, 206, null),
      resumePoint(0, 200, 'garbage'),
    ],
    [
      { offset: 100, total: 150 },
      { offset: 0, total: 150 },
      { offset: 0, total: 150 },
      { offset: 100, total: undefined },
      { offset: 0, total: undefined },
    ],
  )
})
