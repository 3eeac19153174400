"""The interpreter's memory: real process memory, accessed only inside known regions.

The stacks and the input are ctypes buffers, so their addresses are real and native
helpers can be handed them. Every load and store is first checked against the
regions the program may touch: the stack frames of the current call chain, the
input, and regions added at run time (map values returned by helpers, ringbuf
records, global data).
"""
from __future__ import annotations

import ctypes
import struct
from bisect import bisect_right
from dataclasses import dataclass, field

from bpftime.errors import RuntimeFault
from bpftime.isa import MAX_CALL_FRAMES, STACK_SIZE

# width in bytes -> (unsigned, signed) little-endian codecs
CODECS: dict[int, tuple[struct.Struct, struct.Struct]] = {
    1: (struct.Struct("<B"), struct.Struct("<b")),
    2: (struct.Struct("<H"), struct.Struct("<h")),
    4: (struct.Struct("<I"), struct.Struct("<i")),
    8: (struct.Struct("<Q"), struct.Struct("<q")),
}


@dataclass
class Region:
    """[base, base+size) of real memory the program may access."""

    base: int
    size: int
    writable: bool
    name: str
    view: memoryview
    end: int = field(init=False)

    def __post_init__(self) -> None:
        self.end = self.base + self.size


def view_at(address: int, size: int) -> memoryview:
    """A byte view of `size` bytes of this process's memory at `address`."""
    return memoryview((ctypes.c_ubyte * size).from_address(address)).cast("B")


