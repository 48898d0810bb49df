import assert from 'node:assert/strict'
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import {
  AliasSource,
  DirectorySource,
  type FileSource,
  GeneratedSource,
  LayeredSource,
  MountedSource,
  normalizePath,
  PathError,
} from './files.ts'

async function text(source: FileSource, path: string, ip = '10.0.0.10'): Promise<string | undefined> {
  const file = await source.open(path, { ip })
  if (file === undefined) return undefined
  const buf = new Uint8Array(file.size)
  await file.read(buf, 0, file.size, 0)
  await file.close()
  return new TextDecoder().decode(buf)
}

test('normalizePath() collapses slashes and dots and refuses what could escape', () => {
  assert.equal(normalizePath('/uefi//shimx64.efi'), 'uefi/shimx64.efi')
  assert.equal(normalizePath('./a/./b'), 'a/b')
  for (const bad of ['../etc/passwd', 'a/../../b', 'a\\..\\b', 'a\0b', '/', '']) {
    assert.throws(() => normalizePath(bad), PathError, bad)
  }
})

test('DirectorySource serves files under its root and nothing a symlink points outside', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'files-'))
  try {
    await mkdir(join(dir, 'root/sub'), { recursive: true })
    await writeFile(join(dir, 'root/sub/a.txt'), 'inside')
    await writeFile(join(dir, 'secret.txt'), 'outside')
    await symlink(join(dir, 'secret.txt'), join(dir, 'root/escape.txt'))
    await symlink('sub/a.txt', join(dir, 'root/inner.txt'))
    const source = new DirectorySource(join(dir, 'root'))
    assert.equal(await text(source, 'sub/a.txt'), 'inside')
    assert.equal(await text(source, 'inner.txt'), 'inside', 'a symlink inside the root is fine')
    assert.equal(await text(source, 'escape.txt'), undefined)
    assert.equal(await text(source, 'sub'), undefined, 'a folder is not a file')
    assert.equal(await text(source, 'missing'), undefined)
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
})

test('GeneratedSource makes content per requester, and MountedSource, AliasSource and LayeredSource route paths', async () => {
  const generated = new GeneratedSource()
    .set('/ks/hello.ks', (r) => (r.ip === '10.0.0.10' ? `for ${r.ip}` : undefined))
    .set('fixed.txt', 'fixed')
  assert.equal(await text(generated, 'ks/hello.ks'), 'for 10.0.0.10')
  assert.equal(await text(generated, 'ks/hello.ks', '10.0.0.11'), undefined)
  const mounted = new MountedSource('os', generated)
  assert.equal(await text(mounted, 'os/fixed.txt'), 'fixed')
  assert.equal(await text(mounted, 'fixed.txt'), undefined)
  assert.equal(await text(mounted, 'osfixed.txt'), undefined)
  const alias = new AliasSource({ 'uefi/shimx64.efi': 'fixed.txt' }, generated)
  assert.equal(await text(alias, 'uefi/shimx64.efi'), 'fixed')
  assert.equal(await text(alias, 'fixed.txt'), undefined, 'only aliased paths are served')
  const layered = new LayeredSource([alias, mounted, generated])
  assert.equal(await text(layered, 'uefi/shimx64.efi'), 'fixed')
  assert.equal(await text(layered, 'os/fixed.txt'), 'fixed')
  assert.equal(await text(layered, 'nothing'), undefined)
})
