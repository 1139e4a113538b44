#!/usr/bin/env bash
# Load run: the CPU each server spends per query at the loads a cluster DNS replica runs at, and
# its capacity, against its peers from Debian and the kernel's floor, in one run.
#
# Rows, one after the other, each server pinned to CPU 1 with one worker (every thread, once it
# answers: knot re-pins its UDP workers itself), dnsperf pinned to CPU 0:
#   reflector         benches/load/reflector.c: recvmmsg, set QR, sendmmsg; no DNS work (the floor)
#   knot              udp-workers: 1, tcp-workers: 1, background-workers: 1
#   nsd               server-count: 1, RRL off
#   clusterdns        `bind 127.0.0.1`
#   clusterdns-any    no `bind`: the wildcard listener [::] (dual-stack, reads each destination)
# and, with BASELINE=path/to/an/older/clusterdns, the same two rows for that binary, so that a
# change is measured old against new in the same run.
# Every server answers one record set (benches/load/make_records.py: 10,000 Services, their
# Pods; queries 80% A, 5% SRV, 5% PTR, 10% NXDOMAIN); peers from zone files of the same names.
#
# Figures, from the server's whole process tree (utime + stime, /proc/PID/stat):
#   UDP: CPU µs per query answered at 10k, 30k and 60k offered QPS (dnsperf -Q, -c 4) and at
#        saturation (QPS per server core: QPS / the server's CPU seconds per second, as one
#        dnsperf thread on this 2-core machine saturates before the fast servers do); p50 and
#        p99 latency at 10k QPS (dnsperf -v); queries lost at 10k/30k/60k; peak RSS.
#   TCP: dnsperf -m tcp, 4 persistent connections: CPU µs per query at 20k QPS, and saturation.
# Ratios against knot's figure from the same run.
#
# usage: benches/load/run.sh [SECONDS] [SERVICES]
# env:   BASELINE=FILE adds rows for an older clusterdns binary.
# needs: dnsperf knot nsd gcc (apt-get install dnsperf knot nsd gcc), a release build (built here).
set -euo pipefail
cd "$(dirname "$0")/../.."
seconds=${1:-10}
services=${2:-10000}
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null; rm -rf "$work"' EXIT

cargo build --release --quiet
gcc -O2 -o "$work/reflector" benches/load/reflector.c
python3 benches/load/make_records.py "$work" "$services" 200000 >/dev/null
hz=$(getconf CLK_TCK)
. benches/load/common.sh

# wait_answering PORT: until the server answers (any NOERROR: the reflector answers no records).
wait_answering() {
    for _ in $(seq 300); do
        dig @127.0.0.1 -p "$1" +tries=1 +time=1 svc0.ns0.svc.cluster.local A 2>/dev/null |
            grep -q 'status: NOERROR' && return 0
        sleep 0.1
    done
    echo "server on port $1 did not answer" >&2
    exit 1
}

declare -A fig

