"""greeter.v1.greet: greets, and on request fails, sleeps, shouts (invoke) or enqueues work."""

from __future__ import annotations

import time
from typing import Any

from billiard.exceptions import SoftTimeLimitExceeded

from runtime_double.handlers import record

CALLS: list[dict[str, Any]] = []


def handle(context: Any, payload: Any) -> dict[str, str]:
    record(
        CALLS,
        "greet",
        {"payload": payload, "message": context.message},
        id=context.message.message_id,
    )
    if payload.fail == "time limit":  # what Celery raises in a handler at its timeout
        raise SoftTimeLimitExceeded()
    if payload.fail:
        raise ValueError(payload.fail)
    if payload.sleep:
        time.sleep(payload.sleep)
    greeting = f"hello {payload.name}"
    if payload.shout:
        greeting = context.invoke.shouter.v1.shout({"text": greeting}).text
    if payload.job:
        context.queue.enqueue.work({"task": "ok"})
    return {"greeting": greeting, "name": payload.name}
