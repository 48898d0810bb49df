import assert from 'node:assert/strict'
import { test } from 'node:test'
import { encodeRecord } from './_test-images.ts'
import { IsoErrorCode } from './errors.ts'
import { decodeVolumeDescriptor, jolietLevel } from './volume.ts'

function descriptor(type: number, blockSize = 2048, escapes = ''): Uint8Array {
  const bytes = new Uint8Array(2048)
  bytes.set([type, 0x43, 0x44, 0x30, 0x30, 0x31, 1])
  bytes.set(new TextEncoder().encode('VOLUME'.padEnd(32, ' ')), 40)
  bytes[128] = blockSize & 0xff
  bytes[129] = blockSize >> 8
  bytes.set(new TextEncoder().encode(escapes), 88)
  bytes.set(encodeRecord({ id: Uint8Array.of(0), extent: 20, length: 2048, flags: 2 }), 156)
  return bytes
}

test('jolietLevel() recognises the three Joliet escape sequences', () => {
  const cases: [string, number][] = [
    ['%/@', 1],
    ['%/C', 2],
    ['%/E', 3],
    ['%/F', 0],
    ['', 0],
  ]
  for (const [escapes, level] of cases)
    assert.equal(jolietLevel(new TextEncoder().encode(escapes.padEnd(32, '\0'))), level, escapes)
})

test('decodeVolumeDescriptor() decodes primary, Joliet, terminator and other descriptors', () => {
  const primary = decodeVolumeDescriptor(descriptor(1), 16)
  assert.equal(primary.type, 'primary')
  assert.ok(primary.type === 'primary')
  assert.equal(primary.volumeId, 'VOLUME')
  assert.equal(primary.blockSize, 2048)
  assert.equal(primary.root.extent, 20)
  const joliet = decodeVolumeDescriptor(descriptor(2, 2048, '%/E'), 17)
  assert.ok(joliet.type === 'supplementary')
  assert.equal(joliet.joliet, 3)
  assert.deepEqual(decodeVolumeDescriptor(descriptor(255), 18), { type: 'terminator' })
  assert.deepEqual(decodeVolumeDescriptor(descriptor(0), 18), { type: 'other', code: 0 })
})

test('decodeVolumeDescriptor() rejects a missing magic, a short sector and an odd block size', () => {
  const noMagic = descriptor(1)
  noMagic[3] = 0x58
  assert.throws(() => decodeVolumeDescriptor(noMagic, 16), {
    code: IsoErrorCode.NotIso,
    message: 'Cannot read ISO 9660 image: volume descriptor identifier "CD001" not found at sector 16',
  })
  assert.throws(() => decodeVolumeDescriptor(new Uint8Array(100), 16), { code: IsoErrorCode.NotIso })
  assert.throws(() => decodeVolumeDescriptor(descriptor(1, 4096), 16), {
    code: IsoErrorCode.NotIso,
    message: 'Cannot read ISO 9660 image: logical block size 4096 is not 512, 1024 or 2048 at sector 16',
  })
})
