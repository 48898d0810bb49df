import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { test } from 'node:test'
import { makeZip } from './_test-zips.ts'
import { ZipError } from './errors.ts'
import { openZip, safeEntryName } from './reader.ts'

const sha256 = (data: Uint8Array) => createHash('sha256').update(data).digest('hex')
const fixture = async () => new Uint8Array(await readFile(new URL('fixtures/infozip.zip', import.meta.url)))

const refusedWith = (code: ZipError['code'], message: RegExp) => (e: unknown) => {
  assert.ok(e instanceof ZipError, String(e))
  assert.equal(e.code, code)
  assert.match(e.message, message)
  return true
}

test("openZip() lists Info-ZIP's entries with kinds and UNIX modes, and reads stored, deflated and empty data", async () => {
  const zip = openZip(await fixture())
  assert.deepEqual(
    zip.entries.map((e) => [e.name, e.kind, e.method, e.size, e.mode?.toString(8)]),
    [
      ['empty', 'file', 0, 0, '644'],
      ['link', 'symlink', 0, 8, '777'],
      ['docs', 'directory', 0, 0, '755'],
      ['docs/readme.txt', 'file', 8, 4000, '644'],
      ['bin', 'directory', 0, 0, '755'],
      ['bin/tool', 'file', 0, 20, '755'],
      ['bin/random.bin', 'file', 0, 3000, '644'],
    ],
  )
  const read = (name: string) => {
    const entry = zip.get(name)
    assert.ok(entry, name)
    return zip.read(entry)
  }
  assert.equal(Buffer.from(read('docs/readme.txt')).toString(), 'homelab zip fixture\n'.repeat(200))
  assert.equal(
    sha256(read('bin/random.bin')),
    '1adcd999c1c5bca7602fae364504eb4b6feb32a8e2204b13bcfe9e4d0de7793b',
  )
  assert.equal(Buffer.from(read('bin/tool')).toString(), '#!/bin/sh\necho tool\n')
  assert.equal(Buffer.from(read('link')).toString(), 'bin/tool')
  assert.equal(read('empty').length, 0)
  assert.equal(zip.get('nope'), undefined)
})

test('openZip() reads an archive with a trailing comment holding a fake end signature', async () => {
  const bytes = await fixture()
  const comment = Buffer.from('PK\x05\x06 not the end record')
  const withComment = Buffer.concat([bytes.subarray(0, -2), Buffer.from([comment.length, 0]), comment])
  assert.equal(openZip(withComment).entries.length, 7)
})

test('openZip() refuses a byte flipped in deflated data by its CRC-32 or the inflate error', async () => {
  const bytes = await fixture()
  const zip = openZip(bytes)
  const entry = zip.get('docs/readme.txt')
  assert.ok(entry)
  const nameEnd = entry.localOffset + 30 + 'docs/readme.txt'.length
  const extra = Buffer.from(bytes).readUInt16LE(entry.localOffset + 28)
  const damaged = new Uint8Array(bytes)
  const at = nameEnd + extra + 5
  damaged[at] = (damaged[at] ?? 0) ^ 0xff
  const again = openZip(damaged)
  assert.throws(
    () => again.read(entry),
    refusedWith('HOMELAB_ZIP_CORRUPT', /^Cannot read zip entry "docs\/readme.txt": /),
  )
})

test('openZip() refuses stored data whose CRC-32 does not match, naming both sums', () => {
  const zip = openZip(makeZip([{ name: 'a', data: 'hello', crc32: 0x12345678 }]))
  const [entry] = zip.entries
  assert.ok(entry)
  assert.throws(
    () => zip.read(entry),
    refusedWith(
      'HOMELAB_ZIP_CORRUPT',
      /^Cannot read zip entry "a": its CRC-32 is 3610a686, but its header says 12345678$/,
    ),
  )
})

test('openZip() refuses deflated data that inflates past its recorded size (a zip bomb lying about its size)', () => {
  const zip = openZip(makeZip([{ name: 'bomb', data: Buffer.alloc(1 << 20), deflate: true, size: 1000 }]))
  const [entry] = zip.entries
  assert.ok(entry)
  assert.throws(
    () => zip.read(entry),
    refusedWith('HOMELAB_ZIP_CORRUPT', /bigger than 1000 bytes|1048576 bytes, but/),
  )
})

test('openZip() refuses more entries, or a bigger entry, than the limits', () => {
  const two = makeZip([
    { name: 'a', data: 'x' },
    { name: 'b', data: 'xyz' },
  ])
  assert.throws(
    () => openZip(two, { maxEntries: 1 }),
    refusedWith('HOMELAB_ZIP_TOO_LARGE', /2 entries, more than the limit of 1$/),
  )
  assert.throws(
    () => openZip(two, { maxEntrySize: 2 }),
    refusedWith('HOMELAB_ZIP_TOO_LARGE', /^Cannot read zip entry "b": 3 bytes/),
  )
})

test('openZip() refuses zip-slip names before any data is read', () => {
  for (const name of ['../evil', 'a/../../evil', '/etc/passwd', 'C:/x', 'a\\..\\b', 'a//b', './a', 'a\0b']) {
    assert.throws(
      () => openZip(makeZip([{ name, data: 'x' }])),
      refusedWith('HOMELAB_ZIP_UNSAFE_NAME', /could write outside the folder/),
      JSON.stringify(name),
    )
  }
  assert.throws(
    () =>
      openZip(
        makeZip([
          { name: 'a', data: 'x' },
          { name: 'a', data: 'y' },
        ]),
      ),
    refusedWith('HOMELAB_ZIP_UNSAFE_NAME', /"a" appears twice/),
  )
  assert.equal(safeEntryName('helm/helm'), 'helm/helm')
})

test('openZip() refuses what is not a zip, naming why', () => {
  const cases: [Uint8Array, ZipError['code'], RegExp][] = [
    [new Uint8Array(10), 'HOMELAB_ZIP_FORMAT', /10 bytes, shorter than/],
    [new Uint8Array(4096), 'HOMELAB_ZIP_FORMAT', /no end of central directory record/],
  ]
  const zip64 = Buffer.from(makeZip([]))
  zip64.writeUInt32LE(0xffffffff, zip64.length - 6)
  cases.push([zip64, 'HOMELAB_ZIP_UNSUPPORTED', /zip64/])
  const encrypted = Buffer.from(makeZip([{ name: 'a', data: 'x' }]))
  encrypted.writeUInt16LE(1, encrypted.indexOf(Buffer.from([0x50, 0x4b, 1, 2])) + 8)
  cases.push([encrypted, 'HOMELAB_ZIP_UNSUPPORTED', /"a": it is encrypted/])
  const bzip2 = Buffer.from(makeZip([{ name: 'a', data: 'x' }]))
  bzip2.writeUInt16LE(12, bzip2.indexOf(Buffer.from([0x50, 0x4b, 1, 2])) + 10)
  cases.push([bzip2, 'HOMELAB_ZIP_UNSUPPORTED', /compression method 12/])
  const pastEnd = Buffer.from(makeZip([{ name: 'a', data: 'x' }]))
  pastEnd.writeUInt32LE(1000, pastEnd.length - 10)
  cases.push([pastEnd, 'HOMELAB_ZIP_FORMAT', /runs past the end record/])
  for (const [bytes, code, message] of cases) assert.throws(() => openZip(bytes), refusedWith(code, message))
})
