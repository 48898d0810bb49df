/**
 * Untrusted archives: whatever the bytes, openZip() and read() either give a result or throw
 * ZipError with a code; never another exception, never more than the limits allow.
 */
import assert from 'node:assert/strict'
import { readFile } from 'node:fs/promises'
import { test } from 'node:test'
import fc from 'fast-check'
import { makeZip } from './_test-zips.ts'
import { ZipError } from './errors.ts'
import { openZip } from './reader.ts'

const limits = { maxEntries: 64, maxEntrySize: 1 << 16 }

function exercise(bytes: Uint8Array): void {
  try {
    const zip = openZip(bytes, limits)
    assert.ok(zip.entries.length <= limits.maxEntries)
    for (const entry of zip.entries) {
      try {
        assert.ok(zip.read(entry).length <= limits.maxEntrySize)
      } catch (error) {
        if (!(error instanceof ZipError)) throw error
        assert.match(error.code, /^HOMELAB_ZIP_/)
      }
    }
  } catch (error) {
    if (!(error instanceof ZipError)) throw error
    assert.ok(error.message.startsWith('Cannot read zip'))
  }
}

test('openZip() on mutated real and synthetic archives throws only ZipError', async () => {
  const seeds = [
    new Uint8Array(await readFile(new URL('fixtures/infozip.zip', import.meta.url))),
    makeZip([
      { name: 'd/deflated', data: 'abc'.repeat(500), deflate: true },
      { name: 'stored', data: 'xyz' },
    ]),
  ]
  fc.assert(
    fc.property(
      fc.constantFrom(...seeds),
      fc.array(fc.tuple(fc.nat(), fc.nat(255)), { minLength: 1, maxLength: 12 }),
      fc.option(fc.nat(), { nil: undefined }),
      (seed, flips, cut) => {
        const bytes = new Uint8Array(seed)
        for (const [at, value] of flips) bytes[at % bytes.length] = value
        exercise(cut === undefined ? bytes : bytes.subarray(cut % bytes.length))
      },
    ),
    { numRuns: 400 },
  )
})

test('openZip() on random bytes ending in an end record throws only ZipError', () => {
  fc.assert(
    fc.property(
      fc.uint8Array({ maxLength: 600 }),
      fc.uint8Array({ minLength: 18, maxLength: 18 }),
      (body, tail) => {
        exercise(new Uint8Array([...body, 0x50, 0x4b, 5, 6, ...tail]))
      },
    ),
    { numRuns: 400 },
  )
})
