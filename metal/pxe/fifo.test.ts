/**
 * A FIFO (and a socket-like non-regular file) in the served folder: before the fix, open() of a FIFO
 * blocked a libuv worker thread for good, four requests stopped HTTP, TFTP and shutdown. Now such
 * files are refused before any open, other files are served meanwhile, and close() completes.
 */
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { createSocket } from 'node:dgram'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { request } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { decodeTftp, encodeTftp, Opcode, type TftpPacket } from '../../lib/tftp/index.ts'
import { ManualClock } from './clock.ts'
import { DirectorySource, type FileSource, type ServedFile } from './files.ts'
import { serveHttp } from './http.ts'
import { HANG_MS } from './test-events.ts'
import { serveTftp } from './tftp.ts'

function get(port: number, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    request({ host: '127.0.0.1', port, path, agent: false }, (res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (c: string) => {
        body += c
      })
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }))
    })
      .on('error', reject)
      .end()
  })
}

/** One TFTP read of a file smaller than a block: the first packet answered (DATA 1 or ERROR). */
async function tftpFirst(port: number, file: string): Promise<TftpPacket> {
  const socket = createSocket('udp4')
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve))
  try {
    const answer = new Promise<{ packet: TftpPacket; port: number }>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no TFTP answer within ${HANG_MS} ms`)), HANG_MS)
      socket.once('message', (msg, rinfo) => {
        clearTimeout(timer)
        resolve({ packet: decodeTftp(Uint8Array.from(msg)), port: rinfo.port })
      })
    })
    const rrq: TftpPacket = { opcode: Opcode.RRQ, filename: file, mode: 'octet', options: new Map() }
    socket.send(encodeTftp(rrq), port, '127.0.0.1')
    const { packet, port: from } = await answer
    if (packet.opcode === Opcode.DATA)
      socket.send(encodeTftp({ opcode: Opcode.ACK, block: 1 }), from, '127.0.0.1')
    return packet
  } finally {
    socket.close()
  }
}

/** Resolves 'closed' when `closing` does; 'hung' after a generous guard (a hung close never gets 'closed'). */
function settle(closing: Promise<void>): Promise<'closed' | 'hung'> {
  let timer: NodeJS.Timeout | undefined
  const guard = new Promise<'hung'>((resolve) => {
    timer = setTimeout(() => resolve('hung'), HANG_MS)
  })
  return Promise.race([closing.then(() => 'closed' as const), guard]).finally(() => clearTimeout(timer))
}

test('DirectorySource refuses a FIFO without opening it; HTTP and TFTP serve other files and close', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'pxe-fifo-'))
  try {
    await writeFile(join(dir, 'grub.cfg'), 'set timeout=1\n')
    execFileSync('mkfifo', [join(dir, 'pipe')])
    const files = new DirectorySource(dir)
    assert.equal(await files.open('pipe'), undefined)
    const clock = new ManualClock()
    const http = await serveHttp({ host: '127.0.0.1', port: 0, files, clock })
    const tftp = await serveTftp({ address: '127.0.0.1', port: 0, files, clock })
    let closed = false
    try {
      // Twice as many requests for the FIFO as libuv has worker threads, on both services.
      const pipes = await Promise.all(Array.from({ length: 8 }, () => get(http.port, '/pipe')))
      assert.deepEqual(
        pipes.map((r) => r.status),
        Array(8).fill(404),
      )
      for (let i = 0; i < 8; i++) {
        const answer = await tftpFirst(tftp.port, 'pipe')
        assert.equal(answer.opcode, Opcode.ERROR)
      }
      assert.deepEqual(await get(http.port, '/grub.cfg'), { status: 200, body: 'set timeout=1\n' })
      const data = await tftpFirst(tftp.port, 'grub.cfg')
      assert.equal(data.opcode === Opcode.DATA && Buffer.from(data.data).toString(), 'set timeout=1\n')
      // Shutdown completes on its own: the manual clock never reaches the shutdown deadline.
      assert.equal(await settle(Promise.all([http.close(), tftp.close()]).then(() => undefined)), 'closed')
      closed = true
    } finally {
      if (!closed) await Promise.all([http.close(), tftp.close()])
    }
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
})

test('serveHttp() close() returns at its injected shutdown deadline while a file source never answers', async () => {
  let asked: () => void = () => undefined
  const seen = new Promise<void>((resolve) => {
    asked = resolve
  })
  // A stand-in source that holds every open forever (like an open() blocked on a FIFO).
  const stuck: FileSource = {
    open: () => {
      asked()
      return new Promise<ServedFile | undefined>(() => undefined)
    },
  }
  const clock = new ManualClock()
  const http = await serveHttp({ host: '127.0.0.1', port: 0, files: stuck, clock, shutdownMs: 1500 })
  const req = request({ host: '127.0.0.1', port: http.port, path: '/vmlinuz', agent: false })
  req.on('error', () => undefined)
  req.end()
  await seen
  let state = 'closing'
  const closing = http.close().then(() => {
    state = 'closed'
  })
  await new Promise((resolve) => setImmediate(resolve))
  assert.equal(state, 'closing', 'close() waits for the running request until the deadline')
  clock.advance(1500)
  assert.equal(await settle(closing.then(() => undefined)), 'closed')
})
