"""The interpreter's state and main loop: registers, call frames, run, nested calls.

Instructions are compiled once (`bpftime.vm.compile`) into one closure per slot that
performs the instruction on this machine's state and returns the next slot; the
main loop only indexes and calls.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from bpftime.errors import RuntimeFault
from bpftime.isa import FP, MAX_CALL_FRAMES, MAX_TAIL_CALLS, STACK_SIZE, Insn
from bpftime.vm.memory import Memory

# A helper (or extern function) as the interpreter calls it: (machine, r1..r5) -> r0.
# `machine.pc` is the calling instruction, for RuntimeFault. A helper that returns
# memory the program may use adds it with `machine.mem.add_region`.
Helper = Callable[["Machine", int, int, int, int, int], int]

DEFAULT_LIMIT = 10_000_000  # instructions per run, so that a looping program stops


@dataclass(frozen=True)
class FixedRegion:
    """Memory valid in every run (global data): address, size, writable, name."""

    address: int
    size: int
    writable: bool
    name: str


@dataclass
class Bindings:
    """What a program's calls and 64-bit immediate pseudo forms refer to."""

    helpers: Mapping[int, Helper] = field(default_factory=dict)      # by helper id
    externs: Mapping[int, Helper] = field(default_factory=dict)      # kfuncs by extern index
    map_handles: Sequence[int | None] = ()        # lddw map_idx(I) -> handle of map I
    map_values: Sequence[int | None] = ()         # lddw map_idx_value(I, OFF) -> value address of map I
    extern_vars: Sequence[int | None] = ()        # lddw btf_id(I) -> address of extern variable I
    regions: Sequence[FixedRegion] = ()           # global data the program may access


class _Exit(Exception):
    """`exit` from the frame a run (or a nested call) started in."""


class Machine:
    """One program, compiled, with its registers, stack and bindings. Not re-entrant
    across threads; `run` may be called many times."""

    def __init__(self, insns: list[Insn], bindings: Bindings | None = None,
                 limit: int = DEFAULT_LIMIT):
        from bpftime.vm.compile import compile_program

        self.insns = insns
        self.bindings = bindings or Bindings()
        self.limit = limit
        self.R: list[int] = [0] * (FP + 1)
        # a program tail-called from a subprogram has frames of its own on top
        self.mem = Memory(MAX_CALL_FRAMES * (1 + MAX_TAIL_CALLS))
        for r in self.bindings.regions:
            self.mem.add_fixed(r.address, r.size, r.writable, r.name)
        self.frames: list[tuple[int, int, int, int, int, int]] = []
        self.base_depth = 0
        self.pc = 0  # the call instruction being executed (for helpers' faults)
        self.executed = 0
        self.tail_calls = 0  # in this invocation (a bpf_loop callback counts its own)
        self.program_depths = [0]  # frames below each program of the tail-call chain
        self.ops: list[Callable[[], int]] = compile_program(self)

    # --- running -----------------------------------------------------------------
    def run(self, data: bytes | None = None, entry: int = 0,
            context: Callable[[Memory, int, int], int] | None = None) -> int:
        """Run from `entry` with r1 = address of a copy of `data` (0 if none) and
        r2 = its length; the unsigned r0 at exit. `executed` counts instructions.
        `context(memory, input address, input length)`, when given, returns r1
        instead (a context structure it added as a region, e.g. XDP's)."""
        R = self.R
        R[:] = [0] * (FP + 1)
        R[1], R[2] = self.mem.start(data)
        if context is not None:
            R[1] = context(self.mem, R[1], R[2])
        R[FP] = self.mem.stack_top
        self.frames.clear()
        self.base_depth = 0
        self.executed = 0
        self.tail_calls = 0
        self.program_depths[:] = [0]
        return self._loop(entry)

    def _loop(self, pc: int) -> int:
        ops = self.ops
        budget = max(self.limit - self.executed, 0)
        n = -1
        try:
            for n in range(budget):
                pc = ops[pc]()
        except _Exit:
            self.executed += n + 1
            return self.R[0]
        except BaseException:
            self.executed += n + 1
            raise
        self.executed += budget
        raise RuntimeFault(pc, f"instruction limit of {self.limit} exceeded")

    # --- frames ------------------------------------------------------------------
    def push_frame(self, return_pc: int, pc: int) -> None:
        """Enter a callee: save r6-r9 and r10, give it a fresh stack frame. A
        program has at most MAX_CALL_FRAMES of its own."""
        if len(self.frames) - self.program_depths[-1] + 1 >= MAX_CALL_FRAMES:
            raise RuntimeFault(pc, f"call depth exceeds {MAX_CALL_FRAMES} frames")
        R = self.R
        self.frames.append((return_pc, R[6], R[7], R[8], R[9], R[FP]))
        self.mem.push_frame()
        R[FP] = self.mem.stack_lo + STACK_SIZE

    def exit_frame(self) -> int:
        """`exit`: back to the caller (its slot), or end of the run."""
        if len(self.frames) == self.base_depth:
            raise _Exit
        R = self.R
        return_pc, R[6], R[7], R[8], R[9], R[FP] = self.frames.pop()
        self.mem.pop_frame()
        if len(self.frames) < self.program_depths[-1]:  # back in the program tail-calling
            self.program_depths.pop()
        return return_pc

    def enter_tail_call(self) -> None:
        """The current function's frame now belongs to a tail-called program."""
        self.tail_calls += 1
        if len(self.frames) > self.program_depths[-1]:
            self.program_depths.append(len(self.frames))

    def call_function(self, target: int, r1: int = 0, r2: int = 0, r3: int = 0,
                      r4: int = 0, r5: int = 0) -> int:
        """Run the subprogram at slot `target` to its `exit` (for helpers with
        callbacks such as bpf_loop); the caller's registers are kept. Tail calls
        in it are counted on their own, as the JIT counts them in a callback."""
        R = self.R
        saved = R[:]
        caller_pc, depth, tail_calls = self.pc, self.base_depth, self.tail_calls
        programs = len(self.program_depths)
        self.push_frame(-1, caller_pc)
        R[1:6] = [r1, r2, r3, r4, r5]
        self.base_depth = len(self.frames)
        self.tail_calls = 0
        try:
            return self._loop(target)
        finally:
            self.frames.pop()
            self.mem.pop_frame()
            self.base_depth = depth
            self.tail_calls = tail_calls
            del self.program_depths[programs:]
            self.pc = caller_pc
            R[:] = saved
