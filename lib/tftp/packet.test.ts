import assert from 'node:assert/strict'
import { test } from 'node:test'
import fc from 'fast-check'
import { ErrorCode, errorCodeName, Opcode, opcodeName } from './constants.ts'
import { decodeTftp, encodeTftp, TftpDecodeError, type TftpPacket } from './packet.ts'

const hex = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s.replace(/\s+/g, ''), 'hex'))
const toHex = (b: Uint8Array): string => Buffer.from(b).toString('hex')
const opts = (...pairs: [string, string][]): Map<string, string> => new Map(pairs)

// Each case: the exact bytes and the packet they are (both ways).
const golden: { name: string; bytes: string; packet: TftpPacket }[] = [
  {
    name: 'RRQ octet without options',
    // 0001 "pxelinux.0" 00 "octet" 00
    bytes: '0001 7078656c696e75782e30 00 6f63746574 00',
    packet: { opcode: Opcode.RRQ, filename: 'pxelinux.0', mode: 'octet', options: opts() },
  },
  {
    name: 'RRQ with blksize and tsize (as iPXE sends it)',
    // 0001 "a" 00 "octet" 00 "blksize" 00 "1432" 00 "tsize" 00 "0" 00
    bytes: '0001 61 00 6f63746574 00 626c6b73697a65 00 31343332 00 7473697a65 00 30 00',
    packet: {
      opcode: Opcode.RRQ,
      filename: 'a',
      mode: 'octet',
      options: opts(['blksize', '1432'], ['tsize', '0']),
    },
  },
  {
    name: 'WRQ netascii',
    bytes: '0002 78 00 6e65746173636969 00',
    packet: { opcode: Opcode.WRQ, filename: 'x', mode: 'netascii', options: opts() },
  },
  {
    name: 'DATA block 1 with 3 bytes',
    bytes: '0003 0001 616263',
    packet: { opcode: Opcode.DATA, block: 1, data: hex('616263') },
  },
  {
    name: 'DATA block 65535 empty (the last block of a file that fills its blocks)',
    bytes: '0003 ffff',
    packet: { opcode: Opcode.DATA, block: 65535, data: new Uint8Array(0) },
  },
  {
    name: 'ACK block 0 (acknowledges an OACK)',
    bytes: '0004 0000',
    packet: { opcode: Opcode.ACK, block: 0 },
  },
  { name: 'ACK block 258', bytes: '0004 0102', packet: { opcode: Opcode.ACK, block: 258 } },
  {
    name: 'ERROR file not found',
    // 0005 0001 "File not found" 00
    bytes: '0005 0001 46696c65206e6f7420666f756e64 00',
    packet: { opcode: Opcode.ERROR, code: 1, message: 'File not found' },
  },
  {
    name: 'OACK blksize 1468 windowsize 4',
    bytes: '0006 626c6b73697a65 00 31343638 00 77696e646f7773697a65 00 34 00',
    packet: { opcode: Opcode.OACK, options: opts(['blksize', '1468'], ['windowsize', '4']) },
  },
  { name: 'OACK without options', bytes: '0006', packet: { opcode: Opcode.OACK, options: opts() } },
]

for (const { name, bytes, packet } of golden) {
  test(`decodeTftp() reads ${name} from exact bytes`, () => {
    assert.deepEqual(decodeTftp(hex(bytes)), packet)
  })
  test(`encodeTftp() writes ${name} as exact bytes`, () => {
    assert.equal(toHex(encodeTftp(packet)), bytes.replace(/\s+/g, ''))
  })
}

test('decodeTftp() lower-cases option names and mode, keeps values and filename as sent', () => {
  // 0001 "Boot/X" 00 "OcTeT" 00 "BLKSIZE" 00 "1024" 00
  const packet = decodeTftp(hex('0001 426f6f742f58 00 4f63546554 00 424c4b53495a45 00 31303234 00'))
  assert.deepEqual(packet, {
    opcode: Opcode.RRQ,
    filename: 'Boot/X',
    mode: 'octet',
    options: opts(['blksize', '1024']),
  })
})

