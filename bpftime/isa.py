"""The eBPF instruction set (RFC 9669): encoding, decoding and validation.

A program is a list of `Insn`, one per 8-byte slot, exactly as in the object file:
a 64-bit immediate load (`lddw`) occupies two slots; the first carries the whole
value in `imm64`, the second is kept as a `Insn` with opcode 0 so that slot indices
(jump offsets, relocation offsets, BTF line info) stay those of the file.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass
from enum import IntEnum

from bpftime.errors import DecodeError

INSN_SIZE = 8
MAX_REG = 10
FP = 10  # r10, the read-only frame pointer
STACK_SIZE = 512
MAX_CALL_FRAMES = 8
MAX_TAIL_CALLS = 33  # per invocation: the kernel's MAX_TAIL_CALL_CNT


class Cls(IntEnum):
    LD = 0x00
    LDX = 0x01
    ST = 0x02
    STX = 0x03
    ALU = 0x04
    JMP = 0x05
    JMP32 = 0x06
    ALU64 = 0x07


class Src(IntEnum):
    K = 0x00
    X = 0x08


class Alu(IntEnum):
    ADD = 0x00
    SUB = 0x10
    MUL = 0x20
    DIV = 0x30
    OR = 0x40
    AND = 0x50
    LSH = 0x60
    RSH = 0x70
    NEG = 0x80
    MOD = 0x90
    XOR = 0xA0
    MOV = 0xB0
    ARSH = 0xC0
    END = 0xD0


class Jmp(IntEnum):
    JA = 0x00
    JEQ = 0x10
    JGT = 0x20
    JGE = 0x30
    JSET = 0x40
    JNE = 0x50
    JSGT = 0x60
    JSGE = 0x70
    CALL = 0x80
    EXIT = 0x90
    JLT = 0xA0
    JLE = 0xB0
    JSLT = 0xC0
    JSLE = 0xD0


class Size(IntEnum):
    W = 0x00
    H = 0x08
    B = 0x10
    DW = 0x18


SIZE_BYTES = {Size.W: 4, Size.H: 2, Size.B: 1, Size.DW: 8}


class Mode(IntEnum):
    IMM = 0x00
    ABS = 0x20
    IND = 0x40
    MEM = 0x60
    MEMSX = 0x80
    ATOMIC = 0xC0


class AtomicOp(IntEnum):
    ADD = 0x00
    OR = 0x40
    AND = 0x50
    XOR = 0xA0
    FETCH = 0x01
    XCHG = 0xE0 | 0x01
    CMPXCHG = 0xF0 | 0x01


ATOMIC_OPS = {
    AtomicOp.ADD, AtomicOp.OR, AtomicOp.AND, AtomicOp.XOR,
    AtomicOp.ADD | AtomicOp.FETCH, AtomicOp.OR | AtomicOp.FETCH,
    AtomicOp.AND | AtomicOp.FETCH, AtomicOp.XOR | AtomicOp.FETCH,
    AtomicOp.XCHG, AtomicOp.CMPXCHG,
}


class Pseudo(IntEnum):
    """`src` values of `lddw` (64-bit immediate forms)."""

    IMM64 = 0
    MAP_FD = 1
    MAP_VALUE = 2
    BTF_ID = 3
    FUNC = 4
    MAP_IDX = 5
    MAP_IDX_VALUE = 6


class CallKind(IntEnum):
    """`src` values of `call`."""

    HELPER = 0
    LOCAL = 1  # bpf-to-bpf; imm is the slot offset from the next instruction
    KFUNC = 2  # extern function (kfunc / EIM host function); imm is a BTF id


OPCODE_LDDW = Cls.LD | Size.DW | Mode.IMM  # 0x18
OPCODE_CALL = Cls.JMP | Jmp.CALL  # 0x85
OPCODE_CALLX = Cls.JMP | Jmp.CALL | Src.X  # 0x8d
OPCODE_EXIT = Cls.JMP | Jmp.EXIT  # 0x95

COND_JUMPS = {Jmp.JEQ, Jmp.JGT, Jmp.JGE, Jmp.JSET, Jmp.JNE, Jmp.JSGT, Jmp.JSGE,
              Jmp.JLT, Jmp.JLE, Jmp.JSLT, Jmp.JSLE}


def s32(v: int) -> int:
    v &= 0xFFFFFFFF
    return v - (1 << 32) if v & 0x80000000 else v


def s16(v: int) -> int:
    v &= 0xFFFF
    return v - (1 << 16) if v & 0x8000 else v


@dataclass(frozen=True)
class Insn:
    """One 8-byte instruction slot. `imm` and `off` are signed; `imm_hi` is the
    second slot's immediate for `lddw` (0 otherwise)."""

    opcode: int
    dst: int = 0
    src: int = 0
    off: int = 0
    imm: int = 0
    imm_hi: int = 0

    # --- fields decoded from the opcode -------------------------------------------
    @property
    def cls(self) -> int:
        return self.opcode & 0x07

    @property
    def is_alu(self) -> bool:
        return self.cls in (Cls.ALU, Cls.ALU64)

    @property
    def is_jmp(self) -> bool:
        return self.cls in (Cls.JMP, Cls.JMP32)

    @property
    def op(self) -> int:
        """ALU or jump operation (high 4 bits)."""
        return self.opcode & 0xF0

    @property
    def uses_reg(self) -> bool:
        """ALU/jump source operand is `src` (not `imm`)."""
        return bool(self.opcode & Src.X)

    @property
    def mode(self) -> int:
        return self.opcode & 0xE0

    @property
    def size(self) -> int:
        """Access width in bytes of a load or store."""
        return SIZE_BYTES[Size(self.opcode & 0x18)]

    @property
    def is_lddw(self) -> bool:
        return self.opcode == OPCODE_LDDW

    @property
    def imm64(self) -> int:
        """The full unsigned 64-bit immediate of an `lddw`."""
        return ((self.imm_hi & 0xFFFFFFFF) << 32) | (self.imm & 0xFFFFFFFF)

    @property
    def slots(self) -> int:
        return 2 if self.is_lddw else 1

    @property
    def is_call(self) -> bool:
        return self.opcode in (OPCODE_CALL, OPCODE_CALLX)

    @property
    def is_local_call(self) -> bool:
        return self.opcode == OPCODE_CALL and self.src == CallKind.LOCAL

    @property
    def is_exit(self) -> bool:
        return self.opcode == OPCODE_EXIT

    def jump_target(self, pc: int) -> int | None:
        """Slot index a jump or local call at `pc` goes to, or None."""
        if self.opcode == Cls.JMP32 | Jmp.JA:
            return pc + 1 + self.imm
        if self.is_local_call:
            return pc + 1 + self.imm
        if self.is_jmp and (self.op == Jmp.JA or self.op in COND_JUMPS):
            return pc + 1 + self.off
        return None

    def encode(self) -> bytes:
        """The instruction's bytes (16 for `lddw`)."""
        regs = (self.dst & 0xF) | ((self.src & 0xF) << 4)
        out = struct.pack("<BBhi", self.opcode, regs, self.off, s32(self.imm))
        if self.is_lddw:
            out += struct.pack("<BBhi", 0, 0, 0, s32(self.imm_hi))
        return out


