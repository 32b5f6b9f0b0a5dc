#!/usr/bin/python3
"""Interoperability test: Debian's grpcio as an independent client of ours.

Starts one of our gRPC servers and, knowing nothing of our .proto files,
  1. calls grpc.health.v1.Health/Check and Watch (messages built from
     /usr/share/grpc-proto compiled with grpc_tools.protoc into a temporary
     folder, loaded as a descriptor set, never as a `grpc` package);
  2. uses server reflection, v1 and v1alpha, to list the services, fetch the
     file descriptors of every service (with their dependencies), and check
     the error answers;
  3. builds a fresh descriptor pool from the returned FileDescriptorProtos
     only (proving they are complete) and makes real calls through it:
     Health/Check, plus one read-only unary method (Get*/List*) of every
     swifteats service the server has (any status but UNIMPLEMENTED or
     UNAVAILABLE proves the call reached our handler).

Usage (run with /usr/bin/python3, which has python3-grpcio and
python3-protobuf):
    test_python_client.py [SERVER_CMD...]
    test_python_client.py --target HOST:PORT     # server already running
The server command comes from the arguments, else SE_INTEROP_SERVER_CMD,
else build/services/menu/se-menu if it exists. The test picks a free port and
passes it to the server three ways: `{port}` in the command is replaced,
SE_INTEROP_PORT is set, and SE_<NAME>_ADDR=127.0.0.1:<port> is set for
MENU, ORDER, LOGISTICS and PAYMENT_GATEWAY.
Optional: SE_INTEROP_CALL=/pkg.Service/Method and SE_INTEROP_CALL_JSON='{...}'
make one more dynamic call whose status must be OK.
Exit status 0 when every check passed, 1 otherwise (each check prints).
"""

import os
import shlex
import socket
import subprocess
import sys
import tempfile
import time

import grpc
from google.protobuf import descriptor_pb2, descriptor_pool, json_format, message_factory

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
GRPC_PROTO = "/usr/share/grpc-proto"
HEALTH = "grpc.health.v1.Health"
REFL = {"v1": "grpc.reflection.v1.ServerReflection",
        "v1alpha": "grpc.reflection.v1alpha.ServerReflection"}
TIMEOUT = 5.0

failures = 0


def check(cond, what):
    global failures
    print(("ok    " if cond else "FAIL  ") + what, flush=True)
    if not cond:
        failures += 1
    return cond


def message_class(pool, full_name):
    desc = pool.FindMessageTypeByName(full_name)
    if hasattr(message_factory, "GetMessageClass"):
        return message_factory.GetMessageClass(desc)
    return message_factory.MessageFactory(pool).GetPrototype(desc)


def local_pool(tmp):
    """Health and reflection messages from /usr/share/grpc-proto."""
    from grpc_tools import protoc
    out = os.path.join(tmp, "grpc_protos.pb")
    rc = protoc.main(["protoc", "-I" + GRPC_PROTO, "--include_imports",
                      "--descriptor_set_out=" + out,
                      "grpc/health/v1/health.proto",
                      "grpc/reflection/v1/reflection.proto",
                      "grpc/reflection/v1alpha/reflection.proto"])
    if rc != 0:
        raise SystemExit("grpc_tools.protoc failed on " + GRPC_PROTO)
    fds = descriptor_pb2.FileDescriptorSet()
    with open(out, "rb") as f:
        fds.ParseFromString(f.read())
    pool = descriptor_pool.DescriptorPool()
    for fdp in fds.file:
        pool.Add(fdp)
    return pool


# ---- server process -----------------------------------------------------

def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def server_command(argv):
    if argv:
        return argv
    if os.environ.get("SE_INTEROP_SERVER_CMD"):
        return shlex.split(os.environ["SE_INTEROP_SERVER_CMD"])
    default = os.path.join(ROOT, "build", "services", "menu", "se-menu")
    if os.path.exists(default):
        return [default]
    raise SystemExit("no server: pass a command, set SE_INTEROP_SERVER_CMD, or build " + default)


