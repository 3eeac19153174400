"""The `bpftime run` pipeline: load a program, verify it, execute it on an engine.

    runnable = load_runnable("prog.asm", mem=b"...")   # parse only
    result = execute(runnable, engine="interp", repeat=1)   # verify, then run

A program is an ELF object (`bpftime.elf.load_object`), an assembly file (`.asm`,
`.s`) or a conformance `.data` file (whose `-- mem` is the input unless `mem` is
given). Engines are looked up by name in `ENGINES`.
"""
from __future__ import annotations

import ctypes
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from bpftime.errors import DecodeError, LoadError, RuntimeFault
from bpftime.isa import OPCODE_CALL, CallKind, Insn, validate_program

if TYPE_CHECKING:
    from bpftime.elf.model import BpfObject, Program
    from bpftime.policy import Policy
    from bpftime.verifier import VerifyResult
    from bpftime.vm.machine import Helper
    from bpftime.vm.memory import Memory

ELF_MAGIC = b"\x7fELF"
ASM_SUFFIXES = (".asm", ".s")


@dataclass
class Runnable:
    """A loaded program and its input. `helpers` are the interpreter's own helpers
    for this kind of program (the conformance harness for `.data` files)."""

    source: str
    insns: list[Insn]
    mem: bytes | None
    kind: str                                  # "elf", "asm" or "data"
    helpers: dict[int, "Helper"] = field(default_factory=dict)
    obj: "BpfObject | None" = None
    program: "Program | None" = None
    expected: int | None = None                # a conformance file's `-- result`


@dataclass(frozen=True)
class RunResult:
    """r0 (unsigned 64-bit) of the last run; instructions executed in it (None if
    the engine does not count); mean wall time of a run in ns."""

    result: int
    instructions: int | None
    ns_per_run: float | None
    maps: dict | None = None    # with dump_maps: {"maps": {NAME: [{"key": K, "value": V}, …]}}


# An engine prepares a runnable once and returns a function running it on an input:
# input -> (r0, instructions executed or None).
Executor = Callable[[bytes | None], tuple[int, int | None]]


class Engine(Protocol):
    """Prepares `runnable`; with `count` its runs report the instructions they
    execute (an engine may count anyway)."""

    def __call__(self, runnable: Runnable, count: bool = False) -> Executor: ...


class InterpExecutor:
    """The `interp` engine: the reference interpreter over the runtime's native
    helpers, with an object's maps in a private session for the run. The programs
    an object's prog_arrays hold from the start are verified with `verify` and
    appended to the program's instructions; their slots hold their entries (see
    `bpftime.vm.compile.func_address`), where bpf_tail_call goes."""

    def __init__(self, runnable: Runnable, verify: Callable[[Runnable], None] | None = None):
        from bpftime.jit.engine import is_xdp
        from bpftime.vm.compile import func_address
        from bpftime.vm.helpers import with_bpf_loop
        from bpftime.vm.machine import Bindings, FixedRegion, Machine

        obj = runnable.obj
        if obj is not None and obj.externs:
            names = ", ".join(e.name for e in obj.externs)
            raise LoadError(f"{runnable.source}: externs ({names}) are resolved against a host: "
                            "use bpftime load/attach")
        self.maps = None
        bindings = Bindings()
        insns = _engine_insns(runnable)
        if obj is not None and obj.maps:
            from bpftime.jit.engine import ObjectMaps

            self.maps = ObjectMaps(obj)
            bindings.map_handles = self.maps.handles
            bindings.map_values = [v or None for v in self.maps.values]
            bindings.regions = [FixedRegion(v, m.value_size, not d.section.startswith(".rodata"), d.name)
                                for v, m, d in zip(self.maps.values, self.maps.maps, obj.maps) if v]

            def enter(target: Runnable) -> int:
                start = len(insns)
                insns.extend(_engine_insns(target))
                return func_address(start)
            self.maps.fill_prog_arrays(runnable, verify, enter)
        bindings.helpers = with_bpf_loop({**self._native_helpers(runnable, insns), **runnable.helpers})
        self.context = self._xdp_context if is_xdp(runnable) else None
        self.machine = Machine(insns, bindings)

    def _native_helpers(self, runnable: Runnable, insns: list[Insn]) -> dict[int, "Helper"]:
        """The runtime's helpers for every helper the program (or a program it
        tail-calls) calls; none for the conformance suite, whose harness helpers stand in."""
        ids = {i.imm for i in insns if i.opcode == OPCODE_CALL and i.src == CallKind.HELPER}
        if runnable.kind == "data" or not ids:
            return {}
        from bpftime.runtime import helper_address
        from bpftime.vm.native import MapInfo, native_helpers

        maps = self.maps.maps if self.maps is not None else []
        infos = {m.handle: MapInfo(m.name, m.key_size, m.value_size) for m in maps}
        return native_helpers(ids, helper_address, infos)

    def __call__(self, data: bytes | None) -> tuple[int, int | None]:
        return self.machine.run(data, context=self.context), self.machine.executed

    def _xdp_context(self, mem: "Memory", data: int, size: int) -> int:
        """r1 of an XDP program: a read-only context bounding the input packet."""
        from bpftime.jit.xdp import XdpContext

        self._ctx = XdpContext(data=data, data_end=data + size, data_meta=data)
        address = ctypes.addressof(self._ctx)
        mem.add_region(address, ctypes.sizeof(self._ctx), False, "xdp context")
        return address

    def dump_maps(self) -> dict:
        """The maps after the runs (as the jit engine reports them)."""
        return self.maps.dump() if self.maps is not None else {"maps": {}}


