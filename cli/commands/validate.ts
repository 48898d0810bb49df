import { existsSync } from 'node:fs'
import { homedir } from 'node:os'
import { dirname, resolve } from 'node:path'
import { summarize } from '../../core/config/summary.ts'
import type { CommandRun } from '../command.ts'
import { loadAndReport } from './load-config.ts'

export const validate: CommandRun = async (context) => {
  const loaded = await loadAndReport(context)
  if (loaded === undefined) return false
  const key = loaded.config.os.sshPublicKey
  const keyPath = key.startsWith('~/') ? resolve(homedir(), key.slice(2)) : resolve(dirname(loaded.file), key)
  if (!existsSync(keyPath)) {
    context.emit({
      type: 'config.diagnostic',
      severity: 'warning',
      file: loaded.file,
      ...loaded.locate(['os', 'sshPublicKey']),
      field: 'os.sshPublicKey',
      message: `"${key}" does not exist yet (${key.startsWith('.state/lab/') ? 'the lab makes it: `homelab lab up`' : `create it: \`ssh-keygen -t ed25519 -f ${keyPath.replace(/\.pub$/, '')}\``})`,
    })
  }
  context.emit(summarize(loaded))
  return true
}
