/**
 * serveTftp() on loopback, driven by a raw UDP client that sees every packet, so the
 * protocol rules (OACK dance, windows, retransmission, duplicate ACKs, rollover, errors,
 * path safety) are asserted packet by packet. Real clients: tftp.interop.test.ts.
 */
import assert from 'node:assert/strict'
import { createSocket, type Socket } from 'node:dgram'
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, test } from 'node:test'
import type { BootEvent, MachineDirectory } from './events.ts'
import { DirectorySource, type FileSource, GeneratedSource, LayeredSource } from './files.ts'
import { decodeTftp, encodeTftp, Opcode, type TftpPacket } from './protocols/tftp/index.ts'
import { serveTftp, type TftpServer, type TftpServerOptions } from './tftp.ts'

interface Received {
  readonly packet: TftpPacket
  readonly port: number
}

/** A UDP socket speaking raw TFTP, queueing what it receives. */
class RawClient {
  readonly socket: Socket
  private readonly queue: Received[] = []
  private waiter: (() => void) | undefined
  port = 0

  private constructor() {
    this.socket = createSocket('udp4')
    this.socket.on('message', (msg, rinfo) => {
      this.queue.push({ packet: decodeTftp(Uint8Array.from(msg)), port: rinfo.port })
      this.waiter?.()
    })
  }

  static async open(): Promise<RawClient> {
    const client = new RawClient()
    await new Promise<void>((resolve) => client.socket.bind(0, '127.0.0.1', resolve))
    client.port = client.socket.address().port
    return client
  }

  send(packet: TftpPacket | Uint8Array, port: number): void {
    this.socket.send(packet instanceof Uint8Array ? packet : encodeTftp(packet), port, '127.0.0.1')
  }

  rrq(port: number, filename: string, options: Record<string, string> = {}, mode = 'octet'): void {
    this.send({ opcode: Opcode.RRQ, filename, mode, options: new Map(Object.entries(options)) }, port)
  }

  ack(port: number, block: number): void {
    this.send({ opcode: Opcode.ACK, block }, port)
  }

  async next(timeoutMs = 3000): Promise<Received> {
    const deadline = Date.now() + timeoutMs
    while (this.queue.length === 0) {
      const left = deadline - Date.now()
      if (left <= 0) throw new Error(`no packet within ${timeoutMs} ms`)
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left)
        this.waiter = () => {
          clearTimeout(timer)
          resolve()
        }
      })
      this.waiter = undefined
    }
    return this.queue.shift() as Received
  }

  /** Asserts that nothing arrives for `ms`. */
  async silentFor(ms: number): Promise<void> {
    await new Promise((r) => setTimeout(r, ms))
    assert.deepEqual(
      this.queue.map((r) => r.packet),
      [],
      'expected no packet',
    )
  }

  close(): void {
    this.socket.close()
  }
}

let dir = ''
let root = ''
const bytes = (n: number, seed = 1): Buffer => {
  const b = Buffer.alloc(n)
  let x = seed
  for (let i = 0; i < n; i++) {
    x = (x * 1103515245 + 12345) >>> 0
    b[i] = x >>> 24
  }
  return b
}
const small = bytes(1300, 7)

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tftp-unit-'))
  root = join(dir, 'root')
  await mkdir(join(root, 'boot'), { recursive: true })
  await mkdir(join(root, '%2e%2e'))
  await writeFile(join(root, 'small.bin'), small)
  await writeFile(join(root, 'boot', 'exact.bin'), bytes(1024, 3)) // two full 512-byte blocks
  await writeFile(join(root, 'empty'), '')
  await writeFile(join(root, '%2e%2e', 'literal'), 'literal name\n')
  await writeFile(join(dir, 'secret'), 'outside the root\n')
  await symlink(join(dir, 'secret'), join(root, 'escape'))
  await symlink('small.bin', join(root, 'inside-link'))
})

after(async () => {
  await rm(dir, { recursive: true, force: true })
})

async function withServer(
  options: Partial<TftpServerOptions>,
  run: (server: TftpServer, client: RawClient, events: BootEvent[]) => Promise<void>,
): Promise<void> {
  const events: BootEvent[] = []
  const server = await serveTftp({
    files: new DirectorySource(root),
    address: '127.0.0.1',
    port: 0,
    // Long enough that a loaded test machine does not cause retransmissions tests do not expect.
    timeoutMs: 1000,
    retries: 2,
    events: (e) => events.push(e),
    ...options,
  })
  const client = await RawClient.open()
  try {
    await run(server, client, events)
  } finally {
    client.close()
    await server.close()
  }
}

