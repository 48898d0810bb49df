#!/bin/sh
# udhcpc event script of the homelab TEST OS (not Fedora): applies the lease and
# writes it to /run/testos-dhcp.env for /init. udhcpc sets $interface $ip $mask $router.
case $1 in
  deconfig)
    ip addr flush dev "$interface"
    ip link set "$interface" up
    ;;
  bound | renew)
    ip addr flush dev "$interface"
    ip addr add "$ip/${mask:-24}" dev "$interface"
    for r in $router; do
      ip route replace default via "$r" dev "$interface"
      break
    done
    {
      echo "DHCP_IP='$ip'"
      echo "DHCP_PREFIX='${mask:-24}'"
      echo "DHCP_ROUTER='${router%% *}'"
      echo "DHCP_SERVER='$serverid'"
    } >/run/testos-dhcp.env
    ;;
esac
exit 0
