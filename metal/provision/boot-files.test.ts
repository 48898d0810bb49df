import assert from 'node:assert/strict'
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, test } from 'node:test'
import type { Machine } from '../../core/config/schema.ts'
import type { BootEvent } from '../pxe/events.ts'
import { checkUndionly, ipxeDirOf, UNDIONLY, UndionlySource } from './boot-files.ts'

let dir = ''
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'hl-bootfiles-'))
  await mkdir(join(dir, 'with'))
  await writeFile(join(dir, 'with', 'undionly.kpxe'), 'iPXE bytes')
})
after(async () => {
  await rm(dir, { recursive: true, force: true })
})

test('ipxeDirOf(): the option, else HOMELAB_IPXE_DIR, else .cache/ipxe beside homelab.yaml', () => {
  assert.equal(ipxeDirOf('/opt/ipxe', '/repo', { HOMELAB_IPXE_DIR: '/env' }), '/opt/ipxe')
  assert.equal(ipxeDirOf(undefined, '/repo', { HOMELAB_IPXE_DIR: '/env' }), '/env')
  assert.equal(ipxeDirOf(undefined, '/repo', {}), '/repo/.cache/ipxe')
})

test('UndionlySource serves bios/undionly.kpxe from the iPXE folder, and nothing else', async () => {
  const warnings: BootEvent[] = []
  const source = new UndionlySource(join(dir, 'with'), (e) => warnings.push(e))
  const file = await source.open(UNDIONLY.served, { ip: '10.0.0.12', machine: 'metal2' })
  assert.ok(file !== undefined)
  const buffer = new Uint8Array(file.size)
  await file.read(buffer, 0, file.size, 0)
  await file.close()
  assert.equal(Buffer.from(buffer).toString(), 'iPXE bytes')
  assert.equal(await source.open('bios/undionly.kpxe.sig', { ip: '10.0.0.12' }), undefined)
  assert.equal(await source.open('undionly.kpxe', { ip: '10.0.0.12' }), undefined)
  assert.deepEqual(warnings, [])
})

test('UndionlySource warns once per client, naming the file and the fix, when undionly.kpxe is missing', async () => {
  const warnings: BootEvent[] = []
  const missing = join(dir, 'absent-folder')
  const source = new UndionlySource(missing, (e) => warnings.push(e))
  for (const ip of ['10.0.0.12', '10.0.0.12', '10.0.0.13'])
    assert.equal(
      await source.open(UNDIONLY.served, { ip, ...(ip === '10.0.0.12' ? { machine: 'metal2' } : {}) }),
      undefined,
    )
  assert.equal(warnings.length, 2)
  const [first] = warnings
  assert.ok(first?.type === 'pxe.warning')
  assert.equal(
    first.message,
    `Cannot serve bios/undionly.kpxe to metal2 (10.0.0.12), a BIOS PXE client: ${missing}/undionly.kpxe does not exist; copy iPXE's undionly.kpxe to ${missing}/undionly.kpxe (Debian's ipxe package ships /usr/lib/ipxe/undionly.kpxe: \`apt-get download ipxe && dpkg -x ipxe_*.deb ipxe && cp ipxe/usr/lib/ipxe/undionly.kpxe ${missing}/undionly.kpxe\`), or set HOMELAB_IPXE_DIR to a folder holding it`,
  )
})

test('checkUndionly(): a warning at the start only when a bios-hinted target would miss the file', async () => {
  const uefi = { name: 'metal1', firmware: 'uefi' } as Machine
  const bios = { name: 'metal2', firmware: 'bios' } as Machine
  assert.equal(await checkUndionly(join(dir, 'absent-folder'), [uefi]), undefined)
  assert.equal(await checkUndionly(join(dir, 'with'), [uefi, bios]), undefined)
  assert.match(
    (await checkUndionly(join(dir, 'absent-folder'), [uefi, bios])) ?? '',
    /absent-folder\/undionly\.kpxe does not exist, so metal2 \(firmware: bios\) cannot load iPXE from bios\/undionly\.kpxe; copy iPXE's/,
  )
})
