"""Semantics of the ALU and jump operations (RFC 9669) on unsigned Python ints.

Every function takes operands already reduced to the operation's width (64 or 32
bits, unsigned) and returns the unsigned result of that width.
"""
from __future__ import annotations

import operator
from collections.abc import Callable

from bpftime.isa import Alu, Jmp

M64 = (1 << 64) - 1
M32 = (1 << 32) - 1

BinOp = Callable[[int, int], int]
Cond = Callable[[int, int], bool]


def signed(v: int, bits: int) -> int:
    return v - (1 << bits) if v >> (bits - 1) else v


def _tdiv(a: int, b: int) -> int:
    """Division truncated toward zero."""
    q = abs(a) // abs(b)
    return -q if (a < 0) != (b < 0) else q


def alu_op(op: int, bits: int, is_signed: bool) -> BinOp:
    """The binary ALU operation `op` at `bits` width; `is_signed` selects sdiv/smod."""
    mask = M64 if bits == 64 else M32
    shift = bits - 1

    def sdiv(a: int, b: int) -> int:
        if b == 0:
            return 0
        return _tdiv(signed(a, bits), signed(b, bits)) & mask

    def smod(a: int, b: int) -> int:
        if b == 0:
            return a
        sa, sb = signed(a, bits), signed(b, bits)
        return (sa - _tdiv(sa, sb) * sb) & mask

    table: dict[int, BinOp] = {
        Alu.ADD: lambda a, b: (a + b) & mask,
        Alu.SUB: lambda a, b: (a - b) & mask,
        Alu.MUL: lambda a, b: (a * b) & mask,
        Alu.DIV: sdiv if is_signed else (lambda a, b: a // b if b else 0),
        Alu.MOD: smod if is_signed else (lambda a, b: a % b if b else a),
        Alu.OR: operator.or_,
        Alu.AND: operator.and_,
        Alu.XOR: operator.xor,
        Alu.LSH: lambda a, b: (a << (b & shift)) & mask,
        Alu.RSH: lambda a, b: a >> (b & shift),
        Alu.ARSH: lambda a, b: (signed(a, bits) >> (b & shift)) & mask,
        Alu.MOV: lambda a, b: b,
    }
    return table[op]


def sign_extend(bits_from: int, bits_to: int) -> Callable[[int], int]:
    """movsx: sign-extend the low `bits_from` bits to `bits_to` bits."""
    low, mask = (1 << bits_from) - 1, (1 << bits_to) - 1
    return lambda v: signed(v & low, bits_from) & mask


def byte_swap(width: int) -> Callable[[int], int]:
    """Reverse the low `width` bits' bytes (the result has `width` bits)."""
    n = width // 8
    return lambda v: int.from_bytes((v & ((1 << width) - 1)).to_bytes(n, "little"), "big")


def condition(op: int, bits: int) -> Cond:
    """The comparison of a conditional jump at `bits` width."""
    def s(v: int) -> int:
        return signed(v, bits)

    table: dict[int, Cond] = {  # unsigned ones are C functions: no Python frame per test
        Jmp.JEQ: operator.eq,
        Jmp.JNE: operator.ne,
        Jmp.JGT: operator.gt,
        Jmp.JGE: operator.ge,
        Jmp.JLT: operator.lt,
        Jmp.JLE: operator.le,
        Jmp.JSET: lambda a, b: bool(a & b),
        Jmp.JSGT: lambda a, b: s(a) > s(b),
        Jmp.JSGE: lambda a, b: s(a) >= s(b),
        Jmp.JSLT: lambda a, b: s(a) < s(b),
        Jmp.JSLE: lambda a, b: s(a) <= s(b),
    }
    return table[op]
