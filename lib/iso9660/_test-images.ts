/**
 * Test images: real ones built by xorriso (the reference writer and extractor), and
 * tiny synthetic ones encoded here for what xorriso cannot make cheaply (multi-extent
 * files need a 4 GiB file) or will not make at all (cycles, broken continuations).
 * Used by the tests only.
 */
import { execFile } from 'node:child_process'
import { createHash } from 'node:crypto'
import { lstat, mkdir, readdir, readFile, readlink, symlink, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { promisify } from 'node:util'

const run = promisify(execFile)

/** xorriso writes and reads names in the locale's charset: UTF-8 keeps them byte-exact. */
const env = { ...process.env, LANG: 'C.UTF-8', LC_ALL: 'C.UTF-8' }

export type Flavour = 'rockridge' | 'joliet' | 'plain' | 'relocated'

/** xorriso -as mkisofs options per flavour ("relocated" moves deep directories, with Rock Ridge CL/RE). */
export const FLAVOUR_OPTIONS: Record<Flavour, string[]> = {
  rockridge: ['-R', '-J'],
  joliet: ['-J', '--norock'],
  plain: ['--norock'],
  relocated: ['-R', '-rr_reloc_dir', 'rr_moved'],
}

async function xorriso(args: string[]): Promise<void> {
  try {
    await run('xorriso', args, { env, maxBuffer: 16 * 1024 * 1024 })
  } catch (error) {
    const e = error as NodeJS.ErrnoException & { stderr?: string }
    if (e.code === 'ENOENT')
      throw new Error('Cannot run xorriso: is it installed? (apt-get install -y xorriso)')
    throw new Error(`xorriso ${args.join(' ')} failed:\n${e.stderr ?? ''}`, { cause: error })
  }
}

export async function buildIso(
  source: string,
  image: string,
  flavour: Flavour,
  extra: string[] = [],
): Promise<void> {
  await xorriso([
    '-as',
    'mkisofs',
    ...FLAVOUR_OPTIONS[flavour],
    ...extra,
    '-V',
    'HOMELAB_TEST',
    '-o',
    image,
    source,
  ])
}

export async function extractIso(image: string, target: string): Promise<void> {
  await xorriso(['-osirrox', 'on', '-indev', image, '-extract', '/', target])
}

/** The long name used in trees: spaces, non-ASCII, over 100 characters. */
export const LONG_NAME = `A long name with spaces — ünïcödé ✓ ${'x'.repeat(90)} end.txt`

/** 244 bytes: Rock Ridge splits its NM entry into a continuation area (CE). */
export const LONGEST_NAME = `${'n'.repeat(240)}.txt`

/** Deterministic pseudo-random bytes (xorshift32), so failures reproduce. */
export function bytes(length: number, seed: number): Uint8Array {
  const out = new Uint8Array(length)
  let x = seed >>> 0 || 1
  for (let i = 0; i < length; i++) {
    x ^= x << 13
    x >>>= 0
    x ^= x >>> 17
    x ^= x << 5
    x >>>= 0
    out[i] = x & 0xff
  }
  return out
}

/**
 * The tree every flavour is built from: 10 nested directories, a long unicode name,
 * 300 files in one directory (several directory sectors), an empty file, files of
 * 2048 and 2049 bytes, a 1.5 MB file, and (for Rock Ridge) relative and absolute symlinks.
 */
export async function makeTree(root: string): Promise<void> {
  let deep = root
  for (let level = 1; level <= 10; level++) deep = join(deep, `level${level}`)
  await mkdir(deep, { recursive: true })
  await writeFile(join(deep, 'leaf.txt'), 'at the bottom\n')
  await writeFile(join(root, LONG_NAME), 'long name\n')
  await writeFile(join(root, LONGEST_NAME), 'longest name\n')
  await mkdir(join(root, 'many'))
  for (let i = 0; i < 300; i++) {
    await writeFile(join(root, 'many', `file-${String(i).padStart(3, '0')}.txt`), `file ${i}\n`.repeat(i % 7))
  }
  await writeFile(join(root, 'empty'), '')
  await writeFile(join(root, 'exact2048.bin'), bytes(2048, 1))
  await writeFile(join(root, 'over2049.bin'), bytes(2049, 2))
  await writeFile(join(root, 'big.bin'), bytes(1_500_000, 3))
  await symlink('level1/level2', join(root, 'link'))
  await symlink('/etc/passwd', join(root, 'outside'))
}

export interface TreeEntry {
  readonly kind: 'file' | 'directory' | 'symlink'
  /** sha256 for files, target for symlinks. */
  readonly detail?: string
}

export function sha256(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex')
}

/** What is on disk under `root` (an extraction), by relative path. */
export async function diskTree(root: string): Promise<Map<string, TreeEntry>> {
  const tree = new Map<string, TreeEntry>()
  async function visit(dir: string, prefix: string): Promise<void> {
    for (const name of await readdir(dir)) {
      const path = join(dir, name)
      const relative = prefix === '' ? name : `${prefix}/${name}`
      const stats = await lstat(path)
      if (stats.isSymbolicLink()) tree.set(relative, { kind: 'symlink', detail: await readlink(path) })
      else if (stats.isDirectory()) {
        tree.set(relative, { kind: 'directory' })
        await visit(path, relative)
      } else tree.set(relative, { kind: 'file', detail: sha256(await readFile(path)) })
    }
  }
  await visit(root, '')
  return tree
}

// --- Synthetic images --------------------------------------------------------------

export interface SyntheticFile {
  /** The raw file identifier, e.g. "BIG.BIN;1". */
  readonly id: string
  /** One data block per record: more than one makes a multi-extent file. */
  readonly parts: readonly Uint8Array[]
  readonly flags?: number
  readonly systemUse?: Uint8Array
}

export interface SyntheticLink {
  /** A directory record pointing at an existing directory block (to make cycles). */
  readonly id: string
  readonly block: number
  readonly length: number
}

export interface SyntheticDirectory {
  readonly id: string
  readonly children: readonly SyntheticNode[]
  readonly systemUse?: Uint8Array
}

export type SyntheticNode = SyntheticFile | SyntheticDirectory | SyntheticLink

/** The root directory of a synthetic image is always at this block. */
export const SYNTHETIC_ROOT_BLOCK = 18

function both32(view: Uint8Array, offset: number, value: number): void {
  const dv = new DataView(view.buffer, view.byteOffset, view.byteLength)
  dv.setUint32(offset, value, true)
  dv.setUint32(offset + 4, value, false)
}

function both16(view: Uint8Array, offset: number, value: number): void {
  const dv = new DataView(view.buffer, view.byteOffset, view.byteLength)
  dv.setUint16(offset, value, true)
  dv.setUint16(offset + 2, value, false)
}

export function encodeRecord(fields: {
  id: Uint8Array
  extent: number
  length: number
  flags: number
  systemUse?: Uint8Array
}): Uint8Array {
  const su = fields.systemUse ?? new Uint8Array(0)
  const pad = fields.id.length % 2 === 0 ? 1 : 0
  let size = 33 + fields.id.length + pad + su.length
  size += size % 2
  const record = new Uint8Array(size)
  record[0] = size
  both32(record, 2, fields.extent)
  both32(record, 10, fields.length)
  record[25] = fields.flags
  both16(record, 28, 1)
  record[32] = fields.id.length
  record.set(fields.id, 33)
  record.set(su, 33 + fields.id.length + pad)
  return record
}

/**
 * A plain ISO 9660 image: system area, primary descriptor (sector 16), terminator
 * (17), the root directory at block 18, then each directory in one sector and file
 * data, in tree order. `rootSystemUse` goes in the root's "." record (e.g. an SP entry).
 */
export function syntheticIso(root: readonly SyntheticNode[], rootSystemUse?: Uint8Array): Uint8Array {
  const sectors: Uint8Array[] = []
  const allocate = (count: number): number => {
    const first = sectors.length
    for (let i = 0; i < count; i++) sectors.push(new Uint8Array(2048))
    return first
  }
  allocate(18)
  const ascii = new TextEncoder()

  function writeDirectory(
    children: readonly SyntheticNode[],
    parentBlock: number,
    selfSu?: Uint8Array,
  ): number {
    const block = allocate(1)
    const records: Uint8Array[] = []
    const self = (su?: Uint8Array) =>
      encodeRecord({
        id: Uint8Array.of(0),
        extent: block,
        length: 2048,
        flags: 2,
        ...(su ? { systemUse: su } : {}),
      })
    records.push(self(selfSu))
    records.push(encodeRecord({ id: Uint8Array.of(1), extent: parentBlock, length: 2048, flags: 2 }))
    for (const child of children) {
      const id = ascii.encode(child.id)
      if ('block' in child) {
        records.push(encodeRecord({ id, extent: child.block, length: child.length, flags: 2 }))
      } else if ('children' in child) {
        const childBlock = writeDirectory(child.children, block, undefined)
        records.push(
          encodeRecord({
            id,
            extent: childBlock,
            length: 2048,
            flags: 2,
            ...(child.systemUse ? { systemUse: child.systemUse } : {}),
          }),
        )
      } else {
        child.parts.forEach((part, index) => {
          const first = allocate(Math.ceil(part.length / 2048))
          for (let i = 0; i < part.length; i += 2048)
            (sectors[first + i / 2048] as Uint8Array).set(part.subarray(i, i + 2048))
          const last = index === child.parts.length - 1
          records.push(
            encodeRecord({
              id,
              extent: part.length === 0 ? 0 : first,
              length: part.length,
              flags: (child.flags ?? 0) | (last ? 0 : 0x80),
              ...(child.systemUse ? { systemUse: child.systemUse } : {}),
            }),
          )
        })
      }
    }
    const sector = sectors[block] as Uint8Array
    let at = 0
    for (const record of records) {
      if (at + record.length > 2048) throw new Error('synthetic directory does not fit in one sector')
      sector.set(record, at)
      at += record.length
    }
    return block
  }

  const pvd = sectors[16] as Uint8Array
  pvd.set([1, 0x43, 0x44, 0x30, 0x30, 0x31, 1])
  pvd.set(ascii.encode('SYNTHETIC'.padEnd(32, ' ')), 40)
  both16(pvd, 120, 1)
  both16(pvd, 124, 1)
  both16(pvd, 128, 2048)
  pvd[881] = 1 // file structure version: xorriso refuses a descriptor without it
  const terminator = sectors[17] as Uint8Array
  terminator.set([255, 0x43, 0x44, 0x30, 0x30, 0x31, 1])
  const rootBlock = writeDirectory(root, SYNTHETIC_ROOT_BLOCK, rootSystemUse)
  pvd.set(encodeRecord({ id: Uint8Array.of(0), extent: rootBlock, length: 2048, flags: 2 }), 156)
  both32(pvd, 80, sectors.length)
  const image = new Uint8Array(sectors.length * 2048)
  sectors.forEach((sector, i) => {
    image.set(sector, i * 2048)
  })
  return image
}

/** One SUSP entry: signature, length, version 1, data. */
export function suspEntry(signature: string, data: ArrayLike<number>): Uint8Array {
  const entry = new Uint8Array(4 + data.length)
  entry[0] = signature.charCodeAt(0)
  entry[1] = signature.charCodeAt(1)
  entry[2] = entry.length
  entry[3] = 1
  entry.set(data, 4)
  return entry
}

export function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0))
  let at = 0
  for (const part of parts) {
    out.set(part, at)
    at += part.length
  }
  return out
}

/** A both-endian 32-bit value as 8 bytes, for SUSP data. */
export function both32Bytes(value: number): Uint8Array {
  const out = new Uint8Array(8)
  both32(out, 0, value)
  return out
}