test('decodeTftp() keeps the first of duplicate options', () => {
  const p = decodeTftp(hex('0001 61 00 6f63746574 00 626c6b73697a65 00 38 00 424c4b53495a45 00 39 00'))
  assert.equal(p.opcode, Opcode.RRQ)
  assert.deepEqual(p.opcode === Opcode.RRQ && [...p.options], [['blksize', '8']])
})

test('decodeTftp() tolerates NUL padding after a request (some PXE ROMs pad)', () => {
  const p = decodeTftp(hex('0001 61 00 6f63746574 00 000000'))
  assert.deepEqual(p, { opcode: Opcode.RRQ, filename: 'a', mode: 'octet', options: opts() })
})

test('decodeTftp() ignores bytes after an ACK block number', () => {
  assert.deepEqual(decodeTftp(hex('0004 0007 ffff')), { opcode: Opcode.ACK, block: 7 })
})

test('decodeTftp() reads an ERROR whose message lacks its NUL', () => {
  assert.deepEqual(decodeTftp(hex('0005 0000 6f6f7073')), { opcode: Opcode.ERROR, code: 0, message: 'oops' })
})

const malformed: { name: string; bytes: string; message: RegExp }[] = [
  { name: 'an empty packet', bytes: '', message: /0 bytes is shorter than an opcode/ },
  { name: 'a 1-byte packet', bytes: '00', message: /shorter than an opcode/ },
  { name: 'an unknown opcode', bytes: '0007 0000', message: /unknown opcode 7/ },
  { name: 'opcode 0', bytes: '0000', message: /unknown opcode 0/ },
  {
    name: 'a RRQ without a NUL-terminated filename',
    bytes: '0001 6162',
    message: /filename is not NUL-terminated/,
  },
  { name: 'a RRQ without a mode', bytes: '0001 61 00', message: /request has no mode/ },
  {
    name: 'a RRQ without a NUL-terminated mode',
    bytes: '0001 61 00 6f63746574',
    message: /mode is not NUL-terminated/,
  },
  { name: 'a RRQ with an empty mode', bytes: '0001 61 00 00', message: /mode is empty/ },
  {
    name: 'a RRQ with an option without value',
    bytes: '0001 61 00 6f63746574 00 7473697a65 00',
    message: /option "tsize" has no value/,
  },
  {
    name: 'a RRQ with an option value not NUL-terminated',
    bytes: '0001 61 00 6f63746574 00 7473697a65 00 30',
    message: /value of option "tsize" is not NUL-terminated/,
  },
  {
    name: 'a RRQ with an empty option name before a value',
    bytes: '0001 61 00 6f63746574 00 00 31 00',
    message: /option name is empty/,
  },
  {
    name: 'a RRQ with a filename that is not UTF-8',
    bytes: '0001 ff 00 6f63746574 00',
    message: /not valid UTF-8/,
  },
  { name: 'a 3-byte DATA', bytes: '0003 00', message: /3-byte DATA has no block number/ },
  { name: 'a 2-byte ACK', bytes: '0004', message: /2-byte ACK has no block number/ },
  { name: 'a 3-byte ERROR', bytes: '0005 00', message: /3-byte ERROR has no error code/ },
  { name: 'an OACK with a dangling name', bytes: '0006 626c6b73697a65', message: /option name is not NUL/ },
]

for (const { name, bytes, message } of malformed) {
  test(`decodeTftp() rejects ${name}`, () => {
    assert.throws(
      () => decodeTftp(hex(bytes)),
      (err: unknown) => {
        assert.ok(err instanceof TftpDecodeError)
        assert.equal(err.code, 'HOMELAB_TFTP_DECODE')
        assert.match(err.message, /^Cannot parse TFTP packet: /)
        assert.match(err.message, message)
        return true
      },
    )
  })
}

