import assert from 'node:assert/strict'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import fc from 'fast-check'
import {
  buildIso,
  bytes,
  concat,
  diskTree,
  extractIso,
  type Flavour,
  LONG_NAME,
  LONGEST_NAME,
  makeTree,
  SYNTHETIC_ROOT_BLOCK,
  sha256,
  suspEntry,
  syntheticIso,
  type TreeEntry,
} from './_test-images.ts'
import { IsoError, IsoErrorCode } from './errors.ts'
import { type IsoFile, IsoImage } from './reader.ts'

let work: string
const images = new Map<Flavour, { image: string; extracted: string }>()
const flavours: Flavour[] = ['rockridge', 'joliet', 'plain', 'relocated']

before(async () => {
  work = await mkdtemp(join(tmpdir(), 'iso9660-'))
  await makeTree(join(work, 'src'))
  await Promise.all(
    flavours.map(async (flavour) => {
      const image = join(work, `${flavour}.iso`)
      const extracted = join(work, `${flavour}.out`)
      await buildIso(join(work, 'src'), image, flavour)
      await extractIso(image, extracted)
      images.set(flavour, { image, extracted })
    }),
  )
})

after(async () => {
  await rm(work, { recursive: true, force: true })
})

function paths(flavour: Flavour): { image: string; extracted: string } {
  const found = images.get(flavour)
  assert.ok(found, `image for ${flavour} was built`)
  return found
}

/** Reads a whole file through positional reads of `chunk` bytes. */
async function readAll(file: IsoFile, chunk: number): Promise<Uint8Array> {
  const out = new Uint8Array(file.size)
  let position = 0
  while (position < file.size) {
    const n = await file.read(out, position, Math.min(chunk, file.size - position), position)
    assert.ok(n > 0, `read at ${position} of ${file.size} made progress`)
    position += n
  }
  assert.equal(await file.read(new Uint8Array(16), 0, 16, file.size), 0, 'reading at the end gives 0')
  return out
}

/** What the reader sees: the same shape as diskTree() of an extraction. */
async function imageTree(image: IsoImage): Promise<Map<string, TreeEntry>> {
  const tree = new Map<string, TreeEntry>()
  for await (const { path, entry } of image.walk()) {
    if (entry.kind === 'file') {
      const file = await image.open(path)
      tree.set(path, { kind: 'file', detail: sha256(await readAll(file, 65536)) })
      await file.close()
    } else if (entry.kind === 'symlink') tree.set(path, { kind: 'symlink', detail: entry.target ?? '' })
    else if (entry.kind === 'directory') tree.set(path, { kind: 'directory' })
  }
  return tree
}

function sorted(tree: Map<string, TreeEntry>): [string, TreeEntry][] {
  return [...tree].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
}

