#!/usr/bin/python3
"""Lists the Check suite executables that ctest knows in a build folder, for
scripts/test.sh's valgrind pass.

Usage: tests/list_suites.py <build-dir>

Prints one line per suite, "name<TAB>path<TAB>lock", where lock is the
suite's RESOURCE_LOCK list (comma-separated, "-" for none; see
tests/CMakeLists.txt). A suite is a test whose command is a compiled test_*
executable (not the Python end-to-end test or the protoc checks). Lines are
ordered by the time each suite took in the last ctest run in that folder
(Testing/Temporary/CTestCostData.txt), longest first, so a parallel runner
starts the slow ones first; suites without a recorded time come last.
Exits 1 with a message when ctest fails or lists no suite.
"""
import json
import os
import subprocess
import sys


def ctest_tests(build):
    out = subprocess.run(["ctest", "--test-dir", build, "--show-only=json-v1"],
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out).get("tests", [])


def last_costs(build):
    """name -> seconds, from the cost file ctest keeps between runs."""
    costs = {}
    path = os.path.join(build, "Testing", "Temporary", "CTestCostData.txt")
    try:
        with open(path) as f:
            for line in f:
                parts = line.split()
                if parts == ["---"]:
                    break
                if len(parts) == 3:
                    costs[parts[0]] = float(parts[2])
    except OSError:
        pass
    return costs


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: list_suites.py <build-dir>")
    build = sys.argv[1]
    try:
        tests = ctest_tests(build)
    except (subprocess.CalledProcessError, ValueError) as e:
        sys.exit("list_suites.py: ctest --show-only failed in %s: %s" % (build, e))
    costs = last_costs(build)
    suites = []
    for t in tests:
        cmd = t.get("command") or []
        if not cmd or not os.path.basename(cmd[0]).startswith("test_"):
            continue
        if not os.access(cmd[0], os.X_OK):
            continue
        props = {p["name"]: p["value"] for p in t.get("properties", [])}
        locks = props.get("RESOURCE_LOCK") or []
        suites.append((t["name"], cmd[0], ",".join(locks) or "-"))
    if not suites:
        sys.exit("list_suites.py: no test_* suite in %s" % build)
    suites.sort(key=lambda s: -costs.get(s[0], -1.0))
    for s in suites:
        print("\t".join(s))


if __name__ == "__main__":
    main()
