/**
 * The Cloudflare API token the user gives once: from the environment (TOKEN_ENV), else the copy in
 * `.state/cloudflare-api-token` (0600, git-ignored), else asked. Kept there and, once a cluster
 * runs, in the Secret ADMIN_TOKEN_SECRET (convergeExternal keepToken). Never printed, never in an event.
 */
import { chmod, mkdir, readFile, rename, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'

export const TOKEN_ENV = 'HOMELAB_CLOUDFLARE_API_TOKEN'
export const TOKEN_FILE = 'cloudflare-api-token'

/** The stored token, or undefined; a file others may read is made 0600 first. */
export async function readStoredToken(stateDir: string): Promise<string | undefined> {
  const path = join(stateDir, TOKEN_FILE)
  try {
    if (((await stat(path)).mode & 0o077) !== 0) await chmod(path, 0o600)
    const token = (await readFile(path, 'utf8')).trim()
    return token === '' ? undefined : token
  } catch (cause) {
    if ((cause as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw cause
  }
}

/** Writes the token to `.state/` (0600, replaced atomically). */
export async function storeToken(stateDir: string, token: string): Promise<void> {
  await mkdir(stateDir, { recursive: true, mode: 0o700 })
  const path = join(stateDir, TOKEN_FILE)
  const temp = `${path}.${process.pid}.tmp`
  await writeFile(temp, `${token}\n`, { mode: 0o600 })
  await chmod(temp, 0o600)
  await rename(temp, path)
}

/** Checks the shape only (what Cloudflare issues: 40 URL-safe characters or more); the API decides. */
export function checkTokenShape(token: string, from: string): string {
  const t = token.trim()
  if (!/^[A-Za-z0-9_-]{20,200}$/.test(t)) {
    throw new Error(
      `Cannot use the Cloudflare API token from ${from}: it is not a token (letters, digits, - and _ only, 20 to 200 of them): paste the token itself, not its name or id`,
    )
  }
  return t
}

export interface ResolveTokenOptions {
  readonly stateDir: string
  readonly env: Readonly<Record<string, string | undefined>>
  /** Asks the user (hidden input); undefined when there is no terminal. */
  readonly ask?: () => Promise<string>
  /** Checks a new token with Cloudflare before it is stored (rejects when refused). */
  readonly verify?: (token: string) => Promise<void>
}

/** The token to use: the environment's, the stored one, or the answer; stored when new. */
export async function resolveToken(o: ResolveTokenOptions): Promise<string> {
  const fromEnv = o.env[TOKEN_ENV]
  const stored = await readStoredToken(o.stateDir)
  let token: string
  if (fromEnv !== undefined && fromEnv !== '') token = checkTokenShape(fromEnv, TOKEN_ENV)
  else if (stored !== undefined) return stored
  else if (o.ask !== undefined) token = checkTokenShape(await o.ask(), 'the prompt')
  else {
    throw new Error(
      `Cannot converge the external layer: no Cloudflare API token: set ${TOKEN_ENV} (once; it is then kept in ${join(o.stateDir, TOKEN_FILE)}), or run on a terminal to be asked`,
    )
  }
  if (token !== stored) {
    await o.verify?.(token)
    await storeToken(o.stateDir, token)
  }
  return token
}
