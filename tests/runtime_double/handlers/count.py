"""shouter.v1.count: counts `greeted` events, asynchronously."""

from __future__ import annotations

import asyncio
from typing import Any

CALLS: list[dict[str, Any]] = []


async def handle(context: Any, event: Any) -> None:
    await asyncio.sleep(0)
    CALLS.append({"name": event.name, "message": context.message})
