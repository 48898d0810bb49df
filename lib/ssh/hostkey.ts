/**
 * Reads a host's SSH host key without logging in: the key exchange runs, the key
 * is recorded, and the connection is dropped before authentication. This is how
 * `homelab metal` tells that a machine is installed (its SSH answers with the host
 * key it reported at install) and that "SSH ready" is real.
 */
import { Client } from 'ssh2'

export interface HostKeyProbe {
  /** OpenSSH form: "ssh-ed25519 AAAA...". */
  readonly key: string
}

export class SshProbeError extends Error {
  readonly code = 'HOMELAB_SSH_PROBE'
  override name = 'SshProbeError'
}

/** Connects to host:port and returns its host key; rejects when nothing answers within timeoutMs. */
export function probeHostKey(host: string, port = 22, timeoutMs = 5000): Promise<HostKeyProbe> {
  return new Promise((resolve, reject) => {
    const client = new Client()
    let key: string | undefined
    const timer = setTimeout(() => {
      client.destroy()
      reject(
        new SshProbeError(`Cannot read SSH host key of ${host}:${port}: no answer within ${timeoutMs} ms`),
      )
    }, timeoutMs)
    const finish = () => {
      clearTimeout(timer)
      client.destroy()
      if (key !== undefined) resolve({ key })
    }
    client.on('error', (err) => {
      clearTimeout(timer)
      if (key !== undefined) resolve({ key })
      else
        reject(
          new SshProbeError(`Cannot read SSH host key of ${host}:${port}: ${err.message}`, { cause: err }),
        )
    })
    client.on('close', finish)
    client.connect({
      host,
      port,
      username: 'homelab-probe',
      readyTimeout: timeoutMs,
      algorithms: { serverHostKey: ['ssh-ed25519', 'ecdsa-sha2-nistp256', 'rsa-sha2-512', 'rsa-sha2-256'] },
      hostVerifier: (raw: Buffer) => {
        key = `${keyType(raw)} ${raw.toString('base64')}`
        // Refusing the key ends the handshake here: nothing is sent beyond the key exchange.
        setImmediate(finish)
        return false
      },
    })
  })
}

/** The key type is the first string of the SSH wire-format public key blob. */
function keyType(blob: Buffer): string {
  if (blob.length < 4) return 'unknown'
  const length = blob.readUInt32BE(0)
  return blob.subarray(4, 4 + length).toString('latin1')
}

/** Compares two OpenSSH public keys by type and key material (the comment is ignored). */
export function sameHostKey(a: string, b: string): boolean {
  const [ta, ka] = a.trim().split(/\s+/)
  const [tb, kb] = b.trim().split(/\s+/)
  return ta !== undefined && ta === tb && ka !== undefined && ka === kb
}
