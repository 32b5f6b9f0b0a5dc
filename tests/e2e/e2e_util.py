"""Helpers shared by the end-to-end scripts in tests/e2e/: finding the built
binaries, free ports, component processes whose JSON log lines go to a file
(wait for an event, read the "listening" port, stop by SIGTERM), the
temporary directory holding their logs, one HTTP request, and the test runner
that counts and reports passes and failures.

The scripts run as `/usr/bin/python3 tests/e2e/<file>.py`; Python puts the
script's folder first on sys.path, so `import e2e_util` works from any cwd.
"""
import gzip
import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import traceback

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
STACK = os.path.join(ROOT, "scripts", "stack.sh")
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


# Every process started, so a set-up that fails half-way (the env object is
# never returned, hence never closed) leaves none behind: run_tests kills
# what is still running at the end.
_STARTED = []


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
        _STARTED.append(self)
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


def psql(url, sql):
    """Output of one psql -Atc (rows as lines); RuntimeError on failure."""
    out = subprocess.run(["psql", url, "-X", "-v", "ON_ERROR_STOP=1", "-Atc", sql],
                         capture_output=True, text=True, timeout=60)
    if out.returncode != 0:
        raise RuntimeError("psql %r: %s" % (sql, out.stderr))
    return out.stdout


class StackEnv(ProcEnv):
    """A ProcEnv with a database of its own on the server of SE_PG_URL
    (CREATE DATABASE <db_prefix>_<pid>, seeded with `restaurants` restaurants
    by se-menu-seed) and Redis database index `redis_db` of SE_REDIS_URL's
    server (flushed first). Uses the stack exported by scripts/test.sh
    (SE_PG_URL, SE_REDIS_URL, SE_STACK_DIR), or starts one of its own and
    stops it on close. Sets pg_url, redis_url, stack_dir."""

    def __init__(self, db_prefix, redis_db, restaurants):
        super().__init__(db_prefix.replace("_", "-") + "-")
        os.chmod(self.tmp, 0o755)  # PostgreSQL runs as another user when we are root
        self.own_stack = None
        self.db_name = None
        if not os.environ.get("SE_PG_URL"):
            self.own_stack = os.path.join(self.tmp, "stack")
            subprocess.run([STACK, "start", self.own_stack], check=True,
                           stdout=subprocess.DEVNULL, timeout=120)
            for line in open(os.path.join(self.own_stack, "env")):
                k, _, v = line.strip().partition("=")
                if k.startswith("SE_") and v:
                    os.environ[k] = v
        self.stack_dir = os.environ["SE_STACK_DIR"]
        self.base_pg = os.environ["SE_PG_URL"]
        self.db_name = "%s_%d" % (db_prefix, os.getpid())
        psql(self.base_pg, "DROP DATABASE IF EXISTS %s" % self.db_name)
        psql(self.base_pg, "CREATE DATABASE %s" % self.db_name)
        self.pg_url = self.base_pg.rsplit("/", 1)[0] + "/" + self.db_name
        self.redis_url = re.sub(r"/\d+$", "", os.environ["SE_REDIS_URL"]) + "/%d" % redis_db
        self.flush_redis()
        seed = subprocess.run([find_binary("se-menu-seed"), "--if-empty", "--restaurants",
                               str(restaurants)], env=dict(os.environ, SE_PG_URL=self.pg_url),
                              capture_output=True, text=True, timeout=120)
        assert seed.returncode == 0, seed.stdout + seed.stderr

    def flush_redis(self):
        out = subprocess.run(["redis-cli", "-u", self.redis_url, "FLUSHDB"],
                             capture_output=True, text=True, timeout=30)
        assert out.returncode == 0 and "OK" in out.stdout, out.stdout + out.stderr

    def stack(self, what):
        """scripts/stack.sh <what> on the shared stack ("stop-redis", ...)."""
        subprocess.run([STACK, what, self.stack_dir], check=True, timeout=60,
                       stdout=subprocess.DEVNULL)

    def start(self, name, binary, env, args=()):
        return self.add(Proc(self.tmp, name, [find_binary(binary)] + list(args), env,
                             stop_timeout=15.0))

    def close(self):
        close_connections()
        self.kill_all()
        if self.db_name:
            try:
                psql(self.base_pg, "DROP DATABASE IF EXISTS %s" % self.db_name)
            except Exception as e:  # noqa: BLE001 - best effort cleanup
                print("cleanup:", e)
        if self.own_stack:
            subprocess.run([STACK, "stop", self.own_stack], timeout=60)
        self.remove_tmp()


