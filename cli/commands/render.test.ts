import assert from 'node:assert/strict'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { homelab } from '../../test/harness/homelab-cli.ts'

const root = join(import.meta.dirname, '../..')
const key = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBv1Xn6JzvN5kV0kQ5w7b8Xj0G7Yc6qQeYp1rj1m7Zs9 lab@controller'

/** The shipped lab config, beside its own public key (the lab's is made by `homelab lab up`). */
async function labConfig(dir: string): Promise<string> {
  const text = (await readFile(join(root, 'homelab.yaml'), 'utf8')).replace(
    'sshPublicKey: .state/lab/id_ed25519.pub',
    'sshPublicKey: id_ed25519.pub',
  )
  assert.match(text, /sshPublicKey: id_ed25519\.pub/)
  await writeFile(join(dir, 'id_ed25519.pub'), `${key}\n`)
  await writeFile(join(dir, 'homelab.yaml'), text)
  return join(dir, 'homelab.yaml')
}

test('homelab render writes the lab config files the server would serve, and refuses to write over them without --force', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'render-cli-'))
  try {
    const config = await labConfig(dir)
    const out = join(dir, 'out')
    const first = await homelab(['render', '-c', config, '--out', out, '--kernel-args', 'console=ttyS0'])
    assert.equal(first.code, 0, first.err)
    const paths = [
      'boot.ipxe',
      'grub.cfg',
      'grub/grub.cfg',
      'ks/52:54:00:77:00:10.ks',
      'ks/52:54:00:77:00:11.ks',
      'ks/52:54:00:77:00:12.ks',
      'uefi/grub.cfg',
    ]
    assert.match(first.out, /^rendered 7 files for server 10\.77\.0\.2 into /m)
    for (const path of paths) assert.match(first.out, new RegExp(`^ {2}${path.replaceAll('.', '\\.')}$`, 'm'))

    const ks = await readFile(join(out, 'ks/52:54:00:77:00:11.ks'), 'utf8')
    assert.match(ks, /^network --bootproto=static --device=52:54:00:77:00:11 .*--ip=10\.77\.0\.11 /m)
    assert.match(ks, /^%onerror$/m)
    assert.match(ks, /^part \/ --grow --fstype=xfs$/m)
    assert.match(ks, new RegExp(`^sshkey --username=root "${key}"$`, 'm'))
    const uefi = await readFile(join(out, 'uefi/grub.cfg'), 'utf8')
    assert.match(uefi, /^ {2}linux \(http,10\.77\.0\.2\)\/os\/images\/pxeboot\/vmlinuz .* console=ttyS0$/m)
    assert.match(
      await readFile(join(out, 'grub/grub.cfg'), 'utf8'),
      /^ {2}initrd \(tftp,10\.77\.0\.2\)\/os\//m,
    )
    assert.match(
      await readFile(join(out, 'boot.ipxe'), 'utf8'),
      /inst\.ks=http:\/\/10\.77\.0\.2\/ks\/\$\{netX\/mac\}\.ks/,
    )

    const refused = await homelab(['render', '-c', config, '--out', out, '--server', '10.77.0.3'])
    assert.equal(refused.code, 1)
    assert.match(refused.err, /Cannot render into .*out: it is not empty \(5 entries\): .* pass --force/)
    assert.match(
      await readFile(join(out, 'boot.ipxe'), 'utf8'),
      /10\.77\.0\.2/,
      'nothing written when refused',
    )

    const forced = await homelab([
      'render',
      '-c',
      config,
      '--out',
      out,
      '--server',
      '10.77.0.3:8080',
      '--force',
    ])
    assert.equal(forced.code, 0, forced.err)
    assert.match(await readFile(join(out, 'boot.ipxe'), 'utf8'), /http:\/\/10\.77\.0\.3:8080\/os\//)
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
})

test('homelab render without --out is a usage error', async () => {
  const r = await homelab(['render'])
  assert.equal(r.code, 2)
  assert.match(r.err, /--out DIR is required/)
})
