"""Fuzz the API from its own OpenAPI document (schemathesis): every operation, at least 1,000 generated
requests in all, no server error, every response conforming to the document (status, type, body)."""

from __future__ import annotations

import collections

import pytest

from tests.serve.conftest import AUTH

EXAMPLES_PER_OPERATION = 80
MIN_REQUESTS = 1000


@pytest.mark.slow
def test_fuzz_the_openapi_document(make_client):
    pytest.importorskip("schemathesis")
    import hypothesis
    import schemathesis
    from schemathesis.checks import not_a_server_error
    from schemathesis.specs.openapi.checks import (
        content_type_conformance,
        response_schema_conformance,
        status_code_conformance,
    )

    client = make_client()
    schema = schemathesis.openapi.from_asgi("/openapi.json", client.app)
    checks = [
        not_a_server_error,
        status_code_conformance,
        content_type_conformance,
        response_schema_conformance,
    ]
    statuses: collections.Counter[int] = collections.Counter()
    failures: list[str] = []
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 18

    def fuzz(operation) -> None:
        @hypothesis.settings(
            max_examples=EXAMPLES_PER_OPERATION,
            deadline=None,
            database=None,
            derandomize=True,
            suppress_health_check=list(hypothesis.HealthCheck),
            phases=[hypothesis.Phase.explicit, hypothesis.Phase.generate],
        )
        @hypothesis.given(case=operation.as_strategy())
        def run(case):
            response = case.call(headers=AUTH)
            statuses[response.status_code] += 1
            try:
                case.validate_response(response, checks=checks)
            except Exception as exc:  # keep going: report every operation that fails
                failures.append(f"{operation.label}: {str(exc)[:400]}")

        run()

    for operation in operations:
        fuzz(operation)
    total = sum(statuses.values())
    print(
        f"fuzz: {total} requests over {len(operations)} operations, statuses {dict(sorted(statuses.items()))}"
    )
    assert not failures, "\n".join(failures[:10])
    assert total >= MIN_REQUESTS and not any(code >= 500 for code in statuses)
