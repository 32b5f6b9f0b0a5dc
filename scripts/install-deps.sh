#!/usr/bin/env bash
# Installs the Debian 12 packages the project needs, only when one is
# missing (a fully set-up machine costs one dpkg-query, no apt call).
# As root: apt-get update once, then apt-get install. Otherwise: prints the
# exact command to run and exits 1.
set -euo pipefail

packages=(
    # build
    build-essential cmake pkg-config
    # gRPC C core, protobuf, protobuf-c, our protoc plugin
    libgrpc-dev protobuf-compiler libprotoc-dev libprotobuf-dev
    protobuf-c-compiler libprotobuf-c-dev grpc-proto
    # stores
    libhiredis-dev libpq-dev postgresql-15 redis-server
    # gateway: h2o (evloop flavour) and its link dependencies
    libh2o-evloop-dev libwslay-dev libssl-dev zlib1g-dev
    # tests, interop and benchmarks
    check libsubunit-dev valgrind python3 python3-grpcio python3-grpc-tools
    python3-protobuf python3-websockets wrk nghttp2-client curl
)

# One dpkg-query for all: it prints the packages it knows (unknown ones only
# complain on stderr); anything not reported "installed" is missing.
installed=" $(dpkg-query -W -f='${Package}:${db:Status-Status} ' "${packages[@]}" 2>/dev/null || true) "
missing=()
for p in "${packages[@]}"; do
    [[ "$installed" == *" $p:installed "* ]] || missing+=("$p")
done

if [ ${#missing[@]} -eq 0 ]; then
    exit 0
fi

cmd=(apt-get install -y --no-install-recommends "${missing[@]}")
if [ "$(id -u)" != 0 ]; then
    echo "install-deps.sh: missing packages: ${missing[*]}" >&2
    echo "run as root:  apt-get update && ${cmd[*]}" >&2
    exit 1
fi

echo "install-deps.sh: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
"${cmd[@]}"
# The package starts the machine's own PostgreSQL and Redis; we never use
# them (scripts/stack.sh runs private ones), so leave them as they are.
