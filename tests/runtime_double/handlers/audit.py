"""greeter.v1.audit: records each `greeted` event; `poison` raises, `slow<S>` sleeps S s
(2 by default), `late<S>` sleeps S s before it records, `crash` kills its process."""

from __future__ import annotations

import os
import time
from typing import Any

from runtime_double.handlers import record

CALLS: list[dict[str, Any]] = []


def handle(context: Any, event: Any) -> None:
    if event.name.startswith("late"):
        time.sleep(float(event.name.removeprefix("late") or 2))
    record(
        CALLS,
        "audit",
        {"name": event.name, "message": context.message},
        id=context.message.message_id,
    )
    if event.name == "poison":
        raise RuntimeError("poisoned")
    if event.name.startswith("slow"):
        time.sleep(float(event.name.removeprefix("slow") or 2))
    if event.name == "crash":
        os._exit(3)
