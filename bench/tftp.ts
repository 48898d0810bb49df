/**
 * TFTP throughput: ours against dnsmasq and tftpd-hpa, with the same client (curl),
 * the same 64 MiB file, the same client namespace; each server in its own namespace on the bridge.
 *
 *   tools/node24 bench/tftp.ts [--size-mb 64] [--runs 3] [--blksize 512,1468]
 *
 * Prints a table and one JSON line (`{"bench":"tftp",...}`). Needs root, iproute2, curl,
 * dnsmasq (dnsmasq-base) and in.tftpd (tftpd-hpa). Not part of the test suite.
 */
import { createHash } from 'node:crypto'
import { createReadStream } from 'node:fs'
import { chmod, mkdir, mkdtemp, open, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { type Host, TestNet as Net, type NsProcess, type TestNet, waitFor } from '../tools/netns.ts'

const { values } = parseArgs({
  options: {
    'size-mb': { type: 'string', default: '64' },
    runs: { type: 'string', default: '3' },
    blksize: { type: 'string', default: '512,1468' },
  },
})
const sizeMb = Number(values['size-mb'])
const runs = Number(values.runs)
const blksizes = (values.blksize ?? '').split(',').map(Number)
const repo = join(import.meta.dirname, '..')

async function makeFile(path: string, bytes: number): Promise<string> {
  // Pseudo-random content (so no layer can compress or dedupe it), written in 1 MiB steps.
  const handle = await open(path, 'w')
  const step = Buffer.alloc(1024 * 1024)
  let x = 0x12345678
  for (let written = 0; written < bytes; written += step.length) {
    for (let i = 0; i < step.length; i += 4) {
      x ^= x << 13
      x ^= x >>> 17
      x ^= x << 5
      step.writeInt32LE(x | 0, i)
    }
    await handle.write(step, 0, Math.min(step.length, bytes - written))
  }
  await handle.close()
  return sha256(path)
}

async function sha256(path: string): Promise<string> {
  const hash = createHash('sha256')
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer)
  return hash.digest('hex')
}

interface ServerSpec {
  readonly name: string
  start(host: Host, root: string): Promise<NsProcess>
}

async function waitUdp69(host: Host, proc: NsProcess): Promise<void> {
  await waitFor(
    `${proc.pid} to listen on UDP 69`,
    async () => {
      if (proc.child.exitCode !== null) throw new Error(`server exited: ${proc.output()}`)
      const out = await host.run(['ss', '-ulnH', 'sport = :69'])
      return out.trim() === '' ? undefined : true
    },
    10000,
  )
}

const servers: ServerSpec[] = [
  {
    name: 'ours',
    async start(host, root) {
      const p = host.spawn([
        join(repo, 'tools/node24'),
        join(repo, 'tools/pxe/tftp-run.ts'),
        '--root',
        root,
        '--quiet',
      ])
      await waitFor('our TFTP server', () => (p.output().includes('pxe.listening') ? true : undefined), 20000)
      return p
    },
  },
  {
    name: 'dnsmasq',
    async start(host, root) {
      const p = host.spawn([
        'dnsmasq',
        '--no-daemon',
        '--port=0',
        '--enable-tftp',
        `--tftp-root=${root}`,
        '--user=root',
        '--pid-file=',
        '--conf-file=/dev/null',
        '--log-facility=-',
      ])
      await waitUdp69(host, p)
      return p
    },
  },
  {
    name: 'tftpd-hpa',
    async start(host, root) {
      const p = host.spawn(['in.tftpd', '-L', '-u', 'root', '-s', root])
      await waitUdp69(host, p)
      return p
    },
  },
]

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.floor(s.length / 2)] ?? Number.NaN
}

async function fetchOnce(client: Host, server: Host, blksize: number, out: string): Promise<number> {
  const stdout = await client.run([
    'curl',
    '-sS',
    '--tftp-blksize',
    String(blksize),
    '-o',
    out,
    '-w',
    '%{time_total}',
    `tftp://${server.ip}/bench.bin`,
  ])
  return Number(stdout.trim())
}

