"""Helper implementations of the native runtime, by kernel helper id."""
from __future__ import annotations

from bpftime.runtime.native import native_library


def helper_address(helper_id: int) -> int:
    """Address of the native function implementing helper `helper_id`, 0 if the runtime
    lacks it. Each is `uint64_t f(uint64_t r1, …, uint64_t r5)` (System V)."""
    return native_library().bpftime_helper_address(helper_id) or 0


def helper_available(helper_id: int) -> bool:
    """Whether the runtime implements helper `helper_id` (for load-time refusal)."""
    return helper_address(helper_id) != 0
