import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises'
import { Agent, request as httpRequest } from 'node:http'
import { connect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import fc from 'fast-check'
import type { BootEvent } from './events.ts'
import { DirectorySource, type FileSource, GeneratedSource, LayeredSource, type ServedFile } from './files.ts'
import {
  DEFAULT_CHUNK_SIZE,
  decodeTarget,
  type HttpServer,
  type InstallReport,
  isGrub,
  parseRangeHeader,
  RequestError,
  serveHttp,
} from './http.ts'
import type { MachineDirectory } from './machine-directory.ts'
import { EventLog, HANG_MS } from './test-events.ts'

interface Reply {
  status: number
  headers: Record<string, string>
  body: Buffer
}

/**
 * Sends `head` (request line and headers, without the final blank line) byte for byte, with
 * Connection: close, and reads the whole reply. Raw, so odd targets reach the server unchanged.
 */
function raw(
  port: number,
  head: string,
  options: { body?: string | Buffer; localAddress?: string } = {},
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port, localAddress: options.localAddress ?? '127.0.0.1' })
    const chunks: Buffer[] = []
    socket.on('data', (c: Buffer) => chunks.push(c))
    socket.on('error', reject)
    socket.on('close', () => {
      const all = Buffer.concat(chunks)
      const end = all.indexOf('\r\n\r\n')
      if (end < 0) {
        reject(new Error(`no complete reply: ${JSON.stringify(all.toString('latin1'))}`))
        return
      }
      const [statusLine = '', ...lines] = all.subarray(0, end).toString('latin1').split('\r\n')
      const headers: Record<string, string> = {}
      for (const line of lines) {
        const colon = line.indexOf(':')
        headers[line.slice(0, colon).toLowerCase()] = line.slice(colon + 1).trim()
      }
      resolve({ status: Number(statusLine.split(' ')[1]), headers, body: all.subarray(end + 4) })
    })
    const body = options.body === undefined ? Buffer.alloc(0) : Buffer.from(options.body)
    const length = options.body === undefined ? '' : `Content-Length: ${body.length}\r\n`
    socket.write(
      Buffer.concat([
        Buffer.from(`${head}\r\nHost: test\r\nConnection: close\r\n${length}\r\n`, 'latin1'),
        body,
      ]),
    )
  })
}

const get = (port: number, target: string, extra = '', localAddress?: string): Promise<Reply> =>
  raw(
    port,
    `GET ${target} HTTP/1.1${extra === '' ? '' : `\r\n${extra}`}`,
    localAddress ? { localAddress } : {},
  )

const machines: MachineDirectory = (() => {
  const table = [
    { name: 'node1', mac: '02:00:00:00:00:01', ip: '127.0.0.2' },
    { name: 'node2', mac: '02:00:00:00:00:02', ip: '127.0.0.3' },
  ]
  return {
    byIp: (ip: string) => table.find((m) => m.ip === ip),
    byMac: (mac: string) => table.find((m) => m.mac === mac),
  }
})()

/** 0..255 repeated: every byte's value is its position modulo 256, so any slice is checkable. */
function pattern(size: number): Buffer {
  const b = Buffer.alloc(size)
  for (let i = 0; i < size; i++) b[i] = i % 256
  return b
}

const SECRET = 'TOP-SECRET-OUTSIDE-THE-ROOT'

