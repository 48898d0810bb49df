/**
 * DHCP transactions per second: ours (full mode) against dnsmasq, with the same 200
 * static hosts, the same load client (tools/pxe/dhcp-test-client.ts, our codec) and the
 * same two network namespaces (server, client) on a bridge. A transaction is
 * DISCOVER -> OFFER -> REQUEST -> ACK for one MAC; the client keeps --window of them in
 * flight and runs --rounds passes over the 200 MACs.
 *
 *   tools/node24 bench/dhcp.ts [--clients 200] [--window 32] [--rounds 5] [--runs 3]
 *
 * Prints a table and one JSON line (`{"bench":"dhcp",...}`). Needs root, iproute2 and
 * dnsmasq (dnsmasq-base). Not part of the test suite.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { type Host, type NsProcess, TestNet, waitFor } from '../tools/netns.ts'

const { values } = parseArgs({
  options: {
    clients: { type: 'string', default: '200' },
    window: { type: 'string', default: '32' },
    rounds: { type: 'string', default: '5' },
    runs: { type: 'string', default: '3' },
  },
})
const clients = Number(values.clients)
const runs = Number(values.runs)
const repo = join(import.meta.dirname, '..')
const node24 = join(repo, 'tools/node24')

// The same MACs the load client uses (02:00:00:00:hi:lo), unique addresses in 10.77.0.0/16.
const hosts = Array.from({ length: clients }, (_, i) => ({
  name: `m${i}`,
  mac: `02:00:00:00:${((i >> 8) & 255).toString(16).padStart(2, '0')}:${(i & 255).toString(16).padStart(2, '0')}`,
  ip: `10.77.${1 + Math.floor(i / 250)}.${1 + (i % 250)}`,
}))

interface Result {
  readonly transactions: number
  readonly failures: number
  readonly seconds: number
  readonly tps: number
  readonly p50ms: number | null
  readonly p99ms: number | null
}

interface ServerSpec {
  readonly name: string
  start(host: Host, dir: string): Promise<NsProcess>
}

const ours: ServerSpec = {
  name: 'ours (full mode)',
  async start(host) {
    const proc = host.spawn([
      node24,
      join(repo, 'tools/pxe/dhcp-run.ts'),
      '--config',
      JSON.stringify({
        interface: host.ifname,
        serverAddress: host.ip,
        mode: 'full',
        subnetMask: '255.255.0.0',
        gateway: '10.77.0.1',
        dns: ['10.77.0.1'],
        machines: hosts,
        quiet: true,
      }),
    ])
    await waitFor(
      `our DHCP server (${proc.output()})`,
      () => (/pxe\.listening/.test(proc.output()) ? true : undefined),
      15000,
    )
    return proc
  },
}

const dnsmasq: ServerSpec = {
  name: 'dnsmasq',
  async start(host, dir) {
    const hostsFile = join(dir, 'dhcp-hosts')
    await writeFile(hostsFile, hosts.map((h) => `${h.mac},${h.ip},${h.name}`).join('\n'))
    const proc = host.spawn([
      'dnsmasq',
      '--keep-in-foreground',
      '--conf-file=/dev/null',
      '--port=0',
      '--interface=eth0',
      '--bind-interfaces',
      '--dhcp-range=10.77.0.0,static,255.255.0.0,1h',
      `--dhcp-hostsfile=${hostsFile}`,
      '--dhcp-option=3,10.77.0.1',
      '--dhcp-option=6,10.77.0.1',
      `--dhcp-leasefile=${join(dir, 'leases')}`,
      `--pid-file=${join(dir, 'pid')}`,
      '--no-ping',
      '--user=root',
      '--log-facility=-',
    ])
    await waitFor(
      `dnsmasq to listen (${proc.output()})`,
      async () => ((await host.run(['ss', '-uln'])).includes(':67 ') ? true : undefined),
      10000,
    )
    return proc
  },
}

async function measure(spec: ServerSpec): Promise<Result[]> {
  const out: Result[] = []
  for (let run = 0; run < runs; run++) {
    const lab = await TestNet.create('bdhcp')
    const dir = await mkdtemp(join(tmpdir(), 'hl-bench-dhcp-'))
    try {
      const server = await lab.host('server', '10.77.0.2/16')
      const client = await lab.host('client', '')
      await client.run(['ip', 'route', 'add', '255.255.255.255/32', 'dev', 'eth0'])
      await spec.start(server, dir)
      const text = await client.run([
        node24,
        join(repo, 'tools/pxe/dhcp-test-client.ts'),
        'load',
        '--clients',
        String(clients),
        '--window',
        String(values.window),
        '--rounds',
        String(values.rounds),
      ])
      out.push(JSON.parse(text.trim().split('\n').pop() as string) as Result)
    } finally {
      await lab.destroy()
      await rm(dir, { recursive: true, force: true })
    }
  }
  return out
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.floor(s.length / 2)] as number
}

const results: Record<string, Result[]> = {}
for (const spec of [ours, dnsmasq]) results[spec.name] = await measure(spec)

console.log(
  `DHCP DISCOVER->ACK, ${clients} static hosts, window ${values.window}, ${values.rounds} rounds, ${runs} runs`,
)
console.log('server              | tps (median) | runs (tps)            | failures | p50 ms | p99 ms')
console.log('--------------------|--------------|-----------------------|----------|--------|-------')
for (const [name, rs] of Object.entries(results)) {
  const last = rs[rs.length - 1] as Result
  console.log(
    `${name.padEnd(20)}| ${median(rs.map((r) => r.tps))
      .toFixed(0)
      .padStart(12)} | ${rs
      .map((r) => r.tps.toFixed(0))
      .join(', ')
      .padEnd(
        21,
      )} | ${String(rs.reduce((n, r) => n + r.failures, 0)).padStart(8)} | ${(last.p50ms ?? 0).toFixed(2).padStart(6)} | ${(last.p99ms ?? 0).toFixed(2).padStart(6)}`,
  )
}
const oursTps = median((results[ours.name] as Result[]).map((r) => r.tps))
const theirsTps = median((results[dnsmasq.name] as Result[]).map((r) => r.tps))
console.log(`ratio ours/dnsmasq: ${(oursTps / theirsTps).toFixed(2)}x`)
console.log(
  JSON.stringify({
    bench: 'dhcp',
    clients,
    window: Number(values.window),
    rounds: Number(values.rounds),
    oursTps: Math.round(oursTps),
    dnsmasqTps: Math.round(theirsTps),
    ratio: Number((oursTps / theirsTps).toFixed(2)),
    runs: results,
  }),
)