def lddw(dst: int, value: int, src: int = Pseudo.IMM64) -> Insn:
    """A 64-bit immediate load."""
    value &= (1 << 64) - 1
    return Insn(OPCODE_LDDW, dst, src, 0, s32(value), s32(value >> 32))


def encode(insns: list[Insn]) -> bytes:
    """Bytes of a program. The second slot of an `lddw` is written by its first."""
    out = bytearray()
    skip = False
    for insn in insns:
        if skip:
            skip = False
            continue
        out += insn.encode()
        skip = insn.is_lddw
    return bytes(out)


def decode(data: bytes, validate: bool = True) -> list[Insn]:
    """Decode a program, one `Insn` per slot. With `validate`, refuse anything
    RFC 9669 does not define (unknown opcode, non-zero reserved fields, bad
    registers, an incomplete `lddw`, a jump out of range) naming the instruction."""
    if len(data) % INSN_SIZE:
        raise DecodeError(len(data) // INSN_SIZE,
                          f"program size {len(data)} is not a multiple of 8")
    raw = [struct.unpack_from("<BBhi", data, i) for i in range(0, len(data), INSN_SIZE)]
    insns: list[Insn] = []
    i = 0
    while i < len(raw):
        opcode, regs, off, imm = raw[i]
        dst, src = regs & 0xF, regs >> 4
        if opcode == OPCODE_LDDW:
            if i + 1 >= len(raw):
                raise DecodeError(i, "incomplete lddw: the second slot is missing")
            op2, regs2, off2, imm2 = raw[i + 1]
            if validate and (op2 or regs2 or off2):
                raise DecodeError(i + 1, "second slot of lddw must have zero opcode, registers and offset")
            insns.append(Insn(opcode, dst, src, off, imm, imm2))
            insns.append(Insn(0, 0, 0, 0, imm2))
            i += 2
            continue
        insns.append(Insn(opcode, dst, src, off, imm))
        i += 1
    if validate:
        validate_program(insns)
    return insns


def insn_starts(insns: list[Insn]) -> list[int]:
    """The slots where an instruction starts (every slot but an `lddw`'s second), in order."""
    starts, i = [], 0
    while i < len(insns):
        starts.append(i)
        i += insns[i].slots
    return starts


