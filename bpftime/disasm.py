"""Disassembler into the dialect `bpftime.asm` reads: `assemble(disassemble(p))`
gives back `p` slot for slot for every valid program.

Jump and call targets that start an instruction become labels (`L<slot>`, or a name
the caller supplies); any other target is printed as a signed offset (`+3`).
"""
from __future__ import annotations

from collections.abc import Callable, Mapping

from bpftime.asm import ALU_OPS, ATOMIC_NAMES, JUMP_OPS, NAME_RE, PSEUDO_NAMES, SIZE_SUFFIX
from bpftime.isa import (
    OPCODE_CALL, OPCODE_CALLX, Alu, AtomicOp, CallKind, Cls, Insn, Jmp, Mode, Pseudo, check_insn,
    insn_starts,
)

_ALU_NAMES = {v: k for k, v in ALU_OPS.items()}
_JUMP_NAMES = {v: k for k, v in JUMP_OPS.items()}
_SIZE_NAMES = {v: k for k, v in SIZE_SUFFIX.items()}
_ATOMIC_NAMES = {v: k for k, v in ATOMIC_NAMES.items()}
_PSEUDO_NAMES = {v: k for k, v in PSEUDO_NAMES.items()}

Labels = Mapping[int, str]


def _imm(value: int) -> str:
    """Small immediates in decimal, large ones as their 32-bit pattern in hex."""
    if -0x10000 < value < 0x10000:
        return str(value)
    return f"{value & 0xFFFFFFFF:#x}"


def _off(value: int) -> str:
    return f"+{value}" if value >= 0 else str(value)


def _mem(reg: int, off: int) -> str:
    return f"[%r{reg}]" if off == 0 else f"[%r{reg}{_off(off)}]"


def _target(pc: int, off: int, labels: Labels | None) -> str:
    target = pc + 1 + off
    if labels and target in labels:
        return labels[target]
    return _off(off)


def format_insn(insn: Insn, pc: int = 0, labels: Labels | None = None) -> str:
    """One instruction in assembler syntax; jump targets use `labels` (slot -> name)
    when given, else signed offsets. An invalid instruction is shown as `.invalid …`."""
    reason = check_insn(insn)
    if reason:
        return f".invalid {insn.encode()[:8].hex()}  # {reason}"
    cls = insn.cls
    if cls in (Cls.ALU, Cls.ALU64):
        return _format_alu(insn, "32" if cls == Cls.ALU else "")
    if cls in (Cls.JMP, Cls.JMP32):
        return _format_jmp(insn, pc, labels)
    size = _SIZE_NAMES[insn.opcode & 0x18]
    mode = insn.mode
    if cls == Cls.LD:
        if insn.is_lddw:
            return _format_lddw(insn, pc, labels)
        if mode == Mode.ABS:
            return f"ldabs{size} {_imm(insn.imm)}"
        return f"ldind{size} %r{insn.src}, {_imm(insn.imm)}"
    if cls == Cls.LDX:
        name = "ldxs" if mode == Mode.MEMSX else "ldx"
        return f"{name}{size} %r{insn.dst}, {_mem(insn.src, insn.off)}"
    if cls == Cls.ST:
        return f"st{size} {_mem(insn.dst, insn.off)}, {_imm(insn.imm)}"
    if mode == Mode.ATOMIC:
        fetch = insn.imm & AtomicOp.FETCH and insn.imm not in (AtomicOp.XCHG, AtomicOp.CMPXCHG)
        name = _ATOMIC_NAMES[insn.imm & ~AtomicOp.FETCH if fetch else insn.imm]
        width = "32" if insn.size == 4 else ""
        return (f"lock {'fetch ' if fetch else ''}{name}{width} "
                f"{_mem(insn.dst, insn.off)}, %r{insn.src}")
    return f"stx{size} {_mem(insn.dst, insn.off)}, %r{insn.src}"


def _format_alu(insn: Insn, width: str) -> str:
    op, dst = insn.op, insn.dst
    if op == Alu.NEG:
        return f"neg{width} %r{dst}"
    if op == Alu.END:
        if not width:
            return f"bswap{insn.imm} %r{dst}"
        return f"{'be' if insn.uses_reg else 'le'}{insn.imm} %r{dst}"
    if op == Alu.MOV and insn.uses_reg and insn.off:
        return f"movsx{insn.off}{width or '64'} %r{dst}, %r{insn.src}"
    name = _ALU_NAMES[op]
    if insn.off == 1:  # sdiv / smod
        name = "s" + name
    operand = f"%r{insn.src}" if insn.uses_reg else _imm(insn.imm)
    return f"{name}{width} %r{dst}, {operand}"


