import { plan } from '../../flow/plan.ts'
import type { CommandRun } from '../command.ts'
import { loadAndReport } from './load-config.ts'

export const planCommand: CommandRun = async (context) => {
  const loaded = await loadAndReport(context)
  if (loaded === undefined) return false
  await plan(loaded, context.repoRoot, context.emit)
  return true
}
