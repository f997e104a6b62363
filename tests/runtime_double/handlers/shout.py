"""shouter.v1.shout: upper-cases text; `hoarse` raises an error of its own type."""

from __future__ import annotations

from typing import Any

from runtime_double.handlers import record


class HoarseError(Exception):
    """The shouter lost its voice."""


CALLS: list[dict[str, Any]] = []


def handle(context: Any, payload: Any) -> dict[str, str]:
    record(
        CALLS,
        "shout",
        {"payload": payload, "message": context.message},
        id=context.message.message_id,
    )
    if payload.text == "hoarse":
        raise HoarseError("no voice left")
    return {"text": payload.text.upper()}
