#!/usr/bin/python3
"""End-to-end test of se-gateway's REST proxy over real HTTP, against a fake
MenuService (gw_fake_backend, tests/unit/gateway/gw_fake_backend.h): no
PostgreSQL or Redis needed.

Covers what the in-process Check suite (test_gw_http) cannot easily reach:
HTTP/1.1 keep-alive across proxied requests, gzip as a real client sees it,
ETag/304, the access log fields, HTTP/2 (h2c prior knowledge, nghttp and
h2load), an HTTP/2 client leaving mid-RPC, and TLS with ALPN (h2 and
http/1.1) on a self-signed certificate made by openssl here.

Run: SE_BUILD_DIR=<cmake build dir> /usr/bin/python3 tests/e2e/test_gateway_rest.py
(ctest sets SE_BUILD_DIR; see gateway/CMakeLists.txt). Needs nghttp, h2load
(nghttp2-client) and openssl. Prints "N passed, N failed"; exits non-zero on
any failure.
"""
import gzip
import http.client
import json
import os
import socket
import ssl
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # e2e_util, from any cwd
from e2e_util import ProcEnv, Proc, find_binary, http_request, run_tests


class Env(ProcEnv):
    def __init__(self):
        super().__init__("se-e2e-rest-")
        self.fake = self.start("fake-menu", [find_binary("gw_fake_backend"), "0", "3000"], {})
        self.fake.wait_listening()
        self.gateway = self.start_gateway("se-gateway")

    def start(self, tag, argv, env):
        return self.add(Proc(self.tmp, tag, argv, env, log_level=None))

    def gateway_env(self, extra=None):
        env = {"SE_GATEWAY_ADDR": "127.0.0.1:0", "SE_GATEWAY_THREADS": "2",
               "SE_GATEWAY_TIMEOUT_MS": "1500", "SE_LOG_LEVEL": "debug",
               "SE_MENU_TARGET": "127.0.0.1:%d" % self.fake.port}
        env.update(extra or {})
        return env

    def start_gateway(self, tag, extra=None, wait=True):
        p = self.start(tag, [find_binary("se-gateway")], self.gateway_env(extra))
        if wait:
            p.wait_listening()
        return p


def request(env, path, headers=None, method="GET", body=None, conn=None, port=None):
    return http_request(port or env.gateway.port, path, headers, method, body, conn)


# ---- tests --------------------------------------------------------------------

def test_get_proxied(env):
    r, body = request(env, "/api/v1/restaurants/42", {"X-Request-Id": "rest-1"})
    assert r.status == 200, (r.status, body)
    doc = json.loads(body)
    assert doc["id"] == 42 and doc["name"] == "Restaurant 42", doc
    assert doc["city"] == "rest-1", doc  # the fake echoes the request id it got
    assert doc["status"] == "open" and doc["cuisine_type"] == "italian", doc
    assert r.getheader("X-Request-Id") == "rest-1"
    assert r.getheader("Content-Type") == "application/json"
    assert r.getheader("Content-Length") == str(len(body))


def test_errors_in_contract_shape(env):
    r, body = request(env, "/api/v1/restaurants/905")
    assert r.status == 404, r.status
    assert json.loads(body) == {"error": {"code": 404, "status": "NOT_FOUND",
                                          "message": "fake status NOT_FOUND for restaurant 905",
                                          "details": []}}, body
    r, body = request(env, "/api/v1/restaurants/x")
    assert r.status == 400 and "restaurant_id" in json.loads(body)["error"]["message"], body
    r, body = request(env, "/api/v1/restaurants/1/status", method="PUT",
                      body=b'{"status": "open", "current_capacity": -1.5}')
    err = json.loads(body)["error"]
    assert r.status == 400 and err["status"] == "INVALID_ARGUMENT", body
    assert "current_capacity" in err["message"], err
    r, body = request(env, "/api/v1/restaurants/42", method="DELETE")
    assert r.status == 405 and r.getheader("Allow") == "GET", (r.status, r.getheaders())


def test_deadline_504(env):
    t0 = time.monotonic()
    r, body = request(env, "/api/v1/restaurants/950")  # the fake answers after 3 s
    took = time.monotonic() - t0
    assert r.status == 504, (r.status, body)
    assert json.loads(body)["error"]["status"] == "DEADLINE_EXCEEDED", body
    assert 1.2 < took < 2.9, took


def test_body_limits(env):
    # far over the limit: h2o itself answers from the Content-Length alone
    # (and closes, so the body is not even sent)
    with socket.create_connection(("127.0.0.1", env.gateway.port), timeout=10) as s:
        s.sendall(b"PUT /api/v1/restaurants/1/status HTTP/1.1\r\nHost: t\r\n"
                  b"Content-Length: 3000000\r\n\r\n")
        head = s.recv(4096)
    assert head.startswith(b"HTTP/1.1 413 "), head
    over = b'{"status":"open"' + b" " * (1024 * 1024) + b"}"
    r, body = request(env, "/api/v1/restaurants/1/status", method="PUT", body=over)
    assert r.status == 413, r.status
    assert json.loads(body)["error"]["status"] == "RESOURCE_EXHAUSTED", body


