import { access } from 'node:fs/promises'
import { createInterface } from 'node:readline'
import {
  CLOUDFLARE_API,
  checkToken,
  convergeExternal,
  createCloudflareApi,
  externalDoctor,
  externalSettings,
  readStoredToken,
  resolveToken,
  TOKEN_ENV,
} from '../../external/index.ts'
import type { KubeClient } from '../../lib/kube/index.ts'
import type { CommandContext, CommandRun } from '../command.ts'
import { kubeClientOf, kubeconfigPathOf, stateDirOf } from './common.ts'
import { loadAndReport } from './load-config.ts'

/** The API's base: Cloudflare's, or CLOUDFLARE_BASE_URL (the official SDK's variable; tests: a stand-in). */
function apiWith(token: string) {
  return createCloudflareApi({ token, baseUrl: process.env.CLOUDFLARE_BASE_URL || CLOUDFLARE_API })
}

/** Asks for the token on the terminal without echoing it. */
async function askHidden(): Promise<string> {
  const rl = createInterface({ input: process.stdin, output: process.stderr, terminal: true })
  process.stderr.write('Cloudflare API token (not shown): ')
  ;(rl as unknown as { _writeToOutput: (s: string) => void })._writeToOutput = () => {}
  try {
    return await new Promise<string>((resolve) => rl.question('', resolve))
  } finally {
    rl.close()
    process.stderr.write('\n')
  }
}

/** The cluster's client, or undefined when `homelab cluster` has not written a kubeconfig yet. */
async function clusterIfAny(context: CommandContext): Promise<KubeClient | undefined> {
  try {
    await access(kubeconfigPathOf(context))
  } catch {
    return undefined
  }
  return kubeClientOf(context)
}

/** `homelab external`: the Cloudflare tunnel, DNS record and scoped tokens, from one API token. */
export const external: CommandRun = async (context) => {
  const loaded = await loadAndReport(context)
  if (loaded === undefined) return false
  const settings = externalSettings(loaded.config)
  if (settings === undefined) {
    context.output.text(
      'external.cloudflare is not set in homelab.yaml: nothing to do (the self-signed issuer serves)',
    )
    return true
  }
  const plan = context.values.plan === true
  const token = await resolveToken({
    stateDir: stateDirOf(context),
    env: process.env,
    ...(process.stdin.isTTY === true && !context.json ? { ask: askHidden } : {}),
    verify: (t) => checkToken(apiWith(t)),
  })
  const kube = plan ? await clusterIfAny(context) : await kubeClientOf(context)
  await convergeExternal({
    settings,
    api: apiWith(token),
    apiWith,
    kube,
    plan,
    keepToken: token,
    emit: context.output.emit,
  })
  return true
}

/** The external checks of `homelab doctor`, when `external.cloudflare` is set; true when they pass. */
export async function externalDoctorChecks(context: CommandContext): Promise<boolean> {
  const loaded = await loadAndReport(context)
  const settings = loaded === undefined ? undefined : externalSettings(loaded.config)
  if (settings === undefined) return true
  const token = process.env[TOKEN_ENV] || (await readStoredToken(stateDirOf(context)))
  if (token === undefined) {
    context.output.emit({
      type: 'external.check',
      check: 'cloudflare token',
      ok: false,
      detail: `no token (${TOKEN_ENV} unset, none stored)`,
      fix: 'run `homelab external` once with the token',
    })
    return false
  }
  return externalDoctor({
    settings,
    api: apiWith(token),
    apiWith,
    kube: await clusterIfAny(context),
    emit: context.output.emit,
  })
}
