/** Connection limits of serveHttp() on loopback, driven by a ManualClock: caps, idle and total time. */
import assert from 'node:assert/strict'
import { connect, type Socket } from 'node:net'
import { test } from 'node:test'
import { ManualClock } from './clock.ts'
import { GeneratedSource } from './files.ts'
import { serveHttp } from './http.ts'
import { EventLog, HANG_MS } from './test-events.ts'

function open(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port })
    socket.on('error', () => undefined)
    socket.once('connect', () => resolve(socket))
    socket.once('error', reject)
  })
}

/** A socket's end, whenever it comes; rejects only when the server never closes it (a hang). */
function closed(socket: Socket): Promise<void> {
  if (socket.destroyed) return Promise.resolve()
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`socket not closed within ${HANG_MS} ms`)), HANG_MS)
    socket.once('close', () => {
      clearTimeout(timer)
      resolve()
    })
    socket.resume()
  })
}

/** One request on `socket`, answered (the server saw it). */
function ask(socket: Socket, path = '/a'): Promise<string> {
  return new Promise((resolve) => {
    let reply = ''
    const onData = (c: Buffer) => {
      reply += c.toString('latin1')
      if (reply.includes('\r\n\r\n')) {
        socket.off('data', onData)
        resolve(reply)
      }
    }
    socket.on('data', onData)
    socket.write(`GET ${path} HTTP/1.1\r\nHost: t\r\n\r\n`)
  })
}

test('serveHttp() closes connections over maxConnectionsPerClient at once, with one warning', async () => {
  const log = new EventLog()
  const files = new GeneratedSource().set('a', 'x')
  const server = await serveHttp({
    host: '127.0.0.1',
    port: 0,
    files,
    events: log.sink,
    maxConnectionsPerClient: 2,
  })
  const sockets: Socket[] = []
  try {
    for (let i = 0; i < 4; i++) sockets.push(await open(server.port))
    await closed(sockets[2] as Socket)
    await closed(sockets[3] as Socket)
    assert.match(await ask(sockets[0] as Socket), /^HTTP\/1\.1 200 /)
    assert.match(await ask(sockets[1] as Socket), /^HTTP\/1\.1 200 /)
    assert.deepEqual(
      log.of('pxe.warning').map((e) => e.message),
      [
        'Refused connections from 127.0.0.1: it has 2 open (maxConnectionsPerClient); more are closed at once until some end',
      ],
    )
  } finally {
    for (const s of sockets) s.destroy()
    await server.close()
  }
})

test('serveHttp() closes connections over maxConnections', async () => {
  const log = new EventLog()
  const server = await serveHttp({
    host: '127.0.0.1',
    port: 0,
    files: new GeneratedSource(),
    events: log.sink,
    maxConnections: 1,
  })
  const sockets: Socket[] = []
  try {
    sockets.push(await open(server.port), await open(server.port))
    await closed(sockets[1] as Socket)
    assert.match(
      log.of('pxe.warning')[0]?.message ?? '',
      /^Refused connections: 1 are open \(maxConnections\)/,
    )
    assert.equal((sockets[0] as Socket).destroyed, false)
  } finally {
    for (const s of sockets) s.destroy()
    await server.close()
  }
})

test('serveHttp() closes a connection idle for idleTimeoutMs of its clock; a request starts the wait again', async () => {
  const clock = new ManualClock()
  const files = new GeneratedSource().set('a', 'x')
  const server = await serveHttp({ host: '127.0.0.1', port: 0, files, clock, idleTimeoutMs: 1000 })
  const socket = await open(server.port)
  try {
    // The timers are armed once the server saw the connection: its first answer proves it.
    await ask(socket)
    clock.advance(999)
    await ask(socket) // progress: the idle wait starts again
    clock.advance(999)
    assert.equal(socket.destroyed, false)
    clock.advance(1)
    await closed(socket)
  } finally {
    socket.destroy()
    await server.close()
  }
})

test('serveHttp() closes a connection after maxConnectionMs of its clock, busy or not', async () => {
  const clock = new ManualClock()
  const files = new GeneratedSource().set('a', 'x')
  const server = await serveHttp({
    host: '127.0.0.1',
    port: 0,
    files,
    clock,
    idleTimeoutMs: 1000,
    maxConnectionMs: 2500,
  })
  const socket = await open(server.port)
  try {
    for (let i = 0; i < 4; i++) {
      await ask(socket)
      clock.advance(600)
    }
    await ask(socket) // 2400 ms: still open, and never idle for long
    assert.equal(socket.destroyed, false)
    const ended = closed(socket)
    clock.advance(100)
    await ended
  } finally {
    socket.destroy()
    await server.close()
  }
})