def test_keep_alive_across_proxied_requests(env):
    c = http.client.HTTPConnection("127.0.0.1", env.gateway.port, timeout=10)
    c.connect()
    local = c.sock.getsockname()
    want = [("/api/v1/restaurants/1", 200), ("/api/v1/restaurants/904", 504),
            ("/api/v1/restaurants/zz", 400), ("/nope", 404), ("/api/v1/restaurants/2", 200)]
    for path, status in want:
        r, _ = request(env, path, conn=c)
        assert r.status == status, (path, r.status)
        assert c.sock is not None and c.sock.getsockname() == local, "connection not reused"
    hdr = {"X-Request-Id": "ka", "Accept-Encoding": "gzip"}
    r, _ = request(env, "/api/v1/restaurants/7", hdr, conn=c)
    etag = r.getheader("ETag")
    r, body = request(env, "/api/v1/restaurants/7", dict(hdr, **{"If-None-Match": etag}),
                      conn=c)
    assert r.status == 304 and body == b"" and r.getheader("Transfer-Encoding") is None, \
        r.getheaders()
    r, body = request(env, "/api/v1/restaurants/3/status", method="PUT", conn=c,
                      body=b'{"status":"busy"}', headers={"Idempotency-Key": "idem-77"})
    assert r.status == 200 and json.loads(body)["message"] == "idem-77", body
    c.close()


def test_gzip(env):
    hdr = {"X-Request-Id": "gz"}
    r, plain = request(env, "/api/v1/restaurants/7", hdr)
    assert r.status == 200 and r.getheader("Content-Encoding") is None
    assert r.getheader("Vary") == "Accept-Encoding", r.getheaders()
    r, packed = request(env, "/api/v1/restaurants/7", dict(hdr, **{"Accept-Encoding": "gzip"}))
    assert r.getheader("Content-Encoding") == "gzip", r.getheaders()
    assert r.getheader("Content-Length") == str(len(packed))
    assert gzip.decompress(packed) == plain
    assert len(packed) * 4 < len(plain), (len(packed), len(plain))
    r, small = request(env, "/api/v1/restaurants/8", {"Accept-Encoding": "gzip"})
    assert r.getheader("Content-Encoding") is None and json.loads(small)["id"] == 8


def test_etag_304(env):
    hdr = {"X-Request-Id": "etag"}
    r, body = request(env, "/api/v1/restaurants/42", hdr)
    etag = r.getheader("ETag")
    assert etag and etag.startswith('"') and len(etag) == 18, etag
    for inm in (etag, "W/" + etag, '"x", ' + etag, "*"):
        r, body = request(env, "/api/v1/restaurants/42", dict(hdr, **{"If-None-Match": inm}))
        assert r.status == 304 and body == b"", (inm, r.status, body)
        assert r.getheader("ETag") == etag
    r, body = request(env, "/api/v1/restaurants/42", dict(hdr, **{"If-None-Match": '"x"'}))
    assert r.status == 200 and body
    r, body = request(env, "/api/v1/restaurants/3/status", method="PUT", body=b'{"status":"busy"}')
    assert r.getheader("ETag") is None


def test_access_log_fields(env):
    request(env, "/api/v1/restaurants/77?", {"X-Request-Id": "log-rest-1"})
    line = env.gateway.wait_event("http_access", 5,
                                  lambda l: l.get("request_id") == "log-rest-1")
    assert line["route"] == "/api/v1/restaurants/{restaurant_id}", line
    assert line["rpc_status"] == "OK" and line["status"] == 200, line
    assert isinstance(line["upstream_ms"], (int, float)) and line["upstream_ms"] > 0, line
    request(env, "/api/v1/restaurants/914", {"X-Request-Id": "log-rest-2"})
    line = env.gateway.wait_event("http_access", 5,
                                  lambda l: l.get("request_id") == "log-rest-2")
    assert line["rpc_status"] == "UNAVAILABLE" and line["status"] == 503, line
    request(env, "/healthz", {"X-Request-Id": "log-rest-3"})
    line = env.gateway.wait_event("http_access", 5,
                                  lambda l: l.get("request_id") == "log-rest-3")
    assert line["route"] == "/healthz" and "rpc_status" not in line, line


