/**
 * Builds the homelab TEST OS ISO (not Fedora): an image with Fedora's install-tree layout,
 * made from Debian packages, for the lab and the end-to-end tests (the real Fedora ISO
 * cannot be downloaded there). See docs/testos.md.
 *
 *   EFI/BOOT/BOOTX64.EFI         shim (shim-signed: shimx64.efi.signed)
 *   EFI/BOOT/mmx64.efi           shim's MokManager (shim-helpers-amd64-signed: mmx64.efi.signed)
 *   EFI/BOOT/grubx64.efi         GRUB netboot image: Fedora-like (grub-mkimage, with http) in
 *                                homelab-testos.iso; Debian's signed grubnetx64.efi in
 *                                homelab-testos-signed.iso (Secure Boot). See grub.ts.
 *   EFI/BOOT/grub.cfg            a menu entry booting the kernel below
 *   images/pxeboot/vmlinuz       the signed Debian kernel
 *   images/pxeboot/initrd.img    busybox + dropbear + virtio modules + init.sh
 *   .treeinfo                    productmd-style INI naming the homelab test OS
 *   HOMELAB-TEST-OS              marker file
 *
 *   tools/node24 lab/testos/build.ts        builds .cache/testos/homelab-testos{,-signed}.iso
 *
 * Rebuilds only when an input changed (a SHA-256 over the .deb names and this folder's sources).
 */
import { createHash } from 'node:crypto'
import { mkdir, readdir, readFile, realpath, rename, rm, stat, writeFile } from 'node:fs/promises'
import { dirname, join, relative } from 'node:path'
import { gzipSync } from 'node:zlib'
import { CpioArchive } from './cpio.ts'
import { ElfFile, moduleDepends } from './elf.ts'
import { _run, type FetchedPackages, fetchTestOsPackages, withCacheLock } from './fetch.ts'
import { buildFedoraLikeGrub, type TestOsGrub, testOsGrubFromEnv } from './grub.ts'
import { KERNEL_MODULES, LIBRARY_DIRS, LIBRARY_PACKAGES, PACKAGE_FILES } from './packages.ts'

/** The name the test OS gives itself everywhere (banner, .treeinfo, marker, os-release). */
export const TESTOS_NAME = 'homelab TEST OS (not Fedora)'
export const TESTOS_VERSION = '1'
export const ISO_NAME = 'homelab-testos.iso'
/** The Secure Boot flavour: Debian's signed netboot GRUB instead of the Fedora-like one. */
export const SIGNED_ISO_NAME = 'homelab-testos-signed.iso'
export const VOLUME_ID = 'HOMELAB-TESTOS'
export const MARKER = 'HOMELAB-TEST-OS'

/** Inputs read from this folder: any change to them rebuilds. */
const SOURCES = [
  'build.ts',
  'cpio.ts',
  'elf.ts',
  'grub.ts',
  'packages.ts',
  'init.sh',
  'install.sh',
  'udhcpc.sh',
  'curl.sh',
]

export interface BuildOptions {
  /** The cache folder (e.g. `<repo>/.cache`): debs/ and testos/ are made in it. */
  readonly cacheDir: string
  /** Progress lines for a person (silent when absent). */
  readonly progress?: (message: string) => void
  /** Build even when the inputs have not changed. @default false */
  readonly force?: boolean
  /**
   * Which ISO `isoPath` names: `fedora-like` (GRUB with http, the default) or `signed` (Debian's
   * signed GRUB, for Secure Boot). Both are always built. @default HOMELAB_TESTOS_GRUB, else fedora-like
   */
  readonly grub?: TestOsGrub
}

export interface TestOs {
  /** The ISO of the flavour asked for (options.grub). */
  readonly isoPath: string
  /** Both flavours. */
  readonly isoPaths: Readonly<Record<TestOsGrub, string>>
  /** The kernel and initramfs, also outside the ISO (for QEMU's -kernel/-initrd). */
  readonly kernelPath: string
  readonly initrdPath: string
  /** The folder the default ISO was made from (Fedora's layout). */
  readonly treeDir: string
  readonly kernelRelease: string
  /** SHA-256 of the inputs. */
  readonly inputHash: string
  /** False when an up-to-date build was reused. */
  readonly built: boolean
}

/** The repository's cache folder (the default for the CLI). */
export const DEFAULT_CACHE_DIR = join(import.meta.dirname, '..', '..', '.cache')

