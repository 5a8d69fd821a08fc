"""The server's API fuzzed against its own OpenAPI schema (schemathesis): whatever a client
sends, no answer is a 5xx and every answer matches the schema."""

from __future__ import annotations

import atexit
import json
import shutil
import tempfile
from pathlib import Path

import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import Case
from schemathesis.checks import negative_data_rejection, positive_data_acceptance

from deltaset.server.app import create_app
from deltaset.server.run import open_server


@schemathesis.serializer("application/x-ndjson")
def _ndjson(ctx: object, value: object) -> bytes:
    """Staged changes travel as lines of JSON; the schema calls the body a string."""
    return value.encode() if isinstance(value, str) else json.dumps(value).encode()


# Made when the module is collected: schemathesis reads the schema then, to make one test per
# operation. One server per test process, removed when the module's tests are done.
_FOLDER = Path(tempfile.mkdtemp(prefix="deltaset-fuzz-"))
_SERVER = open_server(f"sqlite:///{_FOLDER / 'server.db'}", str(_FOLDER / "storage"), "http://x")
_TOKEN, _ = _SERVER.tokens.create("fuzzer")
schema = schemathesis.openapi.from_asgi("/openapi.json", create_app(_SERVER))


@atexit.register  # also in test processes that collect these tests but run none of them
def _remove_the_server() -> None:
    _SERVER.catalog.close()
    shutil.rmtree(_FOLDER, ignore_errors=True)


@schema.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_server_error_and_no_schema_violation(case: Case) -> None:
    # Every check of what the server answers; not the two that judge how strict it is with
    # requests (FastAPI takes the last of a query parameter given twice, and a name pattern
    # that is no regex is refused though the schema cannot say so).
    case.call_and_validate(
        headers={"Authorization": f"Bearer {_TOKEN}"},
        excluded_checks=[negative_data_rejection, positive_data_acceptance],
    )


def test_the_schema_documents_every_route() -> None:
    paths = schema.raw_schema["paths"]
    assert "/api/v1/versions" in paths
    assert "/api/v1/objects/{key}" in paths
    assert len(paths) >= 14
