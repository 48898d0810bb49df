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
  negotiateOptions,
  Opcode,
  opcodeName,
  type RequestPacket,
  type TftpPacket,
} from '../../lib/tftp/index.ts'
import { type Clock, systemClock } from './clock.ts'
import type { BootEvent, BootEventSink } from './events.ts'
import { type FileSource, normalizePath, PathError, type Requester, type ServedFile } from './files.ts'
import type { MachineDirectory } from './machine-directory.ts'
import { PXE_PORTS } from './ports.ts'
import { type Client, describe, Transfer, WireMessage } from './tftp-transfer.ts'
import { DEFAULT_PROGRESS_MS } from './transfer-progress.ts'

export interface TftpServerOptions {
  /** What is served. Nothing outside it ever is. */
  readonly files: FileSource
  /** Address to listen on. @default '0.0.0.0' */
  readonly address?: string
  /** UDP port to listen on (0: any free port). @default 69 */
  readonly port?: number
  /** Transfers served at once; requests above it get ERROR 0 "Server busy". @default 64 */
  readonly maxTransfers?: number
  /** Transfers served at once to one client address; above it, ERROR 0 "Server busy". @default 8 */
  readonly maxTransfersPerClient?: number
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
  /** At most one 'transfer.progress' per transfer per this many ms of `clock`. @default DEFAULT_PROGRESS_MS */
  readonly progressMs?: number
}

export const TFTP_DEFAULTS = {
  address: '0.0.0.0',
  port: PXE_PORTS.tftp,
  maxTransfers: 64,
  maxTransfersPerClient: 8,
  maxBlksize: BLKSIZE_MAX,
  maxWindowsize: 64,
  maxWindowBytes: 1024 * 1024,
  timeoutMs: 1000,
  retries: 5,
  clock: systemClock,
  progressMs: DEFAULT_PROGRESS_MS,
} as const

export interface TftpServer {
  /** "address:port" actually bound (the port is the real one when 0 was asked). */
  readonly address: string
  readonly port: number
  /** Stops listening, ends every transfer (their clients see no more data) and waits for it. */
  close(): Promise<void>
}

function checkOption(name: string, value: number, min: number, max: number): number {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new RangeError(
      `Cannot start TFTP server: option "${name}" is ${value}, expected an integer in ${min}..${max}`,
    )
  }
  return value
}

/** Starts the TFTP service; resolves once it listens. Rejects when it cannot bind (e.g. EADDRINUSE, EACCES). */
export async function serveTftp(options: TftpServerOptions): Promise<TftpServer> {
  const server = new Server(options)
  await server.listen()
  return server
}

/**
 * What a read request may get, before any file is opened: its normalised path, or the ERROR
 * to refuse it with (a terse wire message) and the detail for the operator.
 */
export function checkReadRequest(
  packet: RequestPacket,
): { readonly path: string } | { readonly refuse: { code: number; wire: string; detail: string } } {
  if (packet.mode !== 'octet') {
    const detail = `mode "${packet.mode}" is not supported (only octet)`
    return { refuse: { code: ErrorCode.NotDefined, wire: WireMessage.octetOnly, detail } }
  }
  try {
    return { path: normalizePath(packet.filename) }
  } catch (err) {
    if (!(err instanceof PathError)) throw err
    return {
      refuse: { code: ErrorCode.AccessViolation, wire: WireMessage.accessViolation, detail: err.message },
    }
  }
}

type Emit = (event: BootEvent) => void

class Server implements TftpServer {
  readonly files: FileSource
  readonly bindAddress: string
  readonly wantedPort: number
  readonly maxTransfers: number
  readonly maxPerClient: number
  /** Transfers (running or opening) by client address. */
  private readonly perClient = new Map<string, number>()
  readonly limits: {
    maxBlksize: number
    maxWindowsize: number
    maxWindowBytes: number
    defaultTimeoutMs: number
  }
  readonly retries: number
  readonly machines: MachineDirectory | undefined
  readonly clock: Clock
  readonly progressMs: number
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
    this.maxPerClient = checkOption(
      'maxTransfersPerClient',
      options.maxTransfersPerClient ?? TFTP_DEFAULTS.maxTransfersPerClient,
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
    this.progressMs = checkOption(
      'progressMs',
      options.progressMs ?? TFTP_DEFAULTS.progressMs,
      0,
      2 ** 31 - 1,
    )
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
    const checked = checkReadRequest(packet)
    if ('refuse' in checked) {
      const { code, wire, detail } = checked.refuse
      this.refuse(client, packet.filename, code, wire, detail, started)
      return
    }
    const { path } = checked
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
    const mine = this.perClient.get(client.ip) ?? 0
    if (mine >= this.maxPerClient) {
      this.refuse(
        client,
        path,
        ErrorCode.NotDefined,
        WireMessage.busy,
        `server busy: ${this.maxPerClient} transfers running to ${client.ip} (maxTransfersPerClient)`,
        started,
      )
      return
    }
    this.perClient.set(client.ip, mine + 1)
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
      this.forget(client)
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
      this.forget(client)
      this.refuse(client, path, ErrorCode.FileNotFound, WireMessage.notFound, 'file not found', started)
      return
    }
    if (this.closed) {
      this.forget(client)
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
    if (this.transfers.get(transfer.client.key) === transfer) this.forget(transfer.client)
  }

  /** A transfer (or an opening) of `client` is over. */
  private forget(client: Client): void {
    if (!this.transfers.delete(client.key)) return
    const left = (this.perClient.get(client.ip) ?? 1) - 1
    if (left <= 0) this.perClient.delete(client.ip)
    else this.perClient.set(client.ip, left)
  }

  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    await new Promise<void>((resolve) => this.socket.close(() => resolve()))
    const running = [...this.transfers.values()].filter((t): t is Transfer => t !== 'opening')
    await Promise.all(running.map((t) => t.abort(WireMessage.closing, 'server closed')))
  }
}
