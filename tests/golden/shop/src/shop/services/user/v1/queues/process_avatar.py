"""Job queue processAvatar: Resize and store an uploaded avatar

A job is tried up to 5 times; an exception schedules the next
attempt after a backoff, and the last one sends the job to the dead-letter list.
"""

from __future__ import annotations

from shop.services.user.v1._generated.context import Job, ProcessAvatarContext
from shop.services.user.v1._generated.models import ProcessAvatarJob


def handle(context: ProcessAvatarContext, job: Job[ProcessAvatarJob]) -> None:
    """Resize and store an uploaded avatar"""
    raise NotImplementedError("job queue processAvatar is not implemented yet")
