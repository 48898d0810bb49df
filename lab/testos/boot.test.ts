/**
 * End to end, without our PXE server: the test OS boots in QEMU (kernel + initrd loaded by QEMU),
 * gets a lease from dnsmasq, fetches its kickstart from a small HTTP server, reports each stage,
 * applies the kickstart's static address and root key, and answers SSH with the host key it reported.
 * A second machine gets a kickstart without an sshkey line and must report `failed` with the reason.
 *
 * Needs root, qemu-system-x86, dnsmasq-base, openssh-client; fetches the Debian packages once.
 *
 * @heavy: QEMU under software emulation; `npm test` runs it alone (tools/check.ts).
 */
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { promisify } from 'node:util'
import { TestNet, waitFor } from '../../tools/netns.ts'
import { startVm, type Vm } from '../../tools/qemu.ts'
import { buildTestOs, DEFAULT_CACHE_DIR } from './build.ts'

const exec = promisify(execFile)

/** A tiny HTTP server: serves files from a folder and prints each /report request as a JSON line. */
const HTTP_SERVER = `
const http = require('node:http'), fs = require('node:fs'), path = require('node:path')
const [dir, port] = process.argv.slice(1)
http.createServer((req, res) => {
  const url = new URL(req.url, 'http://x')
  if (url.pathname.startsWith('/report/')) {
    let body = ''
    req.on('data', (c) => { body += c })
    req.on('end', () => {
      const ip = req.socket.remoteAddress.replace(/^::ffff:/, '')
      console.log('REPORT ' + JSON.stringify({ ip, stage: url.pathname.slice(8), detail: url.searchParams.get('detail'), body }))
      res.writeHead(204).end()
    })
    return
  }
  const file = path.join(dir, path.basename(url.pathname))
  fs.readFile(file, (err, data) => {
    console.log('GET ' + url.pathname + ' ' + (err ? 404 : 200))
    if (err) { res.writeHead(404).end(); return }
    res.writeHead(200, { 'Content-Type': 'text/plain' }).end(data)
  })
}).listen(Number(port), '0.0.0.0', () => console.log('LISTENING'))
`

interface Report {
  ip: string
  stage: string
  detail: string | null
  body: string
}

function reports(output: string): Report[] {
  return output
    .split('\n')
    .filter((l) => l.startsWith('REPORT '))
    .map((l) => JSON.parse(l.slice(7)) as Report)
}

function kickstart(ip: string, hostname: string, pubkey: string | undefined, device = 'eth0'): string {
  return [
    '# a kickstart like metal/os/kickstart.ts renders (the test OS reads network and sshkey)',
    'text',
    'url --url="http://10.77.0.1/os"',
    'lang en_US.UTF-8',
    `network --bootproto=static --device=${device} --ip=${ip} --netmask=255.255.255.0 --gateway=10.77.0.1 --nameserver=10.77.0.1 --hostname=${hostname} --ipv6=auto --activate --onboot=yes`,
    'zerombr',
    'rootpw --lock',
    ...(pubkey === undefined ? [] : [`sshkey --username=root "${pubkey}"`]),
    'reboot',
    '%packages',
    '@^minimal-environment',
    '%end',
    '',
  ].join('\n')
}

