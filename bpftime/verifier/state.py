"""Abstract machine state: register and stack-slot types, frames, references.

`Reg` and `Slot` are immutable, so copying a `State` at a branch copies lists and
dicts of references only. `subsumes` decides state pruning: every concrete state
the current one stands for is one the old (fully explored) state stood for.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from enum import IntEnum
from functools import cache

from bpftime.verifier.scalar import Scalar, UNKNOWN_SCALAR

ZERO = Scalar.const(0)


class Kind(IntEnum):
    NOT_INIT = 0
    SCALAR = 1
    CTX = 2
    STACK = 3
    MAP_PTR = 4
    MAP_VALUE = 5
    MAP_VALUE_OR_NULL = 6
    MEM = 7
    MEM_OR_NULL = 8
    PACKET = 9
    PACKET_END = 10
    PACKET_META = 11
    FUNC = 12
    RELEASED = 13   # a reference given back (ringbuf record submitted, host memory freed)
    MAP_PTR_OR_NULL = 14   # an inner map looked up in a map of maps


NULLABLE = {Kind.MAP_VALUE_OR_NULL: Kind.MAP_VALUE, Kind.MEM_OR_NULL: Kind.MEM,
            Kind.MAP_PTR_OR_NULL: Kind.MAP_PTR}
POINTERS = frozenset(Kind) - {Kind.NOT_INIT, Kind.SCALAR, Kind.RELEASED}

KIND_NAMES = {
    Kind.NOT_INIT: "!init", Kind.SCALAR: "scalar", Kind.CTX: "ctx", Kind.STACK: "fp",
    Kind.MAP_PTR: "map_ptr", Kind.MAP_VALUE: "map_value",
    Kind.MAP_VALUE_OR_NULL: "map_value_or_null", Kind.MEM: "mem", Kind.MEM_OR_NULL: "mem_or_null",
    Kind.PACKET: "pkt", Kind.PACKET_END: "pkt_end", Kind.PACKET_META: "pkt_meta",
    Kind.FUNC: "func", Kind.RELEASED: "released", Kind.MAP_PTR_OR_NULL: "map_ptr_or_null",
}


@dataclass(frozen=True)
class Mem:
    """A memory region other than stack, context and map values."""

    name: str                  # "input", "ringbuf record", "host arg r", ...
    size: int
    writable: bool = False
    write_ranges: tuple[tuple[int, int], ...] = ()   # (offset, size) writable fields
    ringbuf: bool = False      # a ringbuf record: submit or discard it exactly once

    def may_write(self, lo: int, hi: int) -> bool:
        if self.writable:
            return True
        return any(o <= lo and hi <= o + n for o, n in self.write_ranges)


@dataclass(frozen=True, slots=True)
class Reg:
    """A register's abstract value. For pointers `val` is the offset from the
    region's start; `idx` is the map index (map kinds) or the target (FUNC)."""

    kind: Kind
    val: Scalar = UNKNOWN_SCALAR
    idx: int = -1
    frame: int = 0             # STACK: which call frame
    mem: Mem | None = None
    id: int = 0                # null-check group / reference id / linked scalar copies
    rng: int = 0               # PACKET: bytes proven below data_end
    origin: int = -1           # instruction that created it (messages)

    @property
    def is_ptr(self) -> bool:
        return self.kind in POINTERS

    @property
    def is_scalar(self) -> bool:
        return self.kind == Kind.SCALAR


NOT_INIT = Reg(Kind.NOT_INIT)


def scalar(v: Scalar = UNKNOWN_SCALAR) -> Reg:
    return Reg(Kind.SCALAR, v)


def const(v: int) -> Reg:
    return Reg(Kind.SCALAR, Scalar.const(v))


@dataclass(frozen=True, slots=True)
class Slot:
    """8 stack bytes: a mask of the initialized bytes (bit i = byte i of the slot,
    from its lowest address) and possibly a spilled register occupying bytes
    [off, off+size) — any register for an aligned 8-byte store, a scalar (truncated
    to `size` bytes) for a narrower one."""

    init: int = 0
    spill: Reg | None = None
    off: int = 0
    size: int = 8


EMPTY_SLOT = Slot()


