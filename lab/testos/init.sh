#!/bin/sh
# /init of the homelab TEST OS (not Fedora): a stand-in installer with Fedora's interface,
# built from Debian packages by lab/testos/build.ts. See docs/testos.md.
#
# Netbooted (inst.ks=URL):
#   1. loads the drivers (virtio NIC and disk, FAT, efivarfs), gets a DHCP lease with udhcpc
#   2. fetches the kickstart; reads `network` (the NIC by MAC or name, like Anaconda: no such NIC
#      skips the whole line), `sshkey --username=root`, `ignoredisk --only-use=` and `%onerror`
#   3. "installs": applies the network line and key; on a UEFI machine writes an ESP with this
#      kernel and initramfs, the settings and the host key to the disk, and puts its own boot entry
#      first in BootOrder (efibootmgr -c)
#   4. starts an SSH server (dropbear) on port 22 and reports the host key and the NIC name
# and reports each stage to the kickstart's server: GET http://SERVER/report/<stage>?detail=...
# An install failure runs the kickstart's %onerror (like Anaconda), or reports `failed` itself.
# Booted from disk (testos.installed=1): the saved address, keys and host key, SSH; no reports.
# Everything it says also goes to /tmp/anaconda.log, like Anaconda's log.

PATH=/sbin:/bin:/usr/sbin:/usr/bin
export PATH
BANNER='homelab TEST OS (not Fedora)'
REPORT_BASE=''
LOG=/tmp/anaconda.log

say() {
  echo "testos: $*"
  echo "$(date +%T) testos: $*" >>"$LOG"
}

# Percent-encodes $1 for a query string (unreserved characters stay readable).
urlencode() {
  for h in $(printf '%s' "$1" | od -An -tx1 -v); do
    case $h in
      3[0-9] | 4[1-9a-f] | 5[0-9a] | 6[1-9a-f] | 7[0-9a] | 2d | 2e | 5f | 7e) printf "\\x$h" ;;
      *) printf '%%%s' "$h" ;;
    esac
  done
}

# Note: busybox-static 1.35's `wget -T SECONDS` segfaults (reproducible in a chroot): time out with `timeout`.

# report STAGE DETAIL: best effort (a report that cannot be sent never stops the install).
report() {
  say "report $1: $2"
  [ -n "$REPORT_BASE" ] || return 0
  timeout 10 wget -q -O /dev/null "$REPORT_BASE/report/$1?detail=$(urlencode "$2")" 2>/dev/null ||
    say "report $1 could not be sent to $REPORT_BASE"
}

# stay_up: PID 1 never exits. A console shell in the background; `reboot`, `poweroff` and `halt`
# (busybox: SIGTERM, SIGUSR2, SIGUSR1 to PID 1) end the machine at once, as the product's
# --reinstall expects of an installed system.
stay_up() {
  trap 'sync; reboot -f' TERM
  trap 'sync; poweroff -f' USR2
  trap 'sync; halt -f' USR1
  (while :; do
    setsid cttyhack sh -l 2>/dev/null
    sleep 5
  done) &
  while :; do
    sleep 60 &
    wait $!
  done
}

# fail_local REASON: print it and stay up for debugging (no report: the installed system).
fail_local() {
  say "FAILED: $*"
  echo
  echo "=== $BANNER: FAILED: $* ==="
  stay_up
}

# fail REASON: report it, print it, and stay up (a shell on the console) for debugging.
fail() {
  report failed "$*"
  fail_local "$*"
}

# install_failed REASON: an install failure, handled like Anaconda: the kickstart's %onerror
# scripts run (with sh; they post the log tail to /report/failed), else the test OS reports it.
install_failed() {
  say "install failed: $*"
  if [ -s /run/ks-onerror.sh ]; then
    say 'running the kickstart %onerror script'
    sh /run/ks-onerror.sh >>"$LOG" 2>&1 || say "%onerror script exited $?"
  else
    report failed "$*"
  fi
  fail_local "$*"
}

# iface_by_mac MAC: the interface with that MAC (lower case), or nothing.
iface_by_mac() {
  for dev in /sys/class/net/*; do
    [ "$(cat "$dev/address" 2>/dev/null)" = "$1" ] && echo "${dev##*/}" && return 0
  done
  return 0
}

