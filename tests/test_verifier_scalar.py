"""Soundness of the abstract scalars: every concrete result lies in the abstract one."""
from __future__ import annotations

from hypothesis import given, settings, strategies as st

from bpftime.isa import Alu, Jmp
from bpftime.verifier.scalar import (EmptyScalar, Scalar, alu, concrete_alu, refine, relation,
                                     signed)
from bpftime.verifier.tnum import Tnum

U64 = (1 << 64) - 1
ALU_OPS = [Alu.ADD, Alu.SUB, Alu.MUL, Alu.DIV, Alu.MOD, Alu.OR, Alu.AND, Alu.XOR, Alu.LSH,
           Alu.RSH, Alu.ARSH]
JUMPS = [Jmp.JEQ, Jmp.JNE, Jmp.JSET, Jmp.JGT, Jmp.JGE, Jmp.JLT, Jmp.JLE, Jmp.JSGT, Jmp.JSGE,
         Jmp.JSLT, Jmp.JSLE]
near = st.one_of(st.just(0), st.just(1), st.integers(0, 1000))   # ends of ranges matter
values = st.one_of(st.integers(0, U64), st.integers(0, 300), st.integers(-300, 300).map(lambda v: v & U64))


@st.composite
def abstract(draw, around=None):
    """(concrete value, an abstract scalar that contains it); the value is drawn, or
    lies within 2 of `around` when given (to reach the edges of comparisons)."""
    v = draw(values) if around is None else (around + draw(st.integers(-2, 2))) & U64
    shape = draw(st.sampled_from(["const", "urange", "srange", "tnum", "unknown"]))
    if shape == "const":
        return v, Scalar.const(v)
    if shape == "urange":
        lo = max(0, v - draw(near))
        hi = min(U64, v + draw(near))
        return v, Scalar.urange(lo, hi)
    if shape == "srange":
        sv = signed(v)
        lo = max(-(1 << 63), sv - draw(near))
        hi = min((1 << 63) - 1, sv + draw(near))
        return v, Scalar.srange(lo, hi)
    if shape == "tnum":
        mask = draw(st.integers(0, U64))
        return v, Scalar(tn=Tnum(v & ~mask & U64, mask)).synced()
    return v, Scalar()


def zext(r: int, width: int) -> int:
    return r & ((1 << width) - 1)


@settings(max_examples=200, deadline=None)
@given(abstract(), abstract(), st.sampled_from(ALU_OPS), st.sampled_from([32, 64]),
       st.sampled_from([0, 1]))
def test_alu_result_contains_the_concrete_result(a, b, op, width, off):
    (av, aa), (bv, ba) = a, b
    if op not in (Alu.DIV, Alu.MOD):
        off = 0
    expected = zext(concrete_alu(op, av, bv, width, off), width)
    got = alu(op, aa, ba, width, off)
    assert got.has(expected), f"{op!r} w{width}: {expected:#x} not in {got}"


@settings(max_examples=200, deadline=None)
@given(abstract(), st.sampled_from([8, 16, 32]), st.sampled_from([32, 64]))
def test_sign_extending_move_is_sound(a, bits, width):
    av, aa = a
    expected = zext(concrete_alu(Alu.MOV, 0, av, width, bits), width)
    assert alu(Alu.MOV, Scalar(), aa, width, bits).has(expected)


@settings(max_examples=200, deadline=None)
@given(abstract(), st.sampled_from([16, 32, 64]), st.booleans())
def test_byte_swap_is_sound(a, bits, swap):
    av, aa = a
    expected = concrete_alu(Alu.END, av, bits, 64, swap=swap)
    assert alu(Alu.END, aa, Scalar.const(bits), 64, swap=swap).has(expected)


def holds(op: int, a: int, b: int) -> bool:
    sa, sb = signed(a), signed(b)
    return {Jmp.JEQ: a == b, Jmp.JNE: a != b, Jmp.JSET: bool(a & b), Jmp.JGT: a > b,
            Jmp.JGE: a >= b, Jmp.JLT: a < b, Jmp.JLE: a <= b, Jmp.JSGT: sa > sb,
            Jmp.JSGE: sa >= sb, Jmp.JSLT: sa < sb, Jmp.JSLE: sa <= sb}[op]


@settings(max_examples=300, deadline=None)
@given(st.data(), st.sampled_from(JUMPS))
def test_branch_refinement_keeps_the_concrete_values(data, op):
    av, aa = data.draw(abstract())
    bv, ba = data.draw(st.one_of(abstract(), abstract(around=av)))
    rel, swap = relation(op, holds(op, av, bv))
    lhs, rhs = (ba, aa) if swap else (aa, ba)
    lv, rv = (bv, av) if swap else (av, bv)
    try:
        nl, nr = refine(rel, lhs, rhs)
    except EmptyScalar:
        raise AssertionError(f"the edge {op!r} taken={holds(op, av, bv)} was judged impossible")
    assert nl.has(lv) and nr.has(rv)


def test_refinement_decides_impossible_edges():
    small = Scalar.urange(0, 9)
    rel, swap = relation(Jmp.JGT, True)   # small > 10 can't hold
    try:
        refine(rel, Scalar.const(10), small) if swap else refine(rel, small, Scalar.const(10))
    except EmptyScalar:
        return
    raise AssertionError("0..9 > 10 was thought possible")
