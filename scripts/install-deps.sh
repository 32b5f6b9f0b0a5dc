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
    # Kubernetes chart checks (make k8s-check): the Go renderer on Debian's
    # packaged sprig (helm's template functions), its schema and YAML
    # libraries, yamllint, and Node.js for the schema and policy checker
    golang-go golang-github-masterminds-sprig-dev golang-github-masterminds-semver-dev
    golang-github-xeipuuv-gojsonschema-dev golang-gopkg-yaml.v3-dev yamllint nodejs
)

# One dpkg-query for all: it prints the packages it knows (unknown ones only
# complain on stderr); anything not reported "installed" is missing.
installed=" $(dpkg-query -W -f='${Package}:${db:Status-Status} ' "${packages[@]}" 2>/dev/null || true) "
missing=()
for p in "${packages[@]}"; do
    [[ "$installed" == *" $p:installed "* ]] || missing+=("$p")
done
# npm: NodeSource's nodejs carries its own; Debian's nodejs needs the npm
# package (which conflicts with NodeSource's), so ask for it only then.
command -v npm >/dev/null 2>&1 || missing+=(npm)

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
