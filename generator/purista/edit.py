"""Edits of `purista.yaml` for `purista add`, by a ruamel round trip.

Comments, key order, quoting and indentation are kept; one entry is added where
it belongs.

Nothing here writes a file: each function takes the spec's text and returns the
new text, which the pipeline validates and builds before anything is written.
"""

from __future__ import annotations

import copy
import io
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import CommentMark, YAMLError
from ruamel.yaml.tokens import CommentToken

from purista.errors import UsageError
from purista.load import decode, parse_document, recall
from purista.spec.models import VERSION_KEYS
from purista.spec.names import PythonIdentifier

if TYPE_CHECKING:
    from purista.plan import Plan


@dataclass(frozen=True)
class Edited:
    """The spec's new text, and the round-trip document or the plain values it holds."""

    text: str
    document: Any = None
    data: Any = None


# Where a group goes in a service when it is new: after the keys that come before it.
_SERVICE_ORDER = ("version", "description", "deployment", "uses_database", "state_ttl")
_GROUPS = ("commands", "subscriptions", "queues")


def add_service(text: str, name: str, *, version: int, description: str) -> Edited:
    """The spec with service `name` added (no handlers yet)."""
    entry: dict[str, Any] = {"version": version}
    if description:
        entry["description"] = description
    return _add(text, ("services",), name, entry, f"service `{name}`")


def add_event(text: str, name: str, *, description: str, payload: dict[str, Any]) -> Edited:
    """The spec with event `name` added."""
    entry = _described(description) | {"payload": payload}
    return _add(text, ("events",), name, entry, f"event `{name}`")


def add_command(
    text: str,
    service: str,
    name: str,
    *,
    description: str,
    payload: dict[str, Any],
    output: dict[str, Any],
    links: dict[str, list[str]],
    version: int | None = None,
) -> Edited:
    """The spec with command `name` added to `service` (to its newest version by default)."""
    entry = _described(description) | {"payload": payload, "output": output} | _links(links)
    path = (*_version_path(text, service, version), "commands")
    return _add(text, path, name, entry, f"command `{name}` of service `{service}`")


def add_subscription(
    text: str,
    service: str,
    name: str,
    *,
    event: str,
    description: str,
    links: dict[str, list[str]],
    version: int | None = None,
) -> Edited:
    """The spec with subscription `name` (to `event`) added to `service` (its newest version)."""
    entry = _described(description) | {"event": event} | _links(links)
    path = (*_version_path(text, service, version), "subscriptions")
    return _add(text, path, name, entry, f"subscription `{name}` of service `{service}`")


def add_queue(
    text: str,
    service: str,
    name: str,
    *,
    description: str,
    payload: dict[str, Any],
    links: dict[str, list[str]],
    version: int | None = None,
) -> Edited:
    """The spec with job queue `name` added to `service` (to its newest version by default)."""
    entry = _described(description) | {"payload": payload} | _links(links)
    path = (*_version_path(text, service, version), "queues")
    return _add(text, path, name, entry, f"queue `{name}` of service `{service}`")


@dataclass(frozen=True)
class NewVersion:
    """A version added by `add_version`: the spec's new text, and the version it copies."""

    edited: Edited
    service: str
    copied: int  # the newest version before, whose block and handlers were copied
    version: int


