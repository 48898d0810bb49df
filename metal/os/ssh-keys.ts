/**
 * The controller's SSH key pair: os.sshPublicKey in homelab.yaml names the public key that the
 * installer authorises for root; the private key sits beside it without `.pub` (as ssh-keygen
 * writes them). Paths are relative to homelab.yaml's folder, or ~/... for the home folder.
 */
import { readFile, stat } from 'node:fs/promises'
import { homedir } from 'node:os'
import { resolve } from 'node:path'
import type { Config } from '../../core/config/schema.ts'

export function publicKeyPath(config: Config, configDir: string): string {
  const path = config.os.sshPublicKey
  return path.startsWith('~/') ? resolve(homedir(), path.slice(2)) : resolve(configDir, path)
}

export function privateKeyPath(config: Config, configDir: string): string {
  return publicKeyPath(config, configDir).replace(/\.pub$/, '')
}

export async function readPublicKey(config: Config, configDir: string): Promise<string> {
  const path = publicKeyPath(config, configDir)
  try {
    return (await readFile(path, 'utf8')).trim()
  } catch (cause) {
    throw new Error(`Cannot read os.sshPublicKey: ${path} (create it with \`ssh-keygen -t ed25519\`)`, {
      cause,
    })
  }
}

/** The private key; refused when others may read it (as OpenSSH refuses it). */
export async function readPrivateKey(config: Config, configDir: string): Promise<Buffer> {
  const path = privateKeyPath(config, configDir)
  let key: Buffer
  try {
    key = await readFile(path)
  } catch (cause) {
    throw new Error(
      `Cannot read the SSH private key ${path} (os.sshPublicKey in homelab.yaml is ${config.os.sshPublicKey}; its private key must sit beside it without .pub)`,
      { cause },
    )
  }
  if (((await stat(path)).mode & 0o077) !== 0) {
    throw new Error(`Cannot use the SSH private key ${path}: others can read it (run \`chmod 600 ${path}\`)`)
  }
  return key
}
