/**
 * The test OS's curl stand-in (curl.sh), run by busybox sh with busybox's wget, timeout and
 * mktemp from the fetched busybox-static, against a local HTTP server: the flags the
 * kickstart's scripts use work, and anything else is refused.
 */
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { mkdtemp, rm, symlink, writeFile } from 'node:fs/promises'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, test } from 'node:test'
import { DEFAULT_CACHE_DIR } from './build.ts'
import { fetchTestOsPackages, withCacheLock } from './fetch.ts'
import { PACKAGE_FILES } from './packages.ts'

const CURL = join(import.meta.dirname, 'curl.sh')
const requests: { method: string; url: string; body: string }[] = []
const server = createServer((req, res) => {
  let body = ''
  req.on('data', (c: Buffer) => {
    body += c.toString()
  })
  req.on('end', () => {
    requests.push({ method: req.method ?? '', url: req.url ?? '', body })
    if (req.url === '/missing') res.writeHead(404).end()
    else res.writeHead(200, { 'Content-Length': 2 }).end('ok')
  })
})
let dir = ''
let base = ''

before(async () => {
  const fetched = await withCacheLock(DEFAULT_CACHE_DIR, () =>
    fetchTestOsPackages({ cacheDir: DEFAULT_CACHE_DIR }),
  )
  const busybox = join(fetched.packages[PACKAGE_FILES.busybox.pkg]?.root ?? '', PACKAGE_FILES.busybox.path)
  dir = await mkdtemp(join(tmpdir(), 'hl-curl-'))
  for (const applet of ['sh', 'wget', 'timeout', 'mktemp', 'cat', 'rm'])
    await symlink(busybox, join(dir, applet))
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
})

after(async () => {
  await new Promise<void>((resolve) => server.close(() => resolve()))
  await rm(dir, { recursive: true, force: true })
})

/** Runs the stand-in with busybox's applets only on PATH; resolves with its exit code and output. */
function curl(args: string[], stdin = ''): Promise<{ code: number; out: string; err: string }> {
  return new Promise((resolve) => {
    const child = execFile(
      join(dir, 'sh'),
      [CURL, ...args],
      { env: { PATH: dir, TMPDIR: dir } },
      (error, out, err) => resolve({ code: error === null ? 0 : Number(error.code), out, err }),
    )
    // A refused call exits before reading stdin: the EPIPE of that write says nothing (the exit code does).
    child.stdin?.on('error', () => {})
    child.stdin?.end(stdin)
  })
}

test('curl.sh posts stdin (--data-binary @-) and a file (@FILE), and GETs without a body', async () => {
  requests.length = 0
  const log = join(dir, 'log.txt')
  await writeFile(log, 'line 1\nline 2\n')
  const fromStdin = await curl(
    ['-fsS', '-m', '10', '-o', '/dev/null', '--data-binary', '@-', `${base}/report/failed`],
    'tail\nof log\n',
  )
  assert.equal(fromStdin.code, 0, fromStdin.err)
  const fromFile = await curl([
    '-fsS',
    '-m',
    '10',
    '-o',
    '/dev/null',
    '--data-binary',
    `@${log}`,
    `${base}/report/hostkey`,
  ])
  assert.equal(fromFile.code, 0, fromFile.err)
  const get = await curl(['-fsS', '-m', '10', `${base}/report/installed`])
  assert.equal(get.code, 0, get.err)
  assert.equal(get.out, 'ok')
  assert.deepEqual(requests, [
    { method: 'POST', url: '/report/failed', body: 'tail\nof log\n' },
    { method: 'POST', url: '/report/hostkey', body: 'line 1\nline 2\n' },
    { method: 'GET', url: '/report/installed', body: '' },
  ])
})

test('curl.sh fails on an HTTP error and refuses flags it does not implement', async () => {
  const missing = await curl(['-fsS', '-m', '10', '-o', '/dev/null', `${base}/missing`])
  assert.notEqual(missing.code, 0)
  for (const args of [
    ['-X', 'PUT', `${base}/x`],
    ['--data-binary', 'inline', `${base}/x`],
    ['-fsS', '-m', '10'],
  ]) {
    const refused = await curl(args)
    assert.equal(refused.code, 2, `${args.join(' ')}: ${refused.err}`)
    assert.match(refused.err, /^curl \(test OS stand-in\): /)
  }
})
