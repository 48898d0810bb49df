/**
 * The PXE server's TFTP service: read-only, octet mode, over one FileSource.
 *
 *   const tftp = await serveTftp({ files, address: '10.0.0.1', events })
 *   ...
 *   await tftp.close()
 *
 * Protocol: RFC 1350 with option negotiation (RFC 2347): blksize (RFC 2348), tsize and
 * timeout (RFC 2349), windowsize (RFC 7440). Each transfer has its own ephemeral UDP
 * socket (its TID, RFC 1350 §4), connected to the client's address and port, so the
 * kernel drops packets from any other TID. Block numbers roll over from 65535 to 0.
 *
 * Policy:
 * - WRQ gets ERROR 2 "Access violation": nothing is ever written.
 * - Only "octet" is served. "netascii" (and "mail") get ERROR 0: converting line ends
 *   would corrupt boot images, and serving raw bytes to a client that converts them
 *   back would too. Boot firmware always asks octet; tftp-hpa needs `-m binary`.
 * - Paths go through normalizePath (no "..", NUL or backslash) and the FileSource,
 *   which never serves outside its roots. TFTP names are raw: "%2e%2e" is a literal name.
 * - A duplicate ACK never triggers a retransmission (the Sorcerer's Apprentice bug,
 *   RFC 1123 §4.2.3.1); only the timer retransmits, a bounded number of times, with
 *   exponential backoff (RFC 1123 §4.2.3.2) from the timeout up to 10 s. The backoff
 *   also lets a client's own timer fire: atftp ignores a window it already has and
 *   re-ACKs only on its 5 s timeout, so a steady 200 ms retransmission would starve it.
 * - Every RRQ ends with exactly one 'tftp.end' event; 'tftp.start' when data starts.
 *   Malformed packets are dropped with a 'pxe.warning' event; a malformed request still
 *   gets a terse ERROR on the wire so the client stops asking.
 *
 * Performance: the file is read through ServedFile.read in chunks of about 64 KiB into
 * a ring of 3 reused buffers (the chunks holding the window, plus one prefetched), and
 * each block is sent as [header, data] views of those buffers, synchronously, from the
 * ACK handler: no promise, timer or buffer per packet.
 */
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram'
import {
  BLKSIZE_MAX,
  decodeTftp,
  ErrorCode,
  encodeTftp,
  errorCodeName,
  type Negotiated,
  negotiateOptions,
  Opcode,
  opcodeName,
  type TftpPacket,
} from '../../lib/tftp/index.ts'
import { type Clock, type ClockTimer, systemClock } from './clock.ts'
import type { BootEvent, BootEventSink } from './events.ts'
import { type FileSource, normalizePath, PathError, type Requester, type ServedFile } from './files.ts'
import type { MachineDirectory } from './machine-directory.ts'

export interface TftpServerOptions {
  /** What is served. Nothing outside it ever is. */
  readonly files: FileSource
  /** Address to listen on. @default '0.0.0.0' */
  readonly address?: string
  /** UDP port to listen on (0: any free port). @default 69 */
  readonly port?: number
  /** Transfers served at once; requests above it get ERROR 0 "Server busy". @default 64 */
  readonly maxTransfers?: number
  /** Largest block size granted (RFC 2348 allows up to 65464). @default 65464 */
  readonly maxBlksize?: number
  /** Largest window granted (RFC 7440). @default 64 */
  readonly maxWindowsize?: number
  /** Largest window in bytes (windowsize x blksize), which bounds buffer memory per transfer. @default 1 MiB */
  readonly maxWindowBytes?: number
  /** Retransmission timeout when the client asks none with the `timeout` option, in ms. @default 1000 */
  readonly timeoutMs?: number
  /** Retransmissions of the same packet before the transfer is given up. @default 5 */
  readonly retries?: number
  /** Where boot events go (silent when absent). */
  readonly events?: BootEventSink
  /** Names the machine behind a client address, for events and generated files. */
  readonly machines?: MachineDirectory
  /** Time for retransmission timers and event durations (tests pass a ManualClock). @default systemClock */
  readonly clock?: Clock
}

