"""Trace propagation, log ids, metrics and set-up of OpenTelemetry (`telemetry`).

A meter provider can be set once per process: one module-scoped fixture sets an SDK
provider with an in-memory reader, and each test counts under labels of its own.
`setup` sets global providers for good, so it runs in a subprocess of its own.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import textwrap
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from opentelemetry import metrics, trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from purista.runtime import telemetry
from purista.runtime.context import Message
from purista.runtime.info import Tracing
from purista.runtime.inprocess import RecordingBridge
from purista.runtime.runner import execute
from purista.runtime.states import MemoryStates
from runtime_double import greeter

TESTS = Path(__file__).resolve().parent.parent
tracer = TracerProvider().get_tracer("test_telemetry")


@pytest.fixture(scope="module")
def reader() -> Iterator[InMemoryMetricReader]:
    """The process's meter provider, reading into memory, set for this module."""
    memory = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[memory])
    metrics.set_meter_provider(provider)
    if metrics.get_meter_provider() is not provider:
        pytest.fail("a meter provider was set before this module; metrics cannot be read")
    yield memory
    provider.shutdown()


@pytest.fixture
def restore_log_factory() -> Iterator[None]:
    factory = logging.getLogRecordFactory()
    installed = telemetry._process.log_ids
    telemetry._process.log_ids = False
    yield
    logging.setLogRecordFactory(factory)
    telemetry._process.log_ids = installed


def points(memory: InMemoryMetricReader, name: str) -> dict[frozenset[Any], Any]:
    """The data points of metric `name`, by their attributes."""
    data = memory.get_metrics_data()
    found: dict[frozenset[Any], Any] = {}
    for resource in data.resource_metrics if data else ():
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                if metric.name == name:
                    for point in metric.data.data_points:
                        found[frozenset(point.attributes.items())] = point
    return found


def labels() -> dict[str, str]:
    return {"purista.service": f"s-{uuid.uuid4().hex[:8]}", "purista.command": "greet"}


# ------------------------------------------------------------------- propagation


def test_inject_and_extract_round_trip_a_w3c_traceparent() -> None:
    with tracer.start_as_current_span("send") as span:
        carrier = telemetry.inject({"other": "kept"})
    sent = span.get_span_context()
    assert carrier["other"] == "kept"
    assert carrier["traceparent"] == (
        f"00-{sent.trace_id:032x}-{sent.span_id:016x}-{int(sent.trace_flags):02x}"
    )
    received = trace.get_current_span(telemetry.extract(carrier)).get_span_context()
    assert (received.trace_id, received.span_id) == (sent.trace_id, sent.span_id)
    assert received.is_remote
    assert received.trace_flags.sampled


def test_inject_outside_a_span_adds_nothing() -> None:
    assert telemetry.inject({}) == {}


@pytest.mark.parametrize("carrier", [None, "00-abc", ["traceparent"], {}, {"traceparent": 7}])
def test_extract_of_a_header_without_a_trace_gives_no_span(carrier: Any) -> None:
    context = telemetry.extract(carrier)
    assert not trace.get_current_span(context).get_span_context().is_valid


def test_parent_is_the_sender_context_unless_a_span_is_current() -> None:
    with tracer.start_as_current_span("send") as span:
        carrier = telemetry.inject({})
    context = telemetry.parent(carrier)
    assert context is not None
    received = trace.get_current_span(context).get_span_context()
    assert received.trace_id == span.get_span_context().trace_id
    with tracer.start_as_current_span("already running"):
        assert telemetry.parent(carrier) is None


# ---------------------------------------------------------------------- log ids


def test_log_records_carry_the_trace_and_span_ids(
    restore_log_factory: None, caplog: pytest.LogCaptureFixture
) -> None:
    telemetry.install_log_ids()
    factory = logging.getLogRecordFactory()
    telemetry.install_log_ids()
    assert logging.getLogRecordFactory() is factory
    logger = logging.getLogger("test_telemetry")
    with caplog.at_level(logging.INFO, logger="test_telemetry"):
        logger.info("outside")
        with tracer.start_as_current_span("inside") as span:
            logger.info("inside")
    outside, inside = caplog.records
    assert (outside.otelTraceID, outside.otelSpanID) == ("-", "-")  # type: ignore[attr-defined]
    ids = span.get_span_context()
    assert inside.otelTraceID == f"{ids.trace_id:032x}"  # type: ignore[attr-defined]
    assert inside.otelSpanID == f"{ids.span_id:016x}"  # type: ignore[attr-defined]


