#!/usr/bin/python3
"""End-to-end test of the logistics path: driver -> se-gateway (REST, batched
into ReportLocations) -> se-logistics -> Redis stream -> se-location-worker ->
Redis positions + PostgreSQL history + Pub/Sub -> se-logistics
(WatchOrderLocation) -> se-gateway WebSocket -> customer, over real HTTP and
WebSocket, with the real binaries.

Starts, on ports the OS picks: a database of its own on the server of
SE_PG_URL, Redis database index 13 of SE_REDIS_URL's server, se-logistics,
se-location-worker (consumer "e2e-loc", short claim idle time) and
se-gateway.

Checks: a report accepted (202 with its message_id) becomes the current
location, appears in nearby search, in the route and as the order's driver
location; each validation error names its field (400); a WebSocket watcher
gets "connected", then every location_update of its order (not others'),
and unsubscribing closes cleanly; the worker killed (SIGKILL) while reports
flow and restarted: history rows = accepted reports, no duplicates; Redis
stopped during ingestion: 503 while it is down (never a 202), every accepted
report reaches the history; PostgreSQL stopped: ingestion keeps accepting,
the history catches up when it returns.

Environment: as tests/e2e/test_orders_e2e.py (SE_PG_URL, SE_REDIS_URL,
SE_STACK_DIR from scripts/test.sh; SE_BUILD_DIR; SE_E2E_KEEP=1).
"""
import asyncio
import json
import os
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # e2e_util, from any cwd
from e2e_util import StackEnv, assert_error, call, get_json, psql, run_tests, wait_for

import websockets  # python3-websockets (Debian), /usr/bin/python3

REDIS_DB = 13
WORKER_ENV = {
    "SE_LOCATION_CONSUMER": "e2e-loc",
    "SE_LOCATION_CLAIM_IDLE_MS": "1000",
}


class Env(StackEnv):
    def __init__(self):
        super().__init__("se_logistics_e2e", REDIS_DB, 1)
        self.stores = {"SE_PG_URL": self.pg_url, "SE_REDIS_URL": self.redis_url}
        self.logistics = self.start("logistics", "se-logistics",
                                    dict(self.stores, SE_LOGISTICS_ADDR="127.0.0.1:0"))
        self.logistics.wait_listening()
        self.workers = 0
        self.worker = self.start_worker()
        self.gw = self.start("gateway", "se-gateway", dict(
            SE_GATEWAY_ADDR="127.0.0.1:0", SE_GATEWAY_EDGE_CACHE="false",
            SE_LOGISTICS_TARGET="127.0.0.1:%d" % self.logistics.port))
        self.gw.wait_listening()

    def start_worker(self):
        self.workers += 1
        w = self.start("location-worker-%d" % self.workers, "se-location-worker", dict(
            self.stores, SE_LOCATION_WORKER_ADDR="127.0.0.1:0", **WORKER_ENV))
        w.wait_listening()
        return w

    def history(self, driver_prefix):
        """{stream_id: count} of the history rows of drivers named prefix*."""
        out = psql(self.pg_url, "SELECT stream_id, count(*) FROM location_history WHERE "
                   "driver_id LIKE '%s%%' GROUP BY stream_id" % driver_prefix)
        return {k: int(v) for k, v in (l.split("|") for l in out.split())}


# ---- helpers ----------------------------------------------------------------

def report(env, driver, lat, lng, **extra):
    body = dict(latitude=lat, longitude=lng, **extra)
    return call(env.gw, "POST", "/api/v1/drivers/%s/location" % driver, body)


def accepted(r, driver):
    assert r.status == 202, (r.status, r.body)
    j = r.json()
    assert j["status"] == "accepted" and j["driver_id"] == driver and j["message_id"], j
    return j["message_id"]


