"""Shared by the JIT tests: skip where the native runtime cannot map images."""
from __future__ import annotations

import pytest

from bpftime.errors import BpftimeError
from bpftime.runtime.native import native_library


def require_native_images() -> None:
    try:
        lib = native_library()
    except (BpftimeError, OSError) as err:
        pytest.skip(f"native runtime unavailable: {err}")
    if not hasattr(lib, "bpftime_image_map"):
        pytest.skip("the built native runtime lacks bpftime_image_map (rerun pip install -e .)")
