"""Assembler for the uBPF / conformance-suite dialect of eBPF assembly.

One instruction or label per line, `#` starts a comment::

    mov %r0, 1              # ALU64; `mov32` is ALU, `sdiv`/`smod` signed, `movsx1664` sign-extends
    ldxw %r0, [%r1+4]       # ldxs{b,h,w} sign-extend; st{b,h,w,dw} [..], IMM; stx{..} [..], %rS
    lock fetch add32 [%r10-8], %r1   # also and/or/xor, xchg, cmpxchg (+32)
    lddw %r1, 0x1122334455667788     # or a pseudo form: map_fd(N), map_value(N, OFF),
                                     # btf_id(N), func(LABEL), map_idx(N), map_idx_value(N, OFF)
    jeq %r1, 2, done        # target: a label or a signed slot offset (+3, -1); `exit`,
                            # unless defined as a label, is the program's final `exit`
    call 5 | call bpf_ktime_get_ns | call local LABEL | call kfunc N | call %r2
    ldabsw 12 | ldindh %r1, 4        # legacy packet access
  done:
    exit

`assemble` returns one `Insn` per 8-byte slot, as `bpftime.isa.decode` does.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from bpftime.errors import AsmError
from bpftime.isa import (
    MAX_REG, OPCODE_CALL, OPCODE_CALLX, OPCODE_EXIT, OPCODE_LDDW, Alu, AtomicOp, CallKind,
    Cls, Insn, Jmp, Mode, Pseudo, Size, Src, s32,
)
from bpftime.kernel_abi import HELPER_IDS

ALU_OPS: dict[str, int] = {
    "add": Alu.ADD, "sub": Alu.SUB, "mul": Alu.MUL, "div": Alu.DIV, "or": Alu.OR,
    "and": Alu.AND, "lsh": Alu.LSH, "rsh": Alu.RSH, "mod": Alu.MOD, "xor": Alu.XOR,
    "mov": Alu.MOV, "arsh": Alu.ARSH,
}
SIGNED_ALU_OPS: dict[str, int] = {"sdiv": Alu.DIV, "smod": Alu.MOD}  # off = 1
JUMP_OPS: dict[str, int] = {
    "jeq": Jmp.JEQ, "jgt": Jmp.JGT, "jge": Jmp.JGE, "jset": Jmp.JSET, "jne": Jmp.JNE,
    "jsgt": Jmp.JSGT, "jsge": Jmp.JSGE, "jlt": Jmp.JLT, "jle": Jmp.JLE, "jslt": Jmp.JSLT,
    "jsle": Jmp.JSLE,
}
SIZE_SUFFIX: dict[str, int] = {"b": Size.B, "h": Size.H, "w": Size.W, "dw": Size.DW}
ATOMIC_NAMES: dict[str, int] = {
    "add": AtomicOp.ADD, "and": AtomicOp.AND, "or": AtomicOp.OR, "xor": AtomicOp.XOR,
    "xchg": AtomicOp.XCHG, "cmpxchg": AtomicOp.CMPXCHG,
}
PSEUDO_NAMES: dict[str, int] = {
    "map_fd": Pseudo.MAP_FD, "map_value": Pseudo.MAP_VALUE, "btf_id": Pseudo.BTF_ID,
    "func": Pseudo.FUNC, "map_idx": Pseudo.MAP_IDX, "map_idx_value": Pseudo.MAP_IDX_VALUE,
}
# movsx{FROM}{TO}: source width in bits -> ALU mov offset; TO picks the class
MOVSX_FORMS: dict[str, tuple[int, int]] = {
    "movsx832": (Cls.ALU, 8), "movsx1632": (Cls.ALU, 16),
    "movsx864": (Cls.ALU64, 8), "movsx1664": (Cls.ALU64, 16), "movsx3264": (Cls.ALU64, 32),
}

_LABEL_RE = re.compile(r"^([A-Za-z_.$][\w.$]*)\s*:\s*(.*)$")
NAME_RE = re.compile(r"^[A-Za-z_.$][\w.$]*$")  # a label or helper name; disasm labels only these
_REG_RE = re.compile(r"^%r(\d+)$")
_INT_RE = re.compile(r"^([+-]?)(0x[0-9a-fA-F]+|\d+)$")
_MEM_RE = re.compile(r"^\[\s*(%r\d+)\s*(?:([+-])\s*(0x[0-9a-fA-F]+|\d+))?\s*\]$")
_PSEUDO_RE = re.compile(r"^([a-z_]+)\s*\((.*)\)$")

_S16 = (-(1 << 15), (1 << 15) - 1)
_S32 = (-(1 << 31), (1 << 31) - 1)


class _LineError(Exception):
    """Raised inside an instruction's parser; turned into AsmError with the line."""


