"""The `schedules` of a spec: expressions, time zones, targets and constant payloads.

Part of stage 2 (validate): each problem is located at the key it is about.
"""

from __future__ import annotations

import difflib
import zoneinfo
from collections.abc import Iterator
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.validators import validator_for

from purista.errors import SpecError
from purista.load import Path_, Positions
from purista.spec.models import Schedule, Spec, service_versions
from purista.spec.names import KUBE_NAME_MAX_LENGTH, KubeName, words

TARGETS = ("enqueue", "invoke", "emit")
CRON_FIELDS = "minute hour day-of-month month day-of-week"


def check_schedules(spec: Spec, pos: Positions) -> Iterator[SpecError]:
    """A located error for each schedule that could not fire as written."""
    if not spec.schedules:
        return
    try:
        KubeName(spec.project.name, "scheduler")
    except ValueError:
        label = "-".join([*words(spec.project.name), "scheduler"])
        yield pos.error(
            ("schedules",),
            f"`{label}` (the scheduler's Deployment) is longer than the {KUBE_NAME_MAX_LENGTH} "
            "characters a Kubernetes name may have; choose a shorter project name",
            at_key=True,
        )
    for name, schedule in spec.schedules.items():
        base: Path_ = ("schedules", name)
        yield from _timing(schedule, base, pos)
        yield from _target(spec, schedule, base, pos)


def _timing(schedule: Schedule, base: Path_, pos: Positions) -> Iterator[SpecError]:
    if (schedule.cron is None) == (schedule.every is None):
        given = "both are given" if schedule.cron is not None else "neither is given"
        yield pos.error(
            base,
            f"a schedule needs exactly one of `cron` (an expression) and `every` (seconds); "
            f"{given}",
            at_key=True,
        )
    if schedule.cron is not None:
        problem = cron_problem(schedule.cron)
        if problem:
            yield pos.error((*base, "cron"), problem)
    if "timezone" in schedule.model_fields_set:
        if schedule.cron is None:
            yield pos.error(
                (*base, "timezone"),
                "`timezone` is read only with `cron`; `every` counts seconds from the Unix "
                "epoch in UTC. Remove `timezone`",
            )
        else:
            problem = timezone_problem(schedule.timezone)
            if problem:
                yield pos.error((*base, "timezone"), problem)


def cron_problem(expression: str) -> str | None:
    """Why `expression` is not a 5-field cron expression, or None."""
    fields = expression.split()
    if len(fields) != 5:
        return (
            f"a cron expression has 5 fields ({CRON_FIELDS}), not {len(fields)} "
            f"(got {expression!r}); `0 3 * * *` is 03:00 every day"
        )
    # croniter takes a tenth of a second to import: only a spec with a cron expression pays it.
    from croniter import croniter  # noqa: PLC0415
    from croniter.croniter import CroniterError  # noqa: PLC0415

    try:
        croniter(expression)
    except (CroniterError, ValueError) as exc:
        return f"not a valid cron expression ({CRON_FIELDS}): {exc} (got {expression!r})"
    return None


def timezone_problem(name: str) -> str | None:
    """Why `name` is not an IANA time zone, or None."""
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        close = difflib.get_close_matches(name, sorted(zoneinfo.available_timezones()), n=1)
        hint = f"; did you mean `{close[0]}`?" if close else " such as `Europe/Berlin` or `UTC`"
        return f"unknown time zone {name!r}: expected an IANA time zone name{hint}"
    return None


def _target(spec: Spec, schedule: Schedule, base: Path_, pos: Positions) -> Iterator[SpecError]:
    given = [key for key in TARGETS if getattr(schedule, key) is not None]
    if len(given) != 1:
        named = "it has " + (" and ".join(f"`{key}`" for key in given) if given else "none")
        yield pos.error(
            base,
            f"a schedule needs exactly one target: `enqueue: <queue>`, "
            f"`invoke: <service>.v<N>.<command>` or `emit: <event>`; {named}",
            at_key=True,
        )
        return
    key = given[0]
    target = str(getattr(schedule, key))
    schemas = _target_schemas(spec, key)
    schema = schemas.get(target)
    if schema is None:
        yield pos.error((*base, key), _unknown(key, target, set(schemas)))
        return
    what = f"{key} `{target}`"
    yield from _payload(schedule.payload, schema, (*base, "payload"), what, pos)


def _target_schemas(spec: Spec, key: str) -> dict[str, dict[str, Any]]:
    """The payload schema of every target of kind `key`, by the name a schedule uses."""
    if key == "emit":
        return {name: event.payload for name, event in spec.events.items()}
    live = service_versions(spec)
    if key == "enqueue":
        return {q: queue.payload for v in live for q, queue in v.block.queues.items()}
    return {
        f"{v.name}.v{v.version}.{c}": command.payload
        for v in live
        for c, command in v.block.commands.items()
    }


def _unknown(key: str, target: str, known: set[str]) -> str:
    from purista.validate import unresolved  # noqa: PLC0415  (validate imports this module)

    return unresolved(
        {"emit": "event", "enqueue": "queue", "invoke": "command"}[key], target, known
    )


def _payload(
    payload: dict[str, Any], schema: dict[str, Any], path: Path_, what: str, pos: Positions
) -> Iterator[SpecError]:
    """Each way the constant payload fails the target's (resolved) schema, where it fails."""
    cls = validator_for(schema, default=Draft202012Validator)
    for err in sorted(cls(schema).iter_errors(payload), key=lambda e: list(e.absolute_path)):
        yield pos.error(
            (*path, *err.absolute_path),
            f"the payload does not fit the schema of {what}: {err.message}",
        )
