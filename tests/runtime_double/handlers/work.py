"""The `work` queue's handler: sleeps `seconds`, then `fail` raises, `exit` raises SystemExit,
anything else returns."""

from __future__ import annotations

import time
from typing import Any

from runtime_double.handlers import record

CALLS: list[dict[str, Any]] = []


def handle(context: Any, job: Any) -> dict[str, Any]:
    record(CALLS, "work", {"id": job.id, "attempt": job.attempt, "task": job.payload.task})
    if job.payload.seconds:
        time.sleep(job.payload.seconds)
    if job.payload.task == "fail":
        raise RuntimeError(f"failed on attempt {job.attempt}")
    if job.payload.task == "exit":  # not an Exception: it escapes the handler's error handling
        raise SystemExit(3)
    return {"done": job.id}
