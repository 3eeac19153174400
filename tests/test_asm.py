"""The assembler: exact encodings of every instruction form, labels, and refusals."""
from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bpftime.asm import assemble
from bpftime.conformance_file import parse_conformance
from bpftime.errors import AsmError, BpftimeError
from bpftime.isa import encode

ENCODINGS = [
    ("mov %r0, 1", "b7000000 01000000"),
    ("mov64 %r0, 1", "b7000000 01000000"),
    ("mov32 %r1, -1", "b4010000 ffffffff"),
    ("add32 %r0, 0xffffffff", "04000000 ffffffff"),
    ("sub %r3, %r4", "1f430000 00000000"),
    ("sdiv32 %r2, %r3", "3c320100 00000000"),
    ("smod %r2, -7", "97020100 f9ffffff"),
    ("neg32 %r5", "84050000 00000000"),
    ("movsx1664 %r8, %r7", "bf781000 00000000"),
    ("movsx832 %r2, %r1", "bc120800 00000000"),
    ("be16 %r0", "dc000000 10000000"),
    ("le32 %r1", "d4010000 20000000"),
    ("bswap64 %r2", "d7020000 40000000"),
    ("swap16 %r2", "d7020000 10000000"),
    ("ldxsw %r0, [%r10-4]", "81a0fcff 00000000"),
    ("ldxb %r8, [%r0+0x1]", "71080100 00000000"),
    ("ldxdw %r0, [%r1]", "79100000 00000000"),
    ("stw [%r1+2], 7", "62010200 07000000"),
    ("stxdw [%r10-8], %r1", "7b1af8ff 00000000"),
    ("lock add [%r10-8], %r1", "db1af8ff 00000000"),
    ("lock fetch add32 [%r10-4], %r1", "c31afcff 01000000"),
    ("lock fetch xor [%r1+0], %r2", "db210000 a1000000"),
    ("lock xchg32 [%r10-8], %r1", "c31af8ff e1000000"),
    ("lock cmpxchg [%r10-8], %r1", "db1af8ff f1000000"),
    ("lddw %r1, 0x1122334455667788", "18010000 88776655 00000000 44332211"),
    ("lddw %r0, -1", "18000000 ffffffff 00000000 ffffffff"),
    ("lddw %r1, map_value(3, 16)", "18210000 03000000 00000000 10000000"),
    ("lddw %r2, map_idx(1)", "18520000 01000000 00000000 00000000"),
    ("ja +1", "05000100 00000000"),
    ("ja32 -1", "06000000 ffffffff"),
    ("jne32 %r1, 0xffffffff, +2", "56010200 ffffffff"),
    ("jsle %r1, %r2, -3", "dd21fdff 00000000"),
    ("call 5", "85000000 05000000"),
    ("call bpf_ktime_get_ns", "85000000 05000000"),
    ("call %r2", "8d020000 00000000"),
    ("call kfunc 7", "85200000 07000000"),
    ("ldabsh 12", "28000000 0c000000"),
    ("ldindb %r3, 4", "50300000 04000000"),
    ("exit", "95000000 00000000"),
]


@pytest.mark.parametrize("text,hexbytes", ENCODINGS)
def test_encoding(text: str, hexbytes: str) -> None:
    assert encode(assemble(text)).hex() == hexbytes.replace(" ", "")


def test_lddw_keeps_two_slots() -> None:
    insns = assemble("lddw %r1, 0x100000002\nexit")
    assert len(insns) == 3
    assert insns[0].imm64 == 0x100000002
    assert insns[1].opcode == 0 and insns[1].imm == 1


def test_labels_forward_backward_and_local_call() -> None:
    text = """
    start:  mov %r0, 0          # slot 0
    loop:
        add %r0, 1              # slot 1
        jlt %r0, 3, loop        # slot 2 -> 1: offset -2
        lddw %r1, func(cb)      # slots 3-4 -> 7: offset from slot 4, as the kernel has it
        call local cb           # slot 5 -> 7: offset +1
        exit
    cb: ja start                # slot 7 -> 0: offset -8
        exit
    """
    insns = assemble(text)
    assert insns[2].off == -2
    assert insns[3].imm == 3 and insns[3].src == 4
    assert insns[5].imm == 1 and insns[5].src == 1
    assert insns[7].off == -8


def test_exit_target_is_the_final_exit() -> None:
    insns = assemble("jeq %r1, 0, exit\nmov %r0, 2\nexit")
    assert insns[0].off == 1


@pytest.mark.parametrize("text,reason", [
    ("mov32 %r0, 2147483648", "out of 32-bit range"),
    ("mov32 %r0, 0x100000000", "out of 32-bit range"),
    ("ldxb %r0, [%r1+0x10000]", "out of 16-bit range"),
    ("ja NOT_A_LABEL", "unknown label"),
    ("ldxq %r0, %r1", "unknown mnemonic"),
    ("ldxb %r0, %r1", "memory operand"),
    ("lddw %r0", "takes 2 operands"),
    ("or %r0, %r50", "invalid register"),
    ("or %r0", "takes 2 operands"),
    ("lock or [%r10-8]", "lock takes"),
    ("lock", "lock takes"),
    ("lock fetch xchg [%r10-8], %r1", "unknown atomic"),
    ("ldxsdw %r0, [%r1]", "unknown mnemonic"),
    ("call bpf_no_such_helper", "unknown helper"),
    ("lddw %r1, map_thing(1)", "unknown lddw form"),
    ("jeq %r1, 1, +40000", "out of range"),
    ("exit %r0", "takes 0 operands"),
])
def test_refusals_name_the_line(text: str, reason: str) -> None:
    with pytest.raises(AsmError) as info:
        assemble("mov %r0, 0\n" + text + "\nexit", source="prog.asm")
    assert info.value.line == 2
    assert reason in str(info.value)
    assert str(info.value).startswith("prog.asm:2: ")


def test_duplicate_label_and_empty_program() -> None:
    with pytest.raises(AsmError, match="defined twice"):
        assemble("a:\na:\nexit")
    with pytest.raises(AsmError, match="no instructions"):
        assemble("# nothing\n\n")


_TOKENS = ["mov", "lddw", "lock", "fetch", "add32", "call", "local", "kfunc", "%r1", "%r11",
           "%r", "[", "]", "[%r1+", "[%r10-8]", ",", "0x", "0xffffffffffffffffff", "-", "+", "1",
           "-1", "L:", "L", "exit", "ja", "ja32", "jeq", "map_value(", ")", "func(L)",
           "map_fd(1,2,3)", "#", "\n", "ldxsdw", "ldabsdw", "movsx864", "be16", "le8", "xchg",
           "cmpxchg", "-- asm\n", "-- raw\n", "-- mem\n", "-- result\n", "zz", "()", "bpf_loop", ":"]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(_TOKENS), max_size=25), st.text(max_size=20))
def test_garbage_gives_one_line_errors(parts: list[str], junk: str) -> None:
    """Any text either assembles / parses or raises a one-line BpftimeError."""
    text = " ".join(parts) + junk
    for parse in (assemble, lambda t: parse_conformance(t, "f.data")):
        try:
            parse(text)
        except BpftimeError as err:
            assert str(err) and "\n" not in str(err)
