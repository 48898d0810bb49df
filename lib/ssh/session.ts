/**
 * An SSH session to one machine, for the layer that turns installed machines into
 * a k3s cluster. No ssh binary is used: ssh2 speaks the protocol.
 *
 * - Host keys are pinned: with `knownHostKey`, any other key is refused (SshHostKeyError);
 *   without it, the key seen is reported to `onFirstHostKey` (trust on first use).
 * - Transient connection failures are retried with bounded exponential backoff, each
 *   attempt reported as an `ssh.retry` event; authentication and host-key failures never are.
 * - `run()` executes a script under `set -euo pipefail` and rejects with SshCommandError.
 * - `ensureFile()` is an idempotent step: it reports 'changed' or 'unchanged'.
 */
import { createHash, randomBytes } from 'node:crypto'
import { StringDecoder } from 'node:string_decoder'
import { Client, type ClientChannel, type SFTPWrapper } from 'ssh2'
import { sameHostKey } from './hostkey.ts'
import { sh } from './quote.ts'

export type SshEvent =
  | { type: 'ssh.retry'; host: string; attempt: number; delayMs: number; error: string }
  | { type: 'ssh.connected'; host: string; attempts: number }
  | { type: 'ssh.step'; host: string; step: string; result: 'changed' | 'unchanged' }

export interface ConnectOptions {
  host: string
  /** @default 22 */
  port?: number
  /** @default 'root' */
  username?: string
  /** The client's private key (OpenSSH format). */
  privateKey: Buffer
  /** The host key recorded earlier ("ssh-ed25519 AAAA..."); any other key is refused. */
  knownHostKey?: string
  /** Called with the host key once connected, when no knownHostKey was given (trust on first use). */
  onFirstHostKey?: (key: string) => void
  /** Time allowed for the TCP connect plus SSH handshake of one attempt. @default 20000 */
  readyTimeoutMs?: number
  /** Retries after the first attempt, for transient errors only. @default 5 */
  retries?: number
  /** First backoff delay; doubled per retry. @default 500 */
  retryDelayMs?: number
  /** Largest backoff delay. @default 10000 */
  maxRetryDelayMs?: number
  /** Receives structured events (retries, connections, steps); silent by default. */
  events?: (event: SshEvent) => void
}

export const SSH_DEFAULTS = {
  port: 22,
  username: 'root',
  readyTimeoutMs: 20_000,
  retries: 5,
  retryDelayMs: 500,
  maxRetryDelayMs: 10_000,
} as const

export class SshHostKeyError extends Error {
  readonly code = 'HOMELAB_SSH_HOST_KEY'
  override name = 'SshHostKeyError'
  readonly host: string
  readonly expected: string
  readonly actual: string
  constructor(host: string, expected: string, actual: string) {
    super(
      `Cannot connect to ${host}: its SSH host key changed (was ${expected}, now ${actual}): ` +
        `if the machine was reinstalled, record its new host key and connect again; ` +
        `otherwise something may be intercepting the connection`,
    )
    this.host = host
    this.expected = expected
    this.actual = actual
  }
}

export class SshConnectError extends Error {
  readonly code = 'HOMELAB_SSH_CONNECT'
  override name = 'SshConnectError'
  readonly host: string
  readonly attempts: number
  constructor(host: string, attempts: number, message: string, cause: unknown) {
    super(message, { cause })
    this.host = host
    this.attempts = attempts
  }
}

export class SshCommandError extends Error {
  readonly code = 'HOMELAB_SSH_COMMAND'
  override name = 'SshCommandError'
  readonly host: string
  readonly exitCode: number
  readonly signal: string | undefined
  readonly stdout: string
  readonly stderr: string
  constructor(host: string, script: string, result: RunResult, signal: string | undefined) {
    const tail = lastLines(result.stderr, 5)
    const how = signal === undefined ? `exited with code ${result.code}` : `was killed by ${signal}`
    super(
      `Command failed on ${host}: "${firstLine(script)}" ${how}${tail === '' ? ' (no stderr)' : `:\n${tail}`}`,
    )
    this.host = host
    this.exitCode = result.code
    this.signal = signal
    this.stdout = result.stdout
    this.stderr = result.stderr
  }
}

