"""The JIT agrees with the reference interpreter on generated programs: straight-line
ALU and memory code, every division/shift/sign-extension/byte-swap edge case,
atomics, forward branches, bounded loops and bpf-to-bpf calls."""
from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bpftime.isa import (
    FP, Alu, AtomicOp, CallKind, Cls, Insn, Jmp, Mode, Size, Src, lddw, validate_program,
)
from bpftime.jit.codegen import compile_program
from bpftime.jit.loader import LoadedImage
from bpftime.vm import Machine
from jit_support import require_native_images

EDGE64 = [0, 1, 2, 7, 0x7F, 0x80, 0xFF, 0x8000, 0xFFFF, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF,
          0x100000000, 0x7FFFFFFFFFFFFFFF, 0x8000000000000000, 0xFFFFFFFFFFFFFFFF,
          0xFFFFFFFF80000000, 0xFFFFFFFF00000000, 0x8000000080000000]
EDGE32 = [0, 1, -1, 2, -2, 3, 7, 8, 16, 31, 32, 33, 63, 64, 65, 0x7F, 0x80, 0xFF,
          -0x80000000, 0x7FFFFFFF, 0x40000000]
ALU_OPS = [Alu.ADD, Alu.SUB, Alu.MUL, Alu.DIV, Alu.OR, Alu.AND, Alu.LSH, Alu.RSH,
           Alu.MOD, Alu.XOR, Alu.MOV, Alu.ARSH]
CONDS = [Jmp.JEQ, Jmp.JGT, Jmp.JGE, Jmp.JSET, Jmp.JNE, Jmp.JSGT, Jmp.JSGE, Jmp.JLT,
         Jmp.JLE, Jmp.JSLT, Jmp.JSLE]
ATOMICS = [AtomicOp.ADD, AtomicOp.OR, AtomicOp.AND, AtomicOp.XOR,
           AtomicOp.ADD | AtomicOp.FETCH, AtomicOp.OR | AtomicOp.FETCH,
           AtomicOp.AND | AtomicOp.FETCH, AtomicOp.XOR | AtomicOp.FETCH,
           AtomicOp.XCHG, AtomicOp.CMPXCHG]
SLOTS = 8  # the programs use the stack bytes [r10-64, r10)

values = st.one_of(st.sampled_from(EDGE64), st.integers(0, (1 << 64) - 1))
imms = st.one_of(st.sampled_from(EDGE32), st.integers(-(1 << 31), (1 << 31) - 1))


def regs(top: int = 8) -> st.SearchStrategy[int]:
    return st.integers(0, top)


@st.composite
def alu(draw, top: int = 8) -> Insn:
    cls = draw(st.sampled_from([Cls.ALU, Cls.ALU64]))
    dst = draw(regs(top))
    kind = draw(st.sampled_from(["op", "op", "op", "neg", "end"]))
    if kind == "neg":
        return Insn(cls | Alu.NEG, dst)
    if kind == "end":
        source = 0 if cls == Cls.ALU64 else draw(st.sampled_from([Src.K, Src.X]))
        return Insn(cls | Alu.END | source, dst, imm=draw(st.sampled_from([16, 32, 64])))
    op = draw(st.sampled_from(ALU_OPS))
    off = draw(st.sampled_from([0, 1])) if op in (Alu.DIV, Alu.MOD) else 0
    if draw(st.booleans()):
        src = draw(regs(top))
        if op == Alu.MOV:
            off = draw(st.sampled_from([0, 8, 16, 32] if cls == Cls.ALU64 else [0, 8, 16]))
        return Insn(cls | op | Src.X, dst, src, off)
    return Insn(cls | op, dst, off=off, imm=draw(imms))


