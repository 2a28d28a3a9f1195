"""Schemathesis against the app's own OpenAPI: no 5xx, no answer outside the schema."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from leaseq.app.container import build_container
from tests.contract.http_fixtures import settings_for

# Auth off (loopback, no tokens) so that generated requests reach every route's logic.
app = build_container(settings_for("memory", None, tokens=None)).http_app()
schema = schemathesis.openapi.from_asgi("/openapi.json", app)

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


@pytest.mark.timeout(120)
@schema.parametrize()
@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
def test_api_answers_inside_its_schema_and_never_5xx(case):
    case.call_and_validate(checks=CHECKS)
