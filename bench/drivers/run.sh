#!/usr/bin/env bash
# bench/drivers: the driver location path under a fleet, loopback only:
# se-bench-drivers (bench/drivers/main.c) opens SE_BENCH_DRIVERS (10,000)
# keep-alive connections to the gateway, each driver POSTing
# /api/v1/drivers/{id}/location once a second (staggered: N reports/s),
# while SE_BENCH_WATCHERS (1,000) WebSocket watchers follow the orders the
# first drivers carry; SE_BENCH_WARMUP (5) s, then SE_BENCH_SECONDS (60) s
# measured. Path: gateway (ingest batching) -> logistics service -> Redis
# stream -> location worker -> PostgreSQL location_history + Redis state +
# PUBLISH -> logistics service -> gateway WebSocket.
#
# Afterwards it waits (at most SE_BENCH_DRAIN_SECONDS, default 60) until the
# worker drained the stream (XLEN 0, nothing pending in the group), then
# checks in PostgreSQL that location_history holds exactly one row per 202
# (per driver too) and no stream id twice.
# Floors (issue 5): accepted >= 10,000 reports/s (with fewer drivers: 99.9%
# of what they offer); ingest p99 <= 50 ms; history rows == 202s;
# location-to-watcher p99 <= 50 ms. Exit status 1 if one is missed.
# Other knobs: SE_BENCH_KEEP=1 keeps the logs, SE_BUILD_DIR, SE_BENCH_RAMP
# (3 s to open the driver connections), SE_BENCH_ACCESS_LOG (false: the
# gateway's access log off, 10,000 lines/s would be measured too).
# Starts only what the location path needs (no menu/order/payment).
set -euo pipefail
bench_name=drivers
SE_BENCH_SECONDS=${SE_BENCH_SECONDS:-60}
# shellcheck source=../lib.sh
. "$(dirname "$0")/../lib.sh"
drivers=${SE_BENCH_DRIVERS:-10000}
watchers=${SE_BENCH_WATCHERS:-1000}
warmup=${SE_BENCH_WARMUP:-5}
ramp=${SE_BENCH_RAMP:-3}
drain_seconds=${SE_BENCH_DRAIN_SECONDS:-60}
stream=${SE_LOCATION_STREAM:-se:locations}
group=${SE_LOCATION_GROUP:-location-workers}
rcli() { redis-cli -u "$SE_REDIS_URL" "$@"; }

# ---- build what is missing ----------------------------------------------------
bins=(bench/se-bench-drivers gateway/se-gateway services/logistics/se-logistics
      workers/location/se-location-worker)
for b in "${bins[@]}"; do
    if [ ! -x "$build/$b" ]; then
        log "building in $build"
        cmake -S "$root" -B "$build" >/dev/null
        cmake --build "$build" -j2 --target se-bench-drivers se-gateway se-logistics \
            se-location-worker >&2
        break
    fi
done

# every connection is a descriptor, on both sides of the loopback
ulimit -n "$(ulimit -Hn)" 2>/dev/null || ulimit -n 1048576 2>/dev/null || true
need=$((drivers + watchers + 256))
[ "$(ulimit -n)" = unlimited ] || [ "$(ulimit -n)" -ge "$need" ] ||
    { log "need $need open files, the hard limit is $(ulimit -Hn)"; exit 1; }

# ---- the stack and the location path -----------------------------------------------
bench_stack_start
"$build/services/logistics/se-logistics" --migrate-only >"$work/migrate.log" 2>&1 ||
    { log "migration failed: $(tail -3 "$work/migrate.log")"; exit 1; }

logistics_port=$(free_port); worker_port=$(free_port); gateway_port=$(free_port)
export SE_LOGISTICS_TARGET=127.0.0.1:$logistics_port
SE_LOGISTICS_ADDR=$SE_LOGISTICS_TARGET bench_start logistics "$build/services/logistics/se-logistics"
logistics_pid=$bench_last_pid
wait_tcp "$logistics_port"
SE_LOCATION_WORKER_ADDR=127.0.0.1:$worker_port \
    bench_start location-worker "$build/workers/location/se-location-worker"
worker_pid=$bench_last_pid
wait_tcp "$worker_port"
SE_GATEWAY_ADDR=127.0.0.1:$gateway_port SE_GATEWAY_ACCESS_LOG=${SE_BENCH_ACCESS_LOG:-false} \
    bench_start gateway "$build/gateway/se-gateway"
gateway_pid=$bench_last_pid
wait_http "http://127.0.0.1:$gateway_port/healthz"

