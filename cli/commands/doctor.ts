import { type DoctorCheck, doctor } from '../../metal/provision/doctor.ts'
import type { CommandRun } from '../command.ts'
import { isoStatus } from './iso-status.ts'
import { loadAndReport } from './load-config.ts'

const MARK = { ok: '✓', warn: '!', fail: '✗' } as const

/** `homelab doctor`: checks the controller and its network, and says how to fix each problem. */
export const doctorCommand: CommandRun = async (context) => {
  const loaded = await loadAndReport(context)
  if (loaded === undefined) return false
  const emit = (check: DoctorCheck) => {
    if (context.json) {
      process.stdout.write(`${JSON.stringify(check)}\n`)
      return
    }
    process.stdout.write(`${MARK[check.status]} ${check.check.padEnd(16)} ${check.detail}\n`)
    if (check.fix !== undefined) process.stdout.write(`  ${''.padEnd(16)} fix: ${check.fix}\n`)
  }
  return doctor({
    config: loaded.config,
    derived: loaded.derived,
    emit,
    isoStatus: isoStatus(loaded.config, context.repoRoot),
  })
}
