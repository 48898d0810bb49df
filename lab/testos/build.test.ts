import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { createHash } from 'node:crypto'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { promisify } from 'node:util'
import { gunzipSync } from 'node:zlib'
import { IsoImage } from '../../lib/iso9660/index.ts'
import { buildTestOs, DEFAULT_CACHE_DIR, moduleLoadOrder, sharedLibraries } from './build.ts'
import { ElfFile } from './elf.ts'
import { fetchTestOsPackages } from './fetch.ts'
import { LIBRARY_DIRS, LIBRARY_PACKAGES, PACKAGE_FILES } from './packages.ts'

const exec = promisify(execFile)

async function readIsoFile(image: IsoImage, path: string): Promise<Buffer> {
  const file = await image.open(path)
  try {
    const buffer = Buffer.alloc(file.size)
    let done = 0
    while (done < file.size) {
      const n = await file.read(buffer, done, file.size - done, done)
      if (n <= 0) break
      done += n
    }
    return buffer.subarray(0, done)
  } finally {
    await file.close()
  }
}

const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex')

test('buildTestOs() makes an ISO with the Fedora layout that says it is the test OS', async () => {
  const os = await buildTestOs({ cacheDir: DEFAULT_CACHE_DIR, grub: 'fedora-like' })
  assert.equal(os.isoPath, os.isoPaths['fedora-like'])
  const image = await IsoImage.open(os.isoPath)
  try {
    assert.equal(image.volumeId, 'HOMELAB-TESTOS')
    const names = async (path: string) => (await image.list(path)).map((e) => e.name).sort()
    assert.deepEqual(await names('/'), ['.treeinfo', 'EFI', 'HOMELAB-TEST-OS', 'images'])
    assert.deepEqual(await names('EFI/BOOT'), ['BOOTX64.EFI', 'grub.cfg', 'grubx64.efi', 'mmx64.efi'])
    assert.deepEqual(await names('images/pxeboot'), ['initrd.img', 'vmlinuz'])

    // Shim and MokManager are the signed Debian binaries, byte for byte.
    const fetched = await fetchTestOsPackages({ cacheDir: DEFAULT_CACHE_DIR })
    const pkgFile = (f: { pkg: string; path: string }) => join(fetched.packages[f.pkg]?.root ?? '', f.path)
    assert.equal(
      sha256(await readIsoFile(image, 'EFI/BOOT/BOOTX64.EFI')),
      sha256(await readFile(pkgFile(PACKAGE_FILES.shim))),
    )
    assert.equal(
      sha256(await readIsoFile(image, 'EFI/BOOT/mmx64.efi')),
      sha256(await readFile(pkgFile(PACKAGE_FILES.mokManager))),
    )
    // GRUB is the Fedora-like one made with grub-mkimage (a PE image), not Debian's signed one;
    // test/metal-qemu.test.ts proves it loads kernel and initrd over HTTP.
    const grub = await readIsoFile(image, 'EFI/BOOT/grubx64.efi')
    assert.equal(grub.subarray(0, 2).toString('latin1'), 'MZ')
    assert.notEqual(sha256(grub), sha256(await readFile(pkgFile(PACKAGE_FILES.grub))))
    const kernel = await readIsoFile(image, 'images/pxeboot/vmlinuz')
    assert.equal(kernel.subarray(0x202, 0x206).toString('latin1'), 'HdrS', 'a bzImage')

    const marker = (await readIsoFile(image, 'HOMELAB-TEST-OS')).toString()
    assert.match(marker, /^homelab TEST OS \(not Fedora\) 1\n/)
    assert.match(marker, /is NOT Fedora/)
    assert.match(marker, new RegExp(`kernel: ${fetched.kernelPackage}`))

    const treeinfo = (await readIsoFile(image, '.treeinfo')).toString()
    const general = /\[general\]\n([\s\S]*?)\n\n/.exec(treeinfo)?.[1] ?? ''
    assert.match(general, /^name = homelab TEST OS \(not Fedora\) 1$/m)
    assert.match(general, /^arch = x86_64$/m)
    assert.match(treeinfo, /^kernel = images\/pxeboot\/vmlinuz$/m)
    const initrd = await readIsoFile(image, 'images/pxeboot/initrd.img')
    assert.match(treeinfo, new RegExp(`^images/pxeboot/initrd.img = sha256:${sha256(initrd)}$`, 'm'))
    assert.match(treeinfo, new RegExp(`^images/pxeboot/vmlinuz = sha256:${sha256(kernel)}$`, 'm'))
  } finally {
    await image.close()
  }

  // Nothing changed: the next call reuses the ISO.
  const again = await buildTestOs({ cacheDir: DEFAULT_CACHE_DIR })
  assert.equal(again.built, false)
  assert.equal(again.inputHash, os.inputHash)
})

test('buildTestOs() makes a Secure Boot flavour with the same tree but the signed Debian GRUB', async () => {
  const os = await buildTestOs({ cacheDir: DEFAULT_CACHE_DIR, grub: 'signed' })
  assert.equal(os.isoPath, os.isoPaths.signed)
  const fetched = await fetchTestOsPackages({ cacheDir: DEFAULT_CACHE_DIR })
  const pkgFile = (f: { pkg: string; path: string }) => join(fetched.packages[f.pkg]?.root ?? '', f.path)
  const signed = await IsoImage.open(os.isoPaths.signed)
  const plain = await IsoImage.open(os.isoPaths['fedora-like'])
  try {
    assert.equal(
      sha256(await readIsoFile(signed, 'EFI/BOOT/grubx64.efi')),
      sha256(await readFile(pkgFile(PACKAGE_FILES.grub))),
    )
    for (const path of [
      'EFI/BOOT/BOOTX64.EFI',
      'EFI/BOOT/mmx64.efi',
      'images/pxeboot/initrd.img',
      '.treeinfo',
    ])
      assert.equal(sha256(await readIsoFile(signed, path)), sha256(await readIsoFile(plain, path)), path)
  } finally {
    await signed.close()
    await plain.close()
  }
})

