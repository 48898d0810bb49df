/**
 * The files `homelab cluster` puts on every node, rendered from homelab.yaml alone: pure
 * functions, so a re-run renders the same bytes and an idempotent write changes nothing.
 *
 *   /etc/sysctl.d/90-homelab-k3s.conf        inotify limits (as the seed sets them)
 *   /etc/modules-load.d/homelab-k3s.conf     br_netfilter, overlay
 *   /etc/rancher/k3s/token                   the cluster token (0600)
 *   /etc/rancher/k3s/config.yaml             the node's k3s settings (0600)
 *   /etc/systemd/system/k3s.service          servers; agents get k3s-agent.service
 *   /var/lib/rancher/k3s/agent/pod-manifests/kube-vip.yaml   servers, when the endpoint is a VIP
 */
import type { Machine } from '../../core/config/schema.ts'

export const K3S_BINARY = '/usr/local/bin/k3s'
export const K3S_CONFIG = '/etc/rancher/k3s/config.yaml'
export const K3S_TOKEN = '/etc/rancher/k3s/token'
export const K3S_KUBECONFIG = '/etc/rancher/k3s/k3s.yaml'
export const SYSCTL_FILE = '/etc/sysctl.d/90-homelab-k3s.conf'
export const MODULES_FILE = '/etc/modules-load.d/homelab-k3s.conf'
export const KUBE_VIP_MANIFEST = '/var/lib/rancher/k3s/agent/pod-manifests/kube-vip.yaml'
/**
 * Present on a server once it is (or was) a member of an etcd cluster: the etcd WAL folder, which
 * is what k3s itself checks (pkg/etcd/etcd.go, IsInitialized(): `<data>/db/etcd/member/wal`).
 */
export const ETCD_MEMBER_DIR = '/var/lib/rancher/k3s/server/db/etcd/member/wal'
/** The agent token on servers (`agent-token-file`), kept apart from the server token. */
export const K3S_AGENT_TOKEN = '/etc/rancher/k3s/agent-token'
/** The links install.sh makes beside the binary (create_symlinks), when no such command exists. */
export const TOOL_LINKS = ['kubectl', 'crictl', 'ctr'] as const
export const API_PORT = 6443
/** kube-vip, pinned; ARP mode, control plane only (MetalLB announces services). */
export const KUBE_VIP_IMAGE = 'ghcr.io/kube-vip/kube-vip:v0.9.2'

export const KERNEL_MODULES = ['br_netfilter', 'overlay'] as const
/** The seed raises the inotify limits: many pods watch many files (log shippers, ArgoCD). */
export const SYSCTLS = { 'fs.inotify.max_user_instances': 8192, 'fs.inotify.max_user_watches': 524288 }

const HEADER = '# Written by homelab (homelab cluster) from homelab.yaml: edit that file, not this one.\n'

export type Role = Machine['role']

export function unitName(role: Role): 'k3s' | 'k3s-agent' {
  return role === 'server' ? 'k3s' : 'k3s-agent'
}

export function unitPath(role: Role): string {
  return `/etc/systemd/system/${unitName(role)}.service`
}

/** The env file install.sh writes beside the unit (FILE_K3S_ENV, 0600). */
export function unitEnvPath(role: Role): string {
  return `${unitPath(role)}.env`
}

/** The unit's env file: install.sh fills it with the K3S_, CONTAINERD_ and proxy variables it was run with; we set none. */
export function renderUnitEnv(): string {
  return `${HEADER}# K3S_*, CONTAINERD_* and NO_PROXY/HTTP_PROXY/HTTPS_PROXY lines here reach k3s (none are set).\n`
}

export function renderSysctl(): string {
  return `${HEADER}${Object.entries(SYSCTLS)
    .map(([k, v]) => `${k} = ${v}\n`)
    .join('')}`
}

export function renderModules(): string {
  return `${HEADER}${KERNEL_MODULES.map((m) => `${m}\n`).join('')}`
}

/** The unit k3s's installer writes, trimmed to what we use. */
export function renderUnit(role: Role): string {
  const what = role === 'server' ? 'server' : 'agent'
  return [
    HEADER.trimEnd(),
    '[Unit]',
    `Description=Lightweight Kubernetes (k3s ${what})`,
    'Documentation=https://docs.k3s.io',
    'Wants=network-online.target',
    'After=network-online.target',
    '',
    '[Service]',
    'Type=notify',
    // The three env files install.sh's unit reads, in its order (create_systemd_service_file).
    'EnvironmentFile=-/etc/default/%N',
    'EnvironmentFile=-/etc/sysconfig/%N',
    `EnvironmentFile=-${unitEnvPath(role)}`,
    'KillMode=process',
    'Delegate=yes',
    'LimitNOFILE=1048576',
    'LimitNPROC=infinity',
    'LimitCORE=infinity',
    'TasksMax=infinity',
    'TimeoutStartSec=0',
    'Restart=always',
    'RestartSec=5s',
    ...KERNEL_MODULES.map((m) => `ExecStartPre=-/sbin/modprobe ${m}`),
    `ExecStart=${K3S_BINARY} ${what}`,
    '',
    '[Install]',
    'WantedBy=multi-user.target',
    '',
  ].join('\n')
}

