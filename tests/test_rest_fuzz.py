"""schemathesis, knowing only the served OpenAPI document, finds no 5xx and no answer outside
the document (status, content type, body schema) on any REST route; bounded, loopback only."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import hypothesis
import pytest
import schemathesis
from conftest import run_server, server_settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

#: examples per operation: about 80 operations, the whole run well under a minute
MAX_EXAMPLES = 6
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


def fuzz(base_url: str, document: dict[str, Any], max_examples: int, key: str) -> tuple[int, list[str]]:
    """Run every unary operation of ``document`` against ``base_url`` with the API key ``key``;
    return (operations, failures)."""
    schema = schemathesis.openapi.from_dict(document)
    failures: list[str] = []
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        if operation.path.startswith("/api/v1/streams/"):
            continue  # a live event stream never ends; tests/test_rest.py reads them
        operations += 1

        @hypothesis.settings(max_examples=max_examples, deadline=None, database=None, derandomize=True,
                             suppress_health_check=list(hypothesis.HealthCheck),
                             phases=[hypothesis.Phase.explicit, hypothesis.Phase.generate])
        @hypothesis.given(case=operation.as_strategy())
        def run(case: Any) -> None:
            response = case.call(base_url=base_url, timeout=10, headers={"Authorization": f"Bearer {key}"})
            case.validate_response(response, checks=CHECKS)

        try:
            run()
        except Exception as exc:  # every failure is collected and reported at the end
            failures.append(f"{operation.label}: {str(exc)[:600]}")
    return operations, failures


@pytest.mark.slow
async def test_schemathesis_finds_no_server_error_and_no_answer_outside_the_document(db_url: str) -> None:
    # the engine and the delivery worker off: fuzzed policies and destinations page no one
    async with run_server(server_settings(db_url, engine=False, notifier=False)) as server:
        async with aiohttp.ClientSession() as http:
            async with http.get(server.http_url + "/api/v1/openapi.json") as r:
                document = await r.json()
        operations, failures = await asyncio.to_thread(fuzz, server.http_url, document, MAX_EXAMPLES,
                                                   server.admin_key)
    assert operations > 70
    assert failures == [], "\n\n".join(failures)
