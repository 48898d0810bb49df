# Sourced by /init of the homelab TEST OS (not Fedora): the "install to disk" and the boot of
# the installed system. busybox sh; every tool is a busybox applet except efibootmgr and dropbear.
#
# The installed system is the same kernel and initramfs, copied to an EFI System Partition on the
# install disk, booted by its own UEFI entry (made first in BootOrder, like Anaconda's
# `efibootmgr -c`) with `testos.installed=1`. It keeps what the install saved on the ESP under
# /testos: the network settings, root's authorized keys and the SSH host key.

ESP_MOUNT=/mnt/esp
ESP_LABEL=HOMELAB-ESP
ENTRY_LABEL='homelab TEST OS (installed)'

# le32 N: N as 4 little-endian bytes.
le32() {
  printf "\\$(printf %03o $(($1 & 255)))\\$(printf %03o $((($1 >> 8) & 255)))"
  printf "\\$(printf %03o $((($1 >> 16) & 255)))\\$(printf %03o $((($1 >> 24) & 255)))"
}

# partition_of DISK: its first partition's device (vda -> vda1, nvme0n1 -> nvme0n1p1).
partition_of() {
  case $1 in
    *[0-9]) echo "${1}p1" ;;
    *) echo "${1}1" ;;
  esac
}

# write_mbr DISK: an MBR with one partition, type 0xEF (EFI System), from sector 2048 to the end.
write_mbr() {
  sectors=$(blockdev --getsz "$1") || return 1
  [ "$sectors" -gt 67584 ] || { say "$1 has $sectors sectors: too small for an ESP (33 MiB)"; return 1; }
  dd if=/dev/zero of="$1" bs=512 count=2048 2>/dev/null || return 1
  {
    le32 $((0x484c0000 + $$ % 65536)) # disk signature (efibootmgr's HD() path names it)
    printf '\000\000'
    printf '\000\376\377\377\357\376\377\377' # not active, CHS "use LBA", type 0xEF
    le32 2048
    le32 $((sectors - 2048))
  } | dd of="$1" bs=1 seek=440 conv=notrunc 2>/dev/null || return 1
  printf '\125\252' | dd of="$1" bs=1 seek=510 conv=notrunc 2>/dev/null || return 1
  sync
  blockdev --rereadpt "$1"
}

# wait_dev PATH: up to 5 s for a device node (devtmpfs makes it once the kernel read the table).
wait_dev() {
  n=0
  until [ -b "$1" ]; do
    n=$((n + 1))
    [ $n -lt 50 ] || return 1
    sleep 0.1
  done
}

# boot_args: the installed system's kernel command line (the console= arguments kept).
boot_args() {
  args='initrd=\initrd.img testos.installed=1'
  for arg in $(cat /proc/cmdline); do
    case $arg in
      console=*) args="$args $arg" ;;
    esac
  done
  echo "$args"
}

