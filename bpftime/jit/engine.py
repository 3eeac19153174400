"""The `jit` engine of `bpftime run`: compile, link and run a program in this process.

The program gets r1 = a copy of the input and r2 = its length (r1 = 0 without input);
an XDP program gets r1 = an `XdpContext` whose data/data_end bound the input packet.
"""
from __future__ import annotations

import ctypes
from typing import TYPE_CHECKING

from bpftime.errors import LoadError
from bpftime.jit.codegen import compile_program
from bpftime.jit.loader import LoadedImage, Resolver, slot_values
from bpftime.jit.xdp import XdpContext, rewrite_xdp_context

if TYPE_CHECKING:
    from bpftime.runner import Runnable

HELPER = ctypes.CFUNCTYPE(ctypes.c_uint64, *[ctypes.c_uint64] * 5)


def _harness_helper(*_args: int) -> int:
    """The conformance suite's `call 5`: takes r1..r5, returns 0."""
    return 0


_HARNESS = HELPER(_harness_helper)


class JitExecutor:
    """A compiled, mapped program; calling it runs it once on an input."""

    def __init__(self, runnable: "Runnable"):
        if runnable.obj is not None and (runnable.obj.maps or runnable.obj.externs):
            raise LoadError(f"{runnable.source}: programs with maps or externs need the native "
                            "runtime's sessions (bpftime.runtime), which is not available yet")
        insns = runnable.insns
        self.xdp = runnable.program is not None and runnable.program.attach.kind == "xdp"
        if self.xdp:
            insns = rewrite_xdp_context(insns)
        if runnable.kind == "data":  # the suite's own harness helpers stand in for the runtime's
            harness = ctypes.cast(_HARNESS, ctypes.c_void_p).value or 0
            helper = {i: harness for i in runnable.helpers}.get
        else:
            from bpftime.runtime.helpers import helper_address as helper
        resolver = Resolver(helper=lambda i: helper(i) or 0)
        image = compile_program(insns, helper_available=lambda i: bool(resolver.helper(i)))
        self.loaded = LoadedImage(image, slot_values(image, resolver))

    def _args(self, data: bytes | None) -> tuple[int, int, list[object]]:
        """(r1, r2, objects to keep alive while the program runs)."""
        if data is None and not self.xdp:
            return 0, 0, []
        data = data or b""
        buf = (ctypes.c_ubyte * max(1, len(data))).from_buffer_copy(data.ljust(1, b"\0"))
        start = ctypes.addressof(buf)
        if not self.xdp:
            return start, len(data), [buf]
        ctx = XdpContext(data=start, data_end=start + len(data), data_meta=start)
        return ctypes.addressof(ctx), len(data), [buf, ctx]

    def __call__(self, data: bytes | None) -> tuple[int, int | None]:
        r1, r2, _keep = self._args(data)
        return self.loaded(r1, r2), None

    def timed(self, data: bytes | None, repeat: int) -> tuple[int, float]:
        """Run `repeat` times in a native loop on one copy of the input:
        (last r0, mean ns per run)."""
        r1, r2, _keep = self._args(data)
        return self.loaded.repeat(r1, r2, repeat)


def jit_engine(runnable: "Runnable") -> JitExecutor:
    return JitExecutor(runnable)
