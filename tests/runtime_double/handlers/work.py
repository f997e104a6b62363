"""The `work` queue's handler: `ok` returns, `fail` raises, `sleep` sleeps `seconds` first."""

from __future__ import annotations

import time
from typing import Any

CALLS: list[dict[str, Any]] = []


def handle(context: Any, job: Any) -> dict[str, Any]:
    CALLS.append({"id": job.id, "attempt": job.attempt, "task": job.payload.task})
    if job.payload.seconds:
        time.sleep(job.payload.seconds)
    if job.payload.task == "fail":
        raise RuntimeError(f"failed on attempt {job.attempt}")
    return {"done": job.id}
