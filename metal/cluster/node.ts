/**
 * One node over SSH: read what it holds (probe), then converge it step by step. Every step
 * is idempotent and reports `changed` or `unchanged`; k3s is (re)started only when something
 * it reads changed, so a re-run on a converged node changes nothing at all.
 */

import { posix } from 'node:path'
import { type SshSession, sh } from '../../lib/ssh/index.ts'
import type { NodeFacts, PlannedNode } from './plan.ts'
import type { K3sArtifact } from './release.ts'
import {
  ETCD_MEMBER_DIR,
  K3S_AGENT_TOKEN,
  K3S_BINARY,
  K3S_CONFIG,
  K3S_TOKEN,
  KERNEL_MODULES,
  KUBE_VIP_MANIFEST,
  MODULES_FILE,
  type Role,
  renderK3sConfig,
  renderKubeVip,
  renderModules,
  renderSysctl,
  renderUnit,
  renderUnitEnv,
  SYSCTL_FILE,
  TOOL_LINKS,
  unitEnvPath,
  unitName,
  unitPath,
} from './render.ts'
import { KILLALL_SCRIPT, renderKillall, renderUninstall, uninstallScript } from './scripts.ts'
import { runBounded, startUnit, WAIT_DEFAULTS } from './wait.ts'

export type StepName =
  | 'connect'
  | 'probe'
  | 'prerequisites'
  | 'k3s binary'
  | 'token'
  | 'config'
  | 'kube-vip'
  | 'tools'
  | 'unit'
  | 'service'
  | 'ready'

export type StepReporter = (
  step: StepName,
  status: 'running' | 'changed' | 'unchanged',
  detail?: string,
) => void

export const SERVER_TOKEN = '/var/lib/rancher/k3s/server/token'
/** What install.sh checks for the k3s-selinux policy (setup_selinux). */
const SELINUX_POLICY = '/usr/share/selinux/packages/k3s.pp'
const AGENT_DIR = '/var/lib/rancher/k3s/agent'

/** Reads everything the plan needs in one round trip; nothing on the node is changed. */
export async function probeNode(session: SshSession, role: 'server' | 'agent'): Promise<NodeFacts> {
  const unit = unitName(role)
  const b64 = (path: string) => sh`if [ -f ${path} ]; then base64 -w0 < ${path}; fi; echo`
  const script = [
    'uname -m',
    sh`if [ -d ${ETCD_MEMBER_DIR} ]; then echo yes; else echo no; fi`,
    sh`if [ -d ${AGENT_DIR} ]; then echo yes; else echo no; fi`,
    sh`if systemctl is-active --quiet ${unit} 2>/dev/null; then echo yes; else echo no; fi`,
    b64(K3S_CONFIG),
    b64(K3S_TOKEN),
    b64(SERVER_TOKEN),
    sh`if [ -f ${K3S_BINARY} ]; then sha256sum < ${K3S_BINARY} | cut -d' ' -f1; else echo; fi`,
    'if command -v getenforce >/dev/null 2>&1; then getenforce; else echo none; fi',
    sh`if [ -f ${SELINUX_POLICY} ]; then echo yes; else echo no; fi`,
  ].join('\n')
  const lines = (await runBounded(session, script, 'probe what it holds')).stdout.split('\n')
  const text = (i: number) => {
    const value = lines[i]?.trim() ?? ''
    return value === '' ? undefined : Buffer.from(value, 'base64').toString('utf8')
  }
  const token = (i: number) => text(i)?.trim() || undefined
  return {
    arch: lines[0]?.trim() ?? '',
    etcdMember: role === 'server' && lines[1]?.trim() === 'yes',
    agentData: lines[2]?.trim() === 'yes',
    active: lines[3]?.trim() === 'yes',
    configText: text(4),
    token: token(5),
    serverToken: token(6),
    binarySha256: lines[7]?.trim() || undefined,
    selinux: lines[8]?.trim() || 'none',
    selinuxPolicy: lines[9]?.trim() === 'yes',
  }
}

export interface ConvergeInput {
  readonly session: SshSession
  readonly node: PlannedNode
  readonly facts: NodeFacts
  readonly artifact: K3sArtifact
  /** What this node's token file holds: the bare server secret on the first server, else a full token. */
  readonly token: string
  /** Servers: the agent token's secret (agent-token-file). */
  readonly agentToken?: string
  readonly endpoint: string
  readonly endpointIsVip: boolean
  readonly report: StepReporter
  /** Upload progress of the k3s binary. */
  readonly onUpload?: (transferred: number, total: number) => void
  /** How long k3s may take from start to ready. @default WAIT_DEFAULTS.startMs */
  readonly startTimeoutMs?: number
  readonly startPollMs?: number
}

