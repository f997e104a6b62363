"""`purista diff OLD NEW`: every rule, one case each, with the changes and exit code expected.

Each case changes the shop example (both sides may be prepared first) and names
every change `--json` must list: path, kind, whom it breaks and the message. The
exit code is 1 exactly when a breaking change is not covered by a new version.
"""

from __future__ import annotations

import copy
import json
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from inprocess import cli
from support import EXAMPLES

Spec = dict[str, Any]
Row = tuple[str, str, tuple[str, ...], str]  # path, kind, breaks, message


def shop() -> Spec:
    return yaml.safe_load((EXAMPLES / "shop.yaml").read_text(encoding="utf-8"))


def user(s: Spec) -> Spec:
    return s["services"]["user"]


def cmd(s: Spec, service: str, name: str) -> Spec:
    return s["services"][service]["commands"][name]


def get_user_payload(s: Spec) -> Spec:
    return cmd(s, "user", "getUser")["payload"]


def item_schema(s: Spec) -> Spec:
    return cmd(s, "order", "placeOrder")["payload"]["properties"]["items"]["items"]


@dataclass(frozen=True)
class Case:
    change: Callable[[Spec], None]
    expected: list[Row]
    exit_code: int
    before: Callable[[Spec], None] = field(default=lambda s: None)


def _remove_get_user(s: Spec) -> None:
    del cmd(s, "order", "placeOrder")["can_invoke"]
    del user(s)["commands"]["getUser"]


def _remove_order_placed(s: Spec) -> None:
    del s["events"]["orderPlaced"]
    del s["services"]["email"]["subscriptions"]["confirmOrder"]
    del cmd(s, "order", "placeOrder")["can_emit"]


def _remove_process_avatar(s: Spec) -> None:
    del user(s)["queues"]
    del cmd(s, "user", "signUp")["can_enqueue"]


def _rename_get_user(s: Spec) -> None:
    user(s)["commands"]["fetchUser"] = user(s)["commands"].pop("getUser")
    cmd(s, "order", "placeOrder")["can_invoke"] = ["user.v1.fetchUser"]


def _email_only(s: Spec) -> None:
    """The shop with one service and one subscription: fewer wire names to list."""
    s["services"] = {"email": s["services"]["email"]}
    s["services"]["email"]["subscriptions"].pop("confirmOrder")


def _rename_project(s: Spec) -> None:
    s["project"]["name"] = "store"


def _new_version_with_required_field(s: Spec) -> None:
    user(s)["version"] = 2
    get_user_payload(s)["properties"]["tenant"] = {"type": "string"}
    get_user_payload(s)["required"].append("tenant")
    cmd(s, "order", "placeOrder")["can_invoke"] = ["user.v2.getUser"]


def _required_field(s: Spec) -> None:
    get_user_payload(s)["properties"]["tenant"] = {"type": "string"}
    get_user_payload(s)["required"].append("tenant")


def _closed(s: Spec) -> None:
    get_user_payload(s)["properties"]["verbose"] = {"type": "boolean"}
    get_user_payload(s)["additionalProperties"] = False


def _drop_verbose(s: Spec) -> None:
    _closed(s)
    del get_user_payload(s)["properties"]["verbose"]


def _drop_verbose_open(s: Spec) -> None:
    del get_user_payload(s)["properties"]["verbose"]


def _with_currency(s: Spec) -> None:
    item_schema(s)["properties"]["currency"] = {"type": "string", "enum": ["EUR", "USD"]}


def _currency(*values: str) -> Callable[[Spec], None]:
    def change(s: Spec) -> None:
        _with_currency(s)
        item_schema(s)["properties"]["currency"]["enum"] = list(values)

    return change


def _set(getter: Callable[[Spec], Spec], key: str, value: Any) -> Callable[[Spec], None]:
    def change(s: Spec) -> None:
        if value is None:
            del getter(s)[key]
        else:
            getter(s)[key] = value

    return change


def _sku(s: Spec) -> Spec:
    return item_schema(s)["properties"]["sku"]


def _quantity(s: Spec) -> Spec:
    return item_schema(s)["properties"]["quantity"]


def _price(s: Spec) -> Spec:
    return item_schema(s)["properties"]["price"]


def _items(s: Spec) -> Spec:
    return cmd(s, "order", "placeOrder")["payload"]["properties"]["items"]


