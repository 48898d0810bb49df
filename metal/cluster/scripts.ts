/**
 * The killall and uninstall scripts every node gets beside the k3s binary, as k3s's installer
 * puts them there (install.sh, create_killall and create_uninstall; read at k3s-io/k3s commit
 * 0136cf25, the script get.k3s.io serves for every release). Ours are written from what those do,
 * not copied:
 *
 *   /usr/local/bin/k3s-killall.sh            stop every k3s unit; kill each containerd shim's
 *                                            process tree (KillMode=process leaves them running);
 *                                            unmount (deepest first) and remove what is mounted under
 *                                            /run/k3s, /var/lib/kubelet/pods, /var/lib/kubelet/plugins,
 *                                            /run/netns/cni-; delete the cni- network namespaces, the
 *                                            links enslaved to cni0, cni0, flannel.1 (and the v6,
 *                                            wireguard and ipvs links), /var/lib/cni, and the KUBE-,
 *                                            CNI- and flannel iptables rules;
 *   /usr/local/bin/k3s-uninstall.sh          (k3s-agent-uninstall.sh on agents) the killall script, then
 *                                            disable the unit, remove it and its env file, the tool
 *                                            links, /etc/rancher/k3s, /run/k3s, /run/flannel, the data
 *                                            folder (unmounting what is still mounted inside first),
 *                                            /var/lib/kubelet, the binary, both scripts, and our
 *                                            prerequisite files.
 *
 * Both are safe to run again: every step checks first or ignores "not there", and the uninstall
 * ends with nothing mounted and no k3s process left, or says what is left and exits 1.
 */
import {
  K3S_BINARY,
  MODULES_FILE,
  type Role,
  SYSCTL_FILE,
  TOOL_LINKS,
  unitEnvPath,
  unitName,
  unitPath,
} from './render.ts'

export const KILLALL_SCRIPT = '/usr/local/bin/k3s-killall.sh'

export function uninstallScript(role: Role): string {
  return `/usr/local/bin/${unitName(role)}-uninstall.sh`
}

const HEADER = "# Written by homelab (homelab cluster): what k3s's own script of this name does (install.sh)."

export function renderKillall(): string {
  return `#!/bin/sh
${HEADER}
# Stops k3s and everything it started; safe to run again.
[ "$(id -u)" -eq 0 ] || { echo "$0: run it as root" >&2; exit 1; }
DATA_DIR=\${K3S_DATA_DIR:-/var/lib/rancher/k3s}

for unit in /etc/systemd/system/k3s*.service; do
  [ -s "$unit" ] && systemctl stop "$(basename "$unit")"
done

# A process and all its descendants, parents first.
descendants() {
  echo "$1"
  for child in $(ps -e -o ppid= -o pid= | awk -v p="$1" '$1 == p { print $2 }'); do
    descendants "$child"
  done
}
# containerd shims (and the containers under them) outlive k3s: its unit has KillMode=process.
for shim in $(ps -e -o pid= -o args= | awk -v d="$DATA_DIR/data/" 'index($2, d) == 1 && $2 ~ /\\/bin\\/containerd-shim/ { print $1 }'); do
  kill -9 $(descendants "$shim") 2>/dev/null
done

# Unmounts (deepest first) and removes every mount point under a prefix.
unmount_under() {
  awk -v p="$1" 'index($2, p) == 1 { print $2 }' /proc/self/mounts | sort -r | while read -r path; do
    umount -f "$path" && rm -rf "$path"
  done
}
unmount_under /run/k3s
unmount_under /var/lib/kubelet/pods
unmount_under /var/lib/kubelet/plugins
unmount_under /run/netns/cni-

for ns in $(ip netns list 2>/dev/null | awk '$1 ~ /^cni-/ { print $1 }'); do ip netns delete "$ns"; done
for link in $(ip -o link show master cni0 2>/dev/null | awk -F': ' '{ print $2 }' | cut -d@ -f1); do
  ip link delete "$link"
done
for link in cni0 flannel.1 flannel-v6.1 kube-ipvs0 flannel-wg flannel-wg-v6; do
  ip link show "$link" >/dev/null 2>&1 && ip link delete "$link"
done
rm -rf /var/lib/cni/
for xt in iptables ip6tables; do
  if command -v "$xt-save" >/dev/null 2>&1 && command -v "$xt-restore" >/dev/null 2>&1; then
    "$xt-save" | grep -v KUBE- | grep -v CNI- | grep -iv flannel | "$xt-restore"
  fi
done
exit 0
`
}

export function renderUninstall(role: Role): string {
  const unit = unitName(role)
  const links = TOOL_LINKS.map((t) => `/usr/local/bin/${t}`).join(' ')
  return `#!/bin/sh
${HEADER}
# Removes k3s and everything it and homelab put on this machine; safe to run again.
[ "$(id -u)" -eq 0 ] || { echo "$0: run it as root" >&2; exit 1; }
DATA_DIR=\${K3S_DATA_DIR:-/var/lib/rancher/k3s}

[ -x ${KILLALL_SCRIPT} ] && ${KILLALL_SCRIPT}

systemctl disable ${unit} 2>/dev/null
systemctl reset-failed ${unit} 2>/dev/null
rm -f ${unitPath(role)} ${unitEnvPath(role)}
systemctl daemon-reload

for link in ${links}; do
  [ -L "$link" ] && rm -f "$link"
done

# Whatever is still mounted under the data folder (deepest first), then the folder itself.
awk -v p="$DATA_DIR/" 'index($2, p) == 1 { print $2 }' /proc/self/mounts | sort -r | while read -r path; do
  umount -f "$path"
done
rm -rf /etc/rancher/k3s /run/k3s /run/flannel "$DATA_DIR" /var/lib/kubelet
rm -f ${K3S_BINARY} ${SYSCTL_FILE} ${MODULES_FILE} ${KILLALL_SCRIPT}

# Nothing of k3s may be left running or mounted.
left=$(ps -e -o pid= -o args= | awk -v d="$DATA_DIR/data/" -v b="${K3S_BINARY}" 'index($2, d) == 1 || $2 == b { print $1 }')
mounted=$(awk '$2 ~ /^(\\/run\\/k3s|\\/var\\/lib\\/kubelet|\\/var\\/lib\\/rancher\\/k3s)/ { print $2 }' /proc/self/mounts)
if [ -n "$left$mounted" ]; then
  echo "$0: still there after the uninstall: processes $left; mounts $mounted" >&2
  exit 1
fi
rm -f "$0"
exit 0
`
}
