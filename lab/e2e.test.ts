/**
 * The README's main job for real, on a one-machine lab: `homelab lab up`, then the real
 * `homelab metal` wakes the machine (Wake-on-LAN -> the lab's power daemon -> QEMU with
 * OVMF and iPXE), serves it through the router's DHCP (proxy mode), boot.ipxe, kernel and
 * initrd over HTTP and its kickstart, follows it to SSH ready, and records its host key;
 * then we log in with the lab's key, see the test OS's boot entry first in the machine's UEFI
 * variables, reboot it (the same QEMU restarts, with the same disk and vars) and see it boot from
 * its disk; `homelab lab down` removes everything.
 * A unique prefix, interface, subnet (10.88.0.0/24) and state folder keep it apart from a
 * developer's lab. Needs root and the lab's packages (see docs/lab.md).
 *
 * @heavy: QEMU under software emulation; `npm test` runs it alone (tools/check.ts).
 */
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { promisify } from 'node:util'
import { Client } from 'ssh2'
import { poll } from '../lib/poll/index.ts'
import { homelab } from '../test/harness/homelab-cli.ts'
import { labPaths } from './state.ts'

const exec = promisify(execFile)

/** Logs in as root with the private key and runs one command. */
function sshRun(host: string, privateKey: string, command: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const client = new Client()
    const timer = setTimeout(() => {
      client.destroy()
      reject(new Error(`ssh ${host}: no answer in 20 s`))
    }, 20_000)
    client.on('error', (err) => {
      clearTimeout(timer)
      reject(err)
    })
    // A connection that ends without an error or the command's close must not leave the timer behind.
    client.on('close', () => {
      clearTimeout(timer)
      reject(new Error(`ssh ${host}: connection closed before the command finished`))
    })
    client.on('ready', () => {
      client.exec(command, (err, stream) => {
        if (err) {
          clearTimeout(timer)
          client.end()
          reject(err)
          return
        }
        let out = ''
        stream.on('data', (c: Buffer) => {
          out += c.toString()
        })
        stream.stderr.on('data', () => {})
        // Every way this can end settles the promise and clears the timer: an unhandled stream
        // error would otherwise fail the test from outside it and leave the timer running.
        stream.on('error', (e: Error) => {
          clearTimeout(timer)
          client.end()
          reject(e)
        })
        stream.on('close', () => {
          clearTimeout(timer)
          client.end()
          resolve(out)
        })
      })
    })
    try {
      client.connect({ host, port: 22, username: 'root', privateKey, readyTimeout: 20_000 })
    } catch (cause) {
      // ssh2 throws at once on a key it cannot parse
      clearTimeout(timer)
      reject(cause)
    }
  })
}

