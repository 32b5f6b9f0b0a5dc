#!/usr/bin/env bash
# bench/orders: POST /api/v1/orders through the gateway, wrk with 64
# connections (2 threads) for SE_BENCH_SECONDS (default 30), loopback only,
# with the whole order path running: gateway -> order service (-> menu
# service for prices) -> PostgreSQL + outbox -> Redis stream -> payment
# worker -> mock payment gateway (50 ms median latency, 2% transient errors,
# its other defaults: 5% declines, 1% timeouts) -> order service.
#
# After the run it waits (at most SE_BENCH_DRAIN_SECONDS, default 60) until
# every order has a final state, then reads the mock gateway's ledger back
# and checks that every confirmed order has exactly one approved charge and
# no other order has any.
# Floors (issue 4): accepted orders >= 2,000/s with p99 <= 50 ms; every
# order final within 60 s of the end; exactly one charge per confirmed
# order. Payment throughput (final states per second) is reported beside.
# Starts its own PostgreSQL + Redis in a temporary folder and stops
# everything it started. Exit status 1 if a floor is missed.
set -euo pipefail
bench_name=orders
SE_BENCH_SECONDS=${SE_BENCH_SECONDS:-30}
# shellcheck source=../lib.sh
. "$(dirname "$0")/../lib.sh"
drain_seconds=${SE_BENCH_DRAIN_SECONDS:-60}
lua=$root/bench/orders/random_order.lua
psql_q() { psql "$SE_PG_URL" -X -q -At -v ON_ERROR_STOP=1 "$@"; }

bench_stack_start
"$build/services/menu/se-menu-seed" --if-empty >"$work/seed.log"
psql_q -c "CREATE EXTENSION IF NOT EXISTS pg_stat_statements"

menu_port=$(free_port); order_port=$(free_port); paygw_port=$(free_port)
worker_port=$(free_port); gateway_port=$(free_port)
export SE_MENU_TARGET=127.0.0.1:$menu_port SE_ORDER_TARGET=127.0.0.1:$order_port \
       SE_PAYMENT_GATEWAY_TARGET=127.0.0.1:$paygw_port

SE_MENU_ADDR=$SE_MENU_TARGET bench_start menu "$build/services/menu/se-menu"
wait_tcp "$menu_port"
SE_PAYMENT_GATEWAY_ADDR=$SE_PAYMENT_GATEWAY_TARGET SE_PAYMENT_GATEWAY_LATENCY_MEDIAN_MS=50 \
    SE_PAYMENT_GATEWAY_TRANSIENT_ERROR_RATE=0.02 \
    bench_start payment-gateway "$build/services/payment_gateway/se-payment-gateway"
wait_tcp "$paygw_port"
SE_ORDER_ADDR=$SE_ORDER_TARGET bench_start order "$build/services/order/se-order"
wait_tcp "$order_port"
SE_PAYMENT_WORKER_ADDR=127.0.0.1:$worker_port \
    bench_start payment-worker "$build/workers/payment/se-payment-worker"
wait_tcp "$worker_port"
SE_GATEWAY_ADDR=127.0.0.1:$gateway_port bench_start gateway "$build/gateway/se-gateway"
wait_http "http://127.0.0.1:$gateway_port/healthz"

# What can be ordered: available, in-stock items of open or busy restaurants.
psql_q -F ' ' -c "SELECT i.id, i.price_cents FROM menu_items i
    JOIN restaurants r ON r.id = i.restaurant_id
    WHERE i.available AND i.in_stock AND r.status IN ('open', 'busy')" >"$work/items.txt"
log "$(wc -l <"$work/items.txt") orderable items"

export SE_BENCH_ITEMS=$work/items.txt SE_BENCH_RUN_ID=$$
# the statistics printed after the run count the run only (not the seed)
psql_q -c "SELECT pg_stat_reset_shared('wal'), pg_stat_statements_reset()" >/dev/null
run=$(bench_wrk orders "$gateway_port" "$lua"); echo "$run"
run_end_us=${EPOCHREALTIME/./}
# Where PostgreSQL spent its time: the statements by total time, planning
# included, per call in microseconds; once for the run, once for the drain.
pg_top_statements() { # phase
    log "PostgreSQL statements $1 (calls, exec us/call, plans, plan us/plan, text):"
    psql_q -F ' | ' -c "SELECT calls, round((total_exec_time * 1000 / calls)::numeric), plans,
        round((total_plan_time * 1000 / greatest(plans, 1))::numeric),
        left(regexp_replace(query, '\s+', ' ', 'g'), 110)
        FROM pg_stat_statements WHERE calls > 100
        ORDER BY total_exec_time + total_plan_time DESC LIMIT 10" >&2
    psql_q -c "SELECT pg_stat_statements_reset()" >/dev/null
}
pg_top_statements "during the run"
# WAL written during the run (every commit of an order waits for its flush)
psql_q -F ' ' -c "SELECT 'bench/orders: WAL during the run: ' || wal_records || ' records, '
    || wal_fpi || ' full-page images, ' || pg_size_pretty(wal_bytes) || ', '
    || round(wal_bytes / greatest((SELECT count(*) FROM orders), 1)) || ' bytes per order'
    FROM pg_stat_wal" >&2

