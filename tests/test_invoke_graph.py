"""The invoke graph check: circles found in linear time, whatever the graph's shape."""

from __future__ import annotations

from pathlib import Path

import pytest
from purista.validate import _cycles
from support import purista


def layered(services: int, fan_out: int) -> dict[str, set[str]]:
    """Each service invokes the next `fan_out` services: many paths, no circle."""
    names = [f"s{i:03d}" for i in range(services)]
    return {n: set(names[i + 1 : i + 1 + fan_out]) for i, n in enumerate(names)}


def test_a_dense_graph_without_circles_has_none() -> None:
    # Listing every path of this graph would take longer than the universe has existed.
    assert _cycles(layered(200, 8)) == []


def test_each_group_of_services_that_reach_each_other_is_one_circle() -> None:
    graph = layered(50, 5)
    graph["s049"].add("s000")
    graph.update({"x": {"y"}, "y": {"z"}, "z": {"x"}})
    circles = _cycles(graph)
    assert circles[1] == ["x", "y", "z"]
    first = circles[0]
    assert first[0] == "s000" and first[-1] == "s049"
    assert all(b in graph[a] for a, b in zip(first, [*first[1:], first[0]], strict=True))


def spec(services: int, fan_out: int) -> str:
    lines = ["spec_version: 1", "project: {name: wide}", "services:"]
    for i in range(services):
        targets = [f"s{j:03d}.v1.run" for j in range(i + 1, min(i + 1 + fan_out, services))]
        lines += [
            f"  s{i:03d}:",
            "    commands:",
            f"      run: {{can_invoke: [{', '.join(targets)}]}}",
        ]
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("circle", [False, True])
def test_validate_finishes_on_a_wide_invoke_graph(tmp_path: Path, circle: bool) -> None:
    text = spec(40, 6)
    if circle:
        text = text.replace(
            "  s039:\n    commands:\n      run: {can_invoke: []}",
            "  s039:\n    commands:\n      run: {can_invoke: [s000.v1.run]}",
        )
    path = tmp_path / "purista.yaml"
    path.write_text(text)
    result = purista("validate", "--spec", str(path))
    if circle:
        assert result.returncode == 2
        assert "services invoke each other in a circle (s000 -> " in result.stderr
    else:
        assert result.returncode == 0, result.stderr


def test_a_job_queue_may_invoke_its_own_service(tmp_path: Path) -> None:
    """A queue runs in a worker of its own that nothing waits on: no deadlock, no circle."""
    path = tmp_path / "purista.yaml"
    path.write_text(
        "spec_version: 1\n"
        "project: {name: shop}\n"
        "services:\n"
        "  user:\n"
        "    commands:\n"
        "      getUser: {can_invoke: [mail.v1.send]}\n"
        "    queues:\n"
        "      rebuild: {can_invoke: [user.v1.getUser, mail.v1.send]}\n"
        "  mail:\n"
        "    commands:\n"
        "      send: {}\n"
        "    queues:\n"
        "      retry: {can_invoke: [user.v1.getUser]}\n"  # user -> mail, and mail's jobs -> user
    )
    result = purista("validate", "--spec", str(path))
    assert (result.returncode, result.stderr) == (0, ""), result.stderr


@pytest.mark.parametrize("group", ["commands", "subscriptions"])
def test_a_command_or_subscription_may_not_invoke_its_own_service(
    tmp_path: Path, group: str
) -> None:
    handler = (
        "    commands:\n      getUser: {}\n      signUp: {can_invoke: [user.v1.getUser]}\n"
        if group == "commands"
        else "    commands:\n      getUser: {}\n"
        "    subscriptions:\n      audit: {event: done, can_invoke: [user.v1.getUser]}\n"
    )
    path = tmp_path / "purista.yaml"
    path.write_text(
        "spec_version: 1\nproject: {name: shop}\nevents: {done: {}}\nservices:\n  user:\n" + handler
    )
    result = purista("validate", "--spec", str(path))
    assert result.returncode == 2
    assert f"services.user.{group}." in result.stderr
    assert "`user.v1.getUser` is a command of the same service" in result.stderr
