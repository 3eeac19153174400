"""Helpers the load tests share (no tests here): the examples' build module, and
building with a skip when a compiler is missing."""
from __future__ import annotations

import importlib.util
from functools import cache
from pathlib import Path
from types import ModuleType

import pytest

REPO = Path(__file__).resolve().parents[1]


@cache
def examples_build() -> ModuleType:
    """examples/build.py as a module (build_host, build_object, BPF_FLAGS, …)."""
    spec = importlib.util.spec_from_file_location("examples_build", REPO / "examples" / "build.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def host(opt: str = "O2", pie: bool = True, cet: bool = False) -> Path:
    """The demo host variant; skips the test when cc is missing or fails."""
    build = examples_build()
    try:
        return build.build_host(opt, pie, cet)
    except build.BuildError as err:
        pytest.skip(str(err))


def example_object(name: str) -> Path:
    """An example's BPF object; skips the test when clang is missing or fails."""
    build = examples_build()
    try:
        return build.build_object(name)
    except build.BuildError as err:
        pytest.skip(str(err))


def compile_bpf(source: Path) -> Path:
    """A test's own BPF C file, compiled next to it with the examples' flags."""
    build = examples_build()
    obj = source.with_suffix(".o")
    try:
        return build._compile(["clang", *build.BPF_FLAGS, "-c", str(source)], source, obj)
    except build.BuildError as err:
        pytest.skip(str(err))