# Wait for every order to reach a final state. The poll must cost next to
# nothing: the drain competes with it for the same two cores (a count over
# the orders' status index every 0.5 s, plus a python per poll for the
# clock, took ~10% of the machine). Every open order has its outbox row
# (written with the order, deleted with its final state), so polling the
# outbox for one row is enough; the summary below counts open orders.
while :; do
    left=$(psql_q -c "SELECT count(*) FROM (SELECT FROM payment_outbox LIMIT 1) o")
    waited_ms=$(( (${EPOCHREALTIME/./} - run_end_us) / 1000 ))
    [ "$left" -gt 0 ] || break
    if [ "$waited_ms" -gt $((drain_seconds * 1000)) ]; then
        left=$(psql_q -c "SELECT count(*) FROM payment_outbox")
        log "$left orders still open after ${drain_seconds}s"; break
    fi
    sleep 0.25
done
waited=$(printf '%d.%03d' $((waited_ms / 1000)) $((waited_ms % 1000)))
pg_top_statements "during the drain"
log "drained: $left open orders left, ${waited}s after the run"

"$build/bench/se-bench-ledger" "$SE_PAYMENT_GATEWAY_TARGET" >"$work/ledger.tsv"
summary=$(psql_q <<SQL
CREATE TEMP TABLE ledger (order_id bigint, status text, charge_id text);
\\copy ledger FROM '$work/ledger.tsv'
ANALYZE ledger;
-- one hash join, not a ledger scan per order (that took minutes at 75,000 orders)
WITH approved AS (
    SELECT order_id, count(*) AS n FROM ledger WHERE status = 'approved' GROUP BY order_id),
per_order AS (
    SELECT o.id, o.status, coalesce(a.n, 0) AS approved
    FROM orders o LEFT JOIN approved a ON a.order_id = o.id)
SELECT json_build_object(
    'orders', (SELECT count(*) FROM orders),
    'confirmed', count(*) FILTER (WHERE status = 'confirmed'),
    'payment_failed', count(*) FILTER (WHERE status = 'payment_failed'),
    'open', count(*) FILTER (WHERE status IN ('pending', 'payment_processing')),
    'confirmed_with_one_charge', count(*) FILTER (WHERE status = 'confirmed' AND approved = 1),
    'charged_twice', count(*) FILTER (WHERE approved > 1),
    'failed_but_charged', count(*) FILTER (WHERE status <> 'confirmed' AND approved > 0),
    'ledger_entries', (SELECT count(*) FROM ledger),
    'payment_attempts', (SELECT count(*) FROM payment_attempts),
    'payment_seconds', (SELECT round(extract(epoch FROM max(updated_at) - min(created_at))::numeric, 1)
                        FROM orders WHERE status IN ('confirmed', 'payment_failed')))
FROM per_order;
SQL
)
echo "$summary"

/usr/bin/python3 - "$run" "$summary" "$waited" <<'PY'
import json, sys
run, s, waited = json.loads(sys.argv[1]), json.loads(sys.argv[2]), float(sys.argv[3])
accepted = run["requests"] - run["non_2xx"]
accepted_rps = accepted / run["seconds"]
finals = s["confirmed"] + s["payment_failed"]
checks = [
    ("accepted >= 2000/s", accepted_rps >= 2000),
    ("p99 <= 50 ms", run["p99_ms"] <= 50),
    ("no errors", run["errors"] == 0),
    ("every order final within 60 s", s["open"] == 0 and waited <= 60),
    ("one charge per confirmed order", s["confirmed_with_one_charge"] == s["confirmed"]),
    ("no double charge", s["charged_twice"] == 0),
    ("no charge for an unconfirmed order", s["failed_but_charged"] == 0),
    ("every accepted order stored", s["orders"] >= accepted),
]
print(json.dumps({"bench": "orders", "accepted": accepted, "accepted_rps": round(accepted_rps),
                  "p99_ms": run["p99_ms"], "drain_seconds": waited,
                  "payment_rps": round(finals / s["payment_seconds"]) if s["payment_seconds"] else None,
                  "checks": {name: ok for name, ok in checks}}))
sys.exit(0 if all(ok for _, ok in checks) else 1)
PY
