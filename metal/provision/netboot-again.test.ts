/** netbootAgain() against a stand-in shell that answers like efibootmgr and records each command. */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import type { Machine } from '../../core/config/schema.ts'
import type { RunResult } from '../../lib/ssh/index.ts'
import { netbootAgain, PROBE_SCRIPT, REBOOT_SCRIPT, type RemoteShell } from './netboot-again.ts'

const m = { name: 'metal1', ip: '10.0.0.11', mac: '52:54:00:12:34:56' } as Machine

const LIST = [
  'BootCurrent: 0004',
  'BootOrder: 0004,0001,0000',
  'Boot0000* UiApp\tFvVol(7cb8bdc9-f8eb-4f34-aaea-3ee4af6516a1)/FvFile(462caa21-7614-4503-836e-8ab6f4662331)',
  'Boot0001* UEFI PXEv4 (MAC:525400123456)\tPciRoot(0x0)/Pci(0x2,0x0)/MAC(525400123456,1)/IPv4(0.0.0.00.0.0.0,0,0)',
  'Boot0004* Fedora\tHD(1,GPT,5f1a0c8e-2f6e-4a3c-9d8e-0b1c2d3e4f50,0x800,0x12c000)/File(\\EFI\\fedora\\shimx64.efi)',
].join('\n')

/** A stand-in for an SSH session: answers each script from `answers` (else exit 0, no output). */
function standIn(answers: Record<string, Partial<RunResult>>) {
  const ran: string[] = []
  let closed = false
  const shell: RemoteShell = {
    run: async (script) => {
      ran.push(script)
      return { code: 0, stdout: '', stderr: '', ...answers[script] }
    },
    close: async () => {
      closed = true
    },
  }
  return { shell, ran, closed: () => closed }
}

const UEFI = { stdout: 'firmware=uefi\nefibootmgr=yes\n' }

test('netbootAgain() sets BootNext to the PXE entry naming the MAC, checks it, then reboots', async () => {
  const s = standIn({
    [PROBE_SCRIPT]: UEFI,
    'efibootmgr -v': { stdout: LIST },
    'efibootmgr --bootnext 0001': { stdout: `BootNext: 0001\n${LIST}` },
  })
  const outcome = await netbootAgain(m, async () => s.shell)
  assert.deepEqual(s.ran, [PROBE_SCRIPT, 'efibootmgr -v', 'efibootmgr --bootnext 0001', REBOOT_SCRIPT])
  assert.deepEqual(outcome, {
    result: 'rebooted',
    detail:
      'BootNext set to Boot0001 "UEFI PXEv4 (MAC:525400123456)" names its MAC 52:54:00:12:34:56; rebooting it to netboot once',
  })
  assert.ok(s.closed())
})

test('netbootAgain() asks for the firmware menu, and reboots nothing, when it cannot set BootNext', async () => {
  const FIX =
    /: reboot metal1 and choose network boot \(PXE\) once in its firmware's boot menu .*the run waits for its netboot$/
  const cases: [string, Record<string, Partial<RunResult>>, RegExp][] = [
    ['BIOS', { [PROBE_SCRIPT]: { stdout: 'firmware=bios\nefibootmgr=yes\n' } }, /^it runs in BIOS mode/],
    [
      'no efibootmgr',
      { [PROBE_SCRIPT]: { stdout: 'firmware=uefi\nefibootmgr=no\n' } },
      /^efibootmgr is not installed on it/,
    ],
    [
      'efibootmgr fails',
      {
        [PROBE_SCRIPT]: UEFI,
        'efibootmgr -v': { code: 2, stderr: 'EFI variables are not supported on this system.\n' },
      },
      /^efibootmgr -v failed with code 2: EFI variables are not supported on this system\./,
    ],
    [
      'no network entry',
      {
        [PROBE_SCRIPT]: UEFI,
        'efibootmgr -v': {
          stdout: 'BootOrder: 0004\nBoot0004* Fedora\tHD(1,GPT,x)/File(\\EFI\\fedora\\shimx64.efi)',
        },
      },
      /^no boot entry is a network boot entry \(entries: Boot0004 "Fedora"\); enable network boot/,
    ],
    [
      'BootNext not set',
      {
        [PROBE_SCRIPT]: UEFI,
        'efibootmgr -v': { stdout: LIST },
        'efibootmgr --bootnext 0001': { stdout: LIST },
      },
      /^efibootmgr --bootnext 0001 did not set BootNext \(code 0: BootCurrent: 0004/,
    ],
  ]
  for (const [name, answers, why] of cases) {
    const s = standIn(answers)
    const outcome = await netbootAgain(m, async () => s.shell)
    assert.equal(outcome.result, 'manual', name)
    assert.match(outcome.detail, why, name)
    assert.match(outcome.detail, FIX, name)
    assert.ok(!s.ran.includes(REBOOT_SCRIPT), name)
    assert.ok(s.closed(), name)
  }
})

test('netbootAgain() turns a failed SSH connection or session into the manual way, never a throw', async () => {
  const refused = await netbootAgain(m, async () => {
    throw new Error('Cannot connect to 10.0.0.11:22 over SSH: \u001b[31mhost key changed')
  })
  assert.equal(refused.result, 'manual')
  assert.match(
    refused.detail,
    /^cannot connect to it over SSH \(Cannot connect to 10\.0\.0\.11:22 over SSH: {2}\[31mhost key changed\)/,
  )
  let closed = false
  const broken = await netbootAgain(m, async () => ({
    run: async () => {
      throw new Error('channel closed')
    },
    close: async () => {
      closed = true
    },
  }))
  assert.match(broken.detail, /^the SSH session failed \(channel closed\)/)
  assert.ok(closed)
})
