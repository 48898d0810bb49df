/**
 * `homelab init`: writes homelab.yaml from what the controller finds (metal/discover/network.ts, one
 * DHCPDISCOVER never followed by a REQUEST), asks only what it cannot find, then validates the file.
 */
import { execFile } from 'node:child_process'
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises'
import { homedir } from 'node:os'
import { dirname, join, relative, resolve } from 'node:path'
import { createInterface } from 'node:readline/promises'
import { promisify } from 'node:util'
import { nextFreeAddresses, readDraft } from '../../core/config/draft.ts'
import { addMachines } from '../../core/config/edit.ts'
import { parseIPv4 } from '../../lib/ipv4/index.ts'
import {
  DEFAULT_DOMAIN,
  DEFAULT_SEED,
  DHCP_PROBE_MS,
  FEDORA_ISO_URL,
  FEDORA_RELEASE,
  K3S_VERSION,
} from '../../metal/discover/defaults.ts'
import { describeOffer, probeDhcp } from '../../metal/discover/dhcp-probe.ts'
import { type InitAnswers, renderInitConfig } from '../../metal/discover/init-config.ts'
import { DetectError, detectNetwork } from '../../metal/discover/network.ts'
import { type CommandContext, type CommandRun, UsageError } from '../command.ts'

const exec = promisify(execFile)

/** Asks a question on the terminal with a default; with --yes, takes the default without asking. */
type Ask = (question: string, fallback: string | undefined, flag: string) => Promise<string>

export const init: CommandRun = async (context) => {
  const file = resolve(context.configFile)
  const force = context.values.force === true
  const exists = await readFile(file).then(
    () => true,
    () => false,
  )
  if (exists && !force)
    throw new UsageError(`Cannot write ${context.configFile}: it exists (pass --force to replace it)`)
  const ask = asker(context)
  try {
    const answers = await gather(context, ask)
    const text = renderInitConfig(answers)
    await writeFile(file, text, { flag: force ? 'w' : 'wx' })
    context.output.emit({ type: 'init.written', file: context.configFile, mode: answers.mode })
    return validateWritten(context, text)
  } finally {
    ask.close()
  }
}

async function gather(context: CommandContext, ask: Ask & { close(): void }): Promise<InitAnswers> {
  const v = context.values
  const given = (name: string) => (typeof v[name] === 'string' ? (v[name] as string) : undefined)
  let net: Awaited<ReturnType<typeof detectNetwork>>
  try {
    const iface = given('interface')
    net = await detectNetwork(iface === undefined ? {} : { interface: iface })
  } catch (cause) {
    if (cause instanceof DetectError) throw new UsageError(cause.message)
    throw cause
  }
  found(
    context,
    'interface',
    net.interface,
    given('interface') === undefined ? 'the default route' : '--interface',
  )
  found(context, 'subnet', net.subnet, net.interface)
  found(context, 'controller', net.address, net.interface)
  const { mode, modeReason, router, offered } = await dhcpMode(context, net)
  let gateway = given('gateway') ?? net.gateway
  let gatewaySource = given('gateway') === undefined ? 'the default route' : 'given'
  if (gateway === undefined && router !== undefined) {
    gateway = router
    gatewaySource = "the router option of the DHCP server's offer"
  }
  if (gateway === undefined) {
    gateway = await ask(`Gateway (the router) of ${net.subnet}`, undefined, 'gateway')
    gatewaySource = 'given'
  }
  found(context, 'gateway', gateway, gatewaySource)
  found(context, 'dns', net.dns.join(', ') || 'none (the machines use the gateway)', net.dnsSource)
  const draft = readDraft(`network: { subnet: ${net.subnet}, gateway: ${gateway} }`)
  const taken = [net.address, ...(offered === undefined ? [] : [offered])].flatMap((a) => parseIPv4(a) ?? [])
  const endpoint = nextFreeAddresses(draft, 1, taken)[0]
  if (endpoint === undefined)
    throw new Error(`Cannot propose cluster.endpoint: ${net.subnet} has no free address`)
  const fedora = release(given('release') ?? (await ask('Fedora release', String(FEDORA_RELEASE), 'release')))
  const schema = relative(dirname(resolve(context.configFile)), join(context.repoRoot, 'homelab.schema.json'))
  const answers: InitAnswers = {
    schema: schema.startsWith('.') || schema.startsWith('/') ? schema : `./${schema}`,
    interface: net.interface,
    subnet: net.subnet,
    gateway,
    gatewaySource: gatewaySource === 'given' ? 'given to homelab init' : `from ${gatewaySource}`,
    controller: net.address,
    dns: net.dns,
    dnsSource: net.dnsSource,
    mode,
    modeReason,
    endpoint,
    k3sVersion: K3S_VERSION,
    release: fedora,
    iso: await iso(given, ask, fedora),
    timezone:
      given('timezone') ??
      (await ask('Time zone', Intl.DateTimeFormat().resolvedOptions().timeZone, 'timezone')),
    sshPublicKey: await sshKey(context, given('ssh-key'), ask),
    seed:
      given('seed') ?? (await ask('Seed repository ArgoCD reads first', await gitOrigin(context), 'seed')),
    domain:
      given('domain') ?? (await ask('Domain (apps are served as <app>.DOMAIN)', DEFAULT_DOMAIN, 'domain')),
  }
  return answers
}