/**
 * How a node takes part in the cluster: `init` starts a new cluster (cluster-init), `join`
 * joins through `server`. Decided by the plan from what the servers hold, never list order.
 */
export type Membership = { readonly kind: 'init' } | { readonly kind: 'join'; readonly server: string }

export interface NodeConfigInput {
  readonly machine: Machine
  readonly membership: Membership
  /** The control-plane endpoint (a server's IP or a VIP): always a TLS SAN. */
  readonly endpoint: string
  /** SELinux enforcing with the k3s-selinux policy installed: k3s runs with `selinux: true`. */
  readonly selinux?: boolean
}

/** YAML scalars we write are addresses, names and paths: quoted when not plain-safe. */
function scalar(value: string): string {
  return /^[A-Za-z0-9./_:-]+$/.test(value) && !/^(true|false|yes|no|on|off|null|~)$/i.test(value)
    ? value
    : JSON.stringify(value)
}

/** /etc/rancher/k3s/config.yaml: k3s reads it at start; keys are the CLI flags' names. */
export function renderK3sConfig(input: NodeConfigInput): string {
  const { machine, membership, endpoint } = input
  const lines = [HEADER.trimEnd()]
  if (membership.kind === 'init') lines.push('cluster-init: true')
  else lines.push(`server: ${scalar(membership.server)}`)
  lines.push(
    `token-file: ${K3S_TOKEN}`,
    `node-name: ${scalar(machine.name)}`,
    `node-ip: ${scalar(machine.ip)}`,
    `flannel-iface: ${scalar(machine.nic)}`,
  )
  if (input.selinux === true) lines.push('selinux: true')
  if (machine.role === 'server') {
    const sans = [...new Set([endpoint, machine.ip])]
    lines.push(
      // Agents join with this one, not the server token: an agent's token cannot make a server.
      `agent-token-file: ${K3S_AGENT_TOKEN}`,
      'tls-san:',
      ...sans.map((s) => `  - ${scalar(s)}`),
      'write-kubeconfig-mode: "0600"',
      // Replaced by layers of our own: MetalLB (servicelb), ingress-nginx (traefik), Longhorn (local-storage).
      'disable:',
      '  - servicelb',
      '  - traefik',
      '  - local-storage',
      'secrets-encryption: true',
      // Metrics for the monitoring layer (Prometheus scrapes them from the node addresses).
      'etcd-expose-metrics: true',
      'kube-controller-manager-arg:',
      '  - bind-address=0.0.0.0',
      'kube-scheduler-arg:',
      '  - bind-address=0.0.0.0',
    )
  }
  return `${lines.join('\n')}\n`
}

/** Reads back the membership lines of a config.yaml we wrote (kept as they are on members). */
export function membershipOf(configText: string): Membership | undefined {
  if (/^cluster-init:\s*true\s*$/m.test(configText)) return { kind: 'init' }
  const server = /^server:\s*"?([^"\s]+)"?\s*$/m.exec(configText)?.[1]
  return server === undefined ? undefined : { kind: 'join', server }
}

export function apiUrl(address: string): string {
  return `https://${address}:${API_PORT}`
}

/**
 * kube-vip as a static pod on every server (as the seed runs it): ARP mode, leader election,
 * holding the control-plane VIP. A static pod so the VIP exists before the API does.
 */
export function renderKubeVip(machine: Machine, vip: string): string {
  const env: [string, string][] = [
    ['vip_arp', 'true'],
    ['port', String(API_PORT)],
    ['vip_interface', machine.nic],
    // The VIP's mask; v0.9 renamed vip_cidr to vip_subnet (pkg/kubevip/config_envvar.go at v0.9.2).
    ['vip_subnet', '32'],
    ['cp_enable', 'true'],
    ['cp_namespace', 'kube-system'],
    ['svc_enable', 'false'],
    ['vip_leaderelection', 'true'],
    ['vip_leasename', 'plndr-cp-lock'],
    ['vip_leaseduration', '5'],
    ['vip_renewdeadline', '3'],
    ['vip_retryperiod', '1'],
    // The lease holder's name (pkg/kubevip/config_envvar.go at v0.9.2); else kube-vip takes the hostname.
    ['vip_nodename', machine.name],
    ['address', vip],
  ]
  return [
    HEADER.trimEnd(),
    'apiVersion: v1',
    'kind: Pod',
    'metadata:',
    '  name: kube-vip',
    '  namespace: kube-system',
    'spec:',
    '  hostNetwork: true',
    '  hostAliases:',
    '    - hostnames: [kubernetes]',
    '      ip: 127.0.0.1',
    '  containers:',
    '    - name: kube-vip',
    `      image: ${KUBE_VIP_IMAGE}`,
    '      args: [manager]',
    '      env:',
    ...env.flatMap(([name, value]) => [
      `        - name: ${name}`,
      `          value: ${JSON.stringify(value)}`,
    ]),
    '      securityContext:',
    '        capabilities:',
    '          add: [NET_ADMIN, NET_RAW]',
    '      volumeMounts:',
    '        - mountPath: /etc/kubernetes/admin.conf',
    '          name: kubeconfig',
    '  volumes:',
    '    - name: kubeconfig',
    '      hostPath:',
    `        path: ${K3S_KUBECONFIG}`,
    '',
  ].join('\n')
}