async function expectData(client: RawClient, block: number, data?: Uint8Array): Promise<Received> {
  const got = await client.next()
  assert.equal(got.packet.opcode, Opcode.DATA, `expected DATA ${block}, got ${JSON.stringify(got.packet)}`)
  if (got.packet.opcode === Opcode.DATA) {
    assert.equal(got.packet.block, block)
    if (data !== undefined) assert.deepEqual(Buffer.from(got.packet.data), Buffer.from(data))
  }
  return got
}

async function expectError(client: RawClient, code: number, message: RegExp): Promise<void> {
  const got = await client.next()
  assert.equal(got.packet.opcode, Opcode.ERROR, `expected ERROR, got ${JSON.stringify(got.packet)}`)
  if (got.packet.opcode === Opcode.ERROR) {
    assert.equal(got.packet.code, code)
    assert.match(got.packet.message, message)
  }
}

const waitEvent = async (events: BootEvent[], type: BootEvent['type']): Promise<BootEvent> => {
  for (let i = 0; i < 100; i++) {
    const e = events.find((x) => x.type === type)
    if (e !== undefined) return e
    await new Promise((r) => setTimeout(r, 20))
  }
  throw new Error(`no ${type} event`)
}

test('serveTftp() serves a file lock-step without options, from a new TID, and reports start and end', async () => {
  await withServer({}, async (server, client, events) => {
    assert.equal(events[0]?.type, 'pxe.listening')
    client.rrq(server.port, 'small.bin')
    const first = await expectData(client, 1, small.subarray(0, 512))
    assert.notEqual(first.port, server.port, 'the transfer answers from its own port (TID)')
    client.ack(first.port, 1)
    await expectData(client, 2, small.subarray(512, 1024))
    client.ack(first.port, 2)
    await expectData(client, 3, small.subarray(1024))
    client.ack(first.port, 3)
    const end = await waitEvent(events, 'tftp.end')
    assert.deepEqual(
      { ...end, ms: 0 },
      {
        type: 'tftp.end',
        client: '127.0.0.1',
        file: 'small.bin',
        ok: true,
        bytes: 1300,
        ms: 0,
      },
    )
    assert.deepEqual(
      events.find((e) => e.type === 'tftp.start'),
      { type: 'tftp.start', client: '127.0.0.1', file: 'small.bin', blksize: 512, windowsize: 1, size: 1300 },
    )
  })
})

test('serveTftp() ends a file that fills its last block with an empty DATA, and serves an empty file', async () => {
  await withServer({}, async (server, client) => {
    client.rrq(server.port, '/boot/exact.bin')
    const d1 = await expectData(client, 1)
    client.ack(d1.port, 1)
    await expectData(client, 2)
    client.ack(d1.port, 2)
    await expectData(client, 3, new Uint8Array(0))
    client.ack(d1.port, 3)
    client.rrq(server.port, 'empty')
    const e = await expectData(client, 1, new Uint8Array(0))
    client.ack(e.port, 1)
    await client.silentFor(300)
  })
})

test('serveTftp() answers options with an OACK, the real tsize, and sends no DATA before ACK 0 (RFC 2347)', async () => {
  await withServer({}, async (server, client) => {
    client.rrq(server.port, 'small.bin', { TSIZE: '0', blksize: '1000', multicast: '', timeout: '1' })
    const oack = await client.next()
    assert.deepEqual(oack.packet, {
      opcode: Opcode.OACK,
      options: new Map([
        ['tsize', '1300'],
        ['blksize', '1000'],
        ['timeout', '1'],
      ]),
    })
    await client.silentFor(300) // the client asked a 1 s timeout: no retransmission yet, and no DATA
    client.ack(oack.port, 0)
    await expectData(client, 1, small.subarray(0, 1000))
    client.ack(oack.port, 1)
    await expectData(client, 2, small.subarray(1000))
    client.ack(oack.port, 2)
  })
})

test('serveTftp() retransmits an unacknowledged OACK with backoff, then gives up with an ERROR', async () => {
  await withServer({ timeoutMs: 100, retries: 1 }, async (server, client, events) => {
    client.rrq(server.port, 'small.bin', { blksize: '512', timeout: '1' })
    assert.equal((await client.next()).packet.opcode, Opcode.OACK)
    const first = Date.now()
    assert.equal((await client.next()).packet.opcode, Opcode.OACK)
    const second = Date.now()
    assert.ok(
      second - first >= 900,
      `resent after the negotiated 1 s, not the 100 ms default (${second - first} ms)`,
    )
    await expectError(client, 0, /^Timed out$/)
    assert.ok(Date.now() - second >= 1900, 'the next interval doubled (exponential backoff)')
    const end = await waitEvent(events, 'tftp.end')
    assert.equal(end.type === 'tftp.end' && end.ok, false)
    assert.match(end.type === 'tftp.end' ? (end.error ?? '') : '', /timed out: no ACK after 2 sends/)
  })
})

