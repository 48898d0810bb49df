/**
 * `homelab secrets list|show NAME|rotate NAME`: the generated secrets (bootstrap/secrets). `list`
 * never prints a value; `show` prints exactly one, the one asked for; `rotate` prints none.
 */
import { GENERATED_SECRETS, type GeneratedSecret, secretById } from '../../bootstrap/secrets/registry.ts'
import { readSecret, rotateSecret, type SecretEvent } from '../../bootstrap/secrets/secrets.ts'
import { jsonLine } from '../../core/log/sanitize.ts'
import { formatTable } from '../../core/log/table.ts'
import { type CommandContext, type CommandRun, UsageError } from '../command.ts'
import { kubeClientOf } from './common.ts'

const USAGE = 'list | show NAME | rotate NAME'

/** C0 and C1 control characters (escape sequences start with them). */
const hasControl = (text: string) =>
  [...text].some((c) => {
    const n = c.charCodeAt(0)
    return n < 0x20 || (n >= 0x7f && n <= 0x9f)
  })

/** One JSON line with --json, else a line for people. */
function report(context: CommandContext, event: Record<string, unknown>, line: string): void {
  if (context.json) process.stdout.write(jsonLine(event))
  else context.output.text(line)
}

const usedBy = (s: GeneratedSecret) => [
  ...s.usedBy.map((w) => `${w.kind.toLowerCase()} ${w.namespace}/${w.name}`),
  ...(s.note ? [s.note] : []),
]

function list(context: CommandContext): boolean {
  if (context.json) {
    for (const s of GENERATED_SECRETS)
      process.stdout.write(
        jsonLine({
          type: 'secret.entry',
          name: s.id,
          description: s.description,
          secrets: s.places.map((p) => `${p.namespace}/${p.name}`),
          keys: Object.keys(s.keys),
          usedBy: usedBy(s),
        }),
      )
    return true
  }
  const rows = GENERATED_SECRETS.map((s) => [
    s.id,
    s.places.map((p) => `${p.namespace}/${p.name}`).join(', '),
    usedBy(s).join('; '),
  ])
  for (const line of formatTable([['NAME', 'SECRETS', 'USED BY'], ...rows])) context.output.text(line)
  context.output.text(
    'values: `homelab secrets show NAME` (one at a time); new values: `homelab secrets rotate NAME`',
  )
  return true
}

function nameOf(context: CommandContext, verb: string): string {
  const name = context.positionals[1]
  if (name === undefined || context.positionals.length > 2)
    throw new UsageError(
      `secrets ${verb} takes one NAME: homelab secrets ${verb} NAME (names: homelab secrets list)`,
    )
  secretById(name) // a clear error for an unknown name, before the cluster is reached
  return name
}

/** `homelab secrets`: list, show, rotate. */
export const secrets: CommandRun = async (context) => {
  const verb = context.positionals[0]
  if (verb === 'list' && context.positionals.length === 1) return list(context)
  if (verb === 'show') {
    const name = nameOf(context, 'show')
    const value = await readSecret(await kubeClientOf(context), name)
    // The one place a generated value is printed: asked for by name. A value someone changed in the
    // cluster to hold control characters is not written raw to a terminal.
    if (context.json) process.stdout.write(jsonLine({ type: 'secret.value', name, value }))
    else if (process.stdout.isTTY && hasControl(value))
      throw new Error(
        `Cannot show secret "${name}" on a terminal: its value holds control characters: use --json`,
      )
    else process.stdout.write(`${value}\n`)
    return true
  }
  if (verb === 'rotate') {
    const name = nameOf(context, 'rotate')
    await rotateSecret(await kubeClientOf(context), name, {
      events: (e: SecretEvent) =>
        report(
          context,
          e,
          e.type === 'secret'
            ? `Secret ${e.namespace}/${e.name}: new value`
            : `${e.kind} ${e.namespace}/${e.name}: ${e.result === 'restarted' ? 'restarting' : 'not deployed yet'}`,
        ),
    })
    if (name === 'oidc-vault')
      context.output.text(
        'Vault reads this client secret from its config: run `homelab bootstrap` to write it again',
      )
    return true
  }
  throw new UsageError(`secrets: ${USAGE}`)
}
