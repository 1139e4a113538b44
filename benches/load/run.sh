#!/usr/bin/env bash
# Load run: dnsperf against clusterdns and knot serving the same records, one after the other in
# the same run, each server pinned to CPU 1 and dnsperf to CPU 0. Prints QPS, the server's CPU
# seconds per wall second, QPS per server core, and each peer's ratio to clusterdns.
#
# usage: benches/load/run.sh [SECONDS] [SERVICES]
# needs: dnsperf, knot (apt-get install dnsperf knot), a release build (built here).
set -euo pipefail
cd "$(dirname "$0")/../.."
seconds=${1:-10}
services=${2:-10000}
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT

cargo build --release --quiet
python3 benches/load/make_records.py "$work" "$services" 200000
hz=$(getconf CLK_TCK)

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

wait_answering() {
    for _ in $(seq 100); do
        dig @127.0.0.1 -p "$1" +short +tries=1 +time=1 dns-version.cluster.local TXT >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    echo "server on port $1 did not answer" >&2
    exit 1
}

# measure NAME PORT PID -> prints "name qps cpu_per_s qps_per_core"
measure() {
    local name=$1 port=$2 pid=$3
    wait_answering "$port"
    local before after out qps
    before=$(cpu_ticks "$pid")
    out=$(taskset -c 0 dnsperf -s 127.0.0.1 -p "$port" -d "$work/queries.txt" -l "$seconds" -c 8 -q 500 -T 1 2>&1)
    after=$(cpu_ticks "$pid")
    qps=$(echo "$out" | awk '/Queries per second/ {print $4}')
    lost=$(echo "$out" | awk '/Queries lost/ {print $3}')
    awk -v n="$name" -v q="$qps" -v b="$before" -v a="$after" -v s="$seconds" -v hz="$hz" -v l="$lost" \
        'BEGIN { cpu = (a - b) / hz / s; printf "%-12s %10.0f %8.2f %12.0f %8s\n", n, q, cpu, (cpu > 0 ? q / cpu : 0), l }'
}

cat > "$work/Corefile" <<COREFILE
cluster.local:5301 in-addr.arpa:5301 {
    bind 127.0.0.1
    kubernetes cluster.local in-addr.arpa {
        manifests manifests
    }
}
COREFILE
cat > "$work/knot.conf" <<KNOT
server:
    listen: 127.0.0.1@5302
    rundir: "$work"
database:
    storage: "$work"
log:
  - target: stderr
    any: error
zone:
  - domain: cluster.local
    file: "$work/cluster.local.zone"
KNOT

results=()
(cd "$work" && exec taskset -c 1 "$OLDPWD/target/release/clusterdns" -conf Corefile -quiet >/dev/null 2>&1) &
pid=$!
results+=("$(measure clusterdns 5301 $pid)")
kill $pid; wait $pid 2>/dev/null || true

taskset -c 1 knotd -c "$work/knot.conf" >/dev/null 2>&1 &
pid=$!
results+=("$(measure knot 5302 $pid)")
kill $pid; wait $pid 2>/dev/null || true

echo "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); $services services; ${seconds}s per server"
printf "%-12s %10s %8s %12s %8s %s\n" server QPS cpu/s QPS/core lost "ratio (QPS/core vs clusterdns)"
base=$(echo "${results[0]}" | awk '{print $4}')
for r in "${results[@]}"; do
    echo "$r" | awk -v b="$base" '{printf "%s %6.2f\n", $0, (b > 0 ? $4 / b : 0)}'
done
