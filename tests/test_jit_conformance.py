"""The JIT through the run pipeline on the whole conformance suite: every test file
gives its `-- result`, every negative file fails."""
from __future__ import annotations

from pathlib import Path

import pytest

from bpftime.errors import BpftimeError
from bpftime.runner import execute, load_runnable
from conftest import CONFORMANCE
from jit_support import require_native_images

TESTS = sorted((CONFORMANCE / "tests").glob("*.data"))
NEGATIVE = sorted((CONFORMANCE / "negative").glob("*.data"))


@pytest.fixture(scope="module", autouse=True)
def _native() -> None:
    require_native_images()


@pytest.mark.parametrize("path", TESTS, ids=lambda p: p.name)
def test_conformance(path: Path) -> None:
    runnable = load_runnable(path)
    assert runnable.expected is not None
    assert execute(runnable, "jit").result == runnable.expected


@pytest.mark.parametrize("path", NEGATIVE, ids=lambda p: p.name)
def test_negative_fails(path: Path) -> None:
    try:
        runnable = load_runnable(path)
        result = execute(runnable, "jit")
    except BpftimeError as err:
        assert str(err) and "\n" not in str(err)
        return
    assert runnable.expected is not None, f"ran to {result.result:#x} though the file says it is invalid"
    assert result.result != runnable.expected


def test_repeat_reports_time_per_run() -> None:
    result = execute(load_runnable(CONFORMANCE / "tests" / "prime.data"), "jit", repeat=1000)
    assert result.result == 1
    assert result.ns_per_run is not None and 0 < result.ns_per_run < 100_000
