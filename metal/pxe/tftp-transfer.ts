/**
 * One TFTP read transfer (RFC 1350 §4, RFC 7440 windows): its own socket connected to the
 * client's TID, a ring of chunk buffers read ahead from the file, the window sent from the
 * ACK handler, and a retransmission timer with bounded exponential backoff. The server
 * (tftp.ts) creates it once the file is open and the options are negotiated, and learns of
 * its end through TransferHost.ended().
 */
import { createSocket, type Socket } from 'node:dgram'
import {
  decodeTftp,
  ErrorCode,
  encodeTftp,
  errorCodeName,
  type Negotiated,
  Opcode,
  opcodeName,
  type TftpPacket,
} from '../../lib/tftp/index.ts'
import type { Clock, ClockTimer } from './clock.ts'
import type { BootEvent } from './events.ts'
import type { ServedFile } from './files.ts'
import { ProgressThrottle } from './transfer-progress.ts'

/** What a transfer needs from its server. */
export interface TransferHost {
  /** The address the server listens on: transfers answer from it ('0.0.0.0': the kernel picks). */
  readonly bindAddress: string
  readonly clock: Clock
  /** At most one 'transfer.progress' per transfer per this many ms of `clock`. */
  readonly progressMs: number
  /** Retransmissions of the same packet before the transfer is given up. */
  readonly retries: number
  emit(event: BootEvent): void
  warn(message: string): void
  /** The transfer ended (once). */
  ended(transfer: Transfer): void
}

/** The client of a transfer; `key` is its "ip:port" (its TID). */
export interface Client {
  readonly ip: string
  readonly port: number
  readonly key: string
  readonly machine: string | undefined
}

/** Terse messages for the wire (the details go to events). */
export const WireMessage = {
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

export function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err)
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
export class Transfer {
  readonly server: TransferHost
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
  private readonly throttle: ProgressThrottle

  constructor(
    server: TransferHost,
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
    this.throttle = new ProgressThrottle(server.clock, server.progressMs)
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
    // The next DATA first: with a lock-step client (windowsize 1) each block waits for this reply,
    // so the bookkeeping below runs while the block is on its way.
    this.sendWindow()
    this.progressed()
    if (Math.floor(this.acked / this.perChunk) !== previousChunk) this.prefetch()
    this.reportProgress()
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

  /** A 'transfer.progress' with the bytes acknowledged so far, when the throttle says one is due. */
  private reportProgress(): void {
    const bytes = Math.min(this.size, this.acked * this.blksize)
    if (!this.throttle.due(bytes)) return
    const { client } = this
    this.server.emit({
      type: 'transfer.progress',
      protocol: 'tftp',
      client: client.ip,
      ...(client.machine === undefined ? {} : { machine: client.machine }),
      file: this.path,
      bytes,
      size: this.size,
    })
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
