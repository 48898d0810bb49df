/**
 * Power-on to installer kernel running, with a 100 MB initrd, same VM and firmware
 * (QEMU q35, OVMF with the NIC's iPXE ROM, 1 GiB, TCG): ours vs the seed's stack.
 *
 *   ours:  `homelab metal` (DHCP, then kernel and initrd over HTTP from the ISO in place)
 *   seed:  dnsmasq for DHCP and TFTP, GRUB (grubx64.efi) loading kernel and initrd over
 *          TFTP as the seed's grub.cfg does, nginx for HTTP (kickstarts)
 *
 * The time runs from QEMU's start (both servers already listening) to the first line the
 * installer's /init prints. Run as root: tools/node24 bench/boot.ts [--runs 1] [--initrd-mb 100]
 */
import { randomBytes } from 'node:crypto'
import { copyFile, cp, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { buildTestOs } from '../lab/testos/build.ts'
import { CpioArchive } from '../lab/testos/cpio.ts'
import { sh, spawnDnsmasq, TestNet, waitFor, within } from '../tools/netns.ts'
import { startVm } from '../tools/qemu.ts'

const { values } = parseArgs({
  options: { runs: { type: 'string', default: '1' }, 'initrd-mb': { type: 'string', default: '100' } },
})
const runs = Number(values.runs)
const initrdMb = Number(values['initrd-mb'])
const repo = join(import.meta.dirname, '..')
const MAC = '52:54:00:85:00:10'
const BANNER = /homelab TEST OS \(not Fedora\)/

async function bigTree(dir: string): Promise<{ tree: string; iso: string; sha: string }> {
  const os = await buildTestOs({ cacheDir: join(repo, '.cache') })
  const tree = join(dir, 'tree')
  await cp(os.treeDir, tree, { recursive: true })
  // A second, uncompressed cpio archive appended to the initramfs: the kernel unpacks both.
  const padding = new CpioArchive().file('padding.bin', randomBytes(initrdMb * 1024 * 1024)).toBuffer()
  const initrd = join(tree, 'images/pxeboot/initrd.img')
  await writeFile(initrd, Buffer.concat([await readFile(initrd), padding]))
  const iso = join(dir, 'big.iso')
  await sh('xorriso', ['-as', 'mkisofs', '-quiet', '-R', '-J', '-o', iso, tree])
  const sha = (await sh('sha256sum', [iso])).split(' ')[0] ?? ''
  return { tree, iso, sha }
}

function config(sha: string, dir: string): string {
  return `network: { interface: eth0, subnet: 10.85.0.0/24, gateway: 10.85.0.1, controller: 10.85.0.2, dhcp: { mode: full } }
machines:
  - { name: bench0, mac: "${MAC}", ip: 10.85.0.10, role: server, disk: vda, nic: eth0 }
cluster: { k3sVersion: v1.33.5+k3s1, endpoint: 10.85.0.10 }
os: { release: 43, iso: { url: "https://example.invalid/big.iso", sha256: "${sha}" }, timezone: UTC, sshPublicKey: ${join(dir, 'id.pub')} }
gitops: { seed: { url: "https://example.com/homelab" }, domain: lab.home.arpa }
`
}

async function bootOnce(net: TestNet): Promise<number> {
  const started = Date.now()
  const vm = await startVm(net, {
    mac: MAC,
    firmware: 'uefi',
    rom: 'ipxe',
    boot: { kind: 'network' },
    memoryMb: 1024,
  })
  // A timeline of console milestones, to show where the time goes.
  const milestones: Array<[string, RegExp]> = [
    ['iPXE starts', /iPXE/],
    ['DHCP done', /ok\s*$|Configuring .*ok/m],
    ['boot loader or kernel fetch', /boot\.ipxe|grubx64|Welcome to GRUB/],
    ['kernel running', /Linux version/],
    ['installer /init', BANNER],
  ]
  const seen = new Map<string, number>()
  const poll = setInterval(() => {
    void vm.console().then((text) => {
      for (const [name, re] of milestones)
        if (!seen.has(name) && re.test(text)) seen.set(name, (Date.now() - started) / 1000)
    })
  }, 100)
  try {
    await vm.waitForLine(BANNER, 600_000)
    const total = (Date.now() - started) / 1000
    console.log(
      `  timeline: ${[...seen].map(([n, t]) => `${n} ${t.toFixed(1)}s`).join(', ')}, total ${total.toFixed(1)}s`,
    )
    return total
  } finally {
    clearInterval(poll)
    await vm.stop()
  }
}

async function ours(dir: string, sha: string, iso: string): Promise<number> {
  await mkdir(join(repo, '.cache/iso'), { recursive: true })
  await copyFile(iso, join(repo, '.cache/iso', `${sha}.iso`))
  await writeFile(join(dir, 'homelab.yaml'), config(sha, dir))
  const net = await TestNet.create('bours')
  try {
    const ctl = await net.host('ctl', '10.85.0.2/24')
    const metal = ctl.spawn([
      join(repo, 'bin/homelab'),
      'metal',
      '--json',
      '--skip-doctor',
      '--config',
      join(dir, 'homelab.yaml'),
      '--state',
      join(dir, 'state-ours'),
      '--kernel-args',
      'console=ttyS0',
    ])
    await waitFor(
      'homelab metal to listen',
      () => ((metal.output().match(/"pxe.listening"/g) ?? []).length >= 3 ? true : undefined),
      120_000,
    )
    const seconds = await bootOnce(net)
    await metal.kill('SIGINT')
    // Where the time went, from the server's own events (seconds after the server started).
    const events = metal
      .output()
      .split('\n')
      .filter(
        (l) =>
          l.startsWith('{"type":"dhcp"') ||
          l.startsWith('{"type":"http.served"') ||
          l.startsWith('{"type":"tftp.end"'),
      )
    for (const line of events) {
      const e = JSON.parse(line) as {
        type: string
        message?: string
        path?: string
        file?: string
        bytes?: number
        ms?: number
      }
      console.log(
        `  ours: ${e.type} ${e.message ?? e.path ?? e.file ?? ''}${e.ms === undefined ? '' : ` ${e.bytes} bytes in ${e.ms} ms`}`,
      )
    }
    return seconds
  } finally {
    await net.destroy()
  }
}

async function seed(dir: string, tree: string): Promise<number> {
  const tftp = join(dir, 'tftp')
  await mkdir(join(tftp, 'grub'), { recursive: true })
  await copyFile(join(tree, 'EFI/BOOT/grubx64.efi'), join(tftp, 'grubx64.efi'))
  await copyFile(join(tree, 'images/pxeboot/vmlinuz'), join(tftp, 'vmlinuz'))
  await copyFile(join(tree, 'images/pxeboot/initrd.img'), join(tftp, 'initrd.img'))
  // The seed's grub.cfg: kernel and initrd relative to the TFTP root, kickstart from nginx by MAC.
  // biome-ignore lint/suspicious/noTemplateCurlyInString: a GRUB variable
  const mac = '${net_default_mac}'
  await writeFile(
    join(tftp, 'grub/grub.cfg'),
    `set timeout=1\nmenuentry 'install' {\n    linux vmlinuz ip=dhcp inst.ks=http://10.85.0.2/init-config/${mac}.ks console=ttyS0\n    initrd initrd.img\n}\n`,
  )
  const www = join(dir, 'www/init-config')
  await mkdir(www, { recursive: true })
  await writeFile(
    join(www, `${MAC}.ks`),
    'network --bootproto=static --ip=10.85.0.10 --netmask=255.255.255.0 --hostname=bench0\n',
  )
  const prefix = join(dir, 'nginx')
  await mkdir(prefix, { recursive: true })
  await writeFile(
    join(prefix, 'nginx.conf'),
    `user root;\ndaemon off;\npid ${prefix}/nginx.pid;\nerror_log stderr warn;\nevents {}\nhttp {\n  access_log off;\n  sendfile on;\n  client_body_temp_path ${prefix}/body;\n  server { listen 10.85.0.2:80; root ${join(dir, 'www')}; }\n}\n`,
  )
  const net = await TestNet.create('bseed')
  try {
    const ctl = await net.host('ctl', '10.85.0.2/24')
    const dnsmasq = spawnDnsmasq(ctl, {
      range: '10.85.0.100,10.85.0.200,12h',
      leaseFile: join(dir, 'leases'),
      extra: [
        '--dhcp-match=set:efi-x86_64,option:client-arch,7',
        '--dhcp-match=set:efi-x86_64,option:client-arch,9',
        '--dhcp-boot=tag:efi-x86_64,grubx64.efi',
        '--enable-tftp',
        `--tftp-root=${tftp}`,
      ],
    })
    const nginx = ctl.spawn(['nginx', '-c', join(prefix, 'nginx.conf'), '-p', prefix])
    await waitFor('dnsmasq', () => (/DHCP, IP range/.test(dnsmasq.output()) ? true : undefined), 10_000)
    await new Promise((r) => setTimeout(r, 500))
    if (nginx.child.exitCode !== null) throw new Error(`nginx failed: ${nginx.output()}`)
    return await bootOnce(net)
  } finally {
    await net.destroy()
  }
}

const dir = await mkdtemp(join(tmpdir(), 'bench-boot-'))
let createdIso = 'none'
try {
  await sh('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(dir, 'id')])
  const { tree, iso, sha } = await bigTree(dir)
  createdIso = sha
  const results: { ours: number[]; seed: number[] } = { ours: [], seed: [] }
  for (let i = 0; i < runs; i++) {
    results.ours.push(await ours(dir, sha, iso))
    console.log(`ours run ${i + 1}: ${results.ours.at(-1)?.toFixed(1)} s`)
    results.seed.push((await within(seed(dir, tree), 900_000, Number.NaN)) as number)
    console.log(`seed run ${i + 1}: ${results.seed.at(-1)?.toFixed(1)} s`)
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? Number.NaN
  const o = median(results.ours)
  const s = median(results.seed)
  console.log(
    `\nPower-on to installer kernel running, ${initrdMb} MB initrd, OVMF + iPXE ROM, TCG, median of ${runs}`,
  )
  console.log(`  ours (HTTP kernel and initrd, ISO in place)      ${o.toFixed(1)} s`)
  console.log(`  seed (dnsmasq TFTP, GRUB over TFTP, nginx)        ${s.toFixed(1)} s`)
  console.log(`  ratio ours/seed: ${(o / s).toFixed(2)}x (goal: at most 0.5x)`)
  console.log(
    JSON.stringify({
      bench: 'boot',
      initrdMb,
      runs,
      oursSeconds: results.ours,
      seedSeconds: results.seed,
      ratio: Number((o / s).toFixed(3)),
    }),
  )
} finally {
  await rm(dir, { recursive: true, force: true })
  for (const f of await readdir(join(repo, '.cache/iso')).catch(() => [] as string[])) {
    if (f.startsWith(createdIso)) await rm(join(repo, '.cache/iso', f), { force: true })
  }
}