test('encodeTftp() refuses values that cannot be on the wire', () => {
  const rrq = (filename: string, mode = 'octet'): TftpPacket => ({
    opcode: Opcode.RRQ,
    filename,
    mode,
    options: opts(),
  })
  assert.throws(() => encodeTftp(rrq('a\0b')), /filename contains a NUL byte/)
  assert.throws(() => encodeTftp(rrq('a', '')), /mode is empty/)
  assert.throws(
    () => encodeTftp({ opcode: Opcode.ACK, block: 65536 }),
    /block 65536 is not an integer in 0\.\.65535/,
  )
  assert.throws(() => encodeTftp({ opcode: Opcode.DATA, block: -1, data: new Uint8Array() }), RangeError)
  assert.throws(() => encodeTftp({ opcode: Opcode.ERROR, code: 1.5, message: '' }), RangeError)
  assert.throws(() => encodeTftp({ opcode: Opcode.OACK, options: opts(['', '1']) }), /option name is empty/)
})

test('opcodeName() and errorCodeName() print RFC names', () => {
  assert.equal(opcodeName(Opcode.OACK), 'OACK')
  assert.equal(opcodeName(9), 'opcode 9')
  assert.equal(errorCodeName(ErrorCode.AccessViolation), 'Access violation')
  assert.equal(errorCodeName(ErrorCode.OptionRefused), 'Option refused')
  assert.equal(errorCodeName(99), 'error 99')
})

// Strings that can be on the wire: no NUL (the terminator).
const wireString = fc.string({ unit: 'binary' }).filter((s) => !s.includes('\0'))
const optionName = wireString.filter((s) => s !== '').map((s) => s.toLowerCase())
const optionMap = fc.uniqueArray(fc.tuple(optionName, wireString), { selector: ([n]) => n, maxLength: 5 })

const packetArb: fc.Arbitrary<TftpPacket> = fc
  .oneof(
    fc.record({
      opcode: fc.constantFrom(Opcode.RRQ, Opcode.WRQ),
      filename: wireString,
      mode: wireString.filter((s) => s !== '').map((s) => s.toLowerCase()),
      options: optionMap.map((pairs) => new Map(pairs)),
    }),
    fc.record({
      opcode: fc.constant(Opcode.DATA),
      block: fc.integer({ min: 0, max: 0xffff }),
      data: fc.uint8Array({ maxLength: 600 }),
    }),
    fc.record({ opcode: fc.constant(Opcode.ACK), block: fc.integer({ min: 0, max: 0xffff }) }),
    fc.record({
      opcode: fc.constant(Opcode.ERROR),
      code: fc.integer({ min: 0, max: 0xffff }),
      message: wireString,
    }),
    fc.record({ opcode: fc.constant(Opcode.OACK), options: optionMap.map((pairs) => new Map(pairs)) }),
  )
  // fc.record() makes null-prototype objects; the decoder makes plain ones.
  .map((p) => ({ ...p }) as TftpPacket)

test('decodeTftp(encodeTftp(p)) deep-equals p for any packet', () => {
  fc.assert(
    fc.property(packetArb, (packet) => {
      const decoded = decodeTftp(encodeTftp(packet))
      // Lower-casing can make two distinct option names equal only if the arbitrary
      // produced such names; it lower-cases them first, so the maps must match exactly.
      assert.deepEqual(decoded, packet)
    }),
    { numRuns: 2000 },
  )
})

test('decodeTftp() on arbitrary bytes returns a packet or throws TftpDecodeError, nothing else', () => {
  const anyBytes = fc.oneof(
    fc.uint8Array({ maxLength: 80 }),
    // Biased towards valid opcodes so that the string parsers are exercised.
    fc
      .tuple(fc.integer({ min: 0, max: 7 }), fc.uint8Array({ maxLength: 80 }))
      .map(([op, rest]) => Uint8Array.from([0, op, ...rest])),
    fc
      .tuple(
        fc.integer({ min: 1, max: 6 }),
        fc.array(fc.constantFrom(0, 0x61, 0xc3, 0xff), { maxLength: 30 }),
      )
      .map(([op, rest]) => Uint8Array.from([0, op, ...rest])),
  )
  fc.assert(
    fc.property(anyBytes, (bytes) => {
      let packet: TftpPacket
      try {
        packet = decodeTftp(bytes)
      } catch (err) {
        assert.ok(err instanceof TftpDecodeError, `unexpected ${String(err)}`)
        return
      }
      // Whatever decodes re-encodes, and decodes to the same packet (round trip).
      assert.deepEqual(decodeTftp(encodeTftp(packet)), packet)
    }),
    { numRuns: 20000 },
  )
})
