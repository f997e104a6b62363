"""The generated `testing` module, as a user would use it: no Redis, every service in-process.

The events spec is generated, handlers are written in (the subscribers keep what
they receive in their state store), and tests in the style a user writes are put
into the project's own `tests/` folder. They must pass under the project's own
pytest with `REDIS_URL` pointing at a port nobody listens on.
"""

from __future__ import annotations

import os
import subprocess
import textwrap

import pytest
from support import ROOT, Project, free_port, project_venv, purista

pytestmark = pytest.mark.e2e

SPEC = ROOT / "tests" / "specs" / "events.yaml"


def _subscriber(service: str) -> str:
    return f"""
        from pubsub.events import ItemCreatedEvent
        from pubsub.services.{service}.v1._generated.context import OnItemCreatedContext


        def handle(context: OnItemCreatedContext, event: ItemCreatedEvent) -> None:
            if event.item_id.startswith("fail-{service}-"):
                raise RuntimeError(f"{service} cannot take {{event.item_id}}")
            message = context.message
            seen = context.states.get_state("seen") or []
            seen.append(
                {{
                    "itemId": event.item_id,
                    "n": event.n,
                    "messageId": message.message_id,
                    "traceId": message.trace_id,
                    "principalId": message.principal_id,
                    "tenantId": message.tenant_id,
                }}
            )
            context.states.set_state("seen", seen)
        """


HANDLERS = {
    "publisher/v1/commands/publish.py": """
        from pubsub.services.publisher.v1._generated.context import PublishContext
        from pubsub.services.publisher.v1._generated.models import PublishOutput, PublishPayload


        def handle(context: PublishContext, payload: PublishPayload) -> PublishOutput:
            for n in range(payload.count):
                context.emit.item_created({"itemId": payload.item_id, "n": n})
            return PublishOutput(published=payload.count)
        """,
    "publisher/v1/commands/create.py": """
        from pubsub.services.publisher.v1._generated.context import CreateContext
        from pubsub.services.publisher.v1._generated.models import CreateOutput, CreatePayload


        def handle(context: CreateContext, payload: CreatePayload) -> CreateOutput:
            return CreateOutput(item_id=payload.item_id, n=len(payload.item_id))
        """,
    "publisher/v1/commands/reject.py": """
        from pubsub.services.publisher.v1._generated.context import RejectContext
        from pubsub.services.publisher.v1._generated.models import RejectOutput, RejectPayload


        class ItemRejected(Exception):
            '''The item is not welcome here.'''


        def handle(context: RejectContext, payload: RejectPayload) -> RejectOutput:
            raise ItemRejected(f"item {payload.item_id} is not welcome")
        """,
    "alpha/v1/subscriptions/on_item_created.py": _subscriber("alpha"),
    "beta/v1/subscriptions/on_item_created.py": _subscriber("beta"),
    "invoker/v1/commands/relay_create.py": """
        from pubsub.services.invoker.v1._generated.context import RelayCreateContext
        from pubsub.services.invoker.v1._generated.models import (
            RelayCreateOutput,
            RelayCreatePayload,
        )


        def handle(context: RelayCreateContext, payload: RelayCreatePayload) -> RelayCreateOutput:
            created = context.invoke.publisher.v1.create({"itemId": payload.item_id})
            return RelayCreateOutput(
                item_id=created.item_id, n=created.n, output_type=type(created).__name__
            )
        """,
    "invoker/v1/commands/relay_reject.py": """
        from pubsub.services.invoker.v1._generated.context import RelayRejectContext
        from pubsub.services.invoker.v1._generated.models import (
            RelayRejectOutput,
            RelayRejectPayload,
        )


        def handle(context: RelayRejectContext, payload: RelayRejectPayload) -> RelayRejectOutput:
            return RelayRejectOutput(ok=context.invoke.publisher.v1.reject(payload).ok)
        """,
}

