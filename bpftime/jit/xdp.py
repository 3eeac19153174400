"""The XDP context, as the kernel arranges it.

An XDP program reads `struct xdp_md` (u32 data, data_end, data_meta, ingress_ifindex,
rx_queue_index, egress_ifindex) but the kernel rewrites those loads: `data`,
`data_end` and `data_meta` become 64-bit loads of real pointers. `rewrite_xdp_context`
does the same against `XdpContext`, the layout this runtime passes as r1; it finds
the context pointer by a forward data-flow pass over registers and 8-byte stack
spills (r10-relative), and refuses accesses it cannot prove are, or are not, to the
context. The instruction count is unchanged, so indices in messages stay valid.
"""
from __future__ import annotations

import ctypes
from dataclasses import replace

from bpftime.isa import FP, Alu, AtomicOp, Cls, Insn, Jmp, Mode, Pseudo, Size
from bpftime.jit.errors import CompileError


class XdpContext(ctypes.Structure):
    """What r1 points to when an XDP program runs here."""

    _fields_ = [("data", ctypes.c_uint64), ("data_end", ctypes.c_uint64),
                ("data_meta", ctypes.c_uint64), ("ingress_ifindex", ctypes.c_uint32),
                ("rx_queue_index", ctypes.c_uint32), ("egress_ifindex", ctypes.c_uint32)]


POINTER_FIELDS = {0: XdpContext.data.offset, 4: XdpContext.data_end.offset,
                  8: XdpContext.data_meta.offset}   # xdp_md offset -> XdpContext offset
U32_FIELDS_START, U32_FIELDS_END = 12, 24         # ingress_ifindex .. egress_ifindex
U32_FIELDS_AT = XdpContext.ingress_ifindex.offset

OTHER, CTX, MODIFIED, MIXED = range(4)
State = tuple[tuple[int, ...], frozenset[tuple[int, int]]]  # (register tags, {(fp offset, tag)})


def _join(a: State, b: State) -> State:
    regs = tuple(x if x == y else MIXED for x, y in zip(a[0], b[0]))
    sa, sb = dict(a[1]), dict(b[1])
    stack = {off: (sa.get(off, OTHER) if sa.get(off, OTHER) == sb.get(off, OTHER) else MIXED)
             for off in sa.keys() | sb.keys()}
    return regs, frozenset((o, t) for o, t in stack.items() if t != OTHER)


def _set(regs: tuple[int, ...], reg: int, tag: int) -> tuple[int, ...]:
    return regs[:reg] + (tag,) + regs[reg + 1:]


def _field_access(pc: int, insn: Insn, tag: int) -> Insn | None:
    """The rewritten load of a context field, or CompileError."""
    if tag in (MODIFIED, MIXED):
        what = "a modified context pointer" if tag == MODIFIED else \
            "a register that is the context pointer on some paths only"
        raise CompileError(pc, f"xdp: memory access through {what}")
    if insn.cls != Cls.LDX or insn.mode != Mode.MEM:
        raise CompileError(pc, "xdp: the context (struct xdp_md) is read-only")
    off, size = insn.off, insn.size
    if off in POINTER_FIELDS and size == 4:
        return replace(insn, opcode=Cls.LDX | Mode.MEM | Size.DW, off=POINTER_FIELDS[off])
    if U32_FIELDS_START <= off and off + size <= U32_FIELDS_END and off % size == 0:
        return replace(insn, off=U32_FIELDS_AT + off - U32_FIELDS_START)
    raise CompileError(pc, f"xdp: invalid access to struct xdp_md at offset {off}, size {size}")


def _step(pc: int, insn: Insn, state: State) -> State:
    regs, stack = state
    cls = insn.cls
    if cls in (Cls.ALU, Cls.ALU64):
        src = regs[insn.src] if insn.uses_reg else OTHER
        if insn.op == Alu.MOV:
            if cls == Cls.ALU64 and not insn.off:
                return _set(regs, insn.dst, src), stack
            return _set(regs, insn.dst, OTHER if src == OTHER else MODIFIED), stack
        derived = regs[insn.dst] != OTHER or src != OTHER
        return _set(regs, insn.dst, MODIFIED if derived else OTHER), stack
    if cls == Cls.LDX:
        tag = OTHER
        if insn.src == FP and insn.size == 8:
            tag = dict(stack).get(insn.off, OTHER)
        return _set(regs, insn.dst, tag), stack
    if cls in (Cls.ST, Cls.STX) and insn.dst == FP:
        spills = {o: t for o, t in stack if not (o < insn.off + insn.size and insn.off < o + 8)}
        if cls == Cls.STX and insn.size == 8 and insn.mode == Mode.MEM and regs[insn.src] != OTHER:
            spills[insn.off] = regs[insn.src]
        return regs, frozenset(spills.items())
    if cls == Cls.STX and insn.mode == Mode.ATOMIC and insn.imm & AtomicOp.FETCH:
        written = 0 if insn.imm == AtomicOp.CMPXCHG else insn.src
        return _set(regs, written, OTHER), stack
    if insn.is_lddw:
        return _set(regs, insn.dst, OTHER), stack
    if insn.is_call:
        return (OTHER,) * 6 + regs[6:], stack
    return regs, stack


def rewrite_xdp_context(insns: list[Insn]) -> list[Insn]:
    """`insns` with every load of a `struct xdp_md` field rewritten for XdpContext."""
    n = len(insns)
    states: list[State | None] = [None] * n
    entry: State = ((OTHER, CTX) + (OTHER,) * 9, frozenset())
    blank: State = ((OTHER,) * 11, frozenset())
    work: list[int] = []

    def flow(to: int, state: State) -> None:
        old = states[to]
        new = state if old is None else _join(old, state)
        if new != old:
            states[to] = new
            work.append(to)

    flow(0, entry)
    for pc, insn in enumerate(insns):  # callbacks start with no context pointer
        if insn.is_lddw and insn.src == Pseudo.FUNC:
            flow(pc + 1 + insn.imm, blank)

    out = list(insns)
    while work:
        pc = work.pop()
        state, insn = states[pc], insns[pc]
        assert state is not None
        for base in _bases(insn):
            if state[0][base] != OTHER:
                out[pc] = _field_access(pc, insn, state[0][base])
        if insn.is_exit:
            continue
        after = _step(pc, insn, state)
        if insn.is_local_call:
            flow(pc + 1 + insn.imm, ((OTHER,) + state[0][1:6] + (OTHER,) * 5, frozenset()))
        target = insn.jump_target(pc)
        if target is not None and not insn.is_call:
            flow(target, after)
            if insn.is_jmp and insn.op == Jmp.JA:  # no fall-through
                continue
        if pc + insn.slots < n:
            flow(pc + insn.slots, after)
    return out


def _bases(insn: Insn) -> tuple[int, ...]:
    """Registers used as a memory base by insn."""
    cls = insn.cls
    if cls == Cls.LDX:
        return (insn.src,)
    if cls in (Cls.ST, Cls.STX):
        return (insn.dst,)
    return ()
