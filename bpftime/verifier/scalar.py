"""Abstract 64-bit scalars: unsigned and signed bounds plus known bits.

`Scalar` is immutable. ALU transfer functions work in 64 or 32 bits (32-bit results
are zero-extended, as eBPF defines); `refine` narrows both operands of a conditional
jump for one outcome and tells when an outcome is impossible. 32-bit bounds are
views computed from the 64-bit state (`sub32`, `sext32`).
"""
from __future__ import annotations

from bpftime.isa import Alu, Jmp
from bpftime.verifier.tnum import UNKNOWN, U64, Tnum

S64_MIN, S64_MAX = -(1 << 63), (1 << 63) - 1
U32 = (1 << 32) - 1


def signed(v: int, width: int = 64) -> int:
    v &= (1 << width) - 1
    return v - (1 << width) if v >> (width - 1) else v


class Scalar:
    """A set of 64-bit values: [umin, umax] ∩ [smin, smax] (signed) ∩ tnum."""

    __slots__ = ("umin", "umax", "smin", "smax", "tn")

    def __init__(self, umin: int = 0, umax: int = U64, smin: int = S64_MIN,
                 smax: int = S64_MAX, tn: Tnum = UNKNOWN):
        self.umin, self.umax, self.smin, self.smax, self.tn = umin, umax, smin, smax, tn

    # --- construction --------------------------------------------------------------
    @staticmethod
    def const(v: int) -> "Scalar":
        v &= U64
        sv = v - (1 << 64) if v > S64_MAX else v
        return Scalar(v, v, sv, sv, Tnum(v, 0))

    @staticmethod
    def urange(lo: int, hi: int) -> "Scalar":
        return Scalar(lo, hi).synced()

    @staticmethod
    def srange(lo: int, hi: int) -> "Scalar":
        return Scalar(smin=lo, smax=hi).synced()

    def synced(self) -> "Scalar":
        """Bounds and known bits made consistent; raises EmptyScalar if no value remains.
        (Tnum.range and Tnum.intersect are inlined: this runs for most ALU results.)"""
        umin, umax, smin, smax = self.umin, self.umax, self.smin, self.smax
        tv, tm = self.tn
        for _ in range(2):
            before = umin, umax, smin, smax, tv, tm
            if umin < tv:
                umin = tv
            if umax > tv | tm:
                umax = tv | tm
            if smin >= 0 or smax < 0:  # one sign: signed bounds are unsigned bounds
                umin, umax = max(umin, smin & U64), min(umax, smax & U64)
            if umax <= S64_MAX or umin > S64_MAX:
                smin = max(smin, umin - (1 << 64) if umin > S64_MAX else umin)
                smax = min(smax, umax - (1 << 64) if umax > S64_MAX else umax)
            if umin > umax or smin > smax:
                raise EmptyScalar()
            chi = umin ^ umax      # the tnum of [umin, umax], intersected with (tv, tm)
            if chi == 0:
                rv, rm = umin, 0
            elif chi.bit_length() > 63:
                rv, rm = 0, U64
            else:
                rm = (1 << chi.bit_length()) - 1
                rv = umin & ~rm & U64
            tm &= rm
            tv = (tv | rv) & ~tm & U64
            if (umin, umax, smin, smax, tv, tm) == before:
                break
        if umin > umax or smin > smax or (tv & ~tm & U64) != tv:
            raise EmptyScalar()
        tn = self.tn
        return Scalar(umin, umax, smin, smax,
                      tn if tn.value == tv and tn.mask == tm else Tnum(tv, tm))

    # --- queries ----------------------------------------------------------------------
    @property
    def is_const(self) -> bool:
        return self.umin == self.umax

    @property
    def value(self) -> int:
        return self.umin

    def contains(self, o: "Scalar") -> bool:
        if not (self.umin <= o.umin and o.umax <= self.umax and self.smin <= o.smin
                and o.smax <= self.smax):
            return False
        (sv, sm), (ov, om) = self.tn, o.tn
        return not om & ~sm and (ov & ~sm) == sv

    def has(self, v: int) -> bool:
        v &= U64
        return self.umin <= v <= self.umax and self.smin <= signed(v) <= self.smax and self.tn.has(v)

    def key(self) -> tuple:
        return (self.umin, self.umax, self.smin, self.smax, self.tn)

    def __eq__(self, o: object) -> bool:
        return isinstance(o, Scalar) and (
            self.umin == o.umin and self.umax == o.umax and self.smin == o.smin
            and self.smax == o.smax and self.tn == o.tn)

    def __hash__(self) -> int:
        return hash(self.key())

    def sub32(self) -> "Scalar":
        """The low 32 bits, zero-extended."""
        if self.umax <= U32:
            return self
        if (self.umin >> 32) == (self.umax >> 32):
            return Scalar(self.umin & U32, self.umax & U32, tn=self.tn.cast(4)).synced()
        return Scalar(0, U32, tn=self.tn.cast(4)).synced()

    def sext32(self) -> "Scalar":
        """The low 32 bits, sign-extended to 64."""
        if -(1 << 31) <= self.smin and self.smax < (1 << 31):
            return self
        low = self.sub32()
        if low.umax < (1 << 31):
            return low
        if low.umin >= (1 << 31):
            return Scalar.srange(low.umin - (1 << 32), low.umax - (1 << 32))
        return Scalar.srange(-(1 << 31), (1 << 31) - 1)

    def __str__(self) -> str:
        if self.is_const:
            return str(signed(self.umin)) if self.smin < 0 else str(self.umin)
        parts = []
        if self.smin < 0:
            if self.smin != S64_MIN:
                parts.append(f"smin={self.smin}")
            if self.smax != S64_MAX:
                parts.append(f"smax={self.smax}")
        if self.umin:
            parts.append(f"umin={self.umin}")
        if self.umax != U64:
            parts.append(f"umax={self.umax}")
        if self.tn.mask != U64 and self.tn != Tnum.range(self.umin, self.umax):
            parts.append(f"var_off={self.tn}")
        return ",".join(parts)


