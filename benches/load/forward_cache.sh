#!/usr/bin/env bash
# Load run for names outside the cluster, answered from a cache: clusterdns with `cache` in front
# of `forward`, unbound (`num-threads: 1`, forwarding, no validator) and dnsmasq, each forwarding
# to one knot upstream on loopback, in the same run. 1,000 names; one pass warms every cache,
# then every query is a cache hit. Each server pinned to CPU 1, dnsperf and knot to CPU 0.
#
# Figures: the server's CPU µs per query answered at 10k and 30k offered QPS, and QPS per server
# core at saturation; ratios against unbound.
#
# usage: benches/load/forward_cache.sh [SECONDS]
# env:   BASELINE=FILE adds a row for an older clusterdns binary.
# needs: dnsperf knot unbound dnsmasq-base (apt-get install), a release build (built here).
set -euo pipefail
cd "$(dirname "$0")/../.."
seconds=${1:-10}
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null; rm -rf "$work"' EXIT
cargo build --release --quiet
hz=$(getconf CLK_TCK)
. benches/load/common.sh

{
    echo '$ORIGIN example.'
    echo '$TTL 3600'
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
corefile() {
    cat <<COREFILE
.:$1 {
    bind 127.0.0.1
    cache 3600
    forward . 127.0.0.1:5312
}
COREFILE
}
corefile 5311 > "$work/Corefile"
corefile 5316 > "$work/Corefile.base"
cat > "$work/unbound.conf" <<UNBOUND
server:
    interface: 127.0.0.1@5313
    port: 5313
    num-threads: 1
    do-daemonize: no
    username: ""
    chroot: ""
    directory: "$work"
    pidfile: ""
    use-syslog: no
    logfile: ""
    verbosity: 0
    access-control: 127.0.0.0/8 allow
    do-not-query-localhost: no
    module-config: "iterator"
    ratelimit: 0
    ip-ratelimit: 0
    msg-cache-size: 16m
    rrset-cache-size: 32m
forward-zone:
    name: "."
    forward-addr: 127.0.0.1@5312
UNBOUND

taskset -c 0 knotd -c "$work/knot.conf" >/dev/null 2>&1 &
for _ in $(seq 100); do dig @127.0.0.1 -p 5312 +short host1.example | grep -q . && break; sleep 0.1; done

declare -A fig
rows=()
# load NAME KEY PORT PID [dnsperf options...]
load() {
    local name=$1 key=$2 port=$3 pid=$4 before after out
    shift 4
    before=$(cpu_ticks "$pid")
    out=$(taskset -c 0 dnsperf -s 127.0.0.1 -p "$port" -d "$work/queries.txt" -l "$seconds" -T 1 "$@" 2>&1)
    after=$(cpu_ticks "$pid")
    read -r us core < <(echo "$out" | awk -v b="$before" -v a="$after" -v s="$seconds" -v hz="$hz" '
        /Queries completed:/ { done = $3 }
        /Queries per second:/ { qps = $4 }
        END { cpu = (a - b) / hz
              printf "%.2f %.0f\n", (done > 0 ? cpu * 1e6 / done : 0), (cpu > 0 ? qps / (cpu / s) : 0) }')
    fig[$name:$key]=$us
    fig[$name:$key:core]=$core
}
# run_server NAME PORT -- COMMAND...
run_server() {
    local name=$1 port=$2
    shift 3
    (cd "$work" && exec taskset -c 1 "$@" >/dev/null 2>&1) &
    local pid=$!
    rows+=("$name")
    for _ in $(seq 100); do dig @127.0.0.1 -p "$port" +short host1.example 2>/dev/null | grep -q . && break; sleep 0.1; done
    for p in $(tree "$pid"); do taskset -a -p -c 1 "$p" >/dev/null; done
    # Warm the cache: one pass over the names.
    taskset -c 0 dnsperf -s 127.0.0.1 -p "$port" -d "$work/queries.txt" -n 1 -c 4 -q 100 >/dev/null 2>&1 || true
    load "$name" 10k "$port" "$pid" -c 4 -q 100 -Q 10000
    load "$name" 30k "$port" "$pid" -c 4 -q 100 -Q 30000
    load "$name" sat "$port" "$pid" -c 8 -q 500
    kill "$pid"
    wait "$pid" 2>/dev/null || true
}

run_server clusterdns 5311 -- "$(realpath target/release/clusterdns)" -conf Corefile -quiet
if [ -n "${BASELINE:-}" ]; then
    run_server baseline 5316 -- "$(realpath "$BASELINE")" -conf Corefile.base -quiet
fi
run_server unbound 5313 -- unbound -d -c "$work/unbound.conf"
run_server dnsmasq 5314 -- dnsmasq --keep-in-foreground --no-resolv --no-hosts --user=root \
    --port=5314 --listen-address=127.0.0.1 --bind-interfaces --server=127.0.0.1#5312 \
    --cache-size=10000 --dns-forward-max=1000

ratio() {
    awk -v v="$1" -v k="$2" -v n="$3" 'BEGIN {
        if (n == "unbound" || k == "" || k == 0) printf "%.1f", v; else printf "%.1f (%.2fx)", v, v / k }'
}
echo "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); ${seconds}s per figure"
echo "cache hits: server CPU µs per query at 10k and 30k QPS, QPS per core at saturation"
printf "%-12s %-15s %-15s %s\n" server 10k 30k "QPS/core (sat.)"
for r in "${rows[@]}"; do
    printf "%-12s %-15s %-15s %s\n" "$r" "$(ratio "${fig[$r:10k]}" "${fig[unbound:10k]}" "$r")" \
        "$(ratio "${fig[$r:30k]}" "${fig[unbound:30k]}" "$r")" \
        "$(awk -v v="${fig[$r:sat:core]}" -v k="${fig[unbound:sat:core]}" -v n="$r" 'BEGIN {
            if (n == "unbound" || k == 0) printf "%.0f", v; else printf "%.0f (%.2fx)", v, v / k }')"
done