# CPU seconds per thread of a process: "name=seconds ..." (busiest first).
thread_cpu() { # pid
    local hz; hz=$(getconf CLK_TCK)
    for t in /proc/"$1"/task/*; do
        # comm may hold spaces: fields after the ")" are stable
        local stat; stat=$(cat "$t/stat" 2>/dev/null) || continue
        local comm=${stat#*(}; comm=${comm%)*}
        # shellcheck disable=SC2086
        set -- ${stat##*) }
        echo "$(( ${12} + ${13} )) ${comm// /_}"
    done | sort -rn | awk -v hz="$hz" '$1 > 0 {printf "%s=%.2fs ", $2, $1 / hz}'
}

# ---- the fleet ---------------------------------------------------------------------
log "$drivers drivers, $watchers watchers, ${warmup}s warm-up + ${seconds}s measured"
set +e
"$build/bench/se-bench-drivers" --port "$gateway_port" --drivers "$drivers" \
    --watchers "$watchers" --seconds "$seconds" --warmup "$warmup" --ramp "$ramp" \
    --per-driver "$work/per_driver.tsv" --progress >"$work/fleet.json" 2> >(tee "$work/fleet.log" >&2)
fleet_rc=$?
set -e
[ $fleet_rc = 0 ] || { log "se-bench-drivers failed (status $fleet_rc)"; exit 1; }
run=$(tail -1 "$work/fleet.json")
echo "$run"
log "load: $(uptime)"
for c in gateway:$gateway_pid logistics:$logistics_pid location-worker:$worker_pid; do
    log "cpu per thread, ${c%%:*}: $(thread_cpu "${c#*:}")"
done
# what the gateway itself says about its loops, if it says anything
grep -E '"event":"[^"]*(loop|thread)[^"]*"' "$work/gateway.log" | tail -4 >&2 || true

# ---- wait until the worker drained the stream ----------------------------------------
run_end=$(date +%s.%N)
while :; do
    xlen=$(rcli XLEN "$stream")
    pending=$(rcli XPENDING "$stream" "$group" 2>/dev/null | head -1)
    case $pending in '' | *[!0-9]*) pending=$([ "$xlen" = 0 ] && echo 0 || echo "?") ;; esac
    waited=$(/usr/bin/python3 -c "import time; print(round(time.time() - $run_end, 1))")
    [ "$xlen" != 0 ] || [ "$pending" != 0 ] || break
    if /usr/bin/python3 -c "import sys; sys.exit(0 if $waited > $drain_seconds else 1)"; then
        log "not drained after ${drain_seconds}s: XLEN $xlen, pending $pending"; break
    fi
    sleep 0.5
done
log "stream: XLEN $xlen, pending $pending, ${waited}s after the run"

# ---- what PostgreSQL holds ------------------------------------------------------------
history=$(psql "$SE_PG_URL" -X -q -At -v ON_ERROR_STOP=1 <<SQL
CREATE TEMP TABLE sent (driver_id text PRIMARY KEY, accepted bigint);
\\copy sent FROM '$work/per_driver.tsv'
WITH stored AS (SELECT driver_id, count(*) AS n FROM location_history GROUP BY driver_id)
SELECT json_build_object(
    'rows', (SELECT count(*) FROM location_history),
    'distinct_stream_ids', (SELECT count(DISTINCT stream_id) FROM location_history),
    'drivers_mismatched', (SELECT count(*) FROM sent FULL JOIN stored USING (driver_id)
                           WHERE coalesce(sent.accepted, 0) <> coalesce(stored.n, 0)));
SQL
)
echo "$history"

/usr/bin/python3 - "$run" "$history" "$drivers" "$waited" <<'PY'
import json, sys
run, h, drivers, waited = json.loads(sys.argv[1]), json.loads(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
target = min(10000, drivers)
checks = [
    ("accepted >= %d/s" % target, run["accepted_rps"] >= 0.999 * target),
    ("ingest p99 <= 50 ms", run["status"].get("202", 0) > 0 and run["ingest_p99_ms"] <= 50),
    ("history rows == accepted", h["rows"] == run["total_accepted"]),
    ("no duplicate history rows", h["distinct_stream_ids"] == h["rows"]),
    ("history per driver == accepted", h["drivers_mismatched"] == 0),
    ("live p99 <= 50 ms", run["live_in_window"] > 0 and run["live_p99_ms"] <= 50),
]
for name, ok in checks:
    print("%s %s" % ("PASS" if ok else "FAIL", name), file=sys.stderr)
print(json.dumps({"bench": "drivers", "accepted_rps": run["accepted_rps"],
                  "ingest_p99_ms": run["ingest_p99_ms"], "live_p99_ms": run["live_p99_ms"],
                  "history_rows": h["rows"], "accepted": run["total_accepted"],
                  "live_messages": run["live_messages"], "live_expected": run["live_expected"],
                  "drain_seconds": waited, "checks": {name: ok for name, ok in checks}}))
sys.exit(0 if all(ok for _, ok in checks) else 1)
PY
