/**
 * Sends an installed machine back to the network once, for `metal --reinstall NAME`: over SSH (pinned
 * to the host key recorded at its install) it sets UEFI BootNext to the machine's network boot entry
 * with efibootmgr and reboots. BootOrder is left as the installer made it, so every later boot is
 * from disk again. Where that cannot work (BIOS, no efibootmgr, no network entry, no SSH) the outcome
 * says what the operator does instead: choose network boot once in the firmware's boot menu.
 * docs/metal-pxe.md ("Reinstalling") explains why BootNext and not a PXE-first BootOrder.
 */
import type { Machine } from '../../core/config/schema.ts'
import { quote, type RunResult } from '../../lib/ssh/index.ts'
import { sanitizeLine } from '../pxe/http-report.ts'
import { chooseNetbootEntry, parseEfibootmgr } from './efiboot.ts'

/** The part of an SSH session this needs (lib/ssh's SshSession has it; tests give a stand-in). */
export interface RemoteShell {
  run(script: string, options?: { allowFailure?: boolean }): Promise<RunResult>
  close(): Promise<void>
}

export interface NetbootOutcome {
  /** `rebooted`: BootNext set and the machine rebooting; `manual`: the operator must act. */
  readonly result: 'rebooted' | 'manual'
  readonly detail: string
}

/** What the machine has: UEFI or BIOS, and whether efibootmgr is installed. */
export const PROBE_SCRIPT = [
  'if [ -d /sys/firmware/efi ]; then echo firmware=uefi; else echo firmware=bios; fi',
  'if command -v efibootmgr >/dev/null 2>&1; then echo efibootmgr=yes; else echo efibootmgr=no; fi',
].join('\n')

/**
 * Reboots a second after the SSH command returned, detached from the session, so the exit status
 * arrives before sshd stops: `systemctl reboot` where systemd runs (Fedora), else `reboot`
 * (busybox, as in the lab's test OS).
 */
export const REBOOT_SCRIPT =
  "( trap '' HUP; sleep 1; if command -v systemctl >/dev/null 2>&1; then systemctl reboot; else reboot; fi ) </dev/null >/dev/null 2>&1 &"

/** The first lines of what a peer printed, safe for a terminal. */
function _shown(text: string, lines = 3): string {
  return text
    .split(/\r?\n/)
    .map(sanitizeLine)
    .filter((l) => l.trim() !== '')
    .slice(0, lines)
    .join(' / ')
}

function _manual(m: Machine, why: string): NetbootOutcome {
  return {
    result: 'manual',
    detail: `${why}: reboot ${m.name} and choose network boot (PXE) once in its firmware's boot menu (often F12, F11 or Esc as it starts); the run waits for its netboot`,
  }
}

/** The steps on an open session; every failure is a `manual` outcome, never a throw. */
async function _steps(m: Machine, shell: RemoteShell): Promise<NetbootOutcome> {
  const probe = await shell.run(PROBE_SCRIPT, { allowFailure: true })
  if (probe.stdout.includes('firmware=bios')) {
    return _manual(m, 'it runs in BIOS mode (no /sys/firmware/efi), where Linux cannot choose the next boot')
  }
  if (!probe.stdout.includes('efibootmgr=yes')) {
    return _manual(
      m,
      'efibootmgr is not installed on it (`dnf install efibootmgr` lets the next --reinstall do this)',
    )
  }
  const list = await shell.run('efibootmgr -v', { allowFailure: true })
  if (list.code !== 0)
    return _manual(m, `efibootmgr -v failed with code ${list.code}: ${_shown(list.stderr)}`)
  const choice = chooseNetbootEntry(parseEfibootmgr(list.stdout), m.mac)
  if (choice.kind === 'none') return _manual(m, choice.why)
  const num = choice.entry.num
  const set = await shell.run(`efibootmgr --bootnext ${quote(num)}`, { allowFailure: true })
  if (set.code !== 0 || parseEfibootmgr(set.stdout).next !== num) {
    return _manual(
      m,
      `efibootmgr --bootnext ${num} did not set BootNext (code ${set.code}: ${_shown(`${set.stderr}\n${set.stdout}`)})`,
    )
  }
  const reboot = await shell.run(REBOOT_SCRIPT, { allowFailure: true })
  if (reboot.code !== 0) {
    return _manual(
      m,
      `BootNext is ${num}, but the reboot failed with code ${reboot.code}: ${_shown(reboot.stderr)}`,
    )
  }
  return { result: 'rebooted', detail: `BootNext set to ${choice.why}; rebooting it to netboot once` }
}

/**
 * Sets BootNext to the machine's network entry and reboots it, over the session `connect` opens
 * (pinned to the recorded host key). Never throws: a failure is a `manual` outcome saying why.
 */
export async function netbootAgain(m: Machine, connect: () => Promise<RemoteShell>): Promise<NetbootOutcome> {
  let shell: RemoteShell
  try {
    shell = await connect()
  } catch (cause) {
    return _manual(m, `cannot connect to it over SSH (${_shown((cause as Error).message, 1)})`)
  }
  try {
    return await _steps(m, shell)
  } catch (cause) {
    return _manual(m, `the SSH session failed (${_shown((cause as Error).message, 1)})`)
  } finally {
    await shell.close().catch(() => undefined)
  }
}
