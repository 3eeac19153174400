"""A minimal x86-64 machine-code emitter: exactly the instructions the JIT needs.

Registers are numbered as in the ModRM encoding (RAX=0 … R15=15). Memory operands
are `Mem(base, disp)` or RIP-relative references to a label (`RipLabel`), resolved
when the code is finished. Every method appends bytes to `buf`.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass

RAX, RCX, RDX, RBX, RSP, RBP, RSI, RDI = range(8)
R8, R9, R10, R11, R12, R13, R14, R15 = range(8, 16)

# condition codes (the low nibble of Jcc)
CC_O, CC_NO, CC_B, CC_AE, CC_E, CC_NE, CC_BE, CC_A = range(8)
CC_S, CC_NS, CC_P, CC_NP, CC_L, CC_GE, CC_LE, CC_G = range(8, 16)

# /digit extensions of the 0x81/0x83 group and the shift group
EXT_ADD, EXT_OR, EXT_AND, EXT_SUB, EXT_XOR, EXT_CMP = 0, 1, 4, 5, 6, 7
EXT_SHL, EXT_SHR, EXT_SAR = 4, 5, 7
# "r/m <- reg" opcodes of two-operand ALU instructions
OP_ADD, OP_OR, OP_AND, OP_SUB, OP_XOR, OP_CMP, OP_TEST, OP_MOV = 0x01, 0x09, 0x21, 0x29, 0x31, 0x39, 0x85, 0x89


NOPS = (b"", b"\x90", b"\x66\x90", b"\x0f\x1f\x00", b"\x0f\x1f\x40\x00", b"\x0f\x1f\x44\x00\x00",
        b"\x66\x0f\x1f\x44\x00\x00", b"\x0f\x1f\x80\x00\x00\x00\x00",
        b"\x0f\x1f\x84\x00\x00\x00\x00\x00", b"\x66\x0f\x1f\x84\x00\x00\x00\x00\x00")


class ShortJumpOverflow(Exception):
    """A jump emitted as rel8 whose target turned out to be too far."""


@dataclass(frozen=True)
class Mem:
    """[base + disp]."""

    base: int
    disp: int = 0


@dataclass(frozen=True)
class RipLabel:
    """[rip + (label - end of instruction)]; the label is resolved later."""

    label: object


def fits8(v: int) -> bool:
    return -128 <= v <= 127


class Emitter:
    """Appends encoded instructions to `buf`; RIP-relative and rel32 references to
    labels are recorded in `fixups` as (position of the rel32, label, end of insn)."""

    def __init__(self) -> None:
        self.buf = bytearray()
        self.fixups: list[tuple[int, object, int]] = []

    @property
    def pos(self) -> int:
        return len(self.buf)

    # --- encoding primitives -------------------------------------------------------
    def _rex(self, w: bool, reg: int, index: int, base: int, byte_regs: tuple[int, ...] = ()) -> None:
        rex = 0x40 | (w << 3) | ((reg >> 3) << 2) | ((index >> 3) << 1) | (base >> 3)
        # spl/bpl/sil/dil need an (empty) REX prefix to be addressable as bytes
        if rex != 0x40 or any(4 <= r <= 7 for r in byte_regs):
            self.buf.append(rex)

    def _op(self, opcode: bytes | int, w: bool, reg: int, rm: int | Mem | RipLabel,
            prefix: bytes = b"", byte_regs: tuple[int, ...] = (), imm_size: int = 0) -> None:
        """prefix, REX, opcode, ModRM (+SIB, displacement) for `reg` and `rm`."""
        op = bytes([opcode]) if isinstance(opcode, int) else opcode
        self.buf += prefix
        if isinstance(rm, int):
            self._rex(w, reg, 0, rm, byte_regs)
            self.buf += op
            self.buf.append(0xC0 | ((reg & 7) << 3) | (rm & 7))
        elif isinstance(rm, RipLabel):
            self._rex(w, reg, 0, 0, byte_regs)
            self.buf += op
            self.buf.append(((reg & 7) << 3) | 5)
            self.fixups.append((self.pos, rm.label, self.pos + 4 + imm_size))
            self.buf += b"\0\0\0\0"
        else:
            base, disp = rm.base, rm.disp
            self._rex(w, reg, 0, base, byte_regs)
            self.buf += op
            if disp == 0 and (base & 7) != RBP:
                mod = 0
            elif fits8(disp):
                mod = 1
            else:
                mod = 2
            if (base & 7) == RSP:
                self.buf.append((mod << 6) | ((reg & 7) << 3) | 4)
                self.buf.append(0x24)
            else:
                self.buf.append((mod << 6) | ((reg & 7) << 3) | (base & 7))
            if mod == 1:
                self.buf += struct.pack("<b", disp)
            elif mod == 2:
                self.buf += struct.pack("<i", disp)

    def nops(self, n: int) -> None:
        """n bytes of the recommended multi-byte NOPs."""
        while n > 0:
            k = min(n, len(NOPS) - 1)
            self.buf += NOPS[k]
            n -= k

    def imm(self, value: int, size: int) -> None:
        self.buf += (value & ((1 << (8 * size)) - 1)).to_bytes(size, "little")

    # --- moves ---------------------------------------------------------------------
    def mov_rr(self, dst: int, src: int, w: bool = True) -> None:
        self._op(OP_MOV, w, src, dst)

    def mov_ri(self, dst: int, value: int) -> None:
        """dst = value (a 64-bit pattern), in the shortest form."""
        value &= (1 << 64) - 1
        if value == 0:
            self._op(OP_XOR, False, dst, dst)
        elif value < (1 << 32):
            self._rex(False, 0, 0, dst)
            self.buf.append(0xB8 | (dst & 7))
            self.imm(value, 4)
        elif value >= (1 << 64) - (1 << 31):
            self._op(0xC7, True, 0, dst)
            self.imm(value, 4)
        else:
            self._rex(True, 0, 0, dst)
            self.buf.append(0xB8 | (dst & 7))
            self.imm(value, 8)

    def load(self, dst: int, mem: Mem | RipLabel, size: int, signed: bool = False) -> None:
        """dst = zero- (or sign-) extended `size`-byte value at mem."""
        if size == 8:
            self._op(0x8B, True, dst, mem)
        elif size == 4:
            if signed:
                self._op(0x63, True, dst, mem)
            else:
                self._op(0x8B, False, dst, mem)
        else:
            op = {1: 0xB6, 2: 0xB7}[size] + (8 if signed else 0)
            self._op(bytes([0x0F, op]), signed, dst, mem)

    def store(self, mem: Mem, src: int, size: int) -> None:
        if size == 1:
            self._op(0x88, False, src, mem, byte_regs=(src,))
        else:
            self._op(OP_MOV, size == 8, src, mem, prefix=b"\x66" if size == 2 else b"")

    def store_imm(self, mem: Mem, value: int, size: int) -> None:
        """[mem] = value; an 8-byte store sign-extends a 32-bit immediate."""
        if size == 1:
            self._op(0xC6, False, 0, mem, imm_size=1)
        else:
            self._op(0xC7, size == 8, 0, mem, prefix=b"\x66" if size == 2 else b"",
                     imm_size=min(size, 4))
        self.imm(value, min(size, 4))

    def movsx_rr(self, dst: int, src: int, from_size: int, w: bool) -> None:
        """dst = sign-extended low `from_size` bytes of src (into 64 or 32 bits)."""
        if from_size == 4:
            self._op(0x63, True, dst, src)
        else:
            self._op(bytes([0x0F, 0xBE if from_size == 1 else 0xBF]), w, dst, src,
                     byte_regs=(src,) if from_size == 1 else ())

    def movzx_rr(self, dst: int, src: int, from_size: int) -> None:
        self._op(bytes([0x0F, 0xB6 if from_size == 1 else 0xB7]), False, dst, src,
                 byte_regs=(src,) if from_size == 1 else ())

    def lea(self, dst: int, mem: Mem | RipLabel) -> None:
        self._op(0x8D, True, dst, mem)

    # --- arithmetic ----------------------------------------------------------------
    def alu_rr(self, opcode: int, dst: int | Mem, src: int, w: bool = True) -> None:
        """dst OP= src for the "r/m <- reg" opcodes (OP_ADD … OP_MOV)."""
        self._op(opcode, w, src, dst)

    def alu_ri(self, ext: int, dst: int | Mem, value: int, w: bool = True) -> None:
        """dst OP= sign-extended imm32 (EXT_ADD … EXT_CMP)."""
        if fits8(value):
            self._op(0x83, w, ext, dst, imm_size=1)
            self.imm(value, 1)
        else:
            self._op(0x81, w, ext, dst, imm_size=4)
            self.imm(value, 4)

    def test_ri(self, dst: int, value: int, w: bool = True) -> None:
        self._op(0xF7, w, 0, dst, imm_size=4)
        self.imm(value, 4)

    def imul_rr(self, dst: int, src: int, w: bool = True) -> None:
        self._op(b"\x0f\xaf", w, dst, src)

    def imul_ri(self, dst: int, value: int, w: bool = True) -> None:
        if fits8(value):
            self._op(0x6B, w, dst, dst)
            self.imm(value, 1)
        else:
            self._op(0x69, w, dst, dst)
            self.imm(value, 4)

    def shift_ri(self, ext: int, dst: int, count: int, w: bool = True) -> None:
        if count == 1:
            self._op(0xD1, w, ext, dst)
        else:
            self._op(0xC1, w, ext, dst)
            self.imm(count, 1)

    def shift_cl(self, ext: int, dst: int, w: bool = True) -> None:
        self._op(0xD3, w, ext, dst)

    def unary(self, ext: int, rm: int, w: bool = True) -> None:
        """The 0xF7 group: 3 neg, 6 div, 7 idiv."""
        self._op(0xF7, w, ext, rm)

    def sign_extend_rax(self, w: bool) -> None:
        """cqo (w) or cdq: rdx:rax = sign-extended rax."""
        if w:
            self.buf.append(0x48)
        self.buf.append(0x99)

    def bswap(self, reg: int, w: bool) -> None:
        self._rex(w, 0, 0, reg)
        self.buf += bytes([0x0F, 0xC8 | (reg & 7)])

    def rol16_8(self, reg: int) -> None:
        """Swap the two low bytes of reg (rol r16, 8)."""
        self._op(0xC1, False, 0, reg, prefix=b"\x66")
        self.imm(8, 1)

    # --- atomics -------------------------------------------------------------------
    def lock_alu(self, opcode: int, mem: Mem, src: int, w: bool) -> None:
        self._op(opcode, w, src, mem, prefix=b"\xf0")

    def lock_xadd(self, mem: Mem, src: int, w: bool) -> None:
        self._op(b"\x0f\xc1", w, src, mem, prefix=b"\xf0")

    def lock_cmpxchg(self, mem: Mem, src: int, w: bool) -> None:
        self._op(b"\x0f\xb1", w, src, mem, prefix=b"\xf0")

    def xchg(self, mem: Mem, src: int, w: bool) -> None:
        self._op(0x87, w, src, mem)

    # --- stack and control flow ----------------------------------------------------
    def push(self, reg: int) -> None:
        self._rex(False, 0, 0, reg)
        self.buf.append(0x50 | (reg & 7))

    def pop(self, reg: int) -> None:
        self._rex(False, 0, 0, reg)
        self.buf.append(0x58 | (reg & 7))

    def ret(self) -> None:
        self.buf.append(0xC3)

    def call_mem(self, mem: Mem | RipLabel) -> None:
        self._op(0xFF, False, 2, mem)

    def call_reg(self, reg: int) -> None:
        self._op(0xFF, False, 2, reg)

    def jmp_reg(self, reg: int) -> None:
        self._op(0xFF, False, 4, reg)

    def call_label(self, label: object) -> None:
        self.buf.append(0xE8)
        self.fixups.append((self.pos, label, self.pos + 4))
        self.buf += b"\0\0\0\0"

    def jump(self, label: object, cc: int | None, short: bool) -> None:
        """jmp (cc None) or jcc to label; rel8 if `short`, else rel32."""
        if short:
            self.buf.append(0xEB if cc is None else 0x70 | cc)
            self.fixups.append((self.pos, label, -(self.pos + 1)))  # negative end: rel8
            self.buf.append(0)
            return
        if cc is None:
            self.buf.append(0xE9)
        else:
            self.buf += bytes([0x0F, 0x80 | cc])
        self.fixups.append((self.pos, label, self.pos + 4))
        self.buf += b"\0\0\0\0"

    def resolve(self, labels: dict[object, int]) -> None:
        """Patch every recorded reference now that label positions are known."""
        for at, label, end in self.fixups:
            target = labels[label]
            if end < 0:
                rel = target + end
                if not fits8(rel):
                    raise ShortJumpOverflow(f"rel8 jump at {at} cannot reach {rel} bytes")
                struct.pack_into("<b", self.buf, at, rel)
            else:
                struct.pack_into("<i", self.buf, at, target - end)
