#!/usr/bin/python3
"""End-to-end test of the menu path: browser -> se-gateway (edge cache) ->
se-menu -> PostgreSQL/Redis, over real HTTP.

Starts, on ports the OS picks:
  - a database of its own (CREATE DATABASE on the server of SE_PG_URL),
    seeded with se-menu-seed, and a Redis database index of its own on the
    server of SE_REDIS_URL (flushed first);
  - two se-menu replicas (menu1, menu2) sharing them (change events cross
    replicas through Redis Pub/Sub);
  - gateway A in front of menu1 and gateway B in front of menu2, both with
    the edge cache on.
Then exercises every menu endpoint (list filters and pagination, 400s,
restaurant, menu, status, menu-with-status, 404s, the three operator writes
and their 400/404s) and checks: a write is visible on the very next read
through the edge cache; the other gateway converges within 100 ms; Redis
stopped mid-test (reads still 200, writes still succeed, nothing stale after
it is back); gzip; ETag/304; HTTP/2 (nghttp, h2c prior knowledge).

Environment: SE_PG_URL, SE_REDIS_URL and SE_STACK_DIR as exported by
scripts/test.sh (ctest holds RESOURCE_LOCK se_stack, since this test stops
and starts the shared Redis with scripts/stack.sh). Without them it starts a
stack of its own (scripts/stack.sh start) and stops it at the end.
SE_BUILD_DIR names the build (ctest sets it). SE_E2E_KEEP=1 keeps the logs.
Prints "N passed, N failed"; exits non-zero on any failure.
"""
import gzip
import os
import re
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # e2e_util, from any cwd
from e2e_util import StackEnv, assert_error, call, get, get_json, run_tests

N_RESTAURANTS = 200
REDIS_DB = 11  # our own index: the shared stack's other users keep theirs
CONVERGE_MS = 100


class Env(StackEnv):
    def __init__(self):
        super().__init__("se_menu_e2e", REDIS_DB, N_RESTAURANTS)
        self.menu1 = self.start_menu("menu1")
        self.menu2 = self.start_menu("menu2")
        self.gw_a = self.start_gateway("gateway-a", self.menu1)
        self.gw_b = self.start_gateway("gateway-b", self.menu2)

    def start_menu(self, name):
        p = self.start(name, "se-menu", {"SE_MENU_ADDR": "127.0.0.1:0",
                                         "SE_PG_URL": self.pg_url,
                                         "SE_REDIS_URL": self.redis_url})
        p.wait_listening()
        p.wait_event("menu_events_subscribed")
        return p

    def start_gateway(self, name, menu):
        p = self.start(name, "se-gateway", {
            "SE_GATEWAY_ADDR": "127.0.0.1:0", "SE_GATEWAY_THREADS": "2",
            "SE_MENU_TARGET": "127.0.0.1:%d" % menu.port,
            "SE_GATEWAY_EDGE_CACHE": "true"})
        p.wait_listening()
        p.wait_event("edge_cache_reset", pred=lambda l: l.get("complete") is True)
        return p



def put(gw, path, body):
    return call(gw, "PUT", path, body=body)


def edge_hits(gw, path):
    return len(gw.events("http_access", lambda l: l.get("path") == path
                         and l.get("rpc_status") == "edge_hit"))


_warm_ids = [0]