export interface RunResult {
  code: number
  stdout: string
  stderr: string
}

export interface RunOptions {
  /** Called once per complete output line (without the newline). */
  onOutput?: (line: string, stream: 'stdout' | 'stderr') => void
  /** Resolve with the result instead of rejecting on a non-zero exit code. @default false */
  allowFailure?: boolean
}

export interface UploadOptions {
  mode?: number
  onProgress?: (transferred: number, total: number) => void
}

export interface SshSession {
  readonly host: string
  /** The host key the server presented ("ssh-ed25519 AAAA..."). */
  readonly hostKey: string
  run(script: string, options?: RunOptions): Promise<RunResult>
  upload(localPath: string, remotePath: string, options?: UploadOptions): Promise<void>
  ensureFile(remotePath: string, content: string | Buffer, mode: number): Promise<'changed' | 'unchanged'>
  close(): Promise<void>
}

/** Opens an authenticated session, retrying transient failures with bounded exponential backoff. */
export async function connectSsh(options: ConnectOptions): Promise<SshSession> {
  const retries = options.retries ?? SSH_DEFAULTS.retries
  const base = options.retryDelayMs ?? SSH_DEFAULTS.retryDelayMs
  const max = options.maxRetryDelayMs ?? SSH_DEFAULTS.maxRetryDelayMs
  if (!Number.isInteger(retries) || retries < 0) {
    throw new RangeError(`Cannot connect to ${options.host}: retries must be an integer >= 0, got ${retries}`)
  }
  const port = options.port ?? SSH_DEFAULTS.port
  for (let attempt = 1; ; attempt++) {
    try {
      const { client, hostKey } = await connectOnce(options, port)
      options.events?.({ type: 'ssh.connected', host: options.host, attempts: attempt })
      if (options.knownHostKey === undefined) options.onFirstHostKey?.(hostKey)
      return new Session(options.host, hostKey, client, options.events)
    } catch (error) {
      if (error instanceof SshHostKeyError) throw error
      const message = error instanceof Error ? error.message : String(error)
      if (!isTransient(error)) {
        throw new SshConnectError(
          options.host,
          attempt,
          `Cannot connect to ${options.host}:${port} over SSH as ${options.username ?? SSH_DEFAULTS.username}: ${message}`,
          error,
        )
      }
      if (attempt > retries) {
        throw new SshConnectError(
          options.host,
          attempt,
          `Cannot connect to ${options.host}:${port} over SSH after ${attempt} attempts: ${message}`,
          error,
        )
      }
      const delayMs = Math.min(max, base * 2 ** (attempt - 1))
      options.events?.({ type: 'ssh.retry', host: options.host, attempt, delayMs, error: message })
      await new Promise((r) => setTimeout(r, delayMs))
    }
  }
}

const TRANSIENT_CODES = new Set([
  'ECONNREFUSED',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ECONNRESET',
  'EAI_AGAIN',
])

/** Network-level failures and handshake timeouts are worth retrying; authentication failures are not. */
function isTransient(error: unknown): boolean {
  const e = error as { code?: unknown; level?: unknown } | undefined
  if (typeof e?.code === 'string' && TRANSIENT_CODES.has(e.code)) return true
  return e?.level === 'client-timeout'
}

