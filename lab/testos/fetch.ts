/**
 * Fetches the test OS's Debian packages once into a cache and unpacks them, never installing:
 *
 *   <cacheDir>/debs/<pkg>_<version>_amd64.deb     from `apt-get download`
 *   <cacheDir>/debs/x/<pkg>/...                   from `dpkg -x`
 *   <cacheDir>/debs/manifest.json                 what was fetched (read first: offline after one fetch)
 *
 * `apt-get update` runs only when apt knows no kernel package (a fresh machine).
 * Needs apt-get and dpkg-deb (any Debian machine); downloading needs root (CI runs as root).
 */
import { execFile } from 'node:child_process'
import { mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { poll } from '../../lib/poll/index.ts'
import { KERNEL_META_PACKAGE, KERNEL_PACKAGE, TESTOS_PACKAGES } from './packages.ts'

const exec = promisify(execFile)

export interface FetchOptions {
  /** The cache folder, like `.cache` at the repository root. */
  readonly cacheDir: string
  /** Progress lines for a person (silent when absent). */
  readonly progress?: (message: string) => void
}

export interface FetchedPackage {
  /** The .deb file name inside the debs folder. */
  readonly deb: string
  /** Where the package is unpacked. */
  readonly root: string
}

export interface FetchedPackages {
  readonly debsDir: string
  /** Like linux-image-6.1.0-56-amd64. */
  readonly kernelPackage: string
  /** Like 6.1.0-56-amd64 (the folder under lib/modules). */
  readonly kernelRelease: string
  readonly packages: Readonly<Record<string, FetchedPackage>>
}

interface Manifest {
  kernelPackage: string
  packages: Record<string, { deb: string }>
}

/** Runs a command; on failure the error names the command, its exit code and its stderr. */
export async function _run(cmd: string, args: readonly string[], cwd?: string): Promise<string> {
  try {
    const { stdout } = await exec(cmd, [...args], { cwd, maxBuffer: 64 * 1024 * 1024 })
    return stdout
  } catch (cause) {
    const err = cause as Error & { code?: string | number; stderr?: string }
    if (err.code === 'ENOENT') {
      throw new Error(`Cannot run ${cmd}: it is not installed (is this a Debian machine?)`, { cause })
    }
    const stderr = (err.stderr ?? '').trim().split('\n').slice(-5).join('\n')
    throw new Error(`Command failed: ${cmd} ${args.join(' ')} (exit ${err.code}): ${stderr || err.message}`, {
      cause,
    })
  }
}

async function _exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  )
}

/** The kernel package the meta package depends on, or undefined when apt knows none. */
async function _kernelFromApt(): Promise<string | undefined> {
  const out = await _run('apt-cache', ['depends', KERNEL_META_PACKAGE]).catch(() => '')
  for (const line of out.split('\n')) {
    const m = /^\s*Depends:\s*(\S+)/.exec(line)
    if (m?.[1] !== undefined && KERNEL_PACKAGE.test(m[1])) return m[1]
  }
  return undefined
}

async function _resolveKernel(progress: (m: string) => void): Promise<string> {
  let kernel = await _kernelFromApt()
  if (kernel === undefined) {
    progress('apt knows no kernel package yet: running apt-get update')
    await _run('apt-get', ['update', '-qq'])
    kernel = await _kernelFromApt()
  }
  if (kernel === undefined) {
    throw new Error(
      `Cannot fetch the test OS kernel: apt-cache depends ${KERNEL_META_PACKAGE} names no linux-image-*-amd64 package`,
    )
  }
  return kernel
}

/** The newest downloaded .deb of a package in the folder, if any. */
async function _findDeb(debsDir: string, name: string): Promise<string | undefined> {
  const candidates = (await readdir(debsDir)).filter((f) => f.startsWith(`${name}_`) && f.endsWith('.deb'))
  let best: { file: string; mtime: number } | undefined
  for (const file of candidates) {
    const mtime = (await stat(join(debsDir, file))).mtimeMs
    if (best === undefined || mtime > best.mtime) best = { file, mtime }
  }
  return best?.file
}

async function _readManifest(path: string): Promise<Manifest | undefined> {
  try {
    return JSON.parse(await readFile(path, 'utf8')) as Manifest
  } catch {
    return undefined
  }
}

/** True when the manifest names every package and each .deb is there and unpacked. */
async function _complete(debsDir: string, manifest: Manifest | undefined, names: string[]): Promise<boolean> {
  if (manifest === undefined) return false
  for (const name of names) {
    const entry = manifest.packages[name]
    if (entry === undefined || !(await _exists(join(debsDir, entry.deb)))) return false
    const stamp = await readFile(join(debsDir, 'x', `${name}.unpacked`), 'utf8').catch(() => '')
    if (stamp !== entry.deb) return false
  }
  return true
}

