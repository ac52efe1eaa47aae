"""Schema-driven fuzzing with schemathesis: whatever it sends, never a server error.

Bounded: 30 examples per operation, no deadline. Requests carry an admin key so that they
reach validation and the models rather than stopping at authentication. (schemathesis'
lazy pytest fixture does not work with pytest 9, so the operations are driven directly.)
"""

from __future__ import annotations

import pytest
from api_support import headers
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings

schemathesis = pytest.importorskip("schemathesis")
from schemathesis.checks import not_a_server_error  # noqa: E402
from schemathesis.specs.openapi.checks import (  # noqa: E402
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


def fuzz(app, max_examples: int = 30) -> dict[str, dict[int, int]]:
    """Run every operation of the app's schema; returns status counts per operation."""
    calls: dict[str, dict[int, int]] = {}
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    for result in schema.get_all_operations():
        op = result.ok()
        seen = calls.setdefault(f"{op.method.upper()} {op.path}", {})
        _runner(op, seen, max_examples)()
    return calls


def _runner(op, seen: dict[int, int], max_examples: int):
    @given(case=op.as_strategy())
    @hsettings(
        max_examples=max_examples,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def run(case):
        response = case.call(headers=headers("admin"))
        seen[response.status_code] = seen.get(response.status_code, 0) + 1
        assert response.status_code < 500, (case.method, case.path, response.text[:500])
        case.validate_response(response, checks=CHECKS)

    return run


def test_no_server_error(bundle, settings):
    from scoring.api.app import create_app

    app = create_app(bundle=bundle, bundle_loader=lambda: bundle, settings=settings)
    with TestClient(app):  # runs the lifespan: keys, audit trail
        calls = fuzz(app)
    assert len(calls) == 13 and all(calls.values()), calls
