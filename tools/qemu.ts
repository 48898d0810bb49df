/**
 * Virtual machines on a TestNet: QEMU (q35) with its NIC on the test network's bridge,
 * booting from the network (firmware + iPXE), a CD-ROM image, or a kernel and initrd.
 *
 *   const net = await TestNet.create('e2e')
 *   const vm = await startVm(net, { mac: '52:54:00:12:34:56', firmware: 'uefi', boot: { kind: 'network' } })
 *   await vm.waitForLine(/SSH ready/, 90_000)      // throws with the last 30 console lines on timeout
 *   await vm.stop()                                 // or net.destroy(): the VM is a tracked process
 *
 * How it is wired: a tap device is made in the switch namespace and enslaved to br0, and QEMU
 * runs in that namespace (a tap is looked up by name in the opener's namespace). The serial
 * console goes to a file in a temp folder, removed by stop().
 *
 * Needs qemu-system-x86 (qemu-system-x86_64), ovmf (UEFI firmware) and ipxe-qemu (NIC option ROMs).
 * Uses TCG (software emulation: a UEFI boot to a running kernel takes ~30 s); HOMELAB_QEMU_ACCEL=kvm opts in to KVM.
 */
import { copyFile, mkdtemp, readFile, rm, truncate, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ovmfVarsTemplate, qemuArgs, type VmOptions } from '../lab/qemu-args.ts'
import { type NsProcess, sh, type TestNet } from './netns.ts'

export type { Firmware, VmBoot, VmOptions } from '../lab/qemu-args.ts'
export { DEFAULT_ACCEL, OVMF_HTTP_BOOT_ARGS, QEMU_FILES, qemuArgs } from '../lab/qemu-args.ts'

/** Lines of console shown when a wait fails. */
const TAIL_LINES = 30

export interface Vm {
  readonly pid: number
  readonly mac: string
  /** The tap device on br0 (in the switch namespace). */
  readonly tap: string
  /** The serial console log file. */
  readonly consolePath: string
  /** The QEMU command line (for messages). */
  readonly args: readonly string[]
  /** Resolves with QEMU's exit code (or signal name) when it ends. */
  readonly exited: Promise<number | string>
  /** The console so far. */
  console(): Promise<string>
  /**
   * Waits for a console line matching `pattern` and returns it. Throws when QEMU exits first or
   * after timeoutMs, with the last 30 lines of the console (and QEMU's own stderr).
   */
  waitForLine(pattern: RegExp, timeoutMs: number): Promise<string>
  /** Kills QEMU by PID and removes its temp folder and tap device. Safe to call twice. */
  stop(): Promise<void>
}

const tapCounters = new WeakMap<TestNet, number>()

export interface StartVmOptions extends Omit<VmOptions, 'disk'> {
  /** A blank virtio disk of this size (the guest's vda), kept until stop(). */
  readonly diskMb?: number
}

/** Starts a VM whose NIC is on the net's bridge. The QEMU process is tracked by the net. */
export async function startVm(net: TestNet, options: StartVmOptions): Promise<Vm> {
  const n = tapCounters.get(net) ?? 0
  tapCounters.set(net, n + 1)
  const tap = `tap${n}`
  const dir = await mkdtemp(join(tmpdir(), 'hl-vm-'))
  const consolePath = join(dir, 'console.log')
  let varsPath: string | undefined
  let disk: string | undefined
  try {
    if (options.diskMb !== undefined) {
      // A sparse raw disk in the VM's temp folder: it lives as long as this QEMU process.
      disk = join(dir, 'disk.img')
      await writeFile(disk, '')
      await truncate(disk, options.diskMb * 1024 * 1024)
    }
    const template = ovmfVarsTemplate(options.firmware ?? 'uefi')
    if (template !== undefined) {
      varsPath = join(dir, 'OVMF_VARS.fd')
      await copyFile(template, varsPath)
    }
    await sh('ip', ['-n', net.switchNs, 'tuntap', 'add', tap, 'mode', 'tap'])
    await sh('ip', ['-n', net.switchNs, 'link', 'set', tap, 'master', 'br0'])
    await sh('ip', ['-n', net.switchNs, 'link', 'set', tap, 'up'])
  } catch (cause) {
    await rm(dir, { recursive: true, force: true })
    throw cause
  }
  const args = qemuArgs(
    { ...options, ...(disk === undefined ? {} : { disk }) },
    { tap, consolePath, ...(varsPath === undefined ? {} : { varsPath }) },
  )
  let proc: NsProcess
  try {
    proc = net.spawnIn(net.switchNs, ['qemu-system-x86_64', ...args])
  } catch (cause) {
    await rm(dir, { recursive: true, force: true })
    throw cause
  }

  const consoleText = async (): Promise<string> => readFile(consolePath, 'utf8').catch(() => '')
  const tail = async (): Promise<string> => {
    const lines = (await consoleText()).replace(/\r/g, '').split('\n')
    return lines.slice(-TAIL_LINES).join('\n')
  }
  let stopped: Promise<void> | undefined
  let ended: number | string | undefined
  void proc.exited.then((code) => {
    ended = code
  })

  return {
    pid: proc.pid,
    mac: options.mac,
    tap,
    consolePath,
    args,
    exited: proc.exited,
    console: consoleText,
    async waitForLine(pattern: RegExp, timeoutMs: number): Promise<string> {
      const deadline = Date.now() + timeoutMs
      for (;;) {
        const text = (await consoleText()).replace(/\r/g, '')
        const line = text.split('\n').find((l) => pattern.test(l))
        if (line !== undefined) return line
        if (ended !== undefined || Date.now() > deadline) {
          const why =
            ended !== undefined ? `QEMU exited (${ended}) first` : `no such line after ${timeoutMs} ms`
          const stderr = proc.output().trim()
          throw new Error(
            `Cannot find console line ${pattern} on VM ${options.mac}: ${why}\n` +
              `--- last ${TAIL_LINES} console lines ---\n${await tail()}\n--- end of console ---` +
              (stderr === '' ? '' : `\n--- qemu stderr ---\n${stderr.slice(-2000)}`),
          )
        }
        await new Promise((r) => setTimeout(r, 200))
      }
    },
    stop(): Promise<void> {
      stopped ??= (async () => {
        await proc.kill('SIGTERM')
        await sh('ip', ['-n', net.switchNs, 'link', 'del', tap]).catch(() => undefined)
        await rm(dir, { recursive: true, force: true })
      })()
      return stopped
    },
  }
}
