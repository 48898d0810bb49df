/**
 * HTTP throughput: serveHttp() against nginx (sendfile on), the same 1 GiB file, the same
 * client (4 parallel `curl -o /dev/null`) and the same two network namespaces (server and
 * client) on a bridge. Aggregate MB/s per run, median of the runs, ratio ours/nginx.
 *
 *   tools/node24 bench/http.ts [--size-mb 1024] [--runs 3] [--clients 4]
 *                              [--chunk-kb 4096] [--small-kb 128] [--nginx-workers 1] [--loopback]
 *
 * --loopback puts server and clients in one namespace and talks over its lo (no veth/bridge).
 * Prints a table and one JSON line (`{"bench":"http",...}`). Needs root, iproute2, curl and
 * nginx (nginx-light). Not part of the test suite.
 */
import { chmod, mkdir, mkdtemp, open, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { type Host, type NsProcess, TestNet, waitFor } from '../tools/netns.ts'

const { values } = parseArgs({
  options: {
    'size-mb': { type: 'string', default: '1024' },
    runs: { type: 'string', default: '3' },
    clients: { type: 'string', default: '4' },
    'chunk-kb': { type: 'string', default: '' },
    'small-kb': { type: 'string', default: '' },
    'nginx-workers': { type: 'string', default: '1' },
    loopback: { type: 'boolean', default: false },
  },
})
const sizeMb = Number(values['size-mb'])
const runs = Number(values.runs)
const clients = Number(values.clients)
const chunkKb = values['chunk-kb'] === '' ? undefined : Number(values['chunk-kb'])
const smallKb = values['small-kb'] === '' ? undefined : Number(values['small-kb'])
const nginxWorkers = Number(values['nginx-workers'])
const loopback = values.loopback === true
const repo = join(import.meta.dirname, '..')
const OURS_PORT = 8080
const NGINX_PORT = 8081

/** Pseudo-random bytes (nothing can compress or dedupe them), written 1 MiB at a time. */
async function makeFile(path: string, bytes: number): Promise<void> {
  const handle = await open(path, 'w')
  const block = Buffer.alloc(1024 * 1024)
  let state = 0x9e3779b9
  for (let done = 0; done < bytes; done += block.length) {
    for (let i = 0; i < block.length; i += 4) {
      state = (Math.imul(state, 1664525) + 1013904223) >>> 0
      block.writeUInt32LE(state, i)
    }
    await handle.write(block, 0, Math.min(block.length, bytes - done))
  }
  await handle.close()
}

function oursScript(root: string, host: string): string {
  const options = [
    `host: ${JSON.stringify(host)}`,
    `port: ${OURS_PORT}`,
    `files: new DirectorySource(${JSON.stringify(root)})`,
    ...(chunkKb === undefined ? [] : [`chunkSize: ${chunkKb * 1024}`]),
    ...(smallKb === undefined ? [] : [`smallChunkSize: ${smallKb * 1024}`]),
  ]
  return `
import { serveHttp } from ${JSON.stringify(join(repo, 'metal/pxe/http.ts'))}
import { DirectorySource } from ${JSON.stringify(join(repo, 'metal/pxe/files.ts'))}
const server = await serveHttp({ ${options.join(', ')} })
process.stdout.write('listening\\n')
process.on('SIGTERM', () => server.close().then(() => process.exit(0)))
`
}

function nginxConfig(prefix: string, root: string, host: string): string {
  return `worker_processes ${nginxWorkers};
user root;
daemon off;
pid ${prefix}/nginx.pid;
error_log stderr warn;
events { worker_connections 128; }
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  client_body_temp_path ${prefix}/body;
  proxy_temp_path ${prefix}/proxy;
  fastcgi_temp_path ${prefix}/fastcgi;
  server {
    listen ${host}:${NGINX_PORT};
    root ${root};
  }
}
`
}

async function listening(host: Host, proc: NsProcess, port: number): Promise<void> {
  await waitFor(
    `process ${proc.pid} to listen on TCP ${port}`,
    async () => {
      if (proc.child.exitCode !== null) throw new Error(`server exited: ${proc.output()}`)
      const out = await host.run(['ss', '-tlnH', `sport = :${port}`])
      return out.trim() === '' ? undefined : true
    },
    15000,
  )
}

interface Run {
  readonly server: string
  readonly mbps: number
  readonly seconds: number
  /** CPU seconds (user + system, all threads and worker processes) the server spent per GiB sent. */
  readonly cpuPerGiB: number
}

/** CPU seconds used so far by a process, its threads and its child processes (nginx workers). */
async function cpuSeconds(pid: number): Promise<number> {
  const children = await readFile(`/proc/${pid}/task/${pid}/children`, 'utf8').catch(() => '')
  let ticks = 0
  for (const p of [pid, ...children.trim().split(/\s+/).filter(Boolean).map(Number)]) {
    for (const task of await readdir(`/proc/${p}/task`).catch(() => [] as string[])) {
      const stat = await readFile(`/proc/${p}/task/${task}/stat`, 'utf8').catch(() => '')
      // Fields after the ")" that ends the command name: utime and stime are the 12th and 13th.
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
      ticks += Number(fields[11] ?? 0) + Number(fields[12] ?? 0)
    }
  }
  return ticks / 100 // USER_HZ is 100 on Linux
}

/** `clients` parallel downloads of the whole file; aggregate MB/s = all bytes / slowest client's time. */
async function download(client: Host, url: string, server: string, pid: number): Promise<Run> {
  const cpuBefore = await cpuSeconds(pid)
  const results = await Promise.all(
    Array.from({ length: clients }, () =>
      client.run(['curl', '-sSf', '-o', '/dev/null', '-w', '%{size_download} %{time_total}', url]),
    ),
  )
  let bytes = 0
  let seconds = 0
  for (const line of results) {
    const [size, time] = line.trim().split(' ').map(Number)
    if (size !== sizeMb * 1024 * 1024) throw new Error(`${server}: a client got ${size} bytes: "${line}"`)
    bytes += size
    seconds = Math.max(seconds, time ?? 0)
  }
  const cpu = (await cpuSeconds(pid)) - cpuBefore
  return { server, mbps: bytes / 1e6 / seconds, seconds, cpuPerGiB: cpu / (bytes / 2 ** 30) }
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.floor(s.length / 2)] ?? Number.NaN
}

