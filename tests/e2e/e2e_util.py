"""Helpers shared by the end-to-end scripts in tests/e2e/: finding the built
binaries, free ports, component processes whose JSON log lines go to a file
(wait for an event, read the "listening" port, stop by SIGTERM), the
temporary directory holding their logs, one HTTP request, and the test runner
that counts and reports passes and failures.

The scripts run as `/usr/bin/python3 tests/e2e/<file>.py`; Python puts the
script's folder first on sys.path, so `import e2e_util` works from any cwd.
"""
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import traceback

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
BUILD = os.environ.get("SE_BUILD_DIR") or os.path.join(ROOT, "build")


def find_binary(name):
    """Path of the executable `name` anywhere under BUILD (SE_BUILD_DIR)."""
    for root, _dirs, files in os.walk(BUILD):
        if name in files and os.access(os.path.join(root, name), os.X_OK):
            return os.path.join(root, name)
    raise RuntimeError("binary %s not found under %s (set SE_BUILD_DIR)" % (name, BUILD))


def free_port():
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Proc:
    """A process whose JSON log lines (stdout and stderr) go to <tmp>/<name>.log.

    log_level: SE_LOG_LEVEL to set unless env or the environment has one
    (None: leave it unset). stop_timeout: default seconds stop() waits."""

    def __init__(self, tmp, name, argv, env, log_level="info", stop_timeout=10.0):
        self.name = name
        self.log_path = os.path.join(tmp, name + ".log")
        full_env = dict(os.environ)
        full_env.update(env)
        if log_level is not None:
            full_env.setdefault("SE_LOG_LEVEL", log_level)
        self.stop_timeout = stop_timeout
        self.log = open(self.log_path, "wb")
        self.p = subprocess.Popen(argv, stdout=self.log, stderr=subprocess.STDOUT, env=full_env)
        self.port = None

    def lines(self):
        out = []
        with open(self.log_path, "rb") as f:
            for raw in f:
                try:
                    out.append(json.loads(raw))
                except ValueError:
                    out.append({"raw": raw.decode(errors="replace")})
        return out

    def events(self, event, pred=None):
        return [l for l in self.lines() if l.get("event") == event and (pred is None or pred(l))]

    def wait_event(self, event, timeout=15.0, pred=None, count=1):
        """The last of the first `count` log lines with this event (and pred);
        AssertionError with the log tail on timeout or once the process has
        exited without writing them."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            exited = self.p.poll() is not None
            found = self.events(event, pred)  # read after poll: nothing more comes
            if len(found) >= count:
                return found[-1]
            if exited:
                break
            time.sleep(0.02)
        raise AssertionError("%s: no %d x %r log line (exit=%s); log tail:\n%s" % (
            self.name, count, event, self.p.poll(), open(self.log_path).read()[-3000:]))

    def wait_listening(self):
        """Waits for the "listening" line; sets and returns self.port."""
        self.port = int(self.wait_event("listening")["port"])
        return self.port

    def stop(self, timeout=None):
        """SIGTERM, returns the exit code (SIGKILL and AssertionError after timeout)."""
        timeout = self.stop_timeout if timeout is None else timeout
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
            try:
                self.p.wait(timeout)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
                raise AssertionError("%s did not stop within %.0fs" % (self.name, timeout))
        return self.p.returncode

    def kill(self):
        if self.p.poll() is None:
            self.p.kill()
            self.p.wait()
        self.log.close()


class ProcEnv:
    """A temporary directory for logs and the processes started in it."""

    def __init__(self, prefix):
        self.tmp = tempfile.mkdtemp(prefix=prefix)
        self.procs = []

    def add(self, p):
        self.procs.append(p)
        return p

    def kill_all(self):
        for p in self.procs:
            p.kill()

    def remove_tmp(self):
        if os.environ.get("SE_E2E_KEEP"):
            print("logs kept in", self.tmp)
        else:
            shutil.rmtree(self.tmp, ignore_errors=True)

    def close(self):
        self.kill_all()
        self.remove_tmp()


def http_request(port, path, headers=None, method="GET", body=None, conn=None):
    """(response, body bytes) of one request on conn, or on a new connection
    to 127.0.0.1:port that is closed afterwards."""
    c = conn or http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    c.request(method, path, body=body, headers=headers or {})
    r = c.getresponse()
    data = r.read()
    if conn is None:
        c.close()
    return r, data


def run_tests(make_env, tests, setup=None):
    """Builds the env, runs setup(env) then each test(env) in order, counting
    passes and failures (a set-up failure counts as one); closes the env.
    Prints "N passed, N failed"; returns the exit code (1 on any failure)."""
    env = None
    passed = failed = 0
    try:
        env = make_env()
        if setup:
            setup(env)
        for t in tests:
            t0 = time.monotonic()
            try:
                t(env)
                passed += 1
                print("PASS %s (%.2fs)" % (t.__name__, time.monotonic() - t0))
            except Exception:  # noqa: BLE001 - reported, counted, and the run goes on
                failed += 1
                print("FAIL %s\n%s" % (t.__name__, traceback.format_exc()))
    except Exception:  # noqa: BLE001 - set-up failure
        failed += 1
        print("FAIL setup\n%s" % traceback.format_exc())
    finally:
        if env is not None:
            env.close()
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0