test('the test OS boots, reports its stages, applies the kickstart and answers SSH (QEMU, no PXE server)', async () => {
  const os = await buildTestOs({ cacheDir: DEFAULT_CACHE_DIR })
  const dir = await mkdtemp(join(tmpdir(), 'hl-testos-'))
  const net = await TestNet.create('tos')
  const vms: Vm[] = []
  try {
    await exec('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'homelab-test', '-f', join(dir, 'key')])
    const pubkey = (await readFile(join(dir, 'key.pub'), 'utf8')).trim()
    const www = join(dir, 'www')
    await exec('mkdir', [www])
    // The NIC named by its MAC (any case), as the product's kickstart does.
    await writeFile(
      join(www, 'good.ks'),
      kickstart('10.77.0.60', 'node1', pubkey, '52:54:00:00:77:50'.toUpperCase()),
    )
    await writeFile(join(www, 'nokey.ks'), kickstart('10.77.0.61', 'node2', undefined))
    // A MAC no NIC has: like Anaconda, the whole network line is skipped and the lease stays.
    await writeFile(join(www, 'wrongnic.ks'), kickstart('10.77.0.62', 'node3', pubkey, '52:54:00:00:77:99'))

    const srv = await net.host('srv', '10.77.0.1/24')
    const http = srv.spawn([process.execPath, '-e', HTTP_SERVER, www, '80'])
    const dnsmasq = srv.spawn([
      'dnsmasq',
      '--no-daemon',
      '--port=0',
      '--interface=eth0',
      '--bind-interfaces',
      '--no-resolv',
      '--conf-file=/dev/null',
      '--dhcp-range=10.77.0.100,10.77.0.150,255.255.255.0,1h',
      '--dhcp-host=52:54:00:00:77:50,10.77.0.50',
      '--dhcp-host=52:54:00:00:77:51,10.77.0.51',
      '--dhcp-host=52:54:00:00:77:52,10.77.0.52',
      `--dhcp-leasefile=${join(dir, 'leases')}`,
      '--log-dhcp',
    ])
    await waitFor('the HTTP server', () => (http.output().includes('LISTENING') ? true : undefined), 5000)
    await waitFor('dnsmasq', () => (/DHCP, IP range/.test(dnsmasq.output()) ? true : undefined), 5000)

    const boot = (mac: string, ks: string) =>
      startVm(net, {
        mac,
        firmware: 'bios',
        boot: {
          kind: 'kernel',
          kernel: os.kernelPath,
          initrd: os.initrdPath,
          append: `inst.ks=http://10.77.0.1/${ks} console=ttyS0 loglevel=4`,
        },
      })
    // Both machines boot at once (two cores): the good one and the one whose kickstart has no key.
    const good = await boot('52:54:00:00:77:50', 'good.ks')
    vms.push(good)
    const bad = await boot('52:54:00:00:77:51', 'nokey.ks')
    vms.push(bad)
    const wrongNic = await boot('52:54:00:00:77:52', 'wrongnic.ks')
    vms.push(wrongNic)

    await good.waitForLine(/homelab TEST OS \(not Fedora\)/, 60_000)
    const ready = await good.waitForLine(/SSH ready on 10\.77\.0\.60:22/, 90_000)
    assert.match(ready, /homelab TEST OS \(not Fedora\): SSH ready on 10\.77\.0\.60:22 \(host node1\)/)

    const got = await waitFor(
      'the installed report',
      () => {
        const r = reports(http.output()).filter((x) => x.ip === '10.77.0.50' || x.ip === '10.77.0.60')
        return r.some((x) => x.stage === 'installed') ? r : undefined
      },
      10_000,
    )
    assert.deepEqual(
      got.map((r) => [r.stage, r.ip]),
      [
        ['started', '10.77.0.50'], // on the DHCP lease
        ['kickstart', '10.77.0.50'],
        ['installing', '10.77.0.50'],
        ['hostkey', '10.77.0.60'], // on the kickstart's static address
        ['nic', '10.77.0.60'],
        ['installed', '10.77.0.60'],
      ],
    )
    assert.match(
      got[0]?.detail ?? '',
      /homelab TEST OS \(not Fedora\) on 52:54:00:00:77:50, lease 10\.77\.0\.50\/24/,
    )
    assert.match(
      got[1]?.detail ?? '',
      /bootproto=static device=52:54:00:00:77:50 ip=10\.77\.0\.60 hostname=node1/i,
    )
    assert.equal(got[4]?.body, 'eth0', 'the name of the NIC with the MAC')
    const hostkey = got[3]?.body.trim() ?? ''
    assert.match(hostkey, /^ssh-ed25519 [A-Za-z0-9+/=]+ root@node1$/)

    // SSH with the reported host key pinned: the key really is the server's, and root's key works.
    const knownHosts = join(dir, 'known_hosts')
    await writeFile(knownHosts, `10.77.0.60 ${hostkey}\n`)
    const out = await srv.run([
      'ssh',
      '-i',
      join(dir, 'key'),
      '-o',
      'BatchMode=yes',
      '-o',
      'StrictHostKeyChecking=yes',
      '-o',
      `UserKnownHostsFile=${knownHosts}`,
      '-o',
      'ConnectTimeout=20',
      'root@10.77.0.60',
      'cat /etc/os-release; hostname; ip -4 -o addr show dev eth0',
    ])
    assert.match(out, /NAME="homelab TEST OS \(not Fedora\)"/)
    assert.match(out, /^node1$/m)
    assert.match(out, /inet 10\.77\.0\.60\/24/)

    // The machine without a key in its kickstart says why, and stays up.
    const failed = await bad.waitForLine(/=== .*FAILED:/, 60_000)
    assert.match(
      failed,
      /homelab TEST OS \(not Fedora\): FAILED: kickstart .*nokey\.ks has no sshkey --username=root/,
    )
    const badReports = reports(http.output()).filter((x) => x.ip === '10.77.0.51')
    assert.deepEqual(
      badReports.map((r) => r.stage),
      ['started', 'failed'],
    )
    assert.match(badReports[1]?.detail ?? '', /has no sshkey --username=root "KEY" line/)

    // No NIC has the kickstart's MAC: "not found", the line skipped, SSH on the DHCP address.
    assert.match(
      await wrongNic.waitForLine(/network --device=/, 90_000),
      /network --device=52:54:00:00:77:99: not found; skipping the network line \(the DHCP lease 10\.77\.0\.52 stays\)/,
    )
    await wrongNic.waitForLine(/SSH ready on 10\.77\.0\.52:22 \(host testos\)/, 90_000)
    const wrongReports = await waitFor(
      'the wrong-NIC machine installed report',
      () => {
        const r = reports(http.output()).filter((x) => x.ip === '10.77.0.52' || x.ip === '10.77.0.62')
        return r.some((x) => x.stage === 'installed') ? r : undefined
      },
      10_000,
    )
    assert.deepEqual(
      wrongReports.map((r) => [r.stage, r.ip]),
      [
        ['started', '10.77.0.52'],
        ['kickstart', '10.77.0.52'],
        ['installing', '10.77.0.52'],
        ['hostkey', '10.77.0.52'],
        ['installed', '10.77.0.52'],
      ],
      'no nic report and nothing from the static address: the network line was skipped',
    )
    assert.equal(
      await Promise.race([bad.exited, new Promise((r) => setTimeout(() => r('running'), 500))]),
      'running',
    )
  } finally {
    for (const vm of vms) await vm.stop()
    await net.destroy()
    await rm(dir, { recursive: true, force: true })
  }
})
