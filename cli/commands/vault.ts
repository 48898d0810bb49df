/**
 * `homelab vault status|unseal`: Vault's seal state, and unsealing it with the keys `homelab
 * bootstrap` kept in <state>/vault/init.json (0600). No key or token is ever printed.
 */
import {
  httpTransport,
  serviceProxyTransport,
  type VaultTransport,
  vaultClient,
} from '../../bootstrap/vault/api.ts'
import { ensureUnsealed, keysFile, type VaultEvent } from '../../bootstrap/vault/unseal.ts'
import { jsonLine } from '../../core/log/sanitize.ts'
import { type CommandContext, type CommandRun, UsageError } from '../command.ts'
import { kubeClientOf, stateDirOf } from './common.ts'

/** --vault-addr URL (plain HTTP, e.g. through kubectl port-forward), else the API server's service proxy. */
async function transportOf(context: CommandContext): Promise<VaultTransport> {
  const addr = context.values['vault-addr']
  if (typeof addr === 'string') {
    if (!/^https?:\/\/[^/]+\/?$/.test(addr))
      throw new UsageError(`--vault-addr: "${addr}" is not http(s)://HOST:PORT`)
    return httpTransport(addr)
  }
  return serviceProxyTransport(await kubeClientOf(context))
}

function report(context: CommandContext, e: VaultEvent | Record<string, unknown>, line: string): void {
  if (context.json) process.stdout.write(jsonLine(e))
  else context.output.text(line)
}

/** `homelab vault`: status, unseal. */
export const vault: CommandRun = async (context) => {
  const verb = context.positionals[0]
  if (context.positionals.length !== 1 || (verb !== 'status' && verb !== 'unseal'))
    throw new UsageError('vault: status | unseal')
  const client = vaultClient(await transportOf(context))
  if (verb === 'status') {
    const s = await client.sealStatus()
    report(
      context,
      {
        type: 'vault.status',
        initialized: s.initialized,
        sealed: s.sealed,
        t: s.t,
        n: s.n,
        progress: s.progress,
      },
      `Vault ${s.version ?? ''}: ${s.initialized ? 'initialised' : 'not initialised (run `homelab bootstrap`)'}, ${s.sealed ? `sealed (${s.progress}/${s.t} keys; run \`homelab vault unseal\`)` : 'unsealed'}`,
    )
    return true
  }
  const stateDir = stateDirOf(context)
  const result = await ensureUnsealed({
    vault: client,
    stateDir,
    init: false,
    events: (e) => report(context, e, `vault ${e.step}: ${e.detail}`),
  })
  report(
    context,
    { type: 'vault.unsealed', unsealed: result.unsealed, keysFile: keysFile(stateDir) },
    result.unsealed ? 'Vault is unsealed' : 'Vault was not sealed: nothing to do',
  )
  return true
}
