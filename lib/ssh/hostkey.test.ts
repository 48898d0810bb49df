import assert from 'node:assert/strict'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { sh, TestNet, waitFor } from '../../tools/netns.ts'
import { sameHostKey } from './hostkey.ts'

test('probeHostKey() reads the ed25519 host key of a real OpenSSH server without logging in', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'hostkey-'))
  const net = await TestNet.create('ssh')
  try {
    await sh('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(dir, 'host_ed25519')])
    await writeFile(
      join(dir, 'sshd_config'),
      `HostKey ${join(dir, 'host_ed25519')}\nListenAddress 10.93.0.10\nPidFile ${join(dir, 'sshd.pid')}\nUsePAM no\nLogLevel VERBOSE\n`,
    )
    const node = await net.host('node', '10.93.0.10/24')
    const ctl = await net.host('ctl', '10.93.0.2/24')
    await sh('mkdir', ['-p', '/run/sshd'])
    const sshd = node.spawn(['/usr/sbin/sshd', '-D', '-e', '-f', join(dir, 'sshd_config')])
    await waitFor('sshd', () => (/Server listening/.test(sshd.output()) ? true : undefined), 5000)
    const probe = ctl.spawn([
      process.execPath,
      '--input-type=module',
      '-e',
      `import { probeHostKey } from '${new URL('./hostkey.ts', import.meta.url).href}'; console.log('KEY ' + (await probeHostKey('10.93.0.10')).key)`,
    ])
    assert.equal(await probe.exited, 0, probe.output())
    const expected = (await readFile(join(dir, 'host_ed25519.pub'), 'utf8')).trim()
    const got = /KEY (.+)/.exec(probe.output())?.[1] ?? ''
    assert.ok(sameHostKey(got, expected), `got ${got}, expected ${expected}`)
    assert.doesNotMatch(sshd.output(), /Accepted|authenticated/, 'the probe must not log in')
    // Nothing listens on 10.93.0.11: the probe fails with the address in the message.
    const none = ctl.spawn([
      process.execPath,
      '--input-type=module',
      '-e',
      `import { probeHostKey } from '${new URL('./hostkey.ts', import.meta.url).href}'; await probeHostKey('10.93.0.10', 2222, 2000)`,
    ])
    assert.notEqual(await none.exited, 0)
    assert.match(none.output(), /Cannot read SSH host key of 10\.93\.0\.10:2222: connect ECONNREFUSED/)
  } finally {
    await net.destroy()
    await rm(dir, { recursive: true, force: true })
  }
})

test('sameHostKey() compares type and key material, not the comment', () => {
  assert.equal(sameHostKey('ssh-ed25519 AAAA root@a', 'ssh-ed25519 AAAA other'), true)
  assert.equal(sameHostKey('ssh-ed25519 AAAA', 'ssh-ed25519 AAAB'), false)
  assert.equal(sameHostKey('ssh-rsa AAAA', 'ssh-ed25519 AAAA'), false)
})