# start_sshd: dropbear on port 22 with /etc/dropbear's host key, keys only; waits until it listens.
start_sshd() {
  # -s: no password logins; -j -k: no port forwarding; -E: log to stderr (the console).
  dropbear -r /etc/dropbear/dropbear_ed25519_host_key -p 22 -s -j -k -E || return 1
  tries=0
  until netstat -ltn 2>/dev/null | grep -q ':22 '; do
    tries=$((tries + 1))
    [ $tries -lt 50 ] || return 1
    sleep 0.1
  done
}

. /etc/testos/install.sh

# --- early userspace -------------------------------------------------------------------------
mkdir -p /proc /sys /dev /run /tmp /var/log /etc/dropbear
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
mkdir -p /dev/pts
mount -t devpts devpts /dev/pts
hostname testos
echo
echo "=== $BANNER ==="
echo "=== $(cat /etc/testos-release 2>/dev/null) kernel $(uname -r) ==="
: >"$LOG"

# --- drivers ---------------------------------------------------------------------------------
# /etc/testos/modules lists modules in dependency order (computed at build time from .modinfo).
while read -r mod; do
  [ -n "$mod" ] || continue
  insmod "/lib/modules/testos/$mod.ko" 2>/dev/null || say "insmod $mod failed (built in or already loaded?)"
done </etc/testos/modules
# The UEFI variables (efibootmgr), on UEFI machines only.
if [ -d /sys/firmware/efi ]; then
  mount -t efivarfs efivarfs /sys/firmware/efi/efivars 2>/dev/null || say 'cannot mount efivarfs'
fi
case " $(cat /proc/cmdline) " in
  *' testos.installed=1 '*) installed_boot ;;
esac

# --- kernel command line ---------------------------------------------------------------------
KS_URL=''
REPO=''
for arg in $(cat /proc/cmdline); do
  case $arg in
    inst.ks=*) KS_URL=${arg#inst.ks=} ;;
    inst.repo=*) REPO=${arg#inst.repo=} ;;
  esac
done
case $KS_URL in
  http://*) ;;
  '') fail 'no inst.ks=URL on the kernel command line' ;;
  *) fail "inst.ks=$KS_URL is not an http:// URL" ;;
esac
# http://SERVER[:PORT]/path -> http://SERVER[:PORT]
hostpart=${KS_URL#http://}
REPORT_BASE="http://${hostpart%%/*}"

# --- network: DHCP ---------------------------------------------------------------------------
IFACE=''
tries=0
while [ -z "$IFACE" ] && [ $tries -lt 50 ]; do
  for dev in /sys/class/net/*; do
    name=${dev##*/}
    [ "$name" = lo ] && continue
    IFACE=$name
    break
  done
  [ -n "$IFACE" ] || sleep 0.1
  tries=$((tries + 1))
done
[ -n "$IFACE" ] || fail 'no network interface (is the NIC virtio? see /etc/testos/modules)'
MAC=$(cat "/sys/class/net/$IFACE/address")
ip link set lo up
ip link set "$IFACE" up
say "DHCP on $IFACE ($MAC)"
udhcpc -i "$IFACE" -n -q -t 10 -T 2 -s /etc/testos/udhcpc.sh -x hostname:testos ||
  fail "no DHCP lease on $IFACE ($MAC)"
. /run/testos-dhcp.env
report started "$BANNER on $MAC, lease $DHCP_IP/$DHCP_PREFIX"

# --- kickstart -------------------------------------------------------------------------------
timeout 30 wget -q -O /run/ks.cfg "$KS_URL" || fail "cannot fetch kickstart $KS_URL"
# Continuation lines (trailing backslash) are joined; CRs are dropped.
tr -d '\r' </run/ks.cfg | sed -e ':a' -e '/\\$/N; s/\\\n//; ta' >/run/ks.flat
# The body of the %onerror section(s), run with sh when the install fails (like Anaconda).
sed -n -e '/^%onerror/,/^%end/{/^%onerror/d;/^%end/d;p}' /run/ks.flat >/run/ks-onerror.sh

