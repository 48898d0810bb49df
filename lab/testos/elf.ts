/**
 * Just enough of ELF64 little-endian (x86-64) to assemble an initramfs without running
 * the binaries: the shared libraries a program needs (DT_NEEDED, like ldd without loading),
 * its interpreter (PT_INTERP), and a kernel module's `.modinfo` (its `depends=`).
 *
 * Layout per the System V gABI: the 64-byte file header gives the section header table
 * (e_shoff, e_shentsize, e_shnum, e_shstrndx) and program header table (e_phoff, e_phentsize, e_phnum).
 */

export interface ElfSection {
  readonly name: string
  readonly type: number
  readonly offset: number
  readonly size: number
  /** sh_link: for .dynamic, the index of its string table. */
  readonly link: number
}

const SHT_DYNAMIC = 6
const PT_INTERP = 3
const DT_NULL = 0
const DT_NEEDED = 1
/** The ELF64 file header is 64 bytes. */
const EHDR_SIZE = 64

export class ElfFile {
  readonly bytes: Buffer
  readonly sections: readonly ElfSection[]
  private readonly phoff: number
  private readonly phentsize: number
  private readonly phnum: number

  constructor(bytes: Buffer, what = 'file') {
    if (bytes.length < EHDR_SIZE || bytes.readUInt32BE(0) !== 0x7f454c46) {
      throw new Error(`Cannot read ELF ${what}: no ELF magic`)
    }
    if (bytes[4] !== 2 || bytes[5] !== 1) {
      throw new Error(`Cannot read ELF ${what}: only 64-bit little-endian ELF is supported`)
    }
    this.bytes = bytes
    this.phoff = Number(bytes.readBigUInt64LE(32))
    const shoff = Number(bytes.readBigUInt64LE(40))
    this.phentsize = bytes.readUInt16LE(54)
    this.phnum = bytes.readUInt16LE(56)
    const shentsize = bytes.readUInt16LE(58)
    const shnum = bytes.readUInt16LE(60)
    const shstrndx = bytes.readUInt16LE(62)
    if (shoff + shnum * shentsize > bytes.length || this.phoff + this.phnum * this.phentsize > bytes.length) {
      throw new Error(`Cannot read ELF ${what}: header tables run past the end of the file`)
    }
    const raw: (Omit<ElfSection, 'name'> & { nameOffset: number })[] = []
    for (let i = 0; i < shnum; i++) {
      const at = shoff + i * shentsize
      raw.push({
        nameOffset: bytes.readUInt32LE(at),
        type: bytes.readUInt32LE(at + 4),
        offset: Number(bytes.readBigUInt64LE(at + 24)),
        size: Number(bytes.readBigUInt64LE(at + 32)),
        link: bytes.readUInt32LE(at + 40),
      })
    }
    const names = raw[shstrndx]
    this.sections = raw.map((s) => ({
      name: names === undefined ? '' : this.cString(names.offset + s.nameOffset),
      type: s.type,
      offset: s.offset,
      size: s.size,
      link: s.link,
    }))
  }

  section(name: string): ElfSection | undefined {
    return this.sections.find((s) => s.name === name)
  }

  /** The bytes of a section, bounds-checked. */
  contents(section: ElfSection): Buffer {
    if (section.offset + section.size > this.bytes.length) {
      throw new Error(`Cannot read ELF section "${section.name}": it runs past the end of the file`)
    }
    return this.bytes.subarray(section.offset, section.offset + section.size)
  }

  /** The program interpreter (PT_INTERP), like /lib64/ld-linux-x86-64.so.2; undefined for static binaries. */
  interpreter(): string | undefined {
    for (let i = 0; i < this.phnum; i++) {
      const at = this.phoff + i * this.phentsize
      if (this.bytes.readUInt32LE(at) !== PT_INTERP) continue
      return this.cString(Number(this.bytes.readBigUInt64LE(at + 8)))
    }
    return undefined
  }

  /** The DT_NEEDED sonames, in order. */
  needed(): string[] {
    const dynamic = this.sections.find((s) => s.type === SHT_DYNAMIC)
    if (dynamic === undefined) return []
    const strtab = this.sections[dynamic.link]
    if (strtab === undefined) throw new Error('Cannot read ELF .dynamic: its string table is missing')
    const table = this.contents(dynamic)
    const out: string[] = []
    for (let at = 0; at + 16 <= table.length; at += 16) {
      const tag = Number(table.readBigInt64LE(at))
      if (tag === DT_NULL) break
      if (tag === DT_NEEDED) out.push(this.cString(strtab.offset + Number(table.readBigUInt64LE(at + 8))))
    }
    return out
  }

  /** A kernel module's .modinfo as key/values (keys may repeat, like alias). */
  modinfo(): [string, string][] {
    const section = this.section('.modinfo')
    if (section === undefined) return []
    return this.contents(section)
      .toString('latin1')
      .split('\0')
      .filter((s) => s.includes('='))
      .map((s) => [s.slice(0, s.indexOf('=')), s.slice(s.indexOf('=') + 1)])
  }

  private cString(offset: number): string {
    const end = this.bytes.indexOf(0, offset)
    if (offset >= this.bytes.length || end < 0) throw new Error(`Cannot read ELF string at ${offset}`)
    return this.bytes.toString('latin1', offset, end)
  }
}

/** Module names a kernel module depends on (its `.modinfo` `depends=`), without duplicates. */
export function moduleDepends(elf: ElfFile): string[] {
  const deps = elf
    .modinfo()
    .filter(([k]) => k === 'depends')
    .flatMap(([, v]) => v.split(','))
    .filter((d) => d !== '')
  return [...new Set(deps)]
}
