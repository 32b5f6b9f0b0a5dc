#!/usr/bin/python3
"""End-to-end test of se-gateway and the component binaries.

Starts se-menu, se-order, se-logistics and se-payment-gateway on ports the OS
picks (listen address port 0; the port is read back from each process's
"listening" log line), then se-gateway the same way with
SE_<NAME>_TARGET pointing at them, and checks real HTTP/1.1 and HTTP/2
responses. Also starts the two placeholder workers against a Redis that is
down and one that is up.

Run: SE_BUILD_DIR=<cmake build dir> /usr/bin/python3 tests/e2e/test_gateway.py
(ctest sets SE_BUILD_DIR; see gateway/CMakeLists.txt). Needs nghttp and
h2load (nghttp2-client); redis-server for the worker check (skipped if absent).
Prints "N passed, N failed" and exits non-zero on any failure.
"""
import http.client
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # e2e_util, from any cwd
from e2e_util import ProcEnv, Proc, find_binary, free_port, http_request, run_tests

SERVICES = {  # binary -> config name
    "se-menu": "MENU",
    "se-order": "ORDER",
    "se-logistics": "LOGISTICS",
    "se-payment-gateway": "PAYMENT_GATEWAY",
}
BACKEND_NAMES = {"MENU": "menu", "ORDER": "order", "LOGISTICS": "logistics",
                 "PAYMENT_GATEWAY": "payment_gateway"}


class Env(ProcEnv):
    def __init__(self):
        super().__init__("se-e2e-")
        self.services = {}
        self.gateway = None

    def start(self, binary, env, tag=None):
        return self.add(Proc(self.tmp, tag or binary, [find_binary(binary)], env))

    def start_service(self, binary, port=0):
        cfg = SERVICES[binary]
        p = self.start(binary, {"SE_%s_ADDR" % cfg: "127.0.0.1:%d" % port},
                       tag="%s-%d" % (binary, len(self.procs)))
        p.wait_listening()
        self.services[cfg] = p
        return p

    def start_gateway(self):
        env = {"SE_GATEWAY_ADDR": "127.0.0.1:0", "SE_GATEWAY_THREADS": "2",
               "SE_GATEWAY_READYZ_TIMEOUT_MS": "2000"}
        for cfg, p in self.services.items():
            env["SE_%s_TARGET" % cfg] = "127.0.0.1:%d" % p.port
        self.gateway = self.start("se-gateway", env)
        self.gateway.wait_listening()


def get(env, path, headers=None, method="GET", conn=None):
    return http_request(env.gateway.port, path, headers, method, conn=conn)


def poll_readyz(env, want_status, timeout=15.0):
    deadline = time.monotonic() + timeout
    while True:
        r, body = get(env, "/readyz")
        if r.status == want_status or time.monotonic() > deadline:
            return r, json.loads(body)
        time.sleep(0.1)


# ---- tests (run in order; later ones change the running system) -------------

def test_healthz(env):
    r, body = get(env, "/healthz")
    assert r.status == 200, r.status
    assert json.loads(body) == {"status": "ok"}, body
    assert r.getheader("Content-Length") == str(len(body)), r.getheaders()
    assert r.getheader("Content-Type") == "application/json"


def test_readyz_all_serving(env):
    r, doc = poll_readyz(env, 200)
    assert r.status == 200, (r.status, doc)
    assert doc["status"] == "ready", doc
    states = {b["name"]: b["state"] for b in doc["backends"]}
    assert states == {n: "SERVING" for n in BACKEND_NAMES.values()}, states
    assert r.getheader("Content-Length") is not None


def test_unknown_path_404(env):
    r, body = get(env, "/x")
    assert r.status == 404, r.status
    assert json.loads(body) == {"error": {"code": 404, "status": "NOT_FOUND",
                                          "message": "no route for GET /x",
                                          "details": []}}, body
    assert r.getheader("Content-Length") == str(len(body))
    r, body = get(env, "/healthz", method="POST")  # a known path: 405
    assert r.status == 405 and r.getheader("Allow") == "GET", (r.status, r.getheaders())
    assert json.loads(body)["error"] == {
        "code": 405, "status": "UNIMPLEMENTED", "details": [],
        "message": "method POST not allowed for /healthz (allowed: GET)"}, body


