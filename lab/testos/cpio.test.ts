import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { lstat, mkdtemp, readFile, readlink, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { promisify } from 'node:util'
import { CpioArchive } from './cpio.ts'

const exec = promisify(execFile)

/** An archive with every kind of member and data lengths around the 4-byte alignment. */
function sample(): CpioArchive {
  const a = new CpioArchive()
  a.file('init', '#!/bin/sh\necho hi\n', 0o755)
  a.symlink('bin/sh', 'busybox')
  a.file('bin/busybox', new Uint8Array(Array.from({ length: 4099 }, (_, i) => (i * 7) & 0xff)), 0o755)
  a.dir('proc', 0o555)
  a.dir('root', 0o700)
  a.file('root/.ssh/authorized_keys', 'ssh-ed25519 AAAA test\n', 0o600)
  a.charDevice('dev/console', 5, 1, 0o600)
  for (let n = 0; n < 5; n++) a.file(`etc/pad${n}`, 'x'.repeat(n))
  a.file('empty', '')
  a.symlink('lib64/ld-linux-x86-64.so.2', '/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2')
  return a
}

test('CpioArchive.toBuffer() writes a newc header with mode, size and name length in hex', () => {
  const bytes = new CpioArchive().file('a', 'xyz', 0o644).toBuffer()
  const header = bytes.subarray(0, 110).toString('ascii')
  assert.equal(
    header,
    '070701' +
      '00000001' + // ino
      '000081a4' + // mode: regular file 0644
      '00000000' + // uid
      '00000000' + // gid
      '00000001' + // nlink
      '00000000' + // mtime
      '00000003' + // filesize
      '00000000' + // devmajor
      '00000000' + // devminor
      '00000000' + // rdevmajor
      '00000000' + // rdevminor
      '00000002' + // namesize "a\0"
      '00000000', // check
  )
  // name "a\0" padded to 112, data "xyz" padded to 116, then the trailer
  assert.equal(bytes.subarray(110, 112).toString('latin1'), 'a\0')
  assert.equal(bytes.subarray(112, 116).toString('latin1'), 'xyz\0')
  assert.equal(bytes.subarray(116, 122).toString('ascii'), '070701')
  assert.equal(bytes.subarray(116 + 110, 116 + 110 + 11).toString('latin1'), 'TRAILER!!!\0')
  assert.equal(bytes.length % 4, 0)
})

test('CpioArchive adds parent folders first and is deterministic', () => {
  const a = sample()
  const paths = a.list().map((e) => e.path)
  assert.deepEqual(paths.slice(0, 4), ['init', 'bin', 'bin/sh', 'bin/busybox'])
  assert.ok(paths.indexOf('root/.ssh') > paths.indexOf('root'))
  assert.ok(paths.indexOf('root/.ssh/authorized_keys') > paths.indexOf('root/.ssh'))
  assert.deepEqual(sample().toBuffer(), a.toBuffer())
})

test('CpioArchive rejects absolute, escaping and duplicate paths', () => {
  const a = new CpioArchive()
  assert.throws(() => a.file('/etc/passwd', ''), TypeError)
  assert.throws(() => a.file('etc/../../x', ''), TypeError)
  assert.throws(() => a.file('', ''), TypeError)
  a.file('etc/x', '')
  assert.throws(() => a.file('etc/x', ''), /already there/)
  assert.throws(() => a.dir('etc/x'), /non-folder/)
  assert.throws(() => a.symlink('l', ''), TypeError)
})

test('CpioArchive output is read back byte-identically by GNU cpio (cpio -t, cpio -idm)', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'hl-cpio-'))
  try {
    const a = sample()
    const archive = join(dir, 'a.cpio')
    await writeFile(archive, a.toBuffer())

    const { stdout: listing } = await exec('sh', ['-c', `cpio -t --quiet < '${archive}'`])
    assert.deepEqual(
      listing.trim().split('\n'),
      a.list().map((e) => e.path),
    )

    const out = join(dir, 'out')
    await exec('mkdir', [out])
    await exec('sh', ['-c', `cd '${out}' && cpio -idm --quiet --no-absolute-filenames < '${archive}'`])
    for (const e of a.list()) {
      const path = join(out, e.path)
      const st = await lstat(path)
      assert.equal(st.mode, e.mode, `mode of ${e.path}`)
      if (st.isFile()) {
        assert.deepEqual(await readFile(path), Buffer.from(e.data), `contents of ${e.path}`)
        assert.equal(st.mtimeMs, 0, `mtime of ${e.path}`)
      } else if (st.isSymbolicLink()) {
        assert.equal(await readlink(path), new TextDecoder().decode(e.data))
      } else if (st.isCharacterDevice()) {
        assert.equal(st.rdev, (5 << 8) | 1)
      } else {
        assert.ok(st.isDirectory(), `${e.path} is a folder`)
      }
    }
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
})