# ks_opt LINE NAME: the value of --NAME=VALUE (or --NAME VALUE) in LINE, quotes removed.
ks_opt() {
  echo "$1" | sed -n -e "s/.*--$2[= ]\"\([^\"]*\)\".*/\1/p" -e "t" -e "s/.*--$2[= ]\([^ ]*\).*/\1/p"
}
NETLINE=$(grep -m1 -E '^[[:space:]]*network[[:space:]]' /run/ks.flat)
[ -n "$NETLINE" ] || fail "kickstart $KS_URL has no network line: is it a kickstart?"
KEYS=$(sed -n -e 's/^[[:space:]]*sshkey[[:space:]].*--username[= ]root[[:space:]]\{1,\}"\([^"]*\)".*/\1/p' /run/ks.flat)
[ -n "$KEYS" ] || fail "kickstart $KS_URL has no sshkey --username=root \"KEY\" line"
BOOTPROTO=$(ks_opt "$NETLINE" bootproto)
KS_DEVICE=$(ks_opt "$NETLINE" device)
KS_IP=$(ks_opt "$NETLINE" ip)
KS_MASK=$(ks_opt "$NETLINE" netmask)
KS_GW=$(ks_opt "$NETLINE" gateway)
KS_HOST=$(ks_opt "$NETLINE" hostname)
DISKLINE=$(grep -m1 -E '^[[:space:]]*ignoredisk[[:space:]]' /run/ks.flat)
KS_DISK=$(ks_opt "$DISKLINE" only-use)
[ -n "$REPO" ] || REPO=$(sed -n -e 's/^[[:space:]]*url[[:space:]].*--url[= ]"\{0,1\}\([^" ]*\)"\{0,1\}.*/\1/p' /run/ks.flat | head -n1)
case ${BOOTPROTO:-dhcp} in
  static) [ -n "$KS_IP" ] && [ -n "$KS_MASK" ] || fail "kickstart network line is static without --ip and --netmask: $NETLINE" ;;
  dhcp) ;;
  *) fail "kickstart network --bootproto=$BOOTPROTO is not supported by the test OS (static or dhcp)" ;;
esac
report kickstart "fetched $KS_URL: bootproto=${BOOTPROTO:-dhcp} device=${KS_DEVICE:-none} ip=${KS_IP:-dhcp} hostname=${KS_HOST:-none} disk=${KS_DISK:-none}"

# --- "install" -------------------------------------------------------------------------------
report installing "applying the kickstart (network, ssh key, disk ${KS_DISK:-none})"

