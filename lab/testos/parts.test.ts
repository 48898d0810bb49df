import assert from 'node:assert/strict'
import { test } from 'node:test'
import { identityFiles, MARKER, markerText, TESTOS_NAME } from './build.ts'

test('markerText() says the image is not Fedora and lists the kernel and the packages, sorted', () => {
  const text = markerText({
    kernelPackage: 'linux-image-6.1',
    packages: {
      b: { deb: 'zlib_1.deb', root: '/x' },
      a: { deb: 'busybox_1.deb', root: '/y' },
    },
  } as unknown as Parameters<typeof markerText>[0])
  const lines = text.split('\n')
  assert.match(lines[1] ?? '', /NOT Fedora/)
  assert.deepEqual(lines.slice(3), [
    'kernel: linux-image-6.1',
    'package: busybox_1.deb',
    'package: zlib_1.deb',
    '',
  ])
})

test('identityFiles(): root has no password, only /etc/shadow is private, and the marker says test OS', () => {
  const files = new Map(identityFiles().map(([path, text, mode]) => [path, { text, mode }]))
  assert.equal(files.get('etc/shadow')?.text, 'root:*:19000:0:99999:7:::\n')
  assert.deepEqual(
    [...files].filter(([, f]) => f.mode !== undefined).map(([p, f]) => [p, f.mode]),
    [['etc/shadow', 0o600]],
  )
  assert.equal(files.get(MARKER)?.text, `${TESTOS_NAME}: this is not Fedora\n`)
})
