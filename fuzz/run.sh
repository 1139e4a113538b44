#!/usr/bin/env bash
# Build the fuzz targets and run each one for SECONDS (default 60), printing the executions of
# each; exit non-zero if any target crashed, hung or ran out of memory. Installs what it needs on
# a fresh Debian machine (as root): a C++ compiler for libFuzzer's runtime, and cargo-fuzz.
#
#   fuzz/run.sh [SECONDS]            every target
#   fuzz/run.sh SECONDS TARGET...    only these
#
# New inputs go to fuzz/corpus/TARGET/ (not committed; kept between runs), crashes to
# fuzz/artifacts/TARGET/, each run's log to fuzz/artifacts/TARGET.log. The committed seeds are
# fuzz/seeds/TARGET/ (written by fuzz/seeds.py).
set -euo pipefail
cd "$(dirname "$0")"
seconds=${1:-60}
shift || true

# libfuzzer-sys compiles libFuzzer (C++) with the cc crate.
if ! command -v c++ >/dev/null; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends g++
fi
cargo_fuzz=0.13.2
[ "$(cargo fuzz --version 2>/dev/null | head -n 1)" = "cargo-fuzz $cargo_fuzz" ] ||
    cargo install cargo-fuzz --locked --version "$cargo_fuzz"

# cargo fuzz passes rustc -Z flags (the sanitizer, coverage instrumentation): a stable toolchain
# takes them with RUSTC_BOOTSTRAP=1, so no nightly is needed.
export RUSTC_BOOTSTRAP=1
# Same flags for build and run, so that `run` does not build again. Address sanitizer (the
# default) for the unsafe code of the dependencies (the YAML parser is translated C); debug
# assertions and overflow checks are on.
flags=(--sanitizer address)
start=$(date +%s)
cargo fuzz build "${flags[@]}"
echo "fuzz build: $(($(date +%s) - start)) s"

if [ $# -gt 0 ]; then
    targets=("$@")
else
    mapfile -t targets < <(cargo fuzz list)
fi
failed=()
mkdir -p artifacts
for target in "${targets[@]}"; do
    mkdir -p "corpus/$target" "artifacts/$target"
    log="artifacts/$target.log"
    status=ok
    # -timeout: one input running longer than 10 s is a hang; -rss_limit_mb: libFuzzer's
    # default, spelled out. The corpus folder comes first: libFuzzer writes new inputs there.
    if ! cargo fuzz run "${flags[@]}" "$target" "corpus/$target" "seeds/$target" -- \
        -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
        -artifact_prefix="artifacts/$target/" >"$log" 2>&1; then
        status=FAILED
        failed+=("$target")
    fi
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
    cov=$(grep -o 'cov: [0-9]*' "$log" | tail -n 1 || true)
    echo "fuzz $target: ${execs:-?} executions in ${seconds} s (${rate:-?}/s, ${cov:-cov: ?}): $status"
    if [ "$status" != ok ]; then
        grep -E 'panicked at|ERROR: |SUMMARY: |Test unit written to|^Failing input|Reproduce with' \
            "$log" | head -n 20 || true
        echo "(full log: fuzz/$log)"
    fi
done
# The corefile target writes its imported files into a folder per process.
rm -rf "${TMPDIR:-/tmp}"/clusterdns-fuzz-corefile-*
if [ ${#failed[@]} -gt 0 ]; then
    echo "fuzz: crashes in ${failed[*]}" >&2
    exit 1
fi
echo "fuzz: ${#targets[@]} targets, no crash"