def test_request_id(env):
    r, _ = get(env, "/healthz", {"X-Request-Id": "e2e-abc-123"})
    assert r.getheader("X-Request-Id") == "e2e-abc-123", r.getheaders()
    r1, _ = get(env, "/healthz")
    r2, _ = get(env, "/x")
    a, b = r1.getheader("X-Request-Id"), r2.getheader("X-Request-Id")
    assert a and b and a != b, (a, b)
    assert len(a) == 32 and all(c in "0123456789abcdef" for c in a), a
    r, _ = get(env, "/healthz", {"X-Request-Id": "bad id with spaces"})
    assert r.getheader("X-Request-Id") != "bad id with spaces"


def test_access_log(env):
    get(env, "/healthz?probe=1", {"X-Request-Id": "e2e-log-1"})
    line = env.gateway.wait_event(
        "http_access", 5, lambda l: l.get("request_id") == "e2e-log-1")
    assert line["method"] == "GET" and line["path"] == "/healthz?probe=1", line
    assert line["status"] == 200 and line["bytes"] > 0, line
    assert isinstance(line["duration_ms"], (int, float)), line


def test_keep_alive(env):
    c = http.client.HTTPConnection("127.0.0.1", env.gateway.port, timeout=10)
    c.connect()
    local = c.sock.getsockname()
    for path in ("/healthz", "/x", "/readyz", "/healthz"):
        r, _ = get(env, path, conn=c)
        assert r.status in (200, 404), r.status
        assert c.sock is not None and c.sock.getsockname() == local, "connection was not reused"
    c.close()


def test_http2_prior_knowledge(env):
    url = "http://127.0.0.1:%d/healthz" % env.gateway.port
    out = subprocess.run(["nghttp", "-nv", url], capture_output=True, text=True, timeout=20)
    assert out.returncode == 0, out.stdout + out.stderr
    assert ":status: 200" in out.stdout, out.stdout
    assert "x-request-id:" in out.stdout and "content-length: 15" in out.stdout, out.stdout
    out = subprocess.run(["h2load", "-n", "200", "-c", "4", "-m", "10", url],
                         capture_output=True, text=True, timeout=60)
    assert "200 succeeded, 0 failed" in out.stdout and "200 2xx" in out.stdout, out.stdout
    print("    h2load /healthz:", [l.strip() for l in out.stdout.splitlines()
                                    if l.startswith("finished in")][0])


