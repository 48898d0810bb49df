#!/bin/sh
# /init of the homelab TEST OS (not Fedora): a stand-in installer with Fedora's interface,
# built from Debian packages by lab/testos/build.ts. It installs nothing to disk.
#
#   1. loads the NIC drivers (virtio), gets a DHCP lease with udhcpc
#   2. reads inst.ks=URL from /proc/cmdline and fetches the kickstart with wget
#   3. applies the kickstart's `network --bootproto=static --ip= --netmask= --gateway= --hostname=`
#      and `sshkey --username=root "KEY"` lines (every other line is ignored)
#   4. starts an SSH server (dropbear) on port 22
# and reports each stage to the kickstart's server: GET http://SERVER/report/<stage>?detail=...
# with stages started, kickstart, installing, installed (or failed, then it stays up for debugging).
# Runs under busybox sh; every tool is a busybox applet except dropbear.

PATH=/sbin:/bin:/usr/sbin:/usr/bin
export PATH
BANNER='homelab TEST OS (not Fedora)'
REPORT_BASE=''

say() { echo "testos: $*"; }

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

# fail REASON: report it, print it, and stay up (a shell on the console, or sleep) for debugging.
fail() {
  report failed "$*"
  echo
  echo "=== $BANNER: FAILED: $* ==="
  echo "=== staying up for debugging ==="
  while :; do
    setsid cttyhack sh -l 2>/dev/null
    sleep 5
  done
}

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

# --- drivers ---------------------------------------------------------------------------------
# /etc/testos/modules lists modules in dependency order (computed at build time from .modinfo).
while read -r mod; do
  [ -n "$mod" ] || continue
  insmod "/lib/modules/testos/$mod.ko" 2>/dev/null || say "insmod $mod failed (built in or already loaded?)"
done </etc/testos/modules

# --- kernel command line ---------------------------------------------------------------------
KS_URL=''
for arg in $(cat /proc/cmdline); do
  case $arg in
    inst.ks=*) KS_URL=${arg#inst.ks=} ;;
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

# ks_opt LINE NAME: the value of --NAME=VALUE (or --NAME VALUE) in LINE, quotes removed.
ks_opt() {
  echo "$1" | sed -n -e "s/.*--$2[= ]\"\([^\"]*\)\".*/\1/p" -e "t" -e "s/.*--$2[= ]\([^ ]*\).*/\1/p"
}
NETLINE=$(grep -m1 -E '^[[:space:]]*network[[:space:]]' /run/ks.flat)
[ -n "$NETLINE" ] || fail "kickstart $KS_URL has no network line: is it a kickstart?"
KEYS=$(sed -n -e 's/^[[:space:]]*sshkey[[:space:]].*--username[= ]root[[:space:]]\{1,\}"\([^"]*\)".*/\1/p' /run/ks.flat)
[ -n "$KEYS" ] || fail "kickstart $KS_URL has no sshkey --username=root \"KEY\" line"
BOOTPROTO=$(ks_opt "$NETLINE" bootproto)
KS_IP=$(ks_opt "$NETLINE" ip)
KS_MASK=$(ks_opt "$NETLINE" netmask)
KS_GW=$(ks_opt "$NETLINE" gateway)
KS_HOST=$(ks_opt "$NETLINE" hostname)
case ${BOOTPROTO:-dhcp} in
  static) [ -n "$KS_IP" ] && [ -n "$KS_MASK" ] || fail "kickstart network line is static without --ip and --netmask: $NETLINE" ;;
  dhcp) ;;
  *) fail "kickstart network --bootproto=$BOOTPROTO is not supported by the test OS (static or dhcp)" ;;
esac
report kickstart "fetched $KS_URL: bootproto=${BOOTPROTO:-dhcp} ip=${KS_IP:-dhcp} hostname=${KS_HOST:-none}"

# --- "install": apply network and keys -------------------------------------------------------
report installing "applying network and ssh key (the test OS writes no disk)"

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

if [ "$BOOTPROTO" = static ]; then
  PREFIX=$(mask_to_prefix "$KS_MASK") || fail "kickstart --netmask=$KS_MASK is not a netmask"
  ip addr flush dev "$IFACE"
  ip addr add "$KS_IP/$PREFIX" dev "$IFACE" || fail "cannot set address $KS_IP/$PREFIX on $IFACE"
  if [ -n "$KS_GW" ]; then
    ip route replace default via "$KS_GW" dev "$IFACE" || fail "cannot set gateway $KS_GW"
  fi
  ADDR=$KS_IP
else
  ADDR=$DHCP_IP
fi
if [ -n "$KS_HOST" ]; then
  hostname "$KS_HOST"
  echo "$KS_HOST" >/etc/hostname
fi

mkdir -p /root/.ssh
chmod 700 /root /root/.ssh
echo "$KEYS" >/root/.ssh/authorized_keys
chmod 600 /root/.ssh/authorized_keys

dropbearkey -t ed25519 -f /etc/dropbear/dropbear_ed25519_host_key >/dev/null 2>&1 ||
  fail 'dropbearkey could not make a host key'
HOSTKEY=$(dropbearkey -y -f /etc/dropbear/dropbear_ed25519_host_key 2>/dev/null | grep '^ssh-ed25519' | cut -d' ' -f1-2)
# -s: no password logins; -j -k: no port forwarding; -E: log to stderr (the console).
dropbear -r /etc/dropbear/dropbear_ed25519_host_key -p 22 -s -j -k -E ||
  fail 'dropbear (the SSH server) did not start'
tries=0
until netstat -ltn 2>/dev/null | grep -q ':22 '; do
  tries=$((tries + 1))
  [ $tries -lt 50 ] || fail 'the SSH server is not listening on port 22'
  sleep 0.1
done

echo
echo "=== $BANNER: SSH ready on $ADDR:22 (host $(hostname)) ==="
echo "=== host key: $HOSTKEY ==="
# Like the real kickstart's %post: the host public key, so the controller can pin it.
if [ -n "$REPORT_BASE" ]; then
  timeout 10 wget -q -O /dev/null --post-data="$HOSTKEY root@$(hostname)" "$REPORT_BASE/report/hostkey" 2>/dev/null ||
    say "report hostkey could not be sent to $REPORT_BASE"
fi
report installed "$BANNER: SSH ready on $ADDR:22, host key $HOSTKEY"

# Stay up (PID 1 must never exit): a shell on the console when there is one.
while :; do
  setsid cttyhack sh -l 2>/dev/null
  sleep 5
done
