"""Command order.v1.placeOrder: Place an order for a user"""

from __future__ import annotations

from shop.services.order.v1._generated.context import PlaceOrderContext
from shop.services.order.v1._generated.models import PlaceOrderOutput, PlaceOrderPayload


def handle(context: PlaceOrderContext, payload: PlaceOrderPayload) -> PlaceOrderOutput:
    """Place an order for a user"""
    raise NotImplementedError("order.v1.placeOrder is not implemented yet")
