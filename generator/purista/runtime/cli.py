# purista runtime, copied unchanged into each project. Do not edit: `purista generate` rewrites it.
"""The project's own command line: `python -m <package> ...`.

Exit codes: 0 ok, 1 the command failed (an error from the handler, a timeout, Redis
unreachable), 2 bad input (arguments, payloads, settings). Every failure is one line
on stderr.
"""

from __future__ import annotations

import argparse
import difflib
import json
import math
import shlex
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, cast

from .context import Message
from .errors import InvalidPayload, SettingsError
from .info import PACKAGE, QueueInfo, task_service
from .jobs import MAX_DELAY
from .project import (
    COMMANDS,
    EVENT_ROUTES,
    EXAMPLES,
    PROJECT,
    QUEUES,
    SCHEDULES,
    SERVICES,
    SUBSCRIPTIONS,
)

if TYPE_CHECKING:
    from .inprocess import InProcessBridge

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


class UsageError(Exception):
    """Bad input found after parsing (a payload, a setting): exit 2."""


class _Parser(argparse.ArgumentParser):
    """argparse, reporting a bad argument in one line (exit 2)."""

    def error(self, message: str) -> NoReturn:
        """Print `<prog>: <message>` and exit 2."""
        self.exit(2, f"{self.prog}: {message} (see --help)\n")


def main(argv: Sequence[str] | None = None) -> None:
    """Parse the arguments and run the command."""
    parser = _parser()
    args = parser.parse_args(argv)
    sys.exit(_run(args))


