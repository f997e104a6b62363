"""Command greeter.v1.greet: Return a greeting for a name"""

from __future__ import annotations

from hello.services.greeter.v1._generated.context import GreetContext
from hello.services.greeter.v1._generated.models import GreetOutput, GreetPayload


def handle(context: GreetContext, payload: GreetPayload) -> GreetOutput:
    """Return a greeting for a name"""
    raise NotImplementedError("greeter.v1.greet is not implemented yet")
