#!/usr/bin/env bash
# THE test command (`make test`, and CI through .ci/run):
#   1. install missing Debian packages (scripts/install-deps.sh)
#   2. configure and build in build/ with warnings as errors
#   3. check that gen/ is up to date (scripts/gen.sh --check)
#   4. start a throwaway PostgreSQL + Redis (scripts/stack.sh), stopped on exit
#   5. ctest (every Check suite), one suite at a time: the pg/redis suites
#      restart the shared servers
#   6. the Python interoperability test against the menu service
#   7. valgrind over the runtime unit tests (tests/unit -> build/tests)
#   8. an ASan+UBSan build in build-asan, running ctest again
# SE_TEST_QUICK=1 skips 7 and 8. SE_BUILD_DIR / SE_ASAN_BUILD_DIR move the
# build folders (default build, build-asan); SE_CTEST_ARGS adds ctest
# arguments (e.g. "-R test_pg" while working on one suite). Budget: about 15 minutes on 2
# cores.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
build=${SE_BUILD_DIR:-build}
asan_build=${SE_ASAN_BUILD_DIR:-build-asan}
case $build in /*) ;; *) build=$root/$build ;; esac
case $asan_build in /*) ;; *) asan_build=$root/$asan_build ;; esac
jobs=${SE_BUILD_JOBS:-$(nproc)}
read -r -a ctest_args <<<"${SE_CTEST_ARGS:-}"
quick=${SE_TEST_QUICK:-0}
started=$SECONDS

step() { printf '\n=== %s (%ds)\n' "$*" $((SECONDS - started)); }
die() { echo "test.sh: $*" >&2; exit 1; }

step "dependencies"
scripts/install-deps.sh

step "build ($build)"
cmake -S . -B "$build" -DSE_WERROR=ON >/dev/null
cmake --build "$build" -j "$jobs"

step "generated code is up to date"
SE_PROTOC_GEN_SE="$build/tools/protoc-gen-se/protoc-gen-se" scripts/gen.sh --check

step "local stack"
stack_dir=$(mktemp -d /tmp/swifteats-test.XXXXXX)
cleanup() {
    local rc=$?
    [ ! -f "$stack_dir/env" ] || scripts/stack.sh stop "$stack_dir" || true
    rm -rf "$stack_dir"
    exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM
scripts/stack.sh start "$stack_dir"
# shellcheck disable=SC1091
. "$stack_dir/env"

step "unit and integration tests (ctest)"
ctest --test-dir "$build" --output-on-failure --timeout 300 "${ctest_args[@]}"

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
    echo "test.sh: all passed in $((SECONDS - started))s (quick)"
    exit 0
fi

step "valgrind (runtime unit tests)"
vg_logs=$(mktemp -d /tmp/swifteats-vg.XXXXXX)
vg_failed=()
for t in "$build"/tests/test_*; do
    [ -x "$t" ] && [ -f "$t" ] || continue
    name=$(basename "$t")
    # Check's fork mode stays on: valgrind follows each forked test, and a
    # test with a memory error or a definite leak fails by name ("Early exit
    # with return value 1"). Timeouts stretched for valgrind's slowness.
    if CK_TIMEOUT_MULTIPLIER=10 timeout 900 valgrind --quiet --leak-check=full --show-leak-kinds=definite \
        --errors-for-leak-kinds=definite --error-exitcode=1 "$t" >"$vg_logs/$name.log" 2>&1; then
        echo "ok    $name"
    else
        echo "FAIL  $name"
        grep -v "^{" "$vg_logs/$name.log" | head -100 || true
        vg_failed+=("$name")
    fi
done
rm -rf "$vg_logs"
[ ${#vg_failed[@]} -eq 0 ] || die "valgrind failed: ${vg_failed[*]}"

step "ASan+UBSan build ($asan_build)"
cmake -S . -B "$asan_build" -DSE_WERROR=ON -DSE_SANITIZE=ON >/dev/null
cmake --build "$asan_build" -j "$jobs"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:strict_string_checks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
ctest --test-dir "$asan_build" --output-on-failure --timeout 300 "${ctest_args[@]}"

step "done"
echo "test.sh: all passed in $((SECONDS - started))s"