def _format_jmp(insn: Insn, pc: int, labels: Labels | None) -> str:
    op = insn.op
    if insn.cls == Cls.JMP32 and op == Jmp.JA:
        return f"ja32 {_target(pc, insn.imm, labels)}"
    if op == Jmp.JA:
        return f"ja {_target(pc, insn.off, labels)}"
    if op == Jmp.EXIT:
        return "exit"
    if op == Jmp.CALL:
        if insn.opcode == OPCODE_CALLX:
            return f"call %r{insn.dst}"
        if insn.src == CallKind.LOCAL:
            return f"call local {_target(pc, insn.imm, labels)}"
        if insn.src == CallKind.KFUNC:
            return f"call kfunc {insn.imm}"
        return f"call {insn.imm}"
    width = "32" if insn.cls == Cls.JMP32 else ""
    operand = f"%r{insn.src}" if insn.uses_reg else _imm(insn.imm)
    return f"{_JUMP_NAMES[op]}{width} %r{insn.dst}, {operand}, {_target(pc, insn.off, labels)}"


def _format_lddw(insn: Insn, pc: int, labels: Labels | None) -> str:
    if insn.src == Pseudo.IMM64:
        return f"lddw %r{insn.dst}, {insn.imm64:#x}"
    first = _target(pc, insn.imm, labels) if insn.src == Pseudo.FUNC else str(insn.imm)
    hi = f", {insn.imm_hi}" if insn.imm_hi else ""
    return f"lddw %r{insn.dst}, {_PSEUDO_NAMES[insn.src]}({first}{hi})"


def branch_targets(insns: list[Insn]) -> dict[int, bool]:
    """Slots that a jump, local call or `lddw func()` reaches -> True if a function
    (call/func target), False if only jumped to. Only targets that start an instruction."""
    order = insn_starts(insns)
    starts = set(order)
    targets: dict[int, bool] = {}
    for pc in order:
        insn = insns[pc]
        if check_insn(insn):
            continue
        if insn.is_lddw and insn.src == Pseudo.FUNC:
            target, is_func = pc + 1 + insn.imm, True
        else:
            target, is_func = insn.jump_target(pc), insn.is_local_call
        if target is not None and target in starts:
            targets[target] = targets.get(target, False) or is_func
    return targets


def make_labels(insns: list[Insn], names: Labels | None = None) -> dict[int, str]:
    """A label for every branch target: `names[slot]` when given and usable, else
    `L<slot>`."""
    labels: dict[int, str] = {}
    used: set[str] = set()
    for slot in sorted(branch_targets(insns)):
        name = (names or {}).get(slot)
        if not name or not NAME_RE.match(name) or name in used or name == "exit":
            name = f"L{slot}"
        labels[slot] = name
        used.add(name)
    return labels


Note = Mapping[int, str] | Callable[[int, Insn], str | None]


def disassemble(insns: list[Insn], notes: Note | None = None,
                headers: Mapping[int, list[str]] | None = None,
                names: Labels | None = None, show_pc: bool = False) -> str:
    """The program as assembly text, one instruction a line.

    `notes` gives a trailing comment per slot (a dict, or a callback (pc, insn));
    `headers` gives comment lines to print above a slot (e.g. source lines);
    `names` names slots that are branch targets (e.g. function symbols);
    `show_pc` prefixes each comment with the slot index."""
    labels = make_labels(insns, names)
    lines: list[str] = []
    pc = 0
    while pc < len(insns):
        insn = insns[pc]
        if pc in labels:
            lines.append(f"{labels[pc]}:")
        for text in (headers or {}).get(pc, ()):
            lines.append(f"    # {text}")
        body = format_insn(insn, pc, labels)
        note = notes(pc, insn) if callable(notes) else (notes or {}).get(pc)
        comment = ": ".join(part for part in (str(pc) if show_pc else "", note or "") if part)
        if comment and not body.startswith(".invalid"):
            body = f"{body:<36} # {comment}"
        lines.append(f"    {body}")
        pc += insn.slots
    return "\n".join(lines) + "\n"



def helper_notes(insns: list[Insn]) -> dict[int, str]:
    """`bpf_NAME` for every helper call (kernel helper ids)."""
    from bpftime.kernel_abi import helper_name

    return {pc: helper_name(insn.imm) for pc, insn in enumerate(insns)
            if insn.opcode == OPCODE_CALL and insn.src == CallKind.HELPER and not check_insn(insn)}
