# purista runtime, copied unchanged into each project. Do not edit: `purista generate` rewrites it.
"""Errors the runtime raises; their type names travel on the wire."""

from __future__ import annotations


class PuristaError(Exception):
    """Base of the runtime's errors."""


class InvalidPayload(PuristaError):  # noqa: N818  (the name is part of the wire format)
    """A payload, output or event that does not match its schema. Never retried."""


class PayloadTooLarge(InvalidPayload):
    """A payload over the size limit (`PURISTA_MAX_PAYLOAD`): refused before it is sent."""


class InvokeTimeout(PuristaError, TimeoutError):  # noqa: N818  (reads as what happened)
    """An invoked command did not answer within its timeout."""


class PublishError(PuristaError, ConnectionError):
    """A message could not be handed to Redis before its deadline."""


class SettingsError(PuristaError, ValueError):
    """An environment variable the runtime reads has a value it cannot use."""


class RemoteError(PuristaError):
    """An error raised by an invoked command whose type is not known here."""
