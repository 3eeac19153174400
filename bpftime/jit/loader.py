"""Linking and running program images in this process (for `bpftime run` and tests).

`slot_values` computes every link-table slot from a `Resolver`; `LoadedImage` maps
the image with the native runtime (`bpftime.runtime.image.map_image`) and calls its entry as
`uint64_t prog(void *ctx, uint64_t len)`. `LoadedImage.repeat` times N runs in a
native loop (itself a tiny JIT-emitted function), like BPF_PROG_TEST_RUN's repeat.
"""
from __future__ import annotations

import ctypes
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache

from bpftime.jit import x86
from bpftime.jit.errors import LinkError
from bpftime.jit.image import ProgramImage, Slot, SlotKind
from bpftime.runtime.image import map_image

PROG = ctypes.CFUNCTYPE(ctypes.c_uint64, ctypes.c_void_p, ctypes.c_uint64)
REPEAT = ctypes.CFUNCTYPE(ctypes.c_uint64, ctypes.c_void_p, ctypes.c_void_p,
                          ctypes.c_uint64, ctypes.c_uint64)


@dataclass
class Resolver:
    """Where link-table values come from. `helper(id)` returns an address or 0;
    `maps[i]` is map i's handle, `map_values[i]` the address of its value (global
    data); `externs[i]` the address of extern i; `counter` the address of the u64
    a counting image adds executed instructions to."""

    helper: Callable[[int], int]
    maps: Sequence[int] = ()
    map_values: Sequence[int] = ()
    externs: Sequence[int] = ()
    counter: int = 0

    def value(self, slot: Slot) -> int:
        kind, i = slot.kind, slot.index
        if kind == SlotKind.HELPER:
            return self.helper(i) or 0
        if kind == SlotKind.COUNTER:
            return self.counter
        table = {SlotKind.MAP: self.maps, SlotKind.MAP_VALUE: self.map_values,
                 SlotKind.EXTERN_FUNC: self.externs, SlotKind.EXTERN_VAR: self.externs}[kind]
        if not 0 <= i < len(table) or not table[i]:
            return 0
        return table[i] + (slot.arg if kind == SlotKind.MAP_VALUE else 0)


def slot_values(image: ProgramImage, resolver: Resolver) -> list[int]:
    """The value of every slot; LinkError (naming the first instruction that uses
    it) for one that cannot be filled."""
    values = []
    for i, slot in enumerate(image.slots):
        value = resolver.value(slot)
        if not value:
            where = f"instruction {image.first_use[i]}: " if i < len(image.first_use) else ""
            raise LinkError(f"{where}{slot.describe()} is not available in this runtime")
        values.append(value)
    return values


class LoadedImage:
    """An image mapped executable in this process (by the native runtime), its
    slots filled with `values`."""

    def __init__(self, image: ProgramImage, values: list[int]):
        self.image = image
        self.mapped = map_image(image.code.ljust(image.size, b"\0"), image.slots_offset, values)
        self._fn = PROG(self.entry)

    @property
    def entry(self) -> int:
        return self.mapped.base + self.image.entry_offset

    def __call__(self, ctx: int, length: int) -> int:
        return self._fn(ctx, length)

    def repeat(self, ctx: int, length: int, n: int) -> tuple[int, float]:
        """Run n (>= 1) times in a native loop: (last r0, mean ns per run). Time is
        this thread's CPU time, so that time spent descheduled on a busy machine is
        not counted, as the kernel's BPF_PROG_TEST_RUN timer does not count it."""
        loop = _repeat_loop()
        start = time.thread_time_ns()
        r0 = loop.fn(self.entry, ctx, length, n)
        return r0, (time.thread_time_ns() - start) / n

    def close(self) -> None:
        self.mapped.close()

    def __enter__(self) -> "LoadedImage":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _RepeatLoop:
    """uint64_t loop(prog, ctx, len, n): calls prog(ctx, len) n times, returns the
    last result. Emitted once per process."""

    def __init__(self) -> None:
        e = x86.Emitter()
        saved = (x86.RBX, x86.R12, x86.R13, x86.R14, x86.R15)  # 5 pushes: rsp aligned
        for reg in saved:
            e.push(reg)
        for dst, src in ((x86.RBX, x86.RDI), (x86.R12, x86.RSI), (x86.R13, x86.RDX),
                         (x86.R14, x86.RCX)):
            e.mov_rr(dst, src)
        top = e.pos
        e.mov_rr(x86.RDI, x86.R12)
        e.mov_rr(x86.RSI, x86.R13)
        e.call_reg(x86.RBX)
        e.alu_ri(x86.EXT_SUB, x86.R14, 1)
        e.jump("top", x86.CC_NE, short=True)
        for reg in reversed(saved):
            e.pop(reg)
        e.ret()
        e.resolve({"top": top})
        self.image = LoadedImage(ProgramImage(bytes(e.buf), []), [])
        self.fn = REPEAT(self.image.entry)


@lru_cache(maxsize=1)
def _repeat_loop() -> _RepeatLoop:
    return _RepeatLoop()
