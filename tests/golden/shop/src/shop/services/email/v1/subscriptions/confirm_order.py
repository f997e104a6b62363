"""Subscription email.v1.confirmOrder to event orderPlaced: Send an order confirmation"""

from __future__ import annotations

from shop.events import OrderPlacedEvent
from shop.services.email.v1._generated.context import ConfirmOrderContext


def handle(context: ConfirmOrderContext, event: OrderPlacedEvent) -> None:
    """Send an order confirmation"""
    raise NotImplementedError("email.v1.confirmOrder is not implemented yet")
