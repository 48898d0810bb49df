/**
 * Streaming a byte range of a ServedFile to an HTTP response with bounded memory, whatever the
 * client does (`sendRange`):
 *
 * - No read-ahead beyond what the socket accepts. A download starts with small buffers
 *   (`BufferPool.smallSize`) and reads the next one only once the socket took the previous one
 *   ('drain'), so a client that never reads holds one small buffer, however large the file.
 * - A download that proved it reads (`growAfter` bytes accepted by its socket) moves to big buffers
 *   (`BufferPool.bigSize`), with one read ahead while the previous is written, while the pool's
 *   budget of big buffers (`maxBig`) lasts; when it is spent, downloads go on with small buffers.
 *   So all downloads together hold at most maxBig * bigSize + connections * smallSize.
 * - It stops when the connection closes (DownloadAborted).
 *
 * The response is a `ResponseSink`, so tests drive it with a stand-in that completes writes and
 * drains when told (http-stream.test.ts).
 */
import { BufferPool } from './buffer-pool.ts'
import type { ServedFile } from './files.ts'

export { BufferPool }

/** The part of ServerResponse that sendRange uses. */
export interface ResponseSink {
  readonly destroyed: boolean
  write(chunk: Uint8Array, callback: (error: Error | null | undefined) => void): boolean
  on(event: 'close' | 'drain', listener: () => void): unknown
  off(event: 'close' | 'drain', listener: () => void): unknown
}

/** The connection closed before the range was sent: nothing to report, nothing to answer. */
export class DownloadAborted extends Error {
  override name = 'DownloadAborted'
}

interface Chunk {
  readonly buffer: Buffer
  readonly big: boolean
  readonly length: number
  readonly wanted: number
}

async function _read(
  file: ServedFile,
  buffer: Buffer,
  big: boolean,
  position: number,
  end: number,
): Promise<Chunk> {
  const wanted = Math.min(buffer.length, end + 1 - position)
  let length = 0
  while (length < wanted) {
    const n = await file.read(buffer, length, wanted - length, position + length)
    if (n <= 0) break
    length += n
  }
  return { buffer, big, length, wanted }
}

export interface SendOptions {
  /** Bytes the socket must have accepted before the download may use big buffers. */
  readonly growAfter: number
}

/** One download's state: what is written but not yet accepted, and the wake-up for waits. */
class _Download {
  closed: boolean
  full = false
  /** Big buffers handed to the socket whose write has not completed. */
  readonly pendingBig = new Set<Buffer>()
  private wake: (() => void) | undefined
  constructor(closed: boolean) {
    this.closed = closed
  }
  poke = (): void => {
    this.wake?.()
  }
  /** Waits until `ready()` or the connection closed; throws DownloadAborted when it closed. */
  async until(ready: () => boolean): Promise<void> {
    while (!this.closed && !ready()) {
      await new Promise<void>((resolve) => {
        this.wake = resolve
      })
      this.wake = undefined
    }
    if (this.closed) throw new DownloadAborted()
  }
}

/**
 * Writes bytes [start, end] of `file` to `res` with the memory rules of this module. A buffer is
 * reused only after its write completed (the socket may reference it until then). `sent.bytes`
 * counts bytes the socket accepted (`sent.onSent` is called after each count, for progress events
 * and idle timers). Rejects with DownloadAborted when the connection closes, and with an Error when
 * the file is shorter than said.
 */
export async function sendRange(
  res: ResponseSink,
  file: ServedFile,
  start: number,
  end: number,
  pool: BufferPool,
  sent: { bytes: number; readonly onSent?: () => void },
  options: SendOptions,
): Promise<void> {
  const d = new _Download(res.destroyed)
  const onClose = (): void => {
    d.closed = true
    d.poke()
  }
  const onDrain = (): void => {
    d.full = false
    d.poke()
  }
  res.on('close', onClose)
  res.on('drain', onDrain)
  const take = (): { buffer: Buffer; big: boolean } => {
    const big = sent.bytes >= options.growAfter ? pool.takeBig() : undefined
    return big === undefined ? { buffer: pool.takeSmall(), big: false } : { buffer: big, big: true }
  }
  let position = start
  let next: Promise<Chunk> | undefined
  try {
    if (d.closed) throw new DownloadAborted()
    const first = take()
    next = _read(file, first.buffer, first.big, position, end)
    while (next !== undefined) {
      const chunk = await next
      next = undefined
      const { buffer, big, length, wanted } = chunk
      if (length < wanted) {
        _giveBack(pool, chunk)
        throw new Error(`the file ended at byte ${position + length}, before byte ${end + 1}`)
      }
      if (d.closed) {
        _giveBack(pool, chunk)
        throw new DownloadAborted()
      }
      position += length
      if (big) d.pendingBig.add(buffer)
      const ok = res.write(buffer.subarray(0, length), (err) => {
        // Whatever the outcome, the socket is done with the buffer now.
        if (big) {
          // Once the download ended on a closed connection, the finally below took it off the count.
          if (d.pendingBig.delete(buffer)) pool.giveBig(buffer)
          else pool.giveLost(buffer)
        } else pool.giveSmall(buffer)
        if (err) return d.poke()
        sent.bytes += length
        sent.onSent?.()
        d.poke()
      })
      if (!ok) d.full = true
      if (position > end) break
      // Small buffers: read on only once the socket took the last one. Big buffers: one read ahead
      // while the previous is written, never more than two per download.
      if (big) await d.until(() => d.pendingBig.size < 2)
      else await d.until(() => !d.full)
      const again = take()
      next = _read(file, again.buffer, again.big, position, end)
    }
  } finally {
    // Never leave a read running on a file the caller is about to close.
    const last = await next?.catch(() => undefined)
    if (last !== undefined) _giveBack(pool, last)
    res.off('close', onClose)
    res.off('drain', onDrain)
    // Writes still pending on a closed connection: their big buffers stop counting now (they are
    // freed when their write callback comes).
    if (d.closed) {
      for (let i = 0; i < d.pendingBig.size; i++) pool.dropBig()
      d.pendingBig.clear()
    }
  }
}

/** A chunk that was read but never written. */
function _giveBack(pool: BufferPool, chunk: Chunk): void {
  if (chunk.big) pool.giveBig(chunk.buffer)
  else pool.giveSmall(chunk.buffer)
}