async function main(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'hl-bench-http-'))
  const net = await TestNet.create('bhttp')
  try {
    await chmod(dir, 0o755)
    const root = join(dir, 'root')
    const prefix = join(dir, 'nginx')
    await mkdir(root)
    await mkdir(prefix)
    const file = join(root, 'disk.img')
    await makeFile(file, sizeMb * 1024 * 1024)

    const srv = await net.host('srv', '10.78.0.1/24')
    const cli = loopback ? srv : await net.host('cli', '10.78.0.2/24')
    const ip = loopback ? '127.0.0.1' : srv.ip

    const ours = srv.spawn([process.execPath, '--input-type=module', '-e', oursScript(root, ip)])
    await writeFile(join(prefix, 'nginx.conf'), nginxConfig(prefix, root, ip))
    const nginx = srv.spawn(['nginx', '-c', join(prefix, 'nginx.conf'), '-p', prefix])
    await listening(srv, ours, OURS_PORT)
    await listening(srv, nginx, NGINX_PORT)

    const targets = [
      { server: 'ours', url: `http://${ip}:${OURS_PORT}/disk.img`, pid: ours.pid },
      { server: 'nginx', url: `http://${ip}:${NGINX_PORT}/disk.img`, pid: nginx.pid },
    ]
    // One warm-up each (page cache, connection paths), then alternate so drift hits both alike.
    for (const t of targets) await download(cli, t.url, t.server, t.pid)
    const all: Run[] = []
    for (let i = 0; i < runs; i++) {
      for (const t of targets) {
        const run = await download(cli, t.url, t.server, t.pid)
        all.push(run)
        process.stderr.write(
          `run ${i + 1}/${runs} ${t.server}: ${run.mbps.toFixed(0)} MB/s, ${run.cpuPerGiB.toFixed(2)} CPU s/GiB\n`,
        )
      }
    }
    const oursMbps = median(all.filter((r) => r.server === 'ours').map((r) => r.mbps))
    const nginxMbps = median(all.filter((r) => r.server === 'nginx').map((r) => r.mbps))
    const ratio = oursMbps / nginxMbps
    const oursCpu = median(all.filter((r) => r.server === 'ours').map((r) => r.cpuPerGiB))
    const nginxCpu = median(all.filter((r) => r.server === 'nginx').map((r) => r.cpuPerGiB))

    const rows = [
      ['server', 'median MB/s', 'server CPU s/GiB', 'runs (MB/s)'],
      ...targets.map((t) => [
        t.server,
        (t.server === 'ours' ? oursMbps : nginxMbps).toFixed(0),
        (t.server === 'ours' ? oursCpu : nginxCpu).toFixed(2),
        all
          .filter((r) => r.server === t.server)
          .map((r) => r.mbps.toFixed(0))
          .join(', '),
      ]),
    ]
    const widths = [0, 1, 2, 3].map((c) => Math.max(...rows.map((r) => (r[c] ?? '').length)))
    console.log(
      `\nHTTP: ${clients} parallel curl clients, ${sizeMb} MiB file, ${loopback ? 'loopback in one namespace' : 'two namespaces on a bridge'}, median of ${runs}`,
    )
    for (const row of rows) console.log(row.map((cell, c) => cell.padEnd(widths[c] ?? 0)).join('  '))
    console.log(`ratio ours/nginx: ${ratio.toFixed(2)}\n`)
    console.log(
      JSON.stringify({
        bench: 'http',
        sizeMb,
        clients,
        runs,
        topology: loopback ? 'loopback' : 'bridge',
        chunkKb: chunkKb ?? null,
        smallKb: smallKb ?? null,
        nginxWorkers,
        oursMBps: Math.round(oursMbps),
        nginxMBps: Math.round(nginxMbps),
        ratio: Math.round(ratio * 100) / 100,
        oursCpuPerGiB: Math.round(oursCpu * 100) / 100,
        nginxCpuPerGiB: Math.round(nginxCpu * 100) / 100,
      }),
    )
  } finally {
    await net.destroy()
    await rm(dir, { recursive: true, force: true })
  }
}

await main()