def add_version(text: str, service: str, version: int | None = None) -> NewVersion:
    """The spec with a new version of `service`: a copy of its newest version's block.

    A service written inline (`version: N`) is first rewritten to the `versions:` form,
    its keys and their comments moved under `versions.<N>`. The copy leaves out the
    job queues: queue names are project-wide, so they stay with the version that
    declares them, and the new version's handlers keep enqueueing to them by name.
    """
    yaml = _yaml(text)
    doc = _mapping(yaml, text)
    services = doc.get("services")
    node = services.get(service) if isinstance(services, CommentedMap) else None
    if node is None:
        raise UsageError(f"there is no service `{service}` in the spec")
    if not isinstance(node, CommentedMap):
        raise UsageError(f"`services.{service}` in the spec is not a mapping; fix it first")
    versions = node.get("versions")
    if not isinstance(versions, CommentedMap):
        versions = _versions_form(node, _layout(text)[0])
    numbers = [key for key in versions if isinstance(key, int)]
    if not numbers or len(numbers) != len(versions):
        raise UsageError(f"the versions of service `{service}` are not all numbers; fix them first")
    newest = max(numbers)
    number = newest + 1 if version is None else version
    if number in versions:
        raise UsageError(f"service `{service}` already has version {number}")
    block = copy.deepcopy(versions[newest])
    if not isinstance(block, CommentedMap):
        raise UsageError(f"`services.{service}.versions.{newest}` is not a mapping; fix it first")
    block.pop("queues", None)
    block.ca.comment = None  # a comment on the copied version's key line is about that version
    at = sum(1 for key in numbers if key < number)
    last = list(versions)[-1]
    versions.insert(at, number, block)
    if at == len(numbers):
        _move_trailing_comment(versions, last, number)
    out = io.StringIO()
    yaml.dump(doc, out)
    return NewVersion(Edited(out.getvalue(), document=doc), service, newest, number)


def _versions_form(node: CommentedMap, indent: int) -> CommentedMap:
    """Move an inline service's version keys (and their comments) into `versions.<N>`.

    The moved keys go `2 * indent` columns deeper, and so do the comments among them;
    a comment about `version` goes to `versions`, the lines above a moved key with it.
    """
    number = node.get("version", 1)
    if not isinstance(number, int) or isinstance(number, bool):
        raise UsageError("the service's `version` is not a number; fix it first")
    keys = list(node)
    column = node.lc.key(keys[0])[1] if keys else 0
    block = CommentedMap()
    lead: list[str] = []  # comment lines above the first moved key
    about_version = _drop_version(node, keys, column, lead)
    for i, key in enumerate(keys):
        if key not in VERSION_KEYS:
            continue
        before = node.ca.items.get(keys[i - 1]) if i > 0 else None
        if not block and before and keys[i - 1] not in (*VERSION_KEYS, "version"):
            eol, rest = _split_post(before)  # the lines above this key hang on the one before
            if eol:
                before[2].value = f"{eol}\n"
            else:
                before[2] = None
            lead += rest
        block[key] = node[key]
        if key in node.ca.items:
            block.ca.items[key] = node.ca.items.pop(key)
        del node[key]
    _shift_comments(block, 2 * indent, column)
    if lead:
        _lead(block, lead, column + 2 * indent)
    versions = CommentedMap()
    versions[number] = block
    moved = [i for i, key in enumerate(keys) if key in VERSION_KEYS]
    at = sum(1 for key in keys[: moved[0] if moved else len(keys)] if key in node)
    node.insert(at, "versions", versions)
    if about_version:
        node.yaml_add_eol_comment(about_version, "versions")
    return versions


def _drop_version(node: CommentedMap, keys: list[Any], column: int, lead: list[str]) -> str:
    """Remove `version` from an inline service; the comment on its line is returned.

    The comment lines below it stay above the key that followed it (added to `lead`
    when that key moves into the version).
    """
    if "version" not in node:
        return ""
    i = keys.index("version")
    about, rest = _split_post(node.ca.items.pop("version", None))
    if i + 1 < len(keys) and keys[i + 1] in VERSION_KEYS:
        lead += rest
    elif rest and i == 0:
        _lead(node, rest, column)
    elif rest:
        _follow(node, keys[i - 1], rest, column)
    del node["version"]
    return about


def _split_post(entry: list[Any] | None) -> tuple[str, list[str]]:
    """A key's comment after it: the comment on its own line, and the comment lines below."""
    token = entry[2] if entry and len(entry) > 2 else None
    if token is None:
        return "", []
    eol, _, rest = str(token.value).partition("\n")
    lines = [line.strip() for line in rest.split("\n")]
    while lines and not lines[-1]:
        lines.pop()
    return eol.strip(), [line.removeprefix("#").removeprefix(" ") for line in lines]