class EmptyScalar(Exception):
    """No value satisfies the constraints: the path is infeasible."""


UNKNOWN_SCALAR = Scalar()


def loaded_scalar(size: int, sign: bool) -> Scalar:
    """Any integer of `size` bytes, sign- or zero-extended to 64 bits."""
    if size == 8:
        return UNKNOWN_SCALAR
    bits = 8 * size
    if sign:
        return Scalar.srange(-(1 << (bits - 1)), (1 << (bits - 1)) - 1)
    return Scalar.urange(0, (1 << bits) - 1)


# --- concrete semantics (used when both operands are known) ----------------------
def _byteswap(v: int, bits: int) -> int:
    return int.from_bytes((v & ((1 << bits) - 1)).to_bytes(bits // 8, "little"), "big")


def concrete_alu(op: int, a: int, b: int, width: int, off: int = 0, swap: bool = False) -> int:
    """eBPF's result of `a op b` in `width` bits (unsigned, not yet zero-extended).
    `off` selects sdiv/smod (1) or the source width of movsx; for END `b` is the
    width and `swap` says whether bytes are swapped (to big endian, or bswap) or the
    value is only truncated (to little endian, which this host is)."""
    mask = (1 << width) - 1
    a &= mask
    b &= mask
    if op == Alu.ADD:
        return (a + b) & mask
    if op == Alu.SUB:
        return (a - b) & mask
    if op == Alu.MUL:
        return (a * b) & mask
    if op == Alu.DIV:
        if b == 0:
            return 0
        if off == 1:
            sa, sb = signed(a, width), signed(b, width)
            q = abs(sa) // abs(sb)
            return (q if (sa < 0) == (sb < 0) else -q) & mask
        return a // b
    if op == Alu.MOD:
        if b == 0:
            return a
        if off == 1:
            sa, sb = signed(a, width), signed(b, width)
            r = abs(sa) % abs(sb)
            return (-r if sa < 0 else r) & mask
        return a % b
    if op == Alu.OR:
        return a | b
    if op == Alu.AND:
        return a & b
    if op == Alu.XOR:
        return a ^ b
    if op == Alu.LSH:
        return (a << (b & (width - 1))) & mask
    if op == Alu.RSH:
        return a >> (b & (width - 1))
    if op == Alu.ARSH:
        return (signed(a, width) >> (b & (width - 1))) & mask
    if op == Alu.NEG:
        return (-a) & mask
    if op == Alu.MOV:
        return (signed(b, off) & mask) if off else b
    if op == Alu.END:
        return _byteswap(a, b) if swap else a & ((1 << b) - 1)
    raise ValueError(f"unknown ALU op {op:#x}")


# --- abstract ALU -----------------------------------------------------------------
def _make(width: int, ulo: int | None, uhi: int | None, slo: int | None, shi: int | None,
          tn: Tnum) -> Scalar:
    """A result in `width` bits from (possibly absent) bounds; 32-bit results are
    zero-extended, so their signed 32-bit bounds only help when non-negative."""
    mask = (1 << width) - 1
    tn = tn.cast(width // 8) if width == 32 else tn
    if width == 64:
        s = Scalar(0 if ulo is None else ulo, U64 if uhi is None else uhi,
                   S64_MIN if slo is None else slo, S64_MAX if shi is None else shi, tn)
    else:
        lo, hi = (0, mask) if ulo is None else (ulo, uhi)
        if slo is not None and slo >= 0:
            lo, hi = max(lo, slo), min(hi, shi)
        s = Scalar(lo, hi, 0, mask, tn)
    return s.synced()


def _view(s: Scalar, width: int) -> tuple[int, int, int, int, Tnum]:
    if width == 64:
        return s.umin, s.umax, s.smin, s.smax, s.tn
    u = s.sub32()
    x = s.sext32()
    return u.umin, u.umax, x.smin, x.smax, u.tn


def alu(op: int, a: Scalar, b: Scalar, width: int, off: int = 0, swap: bool = False) -> Scalar:
    """The abstract result of `a op b` (a is dst, b is src or imm) in `width` bits."""
    if a.is_const and (b.is_const or op == Alu.NEG):
        return Scalar.const(concrete_alu(op, a.value, b.value, width, off, swap))
    if op == Alu.MOV and not off:
        return b if width == 64 else b.sub32()
    maxu = (1 << width) - 1
    smin_w, smax_w = -(1 << (width - 1)), (1 << (width - 1)) - 1
    aul, auh, asl, ash, at = _view(a, width)
    bul, buh, bsl, bsh, bt = _view(b, width)
    ulo = uhi = slo = shi = None
    tn = UNKNOWN
    if op == Alu.ADD:
        if auh + buh <= maxu:
            ulo, uhi = aul + bul, auh + buh
        if smin_w <= asl + bsl and ash + bsh <= smax_w:
            slo, shi = asl + bsl, ash + bsh
        tn = at.add(bt)
    elif op == Alu.SUB:
        if aul >= buh:
            ulo, uhi = aul - buh, auh - bul
        if smin_w <= asl - bsh and ash - bsl <= smax_w:
            slo, shi = asl - bsh, ash - bsl
        tn = at.sub(bt)
    elif op == Alu.MUL:
        if auh * buh <= maxu:
            ulo, uhi = aul * bul, auh * buh
        corners = (asl * bsl, asl * bsh, ash * bsl, ash * bsh)
        if smin_w <= min(corners) and max(corners) <= smax_w:
            slo, shi = min(corners), max(corners)
        tn = at.mul(bt)
    elif op == Alu.DIV and off == 0:
        if bul == 0:
            ulo, uhi = 0, auh
        else:
            ulo, uhi = aul // buh, auh // bul
    elif op == Alu.MOD and off == 0:
        if bul > 0 and auh < bul:
            return a if width == 64 else a.sub32()
        ulo, uhi = 0, auh if bul == 0 else min(auh, buh - 1)
    elif op == Alu.AND:
        ulo, uhi = 0, min(auh, buh)
        tn = at.and_(bt)
    elif op == Alu.OR:
        ulo, uhi = max(aul, bul), maxu
        tn = at.or_(bt)
    elif op == Alu.XOR:
        tn = at.xor(bt)
    elif op in (Alu.LSH, Alu.RSH, Alu.ARSH) and b.is_const:
        sh = b.value & (width - 1)
        if op == Alu.LSH:
            if auh << sh <= maxu:
                ulo, uhi = aul << sh, auh << sh
            tn = at.cast(width // 8).lshift(sh)
        elif op == Alu.RSH:
            ulo, uhi = aul >> sh, auh >> sh
            tn = at.cast(width // 8).rshift(sh)
        else:
            slo, shi = asl >> sh, ash >> sh
            tn = at.cast(width // 8).arshift(sh, width)
            if width == 32:  # signed result of a 32-bit arsh, seen zero-extended
                return _make(32, None, None, None, None, tn) if slo < 0 else _make(32, slo, shi, slo, shi, tn)
    elif op == Alu.RSH:
        ulo, uhi = 0, auh
    elif op == Alu.MOV:  # movsx of an unknown value
        bits = off
        if bsl >= 0 and buh < (1 << (bits - 1)):
            ulo, uhi = bul, buh
        else:
            slo, shi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    elif op == Alu.END:
        nbits = b.value
        if not swap and a.umax < (1 << nbits):
            return a
        ulo, uhi = 0, (1 << nbits) - 1
        tn = UNKNOWN if swap else a.tn.cast(nbits // 8)
        width = 64
    return _make(width, ulo, uhi, slo, shi, tn)


# --- conditional jumps ----------------------------------------------------------
# Every conditional jump is normalised to one of these relations over (lhs, rhs).
EQ, NE, ULT, ULE, SLT, SLE, SET, NSET = range(8)
_JMP_REL = {
    Jmp.JEQ: (EQ, False), Jmp.JNE: (NE, False), Jmp.JSET: (SET, False),
    Jmp.JLT: (ULT, False), Jmp.JLE: (ULE, False), Jmp.JGT: (ULT, True), Jmp.JGE: (ULE, True),
    Jmp.JSLT: (SLT, False), Jmp.JSLE: (SLE, False), Jmp.JSGT: (SLT, True), Jmp.JSGE: (SLE, True),
}
_NEGATE = {EQ: NE, NE: EQ, SET: NSET, NSET: SET}
_FLIP = {ULT: ULE, ULE: ULT, SLT: SLE, SLE: SLT}


def relation(op: int, taken: bool) -> tuple[int, bool]:
    """(relation, swap operands) holding on the `taken` (or fall-through) edge."""
    rel, swap = _JMP_REL[op]
    if taken:
        return rel, swap
    if rel in _NEGATE:
        return _NEGATE[rel], swap
    # not (a < b) == b <= a ; not (a <= b) == b < a
    return _FLIP[rel], not swap


def refine(rel: int, a: Scalar, b: Scalar) -> tuple[Scalar, Scalar]:
    """Operands narrowed so that `a rel b` holds; raises EmptyScalar if it can't."""
    if rel == EQ:
        both = Scalar(max(a.umin, b.umin), min(a.umax, b.umax), max(a.smin, b.smin),
                      min(a.smax, b.smax), a.tn.intersect(b.tn))
        if (a.tn.value ^ b.tn.value) & ~(a.tn.mask | b.tn.mask) & U64:
            raise EmptyScalar()
        both = both.synced()
        return both, both
    if rel == NE:
        if a.is_const and b.is_const and a.value == b.value:
            raise EmptyScalar()
        return _exclude(a, b), _exclude(b, a)
    if rel == ULT:
        if a.umin >= b.umax:
            raise EmptyScalar()
        return (Scalar(a.umin, min(a.umax, b.umax - 1), a.smin, a.smax, a.tn).synced(),
                Scalar(max(b.umin, a.umin + 1), b.umax, b.smin, b.smax, b.tn).synced())
    if rel == ULE:
        return (Scalar(a.umin, min(a.umax, b.umax), a.smin, a.smax, a.tn).synced(),
                Scalar(max(b.umin, a.umin), b.umax, b.smin, b.smax, b.tn).synced())
    if rel == SLT:
        if a.smin >= b.smax:
            raise EmptyScalar()
        return (Scalar(a.umin, a.umax, a.smin, min(a.smax, b.smax - 1), a.tn).synced(),
                Scalar(b.umin, b.umax, max(b.smin, a.smin + 1), b.smax, b.tn).synced())
    if rel == SLE:
        return (Scalar(a.umin, a.umax, a.smin, min(a.smax, b.smax), a.tn).synced(),
                Scalar(b.umin, b.umax, max(b.smin, a.smin), b.smax, b.tn).synced())
    if rel == SET:
        if b.is_const and (a.tn.value & b.value) == 0 and (a.tn.mask & b.value) == 0:
            raise EmptyScalar()
        if b.is_const and b.value and b.value & (b.value - 1) == 0:
            return Scalar(a.umin, a.umax, a.smin, a.smax, a.tn.or_(Tnum(b.value, 0))).synced(), b
        return a, b
    # NSET: a & b == 0
    if b.is_const:
        if a.tn.value & b.value:
            raise EmptyScalar()
        t = Tnum(a.tn.value, a.tn.mask & ~b.value & U64)
        return Scalar(a.umin, a.umax, a.smin, a.smax, t).synced(), b
    return a, b


def _exclude(a: Scalar, b: Scalar) -> Scalar:
    """a with the constant b removed where it is an end of a's range."""
    if not b.is_const:
        return a
    c = b.value
    umin, umax, smin, smax = a.umin, a.umax, a.smin, a.smax
    if umin == c:
        umin += 1
    if umax == c:
        umax -= 1
    if smin == signed(c):
        smin += 1
    if smax == signed(c):
        smax -= 1
    return Scalar(umin, umax, smin, smax, a.tn).synced()
