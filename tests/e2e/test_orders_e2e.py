#!/usr/bin/python3
"""End-to-end test of the order path: browser -> se-gateway -> se-order
(-> se-menu for prices) -> PostgreSQL + outbox -> Redis stream ->
se-payment-worker -> se-payment-gateway (the mock) -> se-order, over real
HTTP, with the real binaries.

Starts, on ports the OS picks: a database of its own on the server of
SE_PG_URL (seeded by se-menu-seed), Redis database index 12 of SE_REDIS_URL's
server, se-menu, se-payment-gateway (fast: 5 ms median latency, no random
failures unless a test configures them through its admin RPCs), se-order,
se-payment-worker (consumer "e2e-worker", short backoff and breaker times)
and se-gateway.

Checks: an order accepted (202, payment_processing) and confirmed; a
declined card ends payment_failed after one attempt; a transient failure is
retried with every attempt recorded; a gateway outage opens the breaker,
orders wait and all complete after recovery; the worker killed (SIGKILL)
mid-charge and restarted: every order final and exactly one ledger charge
per confirmed order; Redis down during order creation: 202, then paid after
Redis returns; the Idempotency-Key; every validation error; price mismatch;
unknown and unavailable items; GET and list with filters.

Environment: SE_PG_URL, SE_REDIS_URL and SE_STACK_DIR as exported by
scripts/test.sh (ctest holds RESOURCE_LOCK se_stack: this test stops and
starts the shared Redis); without them it starts a stack of its own.
SE_BUILD_DIR names the build. SE_E2E_KEEP=1 keeps the logs.
Prints "N passed, N failed"; exits non-zero on any failure.
"""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # e2e_util, from any cwd
from e2e_util import GrpcClient, StackEnv, assert_error, call, get_json, psql, run_tests, wait_for

REDIS_DB = 12
N_RESTAURANTS = 30
PAYGW = "swifteats.v1.PaymentGatewayService"
FINAL = ("confirmed", "payment_failed")
# The mock's behaviour between tests: fast, and never failing by chance.
CALM = {"latency_median_ms": 5, "latency_p99_ms": 20, "decline_rate": 0,
        "transient_error_rate": 0, "timeout_rate": 0}
WORKER_ENV = {
    "SE_PAYMENT_CONSUMER": "e2e-worker",
    "SE_PAYMENT_RETRY_BASE_MS": "100",
    "SE_PAYMENT_RETRY_MAX_MS": "400",
    "SE_PAYMENT_MAX_ATTEMPTS": "8",
    "SE_PAYMENT_BREAKER_FAILURES": "3",
    "SE_PAYMENT_BREAKER_OPEN_MS": "1000",
    "SE_PAYMENT_CHARGE_TIMEOUT_MS": "2000",
    "SE_PAYMENT_CLAIM_IDLE_MS": "2000",
    "SE_PAYMENT_RECLAIM_INTERVAL_MS": "500",
}


class Env(StackEnv):
    def __init__(self):
        super().__init__("se_orders_e2e", REDIS_DB, N_RESTAURANTS)
        stores = {"SE_PG_URL": self.pg_url, "SE_REDIS_URL": self.redis_url}
        self.menu = self.start("menu", "se-menu", dict(stores, SE_MENU_ADDR="127.0.0.1:0"))
        self.menu.wait_listening()
        self.paygw = self.start("payment-gateway", "se-payment-gateway",
                                {"SE_PAYMENT_GATEWAY_ADDR": "127.0.0.1:0"})
        self.paygw.wait_listening()
        self.targets = {"SE_MENU_TARGET": "127.0.0.1:%d" % self.menu.port,
                        "SE_PAYMENT_GATEWAY_TARGET": "127.0.0.1:%d" % self.paygw.port}
        self.order = self.start("order", "se-order", dict(
            stores, SE_ORDER_ADDR="127.0.0.1:0", SE_ORDER_OUTBOX_POLL_MS="200", **self.targets))
        self.order.wait_listening()
        self.targets["SE_ORDER_TARGET"] = "127.0.0.1:%d" % self.order.port
        self.workers = 0
        self.worker = self.start_worker()
        self.gw = self.start("gateway", "se-gateway", dict(
            SE_GATEWAY_ADDR="127.0.0.1:0", SE_GATEWAY_EDGE_CACHE="false", **self.targets))
        self.gw.wait_listening()
        self.pg = GrpcClient(self.tmp, ["swifteats/v1/payment_gateway.proto"],
                             "127.0.0.1:%d" % self.paygw.port)
        self.items = [(int(i), int(p)) for i, p in (l.split("|") for l in psql(self.pg_url, """
            SELECT i.id, i.price_cents FROM menu_items i JOIN restaurants r ON r.id = i.restaurant_id
            WHERE i.available AND i.in_stock AND r.status IN ('open', 'busy')
            ORDER BY i.id LIMIT 200""").split())]
        assert len(self.items) > 20, self.items

    def start_worker(self):
        self.workers += 1
        w = self.start("payment-worker-%d" % self.workers, "se-payment-worker", dict(
            WORKER_ENV, SE_PAYMENT_WORKER_ADDR="127.0.0.1:0", SE_REDIS_URL=self.redis_url,
            **self.targets))
        w.wait_listening()
        return w

    def configure(self, **behaviour):
        return self.pg.call(PAYGW, "Configure", {"behaviour": dict(CALM, **behaviour)})

    def close(self):
        if getattr(self, "pg", None):
            self.pg.close()
        super().close()