/** Converges one node; returns the steps that changed something. Throws at the first failing step. */
export async function convergeNode(input: ConvergeInput): Promise<StepName[]> {
  const { session, node, report } = input
  const { machine } = node
  const changed: StepName[] = []
  const step = async (name: StepName, body: () => Promise<boolean | string>): Promise<boolean> => {
    report(name, 'running')
    const result = await body()
    const didChange = result !== false
    if (didChange) changed.push(name)
    report(name, didChange ? 'changed' : 'unchanged', typeof result === 'string' ? result : undefined)
    return didChange
  }
  const selinux = selinuxMode(machine.name, input.facts)
  await step('prerequisites', () => _prerequisites(session))
  const binaryChanged = await step('k3s binary', () => _k3sBinary(input))
  await runBounded(session, 'mkdir -p /etc/rancher/k3s', 'make /etc/rancher/k3s')
  if (selinux && binaryChanged) {
    // As install.sh does once the policy is there: the binary runs as the container runtime.
    await runBounded(
      session,
      sh`chcon -u system_u -r object_r -t container_runtime_exec_t ${K3S_BINARY}`,
      'label the k3s binary',
    )
  }
  const tokenChanged = await step('token', async () => {
    const server = (await session.ensureFile(K3S_TOKEN, `${input.token}\n`, 0o600)) === 'changed'
    if (machine.role !== 'server' || input.agentToken === undefined) return server
    const agent = (await session.ensureFile(K3S_AGENT_TOKEN, `${input.agentToken}\n`, 0o600)) === 'changed'
    return server || agent
  })
  const configChanged = await step('config', async () => {
    const text = renderK3sConfig({ machine, membership: node.membership, endpoint: input.endpoint, selinux })
    return (await session.ensureFile(K3S_CONFIG, text, 0o600)) === 'changed'
  })
  if (machine.role === 'server' && input.endpointIsVip) {
    // kubelet picks up static pod changes by itself: no restart needed for this one.
    await step('kube-vip', async () => {
      await runBounded(
        session,
        sh`mkdir -p ${posix.dirname(KUBE_VIP_MANIFEST)}`,
        'make the static pod folder',
      )
      return (
        (await session.ensureFile(KUBE_VIP_MANIFEST, renderKubeVip(machine, input.endpoint), 0o600)) ===
        'changed'
      )
    })
  }
  await step('tools', () => _tools(session, machine.role))
  const unitChanged = await step('unit', async () => {
    const env = await session.ensureFile(unitEnvPath(machine.role), renderUnitEnv(), 0o600)
    const result = await session.ensureFile(unitPath(machine.role), renderUnit(machine.role), 0o644)
    if (result === 'changed') await runBounded(session, 'systemctl daemon-reload', 'reload systemd')
    return result === 'changed' || env === 'changed'
  })
  const restart = binaryChanged || tokenChanged || configChanged || unitChanged
  await step('service', () => _service(input, unitName(machine.role), restart))
  return changed
}

/**
 * Whether k3s runs with SELinux (`selinux: true`): when the node enforces it and the k3s-selinux
 * policy is installed. Enforcing without the policy is refused, as install.sh refuses it
 * (setup_selinux: "Failed to find the k3s-selinux policy"): containers would be denied.
 */
export function selinuxMode(name: string, facts: NodeFacts): boolean {
  if (facts.selinux !== 'Enforcing') return false
  if (facts.selinuxPolicy === true) return true
  throw new Error(
    `Cannot run k3s on ${name}: SELinux is enforcing and the k3s-selinux policy is not installed (no ${SELINUX_POLICY}): install it on ${name} (dnf install -y container-selinux https://rpm.rancher.io/k3s/stable/common/centos/9/noarch/ (the k3s-selinux package), as k3s's install.sh says), or make SELinux permissive (setenforce 0 and SELINUX=permissive in /etc/selinux/config), then run again`,
  )
}

/** The killall and uninstall scripts (scripts.ts), and the kubectl, crictl and ctr links to k3s. */
async function _tools(session: SshSession, role: Role): Promise<boolean> {
  const killall = await session.ensureFile(KILLALL_SCRIPT, renderKillall(), 0o755)
  const uninstall = await session.ensureFile(uninstallScript(role), renderUninstall(role), 0o755)
  // Like install.sh's create_symlinks: only where no such command exists already.
  const links = await runBounded(
    session,
    TOOL_LINKS.map(
      (t) =>
        sh`if [ ! -e /usr/local/bin/${t} ] && ! command -v ${t} >/dev/null 2>&1; then ln -s k3s /usr/local/bin/${t} && echo ${t}; fi`,
    ).join('\n'),
    'link kubectl, crictl and ctr',
  )
  return killall === 'changed' || uninstall === 'changed' || links.stdout.trim() !== ''
}

