/**
 * `npm run bench`: every PXE benchmark in one run, one after the other on an otherwise
 * idle machine, then one table of ratios (ours / the tool users would pick instead).
 * Each benchmark is also runnable alone (see bench/README.md).
 */
import { spawn } from 'node:child_process'
import { join } from 'node:path'
import { parseArgs } from 'node:util'

// --small: smaller files, for a machine that is not idle (say so with the numbers).
const { values } = parseArgs({ options: { small: { type: 'boolean', default: false } } })
const small = values.small === true

const here = import.meta.dirname

function runBench(file: string, args: string[]): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    console.log(`\n▶ ${file} ${args.join(' ')}`)
    const child = spawn(process.execPath, [join(here, file), ...args], {
      stdio: ['ignore', 'pipe', 'inherit'],
    })
    let out = ''
    child.stdout.on('data', (c: Buffer) => {
      out += c.toString()
      process.stdout.write(c)
    })
    child.on('close', (code) => {
      const last = out
        .trim()
        .split('\n')
        .reverse()
        .find((l) => l.startsWith('{'))
      if (code !== 0 || last === undefined) reject(new Error(`${file} failed (exit ${code})`))
      else resolve(JSON.parse(last) as Record<string, unknown>)
    })
  })
}

const started = new Date()
const tftp = (await runBench('tftp.ts', ['--runs', '3', ...(small ? ['--size-mb', '16'] : [])])) as {
  rows: {
    blksize: number
    ours: number
    dnsmasq: number
    tftpdHpa: number
    oursOverDnsmasq: number
    oursOverTftpdHpa: number
  }[]
}
const dhcp = (await runBench('dhcp.ts', ['--runs', '3'])) as {
  oursTps: number
  dnsmasqTps: number
  ratio: number
}
const http = (await runBench('http.ts', ['--runs', '3', ...(small ? ['--size-mb', '256'] : [])])) as {
  oursMBps: number
  nginxMBps: number
  ratio: number
  oursCpuPerGiB: number
  nginxCpuPerGiB: number
  sizeMb: number
}
const scale = (await runBench(
  'scale.ts',
  small ? ['--kernel-mb', '4', '--initrd-mb', '16', '--image-mb', '64'] : [],
)) as {
  machines: number
  files: { path: string; mb: number }[]
  oursMBps: number
  nginxMBps: number
  ratio: number
  oursPeakRssMiB: number
  nginxPeakRssMiB: number
}

const rows: string[][] = [['benchmark', 'ours', 'theirs', 'ratio', 'goal']]
for (const r of tftp.rows) {
  rows.push([
    `TFTP ${small ? 16 : 64} MiB, curl blksize ${r.blksize} vs dnsmasq`,
    `${r.ours} MiB/s`,
    `${r.dnsmasq} MiB/s`,
    `${r.oursOverDnsmasq.toFixed(2)}x`,
    '>= 1.0x',
  ])
  rows.push([
    `TFTP ${small ? 16 : 64} MiB, curl blksize ${r.blksize} vs tftpd-hpa`,
    `${r.ours} MiB/s`,
    `${r.tftpdHpa} MiB/s`,
    `${r.oursOverTftpdHpa.toFixed(2)}x`,
    '>= 1.0x',
  ])
}
rows.push([
  'DHCP 200 clients DISCOVER->REQUEST vs dnsmasq',
  `${dhcp.oursTps} tx/s`,
  `${dhcp.dnsmasqTps} tx/s`,
  `${dhcp.ratio.toFixed(2)}x`,
  '>= 1.0x',
])
rows.push([
  `HTTP ${http.sizeMb} MiB, 4 parallel curl vs nginx`,
  `${http.oursMBps} MB/s`,
  `${http.nginxMBps} MB/s`,
  `${http.ratio.toFixed(2)}x`,
  '>= 0.8x',
])
rows.push([
  'HTTP server CPU per GiB sent (lower is better)',
  `${http.oursCpuPerGiB} CPU-s/GiB`,
  `${http.nginxCpuPerGiB} CPU-s/GiB`,
  `${(http.oursCpuPerGiB / http.nginxCpuPerGiB).toFixed(2)}x`,
  '',
])
rows.push([
  `Scale: ${scale.machines} machines, ${scale.files.reduce((n, f) => n + f.mb, 0)} MiB each, ISO in place vs nginx extracted`,
  `${scale.oursMBps} MB/s, peak RSS ${scale.oursPeakRssMiB} MiB`,
  `${scale.nginxMBps} MB/s, peak RSS ${scale.nginxPeakRssMiB} MiB`,
  `${scale.ratio.toFixed(2)}x`,
  '',
])
const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length))) ?? []
console.log(`\nPXE benchmarks, one run started ${started.toISOString()} (node ${process.version})`)
for (const r of rows) console.log(r.map((c, i) => c.padEnd(widths[i] ?? 0)).join('  '))
console.log(
  JSON.stringify({ bench: 'all', started: started.toISOString(), small, tftp: tftp.rows, dhcp, http, scale }),
)