def start_server(cmd):
    port = free_port()
    env = dict(os.environ, SE_INTEROP_PORT=str(port))
    for name in ("MENU", "ORDER", "LOGISTICS", "PAYMENT_GATEWAY"):
        env["SE_%s_ADDR" % name] = "127.0.0.1:%d" % port
    cmd = [a.replace("{port}", str(port)) for a in cmd]
    print("# starting: " + " ".join(cmd) + " (port %d)" % port, flush=True)
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL)
    return proc, "127.0.0.1:%d" % port


def stop_server(proc):
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    check(proc.returncode == 0, "server exited cleanly on SIGTERM (status %s)" % proc.returncode)


def wait_ready(channel, proc, check_fn):
    """Polls Health/Check until it answers; never sleeps blindly for long."""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise SystemExit("server exited early with status %d" % proc.returncode)
        try:
            check_fn("", timeout=0.5)
            return
        except grpc.RpcError:
            time.sleep(0.05)
    raise SystemExit("server did not answer Health/Check within 20 s")


# ---- health --------------------------------------------------------------

def test_health(channel, pool):
    Req = message_class(pool, "grpc.health.v1.HealthCheckRequest")
    Resp = message_class(pool, "grpc.health.v1.HealthCheckResponse")
    serving = Resp.DESCRIPTOR.enum_types_by_name["ServingStatus"].values_by_name
    check_rpc = channel.unary_unary("/grpc.health.v1.Health/Check",
                                    request_serializer=Req.SerializeToString,
                                    response_deserializer=Resp.FromString)
    watch_rpc = channel.unary_stream("/grpc.health.v1.Health/Watch",
                                     request_serializer=Req.SerializeToString,
                                     response_deserializer=Resp.FromString)

    def call(service, timeout=TIMEOUT):
        return check_rpc(Req(service=service), timeout=timeout)

    return call, lambda: _health_checks(call, watch_rpc, Req, serving)


def _health_checks(call, watch_rpc, Req, serving):
    resp = call("")
    check(resp.status == serving["SERVING"].number, "Health/Check \"\" is SERVING")
    try:
        call("no.such.Service")
        check(False, "Health/Check of an unknown service fails")
    except grpc.RpcError as e:
        check(e.code() == grpc.StatusCode.NOT_FOUND,
              "Health/Check of an unknown service is NOT_FOUND (%s)" % e.code())
    stream = watch_rpc(Req(service=""), timeout=TIMEOUT)
    first = next(stream)
    check(first.status == serving["SERVING"].number, "Health/Watch \"\" sends SERVING at once")
    stream.cancel()
    stream = watch_rpc(Req(service="no.such.Service"), timeout=TIMEOUT)
    first = next(stream)
    check(first.status == serving["SERVICE_UNKNOWN"].number,
          "Health/Watch of an unknown service sends SERVICE_UNKNOWN")
    stream.cancel()


# ---- reflection ----------------------------------------------------------

class Reflection:
    """One ServerReflectionInfo stream per exchange (v1 or v1alpha)."""

    def __init__(self, channel, pool, version):
        pkg = "grpc.reflection." + version
        self.Req = message_class(pool, pkg + ".ServerReflectionRequest")
        self.Resp = message_class(pool, pkg + ".ServerReflectionResponse")
        self.ExtReq = message_class(pool, pkg + ".ExtensionRequest")
        self.rpc = channel.stream_stream("/%s/ServerReflectionInfo" % REFL[version],
                                         request_serializer=self.Req.SerializeToString,
                                         response_deserializer=self.Resp.FromString)
        self.version = version

    def exchange(self, requests):
        return list(self.rpc(iter(requests), timeout=TIMEOUT))

    def ask(self, **kw):
        return self.exchange([self.Req(host="localhost", **kw)])[0]


def files_from(resp):
    out = []
    for raw in resp.file_descriptor_response.file_descriptor_proto:
        fdp = descriptor_pb2.FileDescriptorProto()
        fdp.ParseFromString(raw)
        out.append(fdp)
    return out