function found(context: CommandContext, what: string, value: string, source: string): void {
  context.output.emit({ type: 'init.found', what, value, source })
}

/** --mode, else one DISCOVER: an answer means a router leases addresses (proxy), none means full. */
async function dhcpMode(
  context: CommandContext,
  net: { interface: string; address: string },
): Promise<{ mode: 'proxy' | 'full'; modeReason: string; router?: string; offered?: string }> {
  const chosen = context.values.mode
  if (chosen !== undefined) {
    if (chosen !== 'proxy' && chosen !== 'full')
      throw new UsageError(`--mode: "${String(chosen)}" is not proxy or full`)
    found(context, 'dhcp.mode', chosen, '--mode')
    return { mode: chosen, modeReason: 'chosen with homelab init --mode' }
  }
  const seconds = context.values.probe === undefined ? DHCP_PROBE_MS / 1000 : Number(context.values.probe)
  if (!Number.isFinite(seconds) || seconds <= 0)
    throw new UsageError(`--probe: "${String(context.values.probe)}" is not a number of seconds above 0`)
  const probe = await probeDhcp({ interface: net.interface, address: net.address, waitMs: seconds * 1000 })
  if (!probe.ok)
    throw new Error(
      `Cannot probe for a DHCP server on ${net.interface}: ${probe.reason} (run as root, or pass --mode proxy or --mode full)`,
    )
  const first = probe.offers.find((o) => o.offered !== undefined) ?? probe.offers[0]
  if (first === undefined) {
    found(context, 'dhcp.mode', 'full', 'no DHCP server answered a DISCOVER')
    return {
      mode: 'full',
      modeReason: 'no DHCP server answered on this segment: we lease the machines their addresses',
    }
  }
  const who = probe.offers.map(describeOffer).join(', ')
  found(context, 'dhcp.mode', 'proxy', `a DHCP server answered: ${who}`)
  return {
    mode: 'proxy',
    modeReason: `a DHCP server answers on this segment (${who}): it leases, we add boot information`,
    ...(first.router === undefined ? {} : { router: first.router }),
    ...(first.offered === undefined ? {} : { offered: first.offered }),
  }
}

function release(text: string): number {
  const n = Number(text)
  if (!Number.isInteger(n) || n < 38)
    throw new UsageError(`--release: "${text}" is not a Fedora release (like ${FEDORA_RELEASE})`)
  return n
}

/** The DVD of the release the project pins is known; another release's URL is asked (or --iso-url). */
async function iso(
  given: (name: string) => string | undefined,
  ask: Ask,
  fedora: number,
): Promise<InitAnswers['iso']> {
  const url =
    given('iso-url') ??
    (fedora === FEDORA_RELEASE
      ? FEDORA_ISO_URL
      : await ask(`URL of the Fedora ${fedora} Server DVD ISO`, undefined, 'iso-url'))
  if (url === 'test-os') return 'test-os'
  const sha256 =
    given('iso-sha256') ??
    (await ask(`sha256 of ${url} (from the release's CHECKSUM file)`, undefined, 'iso-sha256'))
  if (!/^[0-9a-f]{64}$/.test(sha256))
    throw new UsageError(`--iso-sha256: "${sha256}" is not 64 lower-case hex digits`)
  return { url, sha256 }
}

const KEY_NAMES = ['id_ed25519.pub', 'id_ecdsa.pub', 'id_rsa.pub']