def _run(args: argparse.Namespace) -> int:
    import redis
    from kombu.exceptions import OperationalError

    try:
        return int(args.run(args) or 0)
    except UsageError as exc:
        print(f"python -m {PACKAGE} {args.command}: {exc}", file=sys.stderr)
        return 2
    except SettingsError as exc:
        print(exc, file=sys.stderr)
        return 2
    except InvalidPayload as exc:
        print(f"{type(exc).__name__}: {exc}", file=sys.stderr)
        return 2
    except (redis.RedisError, OperationalError) as exc:
        print(f"cannot reach Redis: {exc}", file=sys.stderr)
        return 1


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog=f"python -m {PACKAGE}", description=f"{PROJECT}: workers and tools")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    worker = commands.add_parser("worker", help="run the worker of a service, or of a job queue")
    worker.add_argument(
        "service",
        nargs="?",
        metavar="SERVICE",
        help="consume the queues of this service version: "
        f"{', '.join(sorted(SERVICES))} (a service with one version: its name alone)",
    )
    worker.add_argument(
        "--queue", choices=sorted(QUEUES), help="run the jobs of this queue instead"
    )
    worker.add_argument(
        "--concurrency", type=_count, help="parallel messages (default: the spec's)"
    )
    worker.add_argument(
        "--pool", choices=["prefork", "threads", "solo"], help="pool kind of a service worker"
    )
    worker.add_argument("--loglevel", default="INFO", type=_loglevel, help="|".join(LOG_LEVELS))
    worker.set_defaults(run=_worker)

    scheduler = commands.add_parser(
        "scheduler", help="fire the spec's schedules, each occurrence once however many run"
    )
    scheduler.add_argument(
        "--schedule",
        action="append",
        choices=sorted(SCHEDULES),
        help="fire only this schedule (repeatable; default: all)",
    )
    scheduler.add_argument("--loglevel", default="INFO", type=_loglevel, help="|".join(LOG_LEVELS))
    scheduler.set_defaults(run=_scheduler)

    dev = commands.add_parser("dev", help="run every worker of the project here, until Ctrl-C")
    dev.add_argument(
        "--in-process",
        action="store_true",
        help="no workers and no Redis: run the invoke and enqueue lines read on stdin here, "
        "every service in this process, one state store in memory for the whole session",
    )
    dev.set_defaults(run=_dev)

    gateway = commands.add_parser(
        "gateway", help="serve the commands and job queues the spec exposes over HTTP"
    )
    gateway.add_argument("--host", default="127.0.0.1", help="address to listen on")
    gateway.add_argument(
        "--port", type=_port, default=None, help="port to listen on [default: the spec's]"
    )
    gateway.add_argument("--loglevel", type=_loglevel, default="WARNING")
    gateway.set_defaults(run=_gateway)

    invoke = commands.add_parser("invoke", help="run a command and print its output as JSON")
    invoke.add_argument("target", help="<service>.v<N>.<command>")
    invoke.add_argument("payload", help=PAYLOAD_HELP)
    invoke.add_argument(
        "--timeout", type=_seconds, help="seconds to wait (default: the command's timeout)"
    )
    invoke.add_argument("--principal", help="principal id to send with the message")
    invoke.add_argument("--tenant", help="tenant id to send with the message")
    invoke.add_argument("--in-process", action="store_true", help=IN_PROCESS_HELP)
    invoke.set_defaults(run=_invoke)

    enqueue = commands.add_parser("enqueue", help="add a job to a queue and print its id")
    enqueue.add_argument("queue", choices=sorted(QUEUES))
    enqueue.add_argument("payload", help=PAYLOAD_HELP)
    enqueue.add_argument("--delay", type=_delay, help="seconds before the job may run")
    enqueue.add_argument("--key", help="idempotency key: the same key twice gives one job")
    enqueue.add_argument("--in-process", action="store_true", help=IN_PROCESS_HELP)
    enqueue.set_defaults(run=_enqueue)

    job = commands.add_parser("job", help="show a job's (or a parked event's) record")
    job.add_argument("id")
    job.set_defaults(run=_job)

    dlq = commands.add_parser(
        "dlq", help="the dead-letter list of a job queue or of a subscription's queue"
    )
    dlq.add_argument("action", choices=["list", "redrive", "purge"])
    dlq.add_argument("queue", choices=sorted(QUEUES | SUBSCRIPTIONS))
    dlq.add_argument("--limit", type=_count, default=100, help="list at most this many (100)")
    dlq.add_argument("--offset", type=_offset, default=0, help="skip this many, newest first")
    dlq.set_defaults(run=_dlq)

    _add_bench(commands)

    stats = commands.add_parser(
        "stats", help="queue depths, jobs in flight, retries, dead letters, consumer lag"
    )
    stats.add_argument("--json", action="store_true", help="print JSON instead of a table")
    stats.add_argument("--watch", type=_seconds, metavar="SECONDS", help="refresh every SECONDS")
    stats.set_defaults(run=_stats)
    return parser


def _add_bench(commands: Any) -> None:
    """The `bench` command's arguments."""
    bench = commands.add_parser(
        "bench", help="load a command, event or job queue on running workers and measure it"
    )
    bench.add_argument("target", help="<service>.v<N>.<command>, an event, or a job queue")
    pace = bench.add_mutually_exclusive_group()
    pace.add_argument("--rate", type=_seconds, default=50.0, help="messages per second (50)")
    pace.add_argument("--max", action="store_true", help="as fast as --concurrency threads can")
    bench.add_argument("--duration", type=_seconds, default=10.0, help="seconds of sending (10)")
    bench.add_argument("--payload", help=PAYLOAD_HELP + " (default: the schema's example)")
    bench.add_argument("--concurrency", type=_count, default=16, help="client threads (16)")
    bench.add_argument(
        "--drain", type=_seconds, default=30.0, help="seconds to wait for the backlog (30)"
    )
    bench.add_argument("--json", action="store_true", help="print JSON instead of a table")
    bench.add_argument("--plot", type=Path, metavar="FILE.png", help="draw latency (matplotlib)")
    bench.add_argument(
        "--measurements",
        type=Path,
        default=Path(".purista/measurements.json"),
        help="where to keep the service times (.purista/measurements.json)",
    )
    bench.set_defaults(run=_bench)


