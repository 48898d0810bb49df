import assert from 'node:assert/strict'
import { createHash, randomBytes } from 'node:crypto'
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { createServer, type Server } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { ensureIso, type IsoProgress } from './iso-cache.ts'

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
    url: `http://127.0.0.1:${port}/Fedora.iso`,
    requests,
    close: () => new Promise((r) => srv.close(() => r())),
  }
}

test('ensureIso() resumes a broken download with a Range request, verifies it, then serves it from the cache', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'iso-cache-'))
  const s = await server(1024 * 1024)
  try {
    await assert.rejects(ensureIso({ url: s.url, sha256: digest, cacheDir: dir }), /broke after|got \d+ of/)
    const events: IsoProgress['type'][] = []
    const path = await ensureIso({
      url: s.url,
      sha256: digest,
      cacheDir: dir,
      progress: (e) => events.push(e.type),
    })
    assert.deepEqual(await readFile(path), image)
    assert.equal(s.requests.length, 2)
    assert.match(s.requests[1] ?? '', /^bytes=[1-9]\d*-$/)
    assert.ok(events.includes('iso.ready'))
    const again: IsoProgress['type'][] = []
    assert.equal(
      await ensureIso({ url: s.url, sha256: digest, cacheDir: dir, progress: (e) => again.push(e.type) }),
      path,
    )
    assert.deepEqual(again, ['iso.cached'])
    assert.equal(s.requests.length, 2, 'a cached ISO is not downloaded again')
  } finally {
    await s.close()
    await rm(dir, { recursive: true, force: true })
  }
})

test('ensureIso() removes a download whose sha256 does not match and names both digests', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'iso-cache-'))
  const s = await server()
  try {
    const wrong = 'a'.repeat(64)
    await assert.rejects(
      ensureIso({ url: s.url, sha256: wrong, cacheDir: dir }),
      new RegExp(`its sha256 is ${digest}, but os.iso.sha256 in homelab.yaml says ${wrong}`),
    )
    assert.deepEqual(await readdir(dir), [])
  } finally {
    await s.close()
    await rm(dir, { recursive: true, force: true })
  }
})

test('ensureIso() re-verifies a cached ISO that changed on disk', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'iso-cache-'))
  const s = await server()
  try {
    const path = await ensureIso({ url: s.url, sha256: digest, cacheDir: dir })
    await writeFile(path, Buffer.concat([image.subarray(0, 10), Buffer.from('corrupted')]))
    const again = await ensureIso({ url: s.url, sha256: digest, cacheDir: dir })
    assert.deepEqual(await readFile(again), image)
    assert.equal(s.requests.length, 2)
  } finally {
    await s.close()
    await rm(dir, { recursive: true, force: true })
  }
})

test('isoCacheStatus() says whether the pinned ISO is here, without downloading or hashing it', async () => {
  const { isoCacheStatus } = await import('./iso-cache.ts')
  const dir = await mkdtemp(join(tmpdir(), 'iso-cache-'))
  const s = await server()
  try {
    const missing = await isoCacheStatus(s.url, digest, dir)
    assert.equal(missing.status, 'warn')
    assert.match(missing.detail, /^not downloaded yet: http:\/\/127\.0\.0\.1/)
    await ensureIso({ url: s.url, sha256: digest, cacheDir: dir })
    const here = await isoCacheStatus(s.url, digest, dir)
    assert.equal(here.status, 'ok')
    assert.match(here.detail, /is here and matches os\.iso\.sha256$/)
    assert.equal(s.requests.length, 1)
  } finally {
    await s.close()
    await rm(dir, { recursive: true, force: true })
  }
})