@dataclass
class _Stmt:
    line: int
    slot: int
    mnemonic: str
    operands: list[str]


def _split_operands(text: str) -> list[str]:
    """Split on commas outside brackets and parentheses."""
    parts, depth, cur = [], 0, []
    for ch in text:
        if ch in "[(":
            depth += 1
        elif ch in "])":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append("".join(cur).strip())
            cur = []
        else:
            cur.append(ch)
    last = "".join(cur).strip()
    if last or parts:
        parts.append(last)
    return parts


def parse_int(text: str) -> tuple[int, bool]:
    """(value, is_hex) of a decimal or 0x-hex integer with an optional sign."""
    m = _INT_RE.match(text.strip())
    if not m:
        raise _LineError(f"expected a number, got {text!r}")
    sign, digits = m.groups()
    is_hex = digits.lower().startswith("0x")
    value = int(digits, 16 if is_hex else 10)
    return (-value if sign == "-" else value), is_hex


def _reg(text: str) -> int:
    m = _REG_RE.match(text.strip())
    if not m:
        raise _LineError(f"invalid register {text!r}")
    n = int(m.group(1))
    if n > MAX_REG:
        raise _LineError(f"invalid register {text!r}: registers are %r0..%r10")
    return n


def _imm32(text: str) -> int:
    """A 32-bit immediate: signed decimal, or hex up to 0xffffffff (taken as its bits)."""
    value, is_hex = parse_int(text)
    lo = _S32[0]
    hi = 0xFFFFFFFF if is_hex else _S32[1]
    if not lo <= value <= hi:
        raise _LineError(f"immediate {text} out of 32-bit range")
    return s32(value)


def _imm64(text: str) -> int:
    value, _ = parse_int(text)
    if not -(1 << 63) <= value < (1 << 64):
        raise _LineError(f"immediate {text} out of 64-bit range")
    return value & ((1 << 64) - 1)


def _mem(text: str) -> tuple[int, int]:
    """`[%rN+OFF]` -> (register, signed 16-bit offset)."""
    m = _MEM_RE.match(text.strip())
    if not m:
        raise _LineError(f"expected a memory operand [%rN+OFF], got {text!r}")
    reg, sign, digits = m.groups()
    off = 0
    if digits is not None:
        off = int(digits, 16 if digits.lower().startswith("0x") else 10)
        off = -off if sign == "-" else off
    if not _S16[0] <= off <= _S16[1]:
        raise _LineError(f"offset {off} out of 16-bit range")
    return _reg(reg), off


def _count(stmt: _Stmt, n: int, form: str) -> None:
    if len(stmt.operands) != n:
        raise _LineError(f"{stmt.mnemonic} takes {n} operand{'s' if n != 1 else ''} ({form}), "
                         f"got {len(stmt.operands)}")


