#!/usr/bin/env bash
# Builds the container image's contents into a staging root: THE build
# steps of the Dockerfile's build stage, which only runs this script, so
# the image and CI cannot drift (scripts/k8s-check.sh runs it too).
#
#   scripts/image-build.sh [--deps] [--build-dir DIR] [--dest DIR] [--jobs N]
#       install missing packages (--deps: scripts/install-deps.sh), configure
#       a Release build in DIR (default build-image), build the component
#       binaries only, then stage them
#   scripts/image-build.sh --from-build DIR [--dest DIR]
#       stage the binaries of an existing build folder instead (CI: the
#       build/ that `make test` just made; nothing is compiled)
#
# Staging (DEST, default build-image/root) holds what the runtime stage
# copies over debian:12-slim:
#   usr/local/bin/se-*                         every component binary (stripped)
#   usr/local/share/swifteats/binaries         their names, one a line
#   usr/local/share/swifteats/runtime-packages the Debian packages of the
#       shared libraries they link (found with ldd + dpkg -S), which the
#       runtime stage apt-get installs: no hand-kept list to forget a library
# It fails when a binary is missing or a library belongs to no package.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

# The binaries of the image: CMake target = file name, and its folder in a
# build tree. deploy/k8s/templates/_helpers.tpl names the same binaries;
# scripts/k8s-check.sh checks every one the chart runs is staged.
binaries=(
    gateway/se-gateway
    services/menu/se-menu
    services/order/se-order
    services/logistics/se-logistics
    services/payment_gateway/se-payment-gateway
    workers/payment/se-payment-worker
    workers/location/se-location-worker
)

deps=0 from_build="" build_dir=build-image dest="" jobs=${SE_BUILD_JOBS:-2}
while [ $# -gt 0 ]; do
    case $1 in
        --deps) deps=1 ;;
        --from-build) from_build=${2:?}; shift ;;
        --build-dir) build_dir=${2:?}; shift ;;
        --dest) dest=${2:?}; shift ;;
        --jobs) jobs=${2:?}; shift ;;
        *) echo "usage: $0 [--deps] [--build-dir DIR | --from-build DIR] [--dest DIR] [--jobs N]" >&2; exit 2 ;;
    esac
    shift
done
dest=${dest:-build-image/root}
die() { echo "image-build.sh: $*" >&2; exit 1; }

if [ -n "$from_build" ]; then
    build_dir=$from_build
else
    [ "$deps" = 0 ] || scripts/install-deps.sh
    cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE=Release -DSE_WERROR=ON >/dev/null
    targets=()
    for b in "${binaries[@]}"; do targets+=(--target "$(basename "$b")"); done
    cmake --build "$build_dir" -j "$jobs" "${targets[@]}"
fi

rm -rf "$dest"
mkdir -p "$dest/usr/local/bin" "$dest/usr/local/share/swifteats"
libs=()
for b in "${binaries[@]}"; do
    src=$build_dir/$b
    [ -x "$src" ] || die "$src is missing (build it first, or drop --from-build)"
    install -m 0755 -s "$src" "$dest/usr/local/bin/"
    basename "$b" >>"$dest/usr/local/share/swifteats/binaries"
    # Every NEEDED library, resolved; "not found" fails the build.
    while read -r name _ path _; do
        [ "$path" != "not" ] || die "$b: library $name not found"
        [ -z "$path" ] || libs+=("$path")
    done < <(ldd "$src" | grep '=>' )
done

# The packages shipping those libraries, with one dpkg-query call. Debian 12
# merged /lib into /usr/lib, but dpkg knows each file under the one path
# its package used: ask for both spellings, and every library must have an
# owner under one of them.
mapfile -t unique_libs < <(printf '%s\n' "${libs[@]}" | sort -u)
spellings=()
for lib in "${unique_libs[@]}"; do spellings+=("$lib" "/usr${lib#/usr}" "${lib#/usr}"); done
owners=$(dpkg-query -S "${spellings[@]}" 2>/dev/null || true)
packages=()
for lib in "${unique_libs[@]}"; do
    base=${lib#/usr}
    owner=$(awk -v a="$base" -v b="/usr$base" '$NF == a || $NF == b { sub(/:.*/, "", $1); print $1; exit }' <<<"$owners")
    [ -n "$owner" ] || die "no Debian package ships $lib"
    packages+=("$owner")
done
printf '%s\n' "${packages[@]}" | sort -u >"$dest/usr/local/share/swifteats/runtime-packages"

echo "image-build.sh: staged ${#binaries[@]} binaries into $dest;" \
    "runtime packages: $(tr '\n' ' ' <"$dest/usr/local/share/swifteats/runtime-packages")"