def _get_user_output(s: Spec) -> Spec:
    return cmd(s, "user", "getUser")["output"]


def _drop_display_name(s: Spec) -> None:
    del _get_user_output(s)["properties"]["displayName"]


def _email_as_number(s: Spec) -> None:
    _get_user_output(s)["properties"]["email"] = {"type": "integer"}


def _new_success_event(s: Spec) -> None:
    s["events"]["userRegistered"] = copy.deepcopy(s["events"]["userSignedUp"])
    cmd(s, "user", "signUp")["success_event"] = "userRegistered"


def _no_success_event(s: Spec) -> None:
    del cmd(s, "user", "signUp")["success_event"]


def _fewer_attempts(s: Spec) -> None:
    user(s)["queues"]["processAvatar"]["max_attempts"] = 3


def _optional_field(s: Spec) -> None:
    cmd(s, "user", "signUp")["payload"]["properties"]["referrer"] = {"type": "string"}


def _new_command(s: Spec) -> None:
    user(s)["commands"]["deleteUser"] = {
        "description": "Delete a user",
        "payload": {"type": "object", "properties": {"userId": {"type": "string"}}},
    }


def _descriptions(s: Spec) -> None:
    user(s)["description"] = "Keeps user accounts"
    cmd(s, "user", "getUser")["payload"]["properties"]["userId"]["description"] = "The id"


def _event_required_field(s: Spec) -> None:
    payload = s["events"]["orderPlaced"]["payload"]
    payload["properties"]["currency"] = {"type": "string"}
    payload["required"].append("currency")


def _event_field_removed(s: Spec) -> None:
    payload = s["events"]["orderPlaced"]["payload"]
    del payload["properties"]["total"]
    payload["required"].remove("total")


def _resubscribe(s: Spec) -> None:
    s["services"]["email"]["subscriptions"]["welcomeNewUser"]["event"] = "orderPlaced"


def _job_required_field(s: Spec) -> None:
    payload = user(s)["queues"]["processAvatar"]["payload"]
    payload["properties"]["size"] = {"type": "integer"}
    payload["required"].append("size")


def _output_required_field(s: Spec) -> None:
    _get_user_output(s)["required"].append("displayName")


def _id_under_defs(s: Spec) -> None:
    get_user_payload(s)["$defs"] = {"Id": {"type": "string"}}
    get_user_payload(s)["properties"]["userId"] = {"$ref": "#/$defs/Id"}


def _longest_id(s: Spec) -> None:
    get_user_payload(s)["$defs"]["Id"]["maxLength"] = 64


def _closed_output(s: Spec) -> None:
    _get_user_output(s)["additionalProperties"] = False


def _new_invoke(s: Spec) -> None:
    s["services"]["email"]["subscriptions"]["welcomeNewUser"]["can_invoke"] = ["user.v1.getUser"]


ORDER = "services.order.commands.placeOrder"
GET_USER = "services.user.commands.getUser"
SKU = f"{ORDER}.payload.properties.items.items.properties.sku"
CURRENCY = f"{ORDER}.payload.properties.items.items.properties.currency"
QUANTITY = f"{ORDER}.payload.properties.items.items.properties.quantity"
CALLERS = ("order.v1",)
NOBODY: tuple[str, ...] = ()  # placeOrder has no caller in the project