PAYLOAD_HELP = "the payload: a JSON object, @FILE to read it from a file, or - for stdin"
IN_PROCESS_HELP = (
    "no workers and no Redis: run it here, with every service in this process "
    "(events reach every subscription, jobs run at once, state lives until the process ends)"
)


def _checked(convert: Callable[[str], Any], check: Callable[[Any], bool], what: str) -> Any:
    def parse(text: str) -> Any:
        try:
            value = convert(text)
        except ValueError:
            value = None
        if value is None or not check(value):
            raise argparse.ArgumentTypeError(f"{text!r} is not {what}")
        return value

    return parse


_count = _checked(int, lambda v: v >= 1, "a whole number of at least 1")
_port = _checked(int, lambda v: 1 <= v <= 65535, "a port from 1 to 65535")
_offset = _checked(int, lambda v: v >= 0, "a whole number of at least 0")
_seconds = _checked(float, lambda v: 0 < v < math.inf, "a number of seconds greater than 0")
_delay = _checked(
    float, lambda v: 0 <= v <= MAX_DELAY, f"a number of seconds from 0 to {MAX_DELAY:g}"
)


def _loglevel(text: str) -> str:
    if text.upper() not in LOG_LEVELS:
        raise argparse.ArgumentTypeError(f"{text!r} is not one of {', '.join(LOG_LEVELS)}")
    return text.upper()


def _payload(text: str) -> Any:
    """A payload argument: JSON, `@FILE` or `-` (stdin)."""
    if text == "-":
        source, text = "stdin", sys.stdin.read()
    elif text.startswith("@"):
        source = text[1:]
        try:
            text = Path(source).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise UsageError(f"cannot read the payload from {source}: {exc}") from None
    else:
        source = "the argument"
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageError(f"the payload ({source}) is not JSON: {exc}") from None


def _worker(args: argparse.Namespace) -> int:
    if (args.service is None) == (args.queue is None):
        raise UsageError("name a service, or a job queue with --queue")
    if args.queue:
        from .jobworker import run_job_worker

        return run_job_worker(args.queue, concurrency=args.concurrency, loglevel=args.loglevel)
    from .worker import run_worker

    return run_worker(
        _service_version(args.service),
        concurrency=args.concurrency,
        pool=args.pool,
        loglevel=args.loglevel,
    )


def _service_version(name: str) -> str:
    """The `<service>.v<N>` that `name` means: itself, or a service's only version."""
    if name in SERVICES:
        return name
    versions = sorted(key for key, info in SERVICES.items() if info.name == name)
    if len(versions) == 1:
        return versions[0]
    if versions:
        raise UsageError(f"service {name} has several versions: name one of {', '.join(versions)}")
    raise UsageError(f"no service {name}; services: {', '.join(sorted(SERVICES))}")


def _scheduler(args: argparse.Namespace) -> int:
    if not SCHEDULES:
        raise UsageError("the spec has no schedules")
    from .scheduler import run_scheduler

    return run_scheduler(args.schedule or (), loglevel=args.loglevel)


def _gateway(args: argparse.Namespace) -> int:
    from .project import ROUTES

    if not ROUTES:
        raise UsageError("no command or job queue declares `http` in the spec: nothing to serve")
    from .gateway import run_gateway

    return run_gateway(args.host, args.port, args.loglevel)


def _dev(args: argparse.Namespace) -> int:
    if args.in_process:
        return _serve(sys.stdin)
    from .dev import run

    return run()


