import { execFile } from 'node:child_process'
import { join } from 'node:path'
import { promisify } from 'node:util'

const exec = promisify(execFile)
const root = join(import.meta.dirname, '..', '..')

/** What one run of the CLI gave: its exit code and its whole output. */
export interface CliRun {
  readonly code: number
  readonly out: string
  readonly err: string
}

/** Runs the real `bin/homelab` with these arguments, without colour; a failing run resolves with its code. */
export async function homelab(args: string[]): Promise<CliRun> {
  try {
    const { stdout, stderr } = await exec(join(root, 'bin/homelab'), args, {
      env: { ...process.env, NO_COLOR: '1' },
      maxBuffer: 16 * 1024 * 1024,
    })
    return { code: 0, out: stdout, err: stderr }
  } catch (cause) {
    const err = cause as { code: number; stdout: string; stderr: string }
    return { code: err.code, out: err.stdout, err: err.stderr }
  }
}
