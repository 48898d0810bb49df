/**
 * A lock folder, so two processes do not extract into the same place at once. mkdir is atomic;
 * the holder writes its PID inside. A lock whose holder is gone (a killed process) is taken over.
 */
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { poll } from '../poll/index.ts'

/** False when the lock's holder (by the PID it wrote) is no longer running. */
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

/** Runs fn holding `<dir>/<name>.lock`; waits (polling every intervalMs) while a live process holds it. */
export async function withLock<T>(
  dir: string,
  name: string,
  fn: () => Promise<T>,
  intervalMs = 200,
): Promise<T> {
  const lock = join(dir, `${name}.lock`)
  await mkdir(dir, { recursive: true })
  const take = async (): Promise<boolean> => {
    try {
      await mkdir(lock)
    } catch (cause) {
      if ((cause as NodeJS.ErrnoException).code !== 'EEXIST') throw cause
      return false
    }
    await writeFile(join(lock, 'pid'), String(process.pid))
    return true
  }
  /** A holder that has not written its PID yet is given one more round before it counts as gone. */
  let pidless = 0
  await poll(
    async () => {
      if (await take()) return true
      if (await _holderAlive(lock)) {
        pidless = 0
        return undefined
      }
      if (pidless++ < 1) return undefined
      await rm(lock, { recursive: true, force: true })
      return (await take()) ? true : undefined
    },
    { what: `the lock ${lock}`, intervalMs },
  )
  try {
    return await fn()
  } finally {
    await rm(lock, { recursive: true, force: true })
  }
}
