#!/usr/bin/env bash
# `make run`: build, start a private PostgreSQL + Redis in .run/stack, then
# every service, worker and the gateway that exists in build/, wait until
# each answers, and stay in the foreground. Ctrl-C or SIGTERM stops every
# child and the stack; nothing is left behind. If a child dies, everything
# stops (its log lines are above).
#
# Every component's output (JSON lines) goes to this terminal.
# Environment: the usual SE_* variables (README.md); SE_BUILD_DIR (build).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
build=${SE_BUILD_DIR:-build}
case $build in /*) ;; *) build=$root/$build ;; esac
run_dir=$root/.run
stack_dir=$run_dir/stack
WAIT_SECONDS=30

log() { echo "run.sh: $*" >&2; }
die() { log "$*"; exit 1; }

scripts/install-deps.sh
cmake -S . -B "$build" >/dev/null
cmake --build "$build" -j "$(nproc)"

# ---- the stack: fresh each time ---------------------------------------------
if [ -f "$stack_dir/env" ]; then
    log "stopping a stack left by an earlier run"
    scripts/stack.sh stop "$stack_dir" || true
fi
rm -rf "$stack_dir"
mkdir -p "$run_dir"

pids=()
names=()
stopping=0
cleanup() {
    local rc=$?
    [ $stopping = 0 ] || return
    stopping=1
    trap '' INT TERM
    if [ ${#pids[@]} -gt 0 ]; then
        log "stopping ${names[*]}"
        kill -TERM "${pids[@]}" 2>/dev/null || true
        local grace=$(( ($(printf '%d' "${SE_RPC_GRACE_MS:-5000}") + 2000) / 100 ))
        for ((i = 0; i < grace; i++)); do
            local alive=0
            for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
            [ $alive = 1 ] || break
            sleep 0.1
        done
        kill -KILL "${pids[@]}" 2>/dev/null || true
        wait 2>/dev/null || true
    fi
    scripts/stack.sh stop "$stack_dir" || true
    rm -rf "$stack_dir"
    log "stopped"
    exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

scripts/stack.sh start "$stack_dir"
# shellcheck disable=SC1091
. "$stack_dir/env"

# ---- components ---------------------------------------------------------------

# "host:port" -> "127.0.0.1 port" for probing (wildcard hosts probe loopback).
probe_addr() {
    local addr=$1 host port
    port=${addr##*:}
    host=${addr%:*}
    host=${host#[}
    host=${host%]}
    case "$host" in "" | 0.0.0.0 | ::) host=127.0.0.1 ;; esac
    echo "$host $port"
}

port_open() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }

start() { # name binary
    "$2" &
    pids+=($!)
    names+=("$1")
}

# Waits until `check...` succeeds while the last started child is alive.
wait_ready() { # what check...
    local what=$1; shift
    local pid=${pids[-1]} deadline=$((SECONDS + WAIT_SECONDS))
    until "$@"; do
        kill -0 "$pid" 2>/dev/null || die "$what exited during start-up"
        [ $SECONDS -lt $deadline ] || die "$what not ready after ${WAIT_SECONDS}s"
        sleep 0.1
    done
}

# name, binary, env prefix (listen address SE_<NAME>_ADDR, default port)
# Demo data: 1,000 restaurants with their menus, loaded only into an empty
# database (the seed applies the menu migrations first).
seed=$build/services/menu/se-menu-seed
if [ -x "$seed" ]; then
    "$seed" --if-empty || die "loading the demo data failed"
fi

services=("menu menu/se-menu MENU 50051"
          "order order/se-order ORDER 50052"
          "logistics logistics/se-logistics LOGISTICS 50053"
          "payment-gateway payment_gateway/se-payment-gateway PAYMENT_GATEWAY 50054")
bind_host=${SE_BIND_HOST:-127.0.0.1}
for s in "${services[@]}"; do
    read -r name bin var port <<<"$s"
    bin=$build/services/$bin
    [ -x "$bin" ] || { log "not built, skipped: $bin"; continue; }
    addr_var=SE_${var}_ADDR
    addr=${!addr_var:-$bind_host:$port}
    read -r host p <<<"$(probe_addr "$addr")"
    ! port_open "$host" "$p" || die "$addr is already in use (another make run?); set $addr_var"
    start "$name" "$bin"
    wait_ready "$name" port_open "$host" "$p"
    log "$name ready on $addr"
done

for w in payment location; do
    bin=$build/workers/$w/se-$w-worker
    [ -x "$bin" ] || { log "not built, skipped: $bin"; continue; }
    start "$w-worker" "$bin"
done

gateway_addr=${SE_GATEWAY_ADDR:-127.0.0.1:8080}
bin=$build/gateway/se-gateway
if [ -x "$bin" ]; then
    read -r host p <<<"$(probe_addr "$gateway_addr")"
    ! port_open "$host" "$p" || die "$gateway_addr is already in use; set SE_GATEWAY_ADDR"
    start gateway "$bin"
    wait_ready gateway curl -fs -o /dev/null "http://$host:$p/healthz"
else
    log "not built, skipped: $bin"
fi

for i in "${!pids[@]}"; do
    kill -0 "${pids[$i]}" 2>/dev/null || die "${names[$i]} exited during start-up"
done
log "Swift Eats is running: http://$gateway_addr (gateway); PostgreSQL $SE_PG_URL, Redis $SE_REDIS_URL"
log "Ctrl-C stops everything"

# Stay in the foreground until a signal arrives or a child exits.
[ ${#pids[@]} -gt 0 ] || die "nothing to run: build/ has no binaries"
set +e
wait -n "${pids[@]}"
rc=$?
for i in "${!pids[@]}"; do
    kill -0 "${pids[$i]}" 2>/dev/null || log "${names[$i]} exited (status $rc); stopping everything"
done
exit 1