function _result(debsDir: string, manifest: Manifest): FetchedPackages {
  const packages: Record<string, FetchedPackage> = {}
  for (const [name, { deb }] of Object.entries(manifest.packages)) {
    packages[name] = { deb, root: join(debsDir, 'x', name) }
  }
  return {
    debsDir,
    kernelPackage: manifest.kernelPackage,
    kernelRelease: manifest.kernelPackage.replace(/^linux-image-/, ''),
    packages,
  }
}

/**
 * Makes sure every test OS package is downloaded and unpacked; downloads only what is missing.
 * Callers that may run at the same time (test files) should hold `withCacheLock`.
 */
export async function fetchTestOsPackages(options: FetchOptions): Promise<FetchedPackages> {
  const progress = options.progress ?? (() => undefined)
  const debsDir = join(options.cacheDir, 'debs')
  const manifestPath = join(debsDir, 'manifest.json')
  await mkdir(join(debsDir, 'x'), { recursive: true })

  const previous = await _readManifest(manifestPath)
  const fixed = TESTOS_PACKAGES.map((p) => p.name)
  if (previous !== undefined && (await _complete(debsDir, previous, [...fixed, previous.kernelPackage]))) {
    return _result(debsDir, previous)
  }

  // Reuse a kernel already downloaded (offline); otherwise ask apt which one is current.
  const kernelPackage =
    previous?.kernelPackage !== undefined && (await _findDeb(debsDir, previous.kernelPackage)) !== undefined
      ? previous.kernelPackage
      : await _resolveKernel(progress)
  const names = [...fixed, kernelPackage]
  const missing: string[] = []
  for (const name of names) if ((await _findDeb(debsDir, name)) === undefined) missing.push(name)
  if (missing.length > 0) {
    progress(`apt-get download ${missing.join(' ')}`)
    // Sandbox::User=root: the cache folder belongs to root, which the _apt user cannot write.
    const download = () => _run('apt-get', ['-o', 'APT::Sandbox::User=root', 'download', ...missing], debsDir)
    await download().catch(async () => {
      progress('apt-get download failed: running apt-get update and trying again')
      await _run('apt-get', ['update', '-qq'])
      return download()
    })
  }

  const manifest: Manifest = { kernelPackage, packages: {} }
  for (const name of names) {
    const deb = await _findDeb(debsDir, name)
    if (deb === undefined)
      throw new Error(`Cannot fetch package ${name}: apt-get download left no .deb in ${debsDir}`)
    manifest.packages[name] = { deb }
    const stampPath = join(debsDir, 'x', `${name}.unpacked`)
    if ((await readFile(stampPath, 'utf8').catch(() => '')) === deb) continue
    progress(`dpkg -x ${deb}`)
    const root = join(debsDir, 'x', name)
    const tmp = `${root}.tmp`
    await rm(tmp, { recursive: true, force: true })
    await _run('dpkg-deb', ['-x', join(debsDir, deb), tmp])
    await rm(root, { recursive: true, force: true })
    await rename(tmp, root)
    await writeFile(stampPath, deb)
  }
  await writeFile(manifestPath, `${JSON.stringify(manifest, null, 2)}\n`)
  return _result(debsDir, manifest)
}

/** False when the lock's holder (by the PID it wrote) is no longer running: a killed test left it. */
async function _holderAlive(lock: string): Promise<boolean> {
  const pid = Number(await readFile(join(lock, 'pid'), 'utf8').catch(() => ''))
  if (!Number.isInteger(pid) || pid <= 0) return false
  try {
    process.kill(pid, 0)
    return true
  } catch (cause) {
    return (cause as NodeJS.ErrnoException).code === 'EPERM'
  }
}

/**
 * Runs fn while holding a lock folder inside the cache, so test files running in parallel
 * do not fetch or build into the same place at once. A lock whose holder process is gone, or
 * older than staleMs, is taken over.
 */
export async function withCacheLock<T>(
  cacheDir: string,
  fn: () => Promise<T>,
  staleMs = 15 * 60_000,
): Promise<T> {
  const lock = join(cacheDir, 'testos.lock')
  await mkdir(cacheDir, { recursive: true })
  /** Takes the lock: true when it did, false when another holds it. */
  const take = async (): Promise<boolean> => {
    try {
      await mkdir(lock)
      await writeFile(join(lock, 'pid'), String(process.pid))
      return true
    } catch (cause) {
      if ((cause as NodeJS.ErrnoException).code !== 'EEXIST') throw cause
      return false
    }
  }
  await poll(
    async () => {
      if (await take()) return true
      const age = await stat(lock).then(
        (s) => Date.now() - s.mtimeMs,
        () => 0,
      )
      if (!(age > staleMs || (age > 2000 && !(await _holderAlive(lock))))) return undefined
      await rm(lock, { recursive: true, force: true }) // stale: taken over at once
      return (await take()) ? true : undefined
    },
    { what: `the test OS cache lock ${lock}`, intervalMs: 250 },
  )
  try {
    return await fn()
  } finally {
    await rm(lock, { recursive: true, force: true })
  }
}