export const TFTP_DEFAULTS = {
  address: '0.0.0.0',
  port: 69,
  maxTransfers: 64,
  maxBlksize: BLKSIZE_MAX,
  maxWindowsize: 64,
  maxWindowBytes: 1024 * 1024,
  timeoutMs: 1000,
  retries: 5,
  clock: systemClock,
} as const

export interface TftpServer {
  /** "address:port" actually bound (the port is the real one when 0 was asked). */
  readonly address: string
  readonly port: number
  /** Stops listening, ends every transfer (their clients see no more data) and waits for it. */
  close(): Promise<void>
}

/** Terse messages for the wire (the details go to events). */
const WireMessage = {
  notFound: 'File not found',
  accessViolation: 'Access violation',
  readOnly: 'Access violation: read-only server',
  octetOnly: 'Only octet mode is supported',
  busy: 'Server busy, try again later',
  malformed: 'Illegal TFTP operation',
  readError: 'Read error',
  timeout: 'Timed out',
  closing: 'Server shutting down',
} as const

/** Aim for chunk reads of this size (a multiple of the block size, at least one window). */
const CHUNK_BYTES = 64 * 1024
/** Chunks per transfer: the (at most two) holding the window, and one read ahead. */
const RING = 3
/** Retransmission backoff doubles the timeout up to this (or the timeout, when longer). */
const MAX_BACKOFF_MS = 10_000

function checkOption(name: string, value: number, min: number, max: number): number {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new RangeError(
      `Cannot start TFTP server: option "${name}" is ${value}, expected an integer in ${min}..${max}`,
    )
  }
  return value
}

function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err)
}

/** Starts the TFTP service; resolves once it listens. Rejects when it cannot bind (e.g. EADDRINUSE, EACCES). */
export async function serveTftp(options: TftpServerOptions): Promise<TftpServer> {
  const server = new Server(options)
  await server.listen()
  return server
}

type Emit = (event: BootEvent) => void

interface Client {
  readonly ip: string
  readonly port: number
  readonly key: string
  readonly machine: string | undefined
}

class Server implements TftpServer {
  readonly files: FileSource
  readonly bindAddress: string
  readonly wantedPort: number
  readonly maxTransfers: number
  readonly limits: {
    maxBlksize: number
    maxWindowsize: number
    maxWindowBytes: number
    defaultTimeoutMs: number
  }
  readonly retries: number
  readonly machines: MachineDirectory | undefined
  readonly clock: Clock
  readonly emit: Emit
  /** Transfers by client "ip:port", including those still opening their file. */
  readonly transfers = new Map<string, Transfer | 'opening'>()
  private readonly socket: Socket
  closed = false
  address = ''
  port = 0

  constructor(options: TftpServerOptions) {
    this.files = options.files
    this.bindAddress = options.address ?? TFTP_DEFAULTS.address
    this.wantedPort = checkOption('port', options.port ?? TFTP_DEFAULTS.port, 0, 65535)
    this.maxTransfers = checkOption(
      'maxTransfers',
      options.maxTransfers ?? TFTP_DEFAULTS.maxTransfers,
      1,
      1e6,
    )
    this.limits = {
      maxBlksize: checkOption('maxBlksize', options.maxBlksize ?? TFTP_DEFAULTS.maxBlksize, 512, BLKSIZE_MAX),
      maxWindowsize: checkOption(
        'maxWindowsize',
        options.maxWindowsize ?? TFTP_DEFAULTS.maxWindowsize,
        1,
        65535,
      ),
      maxWindowBytes: checkOption(
        'maxWindowBytes',
        options.maxWindowBytes ?? TFTP_DEFAULTS.maxWindowBytes,
        BLKSIZE_MAX,
        2 ** 31,
      ),
      defaultTimeoutMs: checkOption('timeoutMs', options.timeoutMs ?? TFTP_DEFAULTS.timeoutMs, 10, 255000),
    }
    this.retries = checkOption('retries', options.retries ?? TFTP_DEFAULTS.retries, 0, 100)
    this.machines = options.machines
    this.clock = options.clock ?? TFTP_DEFAULTS.clock
    const sink = options.events
    this.emit = (event) => {
      if (sink === undefined) return
      try {
        sink(event)
      } catch {
        // A failing sink must not break transfers.
      }
    }
    this.socket = createSocket({ type: 'udp4' })
  }