test("serveTftp() retransmits DATA on timeout but never on a duplicate ACK (Sorcerer's Apprentice)", async () => {
  await withServer({ timeoutMs: 400, retries: 3 }, async (server, client) => {
    client.rrq(server.port, 'small.bin')
    const d1 = await expectData(client, 1)
    client.ack(d1.port, 1)
    await expectData(client, 2)
    // Duplicates of the ACK for block 1 (as a delayed network would deliver them).
    client.ack(d1.port, 1)
    client.ack(d1.port, 1)
    client.ack(d1.port, 1)
    await client.silentFor(250)
    // The timer resends block 2, once per timeout.
    await expectData(client, 2, small.subarray(512, 1024))
    client.ack(d1.port, 2)
    await expectData(client, 3)
    client.ack(d1.port, 3)
  })
})

test('serveTftp() sends windows of windowsize blocks and restarts after an earlier ACK (RFC 7440)', async () => {
  const file = bytes(10 * 100 + 37, 9)
  const files = new GeneratedSource().set('w.bin', file)
  await withServer({ files }, async (server, client) => {
    client.rrq(server.port, 'w.bin', { blksize: '100', windowsize: '4' })
    const oack = await client.next()
    assert.deepEqual(oack.packet.opcode === Opcode.OACK && [...oack.packet.options], [
      ['blksize', '100'],
      ['windowsize', '4'],
    ])
    client.ack(oack.port, 0)
    for (let b = 1; b <= 4; b++) await expectData(client, b, file.subarray((b - 1) * 100, b * 100))
    await client.silentFor(100) // the window is full: wait for an ACK
    // The client lost block 3: it acknowledges 2, so the server goes on from 3.
    client.ack(oack.port, 2)
    for (let b = 3; b <= 6; b++) await expectData(client, b, file.subarray((b - 1) * 100, b * 100))
    client.ack(oack.port, 6)
    for (let b = 7; b <= 10; b++) await expectData(client, b)
    client.ack(oack.port, 10)
    await expectData(client, 11, file.subarray(1000))
    client.ack(oack.port, 11)
    await client.silentFor(250)
  })
})

test('serveTftp() says the client may have it all when the ACK of a final window of several blocks never comes', async () => {
  const file = bytes(10 * 100 + 37, 9)
  const files = new GeneratedSource().set('w.bin', file)
  await withServer({ files, timeoutMs: 100, retries: 1 }, async (server, client, events) => {
    client.rrq(server.port, 'w.bin', { blksize: '100', windowsize: '4' })
    const oack = await client.next()
    client.ack(oack.port, 0)
    for (let b = 1; b <= 4; b++) await expectData(client, b)
    client.ack(oack.port, 4)
    for (let b = 5; b <= 8; b++) await expectData(client, b)
    client.ack(oack.port, 8)
    // The final window, blocks 9 to 11: the client has the file and leaves without its ACK.
    for (let b = 9; b <= 11; b++) await expectData(client, b)
    const end = await waitEvent(events, 'tftp.end')
    assert.equal(end.type === 'tftp.end' && end.ok, false)
    assert.match(
      end.type === 'tftp.end' ? (end.error ?? '') : '',
      /^timed out: no ACK after 2 sends: the last block was not acknowledged \(the client may have it all\)$/,
    )
  })
})

test('serveTftp() rolls block numbers over from 65535 to 0 and keeps the data in order', async () => {
  // 70000 blocks of 8 bytes, each holding its own (unwrapped) number.
  const blocks = 70000
  const file = Buffer.alloc(blocks * 8 - 3)
  for (let b = 0; b < blocks; b++) if (b * 8 + 8 <= file.length) file.writeBigUInt64BE(BigInt(b + 1), b * 8)
  const files = new GeneratedSource().set('roll.bin', file)
  await withServer({ files, maxWindowsize: 64, timeoutMs: 2000, retries: 5 }, async (server, client) => {
    client.rrq(server.port, 'roll.bin', { blksize: '8', windowsize: '64' })
    const oack = await client.next()
    client.ack(oack.port, 0)
    const got: Buffer[] = []
    const wires: number[] = []
    // A receiver as RFC 7440 wants: keep the next block in order, ignore repeats (a slow,
    // loaded test machine can make the server resend a window), ACK each 64th block.
    for (let b = 1; b <= blocks; ) {
      const r = await client.next()
      assert.equal(r.packet.opcode, Opcode.DATA)
      if (r.packet.opcode !== Opcode.DATA || r.packet.block !== (b & 0xffff)) continue
      wires.push(r.packet.block)
      got.push(Buffer.from(r.packet.data))
      if (b % 64 === 0 || b === blocks) client.ack(oack.port, r.packet.block)
      b++
    }
    assert.deepEqual(wires.slice(65534, 65538), [65535, 0, 1, 2])
    assert.equal(wires.at(-1), blocks % 65536)
    assert.ok(Buffer.concat(got).equals(file), 'the reassembled file is byte-identical')
  })
})

