/**
 * Untrusted images: whatever the bytes, IsoImage either gives a result or throws
 * IsoError with a code; never another exception, never a hang. Each property run
 * writes the image to a file and opens, walks and reads all of it.
 */
import assert from 'node:assert/strict'
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, test } from 'node:test'
import fc from 'fast-check'
import { buildIso, bytes, LONGEST_NAME, syntheticIso } from './_test-images.ts'
import { IsoError } from './errors.ts'
import { IsoImage } from './reader.ts'

let work: string
let seeds: { name: string; image: Uint8Array }[] = []

before(async () => {
  work = await mkdtemp(join(tmpdir(), 'iso9660-fuzz-'))
  const src = join(work, 'src')
  await mkdir(join(src, 'd1/d2/d3/d4/d5/d6/d7/d8/d9'), { recursive: true })
  await writeFile(join(src, 'd1/d2/d3/d4/d5/d6/d7/d8/d9/deep'), 'deep')
  await writeFile(join(src, LONGEST_NAME), 'long')
  await writeFile(join(src, 'data.bin'), bytes(5000, 5))
  await writeFile(join(src, 'empty'), '')
  await symlink('d1/d2', join(src, 'link'))
  const built: { name: string; image: Uint8Array }[] = []
  for (const flavour of ['rockridge', 'joliet', 'relocated'] as const) {
    const path = join(work, `${flavour}.iso`)
    await buildIso(src, path, flavour)
    built.push({ name: flavour, image: new Uint8Array(await readFile(path)) })
  }
  built.push({
    name: 'synthetic',
    image: syntheticIso([
      { id: 'MULTI;1', parts: [bytes(3000, 1), bytes(100, 2)] },
      { id: 'DIR', children: [{ id: 'F;1', parts: [bytes(10, 3)] }] },
    ]),
  })
  seeds = built
})

after(async () => {
  await rm(work, { recursive: true, force: true })
})

let counter = 0

/** Opens, walks and reads everything; returns the error, which must be an IsoError. */
async function exercise(image: Uint8Array): Promise<void> {
  const path = join(work, `run-${counter++ % 4}.iso`)
  await writeFile(path, image)
  let iso: IsoImage | undefined
  try {
    iso = await IsoImage.open(path)
    let entries = 0
    for await (const { path: entryPath, entry } of iso.walk()) {
      entries++
      assert.ok(entries < 100_000, 'walk is bounded')
      if (entry.kind !== 'file') continue
      try {
        const file = await iso.open(entryPath)
        const buffer = new Uint8Array(Math.min(file.size, 65536))
        await file.read(buffer, 0, buffer.length, 0)
        await file.read(buffer, 0, buffer.length, Math.max(0, file.size - buffer.length))
        await file.close()
      } catch (error) {
        if (!(error instanceof IsoError)) throw error
        assert.match(error.code, /^HOMELAB_ISO_/)
      }
    }
    await iso.list('')
  } catch (error) {
    if (!(error instanceof IsoError)) throw error
    assert.match(error.code, /^HOMELAB_ISO_/)
    assert.ok(error.message.length > 0)
  } finally {
    await iso?.close()
  }
}

type Mutation = { kind: 'byte' | 'both32'; at: number; value: number }

/** A mutation: a byte, or a 32-bit value written both-endian (extents, lengths). */
const mutation = fc.oneof(
  fc.record({ kind: fc.constant('byte' as const), at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }),
  fc.record({
    kind: fc.constant('both32' as const),
    at: fc.nat(),
    value: fc.oneof(
      fc.constantFrom(0, 1, 16, 17, 18, 19, 20, 0x7fffffff, 0xffffffff),
      fc.integer({ min: 0, max: 0xffffffff }),
    ),
  }),
)

function mutate(seed: Uint8Array, mutations: readonly Mutation[]): Uint8Array {
  const image = new Uint8Array(seed)
  // Mutate the metadata: descriptors, path tables, directories, continuation areas.
  const region = Math.min(image.length, 48 * 2048) - 16 * 2048
  for (const m of mutations) {
    const at = 16 * 2048 + (m.at % region)
    if (m.kind === 'byte') image[at] = m.value
    else if (at + 8 <= image.length) {
      const view = new DataView(image.buffer)
      view.setUint32(at, m.value, true)
      view.setUint32(at + 4, m.value, false)
    }
  }
  return image
}

test('IsoImage on mutated images gives a result or an IsoError, never another throw or a hang', {
  timeout: 60_000,
}, async () => {
  assert.equal(seeds.length, 4)
  // Unmutated seeds are fine images.
  for (const { name, image } of seeds) {
    const path = join(work, `${name}-check.iso`)
    await writeFile(path, image)
    const iso = await IsoImage.open(path)
    let count = 0
    for await (const _ of iso.walk()) count++
    assert.ok(count >= 3, `${name} walks`)
    await iso.close()
  }
  await fc.assert(
    fc.asyncProperty(
      fc.integer({ min: 0, max: seeds.length - 1 }),
      fc.array(mutation, { minLength: 1, maxLength: 24 }),
      async (which, mutations) => {
        await exercise(mutate((seeds[which] as { image: Uint8Array }).image, mutations))
      },
    ),
    { numRuns: 400 },
  )
})

test('IsoImage on truncated images gives a result or an IsoError', { timeout: 30_000 }, async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.integer({ min: 0, max: seeds.length - 1 }),
      fc.double({ min: 0, max: 1, noNaN: true }),
      async (which, cut) => {
        const image = (seeds[which] as { image: Uint8Array }).image
        await exercise(image.subarray(0, Math.floor(cut * image.length)))
      },
    ),
    { numRuns: 100 },
  )
})

test('IsoImage on arbitrary bytes (with and without the CD001 magic) gives an IsoError or a result', {
  timeout: 30_000,
}, async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.uint8Array({ maxLength: 24 * 2048 }),
      fc.boolean(),
      fc.integer({ min: 0, max: 255 }),
      async (random, magic, type) => {
        const image = new Uint8Array(Math.max(random.length, magic ? 18 * 2048 : 0))
        image.set(random)
        if (magic) image.set([type, 0x43, 0x44, 0x30, 0x30, 0x31, 1], 16 * 2048)
        await exercise(image)
      },
    ),
    { numRuns: 200 },
  )
})
