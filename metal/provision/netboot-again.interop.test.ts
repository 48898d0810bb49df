/**
 * netbootAgain() over a real SSH session (lib/ssh against OpenSSH in a network namespace). The
 * server's machine is a stand-in: in sshd's private mount namespace a tmpfs makes
 * /sys/firmware/efi exist, and a stand-in `efibootmgr` (OVMF's entries, BootNext kept in a file)
 * and stand-in `systemctl`/`reboot` (which only record their call) come first on root's PATH
 * (/usr/local/sbin), with `systemctl` also bound over /usr/bin/systemctl. Nothing reaches the host.
 * Needs root and iproute2, like the lib/ssh session tests.
 */
import assert from 'node:assert/strict'
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, test } from 'node:test'
import { type Host, sh as run, sshdConfig, TestNet, waitFor, within } from '../../tools/netns.ts'

const SERVER = '10.95.0.10'
const MAC = '52:54:00:12:34:56'
let dir = ''
let net: TestNet | undefined
let ctl: Host
let hostPub = ''

const EFIBOOTMGR = (state: string, calls: string) => `#!/bin/sh
echo "efibootmgr $*" >> ${calls}
list() {
  if [ -f ${state} ]; then echo "BootNext: $(cat ${state})"; fi
  printf 'BootCurrent: 0004\\nTimeout: 0 seconds\\nBootOrder: 0004,0001,0000\\n'
  printf 'Boot0000* UiApp\\tFvVol(7cb8bdc9-f8eb-4f34-aaea-3ee4af6516a1)/FvFile(462caa21-7614-4503-836e-8ab6f4662331)\\n'
  printf 'Boot0001* UEFI PXEv4 (MAC:525400123456)\\tPciRoot(0x0)/Pci(0x2,0x0)/MAC(525400123456,1)/IPv4(0.0.0.00.0.0.0,0,0)\\n'
  printf 'Boot0004* Fedora\\tHD(1,GPT,5f1a0c8e-2f6e-4a3c-9d8e-0b1c2d3e4f50,0x800,0x12c000)/File(\\\\EFI\\\\fedora\\\\shimx64.efi)\\n'
}
case "$1" in
  -v) list ;;
  --bootnext) echo "$2" > ${state}; list ;;
  *) echo "stand-in efibootmgr: unexpected arguments: $*" >&2; exit 2 ;;
esac
`

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'netboot-again-'))
  net = await TestNet.create('nbagain')
  for (const name of ['host_ed25519', 'client_ed25519']) {
    await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(dir, name)])
  }
  await writeFile(join(dir, 'authorized_keys'), await readFile(join(dir, 'client_ed25519.pub')), {
    mode: 0o600,
  })
  await writeFile(
    join(dir, 'sshd_config'),
    sshdConfig({
      hostKey: join(dir, 'host_ed25519'),
      listen: SERVER,
      pidFile: join(dir, 'sshd.pid'),
      authorizedKeys: join(dir, 'authorized_keys'),
    }),
  )
  hostPub = (await readFile(join(dir, 'host_ed25519.pub'), 'utf8')).trim()
  const fake = join(dir, 'fake')
  await mkdir(fake)
  const calls = join(dir, 'calls')
  await writeFile(join(fake, 'efibootmgr'), EFIBOOTMGR(join(dir, 'bootnext'), calls))
  const recorder = `#!/bin/sh\necho "$(basename "$0") $*" >> ${calls}\n`
  await writeFile(join(fake, 'systemctl'), recorder)
  await writeFile(join(fake, 'reboot'), recorder)
  for (const f of ['efibootmgr', 'systemctl', 'reboot']) await chmod(join(fake, f), 0o755)
  const node = await net.host('node', `${SERVER}/24`)
  ctl = await net.host('ctl', '10.95.0.2/24')
  await run('mkdir', ['-p', '/run/sshd'])
  // `ip netns exec` gives the process its own mount namespace (slave of the host's): these mounts
  // stay in it, and end with it.
  const start = [
    'set -e',
    'mount -t tmpfs tmpfs /usr/local/sbin',
    `cp ${fake}/efibootmgr ${fake}/systemctl ${fake}/reboot /usr/local/sbin/`,
    `mount --bind ${fake}/systemctl /usr/bin/systemctl`,
    'mount -t tmpfs tmpfs /sys/firmware',
    'mkdir /sys/firmware/efi',
    `exec /usr/sbin/sshd -D -e -f ${join(dir, 'sshd_config')}`,
  ].join('\n')
  const sshd = node.spawn(['sh', '-c', start])
  await waitFor('sshd', () => (/Server listening/.test(sshd.output()) ? true : undefined), 5000)
})

