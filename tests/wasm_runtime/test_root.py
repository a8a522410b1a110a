"""Root-context features: configuration, metrics, shared data, queues, ticks, http calls,
foreign functions, properties."""

import struct

import pytest
from aipol.wasm_runtime import Harness, SharedData, Stats, UpstreamResponse, WasmResult
from aipol.wasm_runtime.abi import MetricType, serialize_pairs
from aipol.wasm_runtime.metrics import MetricIds, prometheus_name


def log_lines(logs, prefix):
    return [m for _, m in logs if m.startswith(prefix)]


# -------------------------------------------------------------------- configuration --
def test_configuration_buffers_only_during_startup(harness_factory, probe_wasm):
    h = harness_factory(probe_wasm, plugin_config=b"plugin-cfg", vm_config=b"vm-cfg")
    assert log_lines(h.logs, "vm_start") == ["vm_start root=1 r=0 cfg=vm-cfg"]
    assert log_lines(h.logs, "configure") == ["configure r=0 cfg=plugin-cfg"]
    r = h.request()
    assert "rh cfg7=1" in [m for _, m in r.logs]  # NotFound outside proxy_on_configure


def test_log_level_filters(harness_factory, probe_wasm):
    quiet = harness_factory(probe_wasm)
    assert not [m for m in quiet.request().logs if m[0] == "debug"]  # Envoy default: info
    loud = harness_factory(probe_wasm, log_level="debug")
    assert ("debug", "create 2 1") in loud.request().logs


# --------------------------------------------------------------------------- metrics --
def test_metric_ids_step_by_four_with_type_bits(probe):
    assert log_lines(probe.logs, "metric ids") == ["metric ids 4 5 6 8"]


def test_metrics_through_requests(probe):
    r1 = probe.request("POST", "/", body="abcd")
    probe.request("POST", "/", body="ab")
    assert r1.metrics == {"probe.requests": 1, "probe.body_size": (4,)}
    assert probe.metric("probe.requests") == 2
    assert probe.metric("wasmcustom.probe.requests") == 2
    assert probe.metric("probe.active") == 0  # +1 in headers, -1 in on_done
    assert probe.metric("probe.body_size") == (4, 2)
    text = probe.prometheus_text()
    assert "# TYPE probe_requests counter\nprobe_requests{} 2" in text
    assert "probe_active{} 0" in text
    assert 'probe_body_size_bucket{le="5"} 2' in text and "probe_body_size_count{} 2" in text
    with pytest.raises(KeyError):
        probe.metric("nope")


@pytest.mark.parametrize(
    ("mtype", "op", "arg", "result", "value"),
    [
        (MetricType.COUNTER, "increment", 5, WasmResult.Ok, 5),
        (MetricType.COUNTER, "increment", 0, WasmResult.BadArgument, 0),
        (MetricType.COUNTER, "increment", -1, WasmResult.BadArgument, 0),
        (MetricType.COUNTER, "record", 7, WasmResult.Ok, 7),  # recorded values are added
        (MetricType.GAUGE, "increment", -3, WasmResult.Ok, (1 << 64) - 3),  # uint64 wraps
        (MetricType.GAUGE, "record", 9, WasmResult.Ok, 9),
        (MetricType.HISTOGRAM, "increment", 1, WasmResult.BadArgument, None),
        (MetricType.HISTOGRAM, "record", 9, WasmResult.Ok, None),
    ],
    ids=lambda v: getattr(v, "name", str(v)),
)
def test_metric_semantics(mtype, op, arg, result, value):
    ids = MetricIds(Stats())
    _, mid = ids.define(mtype, "m")
    assert getattr(ids, op)(mid, arg) == result
    got = ids.get(mid)
    if value is None:
        assert got[0] == WasmResult.BadArgument
    else:
        assert got == (WasmResult.Ok, value)


def test_metric_ids_and_redefinition():
    stats = Stats()
    ids = MetricIds(stats)
    assert [ids.define(t, "a")[1] for t in (0, 1, 2, 0)] == [4, 5, 6, 8]
    assert ids.define(3, "x") == (WasmResult.BadArgument, 0)
    ids.increment(4, 1)
    ids.increment(8, 1)  # the same stat
    assert stats.find("a").value == 2
    assert ids.get(12) == (WasmResult.NotFound, 0)