  listen(): Promise<void> {
    return new Promise((resolve, reject) => {
      const onError = (err: Error): void => {
        this.socket.close()
        reject(
          new Error(
            `Cannot start TFTP server: binding ${this.bindAddress}:${this.wantedPort} failed: ${err.message}` +
              (this.wantedPort < 1024 ? ' (ports below 1024 need root or CAP_NET_BIND_SERVICE)' : ''),
            { cause: err },
          ),
        )
      }
      this.socket.once('error', onError)
      this.socket.bind({ address: this.bindAddress, port: this.wantedPort }, () => {
        this.socket.off('error', onError)
        this.socket.on('error', (err) => this.warn(`request socket error: ${err.message}`))
        this.socket.on('message', (msg, rinfo) => this.onRequest(msg, rinfo))
        const bound = this.socket.address()
        this.address = `${bound.address}:${bound.port}`
        this.port = bound.port
        this.emit({ type: 'pxe.listening', service: 'tftp', address: this.address })
        resolve()
      })
    })
  }

  warn(message: string): void {
    this.emit({ type: 'pxe.warning', service: 'tftp', message })
  }

  /** A terse ERROR from the request port (used before a transfer has its own socket). */
  private replyError(rinfo: RemoteInfo, code: number, message: string): void {
    if (this.closed) return
    this.socket.send(encodeTftp({ opcode: Opcode.ERROR, code, message }), rinfo.port, rinfo.address)
  }

  private refuse(
    client: Client,
    file: string,
    code: number,
    wire: string,
    detail: string,
    started: number,
  ): void {
    this.replyError({ address: client.ip, port: client.port, family: 'IPv4', size: 0 }, code, wire)
    this.emit({
      type: 'tftp.end',
      client: client.ip,
      ...(client.machine === undefined ? {} : { machine: client.machine }),
      file,
      ok: false,
      bytes: 0,
      ms: this.clock.now() - started,
      error: detail,
    })
  }