class _Assembler:
    def __init__(self, labels: dict[str, int]):
        self.labels = labels

    def target(self, text: str, slot: int, bits: tuple[int, int]) -> int:
        """Offset from the next slot to a label, or a literal signed offset."""
        text = text.strip()
        if NAME_RE.match(text):
            if text not in self.labels:
                raise _LineError(f"unknown label {text!r}")
            off = self.labels[text] - (slot + 1)
        else:
            off, _ = parse_int(text)
        if not bits[0] <= off <= bits[1]:
            raise _LineError(f"jump offset {off} out of range")
        return off

    def insns(self, stmt: _Stmt) -> list[Insn]:
        m, ops = stmt.mnemonic, stmt.operands
        if m == "exit":
            _count(stmt, 0, "exit")
            return [Insn(OPCODE_EXIT)]
        if m == "lddw":
            return self.lddw(stmt)
        if m == "call":
            return [self.call(stmt)]
        if m == "lock":
            return [self.atomic(stmt)]
        if m in ("ja", "ja32"):
            _count(stmt, 1, f"{m} TARGET")
            if m == "ja":
                return [Insn(Cls.JMP | Jmp.JA, off=self.target(ops[0], stmt.slot, _S16))]
            return [Insn(Cls.JMP32 | Jmp.JA, imm=self.target(ops[0], stmt.slot, _S32))]
        if m in MOVSX_FORMS:
            _count(stmt, 2, f"{m} %rD, %rS")
            cls, off = MOVSX_FORMS[m]
            return [Insn(cls | Alu.MOV | Src.X, _reg(ops[0]), _reg(ops[1]), off)]
        for stem, cls in (("le", Cls.ALU), ("be", Cls.ALU), ("bswap", Cls.ALU64), ("swap", Cls.ALU64)):
            if m.startswith(stem) and m[len(stem):] in ("16", "32", "64"):
                _count(stmt, 1, f"{m} %rD")
                src = Src.X if stem == "be" else Src.K
                return [Insn(cls | Alu.END | src, _reg(ops[0]), imm=int(m[len(stem):]))]
        base, cls = self.width(m)
        if base in ALU_OPS or base in SIGNED_ALU_OPS or base == "neg":
            return [self.alu(stmt, base, cls)]
        if base in JUMP_OPS:
            return [self.jump(stmt, base, Cls.JMP if cls == Cls.ALU64 else Cls.JMP32)]
        if m != base:
            raise _LineError(f"unknown mnemonic {m!r}")
        return [self.memory(stmt)]

    @staticmethod
    def width(m: str) -> tuple[str, int]:
        """Strip a `32`/`64` suffix: (stem, ALU class)."""
        if m.endswith("32"):
            return m[:-2], Cls.ALU
        if m.endswith("64"):
            return m[:-2], Cls.ALU64
        return m, Cls.ALU64

    def alu(self, stmt: _Stmt, base: str, cls: int) -> Insn:
        ops = stmt.operands
        if base == "neg":
            _count(stmt, 1, f"{stmt.mnemonic} %rD")
            return Insn(cls | Alu.NEG, _reg(ops[0]))
        _count(stmt, 2, f"{stmt.mnemonic} %rD, %rS|IMM")
        signed = base in SIGNED_ALU_OPS
        op = SIGNED_ALU_OPS[base] if signed else ALU_OPS[base]
        off = 1 if signed else 0
        dst = _reg(ops[0])
        if ops[1].startswith("%"):
            return Insn(cls | op | Src.X, dst, _reg(ops[1]), off)
        return Insn(cls | op | Src.K, dst, 0, off, _imm32(ops[1]))

    def jump(self, stmt: _Stmt, base: str, cls: int) -> Insn:
        _count(stmt, 3, f"{stmt.mnemonic} %rD, %rS|IMM, TARGET")
        ops = stmt.operands
        dst, off = _reg(ops[0]), self.target(ops[2], stmt.slot, _S16)
        if ops[1].startswith("%"):
            return Insn(cls | JUMP_OPS[base] | Src.X, dst, _reg(ops[1]), off)
        return Insn(cls | JUMP_OPS[base] | Src.K, dst, 0, off, _imm32(ops[1]))

    def memory(self, stmt: _Stmt) -> Insn:
        m, ops = stmt.mnemonic, stmt.operands
        for prefix, cls, mode in (("ldxs", Cls.LDX, Mode.MEMSX), ("ldx", Cls.LDX, Mode.MEM),
                                  ("stx", Cls.STX, Mode.MEM), ("st", Cls.ST, Mode.MEM),
                                  ("ldabs", Cls.LD, Mode.ABS), ("ldind", Cls.LD, Mode.IND)):
            size = SIZE_SUFFIX.get(m[len(prefix):]) if m.startswith(prefix) else None
            if size is None:
                continue
            if (mode in (Mode.MEMSX, Mode.ABS, Mode.IND)) and size == Size.DW:
                break
            opcode = cls | mode | size
            if cls == Cls.LDX:
                _count(stmt, 2, f"{m} %rD, [%rS+OFF]")
                src, off = _mem(ops[1])
                return Insn(opcode, _reg(ops[0]), src, off)
            if cls == Cls.STX:
                _count(stmt, 2, f"{m} [%rD+OFF], %rS")
                dst, off = _mem(ops[0])
                return Insn(opcode, dst, _reg(ops[1]), off)
            if cls == Cls.ST:
                _count(stmt, 2, f"{m} [%rD+OFF], IMM")
                dst, off = _mem(ops[0])
                return Insn(opcode, dst, 0, off, _imm32(ops[1]))
            if mode == Mode.ABS:
                _count(stmt, 1, f"{m} IMM")
                return Insn(opcode, imm=_imm32(ops[0]))
            _count(stmt, 2, f"{m} %rS, IMM")
            return Insn(opcode, 0, _reg(ops[0]), 0, _imm32(ops[1]))
        raise _LineError(f"unknown mnemonic {m!r}")

    def atomic(self, stmt: _Stmt) -> Insn:
        """`lock [fetch] OP[32] [%rD+OFF], %rS`; the words after `lock` arrive as the
        first operand's prefix, e.g. operands = ['fetch add [%r10-8]', '%r1']."""
        ops = stmt.operands
        head = ops[0].split() if ops else []
        if len(ops) != 2 or len(head) < 2:
            raise _LineError("lock takes an operation and 2 operands: lock [fetch] OP [%rD+OFF], %rS")
        words = head[:-1]
        mem = head[-1]
        fetch = words[0] == "fetch"
        if fetch:
            words = words[1:]
        if len(words) != 1:
            raise _LineError(f"unknown atomic operation {' '.join(head[:-1])!r}")
        base, cls = self.width(words[0])
        op = ATOMIC_NAMES.get(base)
        if op is None or (fetch and op in (AtomicOp.XCHG, AtomicOp.CMPXCHG)):
            raise _LineError(f"unknown atomic operation {' '.join(head[:-1])!r}")
        size = Size.W if cls == Cls.ALU else Size.DW
        dst, off = _mem(mem)
        return Insn(Cls.STX | Mode.ATOMIC | size, dst, _reg(ops[1]), off,
                    op | (AtomicOp.FETCH if fetch else 0))

    def call(self, stmt: _Stmt) -> Insn:
        _count(stmt, 1, "call N|NAME|local TARGET|kfunc N|%rN")
        arg = stmt.operands[0].strip()
        words = arg.split()
        if len(words) == 2 and words[0] == "local":
            return Insn(OPCODE_CALL, src=CallKind.LOCAL, imm=self.target(words[1], stmt.slot, _S32))
        if len(words) == 2 and words[0] == "kfunc":
            return Insn(OPCODE_CALL, src=CallKind.KFUNC, imm=_imm32(words[1]))
        if len(words) != 1:
            raise _LineError(f"bad call target {arg!r}")
        if arg.startswith("%"):
            return Insn(OPCODE_CALLX, dst=_reg(arg))
        if NAME_RE.match(arg):
            helper = HELPER_IDS.get(arg.removeprefix("bpf_"))
            if helper is None or not arg.startswith("bpf_"):
                raise _LineError(f"unknown helper {arg!r}")
            return Insn(OPCODE_CALL, imm=helper)
        return Insn(OPCODE_CALL, imm=_imm32(arg))

    def lddw(self, stmt: _Stmt) -> list[Insn]:
        _count(stmt, 2, "lddw %rD, IMM64|PSEUDO(N[, HI])")
        dst, value = _reg(stmt.operands[0]), stmt.operands[1].strip()
        m = _PSEUDO_RE.match(value)
        if m is None:
            v = _imm64(value)
            lo, hi = s32(v), s32(v >> 32)
            src = Pseudo.IMM64
        else:
            src = PSEUDO_NAMES.get(m.group(1))
            if src is None:
                raise _LineError(f"unknown lddw form {m.group(1)!r}")
            args = _split_operands(m.group(2))
            if not 1 <= len(args) <= 2:
                raise _LineError(f"{m.group(1)}() takes 1 or 2 arguments")
            lo = (self.target(args[0], stmt.slot, _S32) if src == Pseudo.FUNC else _imm32(args[0]))
            hi = _imm32(args[1]) if len(args) == 2 else 0
        return [Insn(OPCODE_LDDW, dst, src, 0, lo, hi), Insn(0, imm=hi)]