class Memory:
    """The stack of MAX_CALL_FRAMES frames of STACK_SIZE bytes (frame 0 at the top,
    growing down), the input, and the regions added while running."""

    def __init__(self, frames: int = MAX_CALL_FRAMES):
        size = STACK_SIZE * frames
        self._stack = (ctypes.c_ubyte * size)()
        self.stack_base = ctypes.addressof(self._stack)
        self.stack_top = self.stack_base + size
        self.stack_lo = self.stack_top - STACK_SIZE  # lowest byte of the deepest live frame
        self.stack_view = memoryview(self._stack).cast("B")
        self._input: ctypes.Array | None = None
        self.input_base = 0
        self.input_len = 0
        self.fixed: list[Region] = []     # regions of every run (global data)
        self.regions: list[Region] = []   # fixed + the input + those added this run, by base
        self._starts: list[int] = []      # their bases, for bisection
        self._bases: set[tuple[int, int]] = set()

    # --- set-up ------------------------------------------------------------------
    def add_fixed(self, base: int, size: int, writable: bool, name: str) -> Region:
        """A region valid in every run (e.g. a global-data map's value)."""
        region = Region(base, size, writable, name, view_at(base, size))
        self.fixed.append(region)
        return region

    def start(self, data: bytes | None) -> tuple[int, int]:
        """Reset for a new run with `data` as the input; (input address or 0, length)."""
        self.stack_lo = self.stack_top - STACK_SIZE
        ctypes.memset(self.stack_lo, 0, STACK_SIZE)
        self.regions, self._starts, self._bases = [], [], set()
        for region in self.fixed:
            self._insert(region)
        if not data:
            self._input = None
            self.input_base = self.input_len = 0
            return 0, 0
        self._input = (ctypes.c_ubyte * len(data)).from_buffer_copy(data)
        base = self.input_base = ctypes.addressof(self._input)
        self.input_len = len(data)
        self._insert(Region(base, len(data), True, "input", memoryview(self._input).cast("B")))
        return base, len(data)

    def input_bytes(self) -> bytes:
        """The input as the program left it."""
        return bytes(self._input) if self._input is not None else b""

    def add_region(self, base: int, size: int, writable: bool, name: str) -> None:
        """Allow [base, base+size) for the rest of this run (a helper returned it)."""
        if size > 0 and (base, size) not in self._bases:
            self._insert(Region(base, size, writable, name, view_at(base, size)))

    def _insert(self, region: Region) -> None:
        i = bisect_right(self._starts, region.base)
        self._starts.insert(i, region.base)
        self.regions.insert(i, region)
        self._bases.add((region.base, region.size))

    def region_at(self, base: int, name: str) -> Region | None:
        """The region added under `name` that starts at `base`, if any."""
        for r in self.regions:
            if r.base == base and r.name == name:
                return r
        return None

    def remove_region(self, region: Region) -> None:
        """Forbid a region again (e.g. a ringbuf record once submitted)."""
        i = self.regions.index(region)
        del self.regions[i], self._starts[i]
        self._bases.discard((region.base, region.size))

    # --- frames ------------------------------------------------------------------
    def push_frame(self) -> None:
        """Open a fresh, zeroed frame below the current one."""
        self.stack_lo -= STACK_SIZE
        ctypes.memset(self.stack_lo, 0, STACK_SIZE)

    def pop_frame(self) -> None:
        self.stack_lo += STACK_SIZE

    # --- access ------------------------------------------------------------------
    def _find(self, addr: int, n: int, write: bool, pc: int) -> tuple[memoryview, int]:
        i = bisect_right(self._starts, addr) - 1
        if i >= 0:  # the region starting last at or before addr (regions rarely nest)
            r = self.regions[i]
            if addr + n <= r.end and (r.writable or not write):
                return r.view, addr - r.base
        for r in self.regions:  # nested regions, and the reason of a fault
            if r.base <= addr and addr + n <= r.end:
                if write and not r.writable:
                    raise RuntimeFault(pc, f"write of {n} bytes to read-only {r.name} at {addr:#x}")
                return r.view, addr - r.base
        what = "write" if write else "read"
        if self.stack_base <= addr < self.stack_top or self.stack_base < addr + n <= self.stack_top:
            raise RuntimeFault(pc, f"invalid {what} of {n} bytes at {addr:#x}: "
                                   "outside the live stack frames")
        raise RuntimeFault(pc, f"invalid {what} of {n} bytes at {addr:#x}: "
                               "not in the stack, the input or a map value")

    def load(self, addr: int, n: int, codec: struct.Struct, pc: int) -> int:
        """Read `n` bytes at `addr` with `codec` (see CODECS)."""
        if self.stack_lo <= addr and addr + n <= self.stack_top:
            return codec.unpack_from(self.stack_view, addr - self.stack_base)[0]
        view, off = self._find(addr, n, False, pc)
        return codec.unpack_from(view, off)[0]

    def store(self, addr: int, n: int, codec: struct.Struct, value: int, pc: int) -> None:
        """Write the low `n` bytes of `value` at `addr` with the unsigned `codec`."""
        value &= (1 << (8 * n)) - 1
        if self.stack_lo <= addr and addr + n <= self.stack_top:
            codec.pack_into(self.stack_view, addr - self.stack_base, value)
            return
        view, off = self._find(addr, n, True, pc)
        codec.pack_into(view, off, value)

    def check(self, addr: int, n: int, write: bool, pc: int) -> memoryview:
        """A view of [addr, addr+n) if the program may access it (for packet loads
        and helpers implemented in Python)."""
        if self.stack_lo <= addr and addr + n <= self.stack_top:
            off = addr - self.stack_base
            return self.stack_view[off:off + n]
        view, off = self._find(addr, n, write, pc)
        return view[off:off + n]

    def string_length(self, addr: int, pc: int) -> int:
        """The length of the NUL-terminated string at `addr`, which must end (NUL
        included) in memory the program may read (for helpers' string arguments)."""
        if self.stack_lo <= addr < self.stack_top:
            view, off = self.stack_view, addr - self.stack_base
        else:
            view, off = self._find(addr, 1, False, pc)
        n = bytes(view[off:]).find(0)
        if n < 0:
            raise RuntimeFault(pc, f"the string at {addr:#x} has no NUL before the end of "
                                   "its memory")
        return n
