"""Command user.v1.signUp: Register a new user"""

from __future__ import annotations

from shop.services.user.v1._generated.context import SignUpContext
from shop.services.user.v1._generated.models import SignUpOutput, SignUpPayload


def handle(context: SignUpContext, payload: SignUpPayload) -> SignUpOutput:
    """Register a new user"""
    raise NotImplementedError("user.v1.signUp is not implemented yet")