function connectOnce(options: ConnectOptions, port: number): Promise<{ client: Client; hostKey: string }> {
  return new Promise((resolve, reject) => {
    const client = new Client()
    let seen: string | undefined
    let mismatch: SshHostKeyError | undefined
    let settled = false
    const fail = (error: unknown) => {
      if (settled) return
      settled = true
      client.destroy()
      reject(mismatch ?? error)
    }
    client.once('ready', () => {
      if (settled) return
      settled = true
      // Small request/reply exchanges (one per command): without TCP_NODELAY each waits on
      // Nagle's algorithm and a delayed ACK, about 90 ms per command even on loopback.
      client.setNoDelay(true)
      resolve({ client, hostKey: seen ?? '' })
    })
    client.on('error', fail)
    client.once('close', () => fail(new Error('connection closed before authentication')))
    client.connect({
      host: options.host,
      port,
      username: options.username ?? SSH_DEFAULTS.username,
      privateKey: options.privateKey,
      readyTimeout: options.readyTimeoutMs ?? SSH_DEFAULTS.readyTimeoutMs,
      algorithms: { serverHostKey: ['ssh-ed25519', 'ecdsa-sha2-nistp256', 'rsa-sha2-512', 'rsa-sha2-256'] },
      hostVerifier: (raw: Buffer) => {
        seen = `${keyType(raw)} ${raw.toString('base64')}`
        if (options.knownHostKey !== undefined && !sameHostKey(seen, options.knownHostKey)) {
          mismatch = new SshHostKeyError(options.host, options.knownHostKey.trim(), seen)
          return false
        }
        return true
      },
    })
  })
}

/** The key type is the first string of the SSH wire-format public key blob. */
function keyType(blob: Buffer): string {
  if (blob.length < 4) return 'unknown'
  return blob.subarray(4, 4 + blob.readUInt32BE(0)).toString('latin1')
}

class Session implements SshSession {
  readonly host: string
  readonly hostKey: string
  private readonly client: Client
  private readonly events: ((event: SshEvent) => void) | undefined
  private sftpChannel: Promise<SFTPWrapper> | undefined
  private closed: Promise<void> | undefined

  constructor(
    host: string,
    hostKey: string,
    client: Client,
    events: ((event: SshEvent) => void) | undefined,
  ) {
    this.host = host
    this.hostKey = hostKey
    this.client = client
    this.events = events
    // Errors after connecting surface through the calls in progress; keep the process alive.
    client.on('error', () => undefined)
  }

  run(script: string, options: RunOptions = {}): Promise<RunResult> {
    const command = sh`bash -c ${`set -euo pipefail\n${script}`}`
    return new Promise((resolve, reject) => {
      this.client.exec(command, (err, channel) => {
        if (err) {
          reject(new Error(`Cannot run command on ${this.host}: ${err.message}`, { cause: err }))
          return
        }
        collect(channel, options.onOutput).then(({ code, signal, stdout, stderr }) => {
          const result = { code, stdout, stderr }
          if (code === 0 || options.allowFailure === true) resolve(result)
          else reject(new SshCommandError(this.host, script, result, signal))
        }, reject)
      })
    })
  }

  private sftp(): Promise<SFTPWrapper> {
    this.sftpChannel ??= new Promise((resolve, reject) => {
      this.client.sftp((err, sftp) => {
        if (err) reject(new Error(`Cannot open SFTP to ${this.host}: ${err.message}`, { cause: err }))
        else resolve(sftp)
      })
    })
    return this.sftpChannel
  }

  async upload(localPath: string, remotePath: string, options: UploadOptions = {}): Promise<void> {
    const sftp = await this.sftp()
    await new Promise<void>((resolve, reject) => {
      sftp.fastPut(
        localPath,
        remotePath,
        { step: (transferred, _chunk, total) => options.onProgress?.(transferred, total) },
        (err) => {
          if (err) {
            reject(
              new Error(`Cannot upload ${localPath} to ${this.host}:${remotePath}: ${err.message}`, {
                cause: err,
              }),
            )
          } else resolve()
        },
      )
    })
    if (options.mode !== undefined) await this.chmod(sftp, remotePath, options.mode)
  }

