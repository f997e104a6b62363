# purista runtime, copied unchanged into each project. Do not edit: `purista generate` rewrites it.
"""The project's own command line: `python -m <package> ...`."""

from __future__ import annotations

import argparse
import difflib
import json
import sys
import time
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from pydantic import RootModel

from .context import Message
from .info import PACKAGE
from .project import COMMANDS, EVENT_ROUTES, PROJECT, QUEUES, SERVICES


def main(argv: Sequence[str] | None = None) -> None:
    """Parse the arguments and run the command."""
    parser = _parser()
    args = parser.parse_args(argv)
    sys.exit(args.run(parser, args) or 0)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=f"python -m {PACKAGE}", description=f"{PROJECT}: workers and tools"
    )
    commands = parser.add_subparsers(dest="command", required=True)

    worker = commands.add_parser("worker", help="run the worker of a service, or of a job queue")
    worker.add_argument(
        "service", nargs="?", choices=sorted(SERVICES), help="consume this service's queues"
    )
    worker.add_argument(
        "--queue", choices=sorted(QUEUES), help="run the jobs of this queue instead"
    )
    worker.add_argument("--concurrency", type=int, help="parallel messages (default: the spec's)")
    worker.add_argument(
        "--pool", choices=["prefork", "threads", "solo"], help="pool kind of a service worker"
    )
    worker.add_argument("--loglevel", default="INFO")
    worker.set_defaults(run=_worker)

    dev = commands.add_parser("dev", help="run every worker of the project here, until Ctrl-C")
    dev.set_defaults(run=_dev)

    invoke = commands.add_parser("invoke", help="run a command and print its output as JSON")
    invoke.add_argument("target", help="<service>.v<N>.<command>")
    invoke.add_argument("payload", help="the payload as a JSON object")
    invoke.add_argument(
        "--timeout", type=float, help="seconds to wait (default: the command's timeout)"
    )
    invoke.add_argument("--principal", help="principal id to send with the message")
    invoke.add_argument("--tenant", help="tenant id to send with the message")
    invoke.set_defaults(run=_invoke)

    enqueue = commands.add_parser("enqueue", help="add a job to a queue and print its id")
    enqueue.add_argument("queue", choices=sorted(QUEUES))
    enqueue.add_argument("payload", help="the payload as a JSON object")
    enqueue.add_argument("--delay", type=float, help="seconds before the job may run")
    enqueue.add_argument("--key", help="idempotency key: the same key twice gives one job")
    enqueue.set_defaults(run=_enqueue)

    job = commands.add_parser("job", help="show a job's status, attempts and last error")
    job.add_argument("id")
    job.set_defaults(run=_job)

    dlq = commands.add_parser("dlq", help="the dead-letter list of a queue")
    dlq.add_argument("action", choices=["list", "redrive", "purge"])
    dlq.add_argument("queue", choices=sorted(QUEUES))
    dlq.set_defaults(run=_dlq)

    stats = commands.add_parser(
        "stats", help="queue depths, jobs in flight, dead letters, consumer lag"
    )
    stats.add_argument("--json", action="store_true", help="print JSON instead of a table")
    stats.add_argument("--watch", type=float, metavar="SECONDS", help="refresh every SECONDS")
    stats.set_defaults(run=_stats)
    return parser


