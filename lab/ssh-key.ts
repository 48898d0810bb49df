/**
 * The lab's SSH key: root's key on every lab machine (homelab.yaml's os.sshPublicKey points
 * at the public half). Made once, kept across `lab down`/`lab up`:
 *
 *   ssh -i .state/lab/id_ed25519 root@10.77.0.10
 */
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises'
import { dirname } from 'node:path'
import ssh2 from 'ssh2'

export const LAB_KEY_COMMENT = 'homelab-lab'

/** Makes the key pair unless the private key is there; returns whether it was made. */
export async function ensureLabKey(privatePath: string, publicPath: string): Promise<{ made: boolean }> {
  const existing = await readFile(privatePath, 'utf8').catch(() => undefined)
  if (existing !== undefined) {
    // The public half can be recomputed from the private key.
    const present = await readFile(publicPath, 'utf8').catch(() => undefined)
    if (present === undefined) {
      const parsed = ssh2.utils.parseKey(existing)
      if (parsed instanceof Error)
        throw new Error(`Cannot read the lab SSH key: ${privatePath}: ${parsed.message}`, { cause: parsed })
      const key = Array.isArray(parsed) ? parsed[0] : parsed
      if (key === undefined) throw new Error(`Cannot read the lab SSH key: ${privatePath}: no key in it`)
      await writeFile(
        publicPath,
        `${key.type} ${key.getPublicSSH().toString('base64')} ${LAB_KEY_COMMENT}\n`,
        { mode: 0o644 },
      )
    }
    await chmod(privatePath, 0o600)
    return { made: false }
  }
  await mkdir(dirname(privatePath), { recursive: true, mode: 0o700 })
  const pair = ssh2.utils.generateKeyPairSync('ed25519', { comment: LAB_KEY_COMMENT })
  await writeFile(privatePath, pair.private.endsWith('\n') ? pair.private : `${pair.private}\n`, {
    mode: 0o600,
  })
  await chmod(privatePath, 0o600)
  await writeFile(publicPath, `${pair.public.trim()}\n`, { mode: 0o644 })
  return { made: true }
}