def warm(gw, path, seconds=15.0):
    """Reads path until the gateway answers it from its edge cache. Time
    bounded, not count bounded: after a Redis restart the cache serves again
    only once the menu replicas' change events are complete, which takes
    longer under ASan (50 reads were not enough there once)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        _warm_ids[0] += 1
        rid = "warm-%d" % _warm_ids[0]
        r = get(gw, path, {"X-Request-Id": rid})
        assert r.status == 200, (path, r.status)
        line = gw.wait_event("http_access", pred=lambda l: l.get("request_id") == rid)
        if line.get("rpc_status") == "edge_hit":
            return r
    resets = gw.events("edge_cache_reset")[-5:]
    raise AssertionError("%s never became an edge hit on %s; its last edge cache resets: %s"
                         % (path, gw.name, resets))


# ---- reads ------------------------------------------------------------------

def test_list_default_and_pagination(env):
    doc = get_json(env.gw_a, "/api/v1/restaurants")
    assert doc["page"] == 1 and doc["page_size"] == 20, doc
    assert doc["total"] == N_RESTAURANTS and len(doc["restaurants"]) == 20, doc["total"]
    ids = [r["id"] for r in doc["restaurants"]]
    assert ids == sorted(ids), ids
    p2 = get_json(env.gw_a, "/api/v1/restaurants?page=2&page_size=7")
    assert p2["page"] == 2 and p2["page_size"] == 7 and len(p2["restaurants"]) == 7, p2
    p1 = get_json(env.gw_a, "/api/v1/restaurants?page_size=14")
    assert [r["id"] for r in p1["restaurants"]][7:] == [r["id"] for r in p2["restaurants"]]
    last = get_json(env.gw_a, "/api/v1/restaurants?page_size=100&page=2")
    assert len(last["restaurants"]) == 100 and last["total"] == N_RESTAURANTS
    beyond = get_json(env.gw_a, "/api/v1/restaurants?page=50&page_size=100")
    assert beyond.get("restaurants", []) == [] and beyond["total"] == N_RESTAURANTS, beyond
    # same filters in another order: same answer (and the same cache entry)
    a = get(env.gw_a, "/api/v1/restaurants?page=2&page_size=7")
    b = get(env.gw_a, "/api/v1/restaurants?page_size=7&page=2")
    assert a.json() == b.json() and a.headers["etag"] == b.headers["etag"]


def test_list_each_filter(env):
    every = get_json(env.gw_a, "/api/v1/restaurants?page_size=100")["restaurants"]
    some = every[0]
    for q, pred in [
        ("cuisine_type=" + some["cuisine_type"], lambda r: r["cuisine_type"] == some["cuisine_type"]),
        ("status=open", lambda r: r["status"] == "open"),
        ("status=closed", lambda r: r["status"] == "closed"),
        ("min_rating=4.2", lambda r: r["rating"] >= 4.2),
        ("city=" + some["city"].upper().replace(" ", "%20"),
         lambda r: r["city"].lower() == some["city"].lower()),
    ]:
        doc = get_json(env.gw_a, "/api/v1/restaurants?page_size=100&" + q)
        rs = doc.get("restaurants", [])
        assert doc["total"] >= len(rs), (q, doc["total"])
        assert all(pred(r) for r in rs), (q, [r for r in rs if not pred(r)][:1])
        assert 0 < doc["total"] < N_RESTAURANTS, (q, doc["total"])
    combo = get_json(env.gw_a, "/api/v1/restaurants?status=open&min_rating=3&cuisine_type="
                     + some["cuisine_type"])
    assert all(r["status"] == "open" and r["rating"] >= 3 and r["cuisine_type"] == some["cuisine_type"]
               for r in combo.get("restaurants", [])), combo


def test_list_bad_filters_400(env):
    for q, field in [("min_rating=6", "min_rating"), ("min_rating=-1", "min_rating"),
                     ("min_rating=abc", "min_rating"), ("page=-1", "page"),
                     ("page_size=101", "page_size"), ("page_size=x", "page_size"),
                     ("cuisine_type=martian", "cuisine_type"), ("status=sleeping", "status")]:
        assert_error(get(env.gw_a, "/api/v1/restaurants?" + q), 400, "INVALID_ARGUMENT", field)


def test_restaurant_menu_status_menu_with_status(env):
    rid = 17
    rest = get_json(env.gw_a, "/api/v1/restaurants/%d" % rid)
    assert rest["id"] == rid and rest["name"] and rest["status"], rest
    menu = get_json(env.gw_a, "/api/v1/restaurants/%d/menu" % rid)
    assert menu["restaurant_id"] == rid and menu["categories"], menu.keys()
    items = [i for c in menu["categories"] for i in c["items"]]
    assert len(items) >= 10 and all(isinstance(i["price"], (int, float)) for i in items)
    orders = [c["display_order"] for c in menu["categories"]]
    assert orders == sorted(orders), orders
    st = get_json(env.gw_a, "/api/v1/restaurants/%d/status" % rid)
    assert st["restaurant_id"] == rid and st["status"] == rest["status"], (st, rest)
    mws = get_json(env.gw_a, "/api/v1/restaurants/%d/menu-with-status" % rid)
    assert mws["restaurant"] == rest and mws["menu"] == menu and mws["status"] == st
    # the second gateway (another replica) says the same
    assert get_json(env.gw_b, "/api/v1/restaurants/%d/menu-with-status" % rid) == mws


def test_not_found_and_bad_ids(env):
    for suffix in ("", "/menu", "/status", "/menu-with-status"):
        assert_error(get(env.gw_a, "/api/v1/restaurants/999999%s" % suffix), 404, "NOT_FOUND")
        assert_error(get(env.gw_a, "/api/v1/restaurants/abc%s" % suffix), 400,
                     "INVALID_ARGUMENT", "restaurant_id")
        assert_error(get(env.gw_a, "/api/v1/restaurants/0%s" % suffix), 400,
                     "INVALID_ARGUMENT", "restaurant_id")
    # a 404 is not cached: still 404, and each one went to the service
    assert edge_hits(env.gw_a, "/api/v1/restaurants/999999") == 0


def test_edge_hits_keep_headers_and_log(env):
    path = "/api/v1/restaurants/21/menu"
    first = warm(env.gw_a, path)
    r = get(env.gw_a, path, {"X-Request-Id": "edge-hit-1"})
    assert r.status == 200 and r.headers["x-request-id"] == "edge-hit-1", r.headers
    assert r.headers["content-type"] == "application/json", r.headers
    assert r.headers["content-length"] == str(len(r.body))
    assert r.headers["etag"] == first.headers["etag"] and r.body == first.body
    assert r.headers.get("vary") == "Accept-Encoding", r.headers
    line = env.gw_a.wait_event("http_access", pred=lambda l: l.get("request_id") == "edge-hit-1")
    assert line["rpc_status"] == "edge_hit" and line["status"] == 200, line
    assert line["route"] == "/api/v1/restaurants/{restaurant_id}/menu", line


def test_gzip_on_miss_and_hit(env):
    path = "/api/v1/restaurants/22/menu"
    plain = get(env.gw_a, path)
    gz1 = get(env.gw_a, path, {"Accept-Encoding": "gzip"})
    warm(env.gw_a, path)
    gz2 = get(env.gw_a, path, {"Accept-Encoding": "gzip, deflate"})
    for r in (gz1, gz2):
        assert r.status == 200 and r.headers.get("content-encoding") == "gzip", r.headers
        assert gzip.decompress(r.body) == plain.body
        assert len(r.body) < len(plain.body) and r.headers["content-length"] == str(len(r.body))
        assert r.headers["etag"] == plain.headers["etag"][:-1] + '-gz"', r.headers
    none = get(env.gw_a, path, {"Accept-Encoding": "gzip;q=0, identity"})
    assert "content-encoding" not in none.headers and none.body == plain.body
    # small bodies are not compressed
    st = get(env.gw_a, "/api/v1/restaurants/22/status", {"Accept-Encoding": "gzip"})
    assert "content-encoding" not in st.headers, st.headers


def test_etag_304_on_miss_and_hit(env):
    path = "/api/v1/restaurants/23"
    r = get(env.gw_b, path)
    etag = r.headers["etag"]
    assert re.fullmatch(r'"[0-9a-f]{16}"', etag), etag
    for _ in range(2):  # the fill, then a hit
        nm = get(env.gw_b, path, {"If-None-Match": etag})
        assert nm.status == 304 and nm.body == b"" and nm.headers["etag"] == etag, nm.status
    warm(env.gw_b, path)
    nm = get(env.gw_b, path, {"If-None-Match": 'W/"0000000000000000", ' + etag[:-1] + '-gz"'})
    assert nm.status == 304, nm.status
    other = get(env.gw_b, path, {"If-None-Match": '"0000000000000000"'})
    assert other.status == 200 and other.body == r.body


def test_http2(env):
    url = "http://127.0.0.1:%d/api/v1/restaurants/24/menu" % env.gw_a.port
    h1 = get(env.gw_a, "/api/v1/restaurants/24/menu")
    for _ in range(3):  # miss, then hits
        out = subprocess.run(["nghttp", "-nv", "-H", "x-request-id: h2-edge", url],
                             capture_output=True, text=True, timeout=20)
        assert out.returncode == 0, out.stdout + out.stderr
        # nghttp sends accept-encoding: gzip, deflate: the "-gz" ETag
        assert ":status: 200" in out.stdout and "content-encoding: gzip" in out.stdout, \
            out.stdout[-2000:]
        assert "etag: " + h1.headers["etag"][:-1] + '-gz"' in out.stdout, out.stdout[-2000:]
        assert "x-request-id: h2-edge" in out.stdout
    body = subprocess.run(["nghttp", url], capture_output=True, timeout=20).stdout
    if body[:2] == b"\x1f\x8b":
        body = gzip.decompress(body)
    assert body == h1.body, body[:200]
    ident = subprocess.run(["nghttp", "-v", "-H", "accept-encoding: identity", url],
                           capture_output=True, text=True, timeout=20)
    assert "content-encoding" not in ident.stdout, ident.stdout[:2000]
    assert "etag: " + h1.headers["etag"] in ident.stdout, ident.stdout[:2000]
    lines = env.gw_a.events("http_access", lambda l: l.get("request_id") == "h2-edge")
    assert any(l.get("protocol") == "HTTP/2.0" and l.get("rpc_status") == "edge_hit"
               for l in lines), lines


# ---- writes -------------------------------------------------------------------

def first_items(gw, rid, n):
    menu = get_json(gw, "/api/v1/restaurants/%d/menu" % rid)
    return [i for c in menu["categories"] for i in c["items"]][:n]


def item_of(gw, rid, item_id):
    menu = get_json(gw, "/api/v1/restaurants/%d/menu" % rid)
    return [i for c in menu["categories"] for i in c["items"] if i["id"] == item_id][0]


def test_status_write_visible_on_next_read(env):
    rid = 31
    paths = ["/api/v1/restaurants/%d%s" % (rid, s) for s in ("/status", "", "/menu-with-status")]
    for p in paths:
        warm(env.gw_a, p)
    lst = "/api/v1/restaurants?status=maintenance&page_size=100"
    warm(env.gw_a, lst)
    for status in ("maintenance", "busy", "open"):
        r = put(env.gw_a, paths[0], {"status": status, "current_capacity": 3})
        assert r.status == 200, (r.status, r.body)
        doc = r.json()
        assert doc["success"] is True and doc["restaurant_id"] == rid and doc["status"] == status
        st = get_json(env.gw_a, paths[0])  # the very next read
        assert st["status"] == status and st["current_capacity"] == 3, st
        assert get_json(env.gw_a, paths[1])["status"] == status
        assert get_json(env.gw_a, paths[2])["status"]["status"] == status
        in_list = rid in [x["id"] for x in get_json(env.gw_a, lst).get("restaurants", [])]
        assert in_list == (status == "maintenance"), (status, in_list)
        for p in paths:
            warm(env.gw_a, p)


def test_status_write_errors(env):
    p = "/api/v1/restaurants/32/status"
    assert_error(put(env.gw_a, p, {}), 400, "INVALID_ARGUMENT", "status")
    assert_error(put(env.gw_a, p, {"status": "sleeping"}), 400, "INVALID_ARGUMENT", "status")
    assert_error(put(env.gw_a, p, {"status": "open", "current_capacity": -1}), 400,
                 "INVALID_ARGUMENT", "current_capacity")
    assert_error(put(env.gw_a, p, {"status": "open", "current_capacity": "x"}), 400,
                 "INVALID_ARGUMENT", "current_capacity")
    assert_error(put(env.gw_a, p, "{not json"), 400, "INVALID_ARGUMENT")
    assert_error(put(env.gw_a, "/api/v1/restaurants/999999/status", {"status": "open"}), 404,
                 "NOT_FOUND")


def test_item_write_visible_on_next_read(env):
    rid = 33
    item = first_items(env.gw_a, rid, 1)[0]
    menu_path = "/api/v1/restaurants/%d/menu" % rid
    mws_path = "/api/v1/restaurants/%d/menu-with-status" % rid
    p = "/api/v1/restaurants/%d/menu/items/%d/availability" % (rid, item["id"])
    for available, in_stock in ((False, True), (True, False), (True, True)):
        warm(env.gw_a, menu_path)
        warm(env.gw_a, mws_path)
        r = put(env.gw_a, p, {"available": available, "in_stock": in_stock})
        assert r.status == 200, (r.status, r.body)
        doc = r.json()
        assert doc["item_id"] == item["id"] and doc["available"] == available, doc
        got = item_of(env.gw_a, rid, item["id"])
        assert got["available"] == available and got["in_stock"] == in_stock, got
        mws = get_json(env.gw_a, mws_path)
        got = [i for c in mws["menu"]["categories"] for i in c["items"] if i["id"] == item["id"]][0]
        assert got["available"] == available and got["in_stock"] == in_stock, got


def test_item_write_errors(env):
    rid = 34
    item = first_items(env.gw_a, rid, 1)[0]
    p = "/api/v1/restaurants/%d/menu/items/%d/availability" % (rid, item["id"])
    assert_error(put(env.gw_a, p, {"available": True}), 400, "INVALID_ARGUMENT", "in_stock")
    assert_error(put(env.gw_a, p, {"in_stock": True}), 400, "INVALID_ARGUMENT", "available")
    assert_error(put(env.gw_a, p, {"available": "yes", "in_stock": True}), 400,
                 "INVALID_ARGUMENT", "available")
    other = first_items(env.gw_a, rid + 1, 1)[0]["id"]  # not on this menu
    assert_error(put(env.gw_a, "/api/v1/restaurants/%d/menu/items/%d/availability" % (rid, other),
                     {"available": True, "in_stock": True}), 404, "NOT_FOUND")
    assert_error(put(env.gw_a, "/api/v1/restaurants/%d/menu/items/abc/availability" % rid,
                     {"available": True, "in_stock": True}), 400, "INVALID_ARGUMENT", "item_id")


def test_bulk_write_visible_on_next_read(env):
    rid = 35
    items = first_items(env.gw_a, rid, 3)
    menu_path = "/api/v1/restaurants/%d/menu" % rid
    p = "/api/v1/restaurants/%d/menu/items/availability" % rid
    for flag in (False, True):
        warm(env.gw_a, menu_path)
        body = {"items": [{"item_id": i["id"], "available": flag, "in_stock": flag} for i in items]}
        r = put(env.gw_a, p, body)
        assert r.status == 200, (r.status, r.body)
        doc = r.json()
        assert doc["success"] is True and len(doc["updated_items"]) == 3, doc
        menu = get_json(env.gw_a, menu_path)
        got = {i["id"]: i for c in menu["categories"] for i in c["items"]}
        assert all(got[i["id"]]["available"] == flag and got[i["id"]]["in_stock"] == flag
                   for i in items), [got[i["id"]] for i in items]


def test_bulk_write_errors(env):
    rid = 36
    items = first_items(env.gw_a, rid, 2)
    p = "/api/v1/restaurants/%d/menu/items/availability" % rid
    assert_error(put(env.gw_a, p, {"items": []}), 400, "INVALID_ARGUMENT", "items")
    assert_error(put(env.gw_a, p, {"items": [{"item_id": items[0]["id"], "available": True},
                                             ]}), 400, "INVALID_ARGUMENT", "in_stock")
    before = item_of(env.gw_a, rid, items[0]["id"])
    foreign = first_items(env.gw_a, rid + 1, 1)[0]["id"]
    r = put(env.gw_a, p, {"items": [
        {"item_id": items[0]["id"], "available": not before["available"], "in_stock": True},
        {"item_id": foreign, "available": True, "in_stock": True}]})
    assert_error(r, 404, "NOT_FOUND", str(foreign))
    assert item_of(env.gw_a, rid, items[0]["id"]) == before  # all or nothing
    assert_error(put(env.gw_a, "/api/v1/restaurants/999999/menu/items/availability",
                     {"items": [{"item_id": 1, "available": True, "in_stock": True}]}),
                 404, "NOT_FOUND")


def converge_ms(env, path, check, write):
    """Warms path on gateway B, runs write() through gateway A, and returns
    how long B took to answer path with a body that passes check()."""
    warm(env.gw_b, path)
    write()
    t0 = time.monotonic()
    while True:
        doc = get_json(env.gw_b, path)
        if check(doc):
            return (time.monotonic() - t0) * 1000
        assert (time.monotonic() - t0) * 1000 < 2000, ("never converged", path, doc)
        time.sleep(0.002)


def test_second_replica_converges_within_100ms(env):
    rid = 41
    path = "/api/v1/restaurants/%d/status" % rid
    worst = 0
    for status in ("busy", "open", "closed", "open"):
        def write(status=status):
            r = put(env.gw_a, path, {"status": status})
            assert r.status == 200, r.body
        worst = max(worst, converge_ms(env, path, lambda d, s=status: d["status"] == s, write))
    item = first_items(env.gw_a, rid, 1)[0]
    for flag in (False, True):
        def write_item(flag=flag):
            r = put(env.gw_a, "/api/v1/restaurants/%d/menu/items/%d/availability"
                    % (rid, item["id"]), {"available": flag, "in_stock": True})
            assert r.status == 200, r.body
        check = lambda d, f=flag: [i for c in d["categories"] for i in c["items"]
                                   if i["id"] == item["id"]][0]["available"] == f
        worst = max(worst, converge_ms(env, "/api/v1/restaurants/%d/menu" % rid, check,
                                       write_item))
    print("    gateway B converged in at most %.1f ms" % worst)
    assert worst <= CONVERGE_MS, worst


def test_redis_stopped_mid_test(env):
    rid = 51
    path = "/api/v1/restaurants/%d/status" % rid
    for gw in (env.gw_a, env.gw_b):
        warm(gw, path)
    incomplete = lambda l: l.get("complete") is False  # noqa: E731
    complete = lambda l: l.get("complete") is True  # noqa: E731
    resets_b = len(env.gw_b.events("edge_cache_reset", incomplete))
    completes_b = len(env.gw_b.events("edge_cache_reset", complete))
    env.stack("stop-redis")
    try:
        # menu2 loses the other replica's events: gateway B stops caching
        env.gw_b.wait_event("edge_cache_reset", count=resets_b + 1, pred=incomplete,
                            timeout=20)
        for status in ("busy", "closed"):
            r = put(env.gw_a, path, {"status": status})
            assert r.status == 200, (r.status, r.body)
            for gw in (env.gw_a, env.gw_b):  # reads still 200, and fresh
                assert get_json(gw, path)["status"] == status, gw.name
                assert get_json(gw, "/api/v1/restaurants/%d" % rid)["status"] == status
        for p in ("/api/v1/restaurants/52/menu", "/api/v1/restaurants?page=3"):
            for gw in (env.gw_a, env.gw_b):
                assert get(gw, p).status == 200, (gw.name, p)
    finally:
        env.stack("start-redis")
    env.gw_b.wait_event("edge_cache_reset", pred=complete, count=completes_b + 1, timeout=30)
    # never stale after Redis is back: the write made while it was down shows
    for gw in (env.gw_a, env.gw_b):
        for _ in range(3):
            assert get_json(gw, path)["status"] == "closed", gw.name
    # and the edge cache works again on both, with convergence
    ms = converge_ms(env, path, lambda d: d["status"] == "open",
                     lambda: put(env.gw_a, path, {"status": "open"}))
    print("    after Redis came back, gateway B converged in %.1f ms" % ms)
    assert ms <= CONVERGE_MS, ms


def test_clean_shutdown(env):
    for p in (env.gw_a, env.gw_b, env.menu1, env.menu2):
        rc = p.stop()
        log = open(p.log_path, errors="replace").read()
        assert rc == 0, (p.name, rc, log[-2000:])
        for bad in ("AddressSanitizer", "LeakSanitizer", "runtime error:"):
            assert bad not in log, (p.name, log[log.index(bad) - 200:][:3000])


TESTS = [
    test_list_default_and_pagination,
    test_list_each_filter,
    test_list_bad_filters_400,
    test_restaurant_menu_status_menu_with_status,
    test_not_found_and_bad_ids,
    test_edge_hits_keep_headers_and_log,
    test_gzip_on_miss_and_hit,
    test_etag_304_on_miss_and_hit,
    test_http2,
    test_status_write_visible_on_next_read,
    test_status_write_errors,
    test_item_write_visible_on_next_read,
    test_item_write_errors,
    test_bulk_write_visible_on_next_read,
    test_bulk_write_errors,
    test_second_replica_converges_within_100ms,
    test_redis_stopped_mid_test,
    test_clean_shutdown,
]


def main():
    if any(shutil.which(t) is None for t in ("nghttp", "psql", "redis-cli")):
        print("SKIP: needs nghttp (nghttp2-client), psql and redis-cli")
        return 0
    return run_tests(Env, TESTS)


if __name__ == "__main__":
    sys.exit(main())
