#!/usr/bin/env bash
# CI check of the container image: build the scratch image with deploy/image/build.sh (the
# operators' command, here with buildah), then run what the image holds (containers themselves
# cannot run on these machines):
#   1. the image's config runs /clusterdns as 65532:65532;
#   2. `-version` and `-validate` chrooted into the image's root filesystem: the static binary
#      needs nothing from the host;
#   3. the binary serves a Corefile on port 53 of a network namespace of its own, as user 65532
#      with no capability but NET_BIND_SERVICE in its bounding set and no_new_privs, as the
#      Deployment's securityContext runs it, and dig gets the answer; a copy of the binary
#      without its file capability must fail to bind there (the check can fail).
#
# usage: deploy/image/check.sh      needs: buildah, setcap/getcap, dig, iproute2, root.
set -euo pipefail
cd "$(dirname "$0")/../.."
image=localhost/clusterdns:ci
ns=clusterdns-image-$$
root=$(mktemp -d)
b() { buildah --storage-driver vfs "$@"; }
ctr=""
cleanup() {
    kill $(jobs -p) 2>/dev/null || true
    wait 2>/dev/null || true
    ip netns del "$ns" 2>/dev/null || true
    if [ -n "$ctr" ]; then b rm "$ctr" >/dev/null 2>&1 || true; fi
    b rmi "$image" >/dev/null 2>&1 || true
    rm -rf "$root"
}
trap cleanup EXIT
fail() { echo "image check: $*" >&2; exit 1; }

# The operators' build command (README, docs/migration.md), with buildah's storage and
# isolation for a machine without a container runtime.
deploy/image/build.sh "$image" buildah --storage-driver vfs bud --isolation chroot
user=$(b inspect --format '{{.OCIv1.Config.User}}' "$image")
[ "$user" = 65532:65532 ] || fail "image user is '$user', not 65532:65532"

ctr=$(b from "$image")
mnt=$(b mount "$ctr")
# A copy of the image's root filesystem (buildah's storage is not traversable by user 65532),
# file capabilities and all.
cp -a "$mnt/." "$root/"
chmod 755 "$root"
b umount "$ctr" >/dev/null
getcap "$root/clusterdns" | grep -q cap_net_bind_service || fail "no cap_net_bind_service on /clusterdns"

version=$(chroot "$root" /clusterdns -version)
version=${version%%$'\n'*}
echo "$version" | grep -q '^clusterdns-' || fail "-version printed '$version'"
cat > "$root/Corefile" <<'COREFILE'
.:53 {
    hosts {
        192.0.2.53 image.check.test
    }
}
COREFILE
[ "$(chroot "$root" /clusterdns -validate -conf /Corefile)" = ok ] || fail "-validate did not say ok"

ip netns add "$ns"
ip -n "$ns" link set lo up
# run BINARY (in the background): as 65532 with only NET_BIND_SERVICE possible, no_new_privs,
# in the namespace; exec all the way down, so that $! is the server's process.
run() {
    exec ip netns exec "$ns" setpriv --reuid 65532 --regid 65532 --clear-groups \
        --bounding-set -all,+net_bind_service --no-new-privs \
        "$1" -conf "$root/Corefile" -quiet
}
run "$root/clusterdns" > "$root/server.log" 2>&1 &
server=$!
answer=""
for _ in $(seq 50); do
    answer=$(ip netns exec "$ns" dig +short +time=1 +tries=1 @127.0.0.1 -p 53 image.check.test A || true)
    [ -n "$answer" ] && break
    kill -0 "$server" 2>/dev/null || break
    sleep 0.1
done
[ "$answer" = 192.0.2.53 ] || { cat "$root/server.log" >&2; fail "no answer on :53 (got '$answer')"; }
grep -q '^Uid:[[:space:]]*65532' "/proc/$server/status" || fail "server not running as 65532"
kill "$server"; wait "$server" 2>/dev/null || true

cp "$root/clusterdns" "$root/clusterdns-nocap"   # cp without -a: no file capability
run "$root/clusterdns-nocap" > "$root/nocap.log" 2>&1 &
if wait $!; then
    fail "the binary without its file capability bound :53"
fi
grep -q 'Permission denied' "$root/nocap.log" || { cat "$root/nocap.log" >&2; fail "unexpected failure without the capability"; }
echo "image check: ok ($version, user $user, answered on :53 with NET_BIND_SERVICE only)"