  private onRequest(msg: Buffer, rinfo: RemoteInfo): void {
    const started = this.clock.now()
    const from = `${rinfo.address}:${rinfo.port}`
    let packet: TftpPacket
    try {
      packet = decodeTftp(msg)
    } catch (err) {
      this.warn(`Dropped a packet from ${from}: ${describe(err)}`)
      // It looked like a request: tell the client, so it stops retrying.
      if (msg.length >= 2 && msg[0] === 0 && (msg[1] === Opcode.RRQ || msg[1] === Opcode.WRQ)) {
        this.replyError(rinfo, ErrorCode.IllegalOperation, WireMessage.malformed)
      }
      return
    }
    if (packet.opcode === Opcode.WRQ) {
      this.warn(`Refused a write request from ${from} for "${packet.filename}": the TFTP server is read-only`)
      this.replyError(rinfo, ErrorCode.AccessViolation, WireMessage.readOnly)
      return
    }
    if (packet.opcode !== Opcode.RRQ) {
      // A stray DATA/ACK/ERROR/OACK on the request port: not ours to answer (RFC 1350 §4).
      this.warn(`Dropped a ${opcodeName(packet.opcode)} from ${from} on the request port`)
      return
    }
    const key = from
    if (this.transfers.has(key)) return // the client repeated its request: the transfer answers it
    const client: Client = {
      ip: rinfo.address,
      port: rinfo.port,
      key,
      machine: this.machines?.byIp(rinfo.address)?.name,
    }
    if (packet.mode !== 'octet') {
      this.refuse(
        client,
        packet.filename,
        ErrorCode.NotDefined,
        WireMessage.octetOnly,
        `mode "${packet.mode}" is not supported (only octet)`,
        started,
      )
      return
    }
    let path: string
    try {
      path = normalizePath(packet.filename)
    } catch (err) {
      if (!(err instanceof PathError)) throw err
      this.refuse(
        client,
        packet.filename,
        ErrorCode.AccessViolation,
        WireMessage.accessViolation,
        err.message,
        started,
      )
      return
    }
    if (this.transfers.size >= this.maxTransfers) {
      this.warn(`Refused "${path}" to ${from}: ${this.maxTransfers} transfers already running (maxTransfers)`)
      this.refuse(
        client,
        path,
        ErrorCode.NotDefined,
        WireMessage.busy,
        `server busy: ${this.maxTransfers} transfers running`,
        started,
      )
      return
    }
    this.transfers.set(key, 'opening')
    void this.open(client, path, packet.options, started)
  }

  private async open(
    client: Client,
    path: string,
    requested: ReadonlyMap<string, string>,
    started: number,
  ): Promise<void> {
    const requester: Requester =
      client.machine === undefined ? { ip: client.ip } : { ip: client.ip, machine: client.machine }
    let file: ServedFile | undefined
    try {
      file = await this.files.open(path, requester)
    } catch (err) {
      this.transfers.delete(client.key)
      this.refuse(
        client,
        path,
        ErrorCode.NotDefined,
        WireMessage.readError,
        `cannot open: ${describe(err)}`,
        started,
      )
      return
    }
    if (file === undefined) {
      this.transfers.delete(client.key)
      this.refuse(client, path, ErrorCode.FileNotFound, WireMessage.notFound, 'file not found', started)
      return
    }
    if (this.closed) {
      this.transfers.delete(client.key)
      await file.close().catch(() => undefined)
      return
    }
    const negotiated = negotiateOptions(requested, this.limits, file.size)
    for (const { name, reason } of negotiated.ignored) {
      this.warn(`Ignored option "${name}" from ${client.key} for "${path}": ${reason}`)
    }
    const transfer = new Transfer(this, client, path, file, negotiated, started)
    this.transfers.set(client.key, transfer)
    transfer.start()
  }

  ended(transfer: Transfer): void {
    if (this.transfers.get(transfer.client.key) === transfer) this.transfers.delete(transfer.client.key)
  }

  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    await new Promise<void>((resolve) => this.socket.close(() => resolve()))
    const running = [...this.transfers.values()].filter((t): t is Transfer => t !== 'opening')
    await Promise.all(running.map((t) => t.abort(WireMessage.closing, 'server closed')))
  }
}

/** A chunk of the file in memory: blocks [first+1, first+count], as [header, data] views ready to send. */
interface Chunk {
  /** Chunk number (chunk n holds blocks n*perChunk+1 ...); -1 when empty. */
  index: number
  ready: boolean
  readonly data: Buffer
  readonly headers: Buffer
  /** Per block: [4-byte header view, blksize data view], reused for every chunk loaded here. */
  readonly packets: Buffer[][]
}

const Phase = { Oack: 0, Data: 1, Done: 2 } as const
type Phase = (typeof Phase)[keyof typeof Phase]