def test_http2(env):
    url = "http://127.0.0.1:%d/api/v1/restaurants/42" % env.gateway.port
    out = subprocess.run(["nghttp", "-nv", "-H", "x-request-id: h2-1", url],
                         capture_output=True, text=True, timeout=20)
    assert out.returncode == 0, out.stdout + out.stderr
    assert ":status: 200" in out.stdout and "etag:" in out.stdout, out.stdout
    out = subprocess.run(["nghttp", "-H", "x-request-id: h2-1", url],
                         capture_output=True, text=True, timeout=20)
    doc = json.loads(out.stdout)
    assert doc["id"] == 42 and doc["city"] == "h2-1", out.stdout
    out = subprocess.run(["nghttp", "-v", "-H", "accept-encoding: gzip",
                          "http://127.0.0.1:%d/api/v1/restaurants/7" % env.gateway.port],
                         capture_output=True, text=True, timeout=20)
    assert "content-encoding: gzip" in out.stdout, out.stdout[:2000]
    out = subprocess.run(["h2load", "-n", "2000", "-c", "4", "-m", "16", url],
                         capture_output=True, text=True, timeout=60)
    assert "2000 succeeded, 0 failed" in out.stdout and "2000 2xx" in out.stdout, out.stdout
    print("    h2load GET via fake backend:", [l.strip() for l in out.stdout.splitlines()
                                               if l.startswith("finished in")][0])


def test_http2_client_leaves_mid_rpc(env):
    url = "http://127.0.0.1:%d/api/v1/restaurants/960" % env.gateway.port
    t0 = time.monotonic()
    out = subprocess.run(["nghttp", "-n", "-t", "200ms", url],
                         capture_output=True, text=True, timeout=20)
    assert "Timeout" in out.stdout + out.stderr, out.stdout + out.stderr
    env.gateway.wait_event("gateway_client_gone", 5)
    assert time.monotonic() - t0 < 1.4  # before the 1.5 s deadline
    r, _ = request(env, "/api/v1/restaurants/1")
    assert r.status == 200


def make_cert(tmp):
    cert, key = os.path.join(tmp, "cert.pem"), os.path.join(tmp, "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", key, "-out", cert], check=True, capture_output=True, timeout=60)
    return cert, key


def test_tls_alpn(env):
    cert, key = make_cert(env.tmp)
    gw = env.start_gateway("se-gateway-tls", {"SE_GATEWAY_TLS_CERT": cert,
                                              "SE_GATEWAY_TLS_KEY": key})
    assert gw.wait_event("listening")["tls"] is True
    try:
        for offer, want in ((["h2", "http/1.1"], "h2"), (["http/1.1"], "http/1.1")):
            ctx = ssl.create_default_context(cafile=cert)
            ctx.set_alpn_protocols(offer)
            with socket.create_connection(("127.0.0.1", gw.port), timeout=10) as raw:
                with ctx.wrap_socket(raw, server_hostname="127.0.0.1") as s:
                    assert s.selected_alpn_protocol() == want, (offer, s.selected_alpn_protocol())
        ctx = ssl.create_default_context(cafile=cert)
        ctx.set_alpn_protocols(["http/1.1"])
        c = http.client.HTTPSConnection("127.0.0.1", gw.port, context=ctx, timeout=10)
        r, body = request(env, "/api/v1/restaurants/42", {"X-Request-Id": "tls-1"}, conn=c)
        assert r.status == 200 and json.loads(body)["city"] == "tls-1", body
        r, body = request(env, "/api/v1/restaurants/43", conn=c)  # keep-alive over TLS
        assert r.status == 200 and json.loads(body)["id"] == 43
        c.close()
        out = subprocess.run(["nghttp", "-nv", "https://127.0.0.1:%d/healthz" % gw.port],
                             capture_output=True, text=True, timeout=20)
        assert "The negotiated protocol: h2" in out.stdout, out.stdout
        assert ":status: 200" in out.stdout, out.stdout
        out = subprocess.run(["h2load", "-n", "500", "-c", "2", "-m", "8",
                              "https://127.0.0.1:%d/api/v1/restaurants/1" % gw.port],
                             capture_output=True, text=True, timeout=60)
        assert "500 succeeded, 0 failed" in out.stdout and "500 2xx" in out.stdout, out.stdout
        assert gw.stop() == 0
    finally:
        gw.kill()


def test_tls_misconfigured_fails(env):
    gw = env.start_gateway("se-gateway-badtls", {"SE_GATEWAY_TLS_CERT": "/nonexistent.pem",
                                                 "SE_GATEWAY_TLS_KEY": "/nonexistent.key"},
                           wait=False)
    try:
        code = gw.p.wait(15)
    finally:
        gw.kill()
    assert code != 0, code
    gw.wait_event("gateway_tls_failed", 1)


def test_stops_cleanly(env):
    assert env.gateway.stop() == 0
    env.gateway.wait_event("gateway_exit", 1)
    assert env.fake.stop() == 0


TESTS = [test_get_proxied, test_errors_in_contract_shape, test_deadline_504, test_body_limits,
         test_keep_alive_across_proxied_requests, test_gzip, test_etag_304,
         test_access_log_fields, test_http2, test_http2_client_leaves_mid_rpc, test_tls_alpn,
         test_tls_misconfigured_fails, test_stops_cleanly]


def main():
    return run_tests(Env, TESTS)


if __name__ == "__main__":
    sys.exit(main())
