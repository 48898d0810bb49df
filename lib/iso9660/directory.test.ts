import assert from 'node:assert/strict'
import { test } from 'node:test'
import { concat, encodeRecord } from './_test-images.ts'
import { decodeDirectoryRecord, directoryRecords, isoName, SECTOR_SIZE } from './directory.ts'
import { IsoErrorCode } from './errors.ts'
import { jolietName } from './joliet.ts'

const ascii = (s: string) => new TextEncoder().encode(s)

test('isoName() strips the ";1" version and the dot of a name without extension', () => {
  const cases: [string, string][] = [
    ['VMLINUZ.;1', 'VMLINUZ'],
    ['INITRD.IMG;1', 'INITRD.IMG'],
    ['BOOTX64.EFI;32767', 'BOOTX64.EFI'],
    ['EFI', 'EFI'],
    ['NOVERSION.TXT', 'NOVERSION.TXT'],
    ['A;B', 'A;B'],
    ['.', '.'],
  ]
  for (const [identifier, name] of cases) assert.equal(isoName(ascii(identifier)), name, identifier)
})

test('jolietName() decodes UCS-2 big-endian (and surrogate pairs) without the version', () => {
  const utf16be = (s: string) => {
    const out = new Uint8Array(s.length * 2)
    for (let i = 0; i < s.length; i++) {
      out[2 * i] = s.charCodeAt(i) >> 8
      out[2 * i + 1] = s.charCodeAt(i) & 0xff
    }
    return out
  }
  assert.equal(jolietName(utf16be('grubx64.efi;1')), 'grubx64.efi')
  assert.equal(jolietName(utf16be('Lông náme ✓')), 'Lông náme ✓')
  assert.equal(jolietName(utf16be('emoji 😀.txt;1')), 'emoji 😀.txt')
  assert.equal(jolietName(utf16be('trailing.')), 'trailing.')
  assert.throws(() => jolietName(Uint8Array.of(0, 0x61, 0)), { code: IsoErrorCode.Corrupt })
})

test('decodeDirectoryRecord() reads extent, length, flags, identifier and system use area', () => {
  const su = Uint8Array.of(0x4e, 0x4d, 5, 1, 0)
  const bytes = encodeRecord({
    id: ascii('AB;1'),
    extent: 0x12345678,
    length: 0x9abcdef0,
    flags: 0x82,
    systemUse: su,
  })
  const record = decodeDirectoryRecord(bytes, 0)
  assert.equal(record.extent, 0x12345678)
  assert.equal(record.dataLength, 0x9abcdef0)
  assert.equal(record.flags, 0x82)
  assert.deepEqual(record.identifier, ascii('AB;1'))
  // An even-length identifier is followed by one padding byte, then the system use area.
  assert.deepEqual(record.systemUse.subarray(0, su.length), su)
})

test('decodeDirectoryRecord() rejects records that are too short or whose identifier overflows', () => {
  const good = encodeRecord({ id: ascii('A'), extent: 1, length: 1, flags: 0 })
  const cases: [string, Uint8Array, RegExp][] = [
    ['length 33', concat(Uint8Array.of(33), good.subarray(1)), /33 bytes long, less than 34/],
    ['runs past the directory', good.subarray(0, 30), /runs past the end of its directory/],
    ['identifier too long', Object.assign(new Uint8Array(good), { 32: 200 }), /file identifier of 200 bytes/],
    ['identifier empty', Object.assign(new Uint8Array(good), { 32: 0 }), /file identifier of 0 bytes/],
  ]
  for (const [name, bytes, message] of cases) {
    assert.throws(() => decodeDirectoryRecord(bytes, 0), { code: IsoErrorCode.Corrupt, message }, name)
  }
})

test('directoryRecords() jumps over sector padding and rejects a record crossing a sector', () => {
  const record = encodeRecord({ id: ascii('A;1'), extent: 1, length: 1, flags: 0 })
  const directory = new Uint8Array(2 * SECTOR_SIZE)
  directory.set(record, 0)
  directory.set(record, SECTOR_SIZE)
  assert.equal([...directoryRecords(directory)].length, 2)
  // Back-to-back records without padding: the one that starts within `record.length` of the end crosses.
  const crossing = new Uint8Array(2 * SECTOR_SIZE)
  for (let at = 0; at + record.length <= crossing.length; at += record.length) crossing.set(record, at)
  assert.throws(() => [...directoryRecords(crossing)], {
    code: IsoErrorCode.Corrupt,
    message: /crosses a sector boundary/,
  })
})
