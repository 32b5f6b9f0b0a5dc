#!/usr/bin/env bash
# bench/transcode: CPU cost of the gateway's JSON transcoder (no I/O).
# Usage: bench/transcode/run.sh [SECONDS_PER_CASE=1]
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
bin=${SE_BENCH_TRANSCODE:-$root/build/bench/se-bench-transcode}
exec "$bin" "${1:-1}"
