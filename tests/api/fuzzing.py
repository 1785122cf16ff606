"""Schemathesis plumbing for the schema fuzz: the spec, case strategies, checks and a tally."""

from __future__ import annotations

import itertools
import json
import os
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, TypeAlias

import schemathesis
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from schemathesis import APIOperation, Case, GenerationMode, Response
from schemathesis.checks import CheckFunction, not_a_server_error
from schemathesis.core.result import Ok
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

from cairn.server.domain import blobstream
from tests.api import route_walk
from tests.api.error_shape import ERROR_CODES, LEAKS

# Examples per operation and generation mode: ~25 in PR CI, 200 nightly.
EXAMPLES = int(os.environ.get("CAIRN_FUZZ_EXAMPLES", "25"))
# Invalid input must get a 4xx: Schemathesis's default list also accepts 5xx.
CONFIG = schemathesis.Config.from_dict(
    {"checks": {"negative_data_rejection": {"expected-statuses": ["4XX"]}}}
)
Operation: TypeAlias = APIOperation[Any, Any, Any, Any]
FuzzCase: TypeAlias = Case[Any]


@schemathesis.serializer(blobstream.MEDIA_TYPE)
def _blob_stream(ctx: schemathesis.SerializationContext, value: Any) -> bytes:
    """Generated blob-stream bodies go as the bytes they are: mostly malformed streams."""
    return value if isinstance(value, bytes) else json.dumps(value).encode()


SCHEMA = schemathesis.openapi.from_dict(route_walk.static_app().openapi(), config=CONFIG)
OPERATIONS: dict[str, Operation] = {
    result.ok().label: result.ok()
    for result in SCHEMA.get_all_operations()
    if isinstance(result, Ok)
}
HYPOTHESIS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    print_blob=True,
    suppress_health_check=list(HealthCheck),
)


# The standard error codes (http/errors.py), by status.
def negatable(operation: Operation) -> bool:
    """Whether negative mode has anything to break: a JSON body, a query, or a typed path part.

    A free-form string in a path and raw file bytes cannot be made invalid, so operations with
    nothing else have no negative cases (Hypothesis would report them unsatisfiable).
    """
    typed_path = any(
        p.definition.get("schema", {}).get("type") not in (None, "string")
        for p in operation.path_parameters
    )
    return negatable_beyond_path(operation) or typed_path


def negatable_beyond_path(operation: Operation) -> bool:
    json_body = any(body.media_type == "application/json" for body in operation.body)
    return json_body or bool(list(operation.query))


def fuzz_ids() -> list[tuple[str, GenerationMode]]:
    """(operation label, mode) for every operation in positive mode and where possible negative."""
    return [
        (label, mode)
        for label, op in OPERATIONS.items()
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
        if mode is GenerationMode.POSITIVE or negatable(op)
    ]


def case_strategy(
    operation: Operation, mode: GenerationMode, real: Mapping[str, tuple[str, ...]]
) -> st.SearchStrategy[FuzzCase]:
    """Generated cases; half of them aim at real objects through `real` path parameter values.

    In negative mode the real-path half keeps the path valid and breaks the query or body.
    """
    generated = operation.as_strategy(generation_mode=mode)
    names = [p.name for p in operation.path_parameters if p.name in real]
    if not names or (mode is GenerationMode.NEGATIVE and not negatable_beyond_path(operation)):
        return generated
    combos = list(itertools.product(*(real[n] for n in names)))[:16]
    aimed = [
        operation.as_strategy(
            generation_mode=mode, path_parameters=dict(zip(names, c, strict=True))
        )
        for c in combos
    ]
    return st.one_of(generated, st.one_of(aimed))


def is_negative(case: FuzzCase) -> bool:
    return case.meta is not None and case.meta.generation.mode.is_negative


def checks_for(case: FuzzCase, response: Response) -> list[CheckFunction]:
    """No 5xx, a documented content type and body; a 4xx for malformed input.

    Bodies of statuses the spec does not document are skipped by Schemathesis; `error_problem`
    holds every error body to the standard shape instead.
    """
    checks: list[CheckFunction] = [
        not_a_server_error,
        content_type_conformance,
        response_schema_conformance,
    ]
    if is_negative(case):
        checks.append(negative_data_rejection)
    return checks


def documented_error_schemas(operation: Operation) -> dict[str, dict[str, Any]]:
    """The JSON body schema of each documented 4xx response, references resolved."""
    components = SCHEMA.raw_schema.get("components", {}).get("schemas", {})
    found = {}
    for status, spec in operation.definition.raw.get("responses", {}).items():
        if not status.startswith("4"):
            continue
        schema = spec.get("content", {}).get("application/json", {}).get("schema", {})
        ref = schema.get("$ref", "")
        found[status] = components.get(ref.rsplit("/", 1)[-1], {}) if ref else schema
    return found


SPEC_CHECKS: list[CheckFunction] = [status_code_conformance, response_schema_conformance]


def error_problem(response: Response) -> str | None:
    """None when an error body is the standard {"error": {"code", "message"}} for its status."""
    try:
        body = json.loads(response.content)
    except ValueError:
        return f"not JSON: {response.content[:200]!r}"
    if not isinstance(body, dict) or set(body) != {"error"} or not isinstance(body["error"], dict):
        return f"not the standard error shape: {body!r:.300}"
    error = body["error"]
    if set(error) != {"code", "message"} or not isinstance(error["message"], str):
        return f"not the standard error shape: {body!r:.300}"
    want = ERROR_CODES.get(response.status_code)
    if want is not None and error["code"] != want:
        return f"code {error['code']!r} for status {response.status_code} (want {want!r})"
    return None


def leak(sent: str, response: Response) -> str | None:
    """A leak marker the response shows that the request did not carry, else None."""
    text = response.content.decode("utf-8", "replace")
    for marker in LEAKS:
        if marker in text and marker not in sent:
            return marker
    return None


def sent_text(case: FuzzCase) -> str:
    """Everything of the request a response may legitimately echo."""
    return f"{case.formatted_path} {case.query!r} {case.body!r}"


@dataclass
class Tally:
    """Requests sent per test, statuses seen, and spec findings (reported, not failed)."""

    requests: Counter[str] = field(default_factory=Counter)
    statuses: Counter[int] = field(default_factory=Counter)
    undocumented: Counter[str] = field(default_factory=Counter)

    def record(self, test: str, case: FuzzCase, response: Response) -> None:
        self.requests[test] += 1
        self.statuses[response.status_code] += 1
        documented = case.operation.responses.status_codes
        if str(response.status_code) not in documented:
            self.undocumented[f"{response.status_code} {case.operation.label}"] += 1

    def summary(self) -> dict[str, Any]:
        return {
            "examples_per_operation_and_mode": EXAMPLES,
            "total_requests": sum(self.requests.values()),
            "statuses": dict(sorted(self.statuses.items())),
            "undocumented_status_by_operation": dict(sorted(self.undocumented.items())),
            "requests_per_test": dict(sorted(self.requests.items())),
        }
