#!/bin/sh
# curl stand-in of the homelab TEST OS (not Fedora): exactly the flags the kickstart's scripts use,
#   curl -fsS -m SECONDS [-o /dev/null] [--data-binary @FILE|@-] URL
# on top of busybox wget (--post-file for a body). Anything else is refused with exit 2, so a
# kickstart that starts using another flag fails loudly here instead of silently doing less.
# busybox-static 1.35's `wget -T` segfaults: the time limit is `timeout`.
seconds=30
out=-
data=''
url=''
while [ $# -gt 0 ]; do
  case $1 in
    -fsS | -f | -s | -S | -sS | -fs) ;;
    -m) seconds=$2; shift ;;
    -o) out=$2; shift ;;
    --data-binary) data=$2; shift ;;
    http://*) url=$1 ;;
    *) echo "curl (test OS stand-in): unsupported argument: $1" >&2; exit 2 ;;
  esac
  shift
done
[ -n "$url" ] || { echo 'curl (test OS stand-in): no http:// URL' >&2; exit 2; }
body=''
case $data in
  '') ;;
  @-) body=$(mktemp) && cat >"$body" ;;
  @*) body=${data#@} ;;
  *) echo "curl (test OS stand-in): --data-binary takes @FILE or @-, not $data" >&2; exit 2 ;;
esac
if [ -n "$body" ]; then
  timeout "$seconds" wget -q -O "$out" --post-file="$body" "$url"
else
  timeout "$seconds" wget -q -O "$out" "$url"
fi
rc=$?
[ "$data" = @- ] && rm -f "$body"
[ $rc -eq 0 ] || echo "curl (test OS stand-in): $url failed (wget exit $rc)" >&2
exit $rc
