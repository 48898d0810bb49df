/**
 * The cluster token: 32 random characters, generated once, kept 0600 in the git-ignored state
 * folder, reused by every run. It is a secret: it is never printed.
 */
import { randomInt } from 'node:crypto'
import { chmod, mkdir, readFile, rename, stat, writeFile } from 'node:fs/promises'
import { dirname, join } from 'node:path'

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789'

export function tokenPath(stateDir: string): string {
  return join(stateDir, 'cluster', 'token')
}

/** 32 characters from [A-Za-z0-9], uniformly (randomInt has no modulo bias). */
export function generateToken(): string {
  let token = ''
  for (let i = 0; i < 32; i++) token += ALPHABET[randomInt(ALPHABET.length)]
  return token
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