class Flow:
    """Reports from a thread as fast as they are answered, driver names
    prefix-<n>; records every accepted message_id and every status."""

    def __init__(self, env, prefix):
        self.env, self.prefix = env, prefix
        self.ids, self.statuses, self.stop = [], {}, False
        self.t = threading.Thread(target=self.run)
        self.t.start()

    def run(self):
        n = 0
        while not self.stop:
            n += 1
            d = "%s-%d" % (self.prefix, n % 50)
            r = report(self.env, d, 40 + (n % 100) / 1000.0, -74.0, speed=5, heading=90)
            self.statuses[r.status] = self.statuses.get(r.status, 0) + 1
            if r.status == 202:
                self.ids.append(r.json()["message_id"])
            else:
                time.sleep(0.01)

    def end(self):
        self.stop = True
        self.t.join()
        return self.ids


def wait_history(env, prefix, ids, timeout=30, unknown=0):
    """Every accepted report has exactly one history row; `unknown`: how
    many answers were 503 (Redis may have stored such a report before the
    connection broke: a client retries them, at least once)."""
    want = set(ids)
    wait_for(lambda: set(env.history(prefix)) >= want, timeout, interval=0.2)
    rows = env.history(prefix)
    missing = want - set(rows)
    assert not missing, "%d accepted reports missing from history, e.g. %s" % (
        len(missing), sorted(missing)[:3])
    doubled = [k for k, c in rows.items() if c > 1]
    assert not doubled, "history rows doubled: %s" % doubled[:3]
    assert len(want) <= len(rows) <= len(want) + unknown, (len(rows), len(want), unknown)


# ---- tests ------------------------------------------------------------------

def test_report_then_current_nearby_route_and_order(env):
    mid = accepted(report(env, "e2e-d1", 40.7128, -74.006, speed=8.5, heading=90,
                          accuracy=5, order_id=501), "e2e-d1")
    assert wait_for(lambda: call(env.gw, "GET", "/api/v1/drivers/e2e-d1/location").status == 200,
                    10), "location never became current"
    loc = get_json(env.gw, "/api/v1/drivers/e2e-d1/location")
    assert loc["latitude"] == 40.7128 and loc["order_id"] == 501 and loc["speed"] == 8.5, loc
    near = get_json(env.gw, "/api/v1/drivers/nearby?lat=40.713&lng=-74.006&radius=500")
    assert near["drivers"] and near["drivers"][0]["driver_id"] == "e2e-d1", near
    assert near["drivers"][0]["distance"] < 500 and near["radius"] == 500, near
    got = get_json(env.gw, "/api/v1/drivers/orders/501/driver-location")
    assert got["driver_id"] == "e2e-d1", got
    assert wait_for(lambda: env.history("e2e-d1") == {mid: 1}, 10), env.history("e2e-d1")
    route = get_json(env.gw, "/api/v1/drivers/e2e-d1/route")
    assert [l["latitude"] for l in route["locations"]] == [40.7128], route
    assert_error(call(env.gw, "GET", "/api/v1/drivers/nobody/location"), 404, "NOT_FOUND")
    assert_error(call(env.gw, "GET", "/api/v1/drivers/orders/999999/driver-location"), 404,
                 "NOT_FOUND")


def test_validation_errors_name_the_field(env):
    cases = [({"longitude": 1}, "latitude"), ({"latitude": 91, "longitude": 1}, "latitude"),
             ({"latitude": 1, "longitude": 181}, "longitude"),
             ({"latitude": 1, "longitude": 1, "heading": 400}, "heading"),
             ({"latitude": 1, "longitude": 1, "speed": -3}, "speed"),
             ({"latitude": 1, "longitude": 1, "accuracy": -1}, "accuracy"),
             ({"latitude": 1, "longitude": 1, "order_id": 0}, "order_id"),
             ({"latitude": 1, "longitude": 1, "timestamp": "2099-01-01T00:00:00Z"}, "timestamp")]
    for body, field in cases:
        r = call(env.gw, "POST", "/api/v1/drivers/e2e-bad/location", body)
        assert_error(r, 400, "INVALID_ARGUMENT", field)
    assert_error(call(env.gw, "GET", "/api/v1/drivers/nearby?lat=1"), 400, "INVALID_ARGUMENT", "lng")
    assert_error(call(env.gw, "GET", "/api/v1/drivers/nearby?lat=1&lng=1&radius=60000"), 400,
                 "INVALID_ARGUMENT", "radius")


