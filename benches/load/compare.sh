#!/usr/bin/env bash
# A/B of clusterdns builds in one run: each binary given serves the record set of run.sh (cluster
# names only) pinned to CPU 1 while dnsperf runs on CPU 0; prints QPS per server core per run.
# Give the binaries alternately (A B A B ...) so that drift on the machine hits both alike.
#
# usage: benches/load/compare.sh SECONDS BINARY...
# LISTEN=all serves on every address (a wildcard socket, which reads each query's destination
# address) instead of `bind 127.0.0.1`.
# needs: dnsperf, dig.
set -euo pipefail
cd "$(dirname "$0")/../.."
seconds=$1
shift
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
python3 benches/load/make_records.py "$work" 10000 200000
. benches/load/common.sh
hz=$(getconf CLK_TCK)
bind="bind 127.0.0.1"
if [ "${LISTEN:-}" = all ]; then bind=""; fi
cat > "$work/Corefile" <<COREFILE
cluster.local:5301 in-addr.arpa:5301 {
    $bind
    kubernetes cluster.local in-addr.arpa {
        manifests manifests
        pods verified
    }
}
COREFILE
for binary in "$@"; do
    binary=$(realpath "$binary")
    (cd "$work" && exec taskset -c 1 "$binary" -conf Corefile -quiet >/dev/null 2>&1) &
    pid=$!
    for _ in $(seq 300); do
        dig @127.0.0.1 -p 5301 +short +tries=1 +time=1 svc0.ns0.svc.cluster.local A 2>/dev/null | grep -q . && break
        sleep 0.1
    done
    before=$(cpu_ticks "$pid")
    out=$(taskset -c 0 dnsperf -s 127.0.0.1 -p 5301 -d "$work/queries.txt" -l "$seconds" -c 8 -q 500 -T 1 2>&1)
    after=$(cpu_ticks "$pid")
    kill "$pid"; wait "$pid" 2>/dev/null || true
    echo "$out" | awk -v n="$binary" -v b="$before" -v a="$after" -v s="$seconds" -v hz="$hz" \
        '/Queries per second/ { q = $4 } END { cpu = (a - b) / hz / s; printf "%-50s QPS %8.0f  QPS/core %8.0f\n", n, q, (cpu > 0 ? q / cpu : 0) }'
done
