# Shared by the load scripts (sourced): CPU and memory of a server's whole process tree.

# A server and its child processes (nsd forks its workers).
tree() { echo "$1"; for child in $(pgrep -P "$1"); do tree "$child"; done; }

# CPU ticks (utime + stime) of the whole process tree.
cpu_ticks() {
    local total=0 p ticks
    for p in $(tree "$1"); do
        # Fields after the command name, which may hold spaces ("nsd: xfrd"): utime, stime.
        # A process gone meanwhile counts 0.
        ticks=$(sed 's/.*) //' "/proc/$p/stat" 2>/dev/null | awk '{print $12 + $13}')
        total=$((total + ${ticks:-0}))
    done
    echo "$total"
}

# Peak RSS of the process tree, summed, in MB.
peak_rss_mb() {
    local p
    for p in $(tree "$1"); do cat "/proc/$p/status" 2>/dev/null; done |
        awk '/VmHWM/ { kb += $2 } END { printf "%.0f", kb / 1024 }'
}