/** --ssh-key, else the first key in ~/.ssh, else a new ed25519 key (private part 0600) when agreed. */
async function sshKey(context: CommandContext, givenKey: string | undefined, ask: Ask): Promise<string> {
  const home = homedir()
  const shown = (path: string) => (path.startsWith(`${home}/`) ? `~/${relative(home, path)}` : path)
  if (givenKey !== undefined) {
    found(context, 'os.sshPublicKey', givenKey, '--ssh-key')
    return givenKey
  }
  for (const name of KEY_NAMES) {
    const path = join(home, '.ssh', name)
    if (
      await readFile(path).then(
        () => true,
        () => false,
      )
    ) {
      found(context, 'os.sshPublicKey', shown(path), '~/.ssh')
      return shown(path)
    }
  }
  const key = join(home, '.ssh', 'id_ed25519')
  const yes = await ask(
    `No SSH key in ${shown(join(home, '.ssh'))}. Create ${shown(key)} with ssh-keygen? (yes/no)`,
    'yes',
    'ssh-key',
  )
  if (!/^y(es)?$/i.test(yes))
    throw new UsageError('Cannot continue without an SSH key: pass --ssh-key FILE.pub')
  await mkdir(dirname(key), { recursive: true, mode: 0o700 })
  try {
    await exec('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'homelab', '-f', key])
  } catch (cause) {
    const err = cause as NodeJS.ErrnoException & { stderr?: string }
    throw new Error(
      `Cannot create an SSH key with ssh-keygen: ${err.code === 'ENOENT' ? 'ssh-keygen is not installed (install openssh-client)' : (err.stderr?.trim() ?? err.message)}`,
    )
  }
  await chmod(key, 0o600)
  found(context, 'os.sshPublicKey', `${shown(key)}.pub`, 'created with ssh-keygen')
  return `${shown(key)}.pub`
}

/** The checkout's "origin" remote when it is a URL the schema takes, else the project's seed. */
async function gitOrigin(context: CommandContext): Promise<string> {
  try {
    const { stdout } = await exec('git', [
      '-C',
      dirname(resolve(context.configFile)),
      'remote',
      'get-url',
      'origin',
    ])
    const url = stdout.trim()
    return URL.canParse(url) && /^(https?|ssh|git|file):/.test(url) ? url : DEFAULT_SEED
  } catch {
    return DEFAULT_SEED
  }
}

function asker(context: CommandContext): Ask & { close(): void } {
  const yes = context.values.yes === true
  let rl: ReturnType<typeof createInterface> | undefined
  const ask = async (question: string, fallback: string | undefined, flag: string): Promise<string> => {
    if (yes && fallback !== undefined) return fallback
    if (process.stdin.isTTY !== true || context.json)
      throw new UsageError(
        `Cannot ask "${question}": ${yes ? 'there is no default' : 'the input is not a terminal'} (pass --${flag}${fallback === undefined ? '' : ', or --yes for the default'})`,
      )
    rl ??= createInterface({ input: process.stdin, output: process.stdout })
    const answer = (
      await rl.question(`${question}${fallback === undefined ? '' : ` [${fallback}]`}: `)
    ).trim()
    if (answer === '' && fallback === undefined) return ask(question, fallback, flag)
    return answer === '' ? (fallback as string) : answer
  }
  return Object.assign(ask, { close: () => rl?.close() })
}

/**
 * The file as written has no machine yet, which `homelab validate` calls an error. Every other rule
 * is checked by validating it with one stand-in machine appended (machines: is the last section,
 * so no other line moves): what remains is reported with validate's messages and lines.
 */
function validateWritten(context: CommandContext, text: string): boolean {
  const draft = readDraft(text)
  const ip = nextFreeAddresses(draft, 1)[0] ?? '0.0.0.0'
  const check = addMachines(text, context.configFile, [
    {
      name: 'check',
      mac: '02:00:00:00:00:00',
      ip,
      role: 'server',
      disk: '/dev/disk/by-id/check',
      nic: 'eth0',
    },
  ])
  if (check.ok) {
    context.output.emit({ type: 'init.valid', file: context.configFile })
    return true
  }
  for (const d of check.diagnostics)
    if (!d.field.startsWith('machines[')) context.emit({ type: 'config.diagnostic', ...d })
  return false
}
