/**
 * The lab's seam to the system: running commands (ip, apt-get), starting daemons that
 * outlive the CLI, and finding or ending them again by PID. A PID is trusted only when
 * /proc/PID/cmdline still contains what the lab started it with, so a recycled PID is
 * never signalled.
 */
import { execFile, spawn } from 'node:child_process'
import { open, readFile } from 'node:fs/promises'
import { promisify } from 'node:util'
import { PollTimeoutError, poll } from '../lib/poll/index.ts'

const execFileP = promisify(execFile)

/** Runs a command to completion and returns its stdout; the error names the command and its stderr. */
export async function run(cmd: string, args: readonly string[]): Promise<string> {
  try {
    const { stdout } = await execFileP(cmd, [...args], { maxBuffer: 16 * 1024 * 1024 })
    return stdout
  } catch (cause) {
    const err = cause as NodeJS.ErrnoException & { stderr?: string }
    if (err.code === 'ENOENT') throw new Error(`Cannot run ${cmd}: it is not installed`, { cause })
    const stderr = err.stderr?.trim()
    throw new Error(`Command failed: ${cmd} ${args.join(' ')}: ${stderr || err.message}`, { cause })
  }
}

/** `ip` with arguments; `ns` runs it against that namespace (`ip -n NS ...`). */
export function ip(args: readonly string[], ns?: string): Promise<string> {
  return run('ip', ns === undefined ? args : ['-n', ns, ...args])
}

/** The command line of a process, arguments joined by spaces; undefined when it is gone. */
export async function commandLine(pid: number): Promise<string | undefined> {
  try {
    const raw = await readFile(`/proc/${pid}/cmdline`)
    if (raw.length === 0) return undefined // a zombie
    return raw.toString('utf8').split('\0').join(' ').trim()
  } catch {
    return undefined
  }
}

/** True when `pid` runs and its command line contains `marker` (so a recycled PID does not count). */
export async function isRunning(pid: number | undefined, marker: string): Promise<boolean> {
  if (pid === undefined || !Number.isInteger(pid) || pid <= 1) return false
  const cmd = await commandLine(pid)
  return cmd?.includes(marker) === true
}

/**
 * isRunning(), read twice 200 ms apart when the first read says no: while a just-started
 * process execs its program, its command line can read empty for a moment.
 */
export async function runningAfterStart(pid: number, marker: string): Promise<boolean> {
  if (await isRunning(pid, marker)) return true
  await sleep(200)
  return isRunning(pid, marker)
}

/**
 * Ends the process by PID when it is still the one we started (its command line contains
 * `marker`): SIGTERM, then SIGKILL after graceMs. Resolves when it is gone; true if it ran.
 */
export async function stopProcess(pid: number | undefined, marker: string, graceMs = 3000): Promise<boolean> {
  if (pid === undefined || !(await isRunning(pid, marker))) return false
  signal(pid, 'SIGTERM')
  await waitGone(pid, marker, graceMs).catch(async (error: unknown) => {
    if (!(error instanceof PollTimeoutError)) throw error
    signal(pid, 'SIGKILL')
    await waitGone(pid, marker, 5000).catch((e: unknown) => {
      if (!(e instanceof PollTimeoutError)) throw e
    })
  })
  return true
}

/** Waits up to ms for the process to be gone, else throws lib/poll's PollTimeoutError. */
async function waitGone(pid: number, marker: string, ms: number): Promise<void> {
  const gone = async () => ((await isRunning(pid, marker)) ? undefined : true)
  await poll(gone, { what: `process ${pid} to end`, intervalMs: 50, timeoutMs: ms })
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig)
  } catch {
    // already gone
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}

/**
 * Starts a daemon that outlives this process: its own session, stdin from /dev/null,
 * stdout and stderr appended to `logFile`. With `ns`, it runs inside that network namespace
 * (`ip netns exec` execs the command, so the PID returned is the daemon's own).
 */
export async function startDaemon(
  args: readonly string[],
  options: { ns?: string; logFile: string; env?: NodeJS.ProcessEnv },
): Promise<number> {
  const [cmd, ...rest] = options.ns === undefined ? args : ['ip', 'netns', 'exec', options.ns, ...args]
  if (cmd === undefined) throw new TypeError('Cannot start a daemon: no command')
  const log = await open(options.logFile, 'a', 0o600)
  try {
    const child = spawn(cmd, rest, {
      detached: true,
      stdio: ['ignore', log.fd, log.fd],
      env: options.env ?? process.env,
    })
    const pid = await new Promise<number>((resolve, reject) => {
      child.once('error', (cause) => reject(new Error(`Cannot start ${args[0]}`, { cause })))
      child.once('spawn', () => {
        if (child.pid === undefined) reject(new Error(`Cannot start ${args[0]}: no PID`))
        else resolve(child.pid)
      })
    })
    child.unref()
    return pid
  } finally {
    await log.close()
  }
}

/** Polls check() until it returns true, or throws lib/poll's PollTimeoutError (naming `what`) after timeoutMs. */
export async function waitUntil(
  what: string,
  check: () => Promise<boolean>,
  timeoutMs: number,
): Promise<void> {
  await poll(async () => ((await check()) ? true : undefined), { what, intervalMs: 100, timeoutMs })
}