CASES: dict[str, Case] = {
    # ------------------------------------------------------------ breaking
    "removed command": Case(
        _remove_get_user,
        [
            (f"{ORDER}.can_invoke", "compatible", (), "no longer may invoke `user.v1.getUser`"),
            (GET_USER, "breaking", CALLERS,
             "command `user.v1.getUser` removed: its callers' invokes fail"),
        ],
        1,
    ),
    "removed event": Case(
        _remove_order_placed,
        [
            ("events.orderPlaced", "breaking", ("email.v1.confirmOrder",),
             "event `orderPlaced` removed"),
            ("services.email.subscriptions.confirmOrder", "breaking", ("email.v1.confirmOrder",),
             "subscription `email.v1.confirmOrder` removed: events waiting in its queue are no "
             "longer handled"),
            (f"{ORDER}.can_emit", "compatible", (), "no longer may emit `orderPlaced`"),
        ],
        1,
    ),
    "removed subscription": Case(
        lambda s: s["services"]["email"]["subscriptions"].pop("welcomeNewUser"),
        [
            ("services.email.subscriptions.welcomeNewUser", "breaking",
             ("email.v1.welcomeNewUser",),
             "subscription `email.v1.welcomeNewUser` removed: events waiting in its queue are "
             "no longer handled"),
        ],
        1,
    ),
    "removed queue": Case(
        _remove_process_avatar,
        [
            ("services.user.commands.signUp.can_enqueue", "compatible", (),
             "no longer may enqueue `processAvatar`"),
            ("services.user.queues.processAvatar", "breaking", ("user.v1.signUp",),
             "queue `user.v1.processAvatar` removed: its producers' jobs are no longer run"),
        ],
        1,
    ),
    "renamed command": Case(
        _rename_get_user,
        [
            (f"{ORDER}.can_invoke", "compatible", (), "may now invoke `user.v1.fetchUser`"),
            (f"{ORDER}.can_invoke", "compatible", (), "no longer may invoke `user.v1.getUser`"),
            ("services.user.commands.fetchUser", "breaking", CALLERS,
             "command `getUser` renamed to `fetchUser`: task `user.v1.getUser` is now "
             "`user.v1.fetchUser`"),
        ],
        1,
    ),
    "renamed wire name": Case(
        _rename_project,
        [
            ("services.email.subscriptions.welcomeNewUser", "breaking",
             ("email.v1.welcomeNewUser",),
             "wire name changed: queue `shop.email.v1.welcomeNewUser` is now "
             "`store.email.v1.welcomeNewUser`"),
        ],
        1,
        before=_email_only,
    ),
    "new required payload field": Case(
        _required_field,
        [(f"{GET_USER}.payload.properties.tenant", "breaking", CALLERS,
          "new required field `tenant`")],
        1,
    ),
    "payload field removed under additionalProperties false": Case(
        _drop_verbose,
        [(f"{GET_USER}.payload.properties.verbose", "breaking", CALLERS,
          "field `verbose` removed while `additionalProperties` is false")],
        1,
        before=_closed,
    ),
    "narrowed type": Case(
        _set(_price, "type", "integer"),
        [(f"{ORDER}.payload.properties.items.items.properties.price.type", "breaking", NOBODY,
          "type narrowed from `number` to `integer`")],
        1,
    ),
    "narrowed enum": Case(
        _currency("EUR"),
        [(f"{CURRENCY}.enum", "breaking", NOBODY, "value `\"USD\"` no longer allowed")],
        1,
        before=_with_currency,
    ),
    "narrowed pattern": Case(
        _set(_sku, "pattern", "^[A-Z]{3,20}$"),
        [(f"{SKU}.pattern", "breaking", NOBODY,
          '`pattern` changed from "^[A-Z0-9-]{3,20}$" to "^[A-Z]{3,20}$"')],
        1,
    ),
    "narrowed minimum": Case(
        _set(_quantity, "minimum", 2),
        [(f"{QUANTITY}.minimum", "breaking", NOBODY, "`minimum` raised from 1 to 2")],
        1,
    ),
    "new maximum": Case(
        _set(_quantity, "maximum", 99),
        [(f"{QUANTITY}.maximum", "breaking", NOBODY, "`maximum` 99 added")],
        1,
    ),
    "lower maxItems": Case(
        _set(_items, "maxItems", 50),
        [(f"{ORDER}.payload.properties.items.maxItems", "breaking", NOBODY,
          "`maxItems` lowered from 100 to 50")],
        1,
    ),
    "output field removed": Case(
        _drop_display_name,
        [(f"{GET_USER}.output.properties.displayName", "breaking", CALLERS,
          "field `displayName` removed")],
        1,
    ),
    "output field removed under additionalProperties false": Case(
        _drop_display_name,
        [(f"{GET_USER}.output.properties.displayName", "breaking", CALLERS,
          "field `displayName` removed while `additionalProperties` is false")],
        1,
        before=_closed_output,
    ),
    "narrowed schema under $defs": Case(
        _longest_id,
        [(f"{GET_USER}.payload.properties.userId.maxLength", "breaking", CALLERS,
          "`maxLength` 64 added")],
        1,
        before=_id_under_defs,
    ),
    "output field retyped": Case(
        _email_as_number,
        [(f"{GET_USER}.output.properties.email.type", "breaking", CALLERS,
          "type changed from `string` to `integer`")],
        1,
    ),
    "changed success_event": Case(
        _new_success_event,
        [
            ("events.userRegistered", "compatible", (), "event `userRegistered` added"),
            ("services.user.commands.signUp.success_event", "breaking",
             ("email.v1.welcomeNewUser",),
             "`success_event` changed from `userSignedUp` to `userRegistered`"),
        ],
        1,
    ),
    "removed success_event": Case(
        _no_success_event,
        [("services.user.commands.signUp.success_event", "breaking",
          ("email.v1.welcomeNewUser",),
          "`success_event` `userSignedUp` removed: its subscribers no longer hear of this "
          "command")],
        1,
    ),
    "event payload narrowed": Case(
        _event_required_field,
        [("events.orderPlaced.payload.properties.currency", "breaking",
          ("email.v1.confirmOrder",), "new required field `currency`")],
        1,
    ),
    "event payload field removed": Case(
        _event_field_removed,
        [("events.orderPlaced.payload.properties.total", "breaking", ("email.v1.confirmOrder",),
          "field `total` removed")],
        1,
    ),
    "subscription to another event": Case(
        _resubscribe,
        [("services.email.subscriptions.welcomeNewUser.event", "breaking",
          ("email.v1.welcomeNewUser",),
          "now subscribes to `orderPlaced` instead of `userSignedUp`")],
        1,
    ),
    "job payload narrowed": Case(
        _job_required_field,
        [("services.user.queues.processAvatar.payload.properties.size", "breaking",
          ("user.v1.signUp",), "new required field `size`")],
        1,
    ),
    # ------------------------------------------------------------ covered by a new version
    "breaking change with a new version": Case(
        _new_version_with_required_field,
        [
            (f"{ORDER}.can_invoke", "compatible", (), "may now invoke `user.v2.getUser`"),
            (f"{ORDER}.can_invoke", "compatible", (), "no longer may invoke `user.v1.getUser`"),
            ("services.user", "compatible", (), "version 1 became 2"),
            (f"{GET_USER}", "breaking", CALLERS,
             "wire name changed: task `user.v1.getUser` is now `user.v2.getUser`; queue "
             "`shop.user.v1` is now `shop.user.v2`"),
            (f"{GET_USER}.payload.properties.tenant", "breaking", CALLERS,
             "new required field `tenant`"),
            ("services.user.commands.signUp", "breaking", NOBODY,
             "wire name changed: task `user.v1.signUp` is now `user.v2.signUp`; queue "
             "`shop.user.v1` is now `shop.user.v2`"),
        ],
        0,
    ),
    # ------------------------------------------------------------ compatible
    "lower max_attempts": Case(
        _fewer_attempts,
        [("services.user.queues.processAvatar.max_attempts", "compatible", (),
          "`max_attempts` lowered from 5 to 3: failures are dead-lettered sooner")],
        0,
    ),
    "new optional field": Case(
        _optional_field,
        [("services.user.commands.signUp.payload.properties.referrer", "compatible", (),
          "new optional field `referrer`")],
        0,
    ),
    "payload field removed without additionalProperties false": Case(
        _drop_verbose_open,
        [(f"{GET_USER}.payload.properties.verbose", "compatible", (),
          "field `verbose` removed")],
        0,
        before=_set(get_user_payload, "properties", {"userId": {"type": "string"},
                                                    "verbose": {"type": "boolean"}}),
    ),
    "new command": Case(
        _new_command,
        [("services.user.commands.deleteUser", "compatible", (), "command `deleteUser` added")],
        0,
    ),
    "widened type": Case(
        _set(_quantity, "type", "number"),
        [(f"{QUANTITY}.type", "compatible", (), "type widened from `integer` to `number`")],
        0,
    ),
    "widened enum": Case(
        _currency("EUR", "USD", "GBP"),
        [(f"{CURRENCY}.enum", "compatible", (), "value `\"GBP\"` now allowed")],
        0,
        before=_with_currency,
    ),
    "higher maxItems": Case(
        _set(_items, "maxItems", 500),
        [(f"{ORDER}.payload.properties.items.maxItems", "compatible", (),
          "`maxItems` raised from 100 to 500")],
        0,
    ),
    "output field now required": Case(
        _output_required_field,
        [(f"{GET_USER}.output.properties.displayName", "compatible", (),
          "`displayName` now required")],
        0,
    ),
    "documentation": Case(
        _descriptions,
        [
            (f"{GET_USER}.payload.properties.userId.description", "compatible", (),
             "documentation (`description`) changed"),
            ("services.user.description", "compatible", (), "description changed"),
        ],
        0,
    ),
    "new dependency": Case(
        _new_invoke,
        [("services.email.subscriptions.welcomeNewUser.can_invoke", "compatible", (),
          "may now invoke `user.v1.getUser`")],
        0,
    ),
    "no change": Case(lambda s: None, [], 0),
}  # fmt: skip


