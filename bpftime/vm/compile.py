"""Per-instruction closures for the interpreter.

`compile_program(machine)` returns one closure per slot; each performs its
instruction on `machine.R` / `machine.mem` and returns the next slot. Operands,
masks, targets and codecs are bound when compiling, so running allocates nothing
per instruction beyond Python's integers.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from bpftime.errors import RuntimeFault
from bpftime.isa import (
    MAX_TAIL_CALLS, OPCODE_CALLX, Alu, AtomicOp, CallKind, Cls, Insn, Jmp, Mode, Pseudo, check_insn,
)
from bpftime.kernel_abi import helper_id, helper_name
from bpftime.vm.memory import CODECS
from bpftime.vm.ops import M32, M64, alu_op, byte_swap, condition, sign_extend

if TYPE_CHECKING:
    from bpftime.vm.machine import Helper, Machine

Op = Callable[[], int]

# `lddw func(L)` loads this tag | slot: a non-canonical address, so it can never be
# mistaken for (or used as) real memory; helpers taking a callback decode it, and a
# prog_array filled for the interpreter holds its programs' entries this way.
FUNC_TAG = 0xBF0C_0000_0000_0000
TAIL_CALL = helper_id("tail_call")


def func_address(slot: int) -> int:
    """The value standing for the code at `slot` (see FUNC_TAG)."""
    return FUNC_TAG | slot


def func_target(machine: "Machine", value: int) -> int:
    """The slot a `lddw func()` value names; RuntimeFault if it is not one."""
    slot = value - FUNC_TAG
    inside = 0 <= slot < len(machine.insns)
    if not inside or (slot and machine.insns[slot - 1].is_lddw):
        raise RuntimeFault(machine.pc, f"{value:#x} is not the address of a subprogram")
    return slot


def _fault(pc: int, reason: str) -> Op:
    def op() -> int:
        raise RuntimeFault(pc, reason)
    return op


def compile_program(m: "Machine") -> list[Op]:
    ops: list[Op] = []
    for pc, insn in enumerate(m.insns):
        if pc and m.insns[pc - 1].is_lddw:
            ops.append(_fault(pc, "jump into the second slot of lddw"))
            continue
        reason = check_insn(insn)
        ops.append(_fault(pc, reason) if reason else _compile(m, insn, pc))
    return ops


def _compile(m: "Machine", insn: Insn, pc: int) -> Op:
    cls = insn.cls
    if cls in (Cls.ALU, Cls.ALU64):
        return _alu(m, insn, pc + 1)
    if cls in (Cls.JMP, Cls.JMP32):
        return _jmp(m, insn, pc)
    if cls == Cls.LD:
        return _lddw(m, insn, pc) if insn.is_lddw else _packet_load(m, insn, pc)
    if cls == Cls.LDX:
        return _load(m, insn, pc)
    if cls == Cls.ST or insn.mode == Mode.MEM:
        return _store(m, insn, pc)
    return _atomic(m, insn, pc)


def _alu(m: "Machine", insn: Insn, nxt: int) -> Op:
    R, d, s = m.R, insn.dst, insn.src
    bits = 64 if insn.cls == Cls.ALU64 else 32
    mask = M64 if bits == 64 else M32
    op = insn.op
    if op == Alu.NEG:
        def neg() -> int:
            R[d] = -(R[d] & mask) & mask
            return nxt
        return neg
    if op == Alu.END:
        width = insn.imm
        if bits == 32 and not insn.uses_reg:  # le: to little-endian = truncate here
            keep = (1 << width) - 1

            def le() -> int:
                R[d] &= keep
                return nxt
            return le
        swap = byte_swap(width)

        def bswap() -> int:
            R[d] = swap(R[d])
            return nxt
        return bswap
    if op == Alu.MOV and insn.uses_reg and insn.off:
        extend = sign_extend(insn.off, bits)

        def movsx() -> int:
            R[d] = extend(R[s])
            return nxt
        return movsx
    if not insn.uses_reg:
        b = insn.imm & mask
        if op == Alu.MOV:
            def mov_k() -> int:
                R[d] = b
                return nxt
            return mov_k
        if op == Alu.ADD and bits == 64:
            def add_k() -> int:
                R[d] = (R[d] + b) & M64
                return nxt
            return add_k
        fn = alu_op(op, bits, insn.off == 1)
        if bits == 64:
            def alu64_k() -> int:
                R[d] = fn(R[d], b)
                return nxt
            return alu64_k

        def alu32_k() -> int:
            R[d] = fn(R[d] & M32, b)
            return nxt
        return alu32_k
    if op == Alu.MOV and bits == 64:
        def mov_x() -> int:
            R[d] = R[s]
            return nxt
        return mov_x
    fn = alu_op(op, bits, insn.off == 1)
    if bits == 64:
        def alu64_x() -> int:
            R[d] = fn(R[d], R[s])
            return nxt
        return alu64_x

    def alu32_x() -> int:
        R[d] = fn(R[d] & M32, R[s] & M32)
        return nxt
    return alu32_x


def _jmp(m: "Machine", insn: Insn, pc: int) -> Op:
    R, d, s, nxt, op = m.R, insn.dst, insn.src, pc + 1, insn.op
    if op == Jmp.EXIT:
        return m.exit_frame
    if op == Jmp.CALL:
        return _call(m, insn, pc)
    if op == Jmp.JA:
        target = pc + 1 + (insn.imm if insn.cls == Cls.JMP32 else insn.off)
        return lambda: target
    target = pc + 1 + insn.off
    bits = 64 if insn.cls == Cls.JMP else 32
    cond = condition(op, bits)
    if bits == 64:
        if insn.uses_reg:
            return lambda: target if cond(R[d], R[s]) else nxt
        b = insn.imm & M64
        if op == Jmp.JNE:
            return lambda: target if R[d] != b else nxt
        if op == Jmp.JEQ:
            return lambda: target if R[d] == b else nxt
        return lambda: target if cond(R[d], b) else nxt
    if insn.uses_reg:
        return lambda: target if cond(R[d] & M32, R[s] & M32) else nxt
    b32 = insn.imm & M32
    return lambda: target if cond(R[d] & M32, b32) else nxt


def _call(m: "Machine", insn: Insn, pc: int) -> Op:
    R, nxt = m.R, pc + 1
    if insn.opcode == OPCODE_CALLX:
        d, helpers = insn.dst, m.bindings.helpers

        def callx() -> int:
            fn = helpers.get(R[d])
            if fn is None:
                raise RuntimeFault(pc, f"callx to {R[d]:#x}: not a helper id")
            if R[d] == TAIL_CALL:
                return _tail_call(m, fn, pc)()
            m.pc = pc
            R[0] = fn(m, R[1], R[2], R[3], R[4], R[5]) & M64
            return nxt
        return callx
    if insn.src == CallKind.LOCAL:
        target = pc + 1 + insn.imm

        def call_local() -> int:
            m.push_frame(nxt, pc)
            return target
        return call_local
    if insn.src == CallKind.KFUNC:
        fn = m.bindings.externs.get(insn.imm)
        if fn is None:
            return _fault(pc, f"extern function #{insn.imm} is not available to the interpreter")
    else:
        fn = m.bindings.helpers.get(insn.imm)
        if fn is None:
            return _fault(pc, f"helper {helper_name(insn.imm)} (id {insn.imm}) is not available")
        if insn.imm == TAIL_CALL:
            return _tail_call(m, fn, pc)

    def call() -> int:
        m.pc = pc
        R[0] = fn(m, R[1], R[2], R[3], R[4], R[5]) & M64
        return nxt
    return call


def _tail_call(m: "Machine", lookup: "Helper", pc: int) -> Op:
    """bpf_tail_call(ctx, prog_array, index) as the kernel runs it: `lookup` (the
    runtime's helper) gives the slot's program, which replaces the current one in
    the current stack frame (r1 = ctx, r6-r9 and the frame's bytes as they are), at
    most MAX_TAIL_CALLS times per invocation. A miss (empty slot, index out of
    range) continues with the next instruction with the helper's 0 in r0; past the
    limit the helper is not called and r0 is left alone, as the JIT does."""
    R, nxt = m.R, pc + 1

    def tail_call() -> int:
        if m.tail_calls >= MAX_TAIL_CALLS:
            return nxt
        m.pc = pc
        entry = lookup(m, R[1], R[2], R[3], R[4], R[5]) & M64
        if not entry:
            R[0] = 0
            return nxt
        target = func_target(m, entry)
        m.enter_tail_call()
        return target
    return tail_call


def _lddw(m: "Machine", insn: Insn, pc: int) -> Op:
    R, d, nxt, b = m.R, insn.dst, pc + 2, m.bindings
    src, idx = insn.src, insn.imm

    def pick(table) -> int | None:
        return table[idx] if 0 <= idx < len(table) else None

    if src == Pseudo.IMM64:
        value: int | None = insn.imm64
    elif src == Pseudo.FUNC:
        value = func_address(pc + 1 + insn.imm)
    elif src == Pseudo.MAP_IDX:
        value = pick(b.map_handles)
    elif src == Pseudo.MAP_IDX_VALUE:
        base = pick(b.map_values)
        value = None if base is None else base + (insn.imm_hi & M32)
    elif src == Pseudo.BTF_ID:
        value = pick(b.extern_vars)
    else:  # MAP_FD / MAP_VALUE name kernel file descriptors
        return _fault(pc, f"lddw with a kernel map fd (src={src}) cannot run in user space")
    if value is None:
        what = {Pseudo.MAP_IDX: "map", Pseudo.MAP_IDX_VALUE: "global data of map",
                Pseudo.BTF_ID: "extern variable"}[Pseudo(src)]
        return _fault(pc, f"{what} #{idx} is not available (no native runtime bound)")
    v = value & M64

    def lddw() -> int:
        R[d] = v
        return nxt
    return lddw


def _load(m: "Machine", insn: Insn, pc: int) -> Op:
    R, d, s, off, nxt, n = m.R, insn.dst, insn.src, insn.off, pc + 1, insn.size
    load = m.mem.load
    if insn.mode == Mode.MEMSX:
        codec = CODECS[n][1]

        def ldxs() -> int:
            R[d] = load(R[s] + off, n, codec, pc) & M64
            return nxt
        return ldxs
    codec = CODECS[n][0]

    def ldx() -> int:
        R[d] = load(R[s] + off, n, codec, pc)
        return nxt
    return ldx


def _store(m: "Machine", insn: Insn, pc: int) -> Op:
    R, d, s, off, nxt, n = m.R, insn.dst, insn.src, insn.off, pc + 1, insn.size
    store, codec = m.mem.store, CODECS[n][0]
    if insn.cls == Cls.ST:
        value = insn.imm

        def st() -> int:
            store(R[d] + off, n, codec, value, pc)
            return nxt
        return st

    def stx() -> int:
        store(R[d] + off, n, codec, R[s], pc)
        return nxt
    return stx


def _atomic(m: "Machine", insn: Insn, pc: int) -> Op:
    """Read-modify-write; atomic with respect to other interpreter threads because
    the interpreter holds the GIL across the whole instruction."""
    R, d, s, off, nxt, n = m.R, insn.dst, insn.src, insn.off, pc + 1, insn.size
    load, store, codec = m.mem.load, m.mem.store, CODECS[n][0]
    mask = M64 if n == 8 else M32
    kind = insn.imm
    if kind == AtomicOp.CMPXCHG:
        def cmpxchg() -> int:
            a = R[d] + off
            old = load(a, n, codec, pc)
            if old == R[0] & mask:
                store(a, n, codec, R[s], pc)
            R[0] = old
            return nxt
        return cmpxchg
    if kind == AtomicOp.XCHG:
        def xchg() -> int:
            a = R[d] + off
            old = load(a, n, codec, pc)
            store(a, n, codec, R[s], pc)
            R[s] = old
            return nxt
        return xchg
    fn = alu_op(kind & ~AtomicOp.FETCH, 64 if n == 8 else 32, False)
    fetch = bool(kind & AtomicOp.FETCH)

    def rmw() -> int:
        a = R[d] + off
        old = load(a, n, codec, pc)
        store(a, n, codec, fn(old, R[s] & mask), pc)
        if fetch:
            R[s] = old
        return nxt
    return rmw


def _packet_load(m: "Machine", insn: Insn, pc: int) -> Op:
    """Legacy `ldabs`/`ldind`: r0 = big-endian bytes of the input at a packet offset."""
    R, s, n, imm, nxt, mem = m.R, insn.src, insn.size, insn.imm, pc + 1, m.mem
    indirect = insn.mode == Mode.IND

    def ld_packet() -> int:
        offset = imm + (R[s] if indirect else 0)
        if not mem.input_len or not 0 <= offset <= mem.input_len - n:
            raise RuntimeFault(pc, f"packet load of {n} bytes at offset {offset} is outside "
                                   f"the {mem.input_len}-byte input")
        R[0] = int.from_bytes(mem.check(mem.input_base + offset, n, False, pc), "big")
        return nxt
    return ld_packet