def _engine_insns(runnable: Runnable) -> list[Insn]:
    """The instructions as the interpreter runs them: an XDP program's struct xdp_md
    loads become pointer loads, as the kernel does."""
    from bpftime.jit.engine import is_xdp
    from bpftime.jit.xdp import rewrite_xdp_context

    if not is_xdp(runnable):
        return list(runnable.insns)
    return rewrite_xdp_context(runnable.insns)


def _interp(runnable: Runnable, count: bool = False) -> Executor:
    # counts every run; verify: tail-call targets in the object's prog arrays
    return InterpExecutor(runnable, verify)


def _jit(runnable: Runnable, count: bool = False) -> Executor:
    from bpftime.jit.engine import jit_engine
    # verify: tail-call targets in the object's prog arrays; count: a counting image
    return jit_engine(runnable, verify, count)


ENGINES: dict[str, Engine] = {"interp": _interp, "jit": _jit}


def load_runnable(path: str | Path, prog: str | None = None,
                  mem: bytes | None = None) -> Runnable:
    """Parse `path` into a Runnable; `prog` picks a program of an ELF object, `mem`
    is the input (it overrides a `.data` file's `-- mem`)."""
    path = Path(path)
    try:
        head = path.open("rb").read(4)
    except OSError as err:
        raise LoadError(f"{path}: cannot read: {err.strerror}") from None
    if head == ELF_MAGIC:
        return _load_elf(path, prog, mem)
    if prog is not None:
        raise LoadError(f"{path}: --prog applies only to ELF objects")
    if path.suffix == ".data":
        from bpftime.conformance_file import load_conformance
        from bpftime.vm.helpers import CONFORMANCE_HELPERS

        conf = load_conformance(path)
        return Runnable(str(path), conf.insns, mem if mem is not None else conf.mem, "data",
                        dict(CONFORMANCE_HELPERS), expected=conf.result)
    if path.suffix in ASM_SUFFIXES:
        from bpftime.asm import assemble

        try:
            text = path.read_text()
        except UnicodeDecodeError:
            raise LoadError(f"{path}: not a text file") from None
        return Runnable(str(path), assemble(text, str(path)), mem, "asm")
    raise LoadError(f"{path}: unknown program format: expected an ELF object, "
                    "an assembly file (.asm, .s) or a conformance file (.data)")


def _load_elf(path: Path, prog: str | None, mem: bytes | None) -> Runnable:
    from bpftime.elf import load_object

    obj = load_object(str(path))
    if not obj.programs:
        raise LoadError(f"{path}: the object has no programs")
    if prog is None:
        if len(obj.programs) > 1:
            names = ", ".join(p.name for p in obj.programs)
            raise LoadError(f"{path}: the object has {len(obj.programs)} programs; "
                            f"choose one with --prog ({names})")
        program = obj.programs[0]
    else:
        program = obj.program(prog)
    return Runnable(f"{path}:{program.name}", program.insns, mem, "elf",
                    obj=obj, program=program)


def run_policy(runnable: Runnable) -> Policy:
    """The class a program runs under in this process: r1 = the input, r2 = its size
    (an XDP program of an object sees struct xdp_md); every helper the runtime has."""
    from dataclasses import replace

    from bpftime.runtime import helper_available
    from bpftime.verifier import ContextKind, memory_policy

    policy = memory_policy(len(runnable.mem or b""))
    policy = replace(policy, helpers=frozenset(h for h in policy.helpers if helper_available(h)))
    if runnable.program is not None and runnable.program.attach.kind == "xdp":
        policy = replace(policy, context=ContextKind.XDP)
    return policy


def verify(runnable: Runnable, log: Callable[[str], None] | None = None) -> VerifyResult:
    """The static checks a program passes before any engine runs it: the
    instruction set's validation, then the verifier under `run_policy`."""
    from bpftime.verifier import verify as verify_insns
    from bpftime.verifier import verify_program

    try:
        validate_program(runnable.insns)
    except DecodeError as err:
        err.message = f"{runnable.source}: {err.message}"
        raise
    policy = run_policy(runnable)
    if runnable.program is None:
        return verify_insns(runnable.insns, maps=[], policy=policy, name=runnable.source, log=log)
    return verify_program(runnable.program, runnable.obj, policy, log=log)


def execute(runnable: Runnable, engine: str = "interp", repeat: int = 1,
            dump_maps: bool = False, count: bool = False) -> RunResult:
    """Verify `runnable`, then run it `repeat` times on `engine` with its input;
    with `dump_maps`, the result holds every map as it is after the runs; with
    `count` and a single run, the instructions it executed (the jit runs a counting
    image for that; timed repeats run the normal one)."""
    make = ENGINES.get(engine)
    if make is None:
        raise LoadError(f"unknown engine '{engine}' (engines: {', '.join(sorted(ENGINES))})")
    if repeat < 1:
        raise LoadError(f"--repeat must be at least 1, not {repeat}")
    verify(runnable)
    count = count and repeat == 1
    run = make(runnable, count)
    timed = getattr(run, "timed", None)
    if timed is not None and not count:  # the engine times its runs natively (the JIT)
        result, ns_per_run = timed(runnable.mem, repeat)
        executed = None
    else:
        start = time.perf_counter_ns()
        try:
            for _ in range(repeat):
                result, executed = run(runnable.mem)
        except RuntimeFault as err:
            err.message = f"{runnable.source}: {err.message}"
            raise
        ns_per_run = (time.perf_counter_ns() - start) / repeat
    maps = None
    if dump_maps:  # an engine without dump_maps runs no program with maps
        dump = getattr(run, "dump_maps", None)
        maps = dump() if dump is not None else {"maps": {}}
    return RunResult(result, executed, ns_per_run, maps)
