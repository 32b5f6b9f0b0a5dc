#!/usr/bin/env bash
# make bench: every benchmark under bench/, each bounded in time, loopback only.
# Usage: bench/run.sh [name...]   (default: all)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
names=("$@")
[ ${#names[@]} -gt 0 ] || names=(rpc menu orders drivers transcode)
failed=()
for n in "${names[@]}"; do
    echo "== bench/$n" >&2
    "$here/$n/run.sh" || failed+=("$n")
done
[ ${#failed[@]} -eq 0 ] || { echo "bench: below a floor or failed: ${failed[*]}" >&2; exit 1; }
