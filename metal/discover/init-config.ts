/**
 * The homelab.yaml `homelab init` writes: every value it found or was told, each with a comment
 * saying where it came from, and `machines:` last and empty, for `homelab discover --add` to fill
 * (appending there moves no other line). Pure: the same answers give the same bytes.
 */
import { scalar } from '../../core/config/edit.ts'

export interface InitAnswers {
  /** The JSON Schema's path relative to the config file (./homelab.schema.json beside the project's). */
  readonly schema: string
  readonly interface: string
  readonly subnet: string
  readonly gateway: string
  /** How the gateway was found: "the default route", "the DHCP offer's router option", "you". */
  readonly gatewaySource: string
  readonly controller: string
  readonly dns: readonly string[]
  readonly dnsSource: string
  readonly mode: 'proxy' | 'full'
  /** Why this mode: the DHCP servers that answered, or that none did, or "you chose it". */
  readonly modeReason: string
  readonly endpoint: string
  readonly k3sVersion: string
  readonly release: number
  readonly iso: { readonly url: string; readonly sha256: string } | 'test-os'
  readonly timezone: string
  readonly sshPublicKey: string
  readonly seed: string
  readonly domain: string
}

export function renderInitConfig(a: InitAnswers): string {
  const q = scalar
  const iso =
    a.iso === 'test-os'
      ? ['  iso: test-os # the offline test OS (lab and tests only)']
      : [
          '  iso:',
          `    url: ${q(a.iso.url)}`,
          `    sha256: ${q(a.iso.sha256)} # from the release's CHECKSUM file`,
        ]
  const dns =
    a.dns.length === 0
      ? [`  # dns: none found in ${a.dnsSource}; the machines use the gateway`]
      : [`  dns: [${a.dns.map(q).join(', ')}] # from ${a.dnsSource}`]
  return [
    `# yaml-language-server: $schema=${a.schema}`,
    '#',
    '# homelab.yaml: the one file you edit. `homelab validate` checks it; `make` builds everything from it.',
    '# Written by `homelab init` from what this controller found on its network; see docs/configuration.md.',
    '# Next: `homelab discover --add` lists the machines that netboot and appends them below.',
    '',
    'network:',
    `  interface: ${q(a.interface)} # the controller's interface on the machines' network`,
    `  subnet: ${q(a.subnet)}`,
    `  gateway: ${q(a.gateway)} # ${a.gatewaySource}`,
    `  controller: ${q(a.controller)} # this controller's address on ${a.interface}`,
    ...dns,
    '  dhcp:',
    `    mode: ${a.mode} # ${a.modeReason}`,
    '',
    'cluster:',
    `  k3sVersion: ${q(a.k3sVersion)}`,
    `  endpoint: ${q(a.endpoint)} # a free address, used as a virtual IP (kube-vip) in front of the servers`,
    '  # loadBalancerPool: default is the last /27 of the subnet',
    '',
    'os:',
    '  profile: fedora',
    `  release: ${a.release}`,
    ...iso,
    `  timezone: ${q(a.timezone)}`,
    '  locale: en_US.UTF-8',
    '  keyboard: us',
    `  sshPublicKey: ${q(a.sshPublicKey)}`,
    '',
    'gitops:',
    '  seed:',
    `    url: ${q(a.seed)}`,
    '    revision: main',
    `  domain: ${q(a.domain)} # apps are served as <app>.${a.domain}`,
    '',
    '# The machines, by MAC: only these are ever answered or installed. `homelab discover --add` appends',
    '# the ones that netboot; `homelab machine add NAME --mac MAC` one by hand.',
    'machines: []',
    '',
  ].join('\n')
}
