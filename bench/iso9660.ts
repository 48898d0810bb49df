/**
 * Reading a 200 MB file out of an ISO image through IsoImage, against `cat` of the
 * same file extracted by xorriso (both from the page cache: each is read once first).
 *
 *   tools/node24 bench/iso9660.ts
 *
 * Needs xorriso (apt-get install -y xorriso). Not part of `make test`.
 */
import { spawnSync } from 'node:child_process'
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { buildIso, bytes, extractIso } from '../lib/iso9660/_test-images.ts'
import { IsoImage } from '../lib/iso9660/index.ts'

const SIZE = 200 * 1024 * 1024

async function readThrough(image: IsoImage, path: string, chunk: number): Promise<number> {
  const file = await image.open(path)
  const buffer = new Uint8Array(chunk)
  const started = performance.now()
  for (let position = 0; position < file.size; ) position += await file.read(buffer, 0, chunk, position)
  return performance.now() - started
}

function cat(path: string): number {
  const started = performance.now()
  const result = spawnSync('sh', ['-c', `cat "$1" > /dev/null`, 'sh', path])
  if (result.status !== 0) throw new Error(`cat ${path} failed: ${result.stderr}`)
  return performance.now() - started
}

const mbps = (ms: number) => SIZE / 1024 / 1024 / (ms / 1000)

const work = await mkdtemp(join(tmpdir(), 'bench-iso9660-'))
try {
  await mkdir(join(work, 'src/images/pxeboot'), { recursive: true })
  const block = bytes(1024 * 1024, 42)
  const data = new Uint8Array(SIZE)
  for (let at = 0; at < SIZE; at += block.length) data.set(block, at)
  await writeFile(join(work, 'src/images/pxeboot/initrd.img'), data)
  await buildIso(join(work, 'src'), join(work, 'bench.iso'), 'rockridge')
  await extractIso(join(work, 'bench.iso'), join(work, 'out'))
  const extracted = join(work, 'out/images/pxeboot/initrd.img')
  const image = await IsoImage.open(join(work, 'bench.iso'))

  cat(extracted)
  await readThrough(image, 'images/pxeboot/initrd.img', 1024 * 1024)
  const catMs = cat(extracted)
  const rows: [string, number][] = [
    ['cat (extracted file)', catMs],
    ['IsoImage, 1 MiB reads (HTTP)', await readThrough(image, 'images/pxeboot/initrd.img', 1024 * 1024)],
    ['IsoImage, 64 KiB reads', await readThrough(image, 'images/pxeboot/initrd.img', 64 * 1024)],
    ['IsoImage, 1468 B reads (TFTP blksize)', await readThrough(image, 'images/pxeboot/initrd.img', 1468)],
  ]
  await image.close()
  for (const [label, ms] of rows) {
    console.log(
      `${label.padEnd(40)} ${mbps(ms).toFixed(0).padStart(6)} MB/s   ${(catMs / ms).toFixed(2)}x cat`,
    )
  }
} finally {
  await rm(work, { recursive: true, force: true })
}
