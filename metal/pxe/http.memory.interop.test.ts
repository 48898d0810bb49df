/**
 * @heavy (500 connections and a 64 MiB download across namespaces; run alone)
 *
 * Issue 17, done-when: 500 clients that request a 64 MiB file and never read it, from another
 * network namespace, hold the HTTP server (its own process, default options) under 256 MB peak RSS
 * (VmHWM), while a normal client (curl) downloads the exact bytes meanwhile; the memory goes back
 * once they leave. Needs root, iproute2 and curl (CI installs them).
 */
import assert from 'node:assert/strict'
import { createHash, randomBytes } from 'node:crypto'
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, test } from 'node:test'
import { type Host, type NsProcess, sh, TestNet, waitFor } from '../../tools/netns.ts'

/** Deadline for waits: only a hang reaches it. */
const HANG_MS = 180_000
const CLIENTS = 500
/** Client addresses the attackers use: 50 connections each, under the default per-client cap (64). */
const ADDRESSES = 10
const SIZE = 64 * 1024 * 1024
const LIMIT_KB = 256 * 1000
const httpModule = join(import.meta.dirname, 'http.ts')
const filesModule = join(import.meta.dirname, 'files.ts')

const serverScript = (root: string): string => `
import { serveHttp } from ${JSON.stringify(httpModule)}
import { DirectorySource } from ${JSON.stringify(filesModule)}
const server = await serveHttp({ host: '0.0.0.0', port: 8080, files: new DirectorySource(${JSON.stringify(root)}), events: (e) => {
  if (e.type === 'pxe.listening' || e.type === 'pxe.warning' || e.type === 'http.served') process.stdout.write(JSON.stringify(e) + '\\n')
} })
process.on('SIGTERM', () => server.close().then(() => process.exit(0)))
`

/** Opens the connections, sends one GET each, stops reading at the first byte; says "held N" when all answered. */
const attackerScript = (server: string, locals: readonly string[], perAddress: number): string => `
import { connect } from 'node:net'
let answered = 0
const sockets = []
for (const localAddress of ${JSON.stringify(locals)}) {
  for (let i = 0; i < ${perAddress}; i++) {
    const s = connect({ host: ${JSON.stringify(server)}, port: 8080, localAddress })
    sockets.push(s)
    s.on('error', (e) => process.stdout.write('error ' + e.message + '\\n'))
    s.once('data', () => {
      s.pause()
      if (++answered === ${locals.length * perAddress}) process.stdout.write('held ' + answered + '\\n')
    })
    s.write('GET /big.img HTTP/1.1\\r\\nHost: pxe\\r\\n\\r\\n')
  }
}
setInterval(() => {}, 1 << 30)
`

async function status(pid: number): Promise<{ rssKb: number; hwmKb: number }> {
  const text = await readFile(`/proc/${pid}/status`, 'utf8')
  const kb = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? Number.NaN)
  return { rssKb: kb('VmRSS'), hwmKb: kb('VmHWM') }
}

let net: TestNet
let srv: Host
let att: Host
let cli: Host
let server: NsProcess
let dir: string
let big: Buffer

const served = (): number => (server.output().match(/"type":"http.served"/g) ?? []).length

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'hl-http-mem-'))
  await mkdir(join(dir, 'root'))
  big = randomBytes(SIZE)
  await writeFile(join(dir, 'root', 'big.img'), big)
  net = await TestNet.create('httpmem')
  srv = await net.host('srv', '10.78.0.1/16')
  att = await net.host('att', '10.78.1.1/16')
  for (let i = 2; i <= ADDRESSES; i++)
    await sh('ip', ['-n', att.ns, 'addr', 'add', `10.78.1.${i}/16`, 'dev', att.ifname])
  cli = await net.host('cli', '10.78.0.2/16')
  server = srv.spawn([process.execPath, '--input-type=module', '-e', serverScript(join(dir, 'root'))])
  await waitFor(
    'the HTTP server to listen',
    () => (server.output().includes('"pxe.listening"') || server.child.exitCode !== null ? true : undefined),
    HANG_MS,
  )
  assert.match(server.output(), /"pxe.listening"/, server.output())
})

after(async () => {
  await net?.destroy()
  await rm(dir, { recursive: true, force: true })
})

test('serveHttp() holds 500 non-reading clients of a 64 MiB file under 256 MB RSS while curl downloads the exact bytes', async () => {
  const locals = Array.from({ length: ADDRESSES }, (_, i) => `10.78.1.${i + 1}`)
  const attackers = att.spawn([
    process.execPath,
    '--input-type=module',
    '-e',
    attackerScript(srv.ip, locals, CLIENTS / ADDRESSES),
  ])
  await waitFor(
    `${CLIENTS} stalled downloads to start`,
    () => (/held \d+/.test(attackers.output()) || attackers.child.exitCode !== null ? true : undefined),
    HANG_MS,
  )
  assert.match(attackers.output(), new RegExp(`held ${CLIENTS}`), attackers.output())
  assert.doesNotMatch(server.output(), /Refused connections/, 'every stalled client was accepted')
  // A normal client meanwhile.
  const out = join(dir, 'copy.img')
  await cli.run(['curl', '-sSf', '-o', out, `http://${srv.ip}:8080/big.img`])
  const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex')
  assert.equal(sha(await readFile(out)), sha(big), 'the normal client got the exact bytes')
  const during = await status(server.pid)
  assert.ok(during.hwmKb < LIMIT_KB, `server peak RSS ${during.hwmKb} kB with ${CLIENTS} stalled clients`)
  // They leave: every connection is reported closed, and the memory goes back.
  await attackers.kill('SIGKILL')
  await waitFor('every connection to close', () => (served() >= CLIENTS + 1 ? true : undefined), HANG_MS)
  const left = await status(server.pid)
  process.stdout.write(
    `# server RSS: peak ${during.hwmKb} kB, with ${CLIENTS} stalled clients ${during.rssKb} kB, after they left ${left.rssKb} kB\n`,
  )
  assert.ok(
    left.rssKb < during.rssKb,
    `RSS after the clients left: ${left.rssKb} kB, during: ${during.rssKb} kB`,
  )
})