def _lead(node: CommentedMap, lines: list[str], column: int) -> None:
    """Comment lines above the first key of `node`."""
    tokens = [CommentToken(f"# {line}\n" if line else "\n", CommentMark(column)) for line in lines]
    if node.ca.comment is None:
        node.ca.comment = [None, []]
    node.ca.comment[1] = tokens + list(node.ca.comment[1] or [])


def _follow(node: CommentedMap, key: Any, lines: list[str], column: int) -> None:
    """Comment lines below `key`'s line (above the key after it)."""
    text = "".join(f"{' ' * column}# {line}\n" if line else "\n" for line in lines)
    entry = node.ca.items.setdefault(key, [None, None, None, None])
    if entry[2] is None:
        entry[2] = CommentToken("\n" + text, CommentMark(column))
    else:
        entry[2].value = str(entry[2].value) + text


def _shift_comments(node: Any, delta: int, floor: int, seen: set[int] | None = None) -> None:
    """Indent the comments in `node` at column `floor` or deeper by `delta` columns.

    ruamel may hold one token in two places (a key's entry and its value's): each moves once.
    """
    if not isinstance(node, CommentedMap | CommentedSeq):
        return
    seen = set() if seen is None else seen
    entries: list[Any] = [node.ca.comment, *node.ca.items.values()]
    for entry in entries:
        for token in _tokens(entry):
            if id(token) in seen:
                continue
            seen.add(id(token))
            if str(token.value).startswith("#") and token.column >= floor:
                token.column += delta
            token.value = re.sub(
                rf"(?m)^( {{{floor},}})#", lambda m: " " * (len(m[1]) + delta) + "#", token.value
            )
    for child in node.values() if isinstance(node, CommentedMap) else node:
        _shift_comments(child, delta, floor, seen)


def _tokens(entry: Any) -> list[CommentToken]:
    """The comment tokens of a ruamel comment entry (tokens, lists of them, or None)."""
    if isinstance(entry, CommentToken):
        return [entry]
    if isinstance(entry, list):
        return [token for item in entry for token in _tokens(item)]
    return []


def carry_over(text: str, package: str, service: str, old: int, new: int) -> str:
    """A handler (or test) of version `old` of `service`, as the same file of version `new`.

    Only what names the version changes: imports of the version's package
    (`<package>.services.<service>.v1` -> `...v2`) and its task names (`user.v1.signUp`).
    """
    ident = re.escape(PythonIdentifier(service))
    text = re.sub(rf"\b({re.escape(package)}\.services\.{ident}\.)v{old}\b", rf"\g<1>v{new}", text)
    return re.sub(rf"(?<![\w.-])({re.escape(service)}\.)v{old}(?=\.)", rf"\g<1>v{new}", text)


def copied_handlers(root: Path, plan: Plan, new: NewVersion) -> dict[str, str]:
    """The new version's handlers and tests: the copied version's files, carried over.

    A handler or test the project does not have (deleted, or never created) is left to
    its stub.
    """
    old = plan.service(new.service, new.copied)
    out: dict[str, str] = {}
    for handler in plan.service(new.service, new.version).handlers:
        source = next(
            (h for h in old.handlers if (h.kind, h.name) == (handler.kind, handler.name)), None
        )
        if source is None:
            continue
        for src, dst in ((source.path, handler.path), (source.test_path, handler.test_path)):
            try:
                text = (root / src).read_bytes().decode("utf-8")
            except (OSError, UnicodeDecodeError):
                continue
            out[dst] = carry_over(text, plan.project.package, new.service, new.copied, new.version)
    return out


def _version_path(text: str, service: str, version: int | None) -> tuple[str, ...]:
    """Where a service's handlers go: the service itself, or one of its `versions` (newest)."""
    data = recall(text)
    if data is None:
        try:
            data = YAML(typ="safe", pure=True).load(text)
        except YAMLError:
            data = None
    services = data.get("services") if isinstance(data, dict) else None
    node = services.get(service) if isinstance(services, dict) else None
    versions = node.get("versions") if isinstance(node, dict) else None
    if not isinstance(versions, dict) or not versions:
        inline = node.get("version", 1) if isinstance(node, dict) else None
        if version is not None and node is not None and version != inline:
            raise UsageError(f"service `{service}` has no version {version} (it has {inline})")
        return ("services", service)
    numbers = sorted(int(key) for key in versions if str(key).isdigit())
    number = numbers[-1] if version is None and numbers else version
    if number not in numbers:
        shown = ", ".join(str(n) for n in numbers)
        raise UsageError(f"service `{service}` has no version {number} (it has {shown})")
    return ("services", service, "versions", str(number))


