#!/usr/bin/env bash
# Load run: dnsperf against clusterdns and its peers from Debian (knot, nsd, dnsmasq), all
# serving one record set, one after the other in the same run. Each server is pinned to CPU 1
# and dnsperf to CPU 0.
#
# For each server: two maximum-throughput runs (median kept), then a run at a fixed rate (half
# of clusterdns's maximum) and one at 10,000 QPS for latency (average and p99 from dnsperf -v),
# then its peak RSS. Last, clusterdns and knot unpinned (both CPUs shared with a two-thread
# dnsperf): QPS, the cores the server used and the cores left to everything else.
# Capacity is QPS per server core: QPS / the server's CPU seconds per wall second, because one
# dnsperf thread on this 2-core machine saturates before the fast servers do.
#
# usage: benches/load/run.sh [SECONDS] [SERVICES]
# needs: dnsperf knot nsd dnsmasq-base (apt-get install), a release build (built here).
set -euo pipefail
cd "$(dirname "$0")/../.."
seconds=${1:-20}
services=${2:-10000}
latency_seconds=10
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT

cargo build --release --quiet
python3 benches/load/make_records.py "$work" "$services" 200000
hz=$(getconf CLK_TCK)

. benches/load/common.sh

wait_answering() {
    for _ in $(seq 300); do
        dig @127.0.0.1 -p "$1" +short +tries=1 +time=1 svc0.ns0.svc.cluster.local A 2>/dev/null | grep -q . && return 0
        sleep 0.1
    done
    echo "server on port $1 did not answer" >&2
    exit 1
}

# max_run PORT PID -> "qps qps_per_core"
max_run() {
    local before after out qps
    before=$(cpu_ticks "$2")
    out=$(taskset -c 0 dnsperf -s 127.0.0.1 -p "$1" -d "$work/queries.txt" -l "$seconds" -c 8 -q 500 -T 1 2>&1)
    after=$(cpu_ticks "$2")
    qps=$(echo "$out" | awk '/Queries per second/ {print $4}')
    awk -v q="$qps" -v b="$before" -v a="$after" -v s="$seconds" -v hz="$hz" \
        'BEGIN { cpu = (a - b) / hz / s; printf "%.0f %.0f\n", q, (cpu > 0 ? q / cpu : 0) }'
}

# latency_run PORT RATE -> "avg_ms p99_ms lost"
latency_run() {
    taskset -c 0 dnsperf -s 127.0.0.1 -p "$1" -d "$work/queries.txt" -l "$latency_seconds" -Q "$2" -c 8 -q 500 -T 1 -v 2>&1 |
        awk '/^> / { print $NF } /Queries lost/ { lost = $3 } END { print "lost", lost }' |
        sort -g | awk '
            $1 == "lost" { lost = $2; next }
            { v[n++] = $1; sum += $1 }
            END { if (n == 0) { print "- - -"; exit }
                  printf "%.3f %.3f %s\n", sum / n * 1000, v[int(n * 0.99)] * 1000, lost }'
}

# busy_ticks -> CPU ticks the whole machine spent busy (not idle, not waiting for I/O).
busy_ticks() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9 }' /proc/stat; }

# unpinned_run NAME PORT PID: server and dnsperf (two threads) free on both CPUs; appends
# "name qps server_cores other_cores" to unpinned_rows.
unpinned_rows=()
unpinned_run() {
    local before after busy_before busy_after qps
    wait_answering "$2"
    before=$(cpu_ticks "$3")
    busy_before=$(busy_ticks)
    qps=$(dnsperf -s 127.0.0.1 -p "$2" -d "$work/queries.txt" -l "$seconds" -c 16 -q 1000 -T 2 2>&1 |
        awk '/Queries per second/ {print $4}')
    after=$(cpu_ticks "$3")
    busy_after=$(busy_ticks)
    unpinned_rows+=("$(awk -v n="$1" -v q="$qps" -v b="$before" -v a="$after" -v bb="$busy_before" \
        -v ba="$busy_after" -v s="$seconds" -v hz="$hz" 'BEGIN {
            server = (a - b) / hz / s; all = (ba - bb) / hz / s
            printf "%s %.0f %.2f %.2f\n", n, q, server, all - server }')")
}

rate=""
rows=()
# measure NAME PORT PID
measure() {
    local name=$1 port=$2 pid=$3 a b qps core
    wait_answering "$port"
    a=$(max_run "$port" "$pid")
    b=$(max_run "$port" "$pid")
    # The median of two runs: the one with the lower QPS per core, and its QPS.
    read -r qps core < <(printf "%s\n%s\n" "$a" "$b" | sort -k2 -n | head -1)
    if [ -z "$rate" ]; then rate=$((qps / 2)); fi
    read -r avg p99 lost < <(latency_run "$port" "$rate")
    # And at 10,000 QPS, a busy cluster's rate, where the target is p99 <= 1 ms.
    read -r avg10k p99_10k _ < <(latency_run "$port" 10000)
    rows+=("$name $qps $core $avg $p99 $lost $(peak_rss_mb "$pid") $avg10k $p99_10k")
}