async function main(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'tftp-bench-'))
  const root = join(dir, 'root')
  await mkdir(root)
  await chmod(dir, 0o755)
  await chmod(root, 0o755)
  const bytes = sizeMb * 1024 * 1024
  const file = join(root, 'bench.bin')
  const want = await makeFile(file, bytes)
  await chmod(file, 0o644)
  const out = join(dir, 'out.bin')
  let net: TestNet | undefined
  const times = new Map<string, number[]>()
  try {
    net = await Net.create('bench')
    // One namespace per server, all running at once, and the runs interleaved (each round
    // fetches from every server in turn): load from elsewhere on the machine then weighs
    // on all three alike instead of on whichever happened to run during it.
    const cli = await net.host('cli', '10.98.0.100/24')
    const hosts: { spec: ServerSpec; host: Host }[] = []
    for (const [i, spec] of servers.entries()) {
      const host = await net.host(`srv${i}`, `10.98.0.${i + 1}/24`)
      await spec.start(host, root)
      hosts.push({ spec, host })
    }
    for (let r = 0; r < runs; r++) {
      for (const blksize of blksizes) {
        for (const { spec, host } of hosts) {
          await rm(out, { force: true })
          const seconds = await fetchOnce(cli, host, blksize, out)
          const got = await sha256(out)
          if (got !== want)
            throw new Error(`${spec.name} blksize ${blksize}: the download differs (sha256 ${got})`)
          const key = `${spec.name}/${blksize}`
          times.set(key, [...(times.get(key) ?? []), seconds])
          process.stderr.write(`run ${r + 1} ${key}: ${seconds.toFixed(2)} s\n`)
        }
      }
    }
  } finally {
    await net?.destroy() // stops the servers (by PID) and removes the namespaces
    await rm(dir, { recursive: true, force: true })
  }
  const results = [...times].map(([key, t]) => {
    const [server = '', blksize = ''] = key.split('/')
    return { server, blksize: Number(blksize), runs: t, mbps: bytes / 1024 / 1024 / median(t) }
  })
  const rate = (server: string, blksize: number): number =>
    results.find((r) => r.server === server && r.blksize === blksize)?.mbps ?? Number.NaN
  const best = (server: string, blksize: number): number => {
    const r = results.find((x) => x.server === server && x.blksize === blksize)
    return r === undefined ? Number.NaN : bytes / 1024 / 1024 / Math.min(...r.runs)
  }
  const rows = blksizes.map((b) => ({
    blksize: b,
    ours: rate('ours', b),
    dnsmasq: rate('dnsmasq', b),
    tftpdHpa: rate('tftpd-hpa', b),
    oursOverDnsmasq: rate('ours', b) / rate('dnsmasq', b),
    oursOverTftpdHpa: rate('ours', b) / rate('tftpd-hpa', b),
    // Best runs: the least disturbed by other load, a second view on the same data.
    bestOursOverDnsmasq: best('ours', b) / best('dnsmasq', b),
    bestOursOverTftpdHpa: best('ours', b) / best('tftpd-hpa', b),
  }))
  const f = (x: number, d = 1): string => x.toFixed(d).padStart(9)
  console.log(
    `\nTFTP ${sizeMb} MiB with curl, median of ${runs} runs (MiB/s); ratios of medians (and of best runs)`,
  )
  console.log(' blksize      ours   dnsmasq tftpd-hpa   ours/dnsmasq    ours/tftpd-hpa')
  for (const r of rows) {
    console.log(
      `${String(r.blksize).padStart(8)} ${f(r.ours)} ${f(r.dnsmasq)} ${f(r.tftpdHpa)}  ${r.oursOverDnsmasq.toFixed(2)}x (${r.bestOursOverDnsmasq.toFixed(2)}x)  ${r.oursOverTftpdHpa.toFixed(2)}x (${r.bestOursOverTftpdHpa.toFixed(2)}x)`,
    )
  }
  console.log(
    JSON.stringify({
      bench: 'tftp',
      sizeMiB: sizeMb,
      runs,
      node: process.version,
      rows: rows.map((r) => ({
        ...r,
        ours: +r.ours.toFixed(2),
        dnsmasq: +r.dnsmasq.toFixed(2),
        tftpdHpa: +r.tftpdHpa.toFixed(2),
        oursOverDnsmasq: +r.oursOverDnsmasq.toFixed(3),
        oursOverTftpdHpa: +r.oursOverTftpdHpa.toFixed(3),
        bestOursOverDnsmasq: +r.bestOursOverDnsmasq.toFixed(3),
        bestOursOverTftpdHpa: +r.bestOursOverTftpdHpa.toFixed(3),
      })),
      raw: results,
    }),
  )
}

await main()
