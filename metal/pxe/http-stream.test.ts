/** sendRange() against a stand-in response whose writes complete only when the test says. */
import assert from 'node:assert/strict'
import { EventEmitter } from 'node:events'
import { test } from 'node:test'
import type { ServedFile } from './files.ts'
import { BufferPool, DownloadAborted, type ResponseSink, sendRange } from './http-stream.ts'

/** Holds every write until complete() is called; wrote(n) resolves once n writes arrived. */
class HeldSink extends EventEmitter implements ResponseSink {
  destroyed = false
  readonly writes: { chunk: Buffer; done: (error?: Error) => void }[] = []
  private waiters: { n: number; resolve: () => void }[] = []
  write(chunk: Uint8Array, callback: (error: Error | null | undefined) => void): boolean {
    this.writes.push({ chunk: Buffer.from(chunk), done: (error) => callback(error) })
    for (const w of this.waiters.filter((w) => this.writes.length >= w.n)) w.resolve()
    this.waiters = this.waiters.filter((w) => this.writes.length < w.n)
    return true
  }
  wrote(n: number): Promise<void> {
    if (this.writes.length >= n) return Promise.resolve()
    return new Promise((resolve) => this.waiters.push({ n, resolve }))
  }
  complete(i: number): void {
    this.writes[i]?.done()
  }
  bytes(): Buffer {
    return Buffer.concat(this.writes.map((w) => w.chunk))
  }
}

function memoryFile(content: Buffer, size = content.length): ServedFile & { reads: number } {
  const file = {
    size,
    reads: 0,
    async read(buffer: Uint8Array, offset: number, length: number, position: number): Promise<number> {
      file.reads++
      return content.copy(buffer, offset, position, Math.min(position + length, content.length))
    },
    async close() {},
  }
  return file
}

const CONTENT = Buffer.from(Array.from({ length: 40 }, (_, i) => i))
/** Every promise job runs before the next turn of the event loop: what is stalled after this stays stalled. */
const settle = () => new Promise<void>((resolve) => setImmediate(resolve))

test('sendRange() reads no further than readAhead buffers until a write completes (backpressure)', async () => {
  const sink = new HeldSink()
  const file = memoryFile(CONTENT)
  const pool = new BufferPool(8, 4)
  const sent = { bytes: 0 }
  const done = sendRange(sink, file, 3, 30, pool, 2, sent)
  await sink.wrote(2)
  await settle()
  assert.equal(file.reads, 2, 'two buffers out, both written: the third read waits')
  assert.equal(sink.writes.length, 2)
  sink.complete(0)
  await sink.wrote(3)
  assert.equal(sent.bytes, 8)
  for (let i = 1; i < 4; i++) {
    await sink.wrote(i + 1)
    sink.complete(i)
  }
  await done
  assert.deepEqual(sink.bytes(), CONTENT.subarray(3, 31))
  assert.equal(sent.bytes, 28)
  assert.equal(pool.idle, 2, 'both buffers went back to the pool')
})

test('sendRange() stops reading and rejects with DownloadAborted when the connection closes', async () => {
  const sink = new HeldSink()
  const file = memoryFile(CONTENT)
  const done = sendRange(sink, file, 0, 39, new BufferPool(8, 4), 2, { bytes: 0 })
  await sink.wrote(2)
  sink.emit('close')
  await assert.rejects(done, DownloadAborted)
  sink.complete(0)
  await settle()
  assert.equal(file.reads, 2)
  assert.equal(sink.writes.length, 2)
  assert.equal(sink.listenerCount('close'), 0, 'its close listener is removed')
})

test('sendRange() rejects at once on a response already destroyed', async () => {
  const sink = new HeldSink()
  sink.destroyed = true
  const file = memoryFile(CONTENT)
  await assert.rejects(sendRange(sink, file, 0, 39, new BufferPool(8, 4), 2, { bytes: 0 }), DownloadAborted)
  assert.equal(file.reads, 0)
})

test('sendRange() rejects when the file is shorter than its size says', async () => {
  const sink = new HeldSink()
  const file = memoryFile(CONTENT.subarray(0, 12), 40)
  const done = sendRange(sink, file, 0, 39, new BufferPool(8, 4), 2, { bytes: 0 })
  await sink.wrote(1)
  sink.complete(0)
  await assert.rejects(done, { message: 'the file ended at byte 12, before byte 40' })
})

test('sendRange() gives a range smaller than a chunk a buffer of its own, not one from the pool', async () => {
  const sink = new HeldSink()
  const pool = new BufferPool(64, 4)
  const done = sendRange(sink, memoryFile(CONTENT), 5, 9, pool, 2, { bytes: 0 })
  await sink.wrote(1)
  assert.equal(sink.writes[0]?.chunk.length, 5)
  sink.complete(0)
  await done
  assert.deepEqual(sink.bytes(), CONTENT.subarray(5, 10))
  assert.equal(pool.idle, 0)
})
