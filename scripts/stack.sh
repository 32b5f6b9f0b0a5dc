#!/usr/bin/env bash
# A throwaway PostgreSQL 15 and Redis 7 of our own: free ports, data and logs
# in one folder, never the machine's system services.
#
#   scripts/stack.sh start <dir>        initdb + start both, create database
#                                       swifteats, write <dir>/env
#   scripts/stack.sh stop <dir>         stop exactly what start started
#   scripts/stack.sh stop-pg|start-pg <dir>        restart PostgreSQL alone
#   scripts/stack.sh stop-redis|start-redis <dir>  restart Redis alone
#                                       (same ports, same data; for tests)
#
# <dir>/env (sourceable) holds SE_PG_URL, SE_REDIS_URL, SE_STACK_DIR and the
# ports and pids. PostgreSQL refuses to run as root: as root the server runs
# as the unprivileged user `postgres` (or `swifteats`, created if neither
# exists), which then owns <dir>.
set -euo pipefail

PG_BIN=${SE_PG_BIN:-/usr/lib/postgresql/15/bin}
WAIT_SECONDS=30

die() { echo "stack.sh: $*" >&2; exit 1; }

usage() {
    echo "usage: $0 start|stop|start-pg|stop-pg|start-redis|stop-redis <dir>" >&2
    exit 2
}

# The user PostgreSQL runs as ("" = the current one).
pg_user() {
    if [ "$(id -u)" != 0 ]; then echo ""; return; fi
    if id -u postgres >/dev/null 2>&1; then echo postgres; return; fi
    if ! id -u swifteats >/dev/null 2>&1; then
        useradd --system --no-create-home --shell /usr/sbin/nologin swifteats
    fi
    echo swifteats
}

# Runs a command as the PostgreSQL user.
as_pg() {
    local u
    u=$(pg_user)
    if [ -z "$u" ]; then "$@"; else runuser -u "$u" -- "$@"; fi
}