/** The sysctl settings and kernel modules k3s needs, applied when their files changed. */
async function _prerequisites(session: SshSession): Promise<boolean> {
  const sysctl = await session.ensureFile(SYSCTL_FILE, renderSysctl(), 0o644)
  const modules = await session.ensureFile(MODULES_FILE, renderModules(), 0o644)
  if (modules === 'changed')
    await runBounded(session, KERNEL_MODULES.map((m) => sh`modprobe ${m}`).join('\n'), 'load kernel modules')
  if (sysctl === 'changed') await runBounded(session, 'sysctl --system >/dev/null', 'apply sysctl settings')
  return sysctl === 'changed' || modules === 'changed'
}

/** The pinned k3s binary, uploaded beside its place, verified, then moved in; false when it is there. */
async function _k3sBinary(input: ConvergeInput): Promise<false | string> {
  const { session, artifact } = input
  if (input.facts.binarySha256 === artifact.sha256) return false
  const temp = `${K3S_BINARY}.homelab-upload`
  await runBounded(session, sh`mkdir -p /usr/local/bin && rm -f ${temp}`, 'prepare the upload')
  await session.upload(artifact.path, temp, {
    mode: 0o755,
    ...(input.onUpload === undefined ? {} : { onProgress: input.onUpload }),
  })
  const check = await runBounded(session, sh`sha256sum < ${temp} | cut -d' ' -f1`, 'check the upload')
  if (check.stdout.trim() !== artifact.sha256) {
    throw new Error(
      `the k3s binary arrived damaged (sha256 ${check.stdout.trim()}, expected ${artifact.sha256})`,
    )
  }
  await runBounded(session, sh`chmod 755 ${temp} && mv -f ${temp} ${K3S_BINARY}`, 'install the k3s binary')
  return `uploaded ${(artifact.sha256 ?? '').slice(0, 12)}`
}

/** What the service needs: enabled, started, or restarted because something it reads changed. */
export function serviceActions(
  enabled: boolean,
  active: boolean,
  restart: boolean,
): ('enable' | 'start' | 'restart')[] {
  const actions: ('enable' | 'start' | 'restart')[] = []
  if (!enabled) actions.push('enable')
  if (!active) actions.push('start')
  else if (restart) actions.push('restart')
  return actions
}

const ACTION_DONE = { enable: 'enabled', start: 'started', restart: 'restarted' } as const

/**
 * The k3s unit enabled and running the current files; false when nothing was done. A start or
 * restart is `--no-block`, then waited for with a deadline (startUnit(), wait.ts): the unit has
 * TimeoutStartSec=0, so a blocking `systemctl start` of a k3s that never becomes ready never returns.
 */
async function _service(input: ConvergeInput, unit: string, restart: boolean): Promise<false | string> {
  const { session } = input
  const state = await runBounded(
    session,
    sh`systemctl is-enabled --quiet ${unit} && echo enabled || echo disabled; systemctl is-active --quiet ${unit} && echo active || echo inactive`,
    `read the state of ${unit}`,
  )
  const [enabled, active] = state.stdout.trim().split('\n')
  const actions = serviceActions(enabled === 'enabled', active === 'active', restart)
  for (const action of actions) {
    if (action === 'enable') await runBounded(session, sh`systemctl enable ${unit}`, `enable ${unit}`)
    else {
      await startUnit(session, unit, action, {
        ...(input.startTimeoutMs === undefined ? {} : { timeoutMs: input.startTimeoutMs }),
        ...(input.startPollMs === undefined ? {} : { pollMs: input.startPollMs }),
        onState: (seen) => input.report('service', 'running', `${action}: ${seen}`),
      })
    }
  }
  return actions.length === 0 ? false : actions.map((a) => ACTION_DONE[a]).join(', ')
}

/**
 * Removes k3s from the node with the uninstall script (scripts.ts), written again first so that a
 * node left half-removed by an earlier run, or set up before the scripts existed, has it. Bounded.
 */
export async function uninstallNode(
  session: SshSession,
  role: Role,
  timeoutMs: number = WAIT_DEFAULTS.uninstallMs,
): Promise<void> {
  await runBounded(session, 'mkdir -p /usr/local/bin', 'make /usr/local/bin')
  await session.ensureFile(KILLALL_SCRIPT, renderKillall(), 0o755)
  await session.ensureFile(uninstallScript(role), renderUninstall(role), 0o755)
  await runBounded(session, uninstallScript(role), `run ${uninstallScript(role)}`, timeoutMs)
}
