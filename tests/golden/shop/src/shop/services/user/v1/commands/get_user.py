"""Command user.v1.getUser: Read a user, cached in the state store"""

from __future__ import annotations

from shop.services.user.v1._generated.context import GetUserContext
from shop.services.user.v1._generated.models import GetUserOutput, GetUserPayload


def handle(context: GetUserContext, payload: GetUserPayload) -> GetUserOutput:
    """Read a user, cached in the state store"""
    raise NotImplementedError("user.v1.getUser is not implemented yet")
