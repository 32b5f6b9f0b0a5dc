#!/usr/bin/env bash
# bench/rpc/profile.sh: CPU cost per call as instruction counts (callgrind Ir),
# which, unlike wall-clock figures on 2 shared cores, do not swing with the
# machine's load. Usage: bench/rpc/profile.sh [CALLS=4000] [INFLIGHT=64] [IMPLS="raw se"]
#
# For each implementation and each side (server, client), runs that side
# under valgrind --tool=callgrind and the other side natively, once with
# CALLS/2 and once with CALLS calls (same messages, same in-flight count,
# same threads as bench/rpc/run.sh), and reports
#   (Ir(CALLS) - Ir(CALLS/2)) / (CALLS/2)
# so start-up and shutdown cancel out. The callgrind files of the larger run
# stay in $SE_PROFILE_DIR (default /tmp/se-rpc-profile) for callgrind_annotate.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
bin=${SE_BENCH_RPC:-$root/build/bench/se-bench-rpc}
calls=${1:-4000}
inflight=${2:-64}
impls=${3:-raw se}
dir=${SE_PROFILE_DIR:-/tmp/se-rpc-profile}
mkdir -p "$dir"
trap 'kill $(jobs -p) 2>/dev/null || true' EXIT
vg=(valgrind --tool=callgrind --quiet)

total_ir() { # callgrind.out file
    sed -n 's/^summary: \([0-9]*\).*/\1/p' "$1"
}

wait_port() { # server output file
    for _ in $(seq 600); do grep -q port "$1" 2>/dev/null && break; sleep 0.1; done
    sed -n 's/{"port":\([0-9]*\)}/\1/p' "$1"
}

# One run: prints the Ir of the profiled side.
profile_one() { # impl side n
    local impl=$1 side=$2 n=$3 out="$dir/callgrind.$1.$2.$3"
    local sprefix=() cprefix=()
    if [ "$side" = server ]; then sprefix=("${vg[@]}" --callgrind-out-file="$out"); fi
    if [ "$side" = client ]; then cprefix=("${vg[@]}" --callgrind-out-file="$out"); fi
    "${sprefix[@]}" "$bin" server "$impl" 127.0.0.1:0 >"$dir/server.out" &
    local spid=$!
    local port
    port=$(wait_port "$dir/server.out")
    SE_LOG_LEVEL=warn "${cprefix[@]}" "$bin" client "$impl" "127.0.0.1:$port" 600 "$inflight" \
        --calls "$n" >"$dir/client.out"
    grep -q "\"failed\":0," "$dir/client.out" || { echo "calls failed: $(cat "$dir/client.out")" >&2; exit 1; }
    kill -TERM $spid
    wait $spid
    total_ir "$out"
}

half=$((calls / 2))
for impl in $impls; do
    for side in server client; do
        a=$(profile_one "$impl" "$side" "$half")
        b=$(profile_one "$impl" "$side" "$calls")
        awk -v i="$impl" -v s="$side" -v a="$a" -v b="$b" -v n="$half" \
            'BEGIN{printf "{\"impl\":\"%s\",\"side\":\"%s\",\"ir_per_call\":%.0f}\n", i, s, (b-a)/n}'
    done
done
