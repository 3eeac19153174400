"""Static register liveness and relevance, per instruction.

State pruning ignores dead registers (a value never read cannot make a path
unsafe) and compares only the kind of scalars whose value can no longer matter
(`relevant_registers`), which keeps the number of explored states small.
"""
from __future__ import annotations

from typing import Callable

from bpftime.helper_protos import PROTOS, Arg
from bpftime.isa import Alu, AtomicOp, CallKind, Cls, Insn, Jmp, Mode, Pseudo

ARGS = 0b111110       # r1..r5
CALLER_SAVED = 0b111111  # r0..r5


def _uses_defs(insn: Insn) -> tuple[int, int]:
    """(registers read, registers written) by one instruction."""
    d, s = 1 << insn.dst, 1 << insn.src
    cls = insn.cls
    if cls in (Cls.ALU, Cls.ALU64):
        src = s if insn.uses_reg else 0
        if insn.op == Alu.MOV:
            return src, d
        return d | src, d
    if cls == Cls.LDX:
        return s, d
    if cls == Cls.ST:
        return d, 0
    if cls == Cls.STX:
        if insn.mode == Mode.ATOMIC:
            uses = d | s | (1 if insn.imm == AtomicOp.CMPXCHG else 0)
            defs = 1 if insn.imm == AtomicOp.CMPXCHG else (s if insn.imm & AtomicOp.FETCH else 0)
            return uses, defs
        return d | s, 0
    if cls == Cls.LD:
        if insn.is_lddw:
            return 0, d
        return (s if insn.mode == Mode.IND else 0) | (1 << 6), 1  # legacy packet loads
    if insn.op == Jmp.CALL:
        if insn.uses_reg:
            return d | ARGS, CALLER_SAVED
        if insn.src == CallKind.HELPER and insn.imm in PROTOS:
            n = len(PROTOS[insn.imm].args)
            return ((1 << (n + 1)) - 2), CALLER_SAVED
        return ARGS, CALLER_SAVED
    if insn.op == Jmp.EXIT:
        return 1, 0
    if insn.op == Jmp.JA:
        return 0, 0
    return d | (s if insn.uses_reg else 0), 0


def _cfg(insns: list[Insn]) -> tuple[list[int], list[tuple[int, ...]], list[list[int]]]:
    """Instruction starts, successors and predecessors. A local call's successor is
    the next instruction: the callee is a function of its own."""
    n = len(insns)
    succs: list[tuple[int, ...]] = [()] * n
    preds: list[list[int]] = [[] for _ in range(n)]
    starts = []
    pc = 0
    while pc < n:
        insn = insns[pc]
        starts.append(pc)
        nxt = pc + insn.slots
        if insn.is_exit:
            out: tuple[int, ...] = ()
        elif insn.is_jmp and insn.op == Jmp.JA:
            out = (insn.jump_target(pc),)
        elif insn.is_jmp and not insn.is_call:
            out = (nxt, insn.jump_target(pc))
        else:
            out = (nxt,)
        out = tuple(t for t in out if 0 <= t < n)
        succs[pc] = out
        for t in out:
            preds[t].append(pc)
        pc = nxt
    return starts, succs, preds


def _solve(insns: list[Insn], transfer: Callable[[int, int], int]) -> list[int]:
    """Backward fixpoint: per instruction, transfer(pc, union over successors)."""
    starts, succs, preds = _cfg(insns)
    result = [0] * len(insns)
    work = list(reversed(starts))
    queued = set(work)
    while work:
        p = work.pop()
        queued.discard(p)
        out = 0
        for t in succs[p]:
            out |= result[t]
        new = transfer(p, out)
        if new != result[p]:
            result[p] = new
            for q in preds[p]:
                if q not in queued:
                    queued.add(q)
                    work.append(q)
    return result


def live_registers(insns: list[Insn]) -> list[int]:
    """Per slot, a bitmask of the registers live on entry to that instruction.
    A local call is treated as reading r1..r5 and clobbering r0..r5; r6..r9 flow
    around it (the callee saves them)."""
    info = {}

    def transfer(pc: int, out: int) -> int:
        if pc not in info:
            info[pc] = _uses_defs(insns[pc])
        uses, defs = info[pc]
        return uses | (out & ~defs) | (1 << 10)

    return _solve(insns, transfer)


def _function_starts(insns: list[Insn]) -> list[int]:
    starts = {0}
    pc = 0
    while pc < len(insns):
        insn = insns[pc]
        if insn.is_local_call:
            starts.add(insn.jump_target(pc))
        elif insn.is_lddw and insn.src == Pseudo.FUNC:
            starts.add(pc + 1 + insn.imm)
        pc += insn.slots
    return sorted(starts)


def relevant_registers(insns: list[Insn]) -> list[int]:
    """Per slot, a bitmask of the registers whose *value* may still matter for safety:
    it may flow into a memory access (base or pointer offset), a branch, a call's
    argument (helper arguments other than plain values), a stored value, or a
    function's result. The main function's result does not: it is checked for being
    a pointer, which pruning compares anyway. Scalars outside this set (counters that
    only feed the result, say) are compared by kind only when states are pruned, as
    the kernel does for scalars it never had to mark precise."""
    starts = _function_starts(insns)
    main_end = starts[1] if len(starts) > 1 else len(insns)

    def transfer(pc: int, out: int) -> int:
        insn = insns[pc]
        d, s = 1 << insn.dst, 1 << insn.src
        cls = insn.cls
        if cls in (Cls.ALU, Cls.ALU64):
            src = s if insn.uses_reg else 0
            if insn.op == Alu.MOV:
                return (out & ~d) | (src if out & d else 0)
            return out | (src if out & d else 0)
        if cls == Cls.LDX:
            return (out & ~d) | s
        if cls == Cls.ST:
            return out | d
        if cls == Cls.STX:
            cmpxchg = insn.mode == Mode.ATOMIC and insn.imm == AtomicOp.CMPXCHG
            return out | d | s | (1 if cmpxchg else 0)
        if cls == Cls.LD:
            return out & ~d if insn.is_lddw else out | s
        if insn.op == Jmp.CALL:
            if insn.src == CallKind.HELPER and not insn.uses_reg and insn.imm in PROTOS:
                proto = PROTOS[insn.imm]
                args = 0
                for i, kind in enumerate(proto.args):
                    if kind != Arg.ANYTHING or proto.name == "loop":
                        args |= 1 << (i + 1)
                return (out & ~CALLER_SAVED) | args
            return (out & ~CALLER_SAVED) | ARGS | (d if insn.uses_reg else 0)
        if insn.op == Jmp.EXIT:
            return 0 if pc < main_end else 1
        if insn.op == Jmp.JA:
            return out
        return out | d | (s if insn.uses_reg else 0)

    return _solve(insns, transfer)