# ----------------------------------------------------------------------- metrics


def test_record_message_counts_outcomes_and_durations(reader: InMemoryMetricReader) -> None:
    attributes = labels()
    handler = telemetry.Labels.of(attributes)
    telemetry.record_message(handler, 0.25, failed=False)
    telemetry.record_message(handler, 0.5, failed=False)
    telemetry.record_message(handler, 2.0, failed=True)
    success = frozenset({**attributes, "purista.outcome": "success"}.items())
    failure = frozenset({**attributes, "purista.outcome": "failure"}.items())
    processed = points(reader, "purista.messages.processed")
    assert (processed[success].value, processed[failure].value) == (2, 1)
    failed = points(reader, "purista.messages.failed")
    assert failed[frozenset(attributes.items())].value == 1
    assert success not in failed
    duration = points(reader, "purista.message.duration")
    assert (duration[success].count, duration[success].sum) == (2, 0.75)
    assert (duration[failure].count, duration[failure].sum) == (1, 2.0)


def test_execute_is_counted_per_handler(reader: InMemoryMetricReader) -> None:
    def processed(outcome: str) -> int:
        key = frozenset(
            {
                "purista.service": "greeter",
                "purista.version": "1",
                "purista.command": "greet",
                "purista.outcome": outcome,
            }.items()
        )
        point = points(reader, "purista.messages.processed").get(key)
        return point.value if point else 0

    before = processed("success"), processed("failure")
    binding = greeter.BINDINGS[0]
    around = (Message.first(), RecordingBridge(), MemoryStates())
    execute(binding, {"name": "ann"}, *around)
    with pytest.raises(ValueError, match="no"):
        execute(binding, {"name": "ann", "fail": "no"}, *around)
    assert (processed("success"), processed("failure")) == (before[0] + 1, before[1] + 1)


def test_observe_reports_a_gauge_per_key(reader: InMemoryMetricReader) -> None:
    name = f"purista.test.depth.{uuid.uuid4().hex[:8]}"
    values = {"work": 3.0, "other": 0.0}
    telemetry.observe(name, "Jobs waiting", "{job}", lambda: values, "purista.queue")
    gauge = points(reader, name)
    assert {dict(k)["purista.queue"]: p.value for k, p in gauge.items()} == values
    values["work"] = 5.0
    assert points(reader, name)[frozenset({"purista.queue": "work"}.items())].value == 5.0


def test_observe_reports_nothing_when_reading_fails(reader: InMemoryMetricReader) -> None:
    name = f"purista.test.broken.{uuid.uuid4().hex[:8]}"
    up = {"yes": False}

    def read() -> dict[str, float]:
        if not up["yes"]:
            raise ConnectionError("redis is down")
        return {"work": 1.0}

    telemetry.observe(name, "Flaky", "1", read, "purista.queue")
    assert points(reader, name) == {}
    up["yes"] = True
    assert points(reader, name)[frozenset({"purista.queue": "work"}.items())].value == 1.0


# ------------------------------------------------------------------------- setup