def validate_program(insns: list[Insn]) -> None:
    """Static checks of every instruction and jump target (see `decode`)."""
    if not insns:
        raise DecodeError(0, "empty program")
    order = insn_starts(insns)
    starts = set(order)
    for i in order:
        insn = insns[i]
        reason = check_insn(insn)
        if reason:
            raise DecodeError(i, reason)
        target = insn.jump_target(i)
        if target is not None and target not in starts:
            what = "call" if insn.is_call else "jump"
            if 0 <= target < len(insns):
                raise DecodeError(i, f"{what} into the middle of lddw at {target}")
            raise DecodeError(i, f"{what} out of range: target {target}, program has {len(insns)} instructions")


def _zero(insn: Insn, *fields: str) -> str | None:
    for name in fields:
        if getattr(insn, name):
            return f"reserved field {name} must be 0 for opcode {insn.opcode:#04x}"
    return None


def check_insn(insn: Insn) -> str | None:
    """Why `insn` is not a valid RFC 9669 instruction, or None."""
    if insn.dst > MAX_REG:
        return f"invalid destination register r{insn.dst}"
    if insn.src > MAX_REG and not (insn.cls == Cls.LD and insn.is_lddw):
        return f"invalid source register r{insn.src}"
    cls = insn.cls
    if cls in (Cls.ALU, Cls.ALU64):
        return _check_alu(insn)
    if cls in (Cls.JMP, Cls.JMP32):
        return _check_jmp(insn)
    if cls == Cls.LD:
        if insn.is_lddw:
            if insn.src > Pseudo.MAP_IDX_VALUE:
                return f"unknown lddw pseudo source {insn.src}"
            return _zero(insn, "off")
        if insn.mode == Mode.ABS and insn.size != 8:  # legacy packet access
            return _zero(insn, "dst", "src", "off")
        if insn.mode == Mode.IND and insn.size != 8:
            return _zero(insn, "dst", "off")
        return f"unknown opcode {insn.opcode:#04x}"
    if cls == Cls.LDX:
        if insn.mode == Mode.MEM or (insn.mode == Mode.MEMSX and insn.size != 8):
            return _zero(insn, "imm")
        return f"unknown opcode {insn.opcode:#04x}"
    if cls == Cls.ST:
        if insn.mode == Mode.MEM:
            return _zero(insn, "src")
        return f"unknown opcode {insn.opcode:#04x}"
    if cls == Cls.STX:
        if insn.mode == Mode.MEM:
            return _zero(insn, "imm")
        if insn.mode == Mode.ATOMIC and insn.size in (4, 8):
            if insn.imm not in ATOMIC_OPS:
                return f"unknown atomic operation {insn.imm:#x}"
            return None
        return f"unknown opcode {insn.opcode:#04x}"
    return f"unknown opcode {insn.opcode:#04x}"  # pragma: no cover - all classes handled


def _check_alu(insn: Insn) -> str | None:
    op, is64 = insn.op, insn.cls == Cls.ALU64
    if op not in Alu._value2member_map_:
        return f"unknown opcode {insn.opcode:#04x}"
    if op == Alu.NEG:
        if insn.uses_reg:
            return f"unknown opcode {insn.opcode:#04x}"
        return _zero(insn, "src", "off", "imm")
    if op == Alu.END:
        if is64 and insn.uses_reg:
            return f"unknown opcode {insn.opcode:#04x}"
        if insn.imm not in (16, 32, 64):
            return f"byte swap width must be 16, 32 or 64, not {insn.imm}"
        return _zero(insn, "src", "off")
    allowed_off = {0}
    if op in (Alu.DIV, Alu.MOD):
        allowed_off = {0, 1}
    elif op == Alu.MOV and insn.uses_reg:
        allowed_off = {0, 8, 16, 32} if is64 else {0, 8, 16}
    if insn.off not in allowed_off:
        return f"invalid offset {insn.off} for opcode {insn.opcode:#04x}"
    if insn.uses_reg:
        return _zero(insn, "imm")
    return _zero(insn, "src")


def _check_jmp(insn: Insn) -> str | None:
    op, is32 = insn.op, insn.cls == Cls.JMP32
    if op == Jmp.JA:
        if insn.uses_reg:
            return f"unknown opcode {insn.opcode:#04x}"
        return _zero(insn, "dst", "src", "off") if is32 else _zero(insn, "dst", "src", "imm")
    if op == Jmp.CALL:
        if is32:
            return f"unknown opcode {insn.opcode:#04x}"
        if insn.uses_reg:  # callx: target address in dst
            return _zero(insn, "src", "off", "imm")
        if insn.src > CallKind.KFUNC:
            return f"unknown call kind (src={insn.src})"
        return _zero(insn, "dst", "off")
    if op == Jmp.EXIT:
        if is32 or insn.uses_reg:
            return f"unknown opcode {insn.opcode:#04x}"
        return _zero(insn, "dst", "src", "off", "imm")
    if op in COND_JUMPS:
        return _zero(insn, "imm") if insn.uses_reg else _zero(insn, "src")
    return f"unknown opcode {insn.opcode:#04x}"
