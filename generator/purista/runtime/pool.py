# purista runtime, copied unchanged into each project. Do not edit: `purista generate` rewrites it.
"""Celery's threads pool, waking the worker's event loop whenever a slot frees.

Workers take a message only when a slot is free (`worker_disable_prefetch`), so
the consumer stops reading Redis while every slot is busy and starts again at the
next turn of its event loop. A prefork child's result wakes that loop through a
pipe; a thread finishing wakes nothing, and the loop slept until its next timer
(seconds). Here a finished task writes to a pipe the loop watches.
"""

from __future__ import annotations

import contextlib
import os
from typing import Any

from celery.concurrency import thread


class ThreadsPool(thread.TaskPool):
    """The threads pool (`--pool threads`), with the wake-up described above."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._wake_read, self._wake_write = os.pipe()
        os.set_blocking(self._wake_read, False)
        os.set_blocking(self._wake_write, False)

    def register_with_event_loop(self, loop: Any) -> None:
        """Watch the wake-up pipe from the worker's event loop."""
        loop.add_reader(self._wake_read, self._drain)

    def on_apply(self, *args: Any, **kwargs: Any) -> Any:
        """Run a task on a thread; when it is done (callbacks included), wake the loop."""
        result = super().on_apply(*args, **kwargs)
        result.f.add_done_callback(self._wake)
        return result

    def on_stop(self) -> None:
        """Stop the threads, then close the pipe."""
        super().on_stop()
        for fd in (self._wake_read, self._wake_write):
            with contextlib.suppress(OSError):
                os.close(fd)

    def _wake(self, _: object) -> None:
        with contextlib.suppress(BlockingIOError, OSError):  # full: the loop wakes anyway
            os.write(self._wake_write, b"\0")

    def _drain(self) -> None:
        with contextlib.suppress(BlockingIOError, OSError):
            os.read(self._wake_read, 4096)
