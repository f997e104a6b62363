"""Tests of command order.v1.placeOrder. Created once by purista: yours to change."""

from __future__ import annotations

from typing import Any

import pytest

from shop.testing import InvalidPayload, RecordingBridge, run

TASK = "order.v1.placeOrder"
# An example payload derived from the schema; replace it with realistic data.
EXAMPLE_PAYLOAD: Any = {
    "userId": "example",
    "items": [{"sku": "EXAMPLE-1", "quantity": 1, "price": 1}],
}


def test_place_order_answers_with_a_valid_output() -> None:
    if EXAMPLE_PAYLOAD is None:
        pytest.skip("no example payload could be derived from the schema; write one")
    bridge = RecordingBridge()
    bridge.stub("user.v1.getUser", {"userId": "example", "email": "example"})
    try:
        output = run(TASK, EXAMPLE_PAYLOAD, bridge=bridge)
    except NotImplementedError:
        pytest.skip(f"{TASK} is not implemented yet")
    except InvalidPayload:
        raise
    except Exception as exc:  # noqa: BLE001
        pytest.skip(
            f"the handler rejected the example payload ({type(exc).__name__}: {exc}); give it real data"
        )
    # `run` validated the output against the output schema.
    assert isinstance(output, dict)


def test_place_order_rejects_an_invalid_payload() -> None:
    with pytest.raises(InvalidPayload, match="userId"):
        run(TASK, {}, bridge=RecordingBridge())
