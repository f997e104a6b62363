# purista runtime, copied unchanged into each project. Do not edit: `purista generate` rewrites it.
"""What every handler gets: message metadata, a logger, the state store, resources."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from typing import TYPE_CHECKING, Any

from .states import States

if TYPE_CHECKING:
    from .bridge import Bridge

HEADER = "purista"


@dataclass(frozen=True)
class Message:
    """Metadata of the message being handled, set by the first caller and passed down unchanged.

    Only `message_id` is new for every message; the trace, principal, tenant and
    occurrence follow the whole flow of invokes, events and jobs. `occurrence_id` is set
    on a flow a schedule started: the schedule's name and the occurrence's time in UTC
    (`nightlyReport@2026-03-29T01:00:00Z`), the same for every send of that occurrence,
    so a consumer can tell a repeated firing from a new one.
    """

    message_id: str
    trace_id: str
    principal_id: str | None = None
    tenant_id: str | None = None
    occurrence_id: str | None = None

    @classmethod
    def first(cls, principal_id: str | None = None, tenant_id: str | None = None) -> Message:
        """The metadata of a new flow."""
        message_id = uuid.uuid4().hex
        return cls(message_id, message_id, principal_id, tenant_id)

    def next(self) -> Message:
        """The metadata of a message sent while handling this one."""
        return replace(self, message_id=uuid.uuid4().hex)

    def to_header(self) -> dict[str, Any]:
        """The metadata as it travels in the `purista` message header."""
        return asdict(self)

    @classmethod
    def from_header(cls, header: Any, message_id: str) -> Message:
        """Metadata from a received header; a foreign client's message starts a new flow."""
        data: Mapping[str, Any] = header if isinstance(header, Mapping) else {}

        def text(key: str) -> str | None:
            value = data.get(key)
            return str(value) if value is not None else None

        return cls(
            message_id=text("message_id") or message_id,
            trace_id=text("trace_id") or message_id,
            principal_id=text("principal_id"),
            tenant_id=text("tenant_id"),
            occurrence_id=text("occurrence_id"),
        )


class Context:
    """The context of one handler call; generated subclasses add `invoke`, `emit` and `queue`."""

    def __init__(self, *, name: str, bridge: Bridge, message: Message, states: States) -> None:
        self.message = message
        self.states = states
        self.logger = logging.LoggerAdapter(
            logging.getLogger(name),
            {"purista_message_id": message.message_id, "purista_trace_id": message.trace_id},
        )
        self._bridge = bridge


class Outbox:
    """Base of the generated `invoke` and `emit` namespaces: a bridge and the current message."""

    def __init__(self, bridge: Bridge, message: Message) -> None:
        self._bridge = bridge
        self._message = message
