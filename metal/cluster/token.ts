/**
 * The cluster tokens: the server token and a separate agent token, each 32 random characters,
 * generated once, kept 0600 in the git-ignored state folder, reused by every run. Joining nodes get
 * the full form (`K10<CA hash>::server:<secret>`, `K10<CA hash>::node:<secret>`), so they check the
 * cluster CA they are handed. Secrets: never printed.
 */
import { randomInt } from 'node:crypto'
import { chmod, mkdir, readFile, rename, stat, writeFile } from 'node:fs/promises'
import { dirname, join } from 'node:path'

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789'

export function tokenPath(stateDir: string): string {
  return join(stateDir, 'cluster', 'token')
}

export function agentTokenPath(stateDir: string): string {
  return join(stateDir, 'cluster', 'agent-token')
}

/**
 * 32 characters from [A-Za-z0-9], uniformly (randomInt has no modulo bias), never starting with
 * `K10`: k3s reads any token starting with K10 as its full form (pkg/clientaccess/token.go,
 * parseToken), so such a bare secret would be misparsed and refused.
 */
export function generateToken(): string {
  for (;;) {
    let token = ''
    for (let i = 0; i < 32; i++) token += ALPHABET[randomInt(ALPHABET.length)]
    if (!token.startsWith('K10')) return token
  }
}

/** A k3s token read the way k3s reads it: `K10<ca sha256>::<user>:<secret>`, or a bare secret. */
export interface ParsedToken {
  /** 64 hex characters, or '' when the token carries none. */
  readonly caHash: string
  /** `server` or `node` in a full token; '' for a bare secret. */
  readonly user: string
  readonly secret: string
}

/**
 * Parses like k3s's parseToken (pkg/clientaccess/token.go): a token not starting with K10 is a
 * bare secret; otherwise what follows K10 up to `::` is the CA hash (empty or 64 characters), and
 * the rest `user:secret`. Undefined when k3s would refuse it.
 */
export function parseToken(token: string): ParsedToken | undefined {
  const text = token.trim()
  if (text === '') return undefined
  if (!text.startsWith('K10')) {
    // k3s turns a bare secret into K10:::SECRET, so a colon in it splits off a "user".
    const colon = text.indexOf(':')
    return colon < 0
      ? { caHash: '', user: '', secret: text }
      : { caHash: '', user: text.slice(0, colon), secret: text.slice(colon + 1) }
  }
  const rest = text.slice(3)
  const cut = rest.indexOf('::')
  if (cut < 0) return undefined
  const caHash = rest.slice(0, cut)
  if (caHash.length !== 0 && !/^[0-9a-f]{64}$/.test(caHash)) return undefined
  const creds = rest.slice(cut + 2)
  const colon = creds.indexOf(':')
  if (colon < 0 || colon === creds.length - 1) return undefined
  return { caHash, user: creds.slice(0, colon), secret: creds.slice(colon + 1) }
}

/** The full form k3s writes to server/token (user `server`) and server/agent-token (user `node`). */
export function fullToken(caHash: string, user: 'server' | 'node', secret: string): string {
  return `K10${caHash}::${user}:${secret}`
}

/** The stored token, or undefined; a token file readable by others is made 0600 again. */
export async function readToken(path: string): Promise<string | undefined> {
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (cause) {
    if ((cause as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw new Error(`Cannot read the cluster token ${path}: ${(cause as Error).message}`, { cause })
  }
  if (((await stat(path)).mode & 0o077) !== 0) await chmod(path, 0o600)
  const token = text.trim()
  if (token === '') {
    throw new Error(
      `Cannot use the cluster token: ${path} is empty (move it away and run again: the token is then read back from a running server, or a new one is made for a new cluster)`,
    )
  }
  return token
}

/** Writes atomically, 0600, in a 0700 folder. */
export async function writeToken(path: string, token: string): Promise<void> {
  await mkdir(dirname(path), { recursive: true, mode: 0o700 })
  const temp = `${path}.${process.pid}.tmp`
  await writeFile(temp, `${token}\n`, { mode: 0o600 })
  await chmod(temp, 0o600)
  await rename(temp, path)
}
