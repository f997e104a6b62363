"""`purista export`: an AsyncAPI 3.0 document and a Mermaid graph, made from the spec alone.

The AsyncAPI documents are checked against the official AsyncAPI 3.0.0 JSON Schema
(vendored in tests/asyncapi/, see its README), and beyond it for what parsers check:
every `$ref` resolves, and an operation's messages are messages of its channel.
"""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from inprocess import cli
from jsonschema import Draft7Validator, Draft202012Validator
from purista import pipeline
from purista.export import graph
from purista.load import load_spec
from purista.plan import Plan
from purista.render import render
from purista.spec import pointer
from support import EXAMPLES, ROOT

SPECS = {
    "shop": EXAMPLES / "shop.yaml",
    "minimal": EXAMPLES / "minimal.yaml",
    "events": ROOT / "tests" / "specs" / "events.yaml",
    "jobs": ROOT / "tests" / "specs" / "jobs.yaml",
    "refs": ROOT / "tests" / "specs" / "refs" / "purista.yaml",
}


@cache
def asyncapi_schema() -> Draft7Validator:
    path = ROOT / "tests" / "asyncapi" / "asyncapi-3.0.0.json"
    return Draft7Validator(json.loads(path.read_text(encoding="utf-8")))


def export(kind: str, spec: Path, *more: str) -> str:
    ran = cli("export", kind, "--spec", str(spec), *more)
    assert ran.returncode == 0, ran.stderr
    return ran.stdout


def plan_of(spec: Path) -> Plan:
    return pipeline.plan_only(load_spec(spec))


def refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        own = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return own + [r for value in node.values() for r in refs(value)]
    if isinstance(node, list):
        return [r for item in node for r in refs(item)]
    return []


def resolve(doc: dict[str, Any], ref: str) -> Any:
    assert ref.startswith("#/"), ref
    found = pointer.walk(doc, pointer.parts(ref[1:]))
    assert found is not None, f"{ref} resolves to nothing"
    return found[0]


# ------------------------------------------------------------------ AsyncAPI


@pytest.mark.parametrize("name", SPECS)
def test_asyncapi_document_is_valid_asyncapi_3(name: str) -> None:
    doc = json.loads(export("asyncapi", SPECS[name]))
    assert doc["asyncapi"] == "3.0.0"
    problems = [
        f"{'/'.join(map(str, e.absolute_path))}: {e.message[:300]}"
        for e in asyncapi_schema().iter_errors(doc)
    ]
    assert not problems, "\n".join(problems)
    for ref in refs(doc):
        resolve(doc, ref)
    for name_, operation in doc["operations"].items():
        channel = operation["channel"]["$ref"]
        for message in operation["messages"]:
            assert message["$ref"].startswith(f"{channel}/messages/"), name_
        if "reply" in operation:
            reply = operation["reply"]["channel"]["$ref"]
            for message in operation["reply"]["messages"]:
                assert message["$ref"].startswith(f"{reply}/messages/"), name_


def test_asyncapi_channels_are_the_queues_on_the_wire() -> None:
    doc = json.loads(export("asyncapi", SPECS["shop"]))
    plan = plan_of(SPECS["shop"])
    addresses = {c["address"] for c in doc["channels"].values() if c["address"] is not None}
    queues = {s.queue for s in plan.services if s.commands}
    queues |= {h.queue for s in plan.services for h in s.subscriptions + s.queues}
    assert addresses == queues
    channels = doc["channels"]
    assert channels["commands.user.v1"]["address"] == "shop.user.v1"
    assert set(channels["commands.user.v1"]["messages"]) == {"signUp", "getUser"}
    assert channels["replies.user.v1"]["address"] is None  # per call: the result backend
    assert channels["subscriptions.email.v1.welcomeNewUser"]["address"] == (
        "shop.email.v1.welcomeNewUser"
    )
    assert channels["jobs.processAvatar"]["address"] == "shop:jobs:processAvatar"
    assert doc["servers"]["redis"] | {"description": ""} == {
        "host": "localhost:6379",
        "protocol": "redis",
        "pathname": "/0",
        "description": "",
    }


def test_asyncapi_operations_say_who_receives_and_who_sends() -> None:
    doc = json.loads(export("asyncapi", SPECS["shop"]))
    ops = doc["operations"]
    receive = {k for k, v in ops.items() if v["action"] == "receive"}
    send = {k for k, v in ops.items() if v["action"] == "send"}
    assert receive == {
        "command.user.v1.signUp",
        "command.user.v1.getUser",
        "command.order.v1.placeOrder",
        "subscription.email.v1.welcomeNewUser",
        "subscription.email.v1.confirmOrder",
        "job.processAvatar",
    }
    # Only what someone in the project sends: nobody invokes signUp or placeOrder.
    assert send == {
        "invoke.user.v1.getUser",
        "emit.email.v1.welcomeNewUser",
        "emit.email.v1.confirmOrder",
        "enqueue.processAvatar",
    }
    assert "`order.v1.placeOrder`" in ops["invoke.user.v1.getUser"]["summary"]
    assert "`user.v1.signUp` (its success_event)" in ops["emit.email.v1.welcomeNewUser"]["summary"]
    sign_up = ops["command.user.v1.signUp"]
    assert sign_up["description"] == "Register a new user"
    request = resolve(doc, resolve(doc, sign_up["messages"][0]["$ref"])["$ref"])
    reply = resolve(doc, resolve(doc, sign_up["reply"]["messages"][0]["$ref"])["$ref"])
    spec = load_spec(SPECS["shop"]).data["services"]["user"]["commands"]["signUp"]
    assert resolve(doc, request["payload"]["$ref"]) == spec["payload"]
    assert resolve(doc, reply["payload"]["$ref"]) == spec["output"]