describe('IsoImage against xorriso extraction', () => {
  for (const flavour of flavours) {
    test(`IsoImage.walk() of a ${flavour} image lists and reads exactly what xorriso extracts`, async () => {
      const { image: path, extracted } = paths(flavour)
      const image = await IsoImage.open(path)
      try {
        const expected = await diskTree(extracted)
        const actual = await imageTree(image)
        // Sanity: the reference itself has the interesting cases, so the comparison means something.
        assert.ok(expected.size > 300, `extraction has ${expected.size} entries`)
        assert.deepEqual(sorted(actual), sorted(expected))
      } finally {
        await image.close()
      }
    })
  }

  test('IsoImage.open() picks Rock Ridge over Joliet, Joliet over plain names', async () => {
    const expectations: [Flavour, string][] = [
      ['rockridge', 'rockridge'],
      ['relocated', 'rockridge'],
      ['joliet', 'joliet'],
      ['plain', 'iso9660'],
    ]
    for (const [flavour, tree] of expectations) {
      const image = await IsoImage.open(paths(flavour).image)
      assert.equal(image.tree, tree, flavour)
      assert.equal(image.volumeId, 'HOMELAB_TEST')
      await image.close()
    }
  })

  test('IsoImage keeps Rock Ridge names whole: long unicode name, 10 levels deep, symlinks reported', async () => {
    for (const flavour of ['rockridge', 'relocated'] as const) {
      const image = await IsoImage.open(paths(flavour).image)
      const long = await image.stat(LONG_NAME)
      assert.equal(long.kind, 'file')
      assert.equal(long.size, 'long name\n'.length)
      assert.equal((await image.stat(LONGEST_NAME)).size, 'longest name\n'.length)
      const deep = 'level1/level2/level3/level4/level5/level6/level7/level8/level9/level10/leaf.txt'
      const file = await image.open(deep)
      assert.equal(new TextDecoder().decode(await readAll(file, 3)), 'at the bottom\n')
      assert.deepEqual(
        { kind: (await image.stat('link')).kind, target: (await image.stat('link')).target },
        { kind: 'symlink', target: 'level1/level2' },
      )
      assert.equal((await image.stat('outside')).target, '/etc/passwd')
      // rr_moved is a relocation artefact (RE): not shown in the Rock Ridge tree.
      assert.equal(
        (await image.list('')).some((e) => e.name === 'rr_moved'),
        false,
      )
      await image.close()
    }
  })

  test('IsoImage.list() reads a directory spanning several sectors (300 entries)', async () => {
    for (const flavour of ['rockridge', 'joliet', 'plain'] as const) {
      const image = await IsoImage.open(paths(flavour).image)
      const many = await image.stat('many')
      assert.ok(many.size >= 3 * 2048, `${flavour}: "many" is ${many.size} bytes`)
      const entries = await image.list('many')
      assert.equal(entries.length, 300, flavour)
      const names =
        flavour === 'plain' ? entries.map((e) => e.name.toLowerCase()) : entries.map((e) => e.name)
      const expected = flavour === 'plain' ? 'file_299.txt' : 'file-299.txt'
      assert.ok(names.includes(expected), `${flavour} lists ${expected}`)
      await image.close()
    }
  })

  test('IsoImage.stat() is case-sensitive on Rock Ridge and Joliet names, not on plain ISO 9660 names', async () => {
    const rr = await IsoImage.open(paths('rockridge').image)
    await assert.rejects(rr.stat('EMPTY'), { code: IsoErrorCode.NotFound })
    assert.equal((await rr.stat('empty')).size, 0)
    await rr.close()
    const joliet = await IsoImage.open(paths('joliet').image)
    await assert.rejects(joliet.stat('Empty'), { code: IsoErrorCode.NotFound })
    await joliet.close()
    const plain = await IsoImage.open(paths('plain').image)
    assert.equal((await plain.stat('empty')).name, 'EMPTY')
    assert.equal((await plain.stat('EXACT204.BIN')).size, 2048)
    await plain.close()
  })

  test('IsoImage.stat() never follows symlinks and refuses ".."', async () => {
    const image = await IsoImage.open(paths('rockridge').image)
    await assert.rejects(image.stat('link/level3'), { code: IsoErrorCode.NotDirectory })
    await assert.rejects(image.stat('outside/x'), { code: IsoErrorCode.NotDirectory })
    await assert.rejects(image.open('outside'), { code: IsoErrorCode.NotFile })
    await assert.rejects(image.stat('level1/../empty'), { code: IsoErrorCode.NotFound })
    await assert.rejects(image.open('level1'), { code: IsoErrorCode.NotFile })
    await assert.rejects(image.list('empty'), { code: IsoErrorCode.NotDirectory })
    await image.close()
  })

  test('IsoFile.read() at random positions and lengths equals slices of the extracted file', async () => {
    const { image: path, extracted } = paths('rockridge')
    const image = await IsoImage.open(path)
    const files = ['big.bin', 'exact2048.bin', 'over2049.bin', 'empty']
    const references = new Map<string, Uint8Array>()
    for (const name of files) references.set(name, new Uint8Array(await readFile(join(extracted, name))))
    const opened = new Map<string, IsoFile>()
    for (const name of files) opened.set(name, await image.open(name))
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...files),
        fc.double({ min: 0, max: 1.2, noNaN: true }),
        fc.integer({ min: 0, max: 70_000 }),
        fc.integer({ min: 0, max: 100 }),
        async (name, where, length, offset) => {
          const reference = references.get(name) as Uint8Array
          const file = opened.get(name) as IsoFile
          const position = Math.floor(where * reference.length)
          const buffer = new Uint8Array(offset + length)
          const n = await file.read(buffer, offset, length, position)
          const expected = reference.subarray(position, position + length)
          assert.equal(n, expected.length)
          assert.deepEqual(buffer.subarray(offset, offset + n), expected)
        },
      ),
      { numRuns: 300 },
    )
    await image.close()
  })
})

