"""shouter.v1.count: counts `greeted` events, asynchronously."""

from __future__ import annotations

import asyncio
from typing import Any

from runtime_double.handlers import record

CALLS: list[dict[str, Any]] = []


async def handle(context: Any, event: Any) -> None:
    await asyncio.sleep(0)
    record(
        CALLS,
        "count",
        {"name": event.name, "message": context.message},
        id=context.message.message_id,
    )