# install_to_disk DISK REPO: the ESP, the kernel and initramfs from the install tree, the saved
# settings, and the boot entry first in BootOrder. Prints what failed and returns 1 on failure.
install_to_disk() {
  disk=$1
  repo=$2
  part=$(partition_of "$disk")
  say "writing an EFI System Partition on $disk ($part)"
  write_mbr "$disk" || { say "cannot write a partition table on $disk"; return 1; }
  wait_dev "$part" || { say "$part did not appear after the partition table was written"; return 1; }
  mkdosfs -n "$ESP_LABEL" "$part" >/dev/null || { say "mkdosfs $part failed"; return 1; }
  mkdir -p "$ESP_MOUNT"
  mount -t vfat "$part" "$ESP_MOUNT" || { say "cannot mount $part"; return 1; }
  for f in vmlinuz initrd.img; do
    timeout 120 wget -q -O "$ESP_MOUNT/$f" "$repo/images/pxeboot/$f" ||
      { say "cannot fetch $repo/images/pxeboot/$f"; umount "$ESP_MOUNT"; return 1; }
  done
  mkdir -p "$ESP_MOUNT/testos"
  cp /run/testos-network.env "$ESP_MOUNT/testos/network.env"
  cp /root/.ssh/authorized_keys "$ESP_MOUNT/testos/authorized_keys"
  cp /etc/dropbear/dropbear_ed25519_host_key "$ESP_MOUNT/testos/host_key"
  echo "installed by $BANNER from $KS_URL" >"$ESP_MOUNT/testos/installed"
  sync
  umount "$ESP_MOUNT"
  say "efibootmgr -c -d $disk -p 1 -L '$ENTRY_LABEL' -l '\\vmlinuz' -u '$(boot_args)'"
  efibootmgr -c -d "$disk" -p 1 -L "$ENTRY_LABEL" -l '\vmlinuz' -u "$(boot_args)" >>"$LOG" 2>&1 ||
    { say 'efibootmgr could not create the boot entry'; return 1; }
  efibootmgr >>"$LOG" 2>&1
  say "installed to $disk: $(efibootmgr | grep '^BootOrder')"
}

# find_esp: the partition holding /testos/installed (mounted read-only at ESP_MOUNT).
find_esp() {
  mkdir -p "$ESP_MOUNT"
  tries=0
  while [ $tries -lt 50 ]; do
    for part in /dev/vd?1 /dev/sd?1 /dev/nvme?n1p1; do
      [ -b "$part" ] || continue
      mount -t vfat -o ro "$part" "$ESP_MOUNT" 2>/dev/null || continue
      [ -f "$ESP_MOUNT/testos/installed" ] && return 0
      umount "$ESP_MOUNT"
    done
    tries=$((tries + 1))
    sleep 0.1
  done
  return 1
}

# installed_boot: the installed system. No DHCP for a static address, no reports, no kickstart.
installed_boot() {
  find_esp || fail_local 'booted with testos.installed=1 but no disk holds /testos/installed'
  . "$ESP_MOUNT/testos/network.env"
  mkdir -p /root/.ssh
  chmod 700 /root /root/.ssh
  cp "$ESP_MOUNT/testos/authorized_keys" /root/.ssh/authorized_keys
  chmod 600 /root/.ssh/authorized_keys
  cp "$ESP_MOUNT/testos/host_key" /etc/dropbear/dropbear_ed25519_host_key
  chmod 600 /etc/dropbear/dropbear_ed25519_host_key
  umount "$ESP_MOUNT"
  tries=0
  IFACE=$(iface_by_mac "$NET_MAC")
  while [ -z "$IFACE" ] && [ $tries -lt 50 ]; do
    sleep 0.1
    tries=$((tries + 1))
    IFACE=$(iface_by_mac "$NET_MAC")
  done
  [ -n "$IFACE" ] || fail_local "no network interface has the installed MAC $NET_MAC"
  ip link set lo up
  ip link set "$IFACE" up
  if [ "$NET_BOOTPROTO" = static ]; then
    ip addr add "$NET_IP/$NET_PREFIX" dev "$IFACE" || fail_local "cannot set $NET_IP/$NET_PREFIX on $IFACE"
    [ -z "$NET_GW" ] || ip route replace default via "$NET_GW" dev "$IFACE"
    ADDR=$NET_IP
  else
    udhcpc -i "$IFACE" -n -q -t 10 -T 2 -s /etc/testos/udhcpc.sh || fail_local "no DHCP lease on $IFACE"
    . /run/testos-dhcp.env
    ADDR=$DHCP_IP
  fi
  [ -z "$NET_HOSTNAME" ] || hostname "$NET_HOSTNAME"
  start_sshd || fail_local 'the SSH server did not start'
  echo
  echo "=== $BANNER: booted from disk (installed), SSH ready on $ADDR:22 (host $(hostname)) ==="
  stay_up
}
