"""Program images mapped executable in this process, their link tables filled."""
from __future__ import annotations

import ctypes
from dataclasses import dataclass

from bpftime.errors import BpftimeError
from bpftime.runtime.native import native_library


@dataclass
class MappedImage:
    """An executable copy of JIT output: `base` is its address, `size` its length."""

    base: int
    size: int

    def close(self) -> None:
        if self.base:
            native_library().bpftime_image_unmap(self.base, self.size)
            self.base = 0

    def __enter__(self) -> "MappedImage":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def map_image(code: bytes, slots_offset: int, slot_values: list[int]) -> MappedImage:
    """Maps `code` RX with `slot_values` written as 8-byte slots at `slots_offset`."""
    table = (ctypes.c_uint64 * max(1, len(slot_values)))(*slot_values)
    base = native_library().bpftime_image_map(code, len(code), slots_offset, table, len(slot_values))
    if not base:
        err = ctypes.get_errno()
        raise BpftimeError(f"cannot map a program image of {len(code)} bytes "
                           f"(slots at {slots_offset}): errno {err}")
    return MappedImage(base, len(code))
