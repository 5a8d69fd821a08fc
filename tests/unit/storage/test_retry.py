from __future__ import annotations

import pytest

from deltaset.storage import retry


@pytest.fixture(autouse=True)
def no_waiting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(retry, "FIRST_WAIT_S", 0.0)


def flaky(failures: list[Exception], result: str = "done") -> tuple[list[int], object]:
    calls: list[int] = []

    def call() -> str:
        calls.append(1)
        if failures:
            raise failures.pop(0)
        return result

    return calls, call


def test_a_transient_failure_is_retried_until_it_works() -> None:
    calls, call = flaky([ConnectionError("cut"), TimeoutError("slow")])
    assert retry.retried(call, lambda exc: False) == "done"  # type: ignore[arg-type]
    assert len(calls) == 3


def test_an_answer_is_raised_at_once() -> None:
    calls, call = flaky([FileNotFoundError("missing")])
    with pytest.raises(FileNotFoundError):
        retry.retried(call, lambda exc: isinstance(exc, FileNotFoundError))  # type: ignore[arg-type]
    assert len(calls) == 1


def test_retrying_gives_up_with_the_last_error() -> None:
    calls, call = flaky([ConnectionError(str(i)) for i in range(10)])
    with pytest.raises(ConnectionError, match="2"):
        retry.retried(call, lambda exc: False, attempts=3)  # type: ignore[arg-type]
    assert len(calls) == 3
