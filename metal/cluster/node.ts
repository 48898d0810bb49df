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
  K3S_BINARY,
  K3S_CONFIG,
  K3S_TOKEN,
  KERNEL_MODULES,
  KUBE_VIP_MANIFEST,
  MODULES_FILE,
  renderK3sConfig,
  renderKubeVip,
  renderModules,
  renderSysctl,
  renderUnit,
  SYSCTL_FILE,
  unitName,
  unitPath,
} from './render.ts'

export type StepName =
  | 'connect'
  | 'probe'
  | 'prerequisites'
  | 'k3s binary'
  | 'token'
  | 'config'
  | 'kube-vip'
  | 'unit'
  | 'service'
  | 'ready'

export type StepReporter = (
  step: StepName,
  status: 'running' | 'changed' | 'unchanged',
  detail?: string,
) => void

const SERVER_TOKEN = '/var/lib/rancher/k3s/server/token'
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
  ].join('\n')
  const lines = (await session.run(script)).stdout.split('\n')
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
  }
}

export interface ConvergeInput {
  readonly session: SshSession
  readonly node: PlannedNode
  readonly facts: NodeFacts
  readonly artifact: K3sArtifact
  readonly token: string
  readonly endpoint: string
  readonly endpointIsVip: boolean
  readonly report: StepReporter
  /** Upload progress of the k3s binary. */
  readonly onUpload?: (transferred: number, total: number) => void
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
  await step('prerequisites', () => _prerequisites(session))
  const binaryChanged = await step('k3s binary', () => _k3sBinary(input))
  await session.run('mkdir -p /etc/rancher/k3s')
  const tokenChanged = await step(
    'token',
    async () => (await session.ensureFile(K3S_TOKEN, `${input.token}\n`, 0o600)) === 'changed',
  )
  const configChanged = await step('config', async () => {
    const text = renderK3sConfig({ machine, membership: node.membership, endpoint: input.endpoint })
    return (await session.ensureFile(K3S_CONFIG, text, 0o600)) === 'changed'
  })
  if (machine.role === 'server' && input.endpointIsVip) {
    // kubelet picks up static pod changes by itself: no restart needed for this one.
    await step('kube-vip', async () => {
      await session.run(sh`mkdir -p ${posix.dirname(KUBE_VIP_MANIFEST)}`)
      return (
        (await session.ensureFile(KUBE_VIP_MANIFEST, renderKubeVip(machine, input.endpoint), 0o600)) ===
        'changed'
      )
    })
  }
  const unitChanged = await step('unit', async () => {
    const result = await session.ensureFile(unitPath(machine.role), renderUnit(machine.role), 0o644)
    if (result === 'changed') await session.run('systemctl daemon-reload')
    return result === 'changed'
  })
  const restart = binaryChanged || tokenChanged || configChanged || unitChanged
  await step('service', () => _service(session, unitName(machine.role), restart))
  return changed
}

/** The sysctl settings and kernel modules k3s needs, applied when their files changed. */
async function _prerequisites(session: SshSession): Promise<boolean> {
  const sysctl = await session.ensureFile(SYSCTL_FILE, renderSysctl(), 0o644)
  const modules = await session.ensureFile(MODULES_FILE, renderModules(), 0o644)
  if (modules === 'changed') await session.run(KERNEL_MODULES.map((m) => sh`modprobe ${m}`).join('\n'))
  if (sysctl === 'changed') await session.run('sysctl --system >/dev/null')
  return sysctl === 'changed' || modules === 'changed'
}

/** The pinned k3s binary, uploaded beside its place, verified, then moved in; false when it is there. */
async function _k3sBinary(input: ConvergeInput): Promise<false | string> {
  const { session, artifact } = input
  if (input.facts.binarySha256 === artifact.sha256) return false
  const temp = `${K3S_BINARY}.homelab-upload`
  await session.run(sh`mkdir -p /usr/local/bin && rm -f ${temp}`)
  await session.upload(artifact.path, temp, {
    mode: 0o755,
    ...(input.onUpload === undefined ? {} : { onProgress: input.onUpload }),
  })
  const check = await session.run(sh`sha256sum < ${temp} | cut -d' ' -f1`)
  if (check.stdout.trim() !== artifact.sha256) {
    throw new Error(
      `the k3s binary arrived damaged (sha256 ${check.stdout.trim()}, expected ${artifact.sha256})`,
    )
  }
  await session.run(sh`chmod 755 ${temp} && mv -f ${temp} ${K3S_BINARY}`)
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

/** The k3s unit enabled and running the current files; false when nothing was done. */
async function _service(session: SshSession, unit: string, restart: boolean): Promise<false | string> {
  const state = await session.run(
    sh`systemctl is-enabled --quiet ${unit} && echo enabled || echo disabled; systemctl is-active --quiet ${unit} && echo active || echo inactive`,
  )
  const [enabled, active] = state.stdout.trim().split('\n')
  const actions = serviceActions(enabled === 'enabled', active === 'active', restart)
  for (const action of actions) await session.run(sh`systemctl ${action} ${unit}`)
  return actions.length === 0 ? false : actions.map((a) => ACTION_DONE[a]).join(', ')
}

/** Stops k3s and removes everything `homelab cluster` and k3s put on the node. */
export async function uninstallNode(session: SshSession, role: 'server' | 'agent'): Promise<void> {
  const unit = unitName(role)
  await session.run(
    [
      sh`systemctl disable --now ${unit} 2>/dev/null || true`,
      // k3s leaves containers running when its service stops (KillMode=process): end them too.
      // (The bracket keeps pkill from matching this very script, whose text holds the pattern.)
      sh`if [ -x ${K3S_BINARY} ]; then pkill -f '[c]ontainerd-shim-runc' || true; fi`,
      sh`rm -f ${unitPath(role)} /etc/systemd/system/multi-user.target.wants/${`${unit}.service`}`,
      'systemctl daemon-reload',
      sh`rm -rf /etc/rancher/k3s /var/lib/rancher/k3s /var/lib/kubelet /run/k3s ${K3S_BINARY} ${SYSCTL_FILE} ${MODULES_FILE}`,
    ].join('\n'),
  )
}