def _json_arg(parser: argparse.ArgumentParser, text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        parser.error(f"the payload is not JSON: {exc}")


def _worker(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    from .worker import run_job_worker, run_worker

    if (args.service is None) == (args.queue is None):
        parser.error("name a service, or a job queue with --queue")
    if args.queue:
        run_job_worker(args.queue, concurrency=args.concurrency, loglevel=args.loglevel)
    else:
        run_worker(
            args.service, concurrency=args.concurrency, pool=args.pool, loglevel=args.loglevel
        )
    return 0


def _dev(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    from .dev import run

    return run()


def _invoke(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    from . import telemetry
    from .app import get_bridge

    target = COMMANDS.get(args.target)
    if target is None:
        close = difflib.get_close_matches(args.target, COMMANDS, n=1)
        hint = (
            f"; did you mean {close[0]}?" if close else f"; commands: {', '.join(sorted(COMMANDS))}"
        )
        parser.error(f"no command {args.target}{hint}")
    payload = _json_arg(parser, args.payload)
    if args.timeout:
        target = replace(target, timeout=args.timeout)
    message = Message.first(principal_id=args.principal, tenant_id=args.tenant)
    telemetry.setup("cli", client=True)
    try:
        output = get_bridge().invoke(target, payload, RootModel[Any], message)
    except Exception as exc:  # noqa: BLE001  (reported as the command's error)
        print(f"{type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(output.root, indent=2))
    return 0


def _enqueue(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    from . import telemetry, wire
    from .app import get_bridge
    from .errors import InvalidPayload
    from .runner import job_binding

    queue = QUEUES[args.queue]
    model = job_binding(queue.name).payload
    try:
        payload = wire.to_wire(model, _json_arg(parser, args.payload), f"job {queue.name}")
    except InvalidPayload as exc:
        print(f"InvalidPayload: {exc}", file=sys.stderr)
        return 1
    telemetry.setup("cli", client=True)
    with telemetry.tracer.start_as_current_span(f"enqueue {queue.name}"):
        job_id = get_bridge().enqueue(
            queue, payload, Message.first(), delay=args.delay, idempotency_key=args.key
        )
    print(job_id)
    return 0


def _store() -> Any:
    from .app import get_jobs

    return get_jobs()


def _job(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    record = _store().get(args.id)
    if record is None:
        print(f"no job {args.id} (unknown, or its record has expired)", file=sys.stderr)
        return 1
    print(json.dumps(record, indent=2))
    return 0


def _dlq(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    store, queue = _store(), QUEUES[args.queue]
    if args.action == "list":
        for record in store.dead_letters(queue):
            print(
                json.dumps({k: record.get(k) for k in ("id", "attempt", "last_error", "payload")})
            )
    elif args.action == "redrive":
        print(f"redrove {store.redrive(queue)} jobs of {queue.name}")
    else:
        print(f"purged {store.purge(queue)} jobs of {queue.name}")
    return 0


def _stats(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
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
    with client.pipeline(transaction=False) as pipe:
        for service in SERVICES.values():
            pipe.llen(service.queue)
        subscriptions = sorted(
            {route.queue for routes in EVENT_ROUTES.values() for route in routes}
        )
        for queue in subscriptions:
            pipe.llen(queue)
        depths = pipe.execute()
    return {
        "queues": {name: store.stats(info) for name, info in sorted(QUEUES.items())},
        "commands": {s.queue: depth for s, depth in zip(SERVICES.values(), depths, strict=False)},
        "subscriptions": dict(zip(subscriptions, depths[len(SERVICES) :], strict=True)),
    }


def format_stats(figures: dict[str, Any]) -> str:
    """The figures as a plain-text table."""
    row = "{:<32} {:>8} {:>9} {:>9} {:>6} {:>10}"
    lines = [row.format("job queue", "pending", "scheduled", "in flight", "dead", "oldest (s)")]
    for name, q in figures["queues"].items():
        age = "-" if q["oldest_age"] is None else f"{q['oldest_age']:.1f}"
        figures_of_q = (q["pending"], q["scheduled"], q["in_flight"], q["dead_letters"])
        lines.append(row.format(name, *figures_of_q, age))
    lines.append("")
    lines.append(f"{'command queue':<42} {'waiting':>8}")
    lines.extend(f"{name:<42} {depth:>8}" for name, depth in figures["commands"].items())
    lines.append("")
    lines.append(f"{'subscription queue (lag)':<42} {'waiting':>8}")
    lines.extend(f"{name:<42} {depth:>8}" for name, depth in figures["subscriptions"].items())
    return "\n".join(lines)