after(async () => {
  await net?.destroy()
  await rm(dir, { recursive: true, force: true })
})

/** Runs netbootAgain() in a Node process inside ctl, against the server, with `knownHostKey`. */
async function netbootFromCtl(knownHostKey: string): Promise<{ result: string; detail: string }> {
  const again = new URL('./netboot-again.ts', import.meta.url).href
  const ssh = new URL('../../lib/ssh/index.ts', import.meta.url).href
  const code = `
    import { netbootAgain } from '${again}'
    import { connectSsh } from '${ssh}'
    import { readFileSync } from 'node:fs'
    const privateKey = readFileSync(${JSON.stringify(join(dir, 'client_ed25519'))})
    const m = { name: 'metal1', ip: '${SERVER}', mac: '${MAC}' }
    const outcome = await netbootAgain(m, () =>
      connectSsh({ host: '${SERVER}', privateKey, knownHostKey: ${JSON.stringify(knownHostKey)}, retries: 1 }))
    process.stdout.write('OUTCOME ' + JSON.stringify(outcome) + '\\n', () => process.exit(0))
  `
  const p = ctl.spawn([process.execPath, '--input-type=module', '-e', code])
  const exit = await within(p.exited, 30_000, 'timeout')
  if (exit === 'timeout') await p.kill('SIGKILL')
  const line = /^OUTCOME (.*)$/m.exec(p.output())?.[1]
  assert.ok(exit === 0 && line !== undefined, `client process failed (${exit}):\n${p.output()}`)
  return JSON.parse(line) as { result: string; detail: string }
}

const calls = async () => (await readFile(join(dir, 'calls'), 'utf8').catch(() => '')).trim().split('\n')

test('netbootAgain() refuses a host whose key is not the recorded one, and runs nothing there (real sshd)', async () => {
  const outcome = await netbootFromCtl(
    'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHN0cmFuZ2VyIGtleSBub3QgdGhlIG9uZQ',
  )
  assert.equal(outcome.result, 'manual')
  assert.match(
    outcome.detail,
    /^cannot connect to it over SSH \(Cannot connect to 10\.95\.0\.10: its SSH host key changed/,
  )
  assert.deepEqual(await calls(), [''])
})

test('netbootAgain() sets BootNext to the PXE entry naming the MAC and reboots it once the session ended (real sshd)', async () => {
  const outcome = await netbootFromCtl(hostPub)
  assert.deepEqual(outcome, {
    result: 'rebooted',
    detail: `BootNext set to Boot0001 "UEFI PXEv4 (MAC:525400123456)" names its MAC ${MAC}; rebooting it to netboot once`,
  })
  // The reboot runs detached, a second after the command returned: wait for it, not for a while.
  await waitFor('the stand-in reboot', async () =>
    (await calls()).includes('systemctl reboot') ? true : undefined,
  )
  assert.deepEqual(await calls(), ['efibootmgr -v', 'efibootmgr --bootnext 0001', 'systemctl reboot'])
  assert.equal((await readFile(join(dir, 'bootnext'), 'utf8')).trim(), '0001')
})