def write(path: Path, spec: Spec) -> Path:
    path.write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
    return path


def run_diff(*args: str, cwd: Path | None = None) -> tuple[int, dict[str, Any], str]:
    ran = cli("diff", *args, "--json", cwd=cwd)
    assert "Traceback" not in ran.stderr
    return ran.returncode, json.loads(ran.stdout) if ran.stdout else {}, ran.stderr


@pytest.mark.parametrize("name", CASES)
def test_diff_rule(name: str, tmp_path: Path) -> None:
    case = CASES[name]
    old = shop()
    case.before(old)
    new = copy.deepcopy(old)
    case.change(new)
    code, found, stderr = run_diff(
        str(write(tmp_path / "old.yaml", old)), str(write(tmp_path / "new.yaml", new))
    )
    rows = [(c["path"], c["kind"], tuple(c["breaks"]), c["message"]) for c in found["changes"]]
    assert rows == case.expected
    assert found["breaking"] == sum(1 for row in case.expected if row[1] == "breaking")
    assert code == case.exit_code, stderr
    assert bool(stderr) == (code == 1)  # the reason, when it fails


def test_diff_prints_each_change_on_a_line(tmp_path: Path) -> None:
    old = shop()
    new = copy.deepcopy(old)
    _required_field(new)
    _optional_field(new)
    ran = cli("diff", str(write(tmp_path / "a.yaml", old)), str(write(tmp_path / "b.yaml", new)))
    assert ran.returncode == 1
    assert ran.stdout.splitlines() == [
        f"breaking    {GET_USER}.payload.properties.tenant: new required field `tenant` "
        "(breaks order.v1)",
        "compatible  services.user.commands.signUp.payload.properties.referrer: new optional "
        "field `referrer`",
        "2 changes, 1 breaking",
    ]
    assert "1 breaking change not covered by a new version" in ran.stderr
    assert "`version`" in ran.stderr


