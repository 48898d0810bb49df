/**
 * Vault initialised and unsealed by homelab: `homelab bootstrap` initialises it once (Shamir,
 * VAULT_SHARES shares, VAULT_THRESHOLD needed) and writes the unseal keys and the root token to
 * `<state>/vault/init.json` (0600, in a 0700 folder, git-ignored), then unseals it; after a restart
 * `homelab vault unseal` (also run by `homelab status` when it finds Vault sealed) unseals it from the
 * same file. No key or token is ever in an event, an error or an output line. The trade-off (the
 * keys live on the controller, next to the kubeconfig) is in docs/secrets.md.
 */
import { chmod, mkdir, open, readFile, rename, stat } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import type { InitAnswer, SealStatus, VaultClient } from './api.ts'

export const VAULT_SHARES = 5
export const VAULT_THRESHOLD = 3

export type VaultStep = 'status' | 'init' | 'unseal' | 'oidc'
export interface VaultEvent {
  readonly type: 'vault'
  readonly step: VaultStep
  readonly detail: string
}

/** What `<state>/vault/init.json` holds. */
export interface VaultKeys {
  readonly keys_base64: readonly string[]
  readonly root_token: string
  readonly shares: number
  readonly threshold: number
}

export const keysFile = (stateDir: string) => join(stateDir, 'vault', 'init.json')

/** Writes the keys 0600 (created so, never readable by others even for a moment), then renames. */
export async function writeKeys(file: string, keys: VaultKeys): Promise<void> {
  await mkdir(dirname(file), { recursive: true, mode: 0o700 })
  await chmod(dirname(file), 0o700)
  const tmp = `${file}.tmp`
  const handle = await open(tmp, 'w', 0o600)
  try {
    await handle.writeFile(`${JSON.stringify(keys, null, 2)}\n`)
    await handle.sync()
  } finally {
    await handle.close()
  }
  await chmod(tmp, 0o600)
  await rename(tmp, file)
}

/** The keys file, or undefined when there is none; refuses one others may read. */
export async function readKeys(file: string): Promise<VaultKeys | undefined> {
  let mode: number
  try {
    mode = (await stat(file)).mode
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw error
  }
  if ((mode & 0o077) !== 0) {
    throw new Error(
      `Cannot use the Vault keys in ${file}: its mode is ${(mode & 0o777).toString(8)}, readable by others: run chmod 600 ${file}`,
    )
  }
  const parsed = JSON.parse(await readFile(file, 'utf8')) as Partial<VaultKeys>
  if (!Array.isArray(parsed.keys_base64) || typeof parsed.root_token !== 'string') {
    throw new Error(
      `Cannot use the Vault keys in ${file}: keys_base64 or root_token is missing: restore the file from a backup`,
    )
  }
  return parsed as VaultKeys
}

const describe = (s: SealStatus) =>
  `${s.initialized ? 'initialised' : 'not initialised'}, ${s.sealed ? `sealed (${s.progress}/${s.t} keys)` : 'unsealed'}`

export interface UnsealOptions {
  readonly vault: VaultClient
  /** `.state`: the keys go to `<stateDir>/vault/init.json`. */
  readonly stateDir: string
  /** Initialise Vault when it is not (bootstrap); false: only unseal (`homelab vault unseal`, status). */
  readonly init: boolean
  readonly events?: (e: VaultEvent) => void
}

export interface UnsealResult {
  readonly initialised: boolean
  readonly unsealed: boolean
  readonly status: SealStatus
}

/** Initialises (when asked and needed) and unseals Vault; the keys never leave the state file. */
export async function ensureUnsealed(options: UnsealOptions): Promise<UnsealResult> {
  const { vault } = options
  const emit = options.events ?? (() => {})
  const file = keysFile(options.stateDir)
  let status = await vault.sealStatus()
  emit({ type: 'vault', step: 'status', detail: describe(status) })
  let initialised = false
  if (!status.initialized) {
    if (!options.init)
      throw new Error('Cannot unseal Vault: it is not initialised yet: run `homelab bootstrap`')
    if ((await readKeys(file)) !== undefined) {
      throw new Error(
        `Cannot initialise Vault: it is not initialised but ${file} holds the keys of an earlier Vault: move that file away if this Vault is new (its data was deleted), then run \`homelab bootstrap\` again`,
      )
    }
    const answer: InitAnswer = await vault.init(VAULT_SHARES, VAULT_THRESHOLD)
    await writeKeys(file, {
      keys_base64: answer.keys_base64,
      root_token: answer.root_token,
      shares: VAULT_SHARES,
      threshold: VAULT_THRESHOLD,
    })
    initialised = true
    emit({
      type: 'vault',
      step: 'init',
      detail: `initialised: ${VAULT_SHARES} key shares, ${VAULT_THRESHOLD} needed; keys and root token in ${file} (0600)`,
    })
    status = await vault.sealStatus()
  }
  if (!status.sealed) return { initialised, unsealed: false, status }
  const keys = await readKeys(file)
  if (keys === undefined) {
    throw new Error(
      `Cannot unseal Vault: ${file} does not exist: restore it from a backup (it holds the unseal keys)`,
    )
  }
  // Start clean: a half-finished unseal by someone else would mix with ours.
  if (status.progress > 0) status = await vault.resetUnseal()
  for (const key of keys.keys_base64) {
    status = await vault.unseal(key)
    emit({ type: 'vault', step: 'unseal', detail: describe(status) })
    if (!status.sealed) return { initialised, unsealed: true, status }
  }
  throw new Error(
    `Cannot unseal Vault: it is still sealed after all ${keys.keys_base64.length} keys of ${file} (${describe(status)}): the file belongs to another Vault`,
  )
}