def read_schema(option: str, text: str | None, file: Path | None) -> dict[str, Any]:
    """A schema given as `--payload '<json>'` or `--payload-file F` (JSON or YAML).

    Neither: the empty object schema `{type: object}`.
    """
    if text is not None and file is not None:
        raise UsageError(f"give either --{option} or --{option}-file, not both")
    if file is not None:
        try:
            raw = file.read_bytes()
        except OSError as exc:
            raise UsageError(f"cannot read --{option}-file {file}: {exc.strerror}") from None
        # Located errors, tags refused and aliases bounded, as in the spec itself.
        value, _ = parse_document(decode(raw, str(file), f"--{option}-file"), str(file))
    elif text is not None:
        try:
            value = json.loads(text)
        except ValueError as exc:
            raise UsageError(f"--{option} is not JSON: {exc}") from None
    else:
        return {"type": "object"}
    if not isinstance(value, dict):
        raise UsageError(
            f'--{option} must be a JSON Schema object, such as \'{{"type": "object"}}\''
        )
    return value


def _described(description: str) -> dict[str, Any]:
    return {"description": description} if description else {}


def _links(links: dict[str, list[str]]) -> dict[str, Any]:
    return {key: list(values) for key, values in links.items() if values}


def _mapping(yaml: YAML, text: str) -> CommentedMap:
    """The spec's top-level mapping, read for a round trip; a clear error when it is none."""
    try:
        doc = yaml.load(text)
    except YAMLError:
        doc = None
    if not isinstance(doc, CommentedMap):
        raise UsageError("the spec is not a valid YAML mapping; fix it (purista validate) first")
    return doc


def _add(text: str, where: Sequence[str], name: str, entry: dict[str, Any], what: str) -> Edited:
    spliced = _splice(text, where, name, entry, what)
    if spliced is not None:
        return spliced
    yaml = _yaml(text)
    doc = _mapping(yaml, text)
    appended: list[tuple[CommentedMap, Any, str]] = []  # (mapping, its last key, new last key)
    target = _parent(doc, where, appended)
    if name in target:
        raise UsageError(f"{what} already exists in the spec")
    if target:
        appended.append((target, list(target)[-1], name))
    if not target and target.fa.flow_style():
        target.fa.set_block_style()
    target[name] = _node(entry, flow=False)
    if appended:  # the outermost mapping the new lines end
        _move_trailing_comment(*appended[0])
    out = io.StringIO()
    yaml.dump(doc, out)
    return Edited(out.getvalue(), document=doc)


def _splice(
    text: str, where: Sequence[str], name: str, entry: dict[str, Any], what: str
) -> Edited | None:
    """The quick way for a spec loaded before: insert the entry's lines at the end of its block.

    The entry is written by ruamel at the block's indentation, and the block alone is
    parsed again and compared with what it must now hold; the rest of the text is
    unchanged, so its values are the ones `recall` kept. Anything unusual (a flow
    mapping, a group not there yet, an anchor) returns None: the full round trip.
    """
    data = recall(text)
    parent = data
    for key in where:
        parent = parent.get(key) if isinstance(parent, dict) else None
    if not isinstance(parent, dict) or not parent:
        return None
    if name in parent:
        raise UsageError(f"{what} already exists in the spec")
    lines = text.splitlines(keepends=True)
    if not lines or not lines[-1].endswith("\n"):
        return None
    block = _find_block(lines, where)
    if block is None:
        return None
    start, end, indent, child = block
    last = max(i for i in range(start + 1, end) if _content(lines[i]))
    yaml = _yaml(text)
    out = io.StringIO()
    yaml.dump({name: _node(entry, flow=False)}, out)
    fragment = [
        " " * child + line if line.strip() else line for line in out.getvalue().splitlines(True)
    ]
    new_lines = [*lines[: last + 1], *fragment, *lines[last + 1 :]]
    expected = dict(parent) | {name: entry}
    region = new_lines[start : end + len(fragment)]
    if not _holds(region, indent, where[-1], expected):
        return None
    parent[name] = json.loads(json.dumps(entry))
    return Edited("".join(new_lines), data=data)