/** One read transfer: its socket, its window and its retransmission timer. */
class Transfer {
  readonly server: Server
  readonly client: Client
  readonly path: string
  private readonly file: ServedFile
  private readonly blksize: number
  private readonly window: number
  private readonly timeoutMs: number
  private readonly oack: ReadonlyMap<string, string> | undefined
  private readonly started: number
  private readonly size: number
  /** The last block: the first one shorter than blksize (possibly empty). */
  private readonly lastBlock: number
  private readonly perChunk: number
  private readonly ring: Chunk[]
  /** [header, short data] of the last block. */
  private readonly lastPacket: Buffer[]
  private readonly socket: Socket
  private timer: ClockTimer | undefined
  /** The current retransmission interval: timeoutMs, doubled after each timeout in a row. */
  private interval: number
  private phase: Phase
  /** Highest block acknowledged (0: none yet, or the OACK's ACK 0). */
  private acked = 0
  /** Next block to send. */
  private next = 1
  /** The last block went out at least once: a client that has it all may have left. */
  private lastBlockSent = false
  private retries = 0
  /** The window waits for a chunk being read. */
  private stalled = false
  private finished: Promise<void> | undefined

  constructor(
    server: Server,
    client: Client,
    path: string,
    file: ServedFile,
    n: Negotiated,
    started: number,
  ) {
    this.server = server
    this.client = client
    this.path = path
    this.file = file
    this.blksize = n.blksize
    this.window = n.windowsize
    this.timeoutMs = n.timeoutMs
    this.interval = n.timeoutMs
    this.oack = n.oack
    this.started = started
    this.size = file.size
    this.lastBlock = Math.floor(this.size / this.blksize) + 1
    this.phase = this.oack === undefined ? Phase.Data : Phase.Oack
    // Chunks hold at least one window, so a window spans at most two of them.
    this.perChunk = Math.min(this.lastBlock, Math.max(this.window, Math.ceil(CHUNK_BYTES / this.blksize)))
    this.ring = []
    for (let r = 0; r < Math.min(RING, Math.ceil(this.lastBlock / this.perChunk)); r++) {
      const data = Buffer.allocUnsafe(this.perChunk * this.blksize)
      const headers = Buffer.alloc(this.perChunk * 4)
      const packets: Buffer[][] = []
      for (let i = 0; i < this.perChunk; i++) {
        headers[i * 4 + 1] = Opcode.DATA
        packets.push([
          headers.subarray(i * 4, i * 4 + 4),
          data.subarray(i * this.blksize, (i + 1) * this.blksize),
        ])
      }
      this.ring.push({ index: -1, ready: false, data, headers, packets })
    }
    const lastChunk = Math.floor((this.lastBlock - 1) / this.perChunk)
    const lastIndex = this.lastBlock - 1 - lastChunk * this.perChunk
    const [header, data] = this.chunkFor(lastChunk).packets[lastIndex] as [Buffer, Buffer]
    this.lastPacket = [header, data.subarray(0, this.size - (this.lastBlock - 1) * this.blksize)]
    this.socket = createSocket({ type: 'udp4' })
  }

  private chunkFor(index: number): Chunk {
    return this.ring[index % RING] as Chunk
  }

  start(): void {
    const { server, client } = this
    this.socket.on('error', (err) => {
      void this.end(false, this.silence(`socket error: ${err.message}`))
    })
    this.socket.on('message', (msg) => this.onMessage(msg))
    const begin = (): void => {
      this.socket.connect(client.port, client.ip, () => {
        if (this.phase === Phase.Done) return
        server.emit({
          type: 'tftp.start',
          client: client.ip,
          ...(client.machine === undefined ? {} : { machine: client.machine }),
          file: this.path,
          blksize: this.blksize,
          windowsize: this.window,
          size: this.size,
        })
        this.rearm()
        this.prefetch()
        if (this.phase === Phase.Oack) this.sendOack()
        else this.sendWindow()
      })
    }
    // Answer from the address the server listens on (any address: the kernel picks by route).
    if (server.bindAddress === '0.0.0.0') begin()
    else this.socket.bind({ address: server.bindAddress, port: 0 }, begin)
  }