@st.composite
def memory(draw) -> Insn:
    size = draw(st.sampled_from([1, 2, 4, 8]))
    code = {1: Size.B, 2: Size.H, 4: Size.W, 8: Size.DW}[size]
    off = -8 * draw(st.integers(1, SLOTS)) + size * draw(st.integers(0, 8 // size - 1))
    kind = draw(st.sampled_from(["stx", "st", "ldx", "ldsx", "atomic"]))
    if kind == "stx":
        return Insn(Cls.STX | Mode.MEM | code, FP, draw(regs()), off)
    if kind == "st":
        return Insn(Cls.ST | Mode.MEM | code, FP, 0, off, draw(imms))
    if kind == "ldx" or (kind == "ldsx" and size == 8):
        return Insn(Cls.LDX | Mode.MEM | code, draw(regs()), FP, off)
    if kind == "ldsx":
        return Insn(Cls.LDX | Mode.MEMSX | code, draw(regs()), FP, off)
    wide = draw(st.booleans())
    off = -8 * draw(st.integers(1, SLOTS)) + (0 if wide else 4 * draw(st.integers(0, 1)))
    return Insn(Cls.STX | Mode.ATOMIC | (Size.DW if wide else Size.W), FP, draw(regs()), off,
                draw(st.sampled_from(ATOMICS)))


simple = st.one_of(alu(), alu(), memory())


@st.composite
def branch(draw) -> list[Insn]:
    body = draw(st.lists(simple, min_size=0, max_size=6))
    cls = draw(st.sampled_from([Cls.JMP, Cls.JMP32]))
    op = draw(st.sampled_from(CONDS))
    if draw(st.booleans()):
        cond = Insn(cls | op | Src.X, draw(regs()), draw(regs()), len(body))
    else:
        cond = Insn(cls | op, draw(regs()), 0, len(body), draw(imms))
    return [cond] + body


@st.composite
def idiom(draw) -> list[Insn]:
    """Sequences clang emits that the JIT fuses: zero-extension by shifts, address
    arithmetic, and a conditional jump over an unconditional one."""
    d, s = draw(regs()), draw(regs())
    kind = draw(st.sampled_from(["zext", "zext_self", "lea", "jump_over"]))
    if kind == "zext":
        return [Insn(Cls.ALU64 | Alu.MOV | Src.X, d, s), Insn(Cls.ALU64 | Alu.LSH, d, imm=32),
                Insn(Cls.ALU64 | Alu.RSH, d, imm=32)]
    if kind == "zext_self":
        return [Insn(Cls.ALU64 | Alu.LSH, d, imm=32), Insn(Cls.ALU64 | Alu.RSH, d, imm=32)]
    if kind == "lea":
        return [Insn(Cls.ALU64 | Alu.MOV | Src.X, d, s), Insn(Cls.ALU64 | Alu.ADD, d, imm=draw(imms))]
    cond, *body = draw(branch())
    skipped = draw(st.lists(simple, min_size=0, max_size=3))
    return [Insn(cond.opcode, cond.dst, cond.src, 1, cond.imm),
            Insn(Cls.JMP | Jmp.JA, off=len(skipped) + len(body))] + body + skipped


@st.composite
def loop(draw) -> list[Insn]:
    """r9 counts down from 1..5; the body never writes r9."""
    body = draw(st.lists(st.one_of(alu(), memory()).filter(lambda i: _writes_r9(i) is False),
                         min_size=1, max_size=6))
    return ([Insn(Cls.ALU64 | Alu.MOV, 9, imm=draw(st.integers(1, 5)))] + body
            + [Insn(Cls.ALU64 | Alu.ADD, 9, imm=-1), Insn(Cls.JMP | Jmp.JNE, 9, 0, -(len(body) + 2))])


def _writes_r9(insn: Insn) -> bool:
    if insn.cls in (Cls.ALU, Cls.ALU64, Cls.LDX):
        return insn.dst == 9
    return insn.cls == Cls.STX and insn.mode == Mode.ATOMIC and bool(insn.imm & AtomicOp.FETCH) \
        and insn.imm != AtomicOp.CMPXCHG and insn.src == 9


def flat(insns: list[Insn]) -> list[Insn]:
    """One Insn per slot: lddw's second slot added."""
    out = []
    for insn in insns:
        out.append(insn)
        if insn.is_lddw:
            out.append(Insn(0, imm=insn.imm_hi))
    return out


@st.composite
def programs(draw, kernel: bool = False) -> list[Insn]:
    """With `kernel`, programs the kernel's verifier can accept too: r1-r5 are set
    again after each call (the kernel leaves them uninitialised) and the subprogram
    is there only when called (the kernel refuses unreachable code)."""
    init = [lddw(r, draw(values)) for r in range(10)]
    init += [Insn(Cls.ST | Mode.MEM | Size.DW, FP, 0, -8 * k, draw(imms)) for k in range(1, SLOTS + 1)]
    segments = draw(st.lists(st.one_of(simple.map(lambda i: [i]), branch(), loop(), idiom(),
                                       st.just(["call"])),
                             min_size=1, max_size=25))
    sub = draw(st.lists(alu(top=5), min_size=1, max_size=8))
    main: list[Insn | str] = flat(init)
    for seg in segments:
        main += seg
        if kernel and seg == ["call"]:
            main += flat([lddw(r, draw(values)) for r in range(1, 6)])
    fold = [Insn(Cls.ALU64 | Alu.XOR | Src.X, 0, r) for r in range(1, 10)]
    for k in range(1, SLOTS + 1):
        fold += [Insn(Cls.LDX | Mode.MEM | Size.DW, 1, FP, -8 * k),
                 Insn(Cls.ALU64 | Alu.MUL, 0, imm=31), Insn(Cls.ALU64 | Alu.ADD | Src.X, 0, 1)]
    main += fold + [Insn(Cls.JMP | Jmp.EXIT)]
    start = len(main)
    out = [Insn(Cls.JMP | Jmp.CALL, 0, CallKind.LOCAL, 0, start - pc - 1) if i == "call" else i
           for pc, i in enumerate(main)]
    if kernel and "call" not in main:
        return out
    return out + [Insn(Cls.ALU64 | Alu.MOV | Src.X, 0, 1)] + sub + [Insn(Cls.JMP | Jmp.EXIT)]


@pytest.fixture(scope="module", autouse=True)
def _native() -> None:
    require_native_images()


def run_both(insns: list[Insn]) -> tuple[int, int]:
    validate_program(insns)
    expected = Machine(insns).run(None)
    with LoadedImage(compile_program(insns), []) as image:
        return image(0, 0), expected


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(programs())
def test_jit_agrees_with_interpreter(insns: list[Insn]) -> None:
    got, expected = run_both(insns)
    assert got == expected, f"jit {got:#x} != interpreter {expected:#x}"


@pytest.mark.parametrize("op", [Alu.DIV, Alu.MOD])
@pytest.mark.parametrize("cls", [Cls.ALU, Cls.ALU64])
@pytest.mark.parametrize("signed", [0, 1])
def test_division_edge_cases_in_every_register(op, cls, signed) -> None:
    """Every dividend/divisor register pair (including rax/rdx, which x86 division
    uses) over zero, -1 and INT_MIN operands."""
    for dst in range(10):
        for src in range(10):
            for a, b in [(0x8000000000000000, 0xFFFFFFFFFFFFFFFF), (0xFFFFFFFF80000000, 0xFFFFFFFF),
                         (12345, 0), (0xFFFFFFFFFFFFFF9C, 7), (100, 0xFFFFFFFFFFFFFFF9)]:
                init = flat([lddw(r, 0x1111111111111111 * r) for r in range(10)]
                            + [lddw(src, b), lddw(dst, a)])
                fold = [Insn(Cls.ALU64 | Alu.MUL, 0, imm=3)] + \
                       [Insn(Cls.ALU64 | Alu.ADD | Src.X, 0, r) for r in range(1, 10)]
                insns = init + [Insn(cls | op | Src.X, dst, src, signed)] + fold + [Insn(Cls.JMP | Jmp.EXIT)]
                got, expected = run_both(insns)
                assert got == expected, (dst, src, hex(a), hex(b))


@pytest.mark.parametrize("op", [Alu.LSH, Alu.RSH, Alu.ARSH])
def test_register_shifts_in_every_register_pair(op) -> None:
    """Shift counts live in cl on x86: every pair, including r4 (rcx) as either side."""
    for cls in (Cls.ALU, Cls.ALU64):
        for dst in range(10):
            for src in range(10):
                init = flat([lddw(r, 0x8123456789ABCDEF + r * 0x1010101) for r in range(10)]
                            + [lddw(src, 0xFFFFFFFFFFFFFF00 | (dst * 7 + 13))])
                fold = [Insn(Cls.ALU64 | Alu.XOR | Src.X, 0, r) for r in range(1, 10)]
                insns = init + [Insn(cls | op | Src.X, dst, src)] + fold + [Insn(Cls.JMP | Jmp.EXIT)]
                got, expected = run_both(insns)
                assert got == expected, (cls, dst, src)


@pytest.mark.parametrize("wide", [False, True])
def test_cmpxchg_success_leaves_zero_extended_old_value(wide) -> None:
    """A successful 32-bit cmpxchg does not write eax on x86: r0's upper half must
    still be cleared, as when it fails."""
    insns = flat([lddw(0, 0xFFFFFFFF00000005), lddw(1, 0x1234),
                  Insn(Cls.ST | Mode.MEM | Size.DW, FP, 0, -8, 5),
                  Insn(Cls.STX | Mode.ATOMIC | (Size.DW if wide else Size.W), FP, 1, -8, AtomicOp.CMPXCHG),
                  Insn(Cls.LDX | Mode.MEM | Size.DW, 2, FP, -8),
                  Insn(Cls.ALU64 | Alu.LSH, 2, imm=32), Insn(Cls.ALU64 | Alu.ADD | Src.X, 0, 2),
                  Insn(Cls.JMP | Jmp.EXIT)])
    got, expected = run_both(insns)
    assert got == expected
