"""Tests of job queue processAvatar. Created once by purista: yours to change."""

from __future__ import annotations

from typing import Any

import pytest

from shop.testing import InvalidPayload, RecordingBridge, run

QUEUE = "processAvatar"
# An example job payload derived from the schema; replace it with realistic data.
EXAMPLE_PAYLOAD: Any = {"userId": "example", "fileId": "example"}


def test_process_avatar_runs_a_job() -> None:
    if EXAMPLE_PAYLOAD is None:
        pytest.skip("no example payload could be derived from the schema; write one")
    bridge = RecordingBridge()
    try:
        run(QUEUE, EXAMPLE_PAYLOAD, bridge=bridge)
    except NotImplementedError:
        pytest.skip(f"job queue {QUEUE} is not implemented yet")
    except InvalidPayload:
        raise
    except Exception as exc:  # noqa: BLE001
        pytest.skip(
            f"the handler rejected the example job ({type(exc).__name__}: {exc}); give it real data"
        )


def test_process_avatar_rejects_an_invalid_payload() -> None:
    with pytest.raises(InvalidPayload, match="userId"):
        run(QUEUE, {}, bridge=RecordingBridge())