  private sendOack(): void {
    if (this.oack === undefined) return
    this.socket.send(encodeTftp({ opcode: Opcode.OACK, options: this.oack }))
  }

  /** Sends blocks from `next` up to the end of the window, as far as the chunks are read. */
  private sendWindow(): void {
    const limit = Math.min(this.lastBlock, this.acked + this.window)
    const perChunk = this.perChunk
    while (this.next <= limit) {
      const block = this.next
      const index = Math.floor((block - 1) / perChunk)
      const chunk = this.ring[index % RING] as Chunk
      if (chunk.index !== index || !chunk.ready) {
        this.stalled = true
        this.load(index)
        return
      }
      this.socket.send(
        block === this.lastBlock
          ? this.lastPacket
          : (chunk.packets[block - 1 - index * perChunk] as Buffer[]),
      )
      if (block === this.lastBlock) this.lastBlockSent = true
      this.next = block + 1
    }
  }

  /** Reads the chunk holding the next unacknowledged block and the two after it. */
  private prefetch(): void {
    const first = Math.floor(this.acked / this.perChunk)
    const chunks = Math.ceil(this.lastBlock / this.perChunk)
    for (let index = first; index < Math.min(first + RING, chunks); index++) this.load(index)
  }

  /**
   * Starts reading chunk `index` into its ring slot, unless it is there or on its way.
   * The slot's previous chunk (index - 3) is fully acknowledged: prefetch() only asks
   * for the 3 chunks from the one holding block acked+1. (A retransmission of one of
   * its blocks still queued in the socket could then go out with a block number 3
   * chunks ahead: any client drops it as out of order.)
   */
  private load(index: number): void {
    const chunk = this.chunkFor(index)
    if (chunk.index === index) return
    chunk.index = index
    chunk.ready = false
    const firstBlock = index * this.perChunk + 1
    const count = Math.min(this.perChunk, this.lastBlock - firstBlock + 1)
    for (let i = 0; i < count; i++) {
      const wire = (firstBlock + i) & 0xffff
      chunk.headers[i * 4 + 2] = wire >> 8
      chunk.headers[i * 4 + 3] = wire & 0xff
    }
    const position = (firstBlock - 1) * this.blksize
    const length = Math.min(count * this.blksize, this.size - position)
    this.read(chunk.data, length, position).then(
      () => {
        if (chunk.index !== index || this.phase === Phase.Done) return
        chunk.ready = true
        if (this.stalled && this.phase === Phase.Data) {
          this.stalled = false
          this.sendWindow()
        }
      },
      (err: unknown) => {
        void this.end(false, `read error at byte ${position}: ${describe(err)}`, WireMessage.readError)
      },
    )
  }

  private async read(buffer: Buffer, length: number, position: number): Promise<void> {
    let done = 0
    while (done < length) {
      const n = await this.file.read(buffer, done, length - done, position + done)
      if (n <= 0) throw new Error(`the file ended ${length - done} bytes early (changed while being served?)`)
      done += n
    }
  }

  private onMessage(msg: Buffer): void {
    if (this.phase === Phase.Done) return
    // Fast path: an ACK (opcode 4, uint16 block) needs no object.
    if (msg.length >= 4 && msg[0] === 0 && msg[1] === Opcode.ACK) {
      this.onAck(((msg[2] as number) << 8) | (msg[3] as number))
      return
    }
    let packet: TftpPacket
    try {
      packet = decodeTftp(msg)
    } catch (err) {
      this.server.warn(`Dropped a packet from ${this.client.key} during "${this.path}": ${describe(err)}`)
      return
    }
    if (packet.opcode === Opcode.ERROR) {
      void this.end(
        false,
        `client sent ERROR ${packet.code} (${errorCodeName(packet.code)}): "${packet.message}"`,
        null,
      )
      return
    }
    this.server.warn(`Dropped a ${opcodeName(packet.opcode)} from ${this.client.key} during "${this.path}"`)
  }

