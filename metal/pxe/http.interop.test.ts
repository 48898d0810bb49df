/**
 * serveHttp() against real clients (curl, busybox wget) across a network namespace bridge:
 * the server runs in its own namespace (a child Node process), the clients in another.
 * Needs root and iproute2, curl and busybox (CI installs them).
 */
import assert from 'node:assert/strict'
import { createHash, randomBytes } from 'node:crypto'
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { type Host, type NsProcess, TestNet, waitFor } from '../../tools/netns.ts'

/** Deadline for waits: only a hang reaches it. */
const HANG_MS = 120_000
const httpModule = join(import.meta.dirname, 'http.ts')
const filesModule = join(import.meta.dirname, 'files.ts')

/** The server process: serves `root` on :8080, knows one machine, prints every event as a JSON line. */
function serverScript(root: string, machineIp: string): string {
  return `
import { serveHttp } from ${JSON.stringify(httpModule)}
import { DirectorySource } from ${JSON.stringify(filesModule)}
const machine = { name: 'node1', mac: '02:00:00:00:00:01', ip: ${JSON.stringify(machineIp)} }
const server = await serveHttp({
  host: '0.0.0.0',
  port: 8080,
  files: new DirectorySource(${JSON.stringify(root)}),
  machines: { byIp: (ip) => (ip === machine.ip ? machine : undefined), byMac: () => undefined },
  events: (e) => process.stdout.write(JSON.stringify(e) + '\\n'),
})
process.on('SIGTERM', () => server.close().then(() => process.exit(0)))
`
}

const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex')

describe('serveHttp() with real clients in network namespaces', () => {
  let net: TestNet
  let srv: Host
  let cli: Host
  let server: NsProcess
  let dir: string
  let big: Buffer
  let base: string

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'hl-http-ns-'))
    const root = join(dir, 'root')
    await mkdir(root)
    big = randomBytes(50 * 1024 * 1024)
    await writeFile(join(root, 'install.img'), big)
    net = await TestNet.create('http')
    srv = await net.host('srv', '10.77.0.1/24')
    cli = await net.host('cli', '10.77.0.2/24')
    server = srv.spawn([process.execPath, '--input-type=module', '-e', serverScript(root, cli.ip)])
    base = `http://${srv.ip}:8080`
    await waitFor(
      'the HTTP server to listen',
      () =>
        server.output().includes('"pxe.listening"')
          ? true
          : server.child.exitCode !== null
            ? true
            : undefined,
      HANG_MS,
    )
    assert.match(server.output(), /"pxe.listening"/, server.output())
  })
  after(async () => {
    await net?.destroy()
    await rm(dir, { recursive: true, force: true })
  })

  const events = (): Record<string, unknown>[] =>
    server
      .output()
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Record<string, unknown>)

  test('curl -r fetches exact byte ranges with 206 and Content-Range', async () => {
    const size = big.length
    const cases: [range: string, start: number, end: number][] = [
      ['0-99', 0, 99],
      ['1000-', 1000, size - 1],
      ['-500', size - 500, size - 1],
      [`${size - 10}-${size + 1000}`, size - 10, size - 1],
    ]
    for (const [range, start, end] of cases) {
      const out = join(dir, `range-${range}`)
      const headers = await cli.run(['curl', '-sS', '-D', '-', '-o', out, '-r', range, `${base}/install.img`])
      assert.match(headers, /^HTTP\/1\.1 206 Partial Content\r$/m, range)
      assert.match(headers, new RegExp(`^Content-Range: bytes ${start}-${end}/${size}\\r$`, 'm'), range)
      const body = await readFile(out)
      assert.equal(sha256(body), sha256(big.subarray(start, end + 1)), range)
    }
    const bad = await cli.run([
      'curl',
      '-sS',
      '-o',
      '/dev/null',
      '-w',
      '%{http_code}',
      '-r',
      `${size}-`,
      `${base}/install.img`,
    ])
    assert.equal(bad, '416')
  })

  test('curl -I gets the headers of a 50 MB file and no body', async () => {
    const headers = await cli.run(['curl', '-sS', '-I', `${base}/install.img`])
    assert.match(headers, /^HTTP\/1\.1 200 OK\r$/m)
    assert.match(headers, /^Content-Length: 52428800\r$/m)
    assert.match(headers, /^Accept-Ranges: bytes\r$/m)
    assert.match(headers, /^Content-Type: application\/octet-stream\r$/m)
  })

  test('8 concurrent curl downloads of a 50 MB file all arrive intact (sha256)', async () => {
    const want = sha256(big)
    const outs = Array.from({ length: 8 }, (_, i) => join(dir, `copy-${i}`))
    await Promise.all(outs.map((out) => cli.run(['curl', '-sSf', '-o', out, `${base}/install.img`])))
    for (const out of outs) {
      assert.equal(sha256(await readFile(out)), want, out)
      await rm(out)
    }
  })

  test('curl -C - resumes an interrupted download to the exact file', async () => {
    const out = join(dir, 'resumed')
    await writeFile(out, big.subarray(0, 12_345_678))
    const code = await cli.run([
      'curl',
      '-sSf',
      '-C',
      '-',
      '-o',
      out,
      '-w',
      '%{http_code}',
      `${base}/install.img`,
    ])
    assert.equal(code, '206')
    assert.equal(sha256(await readFile(out)), sha256(big))
    await rm(out)
  })

  test('installers report with curl (POST) and busybox wget (GET); a stranger is refused', async () => {
    const post = await cli.run([
      'curl',
      '-sS',
      '-o',
      '/dev/null',
      '-w',
      '%{http_code}',
      '--data-binary',
      'partitioned /dev/sda',
      `${base}/report/installing`,
    ])
    assert.equal(post, '204')
    await cli.run(['busybox', 'wget', '-q', '-O', '-', `${base}/report/installed?detail=took%203%20min`])
    // The server's own namespace is not a configured machine.
    const stranger = await srv.run([
      'curl',
      '-sS',
      '-o',
      '/dev/null',
      '-w',
      '%{http_code}',
      `http://127.0.0.1:8080/report/installed`,
    ])
    assert.equal(stranger, '403')
    // The server prints events as it goes: wait for them (the stranger's warning comes last).
    const seen = await waitFor(
      'two install reports and a warning',
      () => {
        const all = events()
        const done =
          all.filter((e) => e.type === 'install.report').length >= 2 &&
          all.some((e) => e.type === 'pxe.warning')
        return done ? all : undefined
      },
      HANG_MS,
    )
    const reports = seen.filter((e) => e.type === 'install.report')
    assert.deepEqual(reports, [
      { type: 'install.report', machine: 'node1', stage: 'installing', detail: 'partitioned /dev/sda' },
      { type: 'install.report', machine: 'node1', stage: 'installed', detail: 'took 3 min' },
    ])
    const warning = seen.find((e) => e.type === 'pxe.warning')
    assert.deepEqual(warning, {
      type: 'pxe.warning',
      service: 'http',
      message: 'Cannot accept install report: 127.0.0.1 is not a configured machine (stage "installed")',
    })
  })
})
