"""The JIT's counting mode (`compile_program(..., count_instructions=True)`) reports
exactly the instructions the interpreter counts as executed: on the whole
conformance suite, on generated programs (branches, loops, fused idioms, calls),
on a bpf_loop callback run by the native helper and across tail calls."""
from __future__ import annotations

import ctypes
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings

from bpftime.isa import Alu, CallKind, Cls, Insn, Jmp, Src, lddw
from bpftime.jit.codegen import compile_program
from bpftime.jit.image import ProgramImage, Slot, SlotKind
from bpftime.jit.loader import LoadedImage, Resolver, slot_values
from bpftime.runner import execute, load_runnable
from bpftime.vm import Machine
from conftest import CONFORMANCE, PROGRAMS, build_bpf
from jit_support import require_native_images
from test_jit_vs_interp import flat, programs

TESTS = sorted((CONFORMANCE / "tests").glob("*.data"))
COUNTER = Slot(SlotKind.COUNTER, 0)


@pytest.fixture(scope="module", autouse=True)
def _native() -> None:
    require_native_images()


def counted_run(insns: list[Insn]) -> tuple[int, int]:
    """(r0, instructions counted) of one run of the counting image."""
    counter = ctypes.c_uint64()
    image = compile_program(insns, count_instructions=True)
    values = slot_values(image, Resolver(helper=lambda i: 0, counter=ctypes.addressof(counter)))
    with LoadedImage(image, values) as loaded:
        return loaded(0, 0), counter.value


def interpreted(insns: list[Insn]) -> tuple[int, int]:
    machine = Machine(insns)
    return machine.run(None), machine.executed


@pytest.mark.parametrize("path", TESTS, ids=lambda p: p.name)
def test_conformance_counts_agree(path: Path) -> None:
    jit = execute(load_runnable(path), "jit", count=True)
    interp = execute(load_runnable(path), "interp")
    assert jit.result == interp.result
    assert jit.instructions == interp.instructions


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(programs())
def test_generated_programs_count_agree(insns: list[Insn]) -> None:
    assert counted_run(insns) == interpreted(insns)


def test_blocks_lddw_loops_and_calls() -> None:
    """lddw is one instruction; a loop body counts per iteration; a jump over a jump
    (which normal images fuse) counts the skipped `ja` only when it runs; a callee
    counts its own blocks, every call."""
    insns = flat([lddw(0, 1 << 40), Insn(Cls.ALU64 | Alu.MOV, 1, imm=3),       # 2
                  Insn(Cls.ALU64 | Alu.ADD, 0, imm=1),                          # loop: 4 per turn
                  Insn(Cls.ALU64 | Alu.ADD, 1, imm=-1),
                  Insn(Cls.JMP | Jmp.CALL, 0, CallKind.LOCAL, 0, 5),
                  Insn(Cls.JMP | Jmp.JNE, 1, 0, -4),
                  Insn(Cls.JMP | Jmp.JEQ, 1, 0, 1),                             # taken: ja skipped
                  Insn(Cls.JMP | Jmp.JA, off=1),
                  Insn(Cls.ALU64 | Alu.MOV | Src.X, 2, 1),
                  Insn(Cls.JMP | Jmp.EXIT),
                  Insn(Cls.ALU64 | Alu.MOV, 3, imm=5), Insn(Cls.JMP | Jmp.EXIT)])  # callee: 2
    assert interpreted(insns) == ((1 << 40) + 3, 2 + 3 * (4 + 2) + 3)
    assert counted_run(insns) == interpreted(insns)


def test_bpf_loop_callbacks_are_counted() -> None:
    """Callbacks run by the runtime's native bpf_loop count into the same counter."""
    obj = build_bpf(PROGRAMS / "loop.bpf.c")
    regs = bytearray(168)  # struct pt_regs; the first argument (di) is 7
    regs[112:120] = (7).to_bytes(8, "little")
    results = [execute(load_runnable(obj, mem=bytes(regs)), engine, count=True, dump_maps=True)
               for engine in ("jit", "interp")]
    assert results[0].maps == results[1].maps == {"maps": {"result": [{"key": 0, "value": 140}]}}
    assert results[0].instructions == results[1].instructions > 7 * 5


@pytest.mark.parametrize("packet", [b"\x05", b""])
def test_tail_called_programs_are_counted(packet: bytes) -> None:
    """A miss, then a chain of tail calls up to the kernel's limit: the targets' blocks
    count into the caller's counter."""
    obj = build_bpf(PROGRAMS / "tailcall.bpf.c")
    jit, interp = (execute(load_runnable(obj, prog="entry", mem=packet), engine, count=True)
                   for engine in ("jit", "interp"))
    assert jit.result == interp.result
    assert jit.instructions == interp.instructions > 33 * 5


def test_only_counting_images_have_a_counter() -> None:
    insns = flat([lddw(0, 7), Insn(Cls.JMP | Jmp.JEQ, 0, 0, 1), Insn(Cls.JMP | Jmp.JA, off=0),
                  Insn(Cls.JMP | Jmp.EXIT)])
    plain = compile_program(insns)
    counting = compile_program(insns, count_instructions=True)
    assert COUNTER not in plain.slots and counting.slots == [COUNTER]
    back = ProgramImage.from_bytes(counting.to_bytes())
    assert (back.code, back.slots) == (counting.code, counting.slots)


def test_repeat_times_the_uncounted_image() -> None:
    result = execute(load_runnable(CONFORMANCE / "tests" / "prime.data"), "jit", repeat=5, count=True)
    assert result.result == 1 and result.instructions is None and result.ns_per_run
