# purista runtime, copied unchanged into each project. Do not edit: `purista generate` rewrites it.
"""Helpers behind `<package>.testing`: run handlers and build their contexts without Redis.

The project's `testing` module re-exports what `__all__` lists here.
"""

from __future__ import annotations

from typing import Any

from .bridge import Bridge
from .context import Context, Message
from .errors import InvalidPayload, InvokeTimeout, RemoteError
from .inprocess import Enqueued, InProcessBridge, RecordingBridge, bindings
from .jobs import Job
from .project import SERVICES
from .runner import execute
from .states import MemoryStates, States

__all__ = [
    "Enqueued",
    "InProcessBridge",
    "InvalidPayload",
    "InvokeTimeout",
    "Job",
    "MemoryStates",
    "Message",
    "RecordingBridge",
    "RemoteError",
    "context_for",
    "run",
]


def context_for(
    task: str,
    *,
    bridge: Bridge | None = None,
    states: States | None = None,
    message: Message | None = None,
) -> Any:
    """The context a handler gets (`<service>.v<N>.<name>`), with a recording bridge by default."""
    binding = bindings()[task]
    context: Context = binding.context(
        name=task,
        bridge=bridge if bridge is not None else RecordingBridge(),
        message=message or Message.first(),
        states=states
        if states is not None
        else MemoryStates(SERVICES[binding.service_key].state_ttl),
    )
    return context


def run(
    task: str,
    payload: Any,
    *,
    bridge: Bridge | None = None,
    states: States | None = None,
    message: Message | None = None,
) -> Any:
    """Run a handler as a worker would (payload and output validated, success event emitted).

    A job handler runs as the first attempt of a job whose id is the message id.
    """
    binding = bindings()[task]
    return execute(
        binding,
        payload,
        message or Message.first(),
        bridge if bridge is not None else RecordingBridge(),
        states if states is not None else MemoryStates(SERVICES[binding.service_key].state_ttl),
    )