# ---- helpers ----------------------------------------------------------------

def money(cents):
    return "%d.%02d" % (cents // 100, cents % 100)


_customers = [0]


def new_customer():
    _customers[0] += 1
    return "cust-%d-%d" % (os.getpid(), _customers[0])


def order_body(env, n_items=2, customer=None, start=0):
    items = []
    for k in range(n_items):
        item_id, price = env.items[(start + k) % len(env.items)]
        items.append({"item_id": str(item_id), "item_name": "x", "quantity": k + 1,
                      "price": float(money(price))})
    return {"customer_id": customer or new_customer(), "items": items}


def create(env, body=None, headers=None, status=202):
    r = call(env.gw, "POST", "/api/v1/orders", body or order_body(env), headers)
    assert r.status == status, (r.status, r.body[:400])
    return r.json()


def get_order(env, oid):
    return get_json(env.gw, "/api/v1/orders/%d" % oid)


def wait_final(env, oids, timeout=30):
    """Every order's final JSON; AssertionError naming the open ones."""
    done = {}

    def all_final():
        for oid in oids:
            if oid not in done:
                o = get_order(env, oid)
                if o["status"] in FINAL:
                    done[oid] = o
        return len(done) == len(oids)
    if not wait_for(all_final, timeout, interval=0.05):
        open_ = [(o, get_order(env, o)["status"]) for o in oids if o not in done]
        raise AssertionError("orders not final after %ss: %s" % (timeout, open_[:10]))
    return [done[o] for o in oids]


def approved_charges(env, oid):
    doc = env.pg.call(PAYGW, "ListLedger", {"order_id": oid, "status": "CHARGE_STATUS_APPROVED"})
    return int(doc["total"])


def setup(env):
    env.configure()


# ---- the payment life cycle -------------------------------------------------

def test_order_accepted_then_confirmed(env):
    body = order_body(env, 3)
    o = create(env, body)
    assert o["status"] == "payment_processing", o
    assert o["customer_id"] == body["customer_id"]
    want = sum(env.items[k][1] * (k + 1) for k in range(3))
    assert abs(o["total_amount"] - want / 100) < 1e-9, (o["total_amount"], want)
    assert [i["item_id"] for i in o["items"]] == [i["item_id"] for i in body["items"]]
    done = wait_final(env, [o["id"]])[0]
    assert done["status"] == "confirmed", done
    attempts = done["payment_attempts"]
    assert len(attempts) == 1 and attempts[0]["status"] == "success", attempts
    assert attempts[0]["gateway_charge_id"], attempts
    charge = env.pg.call(PAYGW, "GetCharge", {"idempotency_key": "order-%d" % o["id"]})
    assert charge["status"] == "CHARGE_STATUS_APPROVED" and charge["order_id"] == str(o["id"])
    assert charge["charge_id"] == attempts[0]["gateway_charge_id"]
    assert approved_charges(env, o["id"]) == 1


def test_declined_card_fails_after_one_attempt(env):
    env.configure(decline_rate=1)
    try:
        o = create(env)
        done = wait_final(env, [o["id"]])[0]
    finally:
        env.configure()
    assert done["status"] == "payment_failed", done
    attempts = done["payment_attempts"]
    assert len(attempts) == 1, attempts
    assert attempts[0]["status"] == "failed" and "declined" in attempts[0]["error_message"]
    assert approved_charges(env, o["id"]) == 0


def test_transient_failure_is_retried_and_recorded(env):
    env.configure(transient_error_rate=1)
    try:
        o = create(env)
        failed = lambda: len([a for a in get_order(env, o["id"])["payment_attempts"]  # noqa: E731
                              if a["status"] == "failed"]) >= 2
        assert wait_for(failed, 20, interval=0.02), get_order(env, o["id"])
    finally:
        env.configure()
    done = wait_final(env, [o["id"]])[0]
    assert done["status"] == "confirmed", done
    attempts = done["payment_attempts"]
    assert len(attempts) >= 3, attempts
    assert [a["attempt_number"] for a in attempts] == list(range(1, len(attempts) + 1))
    assert all(a["status"] == "failed" for a in attempts[:-1]), attempts
    assert attempts[-1]["status"] == "success", attempts
    assert approved_charges(env, o["id"]) == 1


def test_outage_opens_breaker_orders_wait_then_complete(env):
    opened_before = len(env.worker.events("breaker_state", lambda l: l.get("to") == "open"))
    env.pg.call(PAYGW, "SetOutage", {"enabled": True})
    try:
        oids = [create(env)["id"] for _ in range(10)]
        env.worker.wait_event("breaker_state", pred=lambda l: l.get("to") == "open",
                              count=opened_before + 1, timeout=20)
        time.sleep(1.5)  # a breaker period: the orders must still be waiting, not failed
        for oid in oids:
            o = get_order(env, oid)
            assert o["status"] == "payment_processing", o
            assert len(o["payment_attempts"]) < int(WORKER_ENV["SE_PAYMENT_MAX_ATTEMPTS"]), o
    finally:
        env.pg.call(PAYGW, "SetOutage", {"enabled": False})
    done = wait_final(env, oids, timeout=30)
    assert all(o["status"] == "confirmed" for o in done), [o["status"] for o in done]
    env.worker.wait_event("breaker_state", pred=lambda l: l.get("to") == "closed")
    for oid in oids:
        assert approved_charges(env, oid) == 1, oid


def test_worker_killed_mid_charge_and_restarted(env):
    env.configure(latency_median_ms=400, latency_p99_ms=400)
    try:
        oids = [create(env)["id"] for _ in range(20)]
        in_flight = lambda: psql(env.pg_url, "SELECT count(*) FROM payment_attempts "  # noqa: E731
                                 "WHERE status = 'processing'").strip() not in ("", "0")
        assert wait_for(in_flight, 20, interval=0.01), "no charge ever in flight"
        env.worker.kill()
        env.configure(latency_median_ms=50, latency_p99_ms=100)
        env.worker = env.start_worker()  # same consumer name: resumes its pending jobs
        done = wait_final(env, oids, timeout=40)
    finally:
        env.configure()
    for o in done:
        assert o["status"] == "confirmed", o  # no declines configured
        assert approved_charges(env, o["id"]) == 1, o["id"]
        tries = [a for a in o["payment_attempts"] if a["status"] == "success"]
        assert len(tries) == 1, o["payment_attempts"]


def test_redis_down_during_creation_paid_after_return(env):
    env.stack("stop-redis")
    try:
        o = create(env)
        assert o["status"] == "payment_processing", o
        time.sleep(0.5)
        assert get_order(env, o["id"])["status"] == "payment_processing"
    finally:
        env.stack("start-redis")
    done = wait_final(env, [o["id"]], timeout=40)[0]
    assert done["status"] == "confirmed", done
    assert approved_charges(env, o["id"]) == 1


# ---- idempotency and validation ----------------------------------------------

def test_idempotency_key(env):
    body = order_body(env, 2)
    key = {"Idempotency-Key": "e2e-key-%d" % os.getpid()}
    first = create(env, body, key)
    again = create(env, body, key)
    assert again["id"] == first["id"], (first, again)
    n = psql(env.pg_url, "SELECT count(*) FROM orders WHERE customer_id = '%s'"
             % body["customer_id"]).strip()
    assert n == "1", n
    other = dict(body, items=body["items"][:1])
    r = call(env.gw, "POST", "/api/v1/orders", other, key)
    assert_error(r, 409, "ALREADY_EXISTS", "Idempotency-Key")


def test_validation_errors_name_the_field(env):
    good = order_body(env, 2)
    item = good["items"][0]
    cases = [
        (dict(good, customer_id=""), "customer_id"),
        (dict(good, customer_id="c" * 65), "customer_id"),
        (dict(good, items=[]), "items"),
        (dict(good, items=[item] * 51), "items"),
        (dict(good, items=[item, dict(item, quantity=0)]), "items[1].quantity"),
        (dict(good, items=[dict(item, quantity=101)]), "items[0].quantity"),
        (dict(good, items=[dict(item, price=0)]), "items[0].price"),
        (dict(good, items=[dict(item, price=-1.5)]), "items[0].price"),
        (dict(good, items=[dict(item, item_id="abc")]), "items[0].item_id"),
        (dict(good, items=[dict(item, item_id="")]), "items[0].item_id"),
        (dict(good, items=[dict(item, quantity="two")]), "quantity"),
        (dict(good, items=[dict(item, price=1.234)]), "price"),
    ]
    for body, field in cases:
        r = call(env.gw, "POST", "/api/v1/orders", body)
        assert_error(r, 400, "INVALID_ARGUMENT", field)
    r = call(env.gw, "POST", "/api/v1/orders", b'{"customer_id": "x", "items": [')
    assert r.status == 400, r.body
    r = call(env.gw, "POST", "/api/v1/orders", order_body(env), {"Idempotency-Key": "k" * 300})
    assert r.status == 400, r.body


def test_price_mismatch_unknown_and_unavailable_items(env):
    body = order_body(env, 1)
    item_id, price = env.items[0]
    body["items"][0]["price"] = float(money(price + 100))
    r = call(env.gw, "POST", "/api/v1/orders", body)
    assert_error(r, 400, "FAILED_PRECONDITION",
                 "items[0].price %s differs from the menu price %s" % (money(price + 100), money(price)))
    body = order_body(env, 1)
    body["items"][0]["item_id"] = "987654321"
    r = call(env.gw, "POST", "/api/v1/orders", body)
    assert_error(r, 400, "INVALID_ARGUMENT", "items[0].item_id", "987654321")
    rid = int(psql(env.pg_url, "SELECT restaurant_id FROM menu_items WHERE id = %d" % item_id))
    path = "/api/v1/restaurants/%d/menu/items/%d/availability" % (rid, item_id)
    r = call(env.gw, "PUT", path, {"available": False, "in_stock": True})
    assert r.status == 200, (r.status, r.body)
    try:
        r = call(env.gw, "POST", "/api/v1/orders", order_body(env, 1))
        assert_error(r, 400, "FAILED_PRECONDITION", "items[0]")
    finally:
        r = call(env.gw, "PUT", path, {"available": True, "in_stock": True})
        assert r.status == 200, (r.status, r.body)
    assert psql(env.pg_url, "SELECT count(*) FROM orders WHERE total_amount <= 0").strip() == "0"


# ---- reads ------------------------------------------------------------------------

def test_get_and_list_orders(env):
    r = call(env.gw, "GET", "/api/v1/orders/999999999")
    assert_error(r, 404, "NOT_FOUND")
    r = call(env.gw, "GET", "/api/v1/orders/abc")
    assert r.status == 400, r.body
    cust = new_customer()
    oids = [create(env, order_body(env, 1, cust, start=k))["id"] for k in range(5)]
    wait_final(env, oids)
    doc = get_json(env.gw, "/api/v1/orders?customer_id=%s&page_size=2" % cust)
    assert doc["total"] == 5 and doc["page"] == 1 and doc["page_size"] == 2, doc
    assert [o["id"] for o in doc["orders"]] == sorted(oids, reverse=True)[:2], doc
    page3 = get_json(env.gw, "/api/v1/orders?customer_id=%s&page_size=2&page=3" % cust)
    assert [o["id"] for o in page3["orders"]] == [min(oids)], page3
    assert all(o["items"] and o["payment_attempts"] for o in doc["orders"]), doc
    confirmed = get_json(env.gw, "/api/v1/orders?customer_id=%s&status=confirmed" % cust)
    assert confirmed["total"] == 5, confirmed
    none = get_json(env.gw, "/api/v1/orders?customer_id=%s&status=cancelled" % cust)
    assert none["total"] == 0 and none["orders"] == [], none
    r = call(env.gw, "GET", "/api/v1/orders?status=shipped")
    assert_error(r, 400, "INVALID_ARGUMENT", "status")
    r = call(env.gw, "GET", "/api/v1/orders?page_size=101")
    assert_error(r, 400, "INVALID_ARGUMENT", "page_size")


def main():
    tests = [
        test_order_accepted_then_confirmed,
        test_declined_card_fails_after_one_attempt,
        test_transient_failure_is_retried_and_recorded,
        test_idempotency_key,
        test_validation_errors_name_the_field,
        test_price_mismatch_unknown_and_unavailable_items,
        test_get_and_list_orders,
        test_outage_opens_breaker_orders_wait_then_complete,
        test_worker_killed_mid_charge_and_restarted,
        test_redis_down_during_creation_paid_after_return,
    ]
    return run_tests(Env, tests, setup)


if __name__ == "__main__":
    sys.exit(main())
