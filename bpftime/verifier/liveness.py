"""Static register liveness: which registers may be read later, per instruction.

State pruning ignores dead registers (a value never read cannot make a path
unsafe), which keeps the number of explored states small.
"""
from __future__ import annotations

from bpftime.helper_protos import PROTOS
from bpftime.isa import Alu, CallKind, Cls, Insn, Jmp, Mode

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
            uses = d | s | (1 if insn.imm == 0xF1 else 0)
            defs = 1 if insn.imm == 0xF1 else (s if insn.imm & 1 else 0)
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


def live_registers(insns: list[Insn]) -> list[int]:
    """Per slot, a bitmask of the registers live on entry to that instruction.
    A local call is treated as reading r1..r5 and clobbering r0..r5; r6..r9 flow
    around it (the callee saves them)."""
    n = len(insns)
    succs: list[tuple[int, ...]] = [()] * n
    preds: list[list[int]] = [[] for _ in range(n)]
    pc = 0
    starts = []
    while pc < n:
        insn = insns[pc]
        starts.append(pc)
        nxt = pc + insn.slots
        if insn.is_exit:
            out: tuple[int, ...] = ()
        elif insn.is_jmp and insn.op == Jmp.JA:
            out = (insn.jump_target(pc),)
        elif insn.is_jmp and not insn.is_call and insn.op != Jmp.EXIT:
            out = (nxt, insn.jump_target(pc))
        else:
            out = (nxt,) if nxt < n else ()
        succs[pc] = out
        for t in out:
            if 0 <= t < n:
                preds[t].append(pc)
        pc = nxt
    info = [_uses_defs(insns[p]) for p in range(n)]
    live = [0] * n
    work = list(reversed(starts))
    queued = set(work)
    while work:
        p = work.pop()
        queued.discard(p)
        out = 0
        for t in succs[p]:
            if 0 <= t < n:
                out |= live[t]
        uses, defs = info[p]
        new = uses | (out & ~defs) | (1 << 10)
        if new != live[p]:
            live[p] = new
            for q in preds[p]:
                if q not in queued:
                    queued.add(q)
                    work.append(q)
    return live