def add_all(pool, fdps, added):
    """Adds files in dependency order (the server sends the file first)."""
    pending = [f for f in fdps if f.name not in added]
    while pending:
        progress = False
        for fdp in list(pending):
            if all(dep in added for dep in fdp.dependency):
                pool.Add(fdp)
                added.add(fdp.name)
                pending.remove(fdp)
                progress = True
        if not progress:
            missing = sorted({d for f in pending for d in f.dependency if d not in added})
            check(False, "descriptor answers are complete (missing %s)" % missing)
            return


def test_reflection(refl, dyn_pool, added):
    v = refl.version
    reqs = [refl.Req(host="localhost", list_services=""),
            refl.Req(host="localhost", file_containing_symbol=HEALTH),
            refl.Req(host="localhost", file_by_filename="no/such/file.proto"),
            refl.Req(host="localhost", file_containing_symbol="no.such.Symbol")]
    resps = refl.exchange(reqs)
    check(len(resps) == 4, "%s: four requests on one stream get four answers" % v)
    if len(resps) != 4:
        return []
    listed = [s.name for s in resps[0].list_services_response.service]
    print("#   %s services: %s" % (v, ", ".join(listed)))
    for want in (HEALTH, REFL["v1"], REFL["v1alpha"]):
        check(want in listed, "%s: list_services has %s" % (v, want))
    check(resps[0].valid_host == "localhost", "%s: valid_host is echoed" % v)
    check(resps[1].original_request == reqs[1], "%s: original_request is echoed" % v)
    health_files = [f.name for f in files_from(resps[1])]
    check(health_files[:1] == ["grpc/health/v1/health.proto"],
          "%s: file_containing_symbol %s returns health.proto" % (v, HEALTH))
    for i, what in ((2, "file_by_filename"), (3, "file_containing_symbol")):
        err = resps[i].error_response
        check(resps[i].WhichOneof("message_response") == "error_response"
              and err.error_code == grpc.StatusCode.NOT_FOUND.value[0],
              "%s: unknown %s answers error_response NOT_FOUND" % (v, what))

    # Every service's file, with dependencies, into one fresh pool.
    for name in listed:
        r = refl.ask(file_containing_symbol=name)
        fdps = files_from(r)
        if not check(bool(fdps), "%s: file_containing_symbol %s returns its file" % (v, name)):
            continue
        add_all(dyn_pool, fdps, added)
        try:
            svc = dyn_pool.FindServiceByName(name)
            check(len(svc.methods) > 0, "%s: describe %s (%d methods: %s)" % (
                v, name, len(svc.methods), ", ".join(m.name for m in svc.methods)))
        except KeyError:
            check(False, "%s: %s is in the descriptors returned for it" % (v, name))
    # A method symbol and a message symbol resolve to the same file.
    r = refl.ask(file_containing_symbol=HEALTH + ".Check")
    check(files_from(r)[:1] and files_from(r)[0].name == "grpc/health/v1/health.proto",
          "%s: file_containing_symbol of a method" % v)
    r = refl.ask(file_containing_symbol="grpc.health.v1.HealthCheckResponse.ServingStatus")
    check(r.WhichOneof("message_response") == "file_descriptor_response",
          "%s: file_containing_symbol of a nested enum" % v)
    return listed


def test_registry_files(refl, dyn_pool, added):
    """Our own contracts are served whether or not the server registers
    them (grpcurl describe works from the registry): MenuService and the
    google.api.http extension, when this build has them."""
    r = refl.ask(file_containing_symbol="swifteats.v1.MenuService")
    if r.WhichOneof("message_response") != "file_descriptor_response":
        print("#   no swifteats.v1.MenuService in the registry: contract checks skipped")
        return
    add_all(dyn_pool, files_from(r), added)
    svc = dyn_pool.FindServiceByName("swifteats.v1.MenuService")
    check(len(svc.methods) > 0, "%s: describe swifteats.v1.MenuService (%s)"
          % (refl.version, ", ".join(m.name for m in svc.methods)))
    http = [m for m in svc.methods if m.GetOptions().ListFields()]
    check(bool(http), "%s: MenuService methods carry their options (google.api.http)"
          % refl.version)
    r = refl.ask(all_extension_numbers_of_type="google.protobuf.MethodOptions")
    nums = list(r.all_extension_numbers_response.extension_number)
    check(72295728 in nums, "%s: all_extension_numbers_of_type MethodOptions has google.api.http"
          % refl.version)
    r = refl.ask(file_containing_extension=refl.ExtReq(
        containing_type="google.protobuf.MethodOptions", extension_number=72295728))
    names = [f.name for f in files_from(r)]
    check(names[:1] == ["google/api/annotations.proto"],
          "%s: file_containing_extension google.api.http -> annotations.proto" % refl.version)
    r = refl.ask(file_containing_extension=refl.ExtReq(
        containing_type="google.protobuf.MethodOptions", extension_number=1))
    check(r.error_response.error_code == grpc.StatusCode.NOT_FOUND.value[0],
          "%s: unknown extension answers NOT_FOUND" % refl.version)