class Resp:
    """A response read whole: status, headers (lower-case names), body."""

    def __init__(self, r, body):
        self.status = r.status
        self.headers = {k.lower(): v for k, v in r.getheaders()}
        self.raw = body
        self.body = body

    def json(self):
        data = self.raw
        if self.headers.get("content-encoding") == "gzip":
            data = gzip.decompress(data)
        return json.loads(data)


_conns = {}


def close_connections():
    for c in _conns.values():
        c.close()
    _conns.clear()


def call(gw, method, path, body=None, headers=None):
    """One request on a kept-alive connection per gateway process (gw.port);
    a body that is not bytes/str is sent as JSON."""
    for attempt in range(2):
        c = _conns.get(gw.port)
        if c is None:
            c = http.client.HTTPConnection("127.0.0.1", gw.port, timeout=10)
            _conns[gw.port] = c
        try:
            h = dict(headers or {})
            data = None
            if body is not None:
                data = body if isinstance(body, (bytes, str)) else json.dumps(body)
                h.setdefault("Content-Type", "application/json")
            c.request(method, path, body=data, headers=h)
            r = c.getresponse()
            return Resp(r, r.read())
        except (http.client.HTTPException, ConnectionError):
            c.close()
            _conns.pop(gw.port, None)
            if attempt:
                raise
    raise AssertionError("unreachable")


def get(gw, path, headers=None):
    return call(gw, "GET", path, headers=headers)


def get_json(gw, path, status=200):
    r = get(gw, path)
    assert r.status == status, (path, r.status, r.body[:300])
    return r.json()


def assert_error(r, status, grpc_status, *words):
    """The contract's error body with this HTTP and gRPC status, its message
    holding every word; returns the error object."""
    assert r.status == status, (r.status, r.body[:300])
    doc = json.loads(r.body)["error"]
    assert doc["code"] == status and doc["status"] == grpc_status, doc
    for w in words:
        assert w in doc["message"], (w, doc)
    return doc


def wait_for(fn, timeout, interval=0.01):
    """fn()'s first truthy value within timeout seconds, else None."""
    deadline = time.monotonic() + timeout
    while True:
        v = fn()
        if v:
            return v
        if time.monotonic() > deadline:
            return None
        time.sleep(interval)


class GrpcClient:
    """Calls any method of our .proto files with JSON-shaped dicts, through
    Debian's grpcio: proto/ is compiled with grpc_tools.protoc into a
    descriptor set in tmp (no generated Python package). Used by the
    end-to-end tests to drive internal RPCs (e.g. the mock payment
    gateway's admin calls).

        pg = GrpcClient(tmp, ["swifteats/v1/payment_gateway.proto"], "127.0.0.1:50054")
        pg.call("swifteats.v1.PaymentGatewayService", "SetOutage", {"enabled": True})
    """

    def __init__(self, tmp, proto_files, target):
        import grpc
        import grpc_tools
        from grpc_tools import protoc
        from google.protobuf import descriptor_pb2, descriptor_pool
        out = os.path.join(tmp, "protos-%d.pb" % os.getpid())
        include = os.path.join(os.path.dirname(grpc_tools.__file__), "_proto")
        rc = protoc.main(["protoc", "-I" + os.path.join(ROOT, "proto"), "-I" + include,
                          "--include_imports", "--descriptor_set_out=" + out] + proto_files)
        if rc != 0:
            raise RuntimeError("grpc_tools.protoc failed on %s" % proto_files)
        fds = descriptor_pb2.FileDescriptorSet()
        with open(out, "rb") as f:
            fds.ParseFromString(f.read())
        self.pool = descriptor_pool.DescriptorPool()
        for fdp in fds.file:
            self.pool.Add(fdp)
        self.channel = grpc.insecure_channel(target)

    def _class(self, desc):
        from google.protobuf import message_factory
        if hasattr(message_factory, "GetMessageClass"):
            return message_factory.GetMessageClass(desc)
        return message_factory.MessageFactory(self.pool).GetPrototype(desc)

    def call(self, service, method, request=None, timeout=10):
        """The response as a dict (proto field names, defaults included);
        grpc.RpcError on a non-OK status."""
        from google.protobuf import json_format
        m = self.pool.FindServiceByName(service).FindMethodByName(method)
        req_cls, resp_cls = self._class(m.input_type), self._class(m.output_type)
        req = json_format.ParseDict(request or {}, req_cls())
        stub = self.channel.unary_unary("/%s/%s" % (service, method),
                                        request_serializer=lambda x: x.SerializeToString(),
                                        response_deserializer=resp_cls.FromString)
        resp = stub(req, timeout=timeout)
        return json_format.MessageToDict(resp, preserving_proto_field_name=True,
                                         including_default_value_fields=True)

    def close(self):
        self.channel.close()


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
        for p in _STARTED:  # a set-up failure never returned its env
            p.kill()
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0
