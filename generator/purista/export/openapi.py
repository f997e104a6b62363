"""The OpenAPI 3.1 document of the HTTP gateway, made from the spec alone.

`purista export openapi` prints it, and `purista generate` writes the same text into
the project (`_purista/openapi.json`), which the gateway serves at `/openapi.json`.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from typing import Any

from purista.spec import models as spec
from purista.spec.http import path_params, resolve
from purista.spec.names import ClassName

PROBLEM = "application/problem+json"
#: Every error the gateway answers with, by status: its response name and when it happens.
ERRORS = {
    400: ("BadRequest", "The body is not valid JSON."),
    401: ("Unauthorized", "`authenticate` did not recognise the caller."),
    403: ("Forbidden", "`authenticate` refused the caller."),
    404: ("NotFound", "No such route, or no such job."),
    413: ("ContentTooLarge", "The body is over the gateway's `max_body`."),
    415: ("UnsupportedMediaType", "The body is not `application/json`."),
    422: ("UnprocessableContent", "The payload is invalid: one entry per failing field."),
    502: ("BadGateway", "The handler raised: its error type and message."),
    503: ("ServiceUnavailable", "Redis cannot be reached; try again shortly."),
    504: ("GatewayTimeout", "The command did not answer within its timeout."),
}


def document(model: spec.Spec) -> str:
    """The OpenAPI document of every route the spec declares, as indented JSON."""
    return json.dumps(build(model), indent=2, ensure_ascii=False) + "\n"


def _handlers(
    model: spec.Spec,
) -> Iterator[tuple[str, int, str, str, spec.Command | spec.Queue]]:
    """Each service, version, kind, name and handler that declares `http`."""
    for live in spec.service_versions(model):
        for cname, cmd in live.block.commands.items():
            if cmd.http is not None:
                yield live.name, live.version, "command", cname, cmd
        for qname, queue in live.block.queues.items():
            if queue.http is not None:
                yield live.name, live.version, "queue", qname, queue


def build(model: spec.Spec) -> dict[str, Any]:
    """The OpenAPI document as a JSON value."""
    schemas: dict[str, Any] = {
        "Problem": _problem_schema(),
        "JobAccepted": {
            "type": "object",
            "properties": {"jobId": {"type": "string", "description": "The job's id."}},
            "required": ["jobId"],
        },
        "JobStatus": _job_status_schema(),
    }
    paths: dict[str, dict[str, Any]] = {}
    tags: dict[str, str] = {}
    for sname, version, kind, name, handler in _handlers(model):
        assert handler.http is not None
        service = model.services[sname]
        tags.setdefault(sname, service.description)
        prefix = f"{ClassName(sname)}V{version}{ClassName(name)}"
        payload_name = f"{prefix}Payload" if kind == "command" else f"{ClassName(name)}Job"
        schemas[payload_name] = _component(handler.payload, payload_name)
        operation: dict[str, Any] = {
            "operationId": f"{sname}.v{version}.{name}" if kind == "command" else name,
            "tags": [sname],
            "summary": handler.description or name,
            "description": _describe(kind, sname, version, name, handler),
        }
        if handler.http.public:
            operation["security"] = []
        parameters, body = _inputs(handler, payload_name, schemas)
        if parameters:
            operation["parameters"] = parameters
        if body is not None:
            operation["requestBody"] = body
        responses: dict[str, Any] = {}
        if isinstance(handler, spec.Command):
            output_name = f"{prefix}Output"
            schemas[output_name] = _component(handler.output, output_name)
            responses["200"] = {
                "description": "The command's output.",
                "content": {"application/json": {"schema": _ref(output_name)}},
            }
        else:
            responses["202"] = {
                "description": "The job is queued; `Location` is where its status is.",
                "headers": {
                    "Location": {
                        "description": "`/jobs/<id>`",
                        "schema": {"type": "string"},
                    }
                },
                "content": {"application/json": {"schema": _ref("JobAccepted")}},
            }
        for status in _errors(kind, handler.http):
            responses[str(status)] = {"$ref": f"#/components/responses/{ERRORS[status][0]}"}
        operation["responses"] = responses
        paths.setdefault(handler.http.path, {})[handler.http.method.lower()] = operation
    paths["/jobs/{jobId}"] = {"get": _job_operation()}
    paths["/healthz"] = {"get": _probe("healthz", "The process is up.", with_503=False)}
    paths["/readyz"] = {"get": _probe("readyz", "Redis answers.", with_503=True)}
    components: dict[str, Any] = {
        "schemas": schemas,
        "responses": {
            name: {
                "description": text,
                "content": {PROBLEM: {"schema": _ref("Problem")}},
            }
            for name, text in ERRORS.values()
        },
        "securitySchemes": {
            "gateway_auth": {
                "type": "http",
                "scheme": "bearer",
                "description": "Whatever the project's `gateway_auth.authenticate` accepts.",
            }
        },
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": model.project.name,
            "version": "0.1.0",
            "description": model.project.description or f"The HTTP gateway of {model.project.name}",
        },
        "tags": [{"name": name, "description": text} for name, text in tags.items()],
        "security": [{"gateway_auth": []}],
        "paths": paths,
        "components": components,
    }


def _describe(
    kind: str, sname: str, version: int, name: str, handler: spec.Command | spec.Queue
) -> str:
    assert handler.http is not None
    text = handler.description.strip()
    if kind == "command":
        where = f"Invokes `{sname}.v{version}.{name}` (timeout {handler_timeout(handler):g} s)."
    else:
        where = f"Adds a job to the queue `{name}` of `{sname}` v{version}."
    who = " Public: no authentication." if handler.http.public else ""
    return f"{text}\n\n{where}{who}".strip()


def handler_timeout(handler: spec.Command | spec.Queue) -> float:
    """A command's timeout (a queue answers at once)."""
    return handler.timeout if isinstance(handler, spec.Command) else 0.0