def test_asyncapi_schemas_are_resolved_and_credentials_left_out() -> None:
    text = export("asyncapi", SPECS["refs"])
    doc = json.loads(text)
    assert "s3cret" not in text
    assert "catalog:" not in doc["servers"]["redis"]["host"]
    assert doc["servers"]["redis"]["host"] == "redis.internal:6380"
    assert all(ref.startswith("#/") for ref in refs(doc))  # no file left to read
    schemas = doc["components"]["schemas"]
    item = schemas["command.catalog.v2.putItem.payload"]
    assert item["properties"]["id"] == {"type": "string", "pattern": "^[A-Z0-9]{8}$"}
    assert item["properties"]["price"]["properties"]["currency"]["enum"] == ["EUR", "USD"]
    assert schemas["job.reindex"]["properties"]["itemId"]["pattern"] == "^[A-Z0-9]{8}$"
    # A recursive schema keeps its `$ref`s, pointed at where the component holds its `$defs`.
    tree = schemas["command.catalog.v2.getTree.output"]
    node = "#/components/schemas/command.catalog.v2.getTree.output/$defs/Node"
    assert tree["properties"]["root"] == {"$ref": node}
    check = Draft202012Validator(
        {"$ref": "#/components/schemas/command.catalog.v2.getTree.output", **doc}
    )
    assert check.is_valid({"root": {"name": "a", "children": [{"name": "b", "children": []}]}})
    assert not check.is_valid({"root": {"name": "a", "children": [{"children": []}]}})


def test_export_writes_the_output_file(tmp_path: Path) -> None:
    target = tmp_path / "asyncapi.json"
    ran = cli("export", "asyncapi", "--spec", str(SPECS["shop"]), "--output", str(target))
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout == ""
    assert target.read_text(encoding="utf-8") == export("asyncapi", SPECS["shop"])
    assert [p.name for p in tmp_path.iterdir()] == ["asyncapi.json"]  # no temporary left


def test_export_of_an_invalid_spec_is_a_located_error_and_writes_nothing(tmp_path: Path) -> None:
    spec = tmp_path / "purista.yaml"
    text = SPECS["shop"].read_text(encoding="utf-8").replace("timeout: 10", "timeout: -1")
    spec.write_text(text, encoding="utf-8")
    target = tmp_path / "graph.mmd"
    for kind in ("asyncapi", "graph"):
        ran = cli("export", kind, "--spec", str(spec), "--output", str(target))
        assert ran.returncode == 2
        where = r"purista\.yaml:\d+:\d+: services\.user\.commands\.signUp\.timeout"
        assert re.search(where, ran.stderr)
        assert "Traceback" not in ran.stderr
        assert not target.exists()


def test_export_refuses_an_unknown_format() -> None:
    for args in (("graph", "--format", "dot"), ("asyncapi", "--format", "mermaid")):
        ran = cli("export", *args, "--spec", str(SPECS["shop"]))
        assert ran.returncode == 2
        assert "--format" in ran.stderr
    assert cli("export", "openapi-ish", "--spec", str(SPECS["shop"])).returncode == 2


# ------------------------------------------------------------------ Mermaid graph

NODE = re.compile(
    r'^(?P<id>[A-Za-z][A-Za-z0-9_]*)(?P<shape>\["[^"]*"\]|\(\["[^"]*"\]\)|\[\("[^"]*"\)\]|\{\{"[^"]*"\}\})$'
)
EDGE = re.compile(
    r'^(?P<a>[A-Za-z][A-Za-z0-9_]*) (?P<arrow>-->|-\.->|==>)(?:\|"(?P<label>[^"]*)"\|)? '
    r"(?P<b>[A-Za-z][A-Za-z0-9_]*)$"
)
SUBGRAPH = re.compile(r'^subgraph (?P<id>[A-Za-z][A-Za-z0-9_]*) \["(?P<title>[^"]*)"\]$')