free_port() {
    /usr/bin/python3 -c 'import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Polls `cmd...` until it succeeds, for at most WAIT_SECONDS.
wait_for() {
    local what=$1; shift
    local deadline=$((SECONDS + WAIT_SECONDS))
    until "$@" >/dev/null 2>&1; do
        [ $SECONDS -lt $deadline ] || die "$what did not become ready in ${WAIT_SECONDS}s"
        sleep 0.1
    done
}

load_env() {
    [ -f "$dir/env" ] || die "$dir/env not found (run: $0 start $dir)"
    # shellcheck disable=SC1091
    . "$dir/env"
}

write_env() {
    local pg_pid redis_pid
    pg_pid=$(head -1 "$dir/pg/postmaster.pid" 2>/dev/null || true)
    redis_pid=$(cat "$dir/redis.pid" 2>/dev/null || true)
    cat >"$dir/env.tmp" <<EOF
SE_STACK_DIR=$dir
SE_PG_PORT=$SE_PG_PORT
SE_REDIS_PORT=$SE_REDIS_PORT
SE_PG_URL=postgresql://swifteats@127.0.0.1:$SE_PG_PORT/swifteats
SE_REDIS_URL=redis://127.0.0.1:$SE_REDIS_PORT/0
SE_PG_PID=$pg_pid
SE_REDIS_PID=$redis_pid
export SE_STACK_DIR SE_PG_PORT SE_REDIS_PORT SE_PG_URL SE_REDIS_URL SE_PG_PID SE_REDIS_PID
EOF
    mv "$dir/env.tmp" "$dir/env"
}

# ---- PostgreSQL -------------------------------------------------------------

pg_init() {
    [ -x "$PG_BIN/initdb" ] || die "$PG_BIN/initdb not found (install postgresql-15: scripts/install-deps.sh)"
    local u
    u=$(pg_user)
    if [ -n "$u" ]; then
        chown -R "$u" "$dir"
        runuser -u "$u" -- test -w "$dir" ||
            die "user $u cannot write $dir (a parent folder is not accessible to it?)"
    fi
    as_pg "$PG_BIN/initdb" -D "$dir/pg" -U swifteats --auth=trust -E UTF8 --locale=C.UTF-8 \
        >"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log" >&2; die "initdb failed"; }
    # A unix socket path must fit in 107 bytes; otherwise TCP only.
    local sockdir="$dir"
    [ ${#dir} -le 80 ] || sockdir=""
    cat >>"$dir/pg/postgresql.conf" <<EOF
# swifteats throwaway stack
listen_addresses = '127.0.0.1'
unix_socket_directories = '$sockdir'
fsync = on
max_connections = 200
logging_collector = off
log_min_messages = warning
# per-statement counters for profiling (bench/orders prints the top ones)
shared_preload_libraries = 'pg_stat_statements'
pg_stat_statements.track_planning = on
EOF
}

pg_start() {
    as_pg "$PG_BIN/pg_ctl" -D "$dir/pg" -l "$dir/pg.log" -o "-p $SE_PG_PORT" -w -t "$WAIT_SECONDS" start \
        >/dev/null || { tail -20 "$dir/pg.log" >&2; die "PostgreSQL did not start on port $SE_PG_PORT"; }
    wait_for "PostgreSQL" "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$SE_PG_PORT"
}

pg_stop() {
    [ -f "$dir/pg/postmaster.pid" ] || return 0
    as_pg "$PG_BIN/pg_ctl" -D "$dir/pg" -m fast -w -t "$WAIT_SECONDS" stop >/dev/null ||
        echo "stack.sh: pg_ctl stop failed (see $dir/pg.log)" >&2
}

# ---- Redis ------------------------------------------------------------------

redis_config() {
    mkdir -p "$dir/redis"
    cat >"$dir/redis.conf" <<EOF
# swifteats throwaway stack
port $SE_REDIS_PORT
bind 127.0.0.1
protected-mode yes
daemonize yes
pidfile $dir/redis.pid
logfile $dir/redis.log
loglevel warning
dir $dir/redis
save ""
appendonly yes
appendfsync everysec
EOF
}

# PONG, not just an answer: while Redis loads its append-only file it
# answers every command (PING included) with a LOADING error.
redis_pong() {
    [ "$(redis-cli -h 127.0.0.1 -p "$SE_REDIS_PORT" ping 2>/dev/null)" = PONG ]
}

redis_start() {
    command -v redis-server >/dev/null || die "redis-server not found (scripts/install-deps.sh)"
    rm -f "$dir/redis.pid"
    redis-server "$dir/redis.conf" || die "redis-server failed (see $dir/redis.log)"
    wait_for "Redis" redis_pong
    wait_for "Redis pidfile" test -s "$dir/redis.pid"
}

redis_stop() {
    local pid
    pid=$(cat "$dir/redis.pid" 2>/dev/null || true)
    [ -n "$pid" ] || return 0
    # Only the redis-server we started (pid reuse is possible after a crash).
    if tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q "redis-server.*:$SE_REDIS_PORT"; then
        kill "$pid"
        local deadline=$((SECONDS + WAIT_SECONDS))
        while kill -0 "$pid" 2>/dev/null; do
            [ $SECONDS -lt $deadline ] || { kill -9 "$pid" 2>/dev/null || true; break; }
            sleep 0.05
        done
    fi
    rm -f "$dir/redis.pid"
}

# ---- commands ---------------------------------------------------------------

# A start that fails half-way stops whatever it had started.
start_failed() {
    echo "stack.sh: start failed; stopping what was started" >&2
    redis_stop || true
    pg_stop || true
}

cmd_start() {
    [ ! -e "$dir/pg" ] || die "$dir already holds a stack (stop it, or use another folder)"
    mkdir -p "$dir"
    trap start_failed EXIT
    pg_init
    local try
    for try in 1 2 3; do
        SE_PG_PORT=$(free_port)
        if as_pg "$PG_BIN/pg_ctl" -D "$dir/pg" -l "$dir/pg.log" -o "-p $SE_PG_PORT" -w -t "$WAIT_SECONDS" \
            start >/dev/null 2>&1; then
            break
        fi
        [ $try -lt 3 ] || { tail -20 "$dir/pg.log" >&2; die "PostgreSQL did not start"; }
    done
    wait_for "PostgreSQL" "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$SE_PG_PORT"
    "$PG_BIN/createdb" -h 127.0.0.1 -p "$SE_PG_PORT" -U swifteats swifteats
    SE_REDIS_PORT=$(free_port)
    redis_config
    redis_start
    write_env
    trap - EXIT
    echo "stack.sh: PostgreSQL on 127.0.0.1:$SE_PG_PORT, Redis on 127.0.0.1:$SE_REDIS_PORT ($dir/env)"
}

[ $# -eq 2 ] || usage
cmd=$1
[ "$cmd" != start ] || mkdir -p "$2"
dir=$(cd "$2" 2>/dev/null && pwd) || die "no such folder: $2"

case "$cmd" in
    start) cmd_start ;;
    stop) load_env; redis_stop; pg_stop ;;
    stop-pg) load_env; pg_stop ;;
    start-pg) load_env; pg_start; write_env ;;
    stop-redis) load_env; redis_stop ;;
    start-redis) load_env; redis_start; write_env ;;
    *) usage ;;
esac