USER_TESTS = '''
    """A user's tests of the flows between services, in-process: no Redis, no workers."""

    from typing import Any

    import pytest

    from pubsub.services.invoker.v1._generated.models import RelayCreatePayload
    from pubsub.services.invoker.v1.commands import relay_create
    from pubsub.services.publisher.v1._generated.models import CreateOutput
    from pubsub.testing import InProcessBridge, Message, RecordingBridge, context_for, run


    def seen(bridge: InProcessBridge, service: str) -> list[dict[str, Any]]:
        return bridge.states[f"{service}.v1"].get_state("seen") or []


    def test_an_emitted_event_reaches_both_subscribers() -> None:
        bridge = InProcessBridge()
        assert bridge.run("publisher.v1.publish", {"itemId": "i1", "count": 2}) == {
            "published": 2
        }
        for service in ("alpha", "beta"):
            got = [(row["itemId"], row["n"]) for row in seen(bridge, service)]
            assert got == [("i1", 0), ("i1", 1)]
        assert bridge.emitted == [
            ("itemCreated", {"itemId": "i1", "n": 0}),
            ("itemCreated", {"itemId": "i1", "n": 1}),
        ]


    def test_an_invoke_and_its_success_event_run_every_service() -> None:
        bridge = InProcessBridge()
        output = bridge.run(
            "invoker.v1.relayCreate", {"itemId": "abc"}, principal_id="ada", tenant_id="acme"
        )
        assert output == {"itemId": "abc", "n": 3, "outputType": "CreateOutput"}
        assert bridge.invoked == [("publisher.v1.create", {"itemId": "abc"})]
        assert bridge.emitted == [("itemCreated", {"itemId": "abc", "n": 3})]
        rows = seen(bridge, "alpha") + seen(bridge, "beta")
        assert [(row["itemId"], row["n"]) for row in rows] == [("abc", 3), ("abc", 3)]
        assert {(row["principalId"], row["tenantId"]) for row in rows} == {("ada", "acme")}
        assert len({row["traceId"] for row in rows}) == 1
        assert len({row["messageId"] for row in rows}) == 2


    def test_an_invoked_commands_error_reaches_the_caller() -> None:
        with pytest.raises(Exception, match="item x is not welcome") as info:
            InProcessBridge().run("invoker.v1.relayReject", {"itemId": "x"})
        assert type(info.value).__name__ == "ItemRejected"


    def test_undeclared_invokes_and_events_are_attribute_errors() -> None:
        publish = context_for("publisher.v1.publish")
        assert callable(publish.emit.item_created)
        with pytest.raises(AttributeError):
            publish.emit.nobody_listens
        with pytest.raises(AttributeError):
            publish.invoke

        relay = context_for("invoker.v1.relayCreate")
        assert callable(relay.invoke.publisher.v1.create)
        with pytest.raises(AttributeError):
            relay.invoke.publisher.v1.reject
        with pytest.raises(AttributeError):
            relay.invoke.alpha
        with pytest.raises(AttributeError):
            relay.invoke.publisher.v2
        with pytest.raises(AttributeError):
            relay.emit

        subscriber = context_for("alpha.v1.onItemCreated")
        for name in ("emit", "invoke"):
            with pytest.raises(AttributeError):
                getattr(subscriber, name)


    def test_stubbed_invokes_are_answered_and_recorded() -> None:
        bridge = RecordingBridge()
        bridge.stub("publisher.v1.create", {"itemId": "stubbed", "n": 42})
        context = context_for(
            "invoker.v1.relayCreate", bridge=bridge, message=Message.first("ada", "acme")
        )
        output = relay_create.handle(context, RelayCreatePayload(itemId="abc"))
        assert (output.item_id, output.n, output.output_type) == ("stubbed", 42, "CreateOutput")
        assert bridge.invoked == [("publisher.v1.create", {"itemId": "abc"})]
        [sent] = bridge.messages
        assert (sent.principal_id, sent.tenant_id) == ("ada", "acme")
        assert sent.trace_id == context.message.trace_id
        assert sent.message_id != context.message.message_id

        bridge.stub("publisher.v1.create", lambda payload: CreateOutput(itemId="f", n=7))
        assert run("invoker.v1.relayCreate", {"itemId": "q"}, bridge=bridge)["n"] == 7
        bridge.stub("publisher.v1.reject", PermissionError("not today"))
        with pytest.raises(PermissionError, match="not today"):
            run("invoker.v1.relayReject", {"itemId": "q"}, bridge=bridge)
        with pytest.raises(LookupError, match="publisher.v1.reject"):
            run("invoker.v1.relayReject", {"itemId": "q"}, bridge=RecordingBridge())


    def test_a_recording_bridge_records_events_without_delivering_them() -> None:
        bridge = RecordingBridge()
        created = run("publisher.v1.create", {"itemId": "xy"}, bridge=bridge)
        assert created == {"itemId": "xy", "n": 2}
        assert run("publisher.v1.publish", {"itemId": "p", "count": 1}, bridge=bridge) == {
            "published": 1
        }
        assert bridge.emitted == [
            ("itemCreated", {"itemId": "xy", "n": 2}),
            ("itemCreated", {"itemId": "p", "n": 0}),
        ]
        assert bridge.invoked == []
'''

