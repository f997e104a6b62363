"""Tests of subscription email.v1.confirmOrder to event orderPlaced. Created once by purista: yours to change."""

from __future__ import annotations

from typing import Any

import pytest

from shop.testing import InvalidPayload, RecordingBridge, run

TASK = "email.v1.confirmOrder"
# An example event derived from the schema; replace it with realistic data.
EXAMPLE_EVENT: Any = {"orderId": "example", "userId": "example", "total": 1}


def test_confirm_order_handles_the_event() -> None:
    if EXAMPLE_EVENT is None:
        pytest.skip("no example event could be derived from the schema; write one")
    bridge = RecordingBridge()
    try:
        result = run(TASK, EXAMPLE_EVENT, bridge=bridge)
    except NotImplementedError:
        pytest.skip(f"{TASK} is not implemented yet")
    except InvalidPayload:
        raise
    except Exception as exc:  # noqa: BLE001
        pytest.skip(
            f"the handler rejected the example event ({type(exc).__name__}: {exc}); give it real data"
        )
    assert result is None


def test_confirm_order_rejects_an_invalid_event() -> None:
    with pytest.raises(InvalidPayload, match="orderId"):
        run(TASK, {}, bridge=RecordingBridge())