def stack_byte(stack: dict[int, Slot], a: int) -> tuple[int, Slot, int]:
    """Stack byte fp+a: the index of its 8-byte slot, that slot, the byte within it."""
    k = (-a - 1) // 8
    return k, stack.get(k, EMPTY_SLOT), a + 8 * (k + 1)


@dataclass
class Frame:
    regs: list[Reg]
    stack: dict[int, Slot]     # slot index k covers fp-8(k+1) .. fp-8k-1
    callsite: int = -1         # instruction of the call that made this frame
    subprog: int = 0           # first instruction of the function
    loop_max: int = -1         # a bpf_loop callback: the most iterations (else -1)

    def copy(self) -> "Frame":
        return Frame(list(self.regs), dict(self.stack), self.callsite, self.subprog, self.loop_max)


@dataclass
class State:
    frames: list[Frame]
    refs: dict[int, int] = field(default_factory=dict)   # reference id -> acquiring insn

    @property
    def cur(self) -> Frame:
        return self.frames[-1]

    def copy(self) -> "State":
        return State([f.copy() for f in self.frames], dict(self.refs))

    def replace_where(self, pred, make) -> None:
        """Replace every register or spilled register `r` with pred(r) by make(r)."""
        for f in self.frames:
            for i, r in enumerate(f.regs):
                if pred(r):
                    f.regs[i] = make(r)
            for k, s in list(f.stack.items()):
                if s.spill is not None and pred(s.spill):
                    f.stack[k] = replace(s, spill=make(s.spill))


# --- comparison ------------------------------------------------------------------
def _reg_subsumes(old: Reg, cur: Reg, idmap: dict[int, int], exact: bool, precise: bool) -> bool:
    kind = old.kind
    if kind is not cur.kind:
        return kind is Kind.NOT_INIT and not exact
    if kind is Kind.SCALAR:
        if not precise:
            return True
        if not (old.val == cur.val if exact else old.val.contains(cur.val)):
            return False
        # copies linked in the old state were narrowed together: they must be here too
        return not old.id or (cur.id != 0 and idmap.setdefault(old.id, cur.id) == cur.id)
    if kind is Kind.NOT_INIT:
        return True
    if old.idx != cur.idx or old.frame != cur.frame or old.mem != cur.mem:
        return False
    if old.rng > cur.rng or (exact and old.rng != cur.rng):
        return False
    if not (old.val == cur.val if exact else old.val.contains(cur.val)):
        return False
    if old.id or cur.id:
        if idmap.setdefault(old.id, cur.id) != cur.id:
            return False
    return True


@cache
def checked_registers(live: int, precise: int) -> tuple[tuple[int, bool], ...]:
    """(register, precise) for each register set in the `live` mask."""
    return tuple((i, bool(precise >> i & 1)) for i in range(11) if live >> i & 1)


def subsumes(old: State, cur: State, live: list[int], precise: list[int],
             exact: bool = False) -> bool:
    """Whether everything that may happen from `cur` was already proven safe from
    `old`. `live` holds, per frame (innermost last), a bitmask of the registers that
    may still be read (dead ones are ignored), `precise` those whose scalar value
    may still matter (other scalars only need to be scalars). `exact` asks for
    equality (of what matters)."""
    return mismatch(old, cur, live, precise, exact) is None


def register_differs(old: State, cur: State, regno: int, precise: int) -> bool:
    """Whether register `regno` of the innermost frames (live, `precise` being the
    innermost frame's mask) rules out `subsumes(old, cur, ...)` by itself. Exact: a
    register compared with no ids mapped yet fails only on kind or value, which no
    id mapping can repair."""
    return not _reg_subsumes(old.frames[-1].regs[regno], cur.frames[-1].regs[regno], {}, False,
                             bool(precise >> regno & 1))


