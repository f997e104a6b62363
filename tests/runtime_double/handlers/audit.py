"""greeter.v1.audit: records each `greeted` event; fails for the name `poison`."""

from __future__ import annotations

from typing import Any

CALLS: list[dict[str, Any]] = []


def handle(context: Any, event: Any) -> None:
    CALLS.append({"name": event.name, "message": context.message})
    if event.name == "poison":
        raise RuntimeError("poisoned")
