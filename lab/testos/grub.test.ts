import assert from 'node:assert/strict'
import { test } from 'node:test'
import { fedoraLikeGrubArgs, testOsGrubFromEnv } from './grub.ts'

test('testOsGrubFromEnv() picks the Fedora-like GRUB unless HOMELAB_TESTOS_GRUB=signed, and refuses other values', () => {
  assert.equal(testOsGrubFromEnv({}), 'fedora-like')
  assert.equal(testOsGrubFromEnv({ HOMELAB_TESTOS_GRUB: '' }), 'fedora-like')
  assert.equal(testOsGrubFromEnv({ HOMELAB_TESTOS_GRUB: 'fedora-like' }), 'fedora-like')
  assert.equal(testOsGrubFromEnv({ HOMELAB_TESTOS_GRUB: 'signed' }), 'signed')
  assert.throws(
    () => testOsGrubFromEnv({ HOMELAB_TESTOS_GRUB: 'Signed' }),
    /^TypeError: Cannot pick the test OS GRUB: HOMELAB_TESTOS_GRUB="Signed" is neither "fedora-like" nor "signed"$/,
  )
})

test('fedoraLikeGrubArgs() builds an x86_64-efi image with no prefix (config beside itself) and the network modules', () => {
  const args = fedoraLikeGrubArgs('/m', '/out.efi')
  assert.deepEqual(args.slice(0, 8), ['-O', 'x86_64-efi', '-d', '/m', '-p', '', '-o', '/out.efi'])
  for (const module of ['efinet', 'tftp', 'http', 'linux', 'normal', 'configfile'])
    assert.ok(args.slice(8).includes(module), module)
})
