/**
 * serveTftp() on loopback, driven by a raw UDP client that sees every packet, so the
 * protocol rules (OACK dance, windows, retransmission, duplicate ACKs, rollover, errors,
 * path safety) are asserted packet by packet. Real clients: tftp.interop.test.ts.
 *
 * Time is a ManualClock: no timer fires unless a test advances it, so a loaded machine never
 * causes a retransmission, and retransmission and give-up are asserted to the millisecond. A
 * negative check ("no DATA before ACK 0") is closed by an ordered marker: the next packet the
 * test provokes must be the one it expects, and anything sent earlier would arrive before it.
 */
import assert from 'node:assert/strict'
import { createSocket, type Socket } from 'node:dgram'
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, test } from 'node:test'
import { decodeTftp, encodeTftp, Opcode, type TftpPacket } from '../../lib/tftp/index.ts'
import { ManualClock } from './clock.ts'
import { DirectorySource, type FileSource, GeneratedSource, LayeredSource } from './files.ts'
import type { MachineDirectory } from './machine-directory.ts'
import { EventLog, HANG_MS } from './test-events.ts'
import { checkReadRequest, serveTftp, type TftpServer, type TftpServerOptions } from './tftp.ts'

interface Received {
  readonly packet: TftpPacket
  readonly port: number
}

/** A UDP socket speaking raw TFTP, queueing what it receives. */
class RawClient {
  readonly socket: Socket
  private readonly queue: Received[] = []
  private waiter: (() => void) | undefined
  private failure: Error | undefined
  port = 0

