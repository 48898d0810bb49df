/**
 * Streaming a byte range of a ServedFile to an HTTP response, with bounded memory: `sendRange`
 * reads ahead while earlier chunks are written, holds at most `readAhead` buffers per download
 * (a stalled client stalls the reads), and stops when the connection closes (DownloadAborted).
 * The response is a `ResponseSink`, so tests drive it with a stand-in that completes writes when
 * told (http-stream.test.ts).
 */
import type { ServedFile } from './files.ts'

/** The part of ServerResponse that sendRange uses. */
export interface ResponseSink {
  readonly destroyed: boolean
  write(chunk: Uint8Array, callback: (error: Error | null | undefined) => void): boolean
  on(event: 'close', listener: () => void): unknown
  off(event: 'close', listener: () => void): unknown
}

/** Big buffers, reused across downloads; a buffer comes back only once its socket write completed. */
export class BufferPool {
  readonly size: number
  private readonly keep: number
  private readonly free: Buffer[] = []
  constructor(size: number, keep: number) {
    this.size = size
    this.keep = keep
  }
  take(): Buffer {
    return this.free.pop() ?? Buffer.allocUnsafeSlow(this.size)
  }
  give(buffer: Buffer): void {
    if (this.free.length < this.keep) this.free.push(buffer)
  }
  /** Buffers kept for the next downloads. */
  get idle(): number {
    return this.free.length
  }
}

/** The connection closed before the range was sent: nothing to report, nothing to answer. */
export class DownloadAborted extends Error {
  override name = 'DownloadAborted'
}

interface Chunk {
  readonly buffer: Buffer
  readonly length: number
  readonly wanted: number
}

/** One download's buffers: at most `readAhead` exist; a finished download returns them to the pool. */
class _Buffers {
  private readonly idle: Buffer[] = []
  private taken = 0
  private wake: (() => void) | undefined
  closed: boolean
  finished = false
  private readonly pool: BufferPool
  private readonly readAhead: number
  /** A range smaller than a chunk (config files, small images) gets a buffer of its own size. */
  private readonly smallSize: number | undefined

  constructor(pool: BufferPool, readAhead: number, rangeLength: number, closed: boolean) {
    this.pool = pool
    this.readAhead = readAhead
    this.smallSize = rangeLength < pool.size ? rangeLength : undefined
    this.closed = closed
  }

  close(): void {
    this.closed = true
    this.wake?.()
  }

  /** A buffer to read into; waits while `readAhead` are in use; throws DownloadAborted once closed. */
  async acquire(): Promise<Buffer> {
    for (;;) {
      if (this.closed) throw new DownloadAborted()
      const buffer = this.idle.pop()
      if (buffer !== undefined) return buffer
      if (this.taken < this.readAhead) {
        this.taken++
        return this.smallSize !== undefined ? Buffer.allocUnsafe(this.smallSize) : this.pool.take()
      }
      await new Promise<void>((resolve) => {
        this.wake = resolve
      })
      this.wake = undefined
    }
  }

  /** A buffer whose write completed. */
  release(buffer: Buffer): void {
    if (this.finished) {
      if (this.smallSize === undefined) this.pool.give(buffer)
      return
    }
    this.idle.push(buffer)
    this.wake?.()
  }

  /** The download ended without the connection closing: idle buffers go back to the pool. */
  finish(): void {
    this.finished = true
    if (this.smallSize === undefined) for (const buffer of this.idle) this.pool.give(buffer)
  }
}

async function _readChunk(
  file: ServedFile,
  buffers: _Buffers,
  position: number,
  end: number,
): Promise<Chunk> {
  const buffer = await buffers.acquire()
  const wanted = Math.min(buffer.length, end + 1 - position)
  let length = 0
  while (length < wanted) {
    const n = await file.read(buffer, length, wanted - length, position + length)
    if (n <= 0) break
    length += n
  }
  return { buffer, length, wanted }
}

/**
 * Writes bytes [start, end] of `file` to `res`. Chunks are read ahead while earlier ones are being
 * written (prefetch), at most `readAhead` buffers exist per download (backpressure: a stalled client
 * stalls the reads), and a buffer is reused only after its write completed (the socket may still
 * reference it until then). `sent.bytes` counts bytes handed to the kernel (`sent.onSent` is called
 * after each count, for progress events). Rejects with
 * DownloadAborted when the connection closes, and with an Error when the file is shorter than said.
 */
export async function sendRange(
  res: ResponseSink,
  file: ServedFile,
  start: number,
  end: number,
  pool: BufferPool,
  readAhead: number,
  sent: { bytes: number; readonly onSent?: () => void },
): Promise<void> {
  const buffers = new _Buffers(pool, readAhead, end + 1 - start, res.destroyed)
  const onClose = (): void => buffers.close()
  res.on('close', onClose)
  let position = start
  let next: Promise<Chunk> | undefined = _readChunk(file, buffers, position, end)
  try {
    while (next !== undefined) {
      const { buffer, length, wanted } = await next
      next = undefined
      if (length < wanted) {
        throw new Error(`the file ended at byte ${position + length}, before byte ${end + 1}`)
      }
      position += length
      if (position <= end) {
        next = _readChunk(file, buffers, position, end)
        next.catch(() => undefined)
      }
      res.write(buffer.subarray(0, length), (err) => {
        if (err) return // the connection is gone; the buffer may still be referenced: drop it
        sent.bytes += length
        buffers.release(buffer)
        sent.onSent?.()
      })
      // No wait for 'drain' here: the buffer pool is the backpressure. While `readAhead` buffers
      // are queued or being read, acquire() waits for a write to complete; keeping the next
      // chunk queued behind the current one lets libuv go straight from one write to the next.
      if (buffers.closed) throw new DownloadAborted()
    }
  } finally {
    // Never leave a read running on a file the caller is about to close.
    await next?.catch(() => undefined)
    res.off('close', onClose)
    if (!buffers.closed) buffers.finish()
  }
}