def python(script: str, cwd: Path, **variables: str) -> subprocess.CompletedProcess[str]:
    """Run `script` in a Python of its own, with `variables` and no other OTEL_ or PURISTA_."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "PURISTA_"))}
    done = subprocess.run(
        [sys.executable, "-c", script],
        env={**env, **variables},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done


def test_setup_with_the_console_exporter_writes_spans_to_stderr(tmp_path: Path) -> None:
    """`setup` sets global providers once per process, so this runs in a subprocess.

    The subprocess installs the double as conftest does, sets up twice (the second call
    must do nothing), ends one span through the runtime's tracer and exits; the batch
    processor is flushed at exit onto stderr.
    """
    script = textwrap.dedent(
        f"""
        import importlib, sys
        sys.path.insert(0, {str(TESTS)!r})
        sys.modules["purista.runtime.project"] = importlib.import_module("runtime_double.project")
        from purista.runtime import telemetry
        telemetry.setup("greeter", client=True)
        telemetry.setup("shouter")
        with telemetry.tracer.start_as_current_span("probe span"):
            pass
        print("stdout stays clean")
        """
    )
    done = python(script, tmp_path, OTEL_TRACES_EXPORTER="console")
    assert done.stdout == "stdout stays clean\n"
    assert done.stderr.count('"name": "probe span"') == 1
    assert '"service.name": "rtdouble-greeter"' in done.stderr
    assert '"service.namespace": "rtdouble"' in done.stderr
    assert "Overriding" not in done.stderr


def test_the_specs_otlp_exporter_waits_for_the_environment_to_name_a_collector(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in [k for k in os.environ if k.startswith("OTEL_")]:
        monkeypatch.delenv(name)
    spec = Tracing(exporter="otlp", endpoint="http://127.0.0.1:9", sample_ratio=1.0)
    monkeypatch.setattr(telemetry, "TRACING", spec)
    assert list(telemetry._span_exporters(1.0)) == []
    assert list(telemetry._metric_readers(1.0, "greeter", None)) == []
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "otlp")  # asked for: the spec's endpoint
    assert telemetry._exporter_names("OTEL_TRACES_EXPORTER", telemetry._default_exporter()) == [
        "otlp"
    ]
    monkeypatch.delenv("OTEL_TRACES_EXPORTER")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4317")
    assert telemetry._default_exporter() == "otlp"
    console = Tracing(exporter="console", endpoint=spec.endpoint, sample_ratio=1.0)
    monkeypatch.setattr(telemetry, "TRACING", console)
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_ENDPOINT")
    assert telemetry._default_exporter() == "console"  # needs no collector


def test_an_unreachable_collector_costs_one_warning_line_per_process(tmp_path: Path) -> None:
    """Three failed exports of spans and one of metrics, against a port nobody listens on."""
    script = textwrap.dedent(
        f"""
        import importlib, sys
        sys.path.insert(0, {str(TESTS)!r})
        sys.modules["purista.runtime.project"] = importlib.import_module("runtime_double.project")
        from opentelemetry import trace
        from purista.runtime import telemetry
        telemetry.setup("greeter", client=True)
        for n in range(3):
            with telemetry.tracer.start_as_current_span(f"span {{n}}"):
                pass
            trace.get_tracer_provider().force_flush(timeout_millis=3000)
        """
    )
    done = python(
        script,
        tmp_path,
        OTEL_TRACES_EXPORTER="otlp",
        OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:9",
    )
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert "127.0.0.1:9" in lines[0]
    assert lines[0].endswith("(further export errors of this process are not logged)")


def test_a_forked_child_reports_its_own_first_export_error(tmp_path: Path) -> None:
    """A prefork worker's child sets up again after the fork: it says its first error too."""
    script = textwrap.dedent(
        f"""
        import importlib, logging, os, sys
        sys.path.insert(0, {str(TESTS)!r})
        sys.modules["purista.runtime.project"] = importlib.import_module("runtime_double.project")
        from purista.runtime import telemetry
        exporter = logging.getLogger("opentelemetry.exporter.otlp.proto.grpc.exporter")
        telemetry.setup("greeter")
        exporter.warning("parent failed to export")
        exporter.warning("parent failed again")
        child = os.fork()
        if child == 0:
            telemetry.setup("greeter", index=1)
            exporter.warning("child failed to export")
            exporter.warning("child failed again")
            os._exit(0)
        os.waitpid(child, 0)
        """
    )
    done = python(script, tmp_path)
    lines = done.stderr.splitlines()
    assert [line.split(" (")[0] for line in lines] == [
        "parent failed to export",
        "child failed to export",
    ], done.stderr