cat > "$work/Corefile" <<COREFILE
cluster.local:5301 in-addr.arpa:5301 {
    bind 127.0.0.1
    kubernetes cluster.local in-addr.arpa {
        manifests manifests
        pods verified
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
  - domain: 10.in-addr.arpa
    file: "$work/10.in-addr.arpa.zone"
KNOT
cat > "$work/nsd.conf" <<NSD
server:
    ip-address: 127.0.0.1@5303
    port: 5303
    username: ""
    zonesdir: "$work"
    database: ""
    pidfile: "$work/nsd.pid"
    xfrdfile: "$work/xfrd.state"
    zonelistfile: "$work/zone.list"
    logfile: "$work/nsd.log"
    server-count: 1
    # Debian's nsd limits responses per client netblock (RRL) to 200/s by default.
    rrl-ratelimit: 0
    rrl-whitelist-ratelimit: 0
zone:
    name: cluster.local
    zonefile: cluster.local.zone
zone:
    name: 10.in-addr.arpa
    zonefile: 10.in-addr.arpa.zone
NSD

(cd "$work" && exec taskset -c 1 "$OLDPWD/target/release/clusterdns" -conf Corefile -quiet >/dev/null 2>&1) &
pid=$!
measure clusterdns 5301 $pid
kill $pid; wait $pid 2>/dev/null || true

taskset -c 1 knotd -c "$work/knot.conf" >/dev/null 2>&1 &
pid=$!
measure knot 5302 $pid
kill $pid; wait $pid 2>/dev/null || true

taskset -c 1 nsd -d -c "$work/nsd.conf" >/dev/null 2>&1 &
pid=$!
measure nsd 5303 $pid
kill $pid; wait $pid 2>/dev/null || true

# dnsmasq: once with the whole record set (its srv-host lines are scanned for every query),
# once with the hosts file alone (A and PTR answered; the 5% SRV queries get no answer), which
# shows what dnsmasq does with hosts data.
dnsmasq_run() {
    local name=$1
    shift
    taskset -c 1 dnsmasq --keep-in-foreground --no-resolv --no-hosts --user=root --port=5304 \
        --listen-address=127.0.0.1 --bind-interfaces --addn-hosts="$work/hosts" \
        --local=/cluster.local/ --local=/10.in-addr.arpa/ \
        --cache-size=10000 --dns-forward-max=1000 "$@" >/dev/null 2>&1 &
    pid=$!
    measure "$name" 5304 $pid
    kill $pid; wait $pid 2>/dev/null || true
}
dnsmasq_run dnsmasq --conf-file="$work/dnsmasq-srv.conf"
dnsmasq_run dnsmasq-A

# Unpinned: clusterdns with its default two UDP workers (one SO_REUSEPORT socket each), knot with
# its default workers, dnsperf with two threads; all share both CPUs.
(cd "$work" && exec "$OLDPWD/target/release/clusterdns" -conf Corefile -quiet >/dev/null 2>&1) &
pid=$!
unpinned_run clusterdns 5301 $pid
kill $pid; wait $pid 2>/dev/null || true
knotd -c "$work/knot.conf" >/dev/null 2>&1 &
pid=$!
unpinned_run knot 5302 $pid
kill $pid; wait $pid 2>/dev/null || true

echo "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); $services services, $services pods; ${seconds}s x2 per server, latency at $rate QPS"
printf "%-11s %9s %10s %9s %9s %6s %8s %10s %10s %s\n" server QPS QPS/core avg_ms p99_ms lost RSS_MB avg@10k p99@10k "QPS/core vs clusterdns"
base=$(echo "${rows[0]}" | awk '{print $3}')
for r in "${rows[@]}"; do
    echo "$r" | awk -v base="$base" '{ printf "%-11s %9s %10s %9s %9s %6s %8s %10s %10s %.2f\n", $1, $2, $3, $4, $5, $6, $7, $8, $9, $3 / base }'
done
echo
echo "unpinned (server and dnsperf -T 2 on both CPUs, ${seconds}s):"
printf "%-11s %9s %13s %14s\n" server QPS server_cores dnsperf_cores
for r in "${unpinned_rows[@]}"; do
    echo "$r" | awk '{ printf "%-11s %9s %13s %14s\n", $1, $2, $3, $4 }'
done
