import assert from 'node:assert/strict'
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import ssh2 from 'ssh2'
import { ensureLabKey } from './ssh-key.ts'

test('ensureLabKey() makes an OpenSSH ed25519 key pair once (0600) and keeps it', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'hl-key-'))
  try {
    const priv = join(dir, 'lab', 'id_ed25519')
    const pub = `${priv}.pub`
    assert.deepEqual(await ensureLabKey(priv, pub), { made: true })
    const privateText = await readFile(priv, 'utf8')
    const publicText = await readFile(pub, 'utf8')
    assert.match(
      privateText,
      /^-----BEGIN OPENSSH PRIVATE KEY-----\n[\s\S]+-----END OPENSSH PRIVATE KEY-----\n$/,
    )
    assert.match(publicText, /^ssh-ed25519 AAAA[A-Za-z0-9+/=]+ homelab-lab\n$/)
    assert.equal((await stat(priv)).mode & 0o777, 0o600)
    const parsed = ssh2.utils.parseKey(privateText)
    assert.ok(!(parsed instanceof Error) && !Array.isArray(parsed))
    assert.equal(`ssh-ed25519 ${parsed.getPublicSSH().toString('base64')} homelab-lab\n`, publicText)

    assert.deepEqual(await ensureLabKey(priv, pub), { made: false })
    assert.equal(await readFile(priv, 'utf8'), privateText, 'kept')
    await rm(pub)
    assert.deepEqual(await ensureLabKey(priv, pub), { made: false })
    assert.equal(
      await readFile(pub, 'utf8'),
      publicText,
      'the public half is recomputed from the private key',
    )
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
})
