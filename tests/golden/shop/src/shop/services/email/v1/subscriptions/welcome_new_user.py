"""Subscription email.v1.welcomeNewUser to event userSignedUp: Send a welcome mail after sign-up"""

from __future__ import annotations

from shop.events import UserSignedUpEvent
from shop.services.email.v1._generated.context import WelcomeNewUserContext


def handle(context: WelcomeNewUserContext, event: UserSignedUpEvent) -> None:
    """Send a welcome mail after sign-up"""
    raise NotImplementedError("email.v1.welcomeNewUser is not implemented yet")