def test_100_concurrent_readyz(env):
    # HTTP/2: 100 streams in flight at once over 10 connections
    url = "http://127.0.0.1:%d/readyz" % env.gateway.port
    out = subprocess.run(["h2load", "-n", "100", "-c", "10", "-m", "10", url],
                         capture_output=True, text=True, timeout=60)
    assert "100 succeeded, 0 failed" in out.stdout and "100 2xx" in out.stdout, out.stdout
    # HTTP/1.1: 100 connections at once, each body checked
    results, barrier = [], threading.Barrier(100)

    def one():
        c = http.client.HTTPConnection("127.0.0.1", env.gateway.port, timeout=30)
        c.connect()
        barrier.wait()
        try:
            r, body = get(env, "/readyz", conn=c)
            results.append((r.status, json.loads(body)["status"]))
        except Exception as e:  # noqa: BLE001 - recorded and asserted below
            results.append(("error", repr(e)))
        c.close()
    threads = [threading.Thread(target=one) for _ in range(100)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert results.count((200, "ready")) == 100, results


def test_client_leaves_while_readyz_pending(env):
    """A backend that accepts but never answers: /readyz waits for the check's
    deadline; clients that hang up meanwhile must not crash or leak the
    gateway, and the answer names the silent backend."""
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(64)
    targets = {"SE_%s_TARGET" % cfg: "127.0.0.1:%d" % p.port for cfg, p in env.services.items()}
    targets["SE_MENU_TARGET"] = "127.0.0.1:%d" % silent.getsockname()[1]
    targets.update({"SE_GATEWAY_ADDR": "127.0.0.1:0", "SE_GATEWAY_READYZ_TIMEOUT_MS": "700",
                    "SE_LOG_LEVEL": "debug"})
    gw = env.start("se-gateway", targets, tag="se-gateway-silent-backend")
    try:
        port = gw.wait_listening()
        for _ in range(20):  # HTTP/1.1: ask and hang up at once
            s = socket.create_connection(("127.0.0.1", port))
            s.sendall(b"GET /readyz HTTP/1.1\r\nHost: x\r\n\r\n")
            s.close()
        # HTTP/2: nghttp gives up after 0.2 s (the stream is reset while the
        # check is still pending, so the request is disposed first)
        url = "http://127.0.0.1:%d/readyz" % port
        out = subprocess.run(["nghttp", "-n", "-t", "200ms", url],
                             capture_output=True, text=True, timeout=20)
        assert "Timeout" in out.stdout + out.stderr, out.stdout + out.stderr
        gw.wait_event("readyz_client_gone", 5)
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        c.request("GET", "/readyz")
        r = c.getresponse()
        doc = json.loads(r.read())
        assert r.status == 503, (r.status, doc)
        states = {d["name"]: d["state"] for d in doc["error"]["details"]}
        assert states["menu"] == "DEADLINE_EXCEEDED", states
        t0 = time.monotonic()
        assert gw.stop() == 0
        assert time.monotonic() - t0 < 5
    finally:
        silent.close()


def test_port_taken_fails(env):
    p = env.start("se-menu", {"SE_MENU_ADDR": "127.0.0.1:%d" % env.services["MENU"].port},
                  tag="se-menu-clash")
    try:
        code = p.p.wait(15)
    except subprocess.TimeoutExpired:
        p.kill()
        raise AssertionError("a second se-menu on a taken port kept running")
    assert code != 0, code
    p.wait_event("service_start_failed", 1)


def test_gateway_port_taken_fails(env):
    p = env.start("se-gateway", {"SE_GATEWAY_ADDR": "127.0.0.1:%d" % env.gateway.port},
                  tag="se-gateway-clash")
    try:
        code = p.p.wait(15)
    except subprocess.TimeoutExpired:
        p.kill()
        raise AssertionError("a second se-gateway on a taken port kept running")
    assert code != 0, code
    p.wait_event("gateway_listen_failed", 1)


def test_backend_down_503(env):
    order = env.services["ORDER"]
    code = order.stop()
    assert code == 0, "se-order exit code %s" % code
    order.wait_event("service_exit", 1)
    r, doc = poll_readyz(env, 503, timeout=10)
    assert r.status == 503, (r.status, doc)
    err = doc["error"]
    assert err["code"] == 503 and err["status"] == "UNAVAILABLE", err
    assert "order" in err["message"], err
    states = {d["name"]: d["state"] for d in err["details"]}
    assert states["order"] != "SERVING", states
    assert all(states[n] == "SERVING" for n in ("menu", "logistics", "payment_gateway")), states


def metric(text, series):
    """The value of one sample ("name" or "name{labels}") in a /metrics body."""
    for line in text.splitlines():
        if line.startswith(series + " "):
            return float(line.split(" ", 1)[1])
    return None


HEALTH_2XX = 'swifteats_gateway_http_responses_total{group="health",class="2xx"}'


def test_metrics(env):
    r, body = get(env, "/metrics")
    assert r.status == 200, r.status
    assert r.getheader("Content-Type") == "text/plain; version=0.0.4; charset=utf-8", \
        r.getheaders()
    text = body.decode()
    for family, kind in (("http_responses_total", "counter"), ("proxy_calls_total", "counter"),
                         ("ingest_batches_total", "counter"), ("ws_watchers", "gauge"),
                         ("edge_cache_hits_total", "counter"), ("edge_cache_entries", "gauge"),
                         ("uptime_seconds", "gauge"), ("build_info", "gauge")):
        assert "# TYPE swifteats_gateway_%s %s\n" % (family, kind) in text, family
        assert "# HELP swifteats_gateway_%s " % family in text, family
    before = metric(text, HEALTH_2XX)
    for _ in range(3):
        get(env, "/healthz")
    deadline = time.monotonic() + 5
    while True:  # counted when h2o disposes the request, just after the reply
        now = metric(get(env, "/metrics")[1].decode(), HEALTH_2XX)
        if now >= before + 3 or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert now == before + 3, (before, now)


def test_readyz_backends_exclude_down(env):
    """se-order is down (test_backend_down_503): a gateway that does not
    check it is ready, and lists only what it checks."""
    targets = {"SE_%s_TARGET" % cfg: "127.0.0.1:%d" % p.port for cfg, p in env.services.items()}
    targets.update({"SE_GATEWAY_ADDR": "127.0.0.1:0",
                    "SE_GATEWAY_READYZ_BACKENDS": "menu, logistics,payment_gateway"})
    gw = env.start("se-gateway", targets, tag="se-gateway-readyz-backends")
    port = gw.wait_listening()
    r, body = http_request(port, "/readyz")
    doc = json.loads(body)
    assert r.status == 200, (r.status, doc)
    assert [b["name"] for b in doc["backends"]] == ["menu", "logistics", "payment_gateway"], doc
    assert gw.stop() == 0


def test_readyz_backends_unknown_exits_2(env):
    gw = env.start("se-gateway", {"SE_GATEWAY_ADDR": "127.0.0.1:0",
                                  "SE_GATEWAY_READYZ_BACKENDS": "menu,billing"},
                   tag="se-gateway-readyz-bad")
    try:
        code = gw.p.wait(15)
    except subprocess.TimeoutExpired:
        gw.kill()
        raise AssertionError("a gateway with an unknown readyz backend kept running")
    assert code == 2, code
    line = gw.wait_event("config_invalid", 1)
    assert line["variable"] == "SE_GATEWAY_READYZ_BACKENDS", line
    assert '"billing"' in line["msg"], line


def test_backend_back_200(env):
    env.start_service("se-order", port=env.services["ORDER"].port)
    r, doc = poll_readyz(env, 200, timeout=30)
    assert r.status == 200, (r.status, doc)


def test_workers(env):
    dead = free_port()
    # health servers on ports the OS picks (a `make run` may hold the defaults)
    health = {"SE_PAYMENT_WORKER_ADDR": "127.0.0.1:0", "SE_LOCATION_WORKER_ADDR": "127.0.0.1:0"}
    for binary in ("se-payment-worker", "se-location-worker"):
        w = env.start(binary, dict(health, SE_REDIS_URL="redis://127.0.0.1:%d/0" % dead),
                      tag=binary + "-noredis")
        w.wait_event("redis_unavailable", 15)
        t0 = time.monotonic()
        assert w.stop() == 0
        assert time.monotonic() - t0 < 5, "worker took too long to stop"
    redis = shutil.which("redis-server")
    if not redis:
        print("    (redis-server not installed: connected case skipped)")
        return
    port = free_port()
    rp = subprocess.Popen([redis, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                           "--appendonly", "no", "--dir", env.tmp],
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for binary, event in (("se-payment-worker", "payment_worker_started"),
                              ("se-location-worker", "location_worker_started")):
            w = env.start(binary, dict(health, SE_REDIS_URL="redis://127.0.0.1:%d/0" % port),
                          tag=binary + "-redis")
            w.wait_event(event, 15)
            assert w.stop() == 0
    finally:
        rp.terminate()
        rp.wait(10)


def test_gateway_stops_cleanly(env):
    code = env.gateway.stop()
    assert code == 0, code
    env.gateway.wait_event("gateway_exit", 1)
    for cfg, p in env.services.items():
        if p.p.poll() is None:
            assert p.stop() == 0, "%s exit code" % cfg


TESTS = [test_healthz, test_readyz_all_serving, test_unknown_path_404, test_request_id,
         test_access_log, test_keep_alive, test_http2_prior_knowledge,
         test_100_concurrent_readyz, test_client_leaves_while_readyz_pending,
         test_port_taken_fails, test_gateway_port_taken_fails,
         test_metrics, test_backend_down_503, test_readyz_backends_exclude_down,
         test_readyz_backends_unknown_exits_2, test_backend_back_200, test_workers, test_gateway_stops_cleanly]


def setup(env):
    for binary in SERVICES:
        env.start_service(binary)
    env.start_gateway()
    print("gateway on port %d" % env.gateway.port)


def main():
    return run_tests(Env, TESTS, setup)


if __name__ == "__main__":
    sys.exit(main())
