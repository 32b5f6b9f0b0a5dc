#!/usr/bin/env bash
# THE test command (`make test`, and CI through .ci/run):
#   1. install missing Debian packages (scripts/install-deps.sh)
#   2. configure and build in build/ with warnings as errors
#   3. check that gen/ is up to date (scripts/gen.sh --check)
#   4. start a throwaway PostgreSQL + Redis (scripts/stack.sh), stopped on exit
#   5. ctest (every Check suite, the protoc checks, the gateway end-to-end
#      test), two at a time: the suites that use the shared PostgreSQL/Redis
#      hold RESOURCE_LOCK se_stack (tests/CMakeLists.txt), since test_pg and
#      test_redis restart those servers
#   6. the Python interoperability test against the menu service
#   7. valgrind over every Check suite (tests/unit, tests/unit/gateway and the
#      generator fixture), two at a time, the se_stack suites one after the
#      other; memory errors and definite or indirect leaks fail, known
#      third-party noise is suppressed by tests/valgrind.supp ("possibly
#      lost" is not checked: gRPC, abseil and h2o keep interior pointers,
#      and gRPC 1.51 exits with reconnect work still in flight)
#   8. an ASan+UBSan build in build-asan, running ctest again
# Time bounds inside the suites scale with SE_TEST_TIME_SCALE
# (tests/unit/se_test.h): 10 for the valgrind pass, 3 for the sanitizer pass.
#
# SE_TEST_QUICK=1 skips 7 and 8. SE_BUILD_DIR / SE_ASAN_BUILD_DIR move the
# build folders (default build, build-asan); SE_CTEST_ARGS adds ctest
# arguments (e.g. "-R test_pg" while working on one suite); SE_TEST_JOBS
# sets how many suites run at once (default 2). Budget: under 10 minutes on
# 2 cores from a clean clone (the two builds are most of it).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
build=${SE_BUILD_DIR:-build}
asan_build=${SE_ASAN_BUILD_DIR:-build-asan}
case $build in /*) ;; *) build=$root/$build ;; esac
case $asan_build in /*) ;; *) asan_build=$root/$asan_build ;; esac
jobs=${SE_BUILD_JOBS:-$(nproc)}
test_jobs=${SE_TEST_JOBS:-2}
read -r -a ctest_args <<<"${SE_CTEST_ARGS:-}"
quick=${SE_TEST_QUICK:-0}
started=$SECONDS
step_name=""
step_started=$SECONDS
timings=()

# Starts a step; records how long the previous one took.
step() {
    [ -z "$step_name" ] || timings+=("$(printf '%5ds  %s' $((SECONDS - step_started)) "$step_name")")
    step_name=$*
    step_started=$SECONDS
    printf '\n=== %s (%ds)\n' "$*" $((SECONDS - started))
}
summary() {
    step "done"
    echo "test.sh: time per step"
    printf '  %s\n' "${timings[@]}"
}
die() { echo "test.sh: $*" >&2; exit 1; }

run_ctest() {
    ctest --test-dir "$1" --output-on-failure --timeout 300 -j "$test_jobs" "${ctest_args[@]}"
}

step "dependencies"
scripts/install-deps.sh

step "build ($build)"
cmake -S . -B "$build" -DSE_WERROR=ON >/dev/null
cmake --build "$build" -j "$jobs"

step "generated code is up to date"
SE_PROTOC_GEN_SE="$build/tools/protoc-gen-se/protoc-gen-se" scripts/gen.sh --check

step "local stack"
stack_dir=$(mktemp -d /tmp/swifteats-test.XXXXXX)
vg_logs=""
cleanup() {
    local rc=$?
    [ ! -f "$stack_dir/env" ] || scripts/stack.sh stop "$stack_dir" || true
    rm -rf "$stack_dir"
    [ -z "$vg_logs" ] || rm -rf "$vg_logs"
    exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM
scripts/stack.sh start "$stack_dir"
# shellcheck disable=SC1091
. "$stack_dir/env"

step "unit and integration tests (ctest -j$test_jobs)"
run_ctest "$build"

step "interoperability test (python3-grpcio)"
interop=tests/interop/test_python_client.py
menu_bin=$build/services/menu/se-menu
if [ -f "$interop" ] && [ -x "$menu_bin" ]; then
    timeout 300 /usr/bin/python3 "$interop" "$menu_bin"
else
    echo "not run: needs $interop and $menu_bin"
fi

if [ "$quick" = 1 ]; then
    step "SE_TEST_QUICK=1: valgrind and sanitizer passes skipped"
    summary
    echo "test.sh: all passed in $((SECONDS - started))s (quick)"
    exit 0
fi

# ---- valgrind ---------------------------------------------------------------

# Runs one suite under valgrind; writes <name>.log and, on failure, <name>.fail.
# Check's fork mode stays on: valgrind follows each forked test, and a test
# with a memory error or a leak fails by name ("Early exit with return value
# 1"). Check's timeouts and our time bounds are stretched for valgrind.
vg_one() {
    local name=$1 path=$2 t0=$SECONDS rc=0
    SE_TEST_TIME_SCALE=${SE_VG_TIME_SCALE:-10} CK_TIMEOUT_MULTIPLIER=10 timeout 900 \
        valgrind --quiet --error-exitcode=1 --num-callers=40 \
        --leak-check=full --show-leak-kinds=definite,indirect \
        --errors-for-leak-kinds=definite,indirect \
        --suppressions="$root/tests/valgrind.supp" \
        "$path" >"$vg_logs/$name.log" 2>&1 || rc=$?
    if [ $rc -eq 0 ]; then
        printf 'ok    %-20s %4ds\n' "$name" $((SECONDS - t0))
    else
        printf 'FAIL  %-20s %4ds (exit %d)\n' "$name" $((SECONDS - t0)) $rc
        : >"$vg_logs/$name.fail"
    fi
}

# The suites holding a resource lock, one after the other.
vg_locked_chain() {
    local name path
    while IFS=$'\t' read -r name path; do
        vg_one "$name" "$path"
    done <"$vg_logs/locked.list"
}

# Waits until fewer than $test_jobs background runs are going.
vg_wait_slot() {
    while [ "$(jobs -rp | wc -l)" -ge "$test_jobs" ]; do
        wait -n || true
    done
}

step "valgrind (every Check suite, $test_jobs at a time)"
vg_logs=$(mktemp -d /tmp/swifteats-vg.XXXXXX)
/usr/bin/python3 tests/list_suites.py "$build" >"$vg_logs/suites.list"
awk -F'\t' '$3 != "-" {print $1 "\t" $2}' "$vg_logs/suites.list" >"$vg_logs/locked.list"
vg_locked_chain &
while IFS=$'\t' read -r name path lock; do
    [ "$lock" = "-" ] || continue
    vg_wait_slot
    vg_one "$name" "$path" &
done <"$vg_logs/suites.list"
wait
vg_failed=()
for f in "$vg_logs"/*.fail; do
    [ -e "$f" ] || continue
    name=$(basename "$f" .fail)
    vg_failed+=("$name")
    echo "---- valgrind: $name (failed tests, then the first reports)"
    grep -E '^[0-9]+%: Checks|:[EF]:' "$vg_logs/$name.log" || true
    grep -v '^{' "$vg_logs/$name.log" | head -150 || true
done
[ ${#vg_failed[@]} -eq 0 ] || die "valgrind failed: ${vg_failed[*]}"

# ---- sanitizers -------------------------------------------------------------

step "ASan+UBSan build ($asan_build)"
cmake -S . -B "$asan_build" -DSE_WERROR=ON -DSE_SANITIZE=ON >/dev/null
cmake --build "$asan_build" -j "$jobs"

step "unit and integration tests under ASan+UBSan (ctest -j$test_jobs)"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:strict_string_checks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export SE_TEST_TIME_SCALE=${SE_ASAN_TIME_SCALE:-3}
run_ctest "$asan_build"

summary
echo "test.sh: all passed in $((SECONDS - started))s"