test('the initramfs holds init, busybox applets, dropbear and efibootmgr with their libraries, the curl stand-in and the modules in order', async () => {
  const os = await buildTestOs({ cacheDir: DEFAULT_CACHE_DIR })
  const dir = await mkdtemp(join(tmpdir(), 'hl-initrd-'))
  try {
    const cpio = join(dir, 'initrd.cpio')
    await writeFile(cpio, gunzipSync(await readFile(os.initrdPath)))
    const { stdout } = await exec('sh', ['-c', `cpio -tv --quiet < '${cpio}'`], {
      maxBuffer: 8 * 1024 * 1024,
    })
    const listing = stdout.split('\n')
    const has = (re: RegExp) =>
      assert.ok(
        listing.some((l) => re.test(l)),
        `initramfs lists ${re}`,
      )
    has(/^-rwxr-xr-x .* init$/)
    has(/^crw------- .* 5,\s+1 .* dev\/console$/)
    has(/^-rwxr-xr-x .* bin\/busybox$/)
    has(/ usr\/bin\/wget -> \/bin\/busybox$/)
    has(/ sbin\/udhcpc -> \/bin\/busybox$/)
    has(/ usr\/sbin\/dropbear$/)
    has(/ bin\/efibootmgr$/)
    // The kickstart scripts' curl is the stand-in script, not busybox.
    has(/^-rwxr-xr-x .* usr\/bin\/curl$/)
    // The product's SSH sessions run bash -c: a stand-in that runs busybox ash.
    has(/^-rwxr-xr-x .* bin\/bash$/)
    has(/^-rw-r--r-- .* etc\/testos\/install\.sh$/)
    for (const lib of [
      'libc.so.6',
      'libefivar.so.1',
      'libefiboot.so.1',
      'libcrypt.so.1',
      'libtomcrypt.so.1',
      'libtommath.so.1',
      'libgmp.so.10',
      'libz.so.1',
    ]) {
      has(new RegExp(` lib/x86_64-linux-gnu/${lib.replaceAll('.', '\\.')}$`))
    }
    has(/ lib64\/ld-linux-x86-64\.so\.2 -> \/lib\/x86_64-linux-gnu\/ld-linux-x86-64\.so\.2$/)
    has(/ HOMELAB-TEST-OS$/)

    await exec('sh', ['-c', `cd '${dir}' && cpio -id --quiet etc/testos/modules etc/os-release < '${cpio}'`])
    // The order the lab facts give, computed from each module's .modinfo depends=.
    assert.deepEqual((await readFile(join(dir, 'etc/testos/modules'), 'utf8')).trim().split('\n'), [
      'virtio_ring',
      'virtio_pci_modern_dev',
      'virtio_pci_legacy_dev',
      'virtio',
      'virtio_pci',
      'failover',
      'net_failover',
      'virtio_net',
      'virtio_blk',
      'fat',
      'vfat',
      'nls_cp437',
      'nls_ascii',
      'efivarfs',
    ])
    assert.match(
      await readFile(join(dir, 'etc/os-release'), 'utf8'),
      /^NAME="homelab TEST OS \(not Fedora\)"$/m,
    )
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
})

test('sharedLibraries() follows DT_NEEDED through libraries (dropbear -> libtomcrypt -> libgmp)', async () => {
  const fetched = await fetchTestOsPackages({ cacheDir: DEFAULT_CACHE_DIR })
  const root = (pkg: string) => fetched.packages[pkg]?.root ?? ''
  const dropbear = join(root('dropbear-bin'), PACKAGE_FILES.dropbear.path)
  const elf = new ElfFile(await readFile(dropbear))
  assert.equal(elf.interpreter(), '/lib64/ld-linux-x86-64.so.2')
  assert.ok(elf.needed().includes('libtomcrypt.so.1'))
  assert.ok(!elf.needed().includes('libgmp.so.10'), 'libgmp is only an indirect dependency')
  const libs = await sharedLibraries(
    dropbear,
    LIBRARY_PACKAGES.flatMap((p) => LIBRARY_DIRS.map((d) => join(root(p), d))),
  )
  assert.deepEqual([...libs.keys()].sort(), [
    'ld-linux-x86-64.so.2',
    'libc.so.6',
    'libcrypt.so.1',
    'libgmp.so.10',
    'libtomcrypt.so.1',
    'libtommath.so.1',
    'libz.so.1',
  ])
  await assert.rejects(
    sharedLibraries(dropbear, [root('libc6')]),
    /Cannot find shared library libtomcrypt\.so\.1/,
  )
  // A static binary needs nothing.
  assert.equal(
    new ElfFile(await readFile(join(root('busybox-static'), 'bin/busybox'))).interpreter(),
    undefined,
  )

  const modulesDir = join(root(fetched.kernelPackage), 'lib/modules', fetched.kernelRelease, 'kernel')
  await assert.rejects(
    moduleLoadOrder(modulesDir, ['no_such_module']),
    /Cannot find kernel module no_such_module/,
  )
})