def _errors(kind: str, http: spec.Http) -> list[int]:
    found = [422, 503]
    if http.method != "GET":
        found += [400, 413, 415]
    if not http.public:
        found += [401, 403]
    if kind == "command":
        found += [502, 504]
    return sorted(found)


def _inputs(
    handler: spec.Command | spec.Queue, payload_name: str, schemas: dict[str, Any]
) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    """The operation's parameters and request body."""
    assert handler.http is not None
    payload = handler.payload
    node = resolve(payload, payload)
    props: dict[str, Any] = node.get("properties", {})
    required = set(node.get("required", []))
    params = path_params(handler.http.path)
    parameters = [
        {
            "name": name,
            "in": "path",
            "required": True,
            "schema": _local(props[name], payload_name),
        }
        for name in params
    ]
    if handler.http.method == "GET":
        for name, sub in props.items():
            if name in params:
                continue
            parameters.append(
                {
                    "name": name,
                    "in": "query",
                    "required": name in required,
                    "schema": _local(sub, payload_name),
                }
            )
        return parameters, None
    if params:
        body_name = f"{payload_name}Body"
        body = copy.deepcopy(schemas[payload_name])
        for name in params:
            body.get("properties", {}).pop(name, None)
        if "required" in body:
            body["required"] = [r for r in body["required"] if r not in params]
            if not body["required"]:
                del body["required"]
        schemas[body_name] = body
        schema = _ref(body_name)
        needed = bool(required - set(params))
    else:
        schema, needed = _ref(payload_name), bool(required)
    return parameters, {
        "required": needed,
        "content": {"application/json": {"schema": schema}},
    }


def _component(schema: dict[str, Any], name: str) -> dict[str, Any]:
    """A spec schema as a component: its own `#` references pointed at its new place."""
    out: dict[str, Any] = _local(schema, name)
    out.pop("$schema", None)
    out.pop("$id", None)
    return out


def _local(schema: Any, name: str) -> Any:
    """`schema` with each `#...` reference made relative to `#/components/schemas/<name>`."""
    if isinstance(schema, dict):
        out = {}
        for key, value in schema.items():
            if key == "$ref" and isinstance(value, str) and value.startswith("#"):
                out[key] = f"#/components/schemas/{name}{value[1:]}"
            else:
                out[key] = _local(value, name)
        return out
    if isinstance(schema, list):
        return [_local(item, name) for item in schema]
    return schema


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _problem_schema() -> dict[str, Any]:
    return {
        "type": "object",
        "description": "An RFC 9457 problem.",
        "properties": {
            "type": {"type": "string"},
            "title": {"type": "string"},
            "status": {"type": "integer"},
            "detail": {"type": "string"},
            "instance": {"type": "string"},
            "errors": {
                "type": "array",
                "description": "422: one entry per failing field.",
                "items": {
                    "type": "object",
                    "properties": {
                        "pointer": {"type": "string", "description": "A JSON Pointer."},
                        "detail": {"type": "string"},
                    },
                    "required": ["pointer", "detail"],
                },
            },
            "error": {
                "type": "object",
                "description": "502: the handler's error.",
                "properties": {"type": {"type": "string"}, "message": {"type": "string"}},
            },
        },
        "required": ["type", "title", "status", "detail"],
    }


def _job_status_schema() -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {
            "jobId": {"type": "string"},
            "queue": {"type": "string"},
            "status": {
                "type": "string",
                "enum": ["pending", "running", "succeeded", "failed", "dead"],
            },
            "attempt": {"type": "integer"},
            "maxAttempts": {"type": "integer"},
            "result": {"description": "What the job's handler returned (when succeeded)."},
            "error": {"type": "string", "description": "The last attempt's error."},
            "createdAt": {"type": "number"},
            "finishedAt": {"type": "number"},
        },
        "required": ["jobId", "status"],
    }


def _job_operation() -> dict[str, Any]:
    return {
        "operationId": "jobStatus",
        "summary": "A job's status",
        "description": "Pending, running, succeeded (with its result), failed (to be retried) "
        "or dead. Public when the job's queue is public.",
        "parameters": [
            {"name": "jobId", "in": "path", "required": True, "schema": {"type": "string"}}
        ],
        "responses": {
            "200": {
                "description": "The job's status.",
                "content": {"application/json": {"schema": _ref("JobStatus")}},
            },
            **{
                str(s): {"$ref": f"#/components/responses/{ERRORS[s][0]}"}
                for s in (401, 403, 404, 503)
            },
        },
    }


def _probe(name: str, text: str, *, with_503: bool) -> dict[str, Any]:
    responses: dict[str, Any] = {
        "200": {
            "description": text,
            "content": {
                "application/json": {
                    "schema": {"type": "object", "properties": {"status": {"type": "string"}}}
                }
            },
        }
    }
    if with_503:
        responses["503"] = {"$ref": "#/components/responses/ServiceUnavailable"}
    return {"operationId": name, "summary": text, "security": [], "responses": responses}
