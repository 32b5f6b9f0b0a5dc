# bench/lib.sh - what the end-to-end benchmarks (bench/menu, bench/orders)
# share; sourced, not run. Sets root, build, seconds, conns, work (a fresh
# temporary folder, removed on exit with every process started through
# bench_start and the stack) and LUA_PATH (wrk scripts require wrk_report).
# The caller sets bench_name first ("menu") for its log lines.
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${SE_BUILD_DIR:-$root/build}
case $build in /*) ;; *) build=$root/$build ;; esac
seconds=${SE_BENCH_SECONDS:-20}
conns=${SE_BENCH_CONNECTIONS:-64}
work=$(mktemp -d "/tmp/swifteats-bench-$bench_name.XXXXXX")
chmod 755 "$work"   # PostgreSQL runs as another user when we are root
export LUA_PATH="$root/bench/?.lua;;"
bench_pids=()

bench_cleanup() {
    for p in "${bench_pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    [ ! -f "$work/stack/env" ] || "$root/scripts/stack.sh" stop "$work/stack" >/dev/null || true
    # SE_BENCH_KEEP=1 keeps the components' logs for a look afterwards
    if [ "${SE_BENCH_KEEP:-0}" = 1 ]; then log "logs kept in $work"; else rm -rf "$work"; fi
}
trap bench_cleanup EXIT

log() { echo "bench/$bench_name: $*" >&2; }
free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_http() { # url
    for _ in $(seq 200); do curl -sf -o /dev/null "$1" && return 0; sleep 0.05; done
    log "no answer from $1"; exit 1
}
wait_tcp() { # port
    for _ in $(seq 200); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.05; done
    log "nothing listens on $1"; exit 1
}

# Starts PostgreSQL + Redis in $work/stack and exports SE_PG_URL, SE_REDIS_URL.
bench_stack_start() {
    "$root/scripts/stack.sh" start "$work/stack" >/dev/null
    # shellcheck disable=SC1091
    . "$work/stack/env"
    export SE_PG_URL SE_REDIS_URL
}

# bench_start NAME cmd...: runs cmd in the background, output to
# $work/NAME.log; stopped by the cleanup. Sets bench_last_pid.
bench_start() {
    local name=$1; shift
    "$@" >"$work/$name.log" 2>&1 &
    bench_last_pid=$!
    bench_pids+=("$bench_last_pid")
}

# bench_wrk SCENARIO PORT LUA [wrk args...]: one wrk run of $seconds with
# $conns connections on 2 threads; prints the script's JSON line with
# "scenario" first.
bench_wrk() {
    local scenario=$1 port=$2 lua=$3; shift 3
    log "$scenario: wrk -t2 -c$conns -d${seconds}s"
    local line
    line=$(wrk -t2 -c"$conns" -d"${seconds}s" --timeout 5s -s "$lua" "$@" "http://127.0.0.1:$port" | tail -1)
    echo "{\"scenario\":\"$scenario\",${line#\{}"
}
