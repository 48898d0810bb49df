import { doctor } from '../../metal/provision/doctor.ts'
import type { CommandRun } from '../command.ts'
import { externalDoctorChecks } from './external.ts'
import { isoStatus } from './iso-status.ts'
import { loadAndReport } from './load-config.ts'

/** `homelab doctor`: checks the controller and its network, and says how to fix each problem. */
export const doctorCommand: CommandRun = async (context) => {
  const loaded = await loadAndReport(context)
  if (loaded === undefined) return false
  const metal = await doctor({
    config: loaded.config,
    derived: loaded.derived,
    emit: context.output.emit,
    isoStatus: isoStatus(loaded.config, context.repoRoot),
  })
  // with external.cloudflare: the token, its scoped tokens, the tunnel and the DNS record
  const external = await externalDoctorChecks(context)
  return metal && external
}
