import assert from 'node:assert/strict'
import { mkdir, mkdtemp, readFile, rm, utimes, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { DEFAULT_CACHE_DIR } from './build.ts'
import { fetchTestOsPackages, withCacheLock } from './fetch.ts'
import { KERNEL_PACKAGE, TESTOS_PACKAGES } from './packages.ts'

test('withCacheLock() runs callers one at a time', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'hl-lock-'))
  try {
    const events: string[] = []
    const job = (name: string) =>
      withCacheLock(dir, async () => {
        events.push(`${name} in`)
        await new Promise((r) => setTimeout(r, 50))
        events.push(`${name} out`)
      })
    await Promise.all([job('a'), job('b')])
    // Either may go first, but never both at once.
    const first = events[0]?.[0] ?? ''
    const second = first === 'a' ? 'b' : 'a'
    assert.deepEqual(events, [`${first} in`, `${first} out`, `${second} in`, `${second} out`])
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
})

// A hang (the dead holder not noticed) is caught by the test's deadline; no wall-clock assertion.
test('withCacheLock() takes over a lock left by a process that is gone', { timeout: 60_000 }, async () => {
  const dir = await mkdtemp(join(tmpdir(), 'hl-lock-'))
  try {
    const lock = join(dir, 'testos.lock')
    await mkdir(lock)
    await writeFile(join(lock, 'pid'), '999999999') // no such process
    const old = new Date(Date.now() - 10_000)
    await utimes(lock, old, old)
    // Never stale by age: only the holder being gone can hand the lock over.
    assert.equal(await withCacheLock(dir, async () => 'ran', Number.POSITIVE_INFINITY), 'ran')
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
})

test('fetchTestOsPackages() unpacks every package and the current kernel, and records them', async () => {
  const fetched = await withCacheLock(DEFAULT_CACHE_DIR, () =>
    fetchTestOsPackages({ cacheDir: DEFAULT_CACHE_DIR }),
  )
  assert.match(fetched.kernelPackage, KERNEL_PACKAGE)
  assert.equal(fetched.kernelRelease, fetched.kernelPackage.replace('linux-image-', ''))
  for (const { name } of TESTOS_PACKAGES) {
    const p = fetched.packages[name]
    assert.ok(p, name)
    assert.match(p.deb, new RegExp(`^${name}_.*_(amd64|all)\\.deb$`))
    assert.equal(await readFile(join(fetched.debsDir, 'x', `${name}.unpacked`), 'utf8'), p.deb)
  }
  const manifest = JSON.parse(await readFile(join(fetched.debsDir, 'manifest.json'), 'utf8'))
  assert.equal(manifest.kernelPackage, fetched.kernelPackage)
  // A second call is answered from the manifest (no apt): the same result.
  assert.deepEqual(await fetchTestOsPackages({ cacheDir: DEFAULT_CACHE_DIR }), fetched)
})