def test_a_schema_moved_into_a_file_is_no_change(tmp_path: Path) -> None:
    old = shop()
    new = copy.deepcopy(old)
    (tmp_path / "schemas").mkdir()
    (tmp_path / "schemas" / "order.yaml").write_text(
        yaml.safe_dump({"$defs": {"Items": _items(old)}}), encoding="utf-8"
    )
    payload = cmd(new, "order", "placeOrder")["payload"]
    payload["properties"]["items"] = {"$ref": "schemas/order.yaml#/$defs/Items"}
    payload["$defs"] = {"UserId": payload["properties"]["userId"]}  # and one under `$defs`
    payload["properties"]["userId"] = {"$ref": "#/$defs/UserId"}
    code, found, _ = run_diff(
        str(write(tmp_path / "old.yaml", old)), str(write(tmp_path / "new.yaml", new))
    )
    assert (code, found) == (0, {"changes": [], "breaking": 0})


def test_an_invalid_spec_is_a_located_error(tmp_path: Path) -> None:
    old = write(tmp_path / "old.yaml", shop())
    bad = shop()
    cmd(bad, "order", "placeOrder")["can_invoke"] = ["user.v1.nothing"]
    ran = cli("diff", str(old), str(write(tmp_path / "new.yaml", bad)))
    assert ran.returncode == 2
    assert "new.yaml:" in ran.stderr
    assert "services.order.commands.placeOrder.can_invoke" in ran.stderr
    assert ran.stdout == ""


# ------------------------------------------------------------------ git:REV


def git(repo: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
        cwd=repo,
        check=True,
        capture_output=True,
    )