  async ensureFile(
    remotePath: string,
    content: string | Buffer,
    mode: number,
  ): Promise<'changed' | 'unchanged'> {
    const data = typeof content === 'string' ? Buffer.from(content) : content
    const want = createHash('sha256').update(data).digest('hex')
    const octal = mode.toString(8)
    const probe = await this.run(
      sh`if [ -f ${remotePath} ]; then sha256sum < ${remotePath}; stat -c %a ${remotePath}; fi`,
    )
    const [hash, current] = probe.stdout.trim().split('\n')
    let result: 'changed' | 'unchanged' = 'unchanged'
    if (hash?.split(' ')[0] !== want) {
      const sftp = await this.sftp()
      const temp = `${remotePath}.homelab-${randomBytes(4).toString('hex')}`
      await new Promise<void>((resolve, reject) => {
        sftp.writeFile(temp, data, { mode }, (err) => {
          if (err) {
            reject(new Error(`Cannot write ${this.host}:${temp}: ${err.message}`, { cause: err }))
          } else resolve()
        })
      })
      // writeFile's mode is filtered by the umask: set it exactly, then replace the file in one step.
      await this.run(sh`chmod ${octal} ${temp} && mv -f ${temp} ${remotePath}`)
      result = 'changed'
    } else if (current !== octal) {
      await this.run(sh`chmod ${octal} ${remotePath}`)
      result = 'changed'
    }
    this.events?.({ type: 'ssh.step', host: this.host, step: `file ${remotePath}`, result })
    return result
  }

  private chmod(sftp: SFTPWrapper, remotePath: string, mode: number): Promise<void> {
    return new Promise((resolve, reject) => {
      sftp.chmod(remotePath, mode, (err) => {
        if (err) {
          reject(new Error(`Cannot chmod ${this.host}:${remotePath}: ${err.message}`, { cause: err }))
        } else resolve()
      })
    })
  }

  close(): Promise<void> {
    this.closed ??= new Promise((resolve) => {
      this.client.once('close', () => resolve())
      this.client.end()
    })
    return this.closed
  }
}

/** Reads a channel to its end, calling onOutput per complete line of each stream. */
function collect(
  channel: ClientChannel,
  onOutput: RunOptions['onOutput'],
): Promise<{ code: number; signal: string | undefined; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const out = { stdout: '', stderr: '' }
    const partial = { stdout: '', stderr: '' }
    // One decoder per stream: a multi-byte character split across chunks stays whole.
    const decoders = { stdout: new StringDecoder('utf8'), stderr: new StringDecoder('utf8') }
    let code = -1
    let signal: string | undefined
    const feed = (stream: 'stdout' | 'stderr', chunk: Buffer) => {
      const text = decoders[stream].write(chunk)
      out[stream] += text
      if (onOutput === undefined) return
      const lines = (partial[stream] + text).split('\n')
      partial[stream] = lines.pop() ?? ''
      for (const line of lines) onOutput(line, stream)
    }
    channel.on('data', (chunk: Buffer) => feed('stdout', chunk))
    channel.stderr.on('data', (chunk: Buffer) => feed('stderr', chunk))
    channel.on('exit', (exitCode: number | null, signalName?: string) => {
      if (typeof exitCode === 'number') code = exitCode
      else signal = signalName ?? 'a signal'
    })
    channel.on('close', () => {
      for (const stream of ['stdout', 'stderr'] as const) {
        const rest = decoders[stream].end()
        out[stream] += rest
        partial[stream] += rest
        if (partial[stream] !== '') onOutput?.(partial[stream], stream)
      }
      resolve({ code, signal, ...out })
    })
  })
}

function firstLine(script: string): string {
  const line = script.split('\n').find((l) => l.trim() !== '') ?? ''
  return line.trim().length > 80 ? `${line.trim().slice(0, 77)}...` : line.trim()
}

function lastLines(text: string, n: number): string {
  return text.trimEnd().split('\n').slice(-n).join('\n')
}