def mismatch(old: State, cur: State, live: list[int], precise: list[int],
             exact: bool = False) -> int | None:
    """None if `old` subsumes `cur` (see `subsumes`), else why not: the register of
    the innermost frame found to differ, or -1 for anything else."""
    if len(old.frames) != len(cur.frames) or len(old.refs) != len(cur.refs):
        return -1
    idmap: dict[int, int] = {}
    # innermost frame first: its registers differ most often. Registers and slots are
    # immutable and shared between states, so the same object needs no comparison
    # (unless it carries an id, which must map consistently).
    for fi in range(len(old.frames) - 1, -1, -1):
        fo, fc = old.frames[fi], cur.frames[fi]
        if fo.callsite != fc.callsite:
            return -1
        ro_all, rc_all = fo.regs, fc.regs
        for i, prec in checked_registers(live[fi], precise[fi]):
            ro, rc = ro_all[i], rc_all[i]
            if ro is rc and not ro.id:
                continue
            if not _reg_subsumes(ro, rc, idmap, exact, prec):
                return i if fi == len(old.frames) - 1 else -1
        stack_c = fc.stack
        for k, so in fo.stack.items():
            if not so.init and so.spill is None and not exact:
                continue
            sc = stack_c.get(k, EMPTY_SLOT)
            if so is sc and (so.spill is None or not so.spill.id):
                continue
            if so.init & ~sc.init:
                return -1
            if exact and (so.init != sc.init or (so.spill is None) != (sc.spill is None)):
                return -1
            if so.spill is not None:
                if sc.spill is None or so.off != sc.off or so.size != sc.size \
                        or not _reg_subsumes(so.spill, sc.spill, idmap, exact, True):
                    return -1
            elif sc.spill is not None and sc.spill.kind is not Kind.SCALAR:
                return -1
        if exact:
            for k, sc in stack_c.items():
                if k not in fo.stack and (sc.init or sc.spill is not None):
                    return -1
    for rid in old.refs:
        if idmap.get(rid, rid) not in cur.refs:
            return -1
    return None


# --- formatting --------------------------------------------------------------------
def fmt_reg(r: Reg, maps=None) -> str:
    name = KIND_NAMES[r.kind]
    if r.kind == Kind.SCALAR:
        if r.val.is_const:
            return str(r.val)
        return f"scalar(id={r.id}{',' if str(r.val) else ''}{r.val})" if r.id else f"scalar({r.val})"
    if r.kind == Kind.STACK:
        off = str(r.val) if r.val.is_const else f"({r.val})"
        sign = "" if off.startswith("-") or not r.val.is_const else "+" if r.val.value else ""
        return f"fp{sign}{off}" + (f"[frame{r.frame}]" if r.frame else "")
    if r.kind in (Kind.NOT_INIT, Kind.RELEASED, Kind.PACKET_END, Kind.PACKET_META):
        return name
    parts = []
    if r.id:
        parts.append(f"id={r.id}")
    parts.append(f"off={r.val}" if r.val.is_const else f"off=({r.val})")
    if r.kind in (Kind.MAP_PTR, Kind.MAP_PTR_OR_NULL, Kind.MAP_VALUE, Kind.MAP_VALUE_OR_NULL) \
            and maps is not None:
        m = maps[r.idx]
        if r.kind in (Kind.MAP_PTR, Kind.MAP_PTR_OR_NULL):
            parts = [f"map={getattr(m, 'name', r.idx)}"]
        parts += [f"ks={m.key_size}", f"vs={m.value_size}"]
    if r.kind in (Kind.MEM, Kind.MEM_OR_NULL) and r.mem is not None:
        parts.insert(0, r.mem.name)
        parts.append(f"sz={r.mem.size}")
        if not r.mem.writable:
            parts.append("rdonly" if not r.mem.write_ranges else "fields_rw")
    if r.kind == Kind.PACKET:
        parts.append(f"r={r.rng}")
    if r.kind == Kind.FUNC:
        parts = [f"insn={r.idx}"]
    return f"{name}({','.join(parts)})"


def fmt_state(st: State, maps=None) -> str:
    """Initialized registers and stack of the innermost frame, kernel log style."""
    f = st.cur
    out = [f"R{i}={fmt_reg(r, maps)}" for i, r in enumerate(f.regs) if r.kind != Kind.NOT_INIT]
    for k in sorted(f.stack):
        s = f.stack[k]
        if s.spill is not None:
            width = "" if s.size == 8 else f"/{s.size}"
            out.append(f"fp{-8 * (k + 1) + s.off}{width}={fmt_reg(s.spill, maps)}")
        elif s.init:
            out.append(f"fp{-8 * (k + 1)}=" + "".join("m" if s.init >> b & 1 else "?" for b in range(8)))
    if len(st.frames) > 1:
        out.insert(0, f"frame{len(st.frames) - 1}:")
    return " ".join(out)
