"""The `jit` engine of `bpftime run`: compile, link and run a program in this process.

The program gets r1 = a copy of the input and r2 = its length (r1 = 0 without input);
an XDP program gets r1 = an `XdpContext` whose data/data_end bound the input packet.
An object's maps live in a private session of the native runtime for the run.
With `count_instructions`, the program (and its tail-call targets) are compiled in
counting mode into one counter, so a run reports the instructions it executed.
"""
from __future__ import annotations

import ctypes
import weakref
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from bpftime.errors import LoadError
from bpftime.jit.codegen import compile_program
from bpftime.jit.errors import CompileError
from bpftime.jit.loader import LoadedImage, Resolver, slot_values
from bpftime.jit.xdp import XdpContext, rewrite_xdp_context
from bpftime.kernel_abi import MapType

if TYPE_CHECKING:
    from bpftime.elf.model import BpfObject
    from bpftime.runner import Runnable

HELPER = ctypes.CFUNCTYPE(ctypes.c_uint64, *[ctypes.c_uint64] * 5)


def _harness_helper(*_args: int) -> int:
    """The conformance suite's `call 5`: takes r1..r5, returns 0."""
    return 0


_HARNESS = HELPER(_harness_helper)


class ObjectMaps:
    """An object's maps created in a private session, removed when this is dropped."""

    def __init__(self, obj: "BpfObject"):
        from bpftime.runtime import Session

        self.obj = obj
        self.session = Session.create()
        weakref.finalize(self, _drop_session, self.session)
        self.maps = [self.session.create_map_from(d) for d in obj.maps]
        self.handles = [m.handle for m in self.maps]
        self.values = [(m.value_address(bytes(4)) or 0) if d.is_global_data else 0
                       for m, d in zip(self.maps, obj.maps)]

    def fill_prog_arrays(self, runnable: "Runnable", verify: "Callable[[Runnable], None] | None",
                         enter: "Callable[[Runnable], int]") -> None:
        """Enter the programs named in the prog_arrays' initial values (libbpf's
        `.values = { [i] = &prog }`), as libbpf does: each is verified with `verify`,
        prepared by `enter` (which returns what its slot holds: the engine's handle of
        the program) and stored in its slot."""
        for m, d in zip(self.maps, self.obj.maps):
            if d.type != MapType.PROG_ARRAY:
                continue
            for index, name in sorted(d.inner_init.items()):
                program = self.obj.program(name)
                target = replace(runnable, source=f"{self.obj.path}:{program.name}",
                                 insns=program.insns, program=program)
                if verify is not None:
                    verify(target)
                m.update(index.to_bytes(4, "little"), enter(target).to_bytes(8, "little"))

    def dump(self) -> dict[str, Any]:
        from bpftime.jit.mapdump import dump_maps
        return dump_maps(self.maps, self.obj.maps, self.obj.btf)


def _drop_session(session: Any) -> None:
    session.close()
    session.unlink()


class JitExecutor:
    """A compiled, mapped program; calling it runs it once on an input. Programs of
    the object named in a prog_array's initial values (`.values = { [i] = &prog }`)
    are verified with `verify`, compiled and entered in the map, as libbpf does.
    With `count_instructions` a call reports the instructions the run executed."""

    def __init__(self, runnable: "Runnable", verify: "Callable[[Runnable], None] | None" = None,
                 count_instructions: bool = False):
        obj = runnable.obj
        if obj is not None and obj.externs:
            names = ", ".join(e.name for e in obj.externs)
            raise LoadError(f"{runnable.source}: externs ({names}) are resolved against a host: "
                            "use bpftime load/attach")
        self.xdp = is_xdp(runnable)
        if runnable.kind == "data":  # the suite's own harness helpers stand in for the runtime's
            harness = ctypes.cast(_HARNESS, ctypes.c_void_p).value or 0
            helper = {i: harness for i in runnable.helpers}.get
        else:
            from bpftime.runtime.helpers import helper_address as helper
        self.maps = ObjectMaps(obj) if obj is not None and obj.maps else None
        self.counter = ctypes.c_uint64() if count_instructions else None
        self.resolver = Resolver(helper=lambda i: helper(i) or 0,
                                 maps=self.maps.handles if self.maps else (),
                                 map_values=self.maps.values if self.maps else (),
                                 counter=ctypes.addressof(self.counter) if self.counter is not None else 0)
        self.loaded = self._load(runnable)
        self.targets: list[LoadedImage] = []
        if self.maps is not None:
            self.maps.fill_prog_arrays(runnable, verify, self._enter)

    def _load(self, runnable: "Runnable") -> LoadedImage:
        insns = rewrite_xdp_context(runnable.insns) if is_xdp(runnable) else runnable.insns
        try:
            image = compile_program(insns, helper_available=lambda i: bool(self.resolver.helper(i)),
                                    count_instructions=self.counter is not None)
        except CompileError as err:
            err.message = f"{runnable.source}: {err.message}"
            raise
        return LoadedImage(image, slot_values(image, self.resolver))

    def _enter(self, target: "Runnable") -> int:
        """Compile a tail-call target: its entry, as its prog_array slot holds it."""
        self.targets.append(self._load(target))
        return self.targets[-1].entry

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
        """(r0, instructions executed when counting, else None)."""
        r1, r2, _keep = self._args(data)
        if self.counter is None:
            return self.loaded(r1, r2), None
        self.counter.value = 0
        r0 = self.loaded(r1, r2)
        return r0, self.counter.value

    def timed(self, data: bytes | None, repeat: int) -> tuple[int, float]:
        """Run `repeat` times in a native loop on one copy of the input:
        (last r0, mean ns per run)."""
        r1, r2, _keep = self._args(data)
        return self.loaded.repeat(r1, r2, repeat)

    def dump_maps(self) -> dict[str, Any]:
        """The maps after the runs (see bpftime.jit.mapdump)."""
        return self.maps.dump() if self.maps else {"maps": {}}


def is_xdp(runnable: "Runnable") -> bool:
    return runnable.program is not None and runnable.program.attach.kind == "xdp"


def jit_engine(runnable: "Runnable", verify: "Callable[[Runnable], None] | None" = None,
               count_instructions: bool = False) -> JitExecutor:
    return JitExecutor(runnable, verify, count_instructions)
