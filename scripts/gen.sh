#!/usr/bin/env bash
# Regenerates gen/ from proto/ (the single source of truth).
#   scripts/gen.sh            rewrite gen/ in place
#   scripts/gen.sh --check    regenerate into a temporary folder and fail if
#                             gen/ differs (CI runs this)
# Needs protoc, protoc-c and our plugin (built by `make gen` first; path in
# SE_PROTOC_GEN_SE, default build/tools/protoc-gen-se/protoc-gen-se).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
plugin=${SE_PROTOC_GEN_SE:-$root/build/tools/protoc-gen-se/protoc-gen-se}
check=0
[ "${1:-}" = "--check" ] && check=1

# Our own contracts, relative to proto/.
mapfile -t own < <(cd "$root/proto" && find . -name '*.proto' | sed 's|^\./||' | LC_ALL=C sort)
# System protos we need compiled too: descriptor/plugin for the generator,
# the well-known types our contracts import, health and reflection.
system=(google/protobuf/descriptor.proto google/protobuf/compiler/plugin.proto
        google/protobuf/timestamp.proto
        grpc/health/v1/health.proto grpc/reflection/v1/reflection.proto
        grpc/reflection/v1alpha/reflection.proto)
# Files whose services get our stubs (and whose descriptors reflection serves).
stubs=("${own[@]}" grpc/health/v1/health.proto grpc/reflection/v1/reflection.proto
       grpc/reflection/v1alpha/reflection.proto)

inc=(-I"$root/proto" -I/usr/include -I/usr/share/grpc-proto)

generate() {
    local out=$1
    mkdir -p "$out"
    protoc-c "${inc[@]}" --c_out="$out" "${own[@]}" "${system[@]}"
    if [ ! -x "$plugin" ]; then
        echo "gen.sh: plugin $plugin not built (run: make gen)" >&2
        exit 1
    fi
    protoc "${inc[@]}" --plugin=protoc-gen-se="$plugin" --se_out="$out" "${stubs[@]}"
}

if [ $check = 1 ]; then
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' EXIT
    generate "$tmp/gen"
    cp "$root/gen/CMakeLists.txt" "$tmp/gen/"
    if ! diff -r "$root/gen" "$tmp/gen" >"$tmp/diff"; then
        head -50 "$tmp/diff" >&2
        echo "gen.sh: gen/ is stale; run 'make gen' and commit the result" >&2
        exit 1
    fi
    echo "gen/ is up to date"
else
    # Keep gen/CMakeLists.txt, replace everything generated.
    find "$root/gen" -mindepth 1 -maxdepth 1 ! -name CMakeLists.txt -exec rm -rf {} +
    generate "$root/gen"
fi