# The install disk, like Anaconda's storage step: `ignoredisk --only-use=` must name a disk that
# exists (a name such as vda, or a /dev/disk/by-id/... path); Anaconda fails the install if not.
DISK=''
if [ -n "$KS_DISK" ]; then
  case $KS_DISK in
    /dev/*) DISK=$(readlink -f "$KS_DISK" 2>/dev/null) ;;
    *) DISK=/dev/$KS_DISK ;;
  esac
  [ -n "$DISK" ] && [ -b "$DISK" ] ||
    install_failed "ignoredisk --only-use=$KS_DISK: no such disk (disks: $(ls /sys/block | grep -v -e '^loop' -e '^ram' | tr '\n' ' '))"
  say "install disk: $KS_DISK ($DISK)"
fi

# mask_to_prefix 255.255.255.0 -> 24
mask_to_prefix() {
  bits=0
  for octet in $(echo "$1" | tr . ' '); do
    case $octet in
      255) bits=$((bits + 8)) ;; 254) bits=$((bits + 7)) ;; 252) bits=$((bits + 6)) ;;
      248) bits=$((bits + 5)) ;; 240) bits=$((bits + 4)) ;; 224) bits=$((bits + 3)) ;;
      192) bits=$((bits + 2)) ;; 128) bits=$((bits + 1)) ;; 0) ;;
      *) return 1 ;;
    esac
  done
  echo $bits
}

# The network line's NIC, like Anaconda: --device names a MAC (any case, : or -) or an interface;
# with no such NIC the whole line is skipped ("not found") and the DHCP lease stays.
NET_IFACE=$IFACE
if [ -n "$KS_DEVICE" ]; then
  case $KS_DEVICE in
    ??:??:??:??:??:?? | ??-??-??-??-??-??)
      NET_IFACE=$(iface_by_mac "$(echo "$KS_DEVICE" | tr 'A-F-' 'a-f:')") ;;
    *) [ -e "/sys/class/net/$KS_DEVICE" ] && NET_IFACE=$KS_DEVICE || NET_IFACE='' ;;
  esac
fi
NET_MAC=$MAC
NET_BOOTPROTO=dhcp
NET_PREFIX=''
ADDR=$DHCP_IP
if [ -z "$NET_IFACE" ]; then
  say "network --device=$KS_DEVICE: not found; skipping the network line (the DHCP lease $DHCP_IP stays)"
  KS_HOST=''
elif [ "$BOOTPROTO" = static ]; then
  NET_MAC=$(cat "/sys/class/net/$NET_IFACE/address")
  NET_PREFIX=$(mask_to_prefix "$KS_MASK") || fail "kickstart --netmask=$KS_MASK is not a netmask"
  ip link set "$NET_IFACE" up
  ip addr flush dev "$NET_IFACE"
  ip addr add "$KS_IP/$NET_PREFIX" dev "$NET_IFACE" || fail "cannot set address $KS_IP/$NET_PREFIX on $NET_IFACE"
  if [ -n "$KS_GW" ]; then
    ip route replace default via "$KS_GW" dev "$NET_IFACE" || fail "cannot set gateway $KS_GW"
  fi
  NET_BOOTPROTO=static
  ADDR=$KS_IP
  say "network: $KS_IP/$NET_PREFIX on $NET_IFACE ($NET_MAC)"
fi
if [ -n "$KS_HOST" ]; then
  hostname "$KS_HOST"
  echo "$KS_HOST" >/etc/hostname
fi
{
  echo "NET_MAC='$NET_MAC'"
  echo "NET_BOOTPROTO='$NET_BOOTPROTO'"
  echo "NET_IP='$KS_IP'"
  echo "NET_PREFIX='$NET_PREFIX'"
  echo "NET_GW='$KS_GW'"
  echo "NET_HOSTNAME='$KS_HOST'"
} >/run/testos-network.env

mkdir -p /root/.ssh
chmod 700 /root /root/.ssh
echo "$KEYS" >/root/.ssh/authorized_keys
chmod 600 /root/.ssh/authorized_keys

dropbearkey -t ed25519 -f /etc/dropbear/dropbear_ed25519_host_key >/dev/null 2>&1 ||
  fail 'dropbearkey could not make a host key'
HOSTKEY=$(dropbearkey -y -f /etc/dropbear/dropbear_ed25519_host_key 2>/dev/null | grep '^ssh-ed25519' | cut -d' ' -f1-2)

# The disk: UEFI machines get an ESP with this system and its own boot entry first in BootOrder.
if [ -n "$DISK" ] && [ -d /sys/firmware/efi/efivars ]; then
  [ -n "$REPO" ] || install_failed 'no inst.repo= and no url --url= to fetch the kernel and initramfs from'
  install_to_disk "$DISK" "$REPO" || install_failed "cannot install to $DISK (see $LOG)"
elif [ -n "$DISK" ]; then
  say "no UEFI: the test OS runs from RAM only and writes nothing to $DISK"
fi

start_sshd || install_failed 'the SSH server (dropbear) did not start'

echo
echo "=== $BANNER: SSH ready on $ADDR:22 (host $(hostname)) ==="
echo "=== host key: $HOSTKEY ==="
# What the real kickstart's %post reports, sent by the test OS itself (its %post needs Fedora's
# tools): the host public key, so the controller can pin it, and the name of the configured NIC.
if [ -n "$REPORT_BASE" ]; then
  timeout 10 wget -q -O /dev/null --post-data="$HOSTKEY root@$(hostname)" "$REPORT_BASE/report/hostkey" 2>/dev/null ||
    say "report hostkey could not be sent to $REPORT_BASE"
  if [ -n "$NET_IFACE" ]; then
    timeout 10 wget -q -O /dev/null --post-data="$NET_IFACE" "$REPORT_BASE/report/nic" 2>/dev/null ||
      say "report nic could not be sent to $REPORT_BASE"
  fi
fi
report installed "$BANNER: SSH ready on $ADDR:22, host key $HOSTKEY"
stay_up
