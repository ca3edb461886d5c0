"""A bounded, seeded Schemathesis run over every operation, authenticated as an operator, on both
databases: no 5xx, and every response matches the OpenAPI document (status, content type, schema)."""

from __future__ import annotations

import os

import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import checks

EXAMPLES = int(os.environ.get("FRESHGATE_FUZZ_EXAMPLES", "6"))  # per operation: a CI-sized run
CHECKS = [checks.not_a_server_error, checks.status_code_conformance, checks.content_type_conformance,
          checks.response_schema_conformance, checks.response_headers_conformance]
SKIP = {("POST", "/v1/conflicts/scan")}  # a full scan per example: covered by tests/conflicts


def test_every_operation_matches_its_spec(docs, operator_key, runtime):
    from freshgate.app import create_app

    schema = schemathesis.openapi.from_asgi("/openapi.json", create_app(runtime=runtime))
    headers = {"Authorization": f"Bearer {operator_key}"}
    failures, ran = [], 0
    for result in schema.get_all_operations():
        op = result.ok()
        if (op.method.upper(), op.path) in SKIP:
            continue
        seen: list[str] = []

        @settings(max_examples=EXAMPLES, derandomize=True, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck))
        @given(case=op.as_strategy())
        def run(case):
            try:
                case.call_and_validate(headers=headers, checks=CHECKS)
            except (Exception, BaseExceptionGroup) as exc:  # noqa: BLE001 - collect each operation's first failure
                if not seen:
                    seen.append(f"{op.method.upper()} {op.path}: {str(exc)[:600]}")
            finally:
                ran_here.append(1)

        ran_here: list[int] = []
        run()
        ran += len(ran_here)
        failures += seen
    print(f"\nschemathesis: {ran} cases, {len(failures)} operations failing, {EXAMPLES} examples per operation")
    assert ran > 100
    assert failures == [], "\n\n".join(failures)