describe('IsoImage on synthetic images', () => {
  async function withImage(
    bytesOfImage: Uint8Array,
    body: (image: IsoImage) => Promise<void>,
  ): Promise<void> {
    const dir = await mkdtemp(join(tmpdir(), 'iso9660-syn-'))
    const path = join(dir, 'image.iso')
    await writeFile(path, bytesOfImage)
    const image = await IsoImage.open(path)
    try {
      await body(image)
    } finally {
      await image.close()
      await rm(dir, { recursive: true, force: true })
    }
  }

  test('IsoImage.open() concatenates the extents of a multi-extent file (flag 0x80) in record order', async () => {
    const parts = [bytes(4096, 7), bytes(2048, 8), bytes(100, 9)]
    await withImage(
      syntheticIso([
        { id: 'BIG.BIN;1', parts },
        { id: 'AFTER.TXT;1', parts: [bytes(5, 10)] },
      ]),
      async (image) => {
        const entries = await image.list('')
        assert.deepEqual(
          entries.map((e) => [e.name, e.size]),
          [
            ['BIG.BIN', 6244],
            ['AFTER.TXT', 5],
          ],
        )
        const file = await image.open('BIG.BIN')
        assert.equal(sha256(await readAll(file, 1000)), sha256(concat(...parts)))
        // xorriso agrees on the synthetic image (so the test's own encoding is right, too).
        const extracted = `${image.path}.out`
        await extractIso(image.path, extracted)
        assert.equal(sha256(await readFile(join(extracted, 'BIG.BIN'))), sha256(concat(...parts)))
        // A read across the boundary between the first and second extent.
        const buffer = new Uint8Array(10)
        assert.equal(await file.read(buffer, 0, 10, 4091), 10)
        assert.deepEqual(
          buffer,
          concat(parts[0]?.subarray(4091) ?? new Uint8Array(), parts[1]?.subarray(0, 5) ?? new Uint8Array()),
        )
      },
    )
  })

  test('IsoImage.list() skips associated files (as Linux does by default) and reports hidden ones', async () => {
    await withImage(
      syntheticIso([
        { id: 'FORK;1', parts: [bytes(10, 1)], flags: 0x04 },
        { id: 'SECRET;1', parts: [bytes(10, 2)], flags: 0x01 },
      ]),
      async (image) => {
        assert.deepEqual(
          (await image.list('')).map((e) => [e.name, e.hidden]),
          [['SECRET', true]],
        )
      },
    )
  })

  test('IsoImage.walk() rejects a directory that links back to the root', async () => {
    await withImage(
      syntheticIso([{ id: 'A', children: [{ id: 'LOOP', block: SYNTHETIC_ROOT_BLOCK, length: 2048 }] }]),
      async (image) => {
        // Lookups terminate: each path component is one step.
        assert.equal((await image.stat('A/LOOP/A/LOOP/A')).kind, 'directory')
        await assert.rejects(
          (async () => {
            for await (const _ of image.walk());
          })(),
          { code: IsoErrorCode.Cycle },
        )
      },
    )
  })

  test('IsoImage reads Rock Ridge NM names continued across entries, with SP skip bytes', async () => {
    const sp = suspEntry('SP', [0xbe, 0xef, 0])
    const px = suspEntry(
      'PX',
      concat(new Uint8Array([0xa4, 0x81, 0, 0, 0, 0, 0x81, 0xa4]), new Uint8Array(24)),
    )
    const nm = concat(
      suspEntry('NM', [1, ...new TextEncoder().encode('first half, ')]),
      suspEntry('NM', [0, ...new TextEncoder().encode('second half')]),
    )
    await withImage(
      syntheticIso([{ id: 'NAME.TXT;1', parts: [bytes(3, 1)], systemUse: concat(px, nm) }], concat(sp, px)),
      async (image) => {
        assert.equal(image.tree, 'rockridge')
        const [entry] = await image.list('')
        assert.equal(entry?.name, 'first half, second half')
        assert.equal(entry?.mode, 0o100644)
      },
    )
  })

  test('IsoImage.open() refuses zisofs-compressed files with HOMELAB_ISO_UNSUPPORTED', async () => {
    const sp = suspEntry('SP', [0xbe, 0xef, 0])
    const rr = suspEntry('RR', [0x89])
    const zf = suspEntry('ZF', [0x70, 0x7a, 4, 15, ...new Uint8Array(8)])
    await withImage(
      syntheticIso([{ id: 'Z;1', parts: [bytes(30, 1)], systemUse: concat(rr, zf) }], concat(sp, rr)),
      async (image) => {
        assert.equal((await image.stat('Z')).kind, 'file')
        await assert.rejects(image.open('Z'), (error: unknown) => {
          assert.ok(error instanceof IsoError)
          assert.equal(error.code, IsoErrorCode.Unsupported)
          assert.match(error.message, /zisofs/)
          return true
        })
      },
    )
  })

  test('IsoImage.open() rejects an image without a primary volume descriptor', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'iso9660-bad-'))
    try {
      const empty = join(dir, 'zeros.iso')
      await writeFile(empty, new Uint8Array(40 * 2048))
      await assert.rejects(IsoImage.open(empty), {
        code: IsoErrorCode.NotIso,
        message: 'Cannot read ISO 9660 image: volume descriptor identifier "CD001" not found at sector 16',
      })
      const short = join(dir, 'short.iso')
      await writeFile(short, new Uint8Array(1000))
      await assert.rejects(IsoImage.open(short), { code: IsoErrorCode.NotIso })
      const noPrimary = join(dir, 'terminator-only.iso')
      const image = new Uint8Array(20 * 2048)
      image.set([255, 0x43, 0x44, 0x30, 0x30, 0x31, 1], 16 * 2048)
      await writeFile(noPrimary, image)
      await assert.rejects(IsoImage.open(noPrimary), {
        code: IsoErrorCode.NotIso,
        message: 'Cannot read ISO 9660 image: primary volume descriptor not found at sector 16',
      })
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })

  test('IsoFile.read() throws HOMELAB_ISO_TRUNCATED rather than return a short read when the image is cut', async () => {
    const full = syntheticIso([{ id: 'F;1', parts: [bytes(8192, 4)] }])
    await withImage(full, async (image) => {
      // The whole image is there: fine.
      assert.equal((await image.open('F')).size, 8192)
    })
    await withImage(full.subarray(0, full.length - 4096), async (image) => {
      await assert.rejects(image.open('F'), { code: IsoErrorCode.Truncated })
    })
  })
})