def _serve(lines: Iterable[str]) -> int:
    """Run `invoke` and `enqueue` lines in this process; 1 if any of them failed.

    A line is what follows `python -m <package>` (the prefix may be given too, so a
    README's lines can be pasted or piped in); blank lines and `#` comments are skipped.
    """
    if sys.stdin.isatty():
        print(
            f"{PROJECT} in this process, no Redis: type invoke or enqueue lines, Ctrl-D to end",
            file=sys.stderr,
        )
    parser, failed = _parser(), False
    for number, line in enumerate(lines, start=1):
        try:
            words = shlex.split(line, comments=True)
        except ValueError as exc:
            print(f"line {number}: {exc}", file=sys.stderr)
            failed = True
            continue
        if words[:3] in (["python", "-m", PACKAGE], ["python3", "-m", PACKAGE]):
            words = words[3:]
        if not words:
            continue
        if words[0] not in ("invoke", "enqueue"):
            print(f"line {number}: only invoke and enqueue run in-process", file=sys.stderr)
            failed = True
            continue
        try:
            args = parser.parse_args(words)
        except SystemExit:  # argparse has said what is wrong
            failed = True
            continue
        args.in_process = True
        failed |= _run(args) != 0
    return 1 if failed else 0


class _Local:
    """The in-process bridge of this process: one session, shared by every line `_serve` runs."""

    bridge: InProcessBridge | None = None


def _local() -> InProcessBridge:
    from . import telemetry
    from .inprocess import InProcessBridge

    if _Local.bridge is None:
        telemetry.setup("cli")
        _Local.bridge = InProcessBridge()
    return _Local.bridge


def _run_here(task: str, payload: Any, args: argparse.Namespace) -> Any:
    """Run a command in this process, then the jobs it enqueued; say what else ran on stderr."""
    bridge = _local()
    emitted, enqueued = len(bridge.emitted), len(bridge.enqueued)
    result = bridge.handle(task, payload, principal_id=args.principal, tenant_id=args.tenant)
    for event, _ in bridge.emitted[emitted:]:
        count = len(EVENT_ROUTES.get(event, ()))
        subscriptions = "subscription" if count == 1 else "subscriptions"
        print(f"in-process: {event} delivered to {count} {subscriptions}", file=sys.stderr)
    for job in bridge.enqueued[enqueued:]:
        waited = f" (its delay of {job.delay:g} s not waited for)" if job.delay else ""
        print(f"in-process: job {job.id} of {job.queue} runs now{waited}", file=sys.stderr)
    bridge.run_jobs()
    return result


