/**
 * The stall watchdog measures silence, not file size: a large download served by the real HTTP
 * server, moving slowly under a manual clock, keeps its machine's last-seen fresh through
 * 'transfer.progress' events and never stalls; once it stops moving, the machine stalls at the
 * stage's limit. The file is a stand-in whose reads complete only when the test releases them.
 */
import assert from 'node:assert/strict'
import { request } from 'node:http'
import { test } from 'node:test'
import { ManualClock } from '../pxe/clock.ts'
import type { FileSource, ServedFile } from '../pxe/files.ts'
import { serveHttp } from '../pxe/http.ts'
import type { MachineDirectory } from '../pxe/machine-directory.ts'
import { ProgressBoard } from '../pxe/progress.ts'
import { EventLog } from '../pxe/test-events.ts'
import { DEFAULT_TIMEOUTS } from './types.ts'
import { findStalls } from './watchdog.ts'

const CHUNK = 64 * 1024
const SIZE = 64 * CHUNK // 4 MiB
const PATH = 'os/images/pxeboot/initrd.img'

/** A file whose reads wait for release(); open() lets every later read through (for cleanup). */
function gatedFile() {
  const waiting: (() => void)[] = []
  let open = false
  let released = 0
  let firstRead: () => void = () => {}
  const reading = new Promise<void>((r) => {
    firstRead = r
  })
  const file: ServedFile = {
    size: SIZE,
    read: async (buffer, offset, length) => {
      firstRead()
      if (!open && released === 0) await new Promise<void>((r) => waiting.push(r))
      else if (!open) released--
      buffer.fill(7, offset, offset + length)
      return length
    },
    close: async () => {},
  }
  return {
    file,
    /** Resolves once the server reads the file: its download (and its progress throttle) began. */
    reading,
    release() {
      const next = waiting.shift()
      if (next === undefined) released++
      else next()
    },
    openAll() {
      open = true
      for (const r of waiting.splice(0)) r()
    },
  }
}

test('findStalls(): a large HTTP download that keeps moving never stalls; one that goes silent stalls at the kernel limit (manual clock)', async () => {
  const clock = new ManualClock()
  const started = clock.now()
  const gate = gatedFile()
  const files: FileSource = { open: async (path) => (path === PATH ? gate.file : undefined) }
  const machines: MachineDirectory = {
    byIp: (ip) => (ip === '127.0.0.2' ? { name: 'metal1', mac: '52:54:00:00:00:11', ip } : undefined),
    byMac: () => undefined,
  }
  const log = new EventLog()
  const board = new ProgressBoard(['metal1'], () => clock.now())
  const server = await serveHttp({
    host: '127.0.0.1',
    port: 0,
    files,
    machines,
    events: (e) => {
      log.sink(e)
      board.apply(e)
    },
    clock,
    chunkSize: CHUNK,
    smallChunkSize: CHUNK, // one chunk at a time, each read only once the last was taken
    idleTimeoutMs: 2 ** 31 - 1, // this test is about the watchdog, not the server's idle limit
  })
  let received = 0
  const done = new Promise<void>((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port: server.port, path: `/${PATH}`, localAddress: '127.0.0.2', agent: false },
      (res) => {
        res.on('data', (c: Buffer) => {
          received += c.length
        })
        res.on('end', resolve)
        res.on('error', reject)
      },
    )
    req.on('error', reject)
    req.end()
  })
  try {
    await gate.reading
    // 20 minutes of a crawling transfer, one chunk a minute: far past the 300 s kernel limit.
    for (let minute = 1; minute <= 20; minute++) {
      clock.advance(60_000)
      gate.release()
      const events = await log.until('transfer.progress', () => true, minute)
      assert.equal(events.at(-1)?.bytes, minute * CHUNK)
      assert.deepEqual(
        findStalls(board.all(), clock.now(), started, DEFAULT_TIMEOUTS),
        [],
        `minute ${minute}`,
      )
    }
    assert.equal(board.get('metal1')?.stage, 'kernel')
    // Now it stops moving: silent for exactly the limit is not yet a stall; one more ms is.
    clock.advance(DEFAULT_TIMEOUTS.kernel * 1000)
    assert.deepEqual(findStalls(board.all(), clock.now(), started, DEFAULT_TIMEOUTS), [])
    clock.advance(1)
    assert.deepEqual(findStalls(board.all(), clock.now(), started, DEFAULT_TIMEOUTS), [
      {
        machine: 'metal1',
        stage: 'kernel',
        seconds: DEFAULT_TIMEOUTS.kernel,
        lastSeen: 'HTTP os/images/pxeboot/initrd.img: 1.3 of 4.0 MiB sent',
      },
    ])
  } finally {
    gate.openAll()
    await done.catch(() => undefined)
    await server.close()
  }
  assert.equal(received, SIZE)
})