def _find_block(lines: list[str], where: Sequence[str]) -> tuple[int, int, int, int] | None:
    """The block under the key path `where`: start and end line, indentation of its key and entries.

    None unless every key stands as `key:` on a line of its own, entries below it.
    """
    start, end, indent = -1, len(lines), -1
    for key in where:
        pattern = re.compile(rf"^( *){re.escape(key)}:[ \t]*(#.*)?$")
        found = None
        for i in range(start + 1, end):
            if not _content(lines[i]):
                continue
            depth = len(lines[i]) - len(lines[i].lstrip(" "))
            if depth <= indent:
                break
            match = pattern.match(lines[i].rstrip("\n"))
            if match and (found is None) and depth == _first_depth(lines, start + 1, end):
                found = i
        if found is None:
            return None
        start = found
        indent = len(lines[found]) - len(lines[found].lstrip(" "))
        end = next(
            (
                i
                for i in range(found + 1, len(lines))
                if _content(lines[i]) and len(lines[i]) - len(lines[i].lstrip(" ")) <= indent
            ),
            len(lines),
        )
    child = _first_depth(lines, start + 1, end)
    if child <= indent or lines[
        next(i for i in range(start + 1, end) if _content(lines[i]))
    ].lstrip(" ").startswith("-"):
        return None
    return start, end, indent, child


def _first_depth(lines: list[str], start: int, end: int) -> int:
    """The indentation of the first line with content in `lines[start:end]` (-1 if none)."""
    for i in range(start, end):
        if _content(lines[i]):
            return len(lines[i]) - len(lines[i].lstrip(" "))
    return -1


def _content(line: str) -> bool:
    """Whether a line holds YAML content (not blank, not only a comment)."""
    stripped = line.strip()
    return bool(stripped) and not stripped.startswith("#")


def _holds(region: list[str], indent: int, key: str, expected: dict[str, Any]) -> bool:
    """Whether the block `region` (its key line first) parses to `{key: expected}`, in order."""
    text = "".join(
        line[indent:] if _content(line) or not line[:indent].strip() else "\n" for line in region
    )
    try:
        value = YAML(typ="safe", pure=True).load(text)
    except YAMLError:
        return False
    if not isinstance(value, dict) or list(value) != [key]:
        return False
    got = value[key]
    return isinstance(got, dict) and list(got) == list(expected) and _same(got, expected)


def _same(a: Any, b: Any) -> bool:
    """Equal as JSON values (YAML integers and floats compare as JSON would)."""
    return json.dumps(a, sort_keys=True, default=str) == json.dumps(b, sort_keys=True, default=str)


def _parent(
    doc: CommentedMap, where: Sequence[str], appended: list[tuple[CommentedMap, Any, str]]
) -> CommentedMap:
    """The mapping an entry goes into; a missing group (`events`, `commands`) is created.

    A group created after the last key of its mapping is noted in `appended`.
    """
    node = doc
    for depth, name in enumerate(where):
        key: str | int = name
        if where[depth - 1 : depth] == ("versions",) and name not in node and name.isdigit():
            key = int(name)  # a version's number, as YAML reads `2:`
        child = node.get(key)
        if child is None:
            if depth in (1, 3):  # a service or a version: never made up
                raise UsageError(
                    f"there is no service `{name}` in the spec; add it with "
                    f"`purista add service {name}`"
                )
            child = CommentedMap()
            at = _position(node, name)
            if node and at == len(node):
                appended.append((node, list(node)[-1], name))
            node.insert(at, name, child)
        if not isinstance(child, CommentedMap):
            path = ".".join(str(part) for part in where[: depth + 1])
            raise UsageError(f"`{path}` in the spec is not a mapping; fix it first")
        node = child
    return node


