# purista runtime, copied unchanged into each project. Do not edit: `purista generate` rewrites it.
"""OpenTelemetry: a trace for every message, metrics per command, subscription and queue.

Configured by the standard variables (`OTEL_TRACES_EXPORTER=otlp|console|none`,
`OTEL_METRICS_EXPORTER=otlp|prometheus|console|none`, `OTEL_EXPORTER_OTLP_ENDPOINT`,
`OTEL_SERVICE_NAME`, `OTEL_TRACES_SAMPLER[_ARG]`, ...), with the spec's `tracing`
block as defaults. The spec's `otlp` exporter takes effect only where the environment
asks for it (`OTEL_EXPORTER_OTLP_ENDPOINT`, or `OTEL_TRACES_EXPORTER=otlp` to use the
spec's endpoint), as compose and the Kubernetes manifests do: a worker or `invoke` run
on a laptop exports nothing unless told to. `prometheus` serves `/metrics` on one port
per worker (see `metrics`). Set up once per process, after any fork (a
prefork worker's children each set up their own). Export runs on background threads:
a collector that cannot be reached costs dropped spans, never a failed message, and one
warning line per process.
"""

from __future__ import annotations

import atexit
import logging
import os
import sys
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from opentelemetry import metrics, propagate, trace
from opentelemetry.context import Context
from opentelemetry.metrics import CallbackOptions, Observation
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import (
    ConsoleMetricExporter,
    MetricReader,
    PeriodicExportingMetricReader,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SpanExporter
from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased

from .info import PACKAGE
from .project import COMMANDS, PROJECT, TRACING, WORKERS

#: The format of worker log lines, with the trace and span of the message being handled.
LOG_FORMAT = (
    "[%(asctime)s: %(levelname)s/%(processName)s] "
    "[trace %(otelTraceID)s span %(otelSpanID)s] %(message)s"
)

tracer = trace.get_tracer(PACKAGE)
meter = metrics.get_meter(PACKAGE)


class _Process:
    """What this process has set up: in which pid, its providers, the log record factory."""

    def __init__(self) -> None:
        self.setup_pid: int | None = None
        self.providers: list[Any] = []
        self.stops: list[Callable[[], None]] = []
        self.log_ids = False


_process = _Process()


def setup(
    component: str, *, worker: str | None = None, index: int | None = None, client: bool = False
) -> None:
    """Set up tracing and metrics for this process, once (`component`: service or queue name).

    `worker` is the worker's Kubernetes name, the `purista_worker` label of its
    Prometheus metrics (default: `component`); `index` is a prefork child's place
    among its siblings (None in a process without siblings); `client` marks a
    short-lived process such as the command line, which waits less for the
    collector when it exits and reports no process metrics.
    """
    if _process.setup_pid == os.getpid():
        return
    _process.setup_pid = os.getpid()
    resource = Resource.create(
        {
            "service.name": os.environ.get("OTEL_SERVICE_NAME") or f"{PROJECT}-{component}",
            "service.namespace": PROJECT,
            "service.instance.id": f"{os.uname().nodename}-{os.getpid()}",
        }
    )
    timeout = 2.0 if client else 10.0
    span_exporters = list(_span_exporters(timeout))
    if span_exporters:
        provider = TracerProvider(resource=resource, sampler=_sampler())
        for exporter in span_exporters:
            provider.add_span_processor(BatchSpanProcessor(exporter))
        trace.set_tracer_provider(provider)
        _process.providers.append(provider)
        if os.environ.get("PURISTA_TRACE_CELERY") == "1":
            # Celery's own `apply_async/...` and `run/...` spans, on request: they
            # repeat what purista's spans show and cost more than those.
            from opentelemetry.instrumentation.celery import CeleryInstrumentor

            instrumentor = CeleryInstrumentor()  # type: ignore[no-untyped-call]
            instrumentor.instrument(tracer_provider=provider)
    readers = list(_metric_readers(timeout, worker or component, index))
    if readers:
        meter_provider = MeterProvider(resource=resource, metric_readers=readers)
        metrics.set_meter_provider(meter_provider)
        _process.providers.append(meter_provider)
        if not client:
            _process_metrics(meter_provider)
    _first_export_error.seen = False  # a forked child reports its own first error
    for name in _EXPORT_LOGGERS:
        logging.getLogger(name).addFilter(_first_export_error)
    atexit.register(shutdown)


#: The loggers the OTLP exporters report failed exports on, each retry a line of its own.
_EXPORT_LOGGERS = (
    "opentelemetry.exporter.otlp.proto.grpc.exporter",
    "opentelemetry.exporter.otlp.proto.http.trace_exporter",
    "opentelemetry.exporter.otlp.proto.http.metric_exporter",
)


class _FirstOnly(logging.Filter):
    """Lets the first record through, saying that later ones are not logged; drops the rest."""

    def __init__(self) -> None:
        super().__init__()
        self.seen = False

    def filter(self, record: logging.LogRecord) -> bool:
        if self.seen:
            return False
        self.seen = True
        record.msg = f"{record.msg} (further export errors of this process are not logged)"
        return True


_first_export_error = _FirstOnly()


#: How long a stopping process waits for a collector to take what it still holds.
SHUTDOWN_TIMEOUT_MS = 2000


def shutdown() -> None:
    """Export what is still buffered and stop; a prefork child calls this before it exits.

    A collector that cannot be reached holds the process up `SHUTDOWN_TIMEOUT_MS` at the
    most (the exporters' own timeout is longer, and a stop waited for it).
    """
    while _process.stops:
        _process.stops.pop()()
    while _process.providers:
        provider = _process.providers.pop()
        if isinstance(provider, MeterProvider):
            provider.shutdown(timeout_millis=SHUTDOWN_TIMEOUT_MS)
        else:
            provider.force_flush(timeout_millis=SHUTDOWN_TIMEOUT_MS)
            provider.shutdown()


def worker_name(args: tuple[str, ...]) -> str:
    """The Kubernetes name of the worker started with `args` (after `python -m <package>`)."""
    return next((w.name for w in WORKERS if w.args == args), "-".join(args[1:]))


def install_log_ids() -> None:
    """Give every log record `otelTraceID` and `otelSpanID` (`-` outside a span)."""
    if not _process.log_ids:
        logging.setLogRecordFactory(_with_trace_ids(logging.getLogRecordFactory()))
        _process.log_ids = True


def _exporter_names(variable: str, default: str) -> list[str]:
    value = os.environ.get(variable, default)
    return [name.strip() for name in value.split(",") if name.strip() and name.strip() != "none"]


def _default_exporter() -> str:
    """The spec's exporter as the default: `otlp` only where the environment names a collector."""
    if TRACING.exporter != "otlp":
        return TRACING.exporter
    named = os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or os.environ.get(
        "OTEL_EXPORTER_OTLP_ENDPOINT"
    )
    return "otlp" if named else "none"


def _sampler() -> Any:
    if os.environ.get("OTEL_TRACES_SAMPLER"):
        return None  # the SDK reads OTEL_TRACES_SAMPLER and OTEL_TRACES_SAMPLER_ARG
    return ParentBased(TraceIdRatioBased(TRACING.sample_ratio))


def _endpoint(signal: str) -> str | None:
    if os.environ.get(f"OTEL_EXPORTER_OTLP_{signal}_ENDPOINT") or os.environ.get(
        "OTEL_EXPORTER_OTLP_ENDPOINT"
    ):
        return None  # the exporter reads the variables itself
    return TRACING.endpoint


def _http(signal: str) -> bool:
    protocol = os.environ.get(f"OTEL_EXPORTER_OTLP_{signal}_PROTOCOL") or os.environ.get(
        "OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"
    )
    return protocol.startswith("http")


def _span_exporters(timeout: float) -> Iterator[SpanExporter]:
    for name in _exporter_names("OTEL_TRACES_EXPORTER", _default_exporter()):
        if name == "console":
            yield ConsoleSpanExporter(out=sys.stderr)  # stdout is for the command line's output
        elif name == "otlp":
            endpoint = _endpoint("TRACES")
            if _http("TRACES"):
                from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

                url = f"{endpoint.rstrip('/')}/v1/traces" if endpoint else None
                yield OTLPSpanExporter(endpoint=url, timeout=timeout)
            else:
                from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (
                    OTLPSpanExporter as GrpcSpanExporter,
                )

                yield GrpcSpanExporter(endpoint=endpoint, timeout=timeout)
        else:
            logging.getLogger(__name__).warning("unknown OTEL_TRACES_EXPORTER %r ignored", name)


def metric_exporters() -> list[str]:
    """The metric exporters this process uses: `OTEL_METRICS_EXPORTER`, else where traces go."""
    traces = _exporter_names("OTEL_TRACES_EXPORTER", _default_exporter())
    return _exporter_names("OTEL_METRICS_EXPORTER", "otlp" if "otlp" in traces else "none")


#: The process metrics of OpenTelemetry's system metrics instrumentation that workers report.
PROCESS_METRICS: dict[str, list[str] | None] = {
    "process.cpu.time": ["user", "system"],
    "process.memory.usage": None,
    "process.memory.virtual": None,
    "process.thread.count": None,
    "process.open_file_descriptor.count": None,
}


def _process_metrics(provider: MeterProvider) -> None:
    """CPU time, memory, threads and open files of this process (psutil, read on collection)."""
    from opentelemetry.instrumentation.system_metrics import SystemMetricsInstrumentor

    # One instrumentor per process; a fresh one after a fork reads its own process.
    instrumentor = SystemMetricsInstrumentor(config=PROCESS_METRICS)
    if instrumentor.is_instrumented_by_opentelemetry:
        instrumentor.uninstrument()
    instrumentor.instrument(meter_provider=provider)


def _metric_readers(timeout: float, worker: str, index: int | None) -> Iterator[MetricReader]:
    for name in metric_exporters():
        if name == "console":
            yield PeriodicExportingMetricReader(ConsoleMetricExporter(out=sys.stderr))
        elif name == "otlp":
            endpoint = _endpoint("METRICS")
            if _http("METRICS"):
                from opentelemetry.exporter.otlp.proto.http.metric_exporter import (
                    OTLPMetricExporter,
                )

                url = f"{endpoint.rstrip('/')}/v1/metrics" if endpoint else None
                yield PeriodicExportingMetricReader(
                    OTLPMetricExporter(endpoint=url, timeout=timeout)
                )
            else:
                from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import (
                    OTLPMetricExporter as GrpcMetricExporter,
                )

                yield PeriodicExportingMetricReader(
                    GrpcMetricExporter(endpoint=endpoint, timeout=timeout)
                )
        elif name == "prometheus":
            from . import metrics as prometheus

            _process.stops.append(prometheus.stop)
            yield prometheus.reader(worker, index)
        else:
            logging.getLogger(__name__).warning("unknown OTEL_METRICS_EXPORTER %r ignored", name)


def _with_trace_ids(factory: Callable[..., logging.LogRecord]) -> Callable[..., logging.LogRecord]:
    """A log record factory that stamps every record with the current trace and span ids."""

    def make(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = factory(*args, **kwargs)
        context = trace.get_current_span().get_span_context()
        record.otelTraceID = format(context.trace_id, "032x") if context.is_valid else "-"
        record.otelSpanID = format(context.span_id, "016x") if context.is_valid else "-"
        return record

    return make


def inject(carrier: dict[str, Any]) -> dict[str, Any]:
    """Add the current trace context (W3C `traceparent`) to a message header."""
    propagate.inject(carrier)
    return carrier


def extract(carrier: Any) -> Context:
    """The trace context a message header carries (none if it carries none)."""
    items = carrier.items() if isinstance(carrier, Mapping) else ()
    return propagate.extract({k: v for k, v in items if isinstance(v, str)})


def parent(carrier: Any) -> Context | None:
    """The context to run a received message in: the sender's, unless a span is already current."""
    if trace.get_current_span().get_span_context().is_valid:
        return None
    return extract(carrier)


# ---------------------------------------------------------------- metrics

_processed = meter.create_counter(
    "purista.messages.processed", unit="{message}", description="Messages handled, by handler"
)
_failed = meter.create_counter(
    "purista.messages.failed", unit="{message}", description="Messages whose handler raised"
)
#: Bucket bounds (s) of the duration histogram: a spread from 5 ms to 5 min, plus each
#: command's timeout and 80 % of it, so a p99 near a timeout is read from exact buckets.
DURATION_BUCKETS = tuple(
    sorted(
        {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0}
        | {float(c.timeout) for c in COMMANDS.values()}
        | {round(0.8 * c.timeout, 3) for c in COMMANDS.values()}
    )
)
#: Bucket bounds (s) of the job wait histogram: from 5 ms to an hour.
WAIT_BUCKETS = (0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0)

_duration = meter.create_histogram(
    "purista.message.duration",
    unit="s",
    description="Time to handle one message",
    explicit_bucket_boundaries_advisory=DURATION_BUCKETS,
)
_wait = meter.create_histogram(
    "purista.queue.wait",
    unit="s",
    description="Time a job waited between being due and starting to run",
    explicit_bucket_boundaries_advisory=WAIT_BUCKETS,
)


@dataclass(frozen=True)
class Labels:
    """The metric attributes of one handler, made once (they are the same for every message)."""

    handler: Mapping[str, str]
    success: Mapping[str, str]
    failure: Mapping[str, str]

    @classmethod
    def of(cls, handler: Mapping[str, str]) -> Labels:
        """The labels of a handler described by `handler` (service, version, name)."""
        return cls(
            dict(handler),
            {**handler, "purista.outcome": "success"},
            {**handler, "purista.outcome": "failure"},
        )


def record_message(labels: Labels, seconds: float, *, failed: bool) -> None:
    """Count one handled message and its duration (low-cardinality attributes only)."""
    outcome = labels.failure if failed else labels.success
    _processed.add(1, outcome)
    _duration.record(seconds, outcome)
    if failed:
        _failed.add(1, labels.handler)


def record_wait(queue: Mapping[str, str], seconds: float) -> None:
    """Record how long a job waited for a worker (`queue`: its `purista.queue` attribute)."""
    _wait.record(seconds, queue)


def observe(
    name: str, description: str, unit: str, read: Callable[[], Mapping[str, float]], key: str
) -> None:
    """An observable gauge whose values `read()` returns, one per `key` attribute value."""

    def callback(options: CallbackOptions) -> Iterator[Observation]:
        try:
            values = read()
        except Exception:  # noqa: BLE001  (Redis unreachable: report nothing this round)
            return
        for label, value in values.items():
            yield Observation(value, {key: label})

    meter.create_observable_gauge(name, callbacks=[callback], unit=unit, description=description)
