import assert from 'node:assert/strict'
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, test } from 'node:test'
import { buildIso, bytes, sha256 } from '../../lib/iso9660/_test-images.ts'
import { IsoImage } from '../../lib/iso9660/index.ts'
import { LayeredSource, normalizePath, type ServedFile } from './files.ts'
import { IsoSource } from './iso-source.ts'

let work: string
let image: IsoImage
const requester = { ip: '192.0.2.10' }

/** The Fedora installer ISO's layout, with small stand-in contents. */
const fedora: Record<string, Uint8Array> = {
  'EFI/BOOT/BOOTX64.EFI': bytes(9000, 11),
  'EFI/BOOT/grubx64.efi': bytes(20_000, 12),
  'images/pxeboot/vmlinuz': bytes(300_000, 13),
  'images/pxeboot/initrd.img': bytes(700_000, 14),
  '.treeinfo': new TextEncoder().encode('[general]\nfamily = Fedora\n'),
}

before(async () => {
  work = await mkdtemp(join(tmpdir(), 'iso9660-source-'))
  const src = join(work, 'src')
  for (const [path, content] of Object.entries(fedora)) {
    await mkdir(join(src, path, '..'), { recursive: true })
    await writeFile(join(src, path), content)
  }
  await symlink('vmlinuz', join(src, 'images/pxeboot/vmlinuz-link'))
  await symlink('/etc/passwd', join(src, 'images/passwd'))
  await buildIso(join(src), join(work, 'fedora.iso'), 'rockridge')
  image = await IsoImage.open(join(work, 'fedora.iso'))
})

after(async () => {
  await image.close()
  await rm(work, { recursive: true, force: true })
})

async function readServed(file: ServedFile): Promise<Uint8Array> {
  const out = new Uint8Array(file.size)
  // TFTP-sized reads: 1468-byte blocks, as a client with blksize 1468 asks.
  for (let position = 0; position < file.size; ) {
    const n = await file.read(out, position, Math.min(1468, file.size - position), position)
    assert.ok(n > 0)
    position += n
  }
  return out
}

test('IsoSource serves the Fedora installer tree byte for byte, straight out of the image', async () => {
  const source = new IsoSource(image)
  for (const [path, content] of Object.entries(fedora)) {
    const file = await source.open(normalizePath(`/${path}`), requester)
    assert.ok(file, `${path} is served`)
    assert.equal(file.size, content.length, path)
    assert.equal(sha256(await readServed(file)), sha256(content), path)
    await file.close()
  }
})

test('IsoSource gives undefined for missing paths, wrong case, directories and symlinks', async () => {
  const source = new IsoSource(image)
  for (const path of [
    'images/pxeboot/missing',
    'IMAGES/pxeboot/vmlinuz',
    'images/pxeboot/VMLINUZ',
    'images/pxeboot',
    'images/pxeboot/vmlinuz/x',
    'images/pxeboot/vmlinuz-link',
    'images/passwd',
  ]) {
    assert.equal(await source.open(path, requester), undefined, path)
  }
})

test('IsoSource works as a layer of LayeredSource behind generated files', async () => {
  const layered = new LayeredSource([new IsoSource(image)])
  const file = await layered.open('images/pxeboot/initrd.img', requester)
  assert.equal(file?.size, fedora['images/pxeboot/initrd.img']?.length)
  await file?.close()
})