# load NAME KEY PORT PID MODE [dnsperf options...]: one dnsperf run; records under KEY the
# server's CPU µs per query answered, QPS, QPS per core and queries lost (and with -v, p50 and
# p99 latency in µs).
load() {
    local name=$1 key=$2 port=$3 pid=$4 mode=$5
    shift 5
    local before after out us qps core lost p50 p99
    before=$(cpu_ticks "$pid")
    out=$(taskset -c 0 dnsperf -m "$mode" -s 127.0.0.1 -p "$port" -d "$work/queries.txt" \
        -l "$seconds" -T 1 "$@" 2>&1)
    after=$(cpu_ticks "$pid")
    read -r us qps core lost < <(echo "$out" | awk -v b="$before" -v a="$after" \
        -v s="$seconds" -v hz="$hz" '
        /Queries completed:/ { done = $3 }
        /Queries lost:/ { lost = $3 }
        /Queries per second:/ { qps = $4 }
        END {
            cpu = (a - b) / hz
            printf "%.2f %.0f %.0f %d\n", (done > 0 ? cpu * 1e6 / done : 0), qps,
                (cpu > 0 ? qps / (cpu / s) : 0), lost
        }')
    # With -v, each answer's latency in seconds is the last field of its "> " line.
    read -r p50 p99 < <(echo "$out" | awk '/^> / { print $NF }' | sort -g | awk '
        { v[n++] = $1 }
        END { if (n == 0) print "- -"; else printf "%.0f %.0f\n", v[int(n * 0.50)] * 1e6, v[int(n * 0.99)] * 1e6 }')
    fig[$name:$key]=$us
    fig[$name:$key:qps]=$qps
    fig[$name:$key:core]=$core
    fig[$name:$key:lost]=$lost
    fig[$name:$key:p50]=$p50
    fig[$name:$key:p99]=$p99
}

rows=()
# measure NAME PORT PID [udp]: every figure of one server, which answers (UDP only with `udp`).
measure() {
    local name=$1 port=$2 pid=$3 only=${4:-}
    rows+=("$name")
    load "$name" u10k "$port" "$pid" udp -c 4 -q 100 -Q 10000 -v
    load "$name" u30k "$port" "$pid" udp -c 4 -q 100 -Q 30000
    load "$name" u60k "$port" "$pid" udp -c 4 -q 200 -Q 60000
    load "$name" usat "$port" "$pid" udp -c 8 -q 500
    if [ "$only" != udp ]; then
        load "$name" t20k "$port" "$pid" tcp -c 4 -q 100 -Q 20000
        load "$name" tsat "$port" "$pid" tcp -c 8 -q 500
    fi
    fig[$name:rss]=$(peak_rss_mb "$pid")
}

# corefile PORT [BIND]
corefile() {
    cat <<COREFILE
cluster.local:$1 in-addr.arpa:$1 {
    ${2:+bind $2}
    kubernetes cluster.local in-addr.arpa {
        manifests manifests
        pods verified
    }
}
COREFILE
}
corefile 5301 127.0.0.1 > "$work/Corefile.bound"
corefile 5305 > "$work/Corefile.any"
corefile 5306 127.0.0.1 > "$work/Corefile.base-bound"
corefile 5307 > "$work/Corefile.base-any"
cat > "$work/knot.conf" <<KNOT
server:
    listen: 127.0.0.1@5302
    rundir: "$work"
    udp-workers: 1
    tcp-workers: 1
    background-workers: 1
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

# run_server NAME PORT [udp] -- COMMAND...: start COMMAND pinned to CPU 1 in $work, measure it,
# stop it.
run_server() {
    local name=$1 port=$2 only=""
    shift 2
    if [ "$1" = udp ]; then only=udp; shift; fi
    shift # --
    (cd "$work" && exec taskset -c 1 "$@" >/dev/null 2>&1) &
    local pid=$!
    wait_answering "$port"
    # knot pins each UDP worker to CPU (id % online CPUs) itself, which would put its worker on
    # dnsperf's CPU 0: every thread of every server back to CPU 1.
    for p in $(tree "$pid"); do taskset -a -p -c 1 "$p" >/dev/null; done
    measure "$name" "$port" "$pid" "$only"
    kill "$pid"
    wait "$pid" 2>/dev/null || true
}

ours=$(realpath target/release/clusterdns)
run_server reflector 5300 udp -- "$work/reflector" 127.0.0.1 5300
run_server knot 5302 -- knotd -c "$work/knot.conf"
run_server nsd 5303 -- nsd -d -c "$work/nsd.conf"
run_server clusterdns 5301 -- "$ours" -conf Corefile.bound -quiet
run_server clusterdns-any 5305 -- "$ours" -conf Corefile.any -quiet
if [ -n "${BASELINE:-}" ]; then
    base=$(realpath "$BASELINE")
    run_server baseline 5306 -- "$base" -conf Corefile.base-bound -quiet
    run_server baseline-any 5307 -- "$base" -conf Corefile.base-any -quiet
fi

# cell NAME KEY: "figure (ratio to knot)" for a per-query cost.
cell() {
    local v=${fig[$1:$2]:-} k=${fig[knot:$2]:-}
    if [ -z "$v" ]; then printf "%s" "-"; return; fi
    awk -v v="$v" -v k="$k" -v n="$1" 'BEGIN {
        if (n == "knot" || k == "" || k == 0) printf "%.1f", v; else printf "%.1f (%.2fx)", v, v / k }'
}
# capacity NAME KEY: "QPS/core (ratio to knot)".
capacity() {
    local v=${fig[$1:$2:core]:-} k=${fig[knot:$2:core]:-}
    if [ -z "$v" ]; then printf "%s" "-"; return; fi
    awk -v v="$v" -v k="$k" -v n="$1" 'BEGIN {
        if (n == "knot" || k == "" || k == 0) printf "%.0f", v; else printf "%.0f (%.2fx)", v, v / k }'
}

echo "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs);" \
    "$services services; ${seconds}s per figure; server on CPU 1, dnsperf on CPU 0"
echo
echo "UDP: server CPU µs per query answered at an offered load; capacity at saturation"
printf "%-15s %-15s %-15s %-15s %-17s %8s %8s %7s %7s\n" server 10k 30k 60k "QPS/core (sat.)" \
    "p50@10k" "p99@10k" lost RSS_MB
for r in "${rows[@]}"; do
    lost=$((${fig[$r:u10k:lost]} + ${fig[$r:u30k:lost]} + ${fig[$r:u60k:lost]}))
    printf "%-15s %-15s %-15s %-15s %-17s %6sµs %6sµs %7s %7s\n" "$r" "$(cell "$r" u10k)" \
        "$(cell "$r" u30k)" "$(cell "$r" u60k)" "$(capacity "$r" usat)" "${fig[$r:u10k:p50]}" \
        "${fig[$r:u10k:p99]}" "$lost" "${fig[$r:rss]}"
done
echo
echo "TCP (dnsperf -m tcp, 4 persistent connections at 20k, 8 at saturation)"
printf "%-15s %-15s %-17s %7s\n" server 20k "QPS/core (sat.)" lost@20k
for r in "${rows[@]}"; do
    [ -n "${fig[$r:t20k]:-}" ] || continue
    printf "%-15s %-15s %-17s %7s\n" "$r" "$(cell "$r" t20k)" "$(capacity "$r" tsat)" \
        "${fig[$r:t20k:lost]}"
done
