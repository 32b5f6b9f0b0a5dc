#!/usr/bin/env bash
# bench/rpc: unary calls over loopback, our runtime against the raw C core,
# in one run. Usage: bench/rpc/run.sh [SECONDS=10] [INFLIGHT=64]
# Prints one JSON line per implementation and the layer's overhead.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
bin=${SE_BENCH_RPC:-$root/build/bench/se-bench-rpc}
seconds=${1:-10}
inflight=${2:-64}
out=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$out"' EXIT

run_one() { # impl
    local impl=$1
    "$bin" server "$impl" 127.0.0.1:0 >"$out/server-$impl" &
    local spid=$!
    for _ in $(seq 100); do grep -q port "$out/server-$impl" 2>/dev/null && break; sleep 0.05; done
    local port
    port=$(sed -n 's/{"port":\([0-9]*\)}/\1/p' "$out/server-$impl")
    SE_LOG_LEVEL=warn "$bin" client "$impl" "127.0.0.1:$port" "$seconds" "$inflight" >"$out/client-$impl"
    kill -TERM $spid
    wait $spid
    local calls cpu
    calls=$(sed -n 's/.*"calls":\([0-9]*\).*/\1/p' "$out/client-$impl")
    cpu=$(sed -n 's/{"server_cpu_us":\([0-9]*\)}/\1/p' "$out/server-$impl")
    sed "s/}\$/,\"server_cpu_us_per_call\":$(awk "BEGIN{printf \"%.1f\", $cpu/($calls>0?$calls:1)}")}/" "$out/client-$impl"
}

raw=$(run_one raw)
se=$(run_one se)
echo "$raw"
echo "$se"
r=$(sed -n 's/.*"calls_per_s":\([0-9]*\).*/\1/p' <<<"$raw")
s=$(sed -n 's/.*"calls_per_s":\([0-9]*\).*/\1/p' <<<"$se")
awk -v r="$r" -v s="$s" 'BEGIN{printf "{\"bench\":\"rpc\",\"raw_calls_per_s\":%d,\"se_calls_per_s\":%d,\"overhead_pct\":%.1f}\n", r, s, (r-s)*100/r}'