test('serveTftp() refuses writes with "Access violation" and serves nothing but octet', async () => {
  await withServer({}, async (server, client, events) => {
    client.send({ opcode: Opcode.WRQ, filename: 'small.bin', mode: 'octet', options: new Map() }, server.port)
    await expectError(client, 2, /^Access violation/)
    client.rrq(server.port, 'small.bin', {}, 'netascii')
    await expectError(client, 0, /^Only octet mode is supported$/)
    client.rrq(server.port, 'small.bin', {}, 'mail')
    await expectError(client, 0, /octet/)
    assert.ok(events.some((e) => e.type === 'pxe.warning' && /read-only/.test(e.message)))
  })
})

test('serveTftp() answers a missing file with ERROR 1 and keeps serving', async () => {
  await withServer({}, async (server, client, events) => {
    client.rrq(server.port, 'no/such/file')
    await expectError(client, 1, /^File not found$/)
    const end = await waitEvent(events, 'tftp.end')
    assert.deepEqual(
      { ...end, ms: 0 },
      {
        type: 'tftp.end',
        client: '127.0.0.1',
        file: 'no/such/file',
        ok: false,
        bytes: 0,
        ms: 0,
        error: 'file not found',
      },
    )
    client.rrq(server.port, 'empty')
    await expectData(client, 1, new Uint8Array(0))
  })
})

test('serveTftp() never serves outside its FileSource: "..", absolute paths, symlinks, backslashes, NUL, percent', async () => {
  await withServer({}, async (server, client) => {
    const cases: [string, number][] = [
      ['../secret', 2],
      ['boot/../../secret', 2],
      ['..', 2],
      ['boot\\..\\..\\secret', 2],
      ['small.bin\\', 2],
      ['/etc/passwd', 1], // absolute: looked up inside the root, where there is none
      [`${dir}/secret`, 1],
      ['escape', 1], // a symlink to outside the root
      ['%2e%2e/secret', 1], // raw names: no percent-decoding
      ['%2e%2e%2fsecret', 1],
      ['', 2],
      ['/', 2],
    ]
    for (const [name, code] of cases) {
      client.rrq(server.port, name)
      const got = await client.next()
      assert.equal(got.packet.opcode, Opcode.ERROR, `"${name}" must be refused`)
      assert.equal(got.packet.opcode === Opcode.ERROR && got.packet.code, code, `"${name}"`)
    }
    // A NUL inside the name ends the filename: "small.bin" then mode "x" -> refused,
    // and with more after it the request does not parse at all -> refused.
    client.send(Buffer.from('\0\x01small.bin\0x\0', 'latin1'), server.port)
    await expectError(client, 0, /octet/)
    client.send(Buffer.from('\0\x01small.bin\0x\0octet\0', 'latin1'), server.port)
    await expectError(client, 4, /^Illegal TFTP operation$/)
    // What the names mean literally is served: a folder named "%2e%2e", a link inside the root.
    client.rrq(server.port, '%2e%2e/literal')
    const literal = await expectData(client, 1, Buffer.from('literal name\n'))
    client.ack(literal.port, 1)
    client.rrq(server.port, 'inside-link')
    await expectData(client, 1, small.subarray(0, 512))
  })
})

test('serveTftp() answers a malformed request with ERROR 4, drops other garbage, and warns the operator', async () => {
  await withServer({}, async (server, client, events) => {
    client.send(Buffer.from('\0\x01nomode\0', 'latin1'), server.port)
    await expectError(client, 4, /^Illegal TFTP operation$/)
    client.send(Buffer.from('\0\x09xx'), server.port)
    client.send(encodeTftp({ opcode: Opcode.ACK, block: 1 }), server.port)
    await client.silentFor(200)
    const warnings = events
      .filter((e) => e.type === 'pxe.warning')
      .map((e) => (e.type === 'pxe.warning' ? e.message : ''))
    assert.ok(
      warnings.some((m) => /Cannot parse TFTP packet: request has no mode/.test(m)),
      warnings.join('\n'),
    )
    assert.ok(warnings.some((m) => /unknown opcode 9/.test(m)))
    assert.ok(warnings.some((m) => /Dropped a ACK .* on the request port/.test(m)))
  })
})

