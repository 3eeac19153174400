"""Helpers the interpreter implements itself.

- `CONFORMANCE_HELPERS`: the conformance suite's harness helper (id 5), used only
  for `.data` files: it takes r1..r5 and returns 0; r6-r9 and the stack stay intact.
- `bpf_loop`: the kernel's `bpf_loop(nr_loops, callback, ctx, flags)`, which must
  run a subprogram of the program itself, so it lives in the interpreter.
"""
from __future__ import annotations

from bpftime.kernel_abi import BPF_MAX_LOOPS, helper_id
from bpftime.vm.compile import func_target
from bpftime.vm.machine import Helper, Machine

BPF_LOOP = helper_id("loop")
E2BIG = 7
EINVAL = 22


def conformance_harness(m: Machine, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    """The suite's `call 5`: execution simply continues."""
    return 0


CONFORMANCE_HELPERS: dict[int, Helper] = {5: conformance_harness}


def bpf_loop(m: Machine, nr_loops: int, callback: int, ctx: int, flags: int, _r5: int) -> int:
    """Call `callback(i, ctx)` for i in 0..nr_loops-1 until it returns non-zero;
    the number of iterations done, or -E2BIG / -EINVAL as the kernel does."""
    if flags:
        return -EINVAL
    nr_loops &= 0xFFFF_FFFF
    if nr_loops > BPF_MAX_LOOPS:
        return -E2BIG
    target = func_target(m, callback)
    for i in range(nr_loops):
        if m.call_function(target, i, ctx) & 0xFFFF_FFFF_FFFF_FFFF:
            return i + 1
    return nr_loops


def with_bpf_loop(helpers: dict[int, Helper]) -> dict[int, Helper]:
    """`helpers` plus the interpreter's own bpf_loop."""
    return {**helpers, BPF_LOOP: bpf_loop}