@pytest.mark.parametrize(("name", "prom"), [
    ("wasmcustom.my_filter.requests_total", "my_filter_requests_total"),
    ("wasmcustom.a-b c", "a_b_c"),
    ("wasmcustom.1st", "_1st"),
])
def test_prometheus_names(name, prom):
    assert prometheus_name(name) == prom


def test_stats_shared_between_workers(probe_wasm):
    stats = Stats()
    a = Harness.load(probe_wasm, stats=stats)
    b = Harness.load(probe_wasm, stats=stats)
    a.request()
    b.request()
    assert a.metric("probe.requests") == 2


# ----------------------------------------------------------------------- shared data --
def test_cas_semantics():
    sd = SharedData()
    assert sd.set("", "k", b"1", cas=99) == WasmResult.Ok  # missing key: any cas succeeds
    assert sd.get("", "k") == (b"1", 1)  # CAS counter starts at 1
    assert sd.set("", "k", b"2", cas=5) == WasmResult.CasMismatch
    assert sd.set("", "k", b"2", cas=1) == WasmResult.Ok
    assert sd.get("", "k") == (b"2", 2)
    assert sd.set("", "k", b"3") == WasmResult.Ok  # cas 0: unconditional
    assert sd.set("other-vm", "k", b"x") == WasmResult.Ok
    assert sd.get("", "k") == (b"3", 3) and sd.get("other-vm", "k") == (b"x", 4)
    assert sd["k"] == b"3"


def test_shared_data_across_workers(probe_wasm):
    sd = SharedData()
    w1 = Harness.load(probe_wasm, shared_data=sd)
    w2 = Harness.load(probe_wasm, shared_data=sd)
    r = w1.request(headers={"x-shared-get": "k"})
    assert log_lines(r.logs, "shared_get") == ["shared_get r=1 v= cas=0"]
    assert log_lines(w1.request(headers={"x-shared-set": "k=one"}).logs, "shared_set") == \
        ["shared_set r=0"]
    r = w2.request(headers={"x-shared-get": "k"})
    assert log_lines(r.logs, "shared_get") == ["shared_get r=0 v=one cas=1"]
    r = w2.request(headers={"x-shared-set": "k=two@7"})
    assert log_lines(r.logs, "shared_set") == ["shared_set r=8"]  # CasMismatch
    r = w2.request(headers={"x-shared-set": "k=two@1"})
    assert log_lines(r.logs, "shared_set") == ["shared_set r=0"]
    assert sd["k"] == b"two"


# ---------------------------------------------------------------------------- queues --
def test_queue_notifies_last_registrant(probe_wasm):
    sd = SharedData()
    first = Harness.load(probe_wasm, shared_data=sd)
    last = Harness.load(probe_wasm, shared_data=sd)  # registers the same queue again
    first.request(headers={"x-enqueue": "job-1"})
    assert log_lines(last.logs, "queue_ready") == ["queue_ready root=1 r=0 v=job-1 again=7"]
    assert log_lines(first.logs, "queue_ready") == []


# ----------------------------------------------------------------------------- ticks --
def test_ticks(harness_factory, probe_wasm):
    h = harness_factory(probe_wasm, plugin_config=b"tick")
    assert h.tick_period_ms == 1000
    assert h.tick()
    assert h.advance_time(3500) == 3
    assert h.metric("probe.ticks") == 4
    idle = harness_factory(probe_wasm)
    assert not idle.tick()  # no period set: Envoy never ticks


# ------------------------------------------------------------------------ http calls --
def test_http_call_round_trip_allow(probe):
    def handler(callout):
        assert callout.upstream == "authz" and callout.token == 4
        assert callout.headers[":path"] == "/check" and callout.body == b"q"
        assert callout.timeout_ms == 500 and callout.context_id == 2
        return UpstreamResponse(200, {}, "allow")

    r = probe.request("POST", "/", headers={"x-callout": "1"}, body="abc",
                      http_call_handler=handler)
    assert log_lines(r.logs, "call_response") == [
        "call_response root=1 token=4 nh=3 status=200 body=allow"]  # :status, content-length,
    # x-envoy-upstream-service-time
    assert log_lines(r.logs, "effective r=") == ["effective r=0"]
    assert r.status == 200 and r.upstream_body == b"abc"
    # continue_stream(0) delivered the held body in one callback
    assert len(log_lines(r.logs, "rb ")) == 1


def test_http_call_round_trip_deny(probe):
    r = probe.request("GET", "/", headers={"x-callout": "1"},
                      http_call_handler=lambda c: UpstreamResponse(200, {}, "deny"))
    assert r.status == 403 and not r.reached_upstream


