#!/usr/bin/env bash
# bench/rpc: unary calls over loopback, our runtime against the raw C core,
# in one run. Usage: bench/rpc/run.sh [SECONDS=10] [INFLIGHT=64] [ROUNDS=3]
# Runs raw and ours alternately ROUNDS times (loopback figures on 2 shared
# cores swing by 20% from run to run, so one pair proves little), prints one
# JSON line per run and a summary with the median of each and the overhead.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
bin=${SE_BENCH_RPC:-$root/build/bench/se-bench-rpc}
seconds=${1:-10}
inflight=${2:-64}
rounds=${3:-3}
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

raws=()
ses=()
for _ in $(seq "$rounds"); do
    line=$(run_one raw); echo "$line"; raws+=("$(sed -n 's/.*"calls_per_s":\([0-9]*\).*/\1/p' <<<"$line")")
    line=$(run_one se); echo "$line"; ses+=("$(sed -n 's/.*"calls_per_s":\([0-9]*\).*/\1/p' <<<"$line")")
done
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END{print a[int((NR+1)/2)]}'; }
r=$(median "${raws[@]}")
s=$(median "${ses[@]}")
awk -v r="$r" -v s="$s" -v n="$rounds" 'BEGIN{printf "{\"bench\":\"rpc\",\"rounds\":%d,\"raw_calls_per_s_median\":%d,\"se_calls_per_s_median\":%d,\"overhead_pct\":%.1f}\n", n, r, s, (r-s)*100/r}'