/** Rejects when `promise` has not settled after HANG_MS: only a hung server gets there. */
async function notHung<T>(promise: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${what}: still waiting after ${HANG_MS} ms`)), HANG_MS)
      }),
    ])
  } finally {
    clearTimeout(timer)
  }
}

/** Events compared without their order (two responses' 'close' may be seen in either order). */
const unordered = <T>(list: T[]): string[] => list.map((x) => JSON.stringify(x)).sort()

describe('serveHttp() on loopback', () => {
  let dir: string
  let root: string
  let port: number
  let close: () => Promise<void>
  const events: BootEvent[] = []
  const reports: InstallReport[] = []
  let failReports = false
  const data = pattern(100_000)

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'hl-http-'))
    root = join(dir, 'root')
    await mkdir(join(root, 'pub', 'sub'), { recursive: true })
    await writeFile(join(root, 'pub', 'data.bin'), data)
    await writeFile(join(root, 'pub', 'hello.txt'), 'hello\n')
    await writeFile(join(root, 'pub', 'grub.CFG'), 'menu\n')
    await writeFile(join(root, 'pub', 'empty.img'), '')
    await writeFile(join(root, '%2e%2e'), 'a file really named %2e%2e\n')
    await writeFile(join(dir, 'secret.txt'), SECRET)
    await symlink(join(dir, 'secret.txt'), join(root, 'link-out'))
    await symlink(dir, join(root, 'dir-out'))
    await symlink('hello.txt', join(root, 'pub', 'link-in.txt'))
    const server = await serveHttp({
      host: '127.0.0.1',
      port: 0,
      files: files(),
      machines,
      events: (e) => events.push(e),
      onReport: async (r) => {
        if (failReports) throw new Error('database is down')
        reports.push(r)
      },
    })
    port = server.port
    close = () => server.close()
  })
  after(async () => {
    await close?.()
    await rm(dir, { recursive: true, force: true })
  })

  function files(): FileSource {
    const generated = new GeneratedSource().set('machine.cfg', (r) =>
      r.machine === undefined ? undefined : `name=${r.machine} ip=${r.ip}\n`,
    )
    return new LayeredSource([generated, new DirectorySource(root)])
  }

  /**
   * A server of its own, for a test that counts 'http.served' events: they are emitted when a
   * response closes, which can be just after its client saw it, so a shared log could still get
   * one from the test before.
   */
  async function withOwnServer(run: (server: HttpServer, log: EventLog) => Promise<void>): Promise<void> {
    const log = new EventLog()
    const server = await serveHttp({ host: '127.0.0.1', port: 0, files: files(), machines, events: log.sink })
    try {
      await run(server, log)
    } finally {
      await server.close()
    }
  }

  test('serveHttp() answers GET with 200, the exact bytes, Content-Length, Content-Type and Accept-Ranges', async () => {
    const r = await get(port, '/pub/data.bin')
    assert.equal(r.status, 200)
    assert.equal(r.headers['content-length'], '100000')
    assert.equal(r.headers['content-type'], 'application/octet-stream')
    assert.equal(r.headers['accept-ranges'], 'bytes')
    assert.equal(r.headers['content-range'], undefined)
    assert.deepEqual(r.body, data)
    const t = await get(port, '/pub/hello.txt')
    assert.equal(t.headers['content-type'], 'text/plain; charset=utf-8')
    assert.equal(t.body.toString(), 'hello\n')
    assert.equal((await get(port, '/pub/grub.CFG')).headers['content-type'], 'text/plain; charset=utf-8')
    const empty = await get(port, '/pub/empty.img')
    assert.equal(empty.status, 200)
    assert.equal(empty.headers['content-length'], '0')
    assert.equal(empty.body.length, 0)
  })

  test('serveHttp() answers HEAD with the GET headers and no body', async () => {
    const r = await raw(port, 'HEAD /pub/data.bin HTTP/1.1')
    assert.equal(r.status, 200)
    assert.equal(r.headers['content-length'], '100000')
    assert.equal(r.headers['accept-ranges'], 'bytes')
    assert.equal(r.body.length, 0)
    const ranged = await raw(port, 'HEAD /pub/data.bin HTTP/1.1\r\nRange: bytes=10-19')
    assert.equal(ranged.status, 206)
    assert.equal(ranged.headers['content-range'], 'bytes 10-19/100000')
    assert.equal(ranged.body.length, 0)
    const missing = await raw(port, 'HEAD /pub/nope HTTP/1.1')
    assert.equal(missing.status, 404)
    assert.equal(missing.body.length, 0)
  })

  test('serveHttp() answers a Range request with 206 and exact bytes', async () => {
    const size = data.length
    const cases: { range: string; status: number; contentRange?: string; start?: number; end?: number }[] = [
      { range: 'bytes=0-9', status: 206, contentRange: `bytes 0-9/${size}`, start: 0, end: 9 },
      {
        range: 'bytes=99990-',
        status: 206,
        contentRange: `bytes 99990-99999/${size}`,
        start: 99990,
        end: 99999,
      },
      { range: 'bytes=-5', status: 206, contentRange: `bytes 99995-99999/${size}`, start: 99995, end: 99999 },
      { range: 'bytes=500-500', status: 206, contentRange: `bytes 500-500/${size}`, start: 500, end: 500 },
      {
        range: 'bytes=99000-1000000',
        status: 206,
        contentRange: `bytes 99000-99999/${size}`,
        start: 99000,
        end: 99999,
      },
      { range: 'bytes=-1000000', status: 206, contentRange: `bytes 0-99999/${size}`, start: 0, end: 99999 },
      { range: 'BYTES = 1-2 ,', status: 206, contentRange: `bytes 1-2/${size}`, start: 1, end: 2 },
      // Several ranges: the whole file (documented), never multipart.
      { range: 'bytes=0-1,5-6', status: 200, start: 0, end: 99999 },
      // Unknown unit or unparseable: Range ignored.
      { range: 'items=0-1', status: 200, start: 0, end: 99999 },
      { range: 'bytes=abc', status: 200, start: 0, end: 99999 },
      { range: 'bytes=1-2-3', status: 200, start: 0, end: 99999 },
      // Unsatisfiable: 416 with the size.
      { range: `bytes=${size}-`, status: 416, contentRange: `bytes */${size}` },
      { range: 'bytes=200000-300000', status: 416, contentRange: `bytes */${size}` },
      { range: 'bytes=-0', status: 416, contentRange: `bytes */${size}` },
      { range: 'bytes=9-3', status: 416, contentRange: `bytes */${size}` },
    ]
    for (const c of cases) {
      const r = await get(port, '/pub/data.bin', `Range: ${c.range}`)
      assert.equal(r.status, c.status, c.range)
      assert.equal(r.headers['content-range'], c.contentRange, c.range)
      if (c.start !== undefined && c.end !== undefined) {
        assert.equal(r.headers['content-length'], String(c.end - c.start + 1), c.range)
        assert.deepEqual(r.body, data.subarray(c.start, c.end + 1), c.range)
      } else {
        assert.equal(r.body.toString(), '416 Range Not Satisfiable\n')
      }
    }
    const empty = await get(port, '/pub/empty.img', 'Range: bytes=0-')
    assert.equal(empty.status, 416)
    assert.equal(empty.headers['content-range'], 'bytes */0')
  })

  test('serveHttp() ignores Range when If-Range is sent, since it has no validator to match', async () => {
    const r = await get(port, '/pub/data.bin', 'Range: bytes=0-9\r\nIf-Range: "abc"')
    assert.equal(r.status, 200)
    assert.equal(r.body.length, data.length)
  })

  test('serveHttp() answers other methods with 405 and Allow', async () => {
    for (const method of ['POST', 'PUT', 'DELETE', 'OPTIONS', 'PATCH']) {
      const r = await raw(port, `${method} /pub/hello.txt HTTP/1.1`, { body: 'x' })
      assert.equal(r.status, 405, method)
      assert.equal(r.headers.allow, 'GET, HEAD', method)
    }
    const report = await raw(port, 'PUT /report/started HTTP/1.1', { body: 'x', localAddress: '127.0.0.2' })
    assert.equal(report.status, 405)
    assert.equal(report.headers.allow, 'GET, POST')
  })

  test('serveHttp() never serves a file outside its root, whatever the path encoding', async () => {
    const cases: [target: string, status: number][] = [
      ['/pub/./hello.txt', 200],
      ['//pub//hello.txt', 200],
      ['/pub%2fhello.txt', 200], // %2f is decoded once to "/", then normalised like any slash
      ['/pub/link-in.txt', 200], // a symlink that stays inside the root is fine
      ['/%252e%252e', 200], // decoded once: the file literally named "%2e%2e", not ".."
      ['/../secret.txt', 400],
      ['/pub/../../secret.txt', 400],
      ['/%2e%2e/secret.txt', 400],
      ['/%2E%2E/secret.txt', 400],
      ['/pub/..%2f..%2fsecret.txt', 400],
      ['/pub%2f%2e%2e%2f%2e%2e%2fsecret.txt', 400],
      ['/%252e%252e/secret.txt', 404],
      ['/pub/hello.txt%00.png', 400],
      ['/%00', 400],
      ['/pub\\..\\..\\secret.txt', 400],
      ['/%5c..%5csecret.txt', 400],
      ['/etc/passwd', 404],
      ['//etc/passwd', 404],
      [`/${join(dir, 'secret.txt')}`, 404],
      ['http://evil.example/../secret.txt', 400],
      ['http://evil.example/pub/hello.txt', 200],
      ['/link-out', 404],
      ['/dir-out/secret.txt', 404],
      ['/pub', 404],
      ['/', 404],
      ['/%zz', 400],
      ['/%4', 400],
      ['/%c3%28', 400], // not UTF-8
      ['/%ff', 400],
      [`/${'a'.repeat(300)}`, 404], // a too-long name is just missing
      [`/${'a/'.repeat(600)}x`, 414],
      [`/${'%61'.repeat(1100)}`, 414],
      ['*', 400],
    ]
    for (const [target, status] of cases) {
      const r = await get(port, target)
      assert.equal(r.status, status, target)
      assert.doesNotMatch(r.body.toString(), new RegExp(SECRET), target)
    }
    assert.equal((await get(port, '/%252e%252e')).body.toString(), 'a file really named %2e%2e\n')
  })

  test('serveHttp() never serves a file outside its root for generated hostile paths (property)', async () => {
    const piece = fc.constantFrom(
      '..',
      '.',
      '%2e',
      '%2e%2e',
      '%2E.',
      '%2f',
      '%5c',
      '\\',
      '%00',
      '%252e',
      '%25',
      '',
      'pub',
      'secret.txt',
      'link-out',
      'dir-out',
      'hello.txt',
    )
    await fc.assert(
      fc.asyncProperty(fc.array(piece, { minLength: 1, maxLength: 8 }), async (pieces) => {
        const r = await get(port, `/${pieces.join('/')}`)
        assert.ok([200, 400, 404].includes(r.status), `${pieces.join('/')}: ${r.status}`)
        assert.ok(!r.body.toString().includes(SECRET), pieces.join('/'))
      }),
      { numRuns: 300 },
    )
  })

  test('serveHttp() gives each machine its own generated file, by client address', async () => {
    await withOwnServer(async (server, log) => {
      const one = await get(server.port, '/machine.cfg', '', '127.0.0.2')
      const two = await get(server.port, '/machine.cfg', '', '127.0.0.3')
      const stranger = await get(server.port, '/machine.cfg', '', '127.0.0.4')
      assert.equal(one.status, 200)
      assert.equal(one.body.toString(), 'name=node1 ip=127.0.0.2\n')
      assert.equal(two.body.toString(), 'name=node2 ip=127.0.0.3\n')
      assert.equal(stranger.status, 404)
      const served = await log.until('http.served', () => true, 3)
      assert.deepEqual(
        unordered(served.map((e) => [e.client, e.machine ?? null, e.path, e.status, e.bytes])),
        unordered([
          ['127.0.0.2', 'node1', '/machine.cfg', 200, 24],
          ['127.0.0.3', 'node2', '/machine.cfg', 200, 24],
          ['127.0.0.4', null, '/machine.cfg', 404, 0],
        ]),
      )
    })
  })

  test("serveHttp() emits 'http.served' with status, bytes actually sent and duration", async () => {
    await withOwnServer(async (server, log) => {
      await get(server.port, '/pub/data.bin')
      await get(server.port, '/pub/data.bin', 'Range: bytes=10-19')
      await raw(server.port, 'HEAD /pub/data.bin HTTP/1.1')
      await get(server.port, '/pub/nope.bin')
      const served = await log.until('http.served', () => true, 4)
      assert.deepEqual(
        unordered(served.map((e) => [e.method, e.path, e.status, e.bytes, e.client])),
        unordered([
          ['GET', '/pub/data.bin', 200, 100000, '127.0.0.1'],
          ['GET', '/pub/data.bin', 206, 10, '127.0.0.1'],
          ['HEAD', '/pub/data.bin', 200, 0, '127.0.0.1'],
          ['GET', '/pub/nope.bin', 404, 0, '127.0.0.1'],
        ]),
      )
      for (const e of served) assert.ok(Number.isInteger(e.ms) && e.ms >= 0)
      assert.deepEqual(
        log.of('pxe.warning').map((e) => e.message),
        ['Cannot serve file: "pub/nope.bin" asked by 127.0.0.1 does not exist'],
      )
    })
  })

  test('serveHttp() keeps a connection alive across requests', async () => {
    const agent = new Agent({ keepAlive: true, maxSockets: 1 })
    try {
      const ports: number[] = []
      for (let i = 0; i < 3; i++) {
        const { body, localPort } = await new Promise<{ body: string; localPort: number }>(
          (resolve, reject) => {
            const req = httpRequest({ host: '127.0.0.1', port, path: '/pub/hello.txt', agent }, (res) => {
              let body = ''
              res.on('data', (c: Buffer) => {
                body += c.toString()
              })
              res.on('end', () => resolve({ body, localPort: req.socket?.localPort ?? 0 }))
            })
            req.on('error', reject)
            req.end()
          },
        )
        assert.equal(body, 'hello\n')
        ports.push(localPort)
      }
      assert.equal(new Set(ports).size, 1)
    } finally {
      agent.destroy()
    }
  })

  describe('installer reports', () => {
    test('serveHttp() takes a POST /report/<stage> from a configured machine: 204, event and onReport', async () => {
      events.length = 0
      reports.length = 0
      const r = await raw(port, 'POST /report/installing HTTP/1.1\r\nContent-Type: text/plain', {
        body: 'disk 40%\n',
        localAddress: '127.0.0.2',
      })
      assert.equal(r.status, 204)
      assert.equal(r.body.length, 0)
      assert.deepEqual(reports, [
        { machine: 'node1', ip: '127.0.0.2', stage: 'installing', detail: 'disk 40%' },
      ])
      assert.deepEqual(
        events.filter((e) => e.type === 'install.report'),
        [{ type: 'install.report', machine: 'node1', stage: 'installing', detail: 'disk 40%' }],
      )
    })

    test('serveHttp() takes a GET /report/<stage>?detail= (busybox wget) and a form-encoded POST (curl -d)', async () => {
      reports.length = 0
      const a = await get(port, '/report/installed?detail=took%2012+min&x=1', '', '127.0.0.3')
      const b = await get(port, '/report/started', '', '127.0.0.3')
      const c = await raw(
        port,
        'POST /report/kickstart HTTP/1.1\r\nContent-Type: application/x-www-form-urlencoded',
        {
          body: 'detail=fetched+ks.cfg%21',
          localAddress: '127.0.0.2',
        },
      )
      const d = await raw(
        port,
        'POST /report/kickstart HTTP/1.1\r\nContent-Type: application/x-www-form-urlencoded',
        {
          body: 'a=b&c',
          localAddress: '127.0.0.2',
        },
      )
      assert.deepEqual([a.status, b.status, c.status, d.status], [204, 204, 204, 204])
      assert.deepEqual(reports, [
        { machine: 'node2', ip: '127.0.0.3', stage: 'installed', detail: 'took 12 min' },
        { machine: 'node2', ip: '127.0.0.3', stage: 'started' },
        { machine: 'node1', ip: '127.0.0.2', stage: 'kickstart', detail: 'fetched ks.cfg!' },
        { machine: 'node1', ip: '127.0.0.2', stage: 'kickstart', detail: 'a=b&c' },
      ])
    })

    test('serveHttp() refuses reports from an unknown address with 403 and only a warning', async () => {
      events.length = 0
      reports.length = 0
      const r = await raw(port, 'POST /report/installed HTTP/1.1', {
        body: 'pwned',
        localAddress: '127.0.0.9',
      })
      const g = await get(port, '/report/installed?detail=x', '', '127.0.0.9')
      assert.equal(r.status, 403)
      assert.equal(g.status, 403)
      // Reports and warnings come before the reply: nothing to wait for.
      assert.deepEqual(reports, [])
      assert.deepEqual(
        events.filter((e) => e.type !== 'http.served'),
        [
          {
            type: 'pxe.warning',
            service: 'http',
            message:
              'Cannot accept install report: 127.0.0.9 is not a configured machine (stage "installed")',
          },
          {
            type: 'pxe.warning',
            service: 'http',
            message:
              'Cannot accept install report: 127.0.0.9 is not a configured machine (stage "installed")',
          },
        ],
      )
    })

    test('serveHttp() refuses bad stages (400), oversized details (413) and reports a failing onReport (500)', async () => {
      reports.length = 0
      const from = { localAddress: '127.0.0.2' }
      for (const target of [
        '/report/',
        '/report',
        '/report/Bad_Stage',
        `/report/${'a'.repeat(33)}`,
        '/report/a/b',
        '/report/%2e%2e',
      ]) {
        assert.equal((await get(port, target, '', '127.0.0.2')).status, 400, target)
      }
      assert.equal((await get(port, `/report/${'a'.repeat(32)}`, '', '127.0.0.2')).status, 204)
      assert.equal(
        (await raw(port, 'POST /report/big HTTP/1.1', { ...from, body: 'x'.repeat(4097) })).status,
        413,
      )
      assert.equal(
        (await raw(port, 'POST /report/big HTTP/1.1', { ...from, body: 'x'.repeat(4096) })).status,
        204,
      )
      assert.equal((await get(port, `/report/big?detail=${'y'.repeat(4097)}`, '', '127.0.0.2')).status, 413)
      const ctl = await raw(port, 'POST /report/odd HTTP/1.1', { ...from, body: 'a\u001b[31mred\u0007\tb' })
      assert.equal(ctl.status, 204)
      assert.equal(reports.at(-1)?.detail, 'a [31mred \tb')
      failReports = true
      try {
        assert.equal((await get(port, '/report/started', '', '127.0.0.2')).status, 500)
      } finally {
        failReports = false
      }
    })
  })
})

/** A number that tests can wait on: `until(n)` resolves once it reached n. */
class Counter {
  value = 0
  private readonly waiters: { n: number; resolve: () => void }[] = []
  add(by = 1): void {
    this.value += by
    for (const w of this.waiters.filter((w) => this.value >= w.n)) {
      this.waiters.splice(this.waiters.indexOf(w), 1)
      w.resolve()
    }
  }
  until(n: number, what: string): Promise<void> {
    if (this.value >= n) return Promise.resolve()
    return notHung(new Promise<void>((resolve) => this.waiters.push({ n, resolve })), what)
  }
}

/** A FileSource of one big virtual file (bytes are i % 251) that counts what was opened, read and closed. */
function countingSource(size: number, failAt?: number) {
  const stats = { read: new Counter(), reads: new Counter(), opened: new Counter(), closed: new Counter() }
  const source: FileSource = {
    async open(path) {
      if (path !== 'big.img') return undefined
      stats.opened.add()
      const file: ServedFile = {
        size,
        async read(buffer, offset, length, position) {
          if (failAt !== undefined && position >= failAt) throw new Error('EIO: disk went away')
          const n = Math.min(length, size - position)
          for (let i = 0; i < n; i++) buffer[offset + i] = (position + i) % 251
          stats.read.add(n)
          stats.reads.add()
          return n
        },
        async close() {
          stats.closed.add()
        },
      }
      return file
    },
  }
  return { source, stats }
}

test('serveHttp() does not buffer a whole large file for a client that stops reading', async () => {
  const size = 1024 * 1024 * 1024
  const { source, stats } = countingSource(size)
  const log = new EventLog()
  const server = await serveHttp({ host: '127.0.0.1', port: 0, files: source, events: log.sink })
  const socket = connect({ host: '127.0.0.1', port: server.port })
  socket.on('error', () => undefined) // destroyed below; nothing to report
  try {
    await notHung(new Promise<void>((resolve) => socket.once('connect', () => resolve())), 'connecting')
    let received = 0
    const stalled = new Promise<void>((resolve) => {
      socket.on('data', (c: Buffer) => {
        received += c.length
        if (received > 1024 * 1024) {
          socket.pause() // read a little, then stall
          resolve()
        }
      })
    })
    socket.write('GET /big.img HTTP/1.1\r\nHost: t\r\n\r\n')
    await notHung(stalled, 'the first MiB')
    // Once the socket stops taking bytes, the server reads no more: a server that read on
    // regardless would do so in the same microtask chain, before this turn of the event loop ends.
    await new Promise((resolve) => setImmediate(resolve))
    const read = stats.read.value
    socket.destroy()
    await stats.closed.until(1, 'the file to be closed once the client is gone')
    assert.equal(stats.opened.value, 1)
    const [served] = await log.until('http.served')
    assert.equal(served?.status, 200)
    assert.ok((served?.bytes ?? size) < size, `${served?.bytes} bytes counted as sent`)
    // What was read is what the socket took (the kernel's buffers, a few MiB) plus at most the
    // buffers in flight, far below the 1 GiB file.
    const bound = (served?.bytes ?? 0) + 2 * DEFAULT_CHUNK_SIZE
    assert.ok(
      read <= bound,
      `read ${read} bytes for a stalled client that took ${served?.bytes} (bound ${bound})`,
    )
  } finally {
    socket.destroy()
    await server.close()
  }
})

test('serveHttp() close() ends keep-alive and running downloads and closes their files', async () => {
  const { source, stats } = countingSource(512 * 1024 * 1024)
  const server = await serveHttp({ host: '127.0.0.1', port: 0, files: source })
  const idle = connect({ host: '127.0.0.1', port: server.port })
  const busy = connect({ host: '127.0.0.1', port: server.port })
  // Both are cut by the server: a reset is expected, not a failure.
  idle.on('error', () => undefined)
  busy.on('error', () => undefined)
  try {
    const closed = (s: typeof idle) => new Promise<void>((resolve) => s.once('close', () => resolve()))
    const idleClosed = closed(idle)
    const busyClosed = closed(busy)
    let idleReply = ''
    const idleAnswered = new Promise<void>((resolve) => {
      idle.on('data', (c: Buffer) => {
        idleReply += c.toString('latin1')
        if (idleReply.endsWith('404 Not Found\n')) resolve()
      })
    })
    const busyStarted = new Promise<void>((resolve) =>
      busy.once('data', () => {
        busy.pause()
        resolve()
      }),
    )
    idle.write('GET /nope HTTP/1.1\r\nHost: t\r\n\r\n') // answered 404, connection stays open
    busy.write('GET /big.img HTTP/1.1\r\nHost: t\r\n\r\n')
    await notHung(idleAnswered, 'the 404 on the keep-alive connection')
    await notHung(busyStarted, 'the download to start')
    assert.match(idleReply, /^HTTP\/1\.1 404 /)
    assert.equal(stats.opened.value, 1)
    assert.equal(stats.closed.value, 0)
    // close() does not wait for the clients: the busy one never reads on.
    await notHung(server.close(), 'close() with a stalled download')
    assert.equal(stats.closed.value, 1, 'close() resolves once the file is closed')
    busy.resume() // a paused socket never reports the end of its stream
    await notHung(idleClosed, 'the keep-alive connection to be closed')
    await notHung(busyClosed, 'the download connection to be closed')
  } finally {
    idle.destroy()
    busy.destroy()
    await server.close()
  }
})

test('serveHttp() cuts the connection when the file fails mid-transfer, and warns the operator', async () => {
  const { source } = countingSource(8 * 1024 * 1024, 3 * 1024 * 1024)
  const log = new EventLog()
  const server = await serveHttp({
    host: '127.0.0.1',
    port: 0,
    files: source,
    events: log.sink,
    chunkSize: 1024 * 1024,
  })
  try {
    const r = await get(server.port, '/big.img')
    assert.equal(r.status, 200)
    assert.equal(r.headers['content-length'], String(8 * 1024 * 1024))
    assert.equal(r.body.length, 3 * 1024 * 1024, 'the client sees a short body, never a padded one')
    const expected = Buffer.alloc(r.body.length)
    for (let i = 0; i < expected.length; i++) expected[i] = i % 251
    assert.ok(r.body.equals(expected))
    // The warning comes before the server ends the connection, so before the client saw the end.
    assert.deepEqual(
      log.of('pxe.warning').map((e) => e.message),
      ['Cannot serve file: sending "big.img" to 127.0.0.1 failed: EIO: disk went away'],
    )
  } finally {
    await server.close()
  }
})

test('serveHttp() streams a large file from disk intact (sha256)', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'hl-http-big-'))
  try {
    const content = Buffer.alloc(20 * 1024 * 1024 + 12345)
    for (let i = 0; i + 4 <= content.length; i += 4) content.writeUInt32LE((i * 2654435761) >>> 0, i)
    await writeFile(join(dir, 'initrd.img'), content)
    const server = await serveHttp({
      host: '127.0.0.1',
      port: 0,
      files: new DirectorySource(dir),
      chunkSize: 64 * 1024,
    })
    try {
      const hash = await new Promise<string>((resolve, reject) => {
        httpRequest({ host: '127.0.0.1', port: server.port, path: '/initrd.img' }, (res) => {
          const h = createHash('sha256')
          res.on('data', (c: Buffer) => h.update(c))
          res.on('end', () => resolve(h.digest('hex')))
        })
          .on('error', reject)
          .end()
      })
      assert.equal(hash, createHash('sha256').update(content).digest('hex'))
    } finally {
      await server.close()
    }
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
})

test('serveHttp() validates its options and reports a busy port', async () => {
  const files = new GeneratedSource()
  await assert.rejects(serveHttp({ files, port: -1 }), {
    name: 'RangeError',
    message: 'Cannot serve HTTP: option "port" is -1, expected an integer from 0 to 65535',
  })
  await assert.rejects(serveHttp({ files, port: 0, chunkSize: 10 }), /option "chunkSize" is 10/)
  const first = await serveHttp({ files, host: '127.0.0.1', port: 0 })
  try {
    await assert.rejects(serveHttp({ files, host: '127.0.0.1', port: first.port }), (err: Error) => {
      assert.match(
        err.message,
        new RegExp(`^Cannot serve HTTP: listening on 127\\.0\\.0\\.1:${first.port} failed: .*EADDRINUSE`),
      )
      return true
    })
  } finally {
    await first.close()
  }
})

test('parseRangeHeader() always answers within the file (property)', () => {
  fc.assert(
    fc.property(
      fc.nat(1_000_000),
      fc.oneof(
        fc.tuple(fc.nat(2_000_000), fc.option(fc.nat(2_000_000))).map(([a, b]) => `bytes=${a}-${b ?? ''}`),
        fc.nat(2_000_000).map((n) => `bytes=-${n}`),
        fc.string(),
      ),
      (size, header) => {
        const answer = parseRangeHeader(header, size)
        if (answer.kind === 'partial') {
          assert.ok(
            answer.start >= 0 && answer.start <= answer.end && answer.end < size,
            `${header} on ${size}`,
          )
        }
      },
    ),
  )
})

test('decodeTarget() decodes percent-escapes exactly once and splits the query', () => {
  assert.deepEqual(decodeTarget('/a%20b/c?x=%41'), { path: '/a b/c', query: 'x=%41' })
  assert.deepEqual(decodeTarget('/%252e%252e'), { path: '/%2e%2e', query: '' })
  assert.deepEqual(decodeTarget('/caf%C3%A9'), { path: '/café', query: '' })
  assert.deepEqual(decodeTarget('HTTP://host:80/x?y'), { path: '/x', query: 'y' })
  assert.deepEqual(decodeTarget('http://host'), { path: '/', query: '' })
  for (const [target, status] of [
    ['/%', 400],
    ['/%g0', 400],
    ['/%c3', 400],
    ['x/y', 400],
    ['/a b', 400],
    ['/é', 400],
    [`/${'x'.repeat(2000)}`, 414],
  ] as const) {
    assert.throws(
      () => decodeTarget(target),
      (err: unknown) => err instanceof RequestError && err.status === status,
      target,
    )
  }
})

/**
 * Opens a connection as `userAgent`, asks for /big.img, reads until `want` bytes came, then sends
 * its FIN as GRUB does when it has what it needs; resolves with how the connection ended.
 */
function fetchThenClose(port: number, userAgent: string, want: number): Promise<'reset' | 'closed'> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port, allowHalfOpen: true })
    let received = 0
    let finSent = false
    socket.on('data', (c: Buffer) => {
      received += c.length
      if (received >= want && !finSent) {
        finSent = true
        socket.end()
      }
    })
    socket.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'ECONNRESET') resolve('reset')
      else reject(error)
    })
    socket.on('end', () => socket.destroy())
    socket.on('close', (hadError) => {
      if (!hadError) resolve('closed')
    })
    socket.write(`GET /big.img HTTP/1.1\r\nHost: t\r\nUser-Agent: ${userAgent}\r\n\r\n`)
  })
}

test("serveHttp() resets GRUB's connections once GRUB closes them (its next boot reuses the same ports), and closes others cleanly", async () => {
  // GRUB numbers its TCP source ports from 21550 on every boot and answers nothing once it has
  // sent its FIN: a server socket left in LAST_ACK would refuse the next boot's SYN on that port.
  const { source } = countingSource(4 * 1024 * 1024)
  const server = await serveHttp({ host: '127.0.0.1', port: 0, files: source, events: () => undefined })
  try {
    assert.equal(await notHung(fetchThenClose(server.port, 'GRUB 2.06', 64 * 1024), 'GRUB'), 'reset')
    // GRUB closing a keep-alive connection after a whole response (the kernel and initrd it
    // loaded): reset too, and no handle left behind (the test guard fails the file on one).
    assert.equal(
      await notHung(fetchThenClose(server.port, 'GRUB 2.06', 4 * 1024 * 1024 + 100), 'GRUB, whole file'),
      'reset',
    )
    // Anyone else half-closing is served the rest and closed with a FIN, never reset.
    assert.equal(await notHung(fetchThenClose(server.port, 'curl/8.1.2', 64 * 1024), 'curl'), 'closed')
  } finally {
    await server.close()
  }
})

test('isGrub() knows GRUB by its User-Agent, and nothing else', () => {
  assert.equal(isGrub('GRUB 2.06'), true)
  assert.equal(isGrub('GRUB 2.12~rc1'), true)
  for (const other of [undefined, '', 'curl/8.1.2', 'iPXE/1.21.1', 'grubby', 'xGRUB 2.06'])
    assert.equal(isGrub(other), false, String(other))
})
