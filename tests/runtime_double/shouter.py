"""Service shouter v1 of the double: a command that others invoke, and a subscription."""

from __future__ import annotations

from purista.runtime.context import Context
from purista.runtime.runner import Binding

from runtime_double import models

BINDINGS: tuple[Binding, ...] = (
    Binding(
        kind="command",
        name="shout",
        task="shouter.v1.shout",
        queue="rtdouble.shouter.v1",
        service="shouter",
        version=1,
        module="runtime_double.handlers.shout",
        payload=models.ShoutPayload,
        output=models.ShoutOutput,
        context=Context,
        timeout=5.0,
    ),
    Binding(
        kind="subscription",
        name="count",
        task="shouter.v1.count",
        queue="rtdouble.shouter.v1.count",
        service="shouter",
        version=1,
        module="runtime_double.handlers.count",
        payload=models.GreetedEvent,
        output=None,
        context=Context,
        timeout=5.0,
    ),
)
