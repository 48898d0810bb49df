/**
 * The HTTP service's download buffers, with memory that goes back to the system when clients leave.
 *
 * Buffers are slices of slabs of SLAB_BYTES: glibc serves an allocation that large with its own
 * mmap whatever its dynamic threshold (which never rises above 32 MiB on 64-bit), so a slab freed
 * when its last slice comes back is unmapped at once. (Buffers of their own, of 128 KiB or 4 MiB, came
 * from malloc's heap once the threshold had risen, and freeing them did not lower the RSS.) A slab
 * is freed by detaching its ArrayBuffer (transfer to length 0), which releases the memory now rather
 * than at the next garbage collection: a server that went quiet after its clients left would
 * otherwise keep it.
 */

/** Above glibc's highest dynamic mmap threshold (DEFAULT_MMAP_THRESHOLD_MAX, 32 MiB on 64-bit). */
export const SLAB_BYTES = 33 * 1024 * 1024

class _Slab {
  readonly memory: ArrayBuffer
  readonly free: Buffer[] = []
  used = 0
  constructor(size: number) {
    const slots = Math.max(1, Math.floor(SLAB_BYTES / size))
    this.memory = new ArrayBuffer(slots * size)
    for (let i = slots - 1; i >= 0; i--) this.free.push(Buffer.from(this.memory, i * size, size))
  }
}

/** Buffers of one size, sliced from slabs; a slab whose slices are all back is freed (but one is kept). */
class _Slabs {
  private readonly size: number
  private readonly slabs = new Set<_Slab>()
  private readonly owner = new WeakMap<Buffer, _Slab>()
  constructor(size: number) {
    this.size = size
  }
  take(): Buffer {
    let slab: _Slab | undefined
    for (const s of this.slabs) {
      if (s.free.length > 0) {
        slab = s
        break
      }
    }
    if (slab === undefined) {
      slab = new _Slab(this.size)
      this.slabs.add(slab)
      for (const b of slab.free) this.owner.set(b, slab)
    }
    const buffer = slab.free.pop() as Buffer
    slab.used++
    return buffer
  }
  give(buffer: Buffer): void {
    const slab = this.owner.get(buffer)
    if (slab === undefined) return
    slab.free.push(buffer)
    slab.used--
    if (slab.used === 0 && this.slabs.size > 1) {
      this.slabs.delete(slab)
      slab.memory.transfer(0)
    }
  }
  /** Releases every slab with nothing in use. */
  trim(): void {
    for (const slab of this.slabs) {
      if (slab.used === 0) {
        this.slabs.delete(slab)
        slab.memory.transfer(0)
      }
    }
  }
  get bytes(): number {
    let n = 0
    for (const slab of this.slabs) n += slab.memory.byteLength
    return n
  }
}

/**
 * The buffers of every download of one server. Big buffers are counted: at most `maxBig` are in use
 * at once. Small buffers are not counted here: each download holds at most one at a time while the
 * socket does not take it, so connections bound them (http-limits.ts).
 */
export class BufferPool {
  readonly bigSize: number
  readonly smallSize: number
  readonly maxBig: number
  private readonly bigs: _Slabs
  private readonly smalls: _Slabs
  private bigCount = 0

  constructor(options: { bigSize: number; smallSize: number; maxBig: number }) {
    this.bigSize = options.bigSize
    this.smallSize = Math.min(options.smallSize, options.bigSize)
    this.maxBig = options.maxBig
    this.bigs = new _Slabs(this.bigSize)
    this.smalls = new _Slabs(this.smallSize)
  }

  /** A big buffer, or undefined when `maxBig` are in use. */
  takeBig(): Buffer | undefined {
    if (this.bigCount >= this.maxBig) return undefined
    this.bigCount++
    return this.bigs.take()
  }

  /** A big buffer nothing references any more (its write completed or failed). */
  giveBig(buffer: Buffer): void {
    this.bigCount--
    this.bigs.give(buffer)
  }

  /**
   * A big buffer given up with its connection while the socket may still reference it: it stops
   * counting now, and its memory comes back with `giveLost` once its write callback came.
   */
  dropBig(): void {
    this.bigCount--
  }

  /** A dropped big buffer that nothing references any more. */
  giveLost(buffer: Buffer): void {
    this.bigs.give(buffer)
  }

  takeSmall(): Buffer {
    return this.smalls.take()
  }

  /** A small buffer nothing references any more. */
  giveSmall(buffer: Buffer): void {
    this.smalls.give(buffer)
  }

  /** Big buffers in use. */
  get big(): number {
    return this.bigCount
  }

  /** Bytes of slabs held (in use or kept for the next downloads). */
  get bytes(): number {
    return this.bigs.bytes + this.smalls.bytes
  }

  /** Frees every slab with nothing in use (the server calls it when its last connection ends). */
  trim(): void {
    this.bigs.trim()
    this.smalls.trim()
  }
}
