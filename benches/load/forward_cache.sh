#!/usr/bin/env bash
# Load run for names outside the cluster: clusterdns with `cache` in front of `forward` to a
# knot upstream on loopback, against knot itself, in the same run. 1,000 names, so after the
# first pass clusterdns answers from its cache. Server pinned to CPU 1, dnsperf to CPU 0.
#
# usage: benches/load/forward_cache.sh [SECONDS]
# needs: dnsperf, knot (apt-get install dnsperf knot), a release build (built here).
set -euo pipefail
cd "$(dirname "$0")/../.."
seconds=${1:-10}
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
cargo build --release --quiet
hz=$(getconf CLK_TCK)
. benches/load/common.sh

{
    echo '$ORIGIN example.'
    echo '$TTL 300'
    echo '@ SOA ns.example. hostmaster.example. 1 7200 1800 86400 60'
    echo '@ NS ns.example.'
    echo 'ns A 127.0.0.1'
    for i in $(seq 0 999); do echo "host$i A 192.0.2.$((i % 250 + 1))"; done
} > "$work/example.zone"
for i in $(seq 0 199999); do echo "host$((i % 1000)).example A"; done > "$work/queries.txt"
cat > "$work/knot.conf" <<KNOT
server:
    listen: 127.0.0.1@5312
    rundir: "$work"
database:
    storage: "$work"
log:
  - target: stderr
    any: error
zone:
  - domain: example
    file: "$work/example.zone"
KNOT
cat > "$work/Corefile" <<COREFILE
.:5311 {
    bind 127.0.0.1
    cache 300
    forward . 127.0.0.1:5312
}
COREFILE

taskset -c 0 knotd -c "$work/knot.conf" >/dev/null 2>&1 &
knot=$!
for _ in $(seq 100); do dig @127.0.0.1 -p 5312 +short host1.example >/dev/null 2>&1 && break; sleep 0.1; done

measure() {
    local name=$1 port=$2 pid=$3
    for _ in $(seq 100); do dig @127.0.0.1 -p "$port" +short host1.example >/dev/null 2>&1 && break; sleep 0.1; done
    # Warm the cache: one pass over the names.
    taskset -c 0 dnsperf -s 127.0.0.1 -p "$port" -d "$work/queries.txt" -n 1 -c 8 -q 500 >/dev/null 2>&1 || true
    local before after out qps
    before=$(cpu_ticks "$pid")
    out=$(taskset -c 0 dnsperf -s 127.0.0.1 -p "$port" -d "$work/queries.txt" -l "$seconds" -c 8 -q 500 -T 1 2>&1)
    after=$(cpu_ticks "$pid")
    qps=$(echo "$out" | awk '/Queries per second/ {print $4}')
    awk -v n="$name" -v q="$qps" -v b="$before" -v a="$after" -v s="$seconds" -v hz="$hz" \
        'BEGIN { cpu = (a - b) / hz / s; printf "%-24s %10.0f %8.2f %12.0f\n", n, q, cpu, (cpu > 0 ? q / cpu : 0) }'
}

(cd "$work" && exec taskset -c 1 "$OLDPWD/target/release/clusterdns" -conf Corefile -quiet >/dev/null 2>&1) &
pid=$!
ours=$(measure "clusterdns cache+forward" 5311 $pid)
kill $pid; wait $pid 2>/dev/null || true
kill $knot; wait $knot 2>/dev/null || true
taskset -c 1 knotd -c "$work/knot.conf" >/dev/null 2>&1 &
knot=$!
theirs=$(measure "knot (authoritative)" 5312 $knot)
echo "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); ${seconds}s per server"
printf "%-24s %10s %8s %12s %s\n" server QPS cpu/s QPS/core "ratio (QPS/core vs clusterdns)"
base=$(echo "$ours" | awk '{print $(NF)}')
for r in "$ours" "$theirs"; do echo "$r" | awk -v b="$base" '{printf "%s %6.2f\n", $0, (b > 0 ? $NF / b : 0)}'; done