async def watch_and_unsubscribe(env, order_id, driver):
    url = "ws://127.0.0.1:%d/api/v1/drivers/orders/%d/driver-location" % (env.gw.port, order_id)
    async with websockets.connect(url) as ws:
        hello = json.loads(await asyncio.wait_for(ws.recv(), 10))
        assert hello["type"] == "connected" and hello["order_id"] == order_id, hello
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, lambda: accepted(
            report(env, driver, 40.1, -74.1, order_id=order_id + 1), driver))  # another order
        await loop.run_in_executor(None, lambda: accepted(
            report(env, driver, 40.2, -74.2, order_id=order_id), driver))
        update = json.loads(await asyncio.wait_for(ws.recv(), 10))
        assert update["type"] == "location_update", update
        assert update["data"]["order_id"] == order_id and update["data"]["latitude"] == 40.2, update
        assert update["data"]["driver_id"] == driver, update
        await ws.send(json.dumps({"action": "unsubscribe"}))
        try:
            extra = await asyncio.wait_for(ws.recv(), 10)
            raise AssertionError("message after unsubscribe: %s" % extra)
        except websockets.ConnectionClosedOK as e:
            assert e.rcvd is not None and e.rcvd.code == 1000, e


def test_websocket_gets_updates_then_unsubscribes(env):
    asyncio.run(watch_and_unsubscribe(env, 7001, "e2e-ws"))


def test_worker_killed_mid_flow_no_loss_no_duplicate(env):
    flow = Flow(env, "e2e-kill")
    time.sleep(1.0)
    env.worker.kill()
    time.sleep(0.5)
    env.worker = env.start_worker()  # same consumer: resumes its pending entries
    time.sleep(1.0)
    ids = flow.end()
    assert len(ids) > 50, flow.statuses
    wait_history(env, "e2e-kill", ids)


def test_redis_down_503_never_false_202(env):
    flow = Flow(env, "e2e-redis")
    time.sleep(0.5)
    env.stack("stop-redis")
    try:
        before = dict(flow.statuses)
        time.sleep(1.0)
        during = {k: v - before.get(k, 0) for k, v in flow.statuses.items()}
        assert during.get(503, 0) > 0, during
    finally:
        env.stack("start-redis")
    time.sleep(1.5)
    ids = flow.end()
    assert flow.statuses.get(202, 0) == len(ids), flow.statuses
    assert set(flow.statuses) <= {202, 503}, flow.statuses
    wait_history(env, "e2e-redis", ids, unknown=flow.statuses.get(503, 0))


def test_postgres_down_ingest_goes_on_history_catches_up(env):
    env.stack("stop-pg")
    try:
        flow = Flow(env, "e2e-pg")
        time.sleep(1.5)
        ids = flow.end()
        assert len(ids) > 50 and set(flow.statuses) == {202}, flow.statuses
        assert wait_for(lambda: call(env.gw, "GET", "/api/v1/drivers/e2e-pg-1/location").status
                        == 200, 10), "positions must not wait for PostgreSQL"
    finally:
        env.stack("start-pg")
    wait_history(env, "e2e-pg", ids, timeout=60)


TESTS = [
    test_report_then_current_nearby_route_and_order,
    test_validation_errors_name_the_field,
    test_websocket_gets_updates_then_unsubscribes,
    test_worker_killed_mid_flow_no_loss_no_duplicate,
    test_redis_down_503_never_false_202,
    test_postgres_down_ingest_goes_on_history_catches_up,
]

if __name__ == "__main__":
    sys.exit(run_tests(Env, TESTS))
