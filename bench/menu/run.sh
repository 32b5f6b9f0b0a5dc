#!/usr/bin/env bash
# bench/menu: GET /api/v1/restaurants/{id}/menu through the gateway, ids drawn
# at random over the 1,000 seeded restaurants, wrk with 64 connections (2
# threads) for SE_BENCH_SECONDS (default 20) per scenario, loopback only:
#   static  h2o (bench/static) serving the very same menu JSON as files
#   edge    gateway edge cache warm
#   service edge cache off, the menu service's Redis cache warm
#   cold    edge cache off, Redis flushed just before the run
# Floors (issue 3): edge >= 30,000 req/s, p99 <= 5 ms and >= 65% of static;
# service >= 8,000 req/s, p99 <= 15 ms; cold >= 3,000 req/s, p99 <= 50 ms.
# Starts its own PostgreSQL + Redis (scripts/stack.sh) in a temporary folder
# and stops everything it started. Exit status 1 if a floor is missed.
set -euo pipefail
bench_name=menu
# shellcheck source=../lib.sh
. "$(dirname "$0")/../lib.sh"
lua=$root/bench/menu/random_menu.lua

bench_stack_start
"$build/services/menu/se-menu-seed" --if-empty >"$work/seed.log"

menu_port=$(free_port)
SE_MENU_ADDR=127.0.0.1:$menu_port bench_start menu "$build/services/menu/se-menu"
wait_tcp "$menu_port"

gateway_pid=
start_gateway() { # edge: true|false
    [ -z "$gateway_pid" ] || { kill -TERM "$gateway_pid"; wait "$gateway_pid" || true; }
    gateway_port=$(free_port)
    SE_GATEWAY_ADDR=127.0.0.1:$gateway_port SE_MENU_TARGET=127.0.0.1:$menu_port \
        SE_GATEWAY_EDGE_CACHE=$1 bench_start "gateway-edge-$1" "$build/gateway/se-gateway"
    gateway_pid=$bench_last_pid
    wait_http "http://127.0.0.1:$gateway_port/healthz"
}

fetch_all_menus() { # into dir (or /dev/null)
    local args=() i
    for i in $(seq 1000); do
        if [ "$1" = /dev/null ]; then args+=(-o /dev/null); else args+=(-o "$1/api/v1/restaurants/$i/menu"); fi
        args+=("http://127.0.0.1:$gateway_port/api/v1/restaurants/$i/menu")
    done
    curl -sf --create-dirs "${args[@]}"
}

run_wrk() { bench_wrk "$1" "$2" "$lua"; } # name port

start_gateway true
mkdir -p "$work/static"
fetch_all_menus "$work/static"          # also warms the edge cache
bench_start static "$build/bench/se-bench-static" "$work/static"
for _ in $(seq 100); do grep -q port "$work/static.log" && break; sleep 0.05; done
static_port=$(sed -n 's/{"port":\([0-9]*\)}/\1/p' "$work/static.log")

static=$(run_wrk static "$static_port"); echo "$static"
edge=$(run_wrk edge "$gateway_port"); echo "$edge"

start_gateway false
fetch_all_menus /dev/null                # warms the service's Redis cache
service=$(run_wrk service "$gateway_port"); echo "$service"

redis-cli -u "$SE_REDIS_URL" FLUSHALL >/dev/null
cold=$(run_wrk cold "$gateway_port"); echo "$cold"

/usr/bin/python3 - "$static" "$edge" "$service" "$cold" <<'PY'
import json, sys
static, edge, service, cold = (json.loads(a) for a in sys.argv[1:])
checks = [
    ("edge rps >= 30000", edge["rps"] >= 30000),
    ("edge p99 <= 5 ms", edge["p99_ms"] <= 5),
    ("edge >= 65% of static", edge["rps"] >= 0.65 * static["rps"]),
    ("service rps >= 8000", service["rps"] >= 8000),
    ("service p99 <= 15 ms", service["p99_ms"] <= 15),
    ("cold rps >= 3000", cold["rps"] >= 3000),
    ("cold p99 <= 50 ms", cold["p99_ms"] <= 50),
    ("no errors", all(r["errors"] == 0 for r in (static, edge, service, cold))),
]
print(json.dumps({"bench": "menu", "edge_vs_static_pct": round(100 * edge["rps"] / static["rps"], 1),
                  "checks": {name: ok for name, ok in checks}}))
sys.exit(0 if all(ok for _, ok in checks) else 1)
PY