def test_http_call_manual_response(probe):
    s = probe.new_stream()
    assert s.request_headers({":method": "GET", ":path": "/", "x-callout": "1"}, True) == 1
    (callout,) = probe.pending_callouts
    probe.respond_http_call(callout.token, {"x": "1"}, b"allow")
    assert s.upstream_request is not None
    with pytest.raises(KeyError):
        probe.respond_http_call(callout.token, body=b"again")


def test_http_call_failure(probe):
    s = probe.new_stream()
    s.request_headers({":method": "GET", ":path": "/", "x-callout": "1"}, True)
    probe.fail_http_call(probe.pending_callouts[0].token)
    assert log_lines(probe.logs, "call_response")[-1].endswith("failed code=11 msg=reset")
    assert s.local_reply.status == 403


def test_http_call_unknown_cluster(harness_factory, probe_wasm):
    h = harness_factory(probe_wasm, clusters={"other"})
    r = h.request(headers={"x-callout": "1"})
    assert log_lines(r.logs, "http_call") == ["http_call r=2 token=0"]


def test_unanswered_http_call_hangs(probe):
    r = probe.request("GET", "/", headers={"x-callout": "1"})
    assert r.hung and r.status == 408 and len(r.callouts) == 1


# ----------------------------------------------------------------- foreign functions --
def test_foreign_functions(probe):
    probe.register_foreign_function("reverse", lambda args: args[::-1])
    r = probe.request(headers={"x-foreign": "reverse"})
    assert log_lines(r.logs, "foreign") == ["foreign r=0 out=cba"]
    r = probe.request(headers={"x-foreign": "unknown_fn"})
    assert log_lines(r.logs, "foreign") == ["foreign r=1 out="]


# ------------------------------------------------------------------------ properties --
def hexs(b: bytes) -> str:
    return b.hex()


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("request.path", hexs(b"/v1/x?a=1")),
        ("request.url_path", hexs(b"/v1/x")),
        ("request.query", hexs(b"a=1")),
        ("request.method", hexs(b"POST")),
        ("request.host", hexs(b"api.example")),
        ("request.scheme", hexs(b"http")),
        ("request.protocol", hexs(b"HTTP/1.1")),
        ("request.id", hexs(b"rid-1")),
        ("request.headers.x-multi", hexs(b"a,b")),
        ("source.address", hexs(b"127.0.0.1:51234")),
        ("source.port", hexs(struct.pack("<q", 51234))),
        ("destination.port", hexs(struct.pack("<q", 10000))),
        ("connection.mtls", "00"),
        ("plugin_name", hexs(b"aipol")),
        ("plugin_vm_id", ""),
        ("custom.flag", "01"),
        ("custom.num", hexs(struct.pack("<q", -2))),
        ("custom.map", hexs(serialize_pairs([(b"k", b"v")]))),
        ("custom.map.k", hexs(b"v")),
        ("xds.route_name", None),
        ("no.such", None),
    ],
)
def test_property_encodings(harness_factory, probe_wasm, path, expected):
    h = harness_factory(probe_wasm, properties={
        "custom.flag": True, "custom.num": -2, ("custom", "map"): {"k": "v"}})
    r = h.request("POST", "/v1/x?a=1", headers=[
        ("host", "api.example"), ("x-request-id", "rid-1"), ("x-multi", "a"), ("x-multi", "b"),
        ("x-prop", path)], body="b")
    (line,) = log_lines(r.logs, "prop ")
    if expected is None:
        assert line == "prop r=1 hex="
    else:
        assert line == f"prop r=0 hex={expected}"


def test_request_time_is_int64_ns(harness_factory, probe_wasm):
    h = harness_factory(probe_wasm, clock=lambda: 1_700_000_000_123_456_789)
    r = h.request(headers={"x-prop": "request.time"})
    (line,) = log_lines(r.logs, "prop ")
    assert line == "prop r=0 hex=" + struct.pack("<q", 1_700_000_000_123_456_789).hex()


def test_set_property_reads_back_through_wasm_prefix(probe):
    probe.request(headers={"x-set-prop": "v1"})
    r = probe.request(headers={"x-set-prop": "v2", "x-prop": "aipol_backend"})
    assert log_lines(r.logs, "prop ") == ["prop r=0 hex=" + b"v2".hex()]
    assert r.filter_state == {"wasm.aipol_backend": b"v2"}