  private constructor() {
    this.socket = createSocket('udp4')
    this.socket.on('error', (err) => {
      this.failure = err
      this.waiter?.()
    })
    this.socket.on('message', (msg, rinfo) => {
      try {
        this.queue.push({ packet: decodeTftp(Uint8Array.from(msg)), port: rinfo.port })
      } catch (err) {
        this.failure = err instanceof Error ? err : new Error(String(err))
      }
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

  /** The next packet received; the deadline only catches a hung server. */
  async next(): Promise<Received> {
    const deadline = Date.now() + HANG_MS
    while (this.queue.length === 0) {
      if (this.failure !== undefined) throw this.failure
      const left = deadline - Date.now()
      if (left <= 0) throw new Error(`no packet within ${HANG_MS} ms`)
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

  /** Every packet received so far, at least one (one wait per batch, not per packet). */
  async all(): Promise<Received[]> {
    const first = await this.next()
    return [first, ...this.queue.splice(0)]
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

interface Rig {
  readonly server: TftpServer
  readonly client: RawClient
  readonly log: EventLog
  readonly clock: ManualClock
}

async function withServer(
  options: Partial<TftpServerOptions>,
  run: (rig: Rig) => Promise<void>,
): Promise<void> {
  const log = new EventLog()
  const clock = new ManualClock()
  const server = await serveTftp({
    files: new DirectorySource(root),
    address: '127.0.0.1',
    port: 0,
    retries: 2,
    events: log.sink,
    clock,
    ...options,
  })
  try {
    const client = await RawClient.open()
    try {
      await run({ server, client, log, clock })
    } finally {
      client.close()
    }
  } finally {
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

async function expectError(client: RawClient, code: number, message: RegExp): Promise<Received> {
  const got = await client.next()
  assert.equal(got.packet.opcode, Opcode.ERROR, `expected ERROR, got ${JSON.stringify(got.packet)}`)
  if (got.packet.opcode === Opcode.ERROR) {
    assert.equal(got.packet.code, code)
    assert.match(got.packet.message, message)
  }
  return got
}

async function expectOack(client: RawClient): Promise<Received> {
  const got = await client.next()
  assert.equal(got.packet.opcode, Opcode.OACK, `expected OACK, got ${JSON.stringify(got.packet)}`)
  return got
}

/**
 * The ordered marker that closes a negative check: asks the request port for a missing file and
 * expects its ERROR 1 as the very next packet, so nothing else reached the client before it.
 */
async function expectNothingElse(rig: Rig): Promise<void> {
  rig.client.rrq(rig.server.port, 'no/such/marker')
  await expectError(rig.client, 1, /^File not found$/)
}

test('serveTftp() serves a file lock-step without options, from a new TID, and reports start and end', async () => {
  await withServer({}, async ({ server, client, log, clock }) => {
    assert.equal(log.events[0]?.type, 'pxe.listening')
    client.rrq(server.port, 'small.bin')
    const first = await expectData(client, 1, small.subarray(0, 512))
    assert.notEqual(first.port, server.port, 'the transfer answers from its own port (TID)')
    assert.deepEqual(clock.pending(), [1000], 'the retransmission timer runs at the default timeout')
    client.ack(first.port, 1)
    await expectData(client, 2, small.subarray(512, 1024))
    client.ack(first.port, 2)
    await expectData(client, 3, small.subarray(1024))
    client.ack(first.port, 3)
    const [end] = await log.until('tftp.end')
    assert.deepEqual(end, {
      type: 'tftp.end',
      client: '127.0.0.1',
      file: 'small.bin',
      ok: true,
      bytes: 1300,
      ms: 0, // the clock never moved
    })
    assert.deepEqual(log.of('tftp.start'), [
      { type: 'tftp.start', client: '127.0.0.1', file: 'small.bin', blksize: 512, windowsize: 1, size: 1300 },
    ])
    assert.deepEqual(clock.pending(), [], 'no timer outlives the transfer')
  })
})

test('serveTftp() reports transfer.progress with the bytes acknowledged, at most once per progressMs of its clock', async () => {
  await withServer({ progressMs: 500 }, async ({ server, client, log, clock }) => {
    client.rrq(server.port, 'small.bin')
    const d1 = await expectData(client, 1)
    client.ack(d1.port, 1) // at once: no progress event yet
    await expectData(client, 2)
    clock.advance(600) // below the 1000 ms retransmission timeout
    client.ack(d1.port, 2)
    await expectData(client, 3)
    client.ack(d1.port, 3) // the end is tftp.end, not progress
    await log.until('tftp.end')
    assert.deepEqual(log.of('transfer.progress'), [
      {
        type: 'transfer.progress',
        protocol: 'tftp',
        client: '127.0.0.1',
        file: 'small.bin',
        bytes: 1024,
        size: 1300,
      },
    ])
  })
})

test('serveTftp() ends a file that fills its last block with an empty DATA, and serves an empty file', async () => {
  await withServer({}, async (rig) => {
    const { server, client, log, clock } = rig
    client.rrq(server.port, '/boot/exact.bin')
    const d1 = await expectData(client, 1)
    client.ack(d1.port, 1)
    await expectData(client, 2)
    client.ack(d1.port, 2)
    await expectData(client, 3, new Uint8Array(0))
    client.ack(d1.port, 3)
    await log.until('tftp.end', (e) => e.file === 'boot/exact.bin' && e.ok && e.bytes === 1024)
    client.rrq(server.port, 'empty')
    const e = await expectData(client, 1, new Uint8Array(0))
    client.ack(e.port, 1)
    await log.until('tftp.end', (end) => end.file === 'empty' && end.ok && end.bytes === 0)
    // Done: no timer left to retransmit, and nothing more on the wire.
    assert.deepEqual(clock.pending(), [])
    clock.advance(60_000)
    await expectNothingElse(rig)
  })
})

test('serveTftp() answers options with an OACK, the real tsize, and sends no DATA before ACK 0 (RFC 2347)', async () => {
  await withServer({ timeoutMs: 5000 }, async ({ server, client, clock }) => {
    client.rrq(server.port, 'small.bin', { TSIZE: '0', blksize: '1000', multicast: '', timeout: '1' })
    const oack = await expectOack(client)
    assert.deepEqual(oack.packet, {
      opcode: Opcode.OACK,
      options: new Map([
        ['tsize', '1300'],
        ['blksize', '1000'],
        ['timeout', '1'],
      ]),
    })
    assert.deepEqual(clock.pending(), [1000], 'the client asked a 1 s timeout, not the server default 5 s')
    clock.advance(999)
    clock.advance(1)
    // The resent OACK is the next packet: no DATA came before ACK 0, nor an OACK before its time.
    await expectOack(client)
    client.ack(oack.port, 0)
    await expectData(client, 1, small.subarray(0, 1000))
    client.ack(oack.port, 1)
    await expectData(client, 2, small.subarray(1000))
    client.ack(oack.port, 2)
  })
})

test('serveTftp() retransmits an unacknowledged OACK with backoff, then gives up with an ERROR', async () => {
  await withServer({ timeoutMs: 100, retries: 1 }, async ({ server, client, log, clock }) => {
    client.rrq(server.port, 'small.bin', { blksize: '512', timeout: '1' })
    await expectOack(client)
    assert.deepEqual(clock.pending(), [1000], 'the negotiated 1 s, not the 100 ms default')
    clock.advance(999)
    clock.advance(1)
    await expectOack(client)
    assert.deepEqual(clock.pending(), [2000], 'the next interval doubled (exponential backoff)')
    clock.advance(1999)
    clock.advance(1)
    // The ERROR is the next packet: nothing was resent before its time.
    await expectError(client, 0, /^Timed out$/)
    const [end] = await log.until('tftp.end')
    assert.equal(end?.ok, false)
    assert.equal(end?.error, 'timed out: no ACK after 2 sends')
    assert.equal(end?.ms, 3000)
    assert.deepEqual(clock.pending(), [])
  })
})

test("serveTftp() retransmits DATA on timeout but never on a duplicate ACK (Sorcerer's Apprentice)", async () => {
  await withServer({ timeoutMs: 400, retries: 3 }, async ({ server, client, log, clock }) => {
    client.rrq(server.port, 'small.bin')
    const d1 = await expectData(client, 1)
    client.ack(d1.port, 1)
    await expectData(client, 2)
    // Duplicates of the ACK for block 1 (as a delayed network would deliver them).
    client.ack(d1.port, 1)
    client.ack(d1.port, 1)
    client.ack(d1.port, 1)
    // Only the timer resends block 2, once, when it falls due.
    clock.advance(399)
    clock.advance(1)
    await expectData(client, 2, small.subarray(512, 1024))
    assert.deepEqual(clock.pending(), [800], 'backoff: the next interval is doubled')
    client.ack(d1.port, 2)
    // Block 3 is next: a DATA 2 sent for any of the duplicates would have come before it.
    await expectData(client, 3)
    assert.deepEqual(clock.pending(), [400], 'progress resets the interval')
    client.ack(d1.port, 3)
    const [end] = await log.until('tftp.end')
    assert.equal(end?.ok, true)
  })
})

test('serveTftp() sends windows of windowsize blocks and restarts after an earlier ACK (RFC 7440)', async () => {
  const file = bytes(10 * 100 + 37, 9)
  const files = new GeneratedSource().set('w.bin', file)
  await withServer({ files }, async (rig) => {
    const { server, client, log, clock } = rig
    client.rrq(server.port, 'w.bin', { blksize: '100', windowsize: '4' })
    const oack = await expectOack(client)
    assert.deepEqual(oack.packet.opcode === Opcode.OACK && [...oack.packet.options], [
      ['blksize', '100'],
      ['windowsize', '4'],
    ])
    client.ack(oack.port, 0)
    for (let b = 1; b <= 4; b++) await expectData(client, b, file.subarray((b - 1) * 100, b * 100))
    // The window is full: the server waits for an ACK. The client lost block 3: it acknowledges
    // 2, so the server goes on from 3 (and a block 5 sent early would arrive before that).
    client.ack(oack.port, 2)
    for (let b = 3; b <= 6; b++) await expectData(client, b, file.subarray((b - 1) * 100, b * 100))
    client.ack(oack.port, 6)
    for (let b = 7; b <= 10; b++) await expectData(client, b)
    client.ack(oack.port, 10)
    await expectData(client, 11, file.subarray(1000))
    client.ack(oack.port, 11)
    const [end] = await log.until('tftp.end')
    assert.equal(end?.ok, true)
    assert.equal(end?.bytes, file.length)
    assert.deepEqual(clock.pending(), [])
    await expectNothingElse(rig)
  })
})

test('serveTftp() says the client may have it all when the ACK of a final window of several blocks never comes', async () => {
  const file = bytes(10 * 100 + 37, 9)
  const files = new GeneratedSource().set('w.bin', file)
  await withServer({ files, timeoutMs: 100, retries: 1 }, async ({ server, client, log, clock }) => {
    client.rrq(server.port, 'w.bin', { blksize: '100', windowsize: '4' })
    const oack = await expectOack(client)
    client.ack(oack.port, 0)
    for (let b = 1; b <= 4; b++) await expectData(client, b)
    client.ack(oack.port, 4)
    for (let b = 5; b <= 8; b++) await expectData(client, b)
    client.ack(oack.port, 8)
    // The final window, blocks 9 to 11: the client has the file and leaves without its ACK.
    for (let b = 9; b <= 11; b++) await expectData(client, b)
    clock.advance(100)
    for (let b = 9; b <= 11; b++) await expectData(client, b) // the window again
    clock.advance(200)
    await expectError(client, 0, /^Timed out$/)
    const [end] = await log.until('tftp.end')
    assert.equal(end?.ok, false)
    assert.equal(
      end?.error,
      'timed out: no ACK after 2 sends: the last block was not acknowledged (the client may have it all)',
    )
    assert.equal(end?.bytes, 800)
  })
})

test('serveTftp() rolls block numbers over from 65535 to 0 and keeps the data in order', async () => {
  // 70000 blocks of 8 bytes, each holding its own (unwrapped) number.
  const blocks = 70000
  const file = Buffer.alloc(blocks * 8 - 3)
  for (let b = 0; b < blocks; b++) if (b * 8 + 8 <= file.length) file.writeBigUInt64BE(BigInt(b + 1), b * 8)
  const files = new GeneratedSource().set('roll.bin', file)
  // Windows of 256 blocks: 274 round trips, not 1094 (each one costs a wake-up on a busy machine).
  // The client's receive buffer holds a whole window, so none is dropped.
  const window = 256
  await withServer({ files, maxWindowsize: window }, async ({ server, client, log }) => {
    client.socket.setRecvBufferSize(4 * 1024 * 1024)
    client.rrq(server.port, 'roll.bin', { blksize: '8', windowsize: String(window) })
    const oack = await expectOack(client)
    client.ack(oack.port, 0)
    const got: Buffer[] = []
    const wires: number[] = []
    // No timer fires (the clock stands still), so every packet is the next block, exactly once.
    for (let b = 1; b <= blocks; ) {
      for (const r of await client.all()) {
        assert.ok(
          r.packet.opcode === Opcode.DATA && r.packet.block === (b & 0xffff),
          `block ${b}: ${JSON.stringify(r.packet).slice(0, 80)}`,
        )
        if (r.packet.opcode !== Opcode.DATA) return
        wires.push(r.packet.block)
        got.push(Buffer.from(r.packet.data))
        if (b % window === 0 || b === blocks) client.ack(oack.port, r.packet.block)
        b++
      }
    }
    assert.deepEqual(wires.slice(65534, 65538), [65535, 0, 1, 2])
    assert.equal(wires.at(-1), blocks % 65536)
    assert.ok(Buffer.concat(got).equals(file), 'the reassembled file is byte-identical')
    const [end] = await log.until('tftp.end')
    assert.equal(end?.ok, true)
    assert.equal(end?.bytes, file.length)
  })
})

test('serveTftp() refuses writes with "Access violation" and serves nothing but octet', async () => {
  await withServer({}, async ({ server, client, log }) => {
    client.send({ opcode: Opcode.WRQ, filename: 'small.bin', mode: 'octet', options: new Map() }, server.port)
    await expectError(client, 2, /^Access violation/)
    client.rrq(server.port, 'small.bin', {}, 'netascii')
    await expectError(client, 0, /^Only octet mode is supported$/)
    client.rrq(server.port, 'small.bin', {}, 'mail')
    await expectError(client, 0, /octet/)
    assert.ok(log.of('pxe.warning').some((e) => /read-only/.test(e.message)))
  })
})

test('serveTftp() answers a missing file with ERROR 1 and keeps serving', async () => {
  await withServer({}, async ({ server, client, log }) => {
    client.rrq(server.port, 'no/such/file')
    await expectError(client, 1, /^File not found$/)
    const [end] = await log.until('tftp.end')
    assert.deepEqual(end, {
      type: 'tftp.end',
      client: '127.0.0.1',
      file: 'no/such/file',
      ok: false,
      bytes: 0,
      ms: 0,
      error: 'file not found',
    })
    client.rrq(server.port, 'empty')
    await expectData(client, 1, new Uint8Array(0))
  })
})

test('serveTftp() never serves outside its FileSource: "..", absolute paths, symlinks, backslashes, NUL, percent', async () => {
  await withServer({}, async ({ server, client }) => {
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
  await withServer({}, async (rig) => {
    const { server, client, log } = rig
    client.send(Buffer.from('\0\x01nomode\0', 'latin1'), server.port)
    await expectError(client, 4, /^Illegal TFTP operation$/)
    client.send(Buffer.from('\0\x09xx'), server.port)
    client.send(encodeTftp({ opcode: Opcode.ACK, block: 1 }), server.port)
    // The garbage got no answer: the marker's ERROR is the next packet. The server took the
    // packets in order, so by then it has warned about both.
    await expectNothingElse(rig)
    const warnings = log.of('pxe.warning').map((e) => e.message)
    assert.equal(warnings.length, 3, warnings.join('\n'))
    assert.match(warnings[0] ?? '', /Cannot parse TFTP packet: request has no mode/)
    assert.match(warnings[1] ?? '', /unknown opcode 9/)
    assert.match(warnings[2] ?? '', /Dropped a ACK .* on the request port/)
  })
})

test('serveTftp() bounds concurrent transfers and answers "Server busy" above the bound', async () => {
  await withServer({ maxTransfers: 1 }, async ({ server, client, log }) => {
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
      await log.until('tftp.end', (e) => e.ok)
      other.rrq(server.port, 'small.bin')
      await expectData(other, 1)
      assert.deepEqual(
        log.of('tftp.end').map((e) => [e.ok, e.error]),
        [
          [false, 'server busy: 1 transfers running'],
          [true, undefined],
        ],
      )
    } finally {
      other.close()
    }
  })
})

test('serveTftp() bounds transfers per client address; another address is still served', async () => {
  await withServer({ maxTransfersPerClient: 1 }, async ({ server, client, log }) => {
    const same = await RawClient.open() // another port of the same address (127.0.0.1)
    try {
      client.rrq(server.port, 'small.bin')
      const d1 = await expectData(client, 1)
      same.rrq(server.port, 'small.bin')
      await expectError(same, 0, /^Server busy/)
      assert.deepEqual(
        log.of('tftp.end').map((e) => e.error),
        ['server busy: 1 transfers running to 127.0.0.1 (maxTransfersPerClient)'],
      )
      // Once its transfer ends, the address may start another.
      for (let block = 1; block <= 3; block++) {
        client.ack(d1.port, block)
        if (block < 3) await expectData(client, block + 1)
      }
      await log.until('tftp.end', (e) => e.ok)
      same.rrq(server.port, 'small.bin')
      await expectData(same, 1)
    } finally {
      same.close()
    }
  })
})

test('serveTftp() ignores a repeated RRQ from the same TID and packets from other TIDs', async () => {
  const files = new GeneratedSource().set('small.bin', small)
  await withServer({ files }, async ({ server, client, log, clock }) => {
    client.rrq(server.port, 'small.bin')
    const d1 = await expectData(client, 1)
    client.rrq(server.port, 'small.bin') // the client's RRQ retransmission
    // Marker on the request port: the refused WRQ is the next packet; a second transfer for
    // the repeated RRQ would have sent its DATA 1 before it (the files open at once).
    client.send({ opcode: Opcode.WRQ, filename: 'x', mode: 'octet', options: new Map() }, server.port)
    await expectError(client, 2, /^Access violation/)
    const stranger = await RawClient.open()
    try {
      stranger.ack(d1.port, 1) // from another port: not the transfer's client
      // Marker on the transfer port: garbage from the client, which the server reports. The
      // stranger's ACK was sent first, so it was taken (or dropped by the kernel) before it.
      client.send(Buffer.from('\0\x09xx'), d1.port)
      await log.until('pxe.warning', (e) => /during "small\.bin"/.test(e.message))
    } finally {
      stranger.close()
    }
    // Block 1 is still unacknowledged: the timer resends it, from the same TID.
    clock.advance(1000)
    const again = await expectData(client, 1)
    assert.equal(again.port, d1.port)
    client.ack(d1.port, 1)
    await expectData(client, 2)
    assert.equal(log.of('tftp.start').length, 1)
  })
})

test('serveTftp() ends a transfer when the client sends an ERROR', async () => {
  await withServer({}, async (rig) => {
    const { server, client, log, clock } = rig
    client.rrq(server.port, 'small.bin', { blksize: '512' })
    const oack = await expectOack(client)
    client.send({ opcode: Opcode.ERROR, code: 8, message: 'no thanks' }, oack.port)
    const [end] = await log.until('tftp.end')
    assert.equal(end?.ok, false)
    assert.equal(end?.error, 'client sent ERROR 8 (Option refused): "no thanks"')
    // Nothing is resent: no timer is left, and the marker is the next packet.
    assert.deepEqual(clock.pending(), [])
    clock.advance(60_000)
    await expectNothingElse(rig)
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
  await withServer({ files, machines }, async ({ server, client, log }) => {
    client.rrq(server.port, 'whoami')
    const d = await expectData(client, 1, Buffer.from('node-1 at 127.0.0.1\n'))
    client.ack(d.port, 1)
    const [end] = await log.until('tftp.end')
    assert.equal(end?.machine, 'node-1')
  })
})

test('serveTftp() close() ends running transfers with an ERROR and stops listening', async () => {
  const log = new EventLog()
  const server = await serveTftp({
    files: new DirectorySource(root),
    address: '127.0.0.1',
    port: 0,
    events: log.sink,
    clock: new ManualClock(),
  })
  try {
    const client = await RawClient.open()
    try {
      client.rrq(server.port, 'small.bin')
      await expectData(client, 1)
      await server.close()
      await expectError(client, 0, /^Server shutting down$/)
      assert.deepEqual(
        log.of('tftp.end').map((e) => e.error),
        ['server closed'],
      )
    } finally {
      client.close()
    }
  } finally {
    await server.close()
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

test('checkReadRequest() gives the normalised path, or the ERROR for other modes and escaping names', () => {
  const rrq = (filename: string, mode = 'octet') =>
    checkReadRequest({ opcode: Opcode.RRQ, filename, mode, options: new Map() })
  assert.deepEqual(rrq('/boot//./ipxe.efi'), { path: 'boot/ipxe.efi' })
  assert.deepEqual(rrq('ipxe.efi', 'netascii'), {
    refuse: {
      code: 0,
      wire: 'Only octet mode is supported',
      detail: 'mode "netascii" is not supported (only octet)',
    },
  })
  const escaping = rrq('../etc/passwd')
  assert.ok('refuse' in escaping)
  assert.deepEqual([escaping.refuse.code, escaping.refuse.wire], [2, 'Access violation'])
})
