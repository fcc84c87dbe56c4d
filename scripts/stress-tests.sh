#!/usr/bin/env bash
# Runs the README's test command N times in a row while busy loops load every CPU, and reports
# how many runs passed, failed and hung. A timing bug (a lost wake, a race between a reply and
# a timeout) rarely shows in one quiet run; this is how we look for one.
#
#   scripts/stress-tests.sh [RUNS] [-- extra cargo test args]
#
# Environment: STRESS_LOAD (busy loops, default: one per CPU), STRESS_RUN_TIMEOUT (seconds a
# run may take before it counts as a hang, default 900), STRESS_LOG_DIR (default: a temp dir;
# the output of every failed or hung run is kept there).
set -uo pipefail
cd "$(dirname "$0")/.."

runs="${1:-10}"
shift || true
[[ "${1:-}" == "--" ]] && shift
extra=("$@")
load="${STRESS_LOAD:-$(nproc)}"
run_timeout="${STRESS_RUN_TIMEOUT:-900}"
log_dir="${STRESS_LOG_DIR:-$(mktemp -d /tmp/corelane-stress.XXXXXX)}"
mkdir -p "$log_dir"

# Build first, unloaded and untimed: the runs below measure the tests, not the compiler.
cargo test --workspace --no-run "${extra[@]}" >"$log_dir/build.log" 2>&1 || {
    echo "build failed, see $log_dir/build.log" >&2
    exit 2
}

loaders=()
stop_load() {
    for pid in "${loaders[@]}"; do kill "$pid" 2>/dev/null; done
    wait "${loaders[@]}" 2>/dev/null
}
trap stop_load EXIT
for _ in $(seq 1 "$load"); do
    (while :; do :; done) &
    loaders+=($!)
done
echo "# $(date -u +%FT%TZ) $runs runs of 'cargo test --workspace ${extra[*]}' with $load busy loops on $(nproc) CPUs; logs in $log_dir"

passed=0 failed=0 hung=0
for i in $(seq 1 "$runs"); do
    log="$log_dir/run-$i.log"
    start=$(date +%s)
    # --kill-after: a hung test binary that ignores SIGTERM still ends.
    timeout --kill-after=10 "$run_timeout" cargo test --workspace "${extra[@]}" >"$log" 2>&1
    rc=$?
    secs=$(( $(date +%s) - start ))
    if ((rc == 0)); then
        passed=$((passed + 1)); verdict=ok
        rm -f "$log"
    elif ((rc == 124 || rc == 137)); then
        hung=$((hung + 1)); verdict="HUNG (killed after ${run_timeout}s)"
    else
        failed=$((failed + 1)); verdict="FAILED (exit $rc)"
        grep -E '^test .* FAILED|panicked at|^---- ' "$log" | head -20 | sed 's/^/    /'
    fi
    echo "run $i/$runs: $verdict in ${secs}s"
done
echo "# summary: $passed passed, $failed failed, $hung hung of $runs runs ($load busy loops)"
((failed == 0 && hung == 0))