def parse_flowchart(text: str) -> tuple[dict[str, str], set[tuple[str, str, str]], dict[str, str]]:
    """Nodes (id -> the subgraph holding it), edges (from, label, to), classes; asserts the shape.

    A structural check of what `mermaid` parses: one statement a line, every id
    safe and declared once, subgraphs balanced and not nested, every edge between
    declared nodes, labels quoted with no quote inside, classes of declared nodes.
    """
    lines = text.splitlines()
    assert text.endswith("\n")
    assert lines[0] == "flowchart LR"
    nodes: dict[str, str] = {}
    groups: set[str] = set()
    edges: set[tuple[str, str, str]] = set()
    classes: dict[str, str] = {}
    styles: set[str] = set()
    group: str | None = None
    for line in (raw.strip() for raw in lines[1:]):
        if m := SUBGRAPH.match(line):
            assert group is None, "nested subgraph"
            assert m["id"] not in groups and m["id"] not in nodes
            group = m["id"]
            groups.add(group)
        elif line == "end":
            assert group is not None, "`end` without a subgraph"
            group = None
        elif m := NODE.match(line):
            assert m["id"] not in nodes and m["id"] not in groups, f"{m['id']} declared twice"
            nodes[m["id"]] = group or ""
        elif m := EDGE.match(line):
            assert group is None, "an edge inside a subgraph moves its nodes there"
            assert m["a"] in nodes and m["b"] in nodes, line
            edges.add((m["a"], m["label"] or "", m["b"]))
        elif line.startswith("classDef "):
            styles.add(line.split()[1])
        elif line.startswith("class "):
            _, members, kind = line.split(" ")
            assert kind in styles, line
            for member in members.split(","):
                assert member in nodes and member not in classes, member
                classes[member] = kind
        else:
            raise AssertionError(f"not a flowchart statement: {line!r}")
    assert group is None, "subgraph not closed"
    assert set(classes) == set(nodes)
    return nodes, edges, classes


def test_graph_of_the_shop_shows_who_invokes_emits_enqueues_and_subscribes() -> None:
    nodes, edges, classes = parse_flowchart(export("graph", SPECS["shop"]))
    assert nodes["cmd_user_v1_signUp"] == nodes["job_processAvatar"] == "svc_user_v1"
    assert nodes["sub_email_v1_confirmOrder"] == "svc_email_v1"
    assert nodes["evt_orderPlaced"] == ""  # events stand between the services
    assert classes["job_processAvatar"] == "queue"
    assert edges == {
        ("cmd_order_v1_placeOrder", "invokes", "cmd_user_v1_getUser"),
        ("cmd_order_v1_placeOrder", "emits", "evt_orderPlaced"),
        ("cmd_user_v1_signUp", "on success", "evt_userSignedUp"),
        ("cmd_user_v1_signUp", "enqueues", "job_processAvatar"),
        ("evt_userSignedUp", "", "sub_email_v1_welcomeNewUser"),
        ("evt_orderPlaced", "", "sub_email_v1_confirmOrder"),
    }


@pytest.mark.parametrize("name", SPECS)
def test_graph_parses(name: str) -> None:
    nodes, _, classes = parse_flowchart(export("graph", SPECS[name]))
    plan = plan_of(SPECS[name])
    assert len(nodes) == len(plan.events) + sum(len(s.handlers) for s in plan.services)
    assert {c for c in classes.values()} <= {"command", "subscription", "queue", "event"}


def test_graph_ids_stay_safe_whatever_the_names(tmp_path: Path) -> None:
    spec = tmp_path / "purista.yaml"
    spec.write_text(
        """\
spec_version: 1
project: {name: end}
events:
  end: {}
  o-x: {}
services:
  end:
    commands:
      end: {can_emit: [end, o-x], can_enqueue: [x-ray]}
      subgraph: {can_invoke: [graph.v3.end]}
    queues:
      x-ray: {}
  graph:
    version: 3
    commands:
      end: {}
    subscriptions:
      o-x: {event: o-x}
""",
        encoding="utf-8",
    )
    text = export("graph", spec)
    nodes, edges, _ = parse_flowchart(text)
    assert set(nodes) == {
        "evt_end", "evt_o_x", "cmd_end_v1_end", "cmd_end_v1_subgraph", "job_x_ray",
        "cmd_graph_v3_end", "sub_graph_v3_o_x",
    }  # fmt: skip
    assert ("cmd_end_v1_subgraph", "invokes", "cmd_graph_v3_end") in edges
    assert ("evt_o_x", "", "sub_graph_v3_o_x") in edges


def test_generated_readme_embeds_the_graph_of_its_spec() -> None:
    for name in ("shop", "refs"):
        plan = plan_of(SPECS[name])
        readme = render(plan)["README.md"]
        assert f"```mermaid\n{graph.document(plan)}```\n" in readme


def test_the_graph_in_the_contracts_guide_is_the_shops() -> None:
    """The guide's chart is the shop's, without its styles: it cannot drift from the output."""
    guide = (ROOT / "docs" / "guide" / "contracts.md").read_text(encoding="utf-8")
    shown = guide.split("```mermaid\n", 1)[1].split("```", 1)[0]
    styles = ("  classDef ", "  class ")
    expected = [x for x in export("graph", SPECS["shop"]).splitlines() if not x.startswith(styles)]
    assert shown.splitlines() == expected