test('serveTftp() bounds concurrent transfers and answers "Server busy" above the bound', async () => {
  await withServer({ maxTransfers: 1, timeoutMs: 2000 }, async (server, client) => {
    const other = await RawClient.open()
    try {
      client.rrq(server.port, 'small.bin')
      const d1 = await expectData(client, 1)
      other.rrq(server.port, 'small.bin')
      await expectError(other, 0, /^Server busy/)
      // Once the first transfer ends, the next request is served.
      client.ack(d1.port, 1)
      await expectData(client, 2)
      client.ack(d1.port, 2)
      await expectData(client, 3)
      client.ack(d1.port, 3)
      await new Promise((r) => setTimeout(r, 50))
      other.rrq(server.port, 'small.bin')
      await expectData(other, 1)
    } finally {
      other.close()
    }
  })
})

test('serveTftp() ignores a repeated RRQ from the same TID and packets from other TIDs', async () => {
  await withServer({ timeoutMs: 2000 }, async (server, client) => {
    client.rrq(server.port, 'small.bin')
    const d1 = await expectData(client, 1)
    client.rrq(server.port, 'small.bin') // the client's RRQ retransmission
    await client.silentFor(200)
    const stranger = await RawClient.open()
    try {
      stranger.ack(d1.port, 1) // from another port: not the transfer's client
      await stranger.silentFor(200)
      await client.silentFor(0)
    } finally {
      stranger.close()
    }
    client.ack(d1.port, 1)
    await expectData(client, 2)
  })
})

test('serveTftp() ends a transfer when the client sends an ERROR', async () => {
  await withServer({}, async (server, client, events) => {
    client.rrq(server.port, 'small.bin', { blksize: '512' })
    const oack = await client.next()
    client.send({ opcode: Opcode.ERROR, code: 8, message: 'no thanks' }, oack.port)
    const end = await waitEvent(events, 'tftp.end')
    assert.equal(end.type === 'tftp.end' && end.ok, false)
    assert.match(
      end.type === 'tftp.end' ? (end.error ?? '') : '',
      /client sent ERROR 8 \(Option refused\): "no thanks"/,
    )
    await client.silentFor(300)
  })
})

test('serveTftp() names the machine from the MachineDirectory and passes it to generated files', async () => {
  const machines: MachineDirectory = {
    byMac: () => undefined,
    byIp: (ip) => (ip === '127.0.0.1' ? { name: 'node-1', mac: '02:00:00:00:00:01', ip } : undefined),
  }
  const files: FileSource = new LayeredSource([
    new GeneratedSource().set('whoami', (r) => `${r.machine} at ${r.ip}\n`),
    new DirectorySource(root),
  ])
  await withServer({ files, machines }, async (server, client, events) => {
    client.rrq(server.port, 'whoami')
    const d = await expectData(client, 1, Buffer.from('node-1 at 127.0.0.1\n'))
    client.ack(d.port, 1)
    const end = await waitEvent(events, 'tftp.end')
    assert.equal(end.type === 'tftp.end' && end.machine, 'node-1')
  })
})

test('serveTftp() close() ends running transfers with an ERROR and stops listening', async () => {
  const events: BootEvent[] = []
  const server = await serveTftp({
    files: new DirectorySource(root),
    address: '127.0.0.1',
    port: 0,
    timeoutMs: 5000,
    events: (e) => events.push(e),
  })
  const client = await RawClient.open()
  try {
    client.rrq(server.port, 'small.bin')
    await expectData(client, 1)
    await server.close()
    await expectError(client, 0, /^Server shutting down$/)
    assert.ok(events.some((e) => e.type === 'tftp.end' && e.error === 'server closed'))
  } finally {
    client.close()
  }
})

test('serveTftp() rejects bad options and reports a port already in use', async () => {
  const files = new DirectorySource(root)
  await assert.rejects(
    serveTftp({ files, port: 70000 }),
    /option "port" is 70000, expected an integer in 0\.\.65535/,
  )
  await assert.rejects(serveTftp({ files, maxBlksize: 100 }), /option "maxBlksize" is 100/)
  const first = await serveTftp({ files, address: '127.0.0.1', port: 0 })
  try {
    await assert.rejects(
      serveTftp({ files, address: '127.0.0.1', port: first.port }),
      /Cannot start TFTP server: binding 127\.0\.0\.1:\d+ failed: .*EADDRINUSE/,
    )
  } finally {
    await first.close()
  }
})
