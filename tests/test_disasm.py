"""The disassembler: its output assembles back to the same bytes, for the whole
conformance suite and for random valid programs; annotations are comments."""
from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bpftime.asm import assemble
from bpftime.conformance_file import load_conformance
from bpftime.disasm import disassemble, format_insn
from bpftime.isa import (
    OPCODE_LDDW, AtomicOp, Insn, Pseudo, check_insn, decode, encode, insn_starts, validate_program,
)
from conftest import CONFORMANCE

# Every opcode some instruction uses; fields are then drawn so that most draws are valid.
OPCODES = sorted({op for op in range(256) if op != OPCODE_LDDW and any(
    check_insn(Insn(op, 1, src, off, imm)) is None
    for src in (0, 1, 2) for off in (0, 1, 8) for imm in (0, 16, AtomicOp.ADD | AtomicOp.FETCH))})
IMMS = st.one_of(st.just(0), st.sampled_from([0, 1, -1, 16, 32, 64, 0x7FFFFFFF, -(1 << 31)]
                                 + [int(op) for op in AtomicOp] + [0xE1, 0xF1]),
                 st.integers(-(1 << 31), (1 << 31) - 1))
OFFS = st.one_of(st.just(0), st.sampled_from([1, 8, 16, 32, -1]), st.integers(-(1 << 15), (1 << 15) - 1))


@st.composite
def programs(draw) -> list[Insn]:
    """A valid program: random instructions, jump offsets redirected to real starts."""
    body: list[Insn] = []
    for _ in range(draw(st.integers(1, 12))):
        if draw(st.integers(0, 9)) == 0:
            src = draw(st.sampled_from(list(Pseudo)))
            lo, hi = draw(st.integers(-(1 << 31), (1 << 31) - 1)), draw(st.integers(-(1 << 31), (1 << 31) - 1))
            body += [Insn(OPCODE_LDDW, draw(st.integers(0, 10)), src, 0, lo, hi), Insn(0, imm=hi)]
            continue
        insn = Insn(draw(st.sampled_from(OPCODES)), draw(st.integers(0, 10)),
                    draw(st.one_of(st.just(0), st.integers(0, 10))), draw(OFFS), draw(IMMS))
        if check_insn(insn) is None:
            body.append(insn)
    body.append(Insn(0x95))
    starts = insn_starts(body)
    fixed = []
    for pc, insn in enumerate(body):
        if insn.jump_target(pc) is not None:
            delta = draw(st.sampled_from(starts)) - pc - 1
            if insn.opcode == 0x06 or insn.is_local_call:  # ja32 and call local use imm
                insn = replace(insn, imm=delta)
            else:
                insn = replace(insn, off=delta)
        fixed.append(insn)
    validate_program(fixed)
    return fixed


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(programs())
def test_random_programs_round_trip(prog: list[Insn]) -> None:
    text = disassemble(prog, show_pc=True)
    assert encode(assemble(text)) == encode(prog), text


def test_conformance_suite_round_trips() -> None:
    files = sorted((CONFORMANCE / "tests").glob("*.data"))
    assert len(files) == 313
    for path in files:
        insns = load_conformance(path).insns
        assert encode(assemble(disassemble(insns))) == encode(insns), path.name


def test_labels_notes_and_headers() -> None:
    prog = assemble("""
        lddw %r1, map_idx(0)
        call 1
        jeq %r0, 0, out
        call local fn
    out:
        exit
    fn: mov %r0, 0
        exit
    """)
    text = disassemble(prog, notes={0: "map counts", 2: "bpf_map_lookup_elem"},
                       headers={4: ["counter.bpf.c:12: return 0;"]}, names={6: "my_fn"})
    assert "lddw %r1, map_idx(0)" in text and "# map counts" in text
    assert "call local my_fn" in text and "\nmy_fn:\n" in text
    assert "jeq %r0, 0, L5" in text and "\nL5:\n" in text
    assert "# counter.bpf.c:12: return 0;" in text
    assert encode(assemble(text)) == encode(prog)


def test_callback_notes() -> None:
    prog = assemble("call 5\nexit")
    text = disassemble(prog, notes=lambda pc, insn: "helper" if insn.is_call else None)
    assert text.splitlines()[0].endswith("# helper")


@pytest.mark.parametrize("hexbytes,text", [
    ("bf781000 00000000", "movsx1664 %r8, %r7"),
    ("3c320100 00000000", "sdiv32 %r2, %r3"),
    ("dc000000 10000000", "be16 %r0"),
    ("d7020000 40000000", "bswap64 %r2"),
    ("c31afcff 01000000", "lock fetch add32 [%r10-4], %r1"),
    ("db1af8ff f1000000", "lock cmpxchg [%r10-8], %r1"),
    ("56010200 ffffffff", "jne32 %r1, -1, +2"),
    ("b4000000 00000080", "mov32 %r0, 0x80000000"),
    ("8d020000 00000000", "call %r2"),
])
def test_format_insn(hexbytes: str, text: str) -> None:
    insn = decode(bytes.fromhex(hexbytes.replace(" ", "")), validate=False)[0]
    assert format_insn(insn, 0) == text


def test_format_invalid_insn_names_reason() -> None:
    text = format_insn(Insn(0x07, 0, 1, 0, 1), 3)
    assert text.startswith(".invalid 0710") and "reserved field src" in text


def _cli_disasm(capsys, *args) -> tuple[int, str, str]:
    from cli.main import main

    code = main(["disasm", *map(str, args)])
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_disasm_of_an_object_is_annotated_and_reassembles(capsys, bpf_object) -> None:
    from bpftime.elf import load_object

    path = bpf_object("globals")
    obj = load_object(path)
    code, out, err = _cli_disasm(capsys, path, "--prog", "on_work")
    assert code == 0 and err == ""
    assert out.startswith("# program on_work: section uprobe")
    assert "# 5: map names" in out                          # map by name
    assert "bpf_map_lookup_elem" in out                    # helper by name
    assert "call local accumulate" in out and "\naccumulate:\n" in out  # local-call target
    assert "globals.bpf.c:43: hits++;" in out              # source line from BTF line info
    assert "data hits (globals.data)" in out               # global variable by name
    assert encode(assemble(out)) == encode(obj.program("on_work").insns)


def test_cli_disasm_of_assembly_and_data_files(capsys) -> None:
    from conftest import REPO

    code, out, _ = _cli_disasm(capsys, REPO / "examples" / "hello" / "hello.asm")
    assert code == 0 and "ldxb %r5, [%r4]" in out and "ja L3" in out
    source = (REPO / "examples" / "hello" / "hello.asm").read_text()
    assert encode(assemble(out)) == encode(assemble(source))
    code, out, _ = _cli_disasm(capsys, CONFORMANCE / "tests" / "lddw.data")
    assert out == "    lddw %r0, 0x1122334455667788\n    exit\n"
    code, _, err = _cli_disasm(capsys, CONFORMANCE / "negative" / "invalid_label.data")
    assert code == 1 and "unknown label 'NOT_A_LABEL'" in err and err.count("\n") == 1
