/**
 * For tests: a minimal zip writer, to make archives a real tool will not (unsafe names, wrong
 * CRC-32, lying sizes). Real-tool bytes live in fixtures/ (see fixtures/README.md).
 */
import { crc32, deflateRawSync } from 'node:zlib'

export interface TestEntry {
  readonly name: string
  readonly data?: Uint8Array | string
  readonly deflate?: boolean
  /** UNIX st_mode written in the external attributes. */
  readonly mode?: number
  /** Overrides, to make a broken archive. */
  readonly crc32?: number
  readonly size?: number
}

/** Builds a zip: local headers and data, the central directory, the end record. */
export function makeZip(entries: readonly TestEntry[]): Uint8Array {
  const locals: Buffer[] = []
  const centrals: Buffer[] = []
  let offset = 0
  for (const e of entries) {
    const raw = typeof e.data === 'string' ? Buffer.from(e.data) : Buffer.from(e.data ?? [])
    const body = e.deflate === true ? deflateRawSync(raw) : raw
    const name = Buffer.from(e.name, 'utf8')
    const sum = e.crc32 ?? crc32(raw) >>> 0
    const size = e.size ?? raw.length
    const method = e.deflate === true ? 8 : 0
    const local = Buffer.alloc(30)
    local.writeUInt32LE(0x04034b50, 0)
    local.writeUInt16LE(20, 4)
    local.writeUInt16LE(1 << 11, 6)
    local.writeUInt16LE(method, 8)
    local.writeUInt32LE(sum, 14)
    local.writeUInt32LE(body.length, 18)
    local.writeUInt32LE(size, 22)
    local.writeUInt16LE(name.length, 26)
    locals.push(local, name, body)
    const central = Buffer.alloc(46)
    central.writeUInt32LE(0x02014b50, 0)
    central.writeUInt16LE((3 << 8) | 20, 4)
    central.writeUInt16LE(20, 6)
    central.writeUInt16LE(1 << 11, 8)
    central.writeUInt16LE(method, 10)
    central.writeUInt32LE(sum, 16)
    central.writeUInt32LE(body.length, 20)
    central.writeUInt32LE(size, 24)
    central.writeUInt16LE(name.length, 28)
    central.writeUInt32LE(((e.mode ?? 0o100644) << 16) >>> 0, 38)
    central.writeUInt32LE(offset, 42)
    centrals.push(central, name)
    offset += 30 + name.length + body.length
  }
  const directory = Buffer.concat(centrals)
  const end = Buffer.alloc(22)
  end.writeUInt32LE(0x06054b50, 0)
  end.writeUInt16LE(entries.length, 8)
  end.writeUInt16LE(entries.length, 10)
  end.writeUInt32LE(directory.length, 12)
  end.writeUInt32LE(offset, 16)
  return new Uint8Array(Buffer.concat([...locals, directory, end]))
}
