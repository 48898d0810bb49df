/**
 * The per-machine install config for the `fedora` profile: an Anaconda kickstart
 * rendered from homelab.yaml. docs/metal.md gives each choice with its upstream source:
 *
 * - the static address goes to the NIC named by its MAC (`network --device=MAC`), since
 *   Anaconda skips a whole `network` line whose device name does not exist;
 * - explicit partitioning gives `/` the disk (`reqpart`, `/boot`, `/` with `--grow`, no LVM),
 *   where k3s and Longhorn keep their data; Fedora Server's autopart would cap `/` at 15 GiB;
 * - `@core` (present in every comps) plus the iSCSI initiator Longhorn needs;
 * - `%onerror` posts the tail of the installer's logs to `/report/failed`;
 * - `%post` reports the new host key (`/report/hostkey`) and the name the NIC got (`/report/nic`).
 *
 * Every script uses only `curl -fsS -m N -o /dev/null --data-binary @FILE|@- URL`: the flags
 * the test OS's curl stand-in implements (lab/testos).
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
  return `ks/${macAddress(mac)}.ks`
}

function quote(value: string): string {
  if (/["\\\n]/.test(value))
    throw new TypeError(
      `Cannot put value in a kickstart: ${JSON.stringify(value)} has a quote, backslash or newline`,
    )
  return `"${value}"`
}

/**
 * The install disk as Anaconda's disk specs take it: a stable link keeps its full
 * `/dev/disk/...` path (what pykickstart's docs show, and what the boot loader's drive lookup
 * resolves); an enumeration name loses its `/dev/` (`sda`).
 */
export function diskSpec(disk: string): string {
  if (disk.startsWith('/dev/disk/')) return disk
  return disk.startsWith('/dev/') ? disk.slice(5) : disk
}

/** The MAC as Anaconda and Linux print it: lower case, colon-separated. */
export function macAddress(mac: string): string {
  return mac.toLowerCase().replaceAll('-', ':')
}

/** Logs Anaconda writes in /tmp while it runs; %onerror sends their tails. */
export const INSTALLER_LOGS = ['/tmp/anaconda.log', '/tmp/storage.log', '/tmp/packaging.log'] as const

/** At most this many bytes of installer log are posted by %onerror. */
export const FAILURE_LOG_BYTES = 3500

function post(server: string, stage: string, data?: string): string {
  const body = data === undefined ? '' : ` --data-binary ${data}`
  return `curl -fsS -m 10 -o /dev/null${body} http://${server}/report/${stage} || true`
}

export function renderKickstart(machine: Machine, ctx: KickstartContext): string {
  const { config, server } = ctx
  const key = ctx.sshPublicKey.trim()
  if (!/^(ssh-(ed25519|rsa)|ecdsa-sha2-nistp\d+|sk-\S+) [A-Za-z0-9+/=]+( [^\n"]*)?$/.test(key)) {
    throw new TypeError(
      `Cannot render kickstart for ${machine.name}: os.sshPublicKey does not hold an SSH public key`,
    )
  }
  const lines = [
    `# homelab: install config for ${machine.name} (${machine.mac}), rendered from homelab.yaml; do not edit`,
    'text',
    `url --url=${quote(installTreeUrl(server))}`,
    `keyboard --xlayouts=${quote(config.os.keyboard)}`,
    `lang ${config.os.locale}`,
    `timezone ${config.os.timezone} --utc`,
    '',
    networkLine(machine, ctx),
    '',
    ...storageLines(machine),
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
    '@core',
    'iscsi-initiator-utils',
    'nfs-utils',
    'curl',
    '%end',
    '',
    '%pre',
    post(server, 'installing'),
    '%end',
    '',
    ...scriptLines(machine, server),
  ]
  return lines.join('\n')
}

/** The static address, on the NIC with the machine's MAC, bound to that MAC in the installed system. */
function networkLine(machine: Machine, ctx: KickstartContext): string {
  const { config, derived } = ctx
  return [
    'network --bootproto=static',
    `--device=${macAddress(machine.mac)}`,
    '--bindto=mac',
    `--ip=${machine.ip}`,
    `--netmask=${formatIPv4(maskOf(derived.subnet.prefix))}`,
    `--gateway=${config.network.gateway}`,
    `--nameserver=${derived.dns.join(',')}`,
    `--hostname=${machine.name}`,
    '--ipv6=auto --activate --onboot=yes',
  ].join(' ')
}

/** Only the install disk is touched; `/` takes all of it but /boot and the firmware's partition. */
function storageLines(machine: Machine): string[] {
  const disk = diskSpec(machine.disk)
  return [
    `ignoredisk --only-use=${disk}`,
    'zerombr',
    `clearpart --all --initlabel --drives=${disk}`,
    'reqpart',
    'part /boot --size=1024 --fstype=xfs',
    'part / --grow --fstype=xfs',
    `bootloader --boot-drive=${disk}`,
  ]
}

/** %onerror (the installer's log tail to /report/failed) and %post (host key, NIC name, installed). */
function scriptLines(machine: Machine, server: string): string[] {
  const logs = INSTALLER_LOGS.join(' ')
  const mac = macAddress(machine.mac)
  return [
    '%onerror',
    `tail -n 60 ${logs} 2>/dev/null | tail -c ${FAILURE_LOG_BYTES} | ${post(server, 'failed', '@-')}`,
    '%end',
    '',
    '%post --log=/root/homelab-post.log',
    'ssh-keygen -A',
    post(server, 'hostkey', '@/etc/ssh/ssh_host_ed25519_key.pub'),
    'iface=',
    'for dev in /sys/class/net/*; do',
    `  if [ "$(cat "$dev/address" 2>/dev/null)" = "${mac}" ]; then iface="\${dev##*/}"; fi`,
    'done',
    `printf '%s' "$iface" | ${post(server, 'nic', '@-')}`,
    post(server, 'installed'),
    '%end',
    '',
  ]
}