def _parse(text: str, first_line: int) -> tuple[list[_Stmt], dict[str, int], int]:
    """Statements with their slot index, and the labels' slot indices."""
    stmts: list[_Stmt] = []
    labels: dict[str, int] = {}
    slot = 0
    for n, raw in enumerate(text.splitlines(), first_line):
        line = raw.split("#", 1)[0].strip()
        while m := _LABEL_RE.match(line):
            name = m.group(1)
            if name in labels:
                raise AsmError(n, f"label {name!r} defined twice")
            labels[name] = slot
            line = m.group(2).strip()
        if not line:
            continue
        parts = line.split(None, 1)
        mnemonic = parts[0].lower()
        operands = _split_operands(parts[1]) if len(parts) > 1 else []
        stmts.append(_Stmt(n, slot, mnemonic, operands))
        slot += 2 if mnemonic == "lddw" else 1
    return stmts, labels, slot


def assemble(text: str, source: str = "<asm>", first_line: int = 1) -> list[Insn]:
    """Assemble `text`; errors name `source` and the line (numbered from `first_line`)."""
    stmts, labels, slots = _parse(text, first_line)
    if "exit" not in labels and stmts and stmts[-1].mnemonic == "exit":
        labels["exit"] = slots - 1
    asm = _Assembler(labels)
    out: list[Insn] = []
    for stmt in stmts:
        try:
            out.extend(asm.insns(stmt))
        except _LineError as err:
            raise AsmError(stmt.line, str(err), source) from None
    if not out:
        raise AsmError(first_line, "no instructions", source)
    return out