# ---- calls through the reflected pool ------------------------------------

def dynamic_call(channel, pool, path, request_json=None):
    svc_name, method_name = path.lstrip("/").split("/")
    m = pool.FindServiceByName(svc_name).methods_by_name[method_name]
    Req = message_class(pool, m.input_type.full_name)
    Resp = message_class(pool, m.output_type.full_name)
    req = Req()
    if request_json:
        json_format.Parse(request_json, req)
    rpc = channel.unary_unary(path, request_serializer=Req.SerializeToString,
                              response_deserializer=Resp.FromString)
    return rpc(req, timeout=TIMEOUT)


def test_dynamic_calls(channel, pool, listed):
    resp = dynamic_call(channel, pool, "/grpc.health.v1.Health/Check")
    check(json_format.MessageToDict(resp).get("status") == "SERVING",
          "reflected pool: Health/Check decodes to SERVING")
    for name in listed:
        if not name.startswith("swifteats."):
            continue
        svc = pool.FindServiceByName(name)
        unary = [m for m in svc.methods if not m.client_streaming and not m.server_streaming
                 and (m.name.startswith("Get") or m.name.startswith("List"))]
        if not unary:
            print("#   %s has no read-only unary method to probe" % name)
            continue
        path = "/%s/%s" % (name, unary[0].name)
        try:
            dynamic_call(channel, pool, path)
            check(True, "reflected pool: %s answered OK" % path)
        except grpc.RpcError as e:
            check(e.code() not in (grpc.StatusCode.UNIMPLEMENTED, grpc.StatusCode.UNAVAILABLE),
                  "reflected pool: %s reached its handler (%s: %s)" % (path, e.code(), e.details()))
    path = os.environ.get("SE_INTEROP_CALL")
    if path:
        try:
            resp = dynamic_call(channel, pool, path, os.environ.get("SE_INTEROP_CALL_JSON"))
            check(True, "reflected pool: %s OK: %s" % (path, json_format.MessageToJson(resp)[:200]))
        except grpc.RpcError as e:
            check(False, "reflected pool: %s failed: %s %s" % (path, e.code(), e.details()))


def run(target, proc):
    with tempfile.TemporaryDirectory() as tmp:
        pool = local_pool(tmp)
    channel = grpc.insecure_channel(target)
    try:
        check_fn, health_checks = test_health(channel, pool)
        wait_ready(channel, proc, check_fn)
        health_checks()
        dyn_pool = descriptor_pool.DescriptorPool()
        added = set()
        listed = []
        for version in ("v1", "v1alpha"):
            refl = Reflection(channel, pool, version)
            listed = test_reflection(refl, dyn_pool, added) or listed
            test_registry_files(refl, dyn_pool, added)
        test_dynamic_calls(channel, dyn_pool, listed)
    finally:
        channel.close()


def main(argv):
    proc = None
    if argv[:1] == ["--target"]:
        target = argv[1]
    else:
        proc, target = start_server(server_command(argv))
    try:
        run(target, proc)
    except (Exception, SystemExit) as e:  # report, then stop the server
        check(False, "unexpected %s: %s" % (type(e).__name__, e))
    finally:
        if proc is not None:
            stop_server(proc)
    print("%s: %d failure(s)" % ("FAILED" if failures else "PASSED", failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
