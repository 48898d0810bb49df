/**
 * The per-machine install config for the `fedora` profile: an Anaconda kickstart
 * rendered from homelab.yaml. Partitioning and package choices follow the seed
 * (autopart without /home on the one install disk, minimal environment plus the
 * iSCSI initiator Longhorn needs, SELinux and firewalld off as k3s expects there).
 *
 * The installer reports its progress to our HTTP server (`/report/<stage>`), and
 * %post sends the new host key so a re-run can tell this machine is installed.
 */
import type { Derived } from '../../core/config/checks.ts'
import type { Config, Machine } from '../../core/config/schema.ts'
import { formatIPv4, maskOf } from '../../lib/ipv4/index.ts'

export interface KickstartContext {
  readonly config: Config
  readonly derived: Derived
  /** The controller's address, where the installer fetches the tree and reports. */
  readonly server: string
  /** The SSH public key authorised for root (the content of os.sshPublicKey). */
  readonly sshPublicKey: string
}

/** Where the installer fetches the install tree (the ISO, served in place). */
export function installTreeUrl(server: string): string {
  return `http://${server}/os`
}

/** Where a machine's kickstart is served: by MAC, so GRUB and iPXE can build the URL. */
export function kickstartPath(mac: string): string {
  return `ks/${mac.toLowerCase().replaceAll('-', ':')}.ks`
}

function quote(value: string): string {
  if (/["\\\n]/.test(value))
    throw new TypeError(
      `Cannot put value in a kickstart: ${JSON.stringify(value)} has a quote, backslash or newline`,
    )
  return `"${value}"`
}

function diskName(disk: string): string {
  return disk.startsWith('/dev/') ? disk.slice(5) : disk
}

export function renderKickstart(machine: Machine, ctx: KickstartContext): string {
  const { config, derived, server } = ctx
  const key = ctx.sshPublicKey.trim()
  if (!/^(ssh-(ed25519|rsa)|ecdsa-sha2-nistp\d+|sk-\S+) [A-Za-z0-9+/=]+( [^\n"]*)?$/.test(key)) {
    throw new TypeError(
      `Cannot render kickstart for ${machine.name}: os.sshPublicKey does not hold an SSH public key`,
    )
  }
  const disk = diskName(machine.disk)
  const report = (stage: string) => `curl -fsS -m 10 -o /dev/null http://${server}/report/${stage} || true`
  const lines = [
    `# homelab: install config for ${machine.name} (${machine.mac}), rendered from homelab.yaml; do not edit`,
    'text',
    `url --url=${quote(installTreeUrl(server))}`,
    `keyboard --xlayouts=${quote(config.os.keyboard)}`,
    `lang ${config.os.locale}`,
    `timezone ${config.os.timezone} --utc`,
    '',
    `network --bootproto=static --device=${machine.nic} --ip=${machine.ip} --netmask=${formatIPv4(maskOf(derived.subnet.prefix))} --gateway=${config.network.gateway} --nameserver=${derived.dns.join(',')} --hostname=${machine.name} --ipv6=auto --activate --onboot=yes`,
    '',
    `ignoredisk --only-use=${disk}`,
    'zerombr',
    `clearpart --all --initlabel --drives=${disk}`,
    'autopart --nohome',
    `bootloader --boot-drive=${disk}`,
    '',
    'rootpw --lock',
    `sshkey --username=root ${quote(key)}`,
    'firstboot --disable',
    'skipx',
    'selinux --disabled',
    'firewall --disabled',
    'services --enabled=chronyd,sshd,iscsid',
    'reboot',
    '',
    '%packages',
    '@^minimal-environment',
    'iscsi-initiator-utils',
    'nfs-utils',
    'curl',
    '%end',
    '',
    '%pre',
    report('installing'),
    '%end',
    '',
    '%post --log=/root/homelab-post.log',
    'ssh-keygen -A',
    `curl -fsS -m 10 -o /dev/null --data-binary @/etc/ssh/ssh_host_ed25519_key.pub http://${server}/report/hostkey || true`,
    report('installed'),
    '%end',
    '',
  ]
  return lines.join('\n')
}