test('lab up + homelab metal installs a lab machine to SSH ready, which reboots from its disk in the same QEMU; lab down removes the lab', async () => {
  const id = randomBytes(3).toString('hex')
  const prefix = `hlt-e2e${id}`
  const iface = `hlte${id}`
  const dir = await mkdtemp(join(tmpdir(), 'hl-lab-e2e-'))
  const file = join(dir, 'homelab.yaml')
  await writeFile(
    file,
    `network:
  interface: ${iface}
  subnet: 10.88.0.0/24
  gateway: 10.88.0.1
  controller: 10.88.0.2
  dhcp: { mode: proxy }
machines:
  - { name: e2e0, mac: "52:54:00:88:00:10", ip: 10.88.0.10, role: server, disk: vda, nic: eth0 }
cluster: { k3sVersion: v1.33.5+k3s1, endpoint: 10.88.0.100 }
os: { release: 43, iso: test-os, timezone: UTC, sshPublicKey: .state/lab/id_ed25519.pub }
gitops: { seed: { url: "https://example.com/homelab" }, domain: lab.home.arpa }
`,
  )
  const paths = labPaths(join(dir, '.state'))
  try {
    const up = await homelab(['lab', 'up', '-c', file, '--prefix', prefix])
    assert.equal(up.code, 0, up.err + up.out)

    const started = Date.now()
    const metal = await homelab([
      'metal',
      '--skip-cluster',
      '-c',
      file,
      '--kernel-args',
      'console=ttyS0',
      ...[
        'waiting=180',
        'dhcp=120',
        'boot-loader=120',
        'kernel=120',
        'installer=120',
        'installed=120',
      ].flatMap((t) => ['--timeout', t]),
    ])
    const seconds = (Date.now() - started) / 1000
    const consoleText = await readFile(join(paths.vmsDir, 'e2e0', 'console.log'), 'utf8').catch(() => '')
    assert.equal(
      metal.code,
      0,
      `homelab metal failed after ${seconds} s:\n${metal.out}\n${metal.err}\n--- console ---\n${consoleText.slice(-3000)}`,
    )
    assert.match(metal.out, /^ {2}e2e0 +10\.88\.0\.10 +installed .*SSH ready at 10\.88\.0\.10$/m)
    // The whole path ran: the router leased (proxy mode), iPXE fetched boot.ipxe, the test OS booted.
    assert.match(metal.out, /boot http:\/\/10\.88\.0\.2\/boot\.ipxe/)
    assert.match(
      consoleText,
      /=== homelab TEST OS \(not Fedora\): SSH ready on 10\.88\.0\.10:22 \(host e2e0\) ===/,
    )
    assert.match(
      await readFile(paths.dnsmasqLog, 'utf8'),
      /DHCPACK\(eth0\) 10\.88\.0\.1\d\d 52:54:00:88:00:10/,
    )
    const recorded = JSON.parse(await readFile(join(dir, '.state', 'machines.json'), 'utf8')) as {
      machines: Record<string, { hostKey: string }>
    }
    assert.match(recorded.machines.e2e0?.hostKey ?? '', /^ssh-ed25519 /)

    // The lab's key logs in as root.
    const osRelease = await sshRun(
      '10.88.0.10',
      await readFile(paths.privateKey, 'utf8'),
      'cat /etc/os-release',
    )
    assert.match(osRelease, /homelab TEST OS \(not Fedora\)/)

    // The test OS installed itself: its entry is first in BootOrder of the machine's own UEFI vars.
    const key = await readFile(paths.privateKey, 'utf8')
    const entries = await sshRun('10.88.0.10', key, 'efibootmgr')
    const first = /^BootOrder: (\w{4})/m.exec(entries)?.[1]
    assert.match(entries, new RegExp(`^Boot${first}\\* homelab TEST OS \\(installed\\)`, 'm'), entries)

    // A guest reboot restarts the machine in the same QEMU (same disk, same vars): it boots from disk.
    const vmJson = join(paths.vmsDir, 'e2e0', 'vm.json')
    const before = JSON.parse(await readFile(vmJson, 'utf8')) as { pid: number; state: string }
    await sshRun('10.88.0.10', key, '( sleep 1; reboot ) </dev/null >/dev/null 2>&1 &')
    const fromDisk = await poll(
      async () =>
        /booted from disk \(installed\), SSH ready on 10\.88\.0\.10:22 \(host e2e0\)/.test(
          await readFile(join(paths.vmsDir, 'e2e0', 'console.log'), 'utf8'),
        )
          ? true
          : undefined,
      { what: 'e2e0 to boot from its disk', intervalMs: 500, timeoutMs: 180_000 },
    )
    assert.equal(fromDisk, true)
    assert.equal((await sshRun('10.88.0.10', key, 'efibootmgr')).match(/^BootCurrent: (\w{4})$/m)?.[1], first)
    const after = JSON.parse(await readFile(vmJson, 'utf8')) as { pid: number; state: string }
    assert.deepEqual([after.state, after.pid], ['on', before.pid])
  } finally {
    const down = await homelab(['lab', 'down', '-c', file, '--prefix', prefix])
    await rm(dir, { recursive: true, force: true })
    assert.equal(down.code, 0, down.err + down.out)
  }
  const { stdout } = await exec('ip', ['netns', 'list'])
  assert.doesNotMatch(stdout, new RegExp(prefix))
  await assert.rejects(exec('ip', ['link', 'show', 'dev', iface]))
})