def _position(node: CommentedMap, key: str) -> int:
    """Where a new group goes: in the usual order (commands, subscriptions, queues)."""
    keys = list(node)
    if key in _GROUPS:
        after = _SERVICE_ORDER + _GROUPS[: _GROUPS.index(key)]
        before = [i for i, k in enumerate(keys) if k not in after]
        return before[0] if before else len(keys)
    if key == "events" and "services" in keys:
        return keys.index("services")
    return len(keys)


def _node(value: Any, *, flow: bool) -> Any:
    """Plain values as ruamel nodes: the entry in block style, schemas and lists in flow."""
    if isinstance(value, dict):
        node = CommentedMap()
        for key, item in value.items():
            node[key] = _node(item, flow=flow or key in ("payload", "output"))
        if flow:
            node.fa.set_flow_style()
        return node
    if isinstance(value, list):
        seq = CommentedSeq(_node(item, flow=True) for item in value)
        seq.fa.set_flow_style()
        return seq
    return value


def _move_trailing_comment(target: CommentedMap, previous: str | int, new: str | int) -> None:
    """Keep a comment (or blank line) that ended the mapping at its end, after the new entry.

    ruamel keeps what follows a block on the block's last value: left there, a
    comment that introduces the next section would end up above the new entry.
    """
    old_holder = _last_key(target, previous)
    new_holder = _last_key(target, new)
    if old_holder is None or new_holder is None:
        return
    node, key = old_holder
    items = node.ca.items.get(key)
    if not items or len(items) < 3 or items[2] is None:
        return
    token = items[2]
    value = str(token.value)
    keep = ""
    if value.lstrip(" ").startswith("#"):  # a comment at the end of the value's own line
        keep, _, value = value.partition("\n")
        keep += "\n"
    if not value:
        return
    if keep:
        items[2] = CommentToken(keep, token.start_mark, None)
    else:
        items[2] = None
    holder, holder_key = new_holder
    mark = token.start_mark
    slot = holder.ca.items.setdefault(holder_key, [None, None, None, None])
    slot[2] = CommentToken(("" if value.startswith("\n") else "\n") + value, mark, None)


def _last_key(node: Any, key: Any) -> tuple[Any, Any] | None:
    """The mapping (or list) and key whose value is printed last under `node[key]`."""
    while True:
        child = node[key]
        if isinstance(child, CommentedMap | CommentedSeq) and child and not child.fa.flow_style():
            node, key = (
                child,
                (list(child)[-1] if isinstance(child, CommentedMap) else len(child) - 1),
            )
            continue
        return node, key


def _yaml(text: str) -> YAML:
    """A round-trip YAML that writes the spec back in its own layout."""
    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    yaml.width = 4096
    indent, sequence, offset = _layout(text)
    yaml.indent(mapping=indent, sequence=sequence, offset=offset)
    return yaml


_KEY_LINE = re.compile(r"^( *)[^\s#-][^:#]*:(\s|$)")
_ITEM_LINE = re.compile(r"^( *)-( +)\S")


def _layout(text: str) -> tuple[int, int, int]:
    """How the spec indents: mappings; a block list's items and its `-`, from their key.

    Read from the first nested key and the first block list, as ruamel's own guess
    does, without parsing the whole document a second time.
    """
    indent = sequence = offset = None
    parent = 0
    for line in text.splitlines():
        key = _KEY_LINE.match(line)
        item = _ITEM_LINE.match(line)
        if key and indent is None and len(key.group(1)) > parent:
            indent = len(key.group(1)) - parent
        if item and sequence is None:
            offset = max(len(item.group(1)) - parent, 0)
            sequence = offset + 1 + len(item.group(2))
        if key:
            parent = len(key.group(1))
        if indent is not None and sequence is not None:
            break
    indent = indent or 2
    offset = offset or 0
    return indent, sequence or max(indent, offset + 2), offset