def test_git_revision_reads_the_spec_and_its_ref_files_as_they_were(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    (repo / "schemas").mkdir(parents=True)
    spec = shop()
    avatar = user(spec)["queues"]["processAvatar"]
    (repo / "schemas" / "avatar.yaml").write_text(yaml.safe_dump(avatar["payload"]))
    avatar["payload"] = {"$ref": "schemas/avatar.yaml"}
    write(repo / "purista.yaml", spec)
    git(repo, "init", "-q")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "first")
    # The spec is the same file; the schema it refers to narrows.
    narrowed = yaml.safe_load((repo / "schemas" / "avatar.yaml").read_text())
    narrowed["properties"]["fileId"]["maxLength"] = 64
    (repo / "schemas" / "avatar.yaml").write_text(yaml.safe_dump(narrowed))
    code, found, _ = run_diff("git:HEAD", cwd=repo)
    assert code == 1
    assert found["changes"] == [
        {
            "path": "services.user.queues.processAvatar.payload.properties.fileId.maxLength",
            "kind": "breaking",
            "breaks": ["user.v1.signUp"],
            "message": "`maxLength` 64 added",
        }
    ]
    git(repo, "commit", "-qam", "second")
    assert run_diff("git:HEAD~1", "git:HEAD", cwd=repo)[:2] == (1, found)
    assert run_diff("git:HEAD", cwd=repo)[:2] == (0, {"changes": [], "breaking": 0})
    # From another folder, with the spec named.
    code, again, _ = run_diff("git:HEAD~1", str(repo / "purista.yaml"), cwd=tmp_path)
    assert (code, again) == (1, found)


def test_git_revision_problems_are_errors_with_a_place(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    spec = shop()
    user(spec)["queues"]["processAvatar"]["payload"] = {"$ref": "avatar.yaml"}
    write(repo / "purista.yaml", spec)
    (repo / "avatar.yaml").write_text("type: object\n")
    ran = cli("diff", "git:HEAD", cwd=repo)
    assert ran.returncode == 2
    assert "not a git repository" in ran.stderr
    git(repo, "init", "-q")
    git(repo, "add", "purista.yaml")  # the `$ref` file is not committed
    git(repo, "commit", "-qm", "first")
    ran = cli("diff", "git:HEAD", cwd=repo)
    assert ran.returncode == 2
    assert ran.stderr.startswith("git:HEAD:./purista.yaml:")
    assert "services.user.queues.processAvatar.payload.$ref" in ran.stderr
    assert "'avatar.yaml' does not exist" in ran.stderr
    for rev in ("git:nothing", "git:", "git:--help"):
        ran = cli("diff", rev, cwd=repo)
        assert ran.returncode == 2, rev
        assert ran.stderr.count("\n") == 1, ran.stderr


def test_a_breaking_event_change_is_not_covered_by_new_versions(tmp_path: Path) -> None:
    old = shop()
    new = copy.deepcopy(old)
    _event_required_field(new)
    for service in new["services"].values():
        service["version"] += 1
    cmd(new, "order", "placeOrder")["can_invoke"] = ["user.v2.getUser"]
    ran = cli("diff", str(write(tmp_path / "a.yaml", old)), str(write(tmp_path / "b.yaml", new)))
    assert ran.returncode == 1
    assert "1 breaking change not covered by a new version" in ran.stderr
    assert "events.orderPlaced.payload.properties.currency" in ran.stderr
    assert "add a new event beside it" in ran.stderr


def test_a_change_covered_by_a_new_version_says_so(tmp_path: Path) -> None:
    old = shop()
    new = copy.deepcopy(old)
    _new_version_with_required_field(new)
    ran = cli("diff", str(write(tmp_path / "a.yaml", old)), str(write(tmp_path / "b.yaml", new)))
    assert ran.returncode == 0, ran.stderr
    line = next(x for x in ran.stdout.splitlines() if "payload.properties.tenant" in x)
    assert line.endswith("new required field `tenant` (breaks order.v1) [covered: a new version]")


def test_git_revision_with_a_ref_to_a_folder_is_a_located_error(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    (repo / "schemas").mkdir(parents=True)
    (repo / "schemas" / "a.yaml").write_text("type: object\n")
    spec = shop()
    user(spec)["queues"]["processAvatar"]["payload"] = {"$ref": "schemas/"}
    write(repo / "purista.yaml", spec)
    git(repo, "init", "-q")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "first")
    ran = cli("diff", "git:HEAD", cwd=repo)
    assert ran.returncode == 2
    assert ran.stderr.startswith("git:HEAD:./purista.yaml:")
    assert "services.user.queues.processAvatar.payload.$ref" in ran.stderr
