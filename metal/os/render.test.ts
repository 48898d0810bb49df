import assert from 'node:assert/strict'
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { loadConfig } from '../../core/config/load.ts'
import { renderBootConfigs } from './bootloader.ts'
import { kickstartPath, renderKickstart } from './kickstart.ts'
import { RenderError, renderServedFiles, writeServedFiles } from './render.ts'

const root = join(import.meta.dirname, '../..')
const key = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBv1Xn6JzvN5kV0kQ5w7b8Xj0G7Yc6qQeYp1rj1m7Zs9 lab@controller'

async function withDir(run: (dir: string) => Promise<void>) {
  const dir = await mkdtemp(join(tmpdir(), 'render-'))
  try {
    await run(dir)
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}

test('renderServedFiles() holds the boot configs and one kickstart per machine of the lab config, as the server renders them', async () => {
  const { config, derived } = await loadConfig(join(root, 'homelab.yaml'))
  const files = renderServedFiles({ config, derived, server: '10.77.0.2', sshPublicKey: key })
  assert.deepEqual(
    [...files.keys()],
    [
      'boot.ipxe',
      'grub.cfg',
      'grub/grub.cfg',
      'ks/52:54:00:77:00:10.ks',
      'ks/52:54:00:77:00:11.ks',
      'ks/52:54:00:77:00:12.ks',
      'uefi/grub.cfg',
    ],
  )
  for (const [path, text] of renderBootConfigs({ server: '10.77.0.2' })) assert.equal(files.get(path), text)
  for (const m of config.machines) {
    const ks = files.get(kickstartPath(m.mac))
    assert.equal(ks, renderKickstart(m, { config, derived, server: '10.77.0.2', sshPublicKey: key }))
    assert.match(ks ?? '', new RegExp(`^network --bootproto=static --device=${m.mac} `, 'm'))
  }
})

test('writeServedFiles() writes every file under a new folder, and refuses a non-empty one unless forced', async () => {
  await withDir(async (dir) => {
    const out = join(dir, 'out')
    const files = new Map([
      ['boot.ipxe', '#!ipxe\n'],
      ['ks/aa:bb:cc:dd:ee:ff.ks', 'text\n'],
    ])
    assert.deepEqual(await writeServedFiles(out, files), ['boot.ipxe', 'ks/aa:bb:cc:dd:ee:ff.ks'])
    assert.equal(await readFile(join(out, 'ks/aa:bb:cc:dd:ee:ff.ks'), 'utf8'), 'text\n')

    const again = new Map([['boot.ipxe', '#!ipxe\necho new\n']])
    await assert.rejects(
      writeServedFiles(out, again),
      (err: unknown) =>
        err instanceof RenderError &&
        err.message ===
          `Cannot render into ${out}: it is not empty (2 entries): choose an empty or new folder, or pass --force to write over it`,
    )
    assert.equal(await readFile(join(out, 'boot.ipxe'), 'utf8'), '#!ipxe\n', 'nothing written when refused')
    await writeServedFiles(out, again, { force: true })
    assert.equal(await readFile(join(out, 'boot.ipxe'), 'utf8'), '#!ipxe\necho new\n')
    assert.deepEqual((await readdir(out)).sort(), ['boot.ipxe', 'ks'], 'other files are left alone')
  })
})

test('writeServedFiles() accepts an existing empty folder', async () => {
  await withDir(async (dir) => {
    await mkdir(join(dir, 'empty'))
    await writeServedFiles(join(dir, 'empty'), new Map([['grub.cfg', 'set timeout=1\n']]))
    assert.equal(await readFile(join(dir, 'empty', 'grub.cfg'), 'utf8'), 'set timeout=1\n')
    await writeFile(join(dir, 'file'), 'x')
    await assert.rejects(writeServedFiles(join(dir, 'file'), new Map()), RenderError)
  })
})
