"""Tristate numbers: which bits of a 64-bit value are known (as the kernel's tnum).

A `Tnum(value, mask)` stands for every x with `x & ~mask == value`: bits set in
`mask` are unknown, the others equal those of `value`.
"""
from __future__ import annotations

from typing import NamedTuple

U64 = (1 << 64) - 1


class Tnum(NamedTuple):
    value: int
    mask: int

    @staticmethod
    def const(v: int) -> "Tnum":
        return Tnum(v & U64, 0)

    @staticmethod
    def range(lo: int, hi: int) -> "Tnum":
        """The smallest tnum holding every value of the unsigned range [lo, hi]."""
        chi = lo ^ hi
        if chi == 0:
            return Tnum(lo, 0)
        bits = chi.bit_length()
        if bits > 63:
            return UNKNOWN
        delta = (1 << bits) - 1
        return Tnum(lo & ~delta & U64, delta)

    @property
    def is_const(self) -> bool:
        return self.mask == 0

    @property
    def umin(self) -> int:
        return self.value

    @property
    def umax(self) -> int:
        return self.value | self.mask

    def has(self, v: int) -> bool:
        return (v & ~self.mask & U64) == self.value

    def intersect(self, other: "Tnum") -> "Tnum":
        v = self.value | other.value
        mu = self.mask & other.mask
        return Tnum(v & ~mu & U64, mu)

    def add(self, o: "Tnum") -> "Tnum":
        sm = (self.mask + o.mask) & U64
        sv = (self.value + o.value) & U64
        sigma = (sm + sv) & U64
        chi = sigma ^ sv
        mu = chi | self.mask | o.mask
        return Tnum(sv & ~mu & U64, mu & U64)

    def sub(self, o: "Tnum") -> "Tnum":
        dv = (self.value - o.value) & U64
        alpha = (dv + self.mask) & U64
        beta = (dv - o.mask) & U64
        chi = alpha ^ beta
        mu = chi | self.mask | o.mask
        return Tnum(dv & ~mu & U64, mu & U64)

    def and_(self, o: "Tnum") -> "Tnum":
        alpha = self.value | self.mask
        beta = o.value | o.mask
        v = self.value & o.value
        return Tnum(v, alpha & beta & ~v & U64)

    def or_(self, o: "Tnum") -> "Tnum":
        v = self.value | o.value
        mu = self.mask | o.mask
        return Tnum(v, mu & ~v & U64)

    def xor(self, o: "Tnum") -> "Tnum":
        v = self.value ^ o.value
        mu = self.mask | o.mask
        return Tnum(v & ~mu & U64, mu)

    def lshift(self, s: int) -> "Tnum":
        return Tnum((self.value << s) & U64, (self.mask << s) & U64)

    def rshift(self, s: int) -> "Tnum":
        return Tnum(self.value >> s, self.mask >> s)

    def arshift(self, s: int, width: int = 64) -> "Tnum":
        def sar(x: int) -> int:
            top = 1 << (width - 1)
            full = (1 << width) - 1
            sx = (x & full) - ((x & top) << 1)
            return (sx >> s) & full
        return Tnum(sar(self.value), sar(self.mask))

    def mul(self, o: "Tnum") -> "Tnum":
        """Exact for constants; otherwise only the known-zero low bits of the
        factors (their trailing zeros add up) survive."""
        if self.is_const and o.is_const:
            return Tnum.const(self.value * o.value)
        low = min(_trailing_known_zeros(self) + _trailing_known_zeros(o), 64)
        return Tnum(0, U64 & ~((1 << low) - 1))

    def cast(self, nbytes: int) -> "Tnum":
        """Truncate to the low `nbytes` bytes (zero-extended)."""
        m = (1 << (nbytes * 8)) - 1
        return Tnum(self.value & m, self.mask & m)

    def __str__(self) -> str:
        return f"({self.value:#x}; {self.mask:#x})"


def _trailing_known_zeros(t: Tnum) -> int:
    bits = t.value | t.mask
    if bits == 0:
        return 64
    return (bits & -bits).bit_length() - 1


UNKNOWN = Tnum(0, U64)