def _invoke(args: argparse.Namespace) -> int:
    from pydantic import RootModel

    from . import telemetry, wire
    from .app import get_bridge
    from .runner import service_bindings

    target = COMMANDS.get(args.target)
    if target is None:
        close = difflib.get_close_matches(args.target, COMMANDS, n=1)
        hint = (
            f"; did you mean {close[0]}?" if close else f"; commands: {', '.join(sorted(COMMANDS))}"
        )
        raise UsageError(f"no command {args.target}{hint}")
    binding = next(b for b in service_bindings(task_service(target.task)) if b.task == target.task)
    payload = wire.to_wire(binding.payload, _payload(args.payload), f"payload of {target.task}")
    if args.timeout:
        target = replace(target, timeout=args.timeout)
    try:
        if args.in_process:
            result = _run_here(target.task, payload, args)
        else:
            telemetry.setup("cli", client=True)
            message = Message.first(principal_id=args.principal, tenant_id=args.tenant)
            result = get_bridge().invoke(target, payload, RootModel[Any], message).root
    except InvalidPayload:
        raise
    except Exception as exc:  # noqa: BLE001  (reported as the command's error)
        print(f"{type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(result, indent=2))
    return 0


def _enqueue(args: argparse.Namespace) -> int:
    from . import telemetry, wire
    from .app import get_bridge
    from .runner import job_binding

    queue = QUEUES[args.queue]
    model = job_binding(queue.name).payload
    payload = wire.to_wire(model, _payload(args.payload), f"job {queue.name}")
    if args.in_process:
        return _enqueue_here(queue, payload, args)
    telemetry.setup("cli", client=True)
    with telemetry.tracer.start_as_current_span(f"enqueue {queue.name}"):
        job_id = get_bridge().enqueue(
            queue, payload, Message.first(), delay=args.delay, idempotency_key=args.key
        )
    print(job_id)
    return 0


def _enqueue_here(queue: QueueInfo, payload: dict[str, Any], args: argparse.Namespace) -> int:
    """Enqueue a job in this process, print its id, and run it (and the jobs it enqueues)."""
    bridge = _local()
    job_id = bridge.enqueue(
        queue, payload, Message.first(), delay=args.delay, idempotency_key=args.key
    )
    print(job_id, flush=True)
    try:
        bridge.run_jobs()
    except Exception as exc:  # noqa: BLE001  (reported as the job's error)
        print(f"{type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    return 0


def _bench_target(target: str) -> tuple[str, Any, list[str]]:
    """A bench target's kind, payload model and the Celery queues its messages wait in."""
    from .runner import job_binding, service_bindings

    if target in COMMANDS:
        binding = next(b for b in service_bindings(task_service(target)) if b.task == target)
        return "command", binding.payload, [COMMANDS[target].queue]
    if target in EVENT_ROUTES:
        routes = EVENT_ROUTES[target]
        if not routes:
            raise UsageError(f"nobody subscribes to {target}: there is nothing to measure")
        first = routes[0].task
        binding = next(b for b in service_bindings(task_service(first)) if b.task == first)
        return "event", binding.payload, [route.queue for route in routes]
    if target in QUEUES:
        return "job", job_binding(target).payload, []
    close = difflib.get_close_matches(target, sorted(COMMANDS | EVENT_ROUTES | QUEUES), n=1)
    hint = f"; did you mean {close[0]}?" if close else ""
    raise UsageError(f"no command, event or job queue {target}{hint}")


def _bench(args: argparse.Namespace) -> int:
    from pydantic import RootModel

    from . import bench, telemetry, wire
    from .app import get_bridge, get_client

    target = args.target
    kind, model, queues = _bench_target(target)
    given = _payload(args.payload) if args.payload else EXAMPLES.get(target)
    if given is None:
        raise UsageError(f"{target} has no example payload: give one with --payload")
    payload = wire.to_wire(model, given, f"payload of {target}")
    bridge, client = get_bridge(), get_client()

    def send() -> bool:
        if kind == "command":
            bridge.invoke(COMMANDS[target], payload, RootModel[Any], Message.first())
            return True  # a command's round trip is timed here
        if kind == "event":
            bridge.emit(target, payload, Message.first())
        else:
            bridge.enqueue(QUEUES[target], payload, Message.first())
        return False

    telemetry.setup("bench", client=True)
    run = bench.new_run()
    rate = None if args.max else args.rate
    load = bench.drive(
        send, run=run, rate=rate, duration=args.duration, concurrency=args.concurrency
    )
    duration = time.monotonic() - load.started
    backlog = sum(cast(int, client.llen(queue)) for queue in queues)
    if kind == "job":
        backlog = _store().stats(QUEUES[target])["pending"]
    expected = (load.sent - sum(load.errors.values())) * max(1, len(queues) * (kind == "event"))
    notes = bench.read_notes(client, run, expected, args.drain)
    figures = bench.report(target, kind, load, notes, backlog=backlog, duration=duration)
    print(json.dumps(figures, indent=2) if args.json else bench.format_report(figures))
    bench.record(args.measurements, figures, {t: _concurrency(t) for t in figures["service_time"]})
    if args.plot:
        try:
            bench.plot(figures, args.plot)
        except RuntimeError as exc:
            raise UsageError(str(exc)) from None
    return 0


def _concurrency(task: str) -> int:
    """How many messages of `task` one instance of its worker runs at once."""
    if task in QUEUES:
        return QUEUES[task].concurrency
    return SERVICES[task_service(task)].concurrency


def _store() -> Any:
    from .app import get_jobs

    return get_jobs()


def _job(args: argparse.Namespace) -> int:
    record = _store().get(args.id)
    if record is None:
        print(f"no job {args.id} (unknown, or its record has expired)", file=sys.stderr)
        return 1
    print(json.dumps(record, indent=2))
    return 0


def _dlq(args: argparse.Namespace) -> int:
    store = _store()
    queue: QueueInfo = QUEUES.get(args.queue) or SUBSCRIPTIONS[args.queue]
    if args.action == "list":
        shown = 0
        for record in store.dead_letters(queue, offset=args.offset, limit=args.limit):
            print(
                json.dumps({k: record.get(k) for k in ("id", "attempt", "last_error", "payload")})
            )
            shown += 1
        total = store.stats(queue)["dead_letters"]
        if args.offset + shown < total:
            print(
                f"{shown} of {total} shown; the next page: --offset {args.offset + shown}",
                file=sys.stderr,
            )
    elif args.action == "redrive":
        if args.queue in SUBSCRIPTIONS:
            from .app import get_deliveries

            moved = get_deliveries().redrive(queue)
            print(f"redrove {moved} events of {queue.name}; its workers send them again")
        else:
            print(f"redrove {store.redrive(queue)} jobs of {queue.name}")
    else:
        print(f"purged {store.purge(queue)} from {queue.name}")
    return 0


def _stats(args: argparse.Namespace) -> int:
    while True:
        figures = collect_stats()
        if args.json:
            print(json.dumps(figures, indent=2))
        else:
            print(format_stats(figures))
        if not args.watch:
            return 0
        time.sleep(args.watch)
        print()


def collect_stats() -> dict[str, Any]:
    """Per job queue, per service command queue and per subscription, as Redis holds them now."""
    store = _store()
    client = store.client
    subscriptions = sorted(SUBSCRIPTIONS)
    with client.pipeline(transaction=False) as pipe:
        for service in SERVICES.values():
            pipe.llen(service.queue)
        for queue in subscriptions:
            pipe.llen(queue)
        depths = pipe.execute()
    waiting = dict(zip(subscriptions, depths[len(SERVICES) :], strict=True))
    delivery = {name: store.stats(SUBSCRIPTIONS[name]) for name in subscriptions}
    figures = {
        "queues": {name: store.stats(info) for name, info in sorted(QUEUES.items())},
        "commands": {s.queue: depth for s, depth in zip(SERVICES.values(), depths, strict=False)},
        "subscriptions": {
            name: {
                "waiting": waiting[name],
                "retrying": delivery[name]["scheduled"] + delivery[name]["in_flight"],
                "dead_letters": delivery[name]["dead_letters"],
            }
            for name in subscriptions
        },
    }
    if SCHEDULES:
        from .scheduler import status

        figures["schedules"] = status(client, SCHEDULES.values(), time.time())
    return figures


def format_stats(figures: dict[str, Any]) -> str:
    """The figures as a plain-text table."""
    row = "{:<32} {:>8} {:>9} {:>9} {:>6} {:>10}"
    lines = [row.format("job queue", "pending", "scheduled", "in flight", "dead", "oldest (s)")]
    for name, q in figures["queues"].items():
        age = "-" if q["oldest_age"] is None else f"{q['oldest_age']:.1f}"
        counts = (q["pending"], q["scheduled"], q["in_flight"], q["dead_letters"])
        lines.append(row.format(name, *counts, age))
    lines.append("")
    lines.append(f"{'command queue':<42} {'waiting':>8}")
    lines.extend(f"{name:<42} {depth:>8}" for name, depth in figures["commands"].items())
    lines.append("")
    sub = "{:<42} {:>8} {:>9} {:>6}"
    lines.append(sub.format("subscription queue (lag)", "waiting", "retrying", "dead"))
    lines.extend(
        sub.format(name, s["waiting"], s["retrying"], s["dead_letters"])
        for name, s in figures["subscriptions"].items()
    )
    if figures.get("schedules"):
        lines.append("")
        when = "{:<24} {:<48} {:<48}"
        lines.append(when.format("schedule", "last run", "next run"))
        lines.extend(
            when.format(name, s["last"] or "-", f"{s['next']} (in {s['next_in']:g} s)")
            for name, s in figures["schedules"].items()
        )
    return "\n".join(lines)