  /**
   * An ACK for wire block `wire`. It counts only if it acknowledges a block sent and not
   * yet acknowledged; duplicates and stale ACKs are ignored (never a retransmission).
   * An ACK inside the window means the client lost the next block: RFC 7440 §4 says
   * to go on from the block after it.
   */
  private onAck(wire: number): void {
    if (this.phase === Phase.Oack) {
      // RFC 2347: the client accepts the OACK with ACK 0.
      if (wire !== 0) return
      this.phase = Phase.Data
      this.progressed()
      this.sendWindow()
      return
    }
    const delta = (wire - this.acked) & 0xffff
    if (delta === 0 || delta > this.next - 1 - this.acked) return
    const previousChunk = Math.floor(this.acked / this.perChunk)
    this.acked += delta
    if (this.acked === this.lastBlock) {
      void this.end(true)
      return
    }
    if (this.acked < this.next - 1) this.next = this.acked + 1
    this.progressed()
    if (Math.floor(this.acked / this.perChunk) !== previousChunk) this.prefetch()
    this.sendWindow()
  }

  /** The client moved on: reset the retries and the backoff. */
  private progressed(): void {
    this.retries = 0
    if (this.interval === this.timeoutMs) {
      this.timer?.refresh() // cheap: no new timer object per ACK
      return
    }
    this.interval = this.timeoutMs
    this.rearm()
  }

  private rearm(): void {
    this.timer?.cancel()
    this.timer = this.server.clock.setTimer(() => this.onTimeout(), this.interval)
  }

  /** Why the client went silent, as far as the server can tell. */
  private silence(what: string): string {
    // With windowsize > 1 the unacknowledged window may hold several blocks besides the last.
    return this.phase === Phase.Data && this.lastBlockSent
      ? `${what}: the last block was not acknowledged (the client may have it all)`
      : what
  }

  private onTimeout(): void {
    if (this.phase === Phase.Done) return
    if (++this.retries > this.server.retries) {
      void this.end(
        false,
        this.silence(`timed out: no ACK after ${this.server.retries + 1} sends`),
        WireMessage.timeout,
      )
      return
    }
    this.interval = Math.min(this.interval * 2, Math.max(this.timeoutMs, MAX_BACKOFF_MS))
    this.rearm()
    if (this.phase === Phase.Oack) {
      this.sendOack()
      return
    }
    // Resend the window from the first unacknowledged block.
    this.next = this.acked + 1
    this.sendWindow()
  }

  abort(wire: string, detail: string): Promise<void> {
    return this.end(false, detail, wire)
  }

  /** Ends the transfer once: optional ERROR to the client, closes socket and file, emits tftp.end. */
  private end(ok: boolean, error?: string, wire: string | null = null): Promise<void> {
    if (this.finished !== undefined) return this.finished
    this.phase = Phase.Done
    this.timer?.cancel()
    if (wire !== null) {
      try {
        this.socket.send(encodeTftp({ opcode: Opcode.ERROR, code: ErrorCode.NotDefined, message: wire }))
      } catch {
        // not connected yet, or already failed: nothing to tell
      }
    }
    this.server.ended(this)
    const { client } = this
    this.server.emit({
      type: 'tftp.end',
      client: client.ip,
      ...(client.machine === undefined ? {} : { machine: client.machine }),
      file: this.path,
      ok,
      bytes: Math.min(this.size, this.acked * this.blksize),
      ms: this.server.clock.now() - this.started,
      ...(error === undefined ? {} : { error }),
    })
    this.finished = Promise.all([
      new Promise<void>((resolve) => {
        // Let a queued ERROR leave before the socket closes.
        setImmediate(() => {
          try {
            this.socket.close(() => resolve())
          } catch {
            resolve()
          }
        })
      }),
      this.file.close().catch(() => undefined),
    ]).then(() => undefined)
    return this.finished
  }
}