/** Modules in load order: each after the modules it depends on (read from `.modinfo`). */
export async function moduleLoadOrder(
  modulesDir: string,
  wanted: readonly string[],
): Promise<{ name: string; path: string }[]> {
  const files = new Map<string, string>()
  for (const entry of await readdir(modulesDir, { recursive: true })) {
    const file = entry.toString()
    if (file.endsWith('.ko')) files.set(file.replace(/^.*\//, '').slice(0, -3).replaceAll('-', '_'), file)
  }
  const order: { name: string; path: string }[] = []
  const state = new Map<string, 'visiting' | 'done'>()
  const visit = async (name: string, chain: string[]): Promise<void> => {
    const key = name.replaceAll('-', '_')
    if (state.get(key) === 'done') return
    if (state.get(key) === 'visiting')
      throw new Error(`Cannot order kernel modules: cycle ${chain.join(' -> ')}`)
    const file = files.get(key)
    if (file === undefined) throw new Error(`Cannot find kernel module ${name} under ${modulesDir}`)
    state.set(key, 'visiting')
    const path = join(modulesDir, file)
    for (const dep of moduleDepends(new ElfFile(await readFile(path), path)))
      await visit(dep, [...chain, dep])
    state.set(key, 'done')
    order.push({ name: key, path })
  }
  for (const name of wanted) await visit(name, [name])
  return order
}

/**
 * The shared libraries a program needs, found by reading DT_NEEDED recursively (like ldd, without
 * running anything) in the unpacked library packages. Returns soname -> real file.
 */
export async function sharedLibraries(
  program: string,
  searchDirs: readonly string[],
): Promise<Map<string, string>> {
  const found = new Map<string, string>()
  const locate = async (soname: string): Promise<string> => {
    for (const dir of searchDirs) {
      const candidate = join(dir, soname)
      if (await stat(candidate).catch(() => undefined)) return realpath(candidate)
    }
    throw new Error(`Cannot find shared library ${soname} (needed by ${program}) in ${searchDirs.join(', ')}`)
  }
  const queue = [program]
  while (queue.length > 0) {
    const file = queue.shift() as string
    for (const soname of new ElfFile(await readFile(file), file).needed()) {
      if (found.has(soname)) continue
      const path = await locate(soname)
      found.set(soname, path)
      queue.push(path)
    }
  }
  return found
}

async function _inputHash(fetched: FetchedPackages): Promise<string> {
  const hash = createHash('sha256')
  for (const [name, p] of Object.entries(fetched.packages).sort(([a], [b]) => a.localeCompare(b))) {
    hash.update(`${name}=${p.deb}\n`)
  }
  for (const source of SOURCES) {
    hash.update(`${source}\n`)
    hash.update(await readFile(join(import.meta.dirname, source)))
  }
  return hash.digest('hex')
}

/** A fetched package's root; throws when it was not fetched. */
function _rootOf(fetched: FetchedPackages, pkg: string): string {
  const p = fetched.packages[pkg]
  if (p === undefined) throw new Error(`Cannot build the test OS: package ${pkg} was not fetched`)
  return p.root
}

async function _buildInitramfs(fetched: FetchedPackages): Promise<Buffer> {
  const a = new CpioArchive()
  _skeleton(a)
  a.file('init', await readFile(join(import.meta.dirname, 'init.sh')), 0o755)
  a.file('etc/testos/udhcpc.sh', await readFile(join(import.meta.dirname, 'udhcpc.sh')), 0o755)
  a.file('etc/testos/install.sh', await readFile(join(import.meta.dirname, 'install.sh')), 0o644)
  await _busybox(a, fetched)
  // The kickstart's scripts call curl: a stand-in on top of busybox wget (after busybox's symlinks).
  a.file('usr/bin/curl', await readFile(join(import.meta.dirname, 'curl.sh')), 0o755)
  // The product's SSH sessions run `bash -c 'set -euo pipefail; ...'` (lib/ssh): busybox ash does.
  a.file('bin/bash', BASH_STANDIN, 0o755)
  await _dynamicTools(a, fetched)
  await _nicModules(a, fetched)
  for (const [path, text, mode] of identityFiles()) a.file(path, text, mode)
  return gzipSync(a.toBuffer(), { level: 9 })
}

/** `bash` in the test OS: busybox ash (it knows `set -euo pipefail`), named as a stand-in. */
export const BASH_STANDIN = '#!/bin/sh\n# homelab TEST OS: bash stand-in (busybox ash)\nexec /bin/sh "$@"\n'

/** The folders and the device nodes the kernel needs before /init runs. */
function _skeleton(a: CpioArchive): void {
  for (const d of [
    'bin',
    'sbin',
    'usr/bin',
    'usr/sbin',
    'proc',
    'sys',
    'dev',
    'run',
    'var/log',
    'etc/dropbear',
  ]) {
    a.dir(d)
  }
  a.dir('tmp', 0o1777)
  a.dir('root', 0o700)
  // The kernel opens /dev/console before /init runs; devtmpfs is mounted over /dev afterwards.
  a.charDevice('dev/console', 5, 1, 0o600)
  a.charDevice('dev/null', 1, 3, 0o666)
}

/** busybox and a symlink per applet (from the binary itself: it is static and runs on the build host). */
async function _busybox(a: CpioArchive, fetched: FetchedPackages): Promise<void> {
  const busybox = join(_rootOf(fetched, PACKAGE_FILES.busybox.pkg), PACKAGE_FILES.busybox.path)
  a.file('bin/busybox', await readFile(busybox), 0o755)
  for (const applet of (await _run(busybox, ['--list-full'])).split('\n').filter(Boolean)) {
    if (applet === 'bin/busybox' || applet === 'linuxrc' || applet === 'usr/bin/curl' || a.has(applet))
      continue
    a.symlink(applet, '/bin/busybox')
  }
}

/** dropbear, dropbearkey, efibootmgr, the loader and the libraries they need. */
async function _dynamicTools(a: CpioArchive, fetched: FetchedPackages): Promise<void> {
  const libDirs = LIBRARY_PACKAGES.flatMap((pkg) => LIBRARY_DIRS.map((d) => join(_rootOf(fetched, pkg), d)))
  const libs = new Map<string, string>()
  for (const tool of [PACKAGE_FILES.dropbear, PACKAGE_FILES.dropbearkey, PACKAGE_FILES.efibootmgr]) {
    const path = join(_rootOf(fetched, tool.pkg), tool.path)
    a.file(tool.path, await readFile(path), 0o755)
    for (const [soname, file] of await sharedLibraries(path, libDirs)) libs.set(soname, file)
  }
  const loader = join(_rootOf(fetched, 'libc6'), 'lib/x86_64-linux-gnu/ld-linux-x86-64.so.2')
  a.file('lib/x86_64-linux-gnu/ld-linux-x86-64.so.2', await readFile(loader), 0o755)
  a.symlink('lib64/ld-linux-x86-64.so.2', '/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2')
  for (const [soname, file] of [...libs].sort(([x], [y]) => x.localeCompare(y))) {
    if (a.has(`lib/x86_64-linux-gnu/${soname}`)) continue // the loader, needed by libc.so.6
    a.file(`lib/x86_64-linux-gnu/${soname}`, await readFile(file), 0o755)
  }
}

/** NIC drivers in dependency order, and the list /init loads them by. */
async function _nicModules(a: CpioArchive, fetched: FetchedPackages): Promise<void> {
  const modulesDir = join(
    _rootOf(fetched, fetched.kernelPackage),
    'lib/modules',
    fetched.kernelRelease,
    'kernel',
  )
  const modules = await moduleLoadOrder(modulesDir, KERNEL_MODULES)
  for (const m of modules) a.file(`lib/modules/testos/${m.name}.ko`, await readFile(m.path))
  a.file('etc/testos/modules', `${modules.map((m) => m.name).join('\n')}\n`)
}

/** Users and identity: root logs in with a key only; everything says "test OS". [path, text, mode?] */
export function identityFiles(): [string, string, number?][] {
  return [
    ['etc/passwd', 'root:x:0:0:root:/root:/bin/sh\nsshd:x:100:65534::/run/sshd:/bin/false\n'],
    ['etc/shadow', 'root:*:19000:0:99999:7:::\n', 0o600],
    ['etc/group', 'root:x:0:\nnogroup:x:65534:\n'],
    ['etc/shells', '/bin/sh\n/bin/ash\n'],
    ['etc/profile', `export PS1='[testos \\h \\w]# '\necho '${TESTOS_NAME}'\n`],
    ['etc/testos-release', `${TESTOS_NAME} ${TESTOS_VERSION}\n`],
    [
      'etc/os-release',
      [
        `NAME="${TESTOS_NAME}"`,
        `PRETTY_NAME="${TESTOS_NAME} ${TESTOS_VERSION}"`,
        'ID=homelab-testos',
        `VERSION_ID=${TESTOS_VERSION}`,
        'HOME_URL="https://example.invalid/homelab-testos"',
        '',
      ].join('\n'),
    ],
    [MARKER, `${TESTOS_NAME}: this is not Fedora\n`],
  ]
}

function _treeinfo(sums: Record<string, string>): string {
  return [
    '# homelab TEST OS (not Fedora): an install tree with Fedora layout, built from Debian packages',
    '[header]',
    'type = productmd.treeinfo',
    'version = 1.2',
    '',
    '[release]',
    `name = ${TESTOS_NAME}`,
    'short = homelab-testos',
    `version = ${TESTOS_VERSION}`,
    '',
    '[general]',
    `name = ${TESTOS_NAME} ${TESTOS_VERSION}`,
    'family = homelab-testos',
    `version = ${TESTOS_VERSION}`,
    'arch = x86_64',
    'platforms = x86_64',
    'variant = TestOS',
    'timestamp = 0',
    '',
    '[tree]',
    'arch = x86_64',
    'build_timestamp = 0',
    'platforms = x86_64',
    'variants = TestOS',
    '',
    '[images-x86_64]',
    'kernel = images/pxeboot/vmlinuz',
    'initrd = images/pxeboot/initrd.img',
    '',
    '[checksums]',
    ...Object.entries(sums).map(([path, sum]) => `${path} = sha256:${sum}`),
    '',
  ].join('\n')
}

function _grubConfig(): string {
  return [
    `# ${TESTOS_NAME}: boots the test OS kernel from this image (pass inst.ks=URL to install)`,
    'set timeout=5',
    `menuentry '${TESTOS_NAME}' {`,
    '  linux /images/pxeboot/vmlinuz console=ttyS0 console=tty0',
    '  initrd /images/pxeboot/initrd.img',
    '}',
    '',
  ].join('\n')
}

function _sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex')
}

/** Fetches the packages (once) and builds the test OS ISO, unless an up-to-date one exists. */
export async function buildTestOs(options: BuildOptions): Promise<TestOs> {
  const progress = options.progress ?? (() => undefined)
  const outDir = join(options.cacheDir, 'testos')
  return withCacheLock(options.cacheDir, async () => {
    const fetched = await fetchTestOsPackages({ cacheDir: options.cacheDir, progress })
    const inputHash = await _inputHash(fetched)
    const isoPaths = { 'fedora-like': join(outDir, ISO_NAME), signed: join(outDir, SIGNED_ISO_NAME) }
    const result = {
      isoPath: isoPaths[options.grub ?? testOsGrubFromEnv()],
      isoPaths,
      treeDir: join(outDir, 'tree'),
      kernelPath: join(outDir, 'tree/images/pxeboot/vmlinuz'),
      initrdPath: join(outDir, 'tree/images/pxeboot/initrd.img'),
      kernelRelease: fetched.kernelRelease,
      inputHash,
    }
    const stampPath = join(outDir, 'build.json')
    if (!options.force && (await _upToDate(Object.values(isoPaths), stampPath, inputHash)))
      return { ...result, built: false }
    progress(`building the test OS (kernel ${fetched.kernelRelease})`)
    const initrd = await _writeTree(result.treeDir, fetched, 'fedora-like')
    progress(`xorriso -> ${relative(process.cwd(), isoPaths['fedora-like'])}`)
    await _makeIso(result.treeDir, isoPaths['fedora-like'])
    const signedTree = join(outDir, 'tree-signed')
    await _writeTree(signedTree, fetched, 'signed', initrd)
    progress(`xorriso -> ${relative(process.cwd(), isoPaths.signed)}`)
    await _makeIso(signedTree, isoPaths.signed)
    await rm(signedTree, { recursive: true, force: true })
    await writeFile(
      stampPath,
      `${JSON.stringify({ inputHash, kernel: fetched.kernelPackage, initrdBytes: initrd.length }, null, 2)}\n`,
    )
    return { ...result, built: true }
  })
}

/** True when the ISOs are there and were built from these inputs. */
async function _upToDate(isoPaths: string[], stampPath: string, inputHash: string): Promise<boolean> {
  const stamp = await readFile(stampPath, 'utf8').catch(() => '')
  for (const isoPath of isoPaths) {
    const present = await stat(isoPath).then(
      () => true,
      () => false,
    )
    if (!present) return false
  }
  return stamp.includes(`"inputHash": "${inputHash}"`)
}

/**
 * An ISO's tree, made afresh: boot loaders (the GRUB of the flavour), kernel, initramfs (built, or
 * the one given: both flavours carry the same), .treeinfo, the marker. Returns the initramfs.
 */
async function _writeTree(
  treeDir: string,
  fetched: FetchedPackages,
  grub: TestOsGrub,
  builtInitrd?: Buffer,
): Promise<Buffer> {
  await rm(treeDir, { recursive: true, force: true })
  await mkdir(treeDir, { recursive: true })
  const put = async (path: string, data: Uint8Array | string): Promise<void> => {
    await mkdir(dirname(join(treeDir, path)), { recursive: true })
    await writeFile(join(treeDir, path), data)
  }
  const pkgFile = (f: { pkg: string; path: string }): string => join(_rootOf(fetched, f.pkg), f.path)
  await put('EFI/BOOT/BOOTX64.EFI', await readFile(pkgFile(PACKAGE_FILES.shim)))
  await put('EFI/BOOT/mmx64.efi', await readFile(pkgFile(PACKAGE_FILES.mokManager)))
  if (grub === 'signed') await put('EFI/BOOT/grubx64.efi', await readFile(pkgFile(PACKAGE_FILES.grub)))
  else await buildFedoraLikeGrub(fetched, join(treeDir, 'EFI/BOOT/grubx64.efi'))
  await put('EFI/BOOT/grub.cfg', _grubConfig())
  const kernelRoot = fetched.packages[fetched.kernelPackage]?.root as string
  const kernel = await readFile(join(kernelRoot, 'boot', `vmlinuz-${fetched.kernelRelease}`))
  await put('images/pxeboot/vmlinuz', kernel)
  const initrd = builtInitrd ?? (await _buildInitramfs(fetched))
  await put('images/pxeboot/initrd.img', initrd)
  await put(
    '.treeinfo',
    _treeinfo({ 'images/pxeboot/initrd.img': _sha256(initrd), 'images/pxeboot/vmlinuz': _sha256(kernel) }),
  )
  await put(MARKER, markerText(fetched))
  return initrd
}

/** The marker file at the ISO's root: what this image is, and what it was built from. */
export function markerText(fetched: Pick<FetchedPackages, 'kernelPackage' | 'packages'>): string {
  return [
    `${TESTOS_NAME} ${TESTOS_VERSION}`,
    'This image has the layout of a Fedora install ISO but is NOT Fedora: it is built from',
    'Debian packages by lab/testos/build.ts for the homelab lab and end-to-end tests.',
    `kernel: ${fetched.kernelPackage}`,
    ...Object.values(fetched.packages)
      .map((p) => `package: ${p.deb}`)
      .sort(),
    '',
  ].join('\n')
}

/** The ISO from the tree (xorriso), written beside and renamed into place. */
async function _makeIso(treeDir: string, isoPath: string): Promise<void> {
  const tmpIso = `${isoPath}.tmp`
  await rm(tmpIso, { force: true })
  await _run('xorriso', ['-as', 'mkisofs', '-quiet', '-R', '-J', '-V', VOLUME_ID, '-o', tmpIso, treeDir])
  await rename(tmpIso, isoPath)
}

if (import.meta.main) {
  const force = process.argv.includes('--force')
  const started = Date.now()
  buildTestOs({
    cacheDir: DEFAULT_CACHE_DIR,
    force,
    progress: (m) => process.stderr.write(`testos: ${m}\n`),
  }).then(
    (os) => {
      process.stdout.write(
        `${os.built ? 'built' : 'up to date'}: ${os.isoPath} (kernel ${os.kernelRelease}, ${((Date.now() - started) / 1000).toFixed(1)} s)\n`,
      )
    },
    (err: Error) => {
      process.stderr.write(`testos: ${err.message}\n`)
      process.exitCode = 1
    },
  )
}
