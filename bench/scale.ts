/**
 * Scale: 50 simulated machines netbooting at once, each fetching a kernel, an initrd and a large
 * install image over HTTP (one curl per machine, one keep-alive connection, the three files in
 * turn, as an installer does). Ours serves the files straight out of an ISO image through our
 * ISO 9660 reader (IsoSource, as `homelab metal` does); nginx (sendfile on) serves the same files
 * extracted by xorriso. Reports aggregate throughput (all bytes / the slowest machine's time) and
 * the server's peak RSS (VmHWM; nginx: master + workers), each server started fresh for the run.
 *
 *   tools/node24 bench/scale.ts [--machines 50] [--kernel-mb 16] [--initrd-mb 64] [--image-mb 256] [--runs 1]
 *
 * Prints a table and one JSON line (`{"bench":"scale",...}`). Needs root, iproute2, curl, nginx and
 * xorriso. Not part of the test suite.
 */
import { chmod, mkdir, mkdtemp, open, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { buildIso, extractIso } from '../lib/iso9660/_test-images.ts'
import { type Host, type NsProcess, TestNet, waitFor } from '../tools/netns.ts'

const { values } = parseArgs({
  options: {
    machines: { type: 'string', default: '50' },
    'kernel-mb': { type: 'string', default: '16' },
    'initrd-mb': { type: 'string', default: '64' },
    'image-mb': { type: 'string', default: '256' },
    runs: { type: 'string', default: '1' },
  },
})
const machines = Number(values.machines)
const runs = Number(values.runs)
const repo = join(import.meta.dirname, '..')
const FILES = [
  { path: 'images/pxeboot/vmlinuz', mb: Number(values['kernel-mb']) },
  { path: 'images/pxeboot/initrd.img', mb: Number(values['initrd-mb']) },
  { path: 'images/install.img', mb: Number(values['image-mb']) },
]
const PORT = 8080

async function makeFile(path: string, bytes: number, seed: number): Promise<void> {
  const handle = await open(path, 'w')
  const block = Buffer.alloc(1024 * 1024)
  let state = seed >>> 0
  for (let done = 0; done < bytes; done += block.length) {
    for (let i = 0; i < block.length; i += 4) {
      state = (Math.imul(state, 1664525) + 1013904223) >>> 0
      block.writeUInt32LE(state, i)
    }
    await handle.write(block, 0, Math.min(block.length, bytes - done))
  }
  await handle.close()
}

const oursScript = (iso: string, host: string): string => `
import { serveHttp } from ${JSON.stringify(join(repo, 'metal/pxe/http.ts'))}
import { IsoSource } from ${JSON.stringify(join(repo, 'metal/pxe/iso-source.ts'))}
import { IsoImage } from ${JSON.stringify(join(repo, 'lib/iso9660/index.ts'))}
const image = await IsoImage.open(${JSON.stringify(iso)})
const server = await serveHttp({ host: ${JSON.stringify(host)}, port: ${PORT}, files: new IsoSource(image) })
process.stdout.write('listening\\n')
process.on('SIGTERM', () => server.close().then(() => image.close()).then(() => process.exit(0)))
`

const nginxConfig = (prefix: string, root: string, host: string): string => `worker_processes 1;
user root;
daemon off;
pid ${prefix}/nginx.pid;
error_log stderr warn;
events { worker_connections 1024; }
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  client_body_temp_path ${prefix}/body;
  proxy_temp_path ${prefix}/proxy;
  fastcgi_temp_path ${prefix}/fastcgi;
  server {
    listen ${host}:${PORT};
    root ${root};
  }
}
`

/** Peak RSS in kB of a process and its children (nginx workers). */
async function peakRssKb(pid: number): Promise<number> {
  const children = await readFile(`/proc/${pid}/task/${pid}/children`, 'utf8').catch(() => '')
  let total = 0
  for (const p of [pid, ...children.trim().split(/\s+/).filter(Boolean).map(Number)]) {
    const status = await readFile(`/proc/${p}/status`, 'utf8').catch(() => '')
    total += Number(/^VmHWM:\s+(\d+) kB/m.exec(status)?.[1] ?? 0)
  }
  return total
}

async function listening(host: Host, proc: NsProcess): Promise<void> {
  await waitFor(
    `process ${proc.pid} to listen on TCP ${PORT}`,
    async () => {
      if (proc.child.exitCode !== null) throw new Error(`server exited: ${proc.output()}`)
      const out = await host.run(['ss', '-tlnH', `sport = :${PORT}`])
      return out.trim() === '' ? undefined : true
    },
    30000,
  )
}

/** Every machine at once: one curl each, the three files over one connection. */
async function boot(client: Host, ip: string): Promise<{ mbps: number; seconds: number }> {
  const expected = FILES.reduce((n, f) => n + f.mb * 1024 * 1024, 0)
  const args = FILES.flatMap((f) => ['-o', '/dev/null', `http://${ip}:${PORT}/${f.path}`])
  const started = performance.now()
  const results = await Promise.all(
    Array.from({ length: machines }, () =>
      client.run(['curl', '-sSf', '-w', '%{size_download}\\n', ...args]),
    ),
  )
  const seconds = (performance.now() - started) / 1000
  for (const out of results) {
    const got = out
      .trim()
      .split('\n')
      .reduce((n, l) => n + Number(l), 0)
    if (got !== expected) throw new Error(`a machine got ${got} bytes, not ${expected}`)
  }
  return { mbps: (expected * machines) / 1e6 / seconds, seconds }
}

async function main(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'hl-bench-scale-'))
  const net = await TestNet.create('bscale')
  try {
    await chmod(dir, 0o755)
    const src = join(dir, 'src')
    await mkdir(join(src, 'images/pxeboot'), { recursive: true })
    for (const [i, f] of FILES.entries()) await makeFile(join(src, f.path), f.mb * 1024 * 1024, 7 + i)
    const iso = join(dir, 'install.iso')
    await buildIso(src, iso, 'rockridge')
    await rm(src, { recursive: true })
    const tree = join(dir, 'tree')
    await extractIso(iso, tree)
    const prefix = join(dir, 'nginx')
    await mkdir(prefix)
    await writeFile(join(prefix, 'nginx.conf'), nginxConfig(prefix, tree, '10.79.0.1'))

    const srv = await net.host('srv', '10.79.0.1/24')
    const cli = await net.host('cli', '10.79.0.2/24')
    const servers = [
      {
        name: 'ours (ISO in place)',
        start: () => srv.spawn([process.execPath, '--input-type=module', '-e', oursScript(iso, srv.ip)]),
      },
      {
        name: 'nginx (extracted tree)',
        start: () => srv.spawn(['nginx', '-c', join(prefix, 'nginx.conf'), '-p', prefix]),
      },
    ]
    const rows: { server: string; mbps: number; seconds: number; peakRssMb: number }[] = []
    for (let r = 0; r < runs; r++) {
      for (const s of servers) {
        const proc = s.start()
        await listening(srv, proc)
        const run = await boot(cli, srv.ip)
        const peak = await peakRssKb(proc.pid)
        await proc.kill('SIGTERM')
        rows.push({ server: s.name, ...run, peakRssMb: peak / 1024 })
        process.stderr.write(
          `run ${r + 1}/${runs} ${s.name}: ${run.mbps.toFixed(0)} MB/s in ${run.seconds.toFixed(1)} s, peak RSS ${(peak / 1024).toFixed(0)} MiB\n`,
        )
      }
    }
    const best = (name: string) => {
      const mine = rows.filter((x) => x.server === name)
      return {
        mbps: Math.max(...mine.map((x) => x.mbps)),
        peakRssMb: Math.max(...mine.map((x) => x.peakRssMb)),
      }
    }
    const ours = best(servers[0]?.name ?? '')
    const nginx = best(servers[1]?.name ?? '')
    const total = FILES.reduce((n, f) => n + f.mb, 0)
    console.log(
      `\nScale: ${machines} machines at once, each ${FILES.map((f) => `${f.path} ${f.mb} MiB`).join(' + ')} (${total} MiB), best of ${runs}`,
    )
    console.log(
      `ours (ISO in place)      ${ours.mbps.toFixed(0).padStart(6)} MB/s  peak RSS ${ours.peakRssMb.toFixed(0)} MiB`,
    )
    console.log(
      `nginx (extracted tree)   ${nginx.mbps.toFixed(0).padStart(6)} MB/s  peak RSS ${nginx.peakRssMb.toFixed(0)} MiB`,
    )
    console.log(`ratio ours/nginx: ${(ours.mbps / nginx.mbps).toFixed(2)}\n`)
    console.log(
      JSON.stringify({
        bench: 'scale',
        machines,
        files: FILES,
        runs,
        oursMBps: Math.round(ours.mbps),
        nginxMBps: Math.round(nginx.mbps),
        ratio: Math.round((ours.mbps / nginx.mbps) * 100) / 100,
        oursPeakRssMiB: Math.round(ours.peakRssMb),
        nginxPeakRssMiB: Math.round(nginx.peakRssMb),
        raw: rows,
      }),
    )
  } finally {
    await net.destroy()
    await rm(dir, { recursive: true, force: true })
  }
}

await main()
