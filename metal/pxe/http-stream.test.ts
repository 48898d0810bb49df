/** sendRange() against a stand-in response whose writes complete only when the test says. */
import assert from 'node:assert/strict'
import { EventEmitter } from 'node:events'
import { test } from 'node:test'
import type { ServedFile } from './files.ts'
import { BufferPool, DownloadAborted, type ResponseSink, sendRange } from './http-stream.ts'

/**
 * Holds every write until complete() is called; wrote(n) resolves once n writes arrived. Like a
 * socket, write() says false (buffer full) for a chunk of `highWaterMark` bytes or more, and
 * complete() emits 'drain' once nothing is held.
 */
class HeldSink extends EventEmitter implements ResponseSink {
  destroyed = false
  highWaterMark = 16
  readonly writes: { chunk: Buffer; completed: boolean; done: (error?: Error) => void }[] = []
  private waiters: { n: number; resolve: () => void }[] = []
  write(chunk: Uint8Array, callback: (error: Error | null | undefined) => void): boolean {
    this.writes.push({ chunk: Buffer.from(chunk), completed: false, done: (error) => callback(error) })
    for (const w of this.waiters.filter((w) => this.writes.length >= w.n)) w.resolve()
    this.waiters = this.waiters.filter((w) => this.writes.length < w.n)
    return this.held() < this.highWaterMark
  }
  private held(): number {
    return this.writes.filter((w) => !w.completed).reduce((n, w) => n + w.chunk.length, 0)
  }
  wrote(n: number): Promise<void> {
    if (this.writes.length >= n) return Promise.resolve()
    return new Promise((resolve) => this.waiters.push({ n, resolve }))
  }
  complete(i: number, error?: Error): void {
    const w = this.writes[i]
    if (w === undefined || w.completed) return
    w.completed = true
    w.done(error)
    if (error === undefined && this.held() < this.highWaterMark) this.emit('drain')
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
const pool = (maxBig = 4) => new BufferPool({ bigSize: 16, smallSize: 8, maxBig })

test('sendRange() reads the next small chunk only once the socket took the last one (no read-ahead)', async () => {
  const sink = new HeldSink()
  sink.highWaterMark = 8 // a socket's buffer (16 KiB) is smaller than a small chunk (128 KiB)
  const file = memoryFile(CONTENT)
  const sent = { bytes: 0 }
  const done = sendRange(sink, file, 3, 30, pool(), sent, { growAfter: 1000 })
  await sink.wrote(1)
  await settle()
  // A client that never reads: one small buffer written, nothing read ahead, however long it waits.
  assert.equal(file.reads, 1)
  assert.equal(sink.writes.length, 1)
  for (let i = 0; i < 4; i++) {
    await sink.wrote(i + 1)
    await settle()
    assert.equal(file.reads, i + 1, 'no read before the write was taken')
    sink.complete(i)
  }
  await done
  assert.deepEqual(sink.bytes(), CONTENT.subarray(3, 31))
  assert.equal(sent.bytes, 28)
})

test('sendRange() moves to big buffers after growAfter accepted bytes, reading one ahead, within the budget', async () => {
  const sink = new HeldSink()
  const file = memoryFile(CONTENT)
  const p = pool()
  const done = sendRange(sink, file, 0, 39, p, { bytes: 0 }, { growAfter: 8 })
  await sink.wrote(1)
  assert.equal(sink.writes[0]?.chunk.length, 8, 'a small buffer first')
  sink.complete(0)
  await sink.wrote(3)
  await settle()
  // Big: one written, the next read ahead and written too; the third read waits.
  assert.deepEqual(
    sink.writes.map((w) => w.chunk.length),
    [8, 16, 16],
  )
  assert.equal(p.big, 2)
  sink.complete(1)
  sink.complete(2)
  await done
  assert.deepEqual(sink.bytes(), CONTENT)
  assert.equal(p.big, 0, 'every big buffer back')
})

test('sendRange() goes on with small buffers when the big-buffer budget is spent', async () => {
  const sink = new HeldSink()
  const p = pool(0)
  const done = sendRange(sink, memoryFile(CONTENT), 0, 39, p, { bytes: 0 }, { growAfter: 0 })
  for (let i = 0; i < 5; i++) {
    await sink.wrote(i + 1)
    sink.complete(i)
  }
  await done
  assert.deepEqual(
    sink.writes.map((w) => w.chunk.length),
    [8, 8, 8, 8, 8],
  )
  assert.deepEqual(sink.bytes(), CONTENT)
})

test('sendRange() stops reading and rejects with DownloadAborted when the connection closes; big buffers stop counting', async () => {
  const sink = new HeldSink()
  const file = memoryFile(CONTENT)
  const p = pool()
  const done = sendRange(sink, file, 0, 39, p, { bytes: 0 }, { growAfter: 0 })
  await sink.wrote(2)
  assert.equal(p.big, 2)
  sink.emit('close')
  await assert.rejects(done, DownloadAborted)
  sink.complete(0, new Error('socket gone'))
  await settle()
  assert.equal(file.reads, 2)
  assert.equal(p.big, 0, 'the budget is whole again')
  assert.equal(sink.listenerCount('close'), 0, 'its close listener is removed')
  assert.equal(sink.listenerCount('drain'), 0, 'its drain listener is removed')
})

test('sendRange() rejects at once on a response already destroyed', async () => {
  const sink = new HeldSink()
  sink.destroyed = true
  const file = memoryFile(CONTENT)
  await assert.rejects(sendRange(sink, file, 0, 39, pool(), { bytes: 0 }, { growAfter: 0 }), DownloadAborted)
  assert.equal(file.reads, 0)
})

test('sendRange() rejects when the file is shorter than its size says', async () => {
  const sink = new HeldSink()
  const file = memoryFile(CONTENT.subarray(0, 12), 40)
  const done = sendRange(sink, file, 0, 39, pool(), { bytes: 0 }, { growAfter: 1000 })
  await sink.wrote(1)
  sink.complete(0)
  await assert.rejects(done, { message: 'the file ended at byte 12, before byte 40' })
})

test('sendRange() sends a range smaller than a chunk in one write', async () => {
  const sink = new HeldSink()
  const done = sendRange(sink, memoryFile(CONTENT), 5, 9, pool(), { bytes: 0 }, { growAfter: 0 })
  await sink.wrote(1)
  assert.equal(sink.writes[0]?.chunk.length, 5)
  sink.complete(0)
  await done
  assert.deepEqual(sink.bytes(), CONTENT.subarray(5, 10))
})