# Real workers isolate subscribers: a failing one does not fail the publisher, and
# the other subscribers still get the event (test_events.py checks that). The
# in-process bridge should behave the same.
SUBSCRIBER_FAILURE_TEST = '''
    """A failing subscriber, in-process as on real workers."""

    from pubsub.testing import InProcessBridge


    def test_a_failing_subscriber_affects_neither_publisher_nor_other_subscribers() -> None:
        bridge = InProcessBridge()
        assert bridge.run("publisher.v1.publish", {"itemId": "fail-alpha-1", "count": 1}) == {
            "published": 1
        }
        assert [row["itemId"] for row in bridge.states["beta.v1"].get_state("seen") or []] == [
            "fail-alpha-1"
        ]
'''

USER_TEST_NAMES = [
    "test_an_emitted_event_reaches_both_subscribers",
    "test_an_invoke_and_its_success_event_run_every_service",
    "test_an_invoked_commands_error_reaches_the_caller",
    "test_undeclared_invokes_and_events_are_attribute_errors",
    "test_stubbed_invokes_are_answered_and_recorded",
    "test_a_recording_bridge_records_events_without_delivering_them",
]


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Project:
    """The events spec generated and installed, with handlers and the user's tests written in."""
    base = tmp_path_factory.mktemp("in-process")
    result = purista("new", "pubsub", "--spec", str(SPEC), "--output", str(base))
    assert result.returncode == 0, result.stderr
    root = base / "pubsub"
    project = Project(root, project_venv(root), "pubsub")
    for relative, code in HANDLERS.items():
        project.handler(relative, textwrap.dedent(code).lstrip())
    (root / "tests" / "test_flows.py").write_text(textwrap.dedent(USER_TESTS).lstrip())
    (root / "tests" / "test_subscriber_failure.py").write_text(
        textwrap.dedent(SUBSCRIBER_FAILURE_TEST).lstrip()
    )
    return project


def project_pytest(project: Project, *args: str) -> subprocess.CompletedProcess[str]:
    """The project's own pytest, with Redis pointing at a closed port."""
    env = {
        **os.environ,
        "PYTHONPATH": str(project.root / "src"),
        "REDIS_URL": f"redis://127.0.0.1:{free_port()}/0",
    }
    return subprocess.run(
        [project.python, "-m", "pytest", "-p", "no:cacheprovider", "-rA", *args],
        cwd=project.root,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_users_in_process_tests_pass_without_redis(project: Project) -> None:
    result = project_pytest(project, "--ignore", "tests/test_subscriber_failure.py")
    assert result.returncode == 0, result.stdout + result.stderr
    for name in USER_TEST_NAMES:
        assert f"PASSED tests/test_flows.py::{name}" in result.stdout, result.stdout


def test_a_failing_subscriber_in_process_behaves_as_on_real_workers(project: Project) -> None:
    """BUG: `InProcessBridge.emit` lets a subscriber's exception out.

    It fails the publishing command and keeps the event from the subscriptions
    after the failing one; on real workers neither happens.
    """
    result = project_pytest(project, "tests/test_subscriber_failure.py")
    assert result.returncode == 0, result.stdout + result.stderr
