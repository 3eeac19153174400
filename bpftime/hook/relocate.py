"""Host instructions: decoding (capstone, imported on first use) and relocation of the
instructions a patch displaces into a trampoline.

Addresses here are relative to the entry: instruction 0 starts at 0, a branch target
of -16 is 16 bytes before the entry. Relocations name their target the same way
(`Target.ENTRY` + addend) or, for a branch into the displaced code itself, as an
offset in the relocated block (`Target.TRAMP`, shifted later by the trampoline).
"""
from __future__ import annotations

import struct
from dataclasses import dataclass
from enum import IntEnum
from functools import cache

from bpftime.errors import LoadError


class RelocKind(IntEnum):
    ABS64 = 0   # 8-byte absolute address
    REL32 = 1   # 4-byte displacement: target - (code address + pc)


class Target(IntEnum):
    ENTRY = 0            # entry address + addend
    TRAMP = 1            # trampoline code start + addend
    HOOK = 2             # the hook descriptor
    DISPATCH_ENTRY = 3   # bpftime_dispatch_entry
    DISPATCH_RETURN = 4  # bpftime_dispatch_return


@dataclass(frozen=True)
class Reloc:
    """Patch `offset` in the code with `target + addend` (REL32: relative to `pc`)."""

    offset: int
    kind: RelocKind
    target: Target
    addend: int
    pc: int = 0

    def shifted(self, by: int) -> "Reloc":
        """The same relocation for code moved `by` bytes later in the trampoline."""
        addend = self.addend + by if self.target == Target.TRAMP else self.addend
        pc = self.pc + by if self.kind == RelocKind.REL32 else 0
        return Reloc(self.offset + by, self.kind, self.target, addend, pc)


@dataclass(frozen=True)
class Insn:
    """One decoded host instruction (address relative to the entry)."""

    address: int
    size: int
    raw: bytes
    mnemonic: str
    op_str: str
    rel_target: int | None   # direct branch/call target
    rip_disp_offset: int     # offset of a RIP-relative disp32 in raw, 0 if none
    kind: str                # "jmp", "jcc", "call", "ret", "loop" (unrelocatable branch),
                             # "endbr", "fill", "indirect", "data" (undecodable), ""

    @property
    def end(self) -> int:
        return self.address + self.size

    @property
    def terminates(self) -> bool:
        """Control never falls through to the next instruction."""
        return self.kind in ("jmp", "ret") or self.mnemonic in ("ud2", "hlt") or \
            (self.kind == "indirect" and self.mnemonic.startswith(("jmp", "notrack jmp")))

    def describe(self) -> str:
        return f"{self.mnemonic} {self.op_str}".strip()


@cache
def _capstone():
    import capstone
    from capstone import x86

    md = capstone.Cs(capstone.CS_ARCH_X86, capstone.CS_MODE_64)
    md.detail = True
    md.skipdata = True
    return capstone, x86, md


def decode(code: bytes, start: int = 0, limit: int | None = None) -> list[Insn]:
    """Decode `code` (its first byte at relative address `start`), linear sweep.
    Stops after `limit` bytes are covered, when given."""
    capstone, x86, md = _capstone()
    out: list[Insn] = []
    for ins in md.disasm(code, start):
        if ins.id == 0:  # skipdata: not an instruction
            kind, target, disp = "data", None, 0
        else:
            kind, target = _classify(capstone, x86, ins)
            disp = ins.disp_offset if any(
                op.type == x86.X86_OP_MEM and op.mem.base == x86.X86_REG_RIP for op in ins.operands) else 0
        out.append(Insn(ins.address, ins.size, bytes(ins.bytes), ins.mnemonic, ins.op_str,
                        target, disp, kind))
        if limit is not None and ins.address + ins.size - start >= limit:
            break
    return out


def _classify(capstone, x86, ins) -> tuple[str, int | None]:
    groups = set(ins.groups)
    mnem = ins.mnemonic
    if mnem == "endbr64":
        return "endbr", None
    if mnem.startswith("nop") or mnem == "int3" or (mnem == "xchg" and ins.op_str == "ax, ax"):
        return "fill", None
    if capstone.CS_GRP_RET in groups:
        return "ret", None
    imm = next((op.imm for op in ins.operands if op.type == x86.X86_OP_IMM), None)
    if capstone.CS_GRP_BRANCH_RELATIVE in groups and imm is not None:
        if capstone.CS_GRP_CALL in groups:
            return "call", imm
        if mnem.endswith("jmp"):
            return "jmp", imm
        if mnem.split()[-1].startswith("j") and mnem.split()[-1] not in ("jrcxz", "jecxz", "jcxz"):
            return "jcc", imm
        return "loop", imm  # loop*, jrcxz, xbegin: no rel32 form to widen to
    if groups & {capstone.CS_GRP_JUMP, capstone.CS_GRP_CALL}:
        return "indirect", None
    return "", None


def _jcc_condition(raw: bytes) -> int:
    """The condition nibble of a short (7x) or near (0F 8x) jcc, prefixes skipped."""
    i = 0
    while raw[i] in (0x2E, 0x3E, 0xF2):  # branch hints, bnd
        i += 1
    return raw[i] & 0xF if raw[i] != 0x0F else raw[i + 1] & 0xF


def relocate(insns: list[Insn], where: str) -> tuple[bytes, list[Reloc]]:
    """Copy displaced instructions for execution elsewhere; returns the block and its
    relocations. Branches into the block itself stay inside it; short branches widen."""
    start = insns[0].address
    end = insns[-1].end
    out = bytearray()
    relocs: list[Reloc] = []
    new_offset: dict[int, int] = {}
    pending: list[tuple[int, int, int]] = []  # (reloc offset, pc, relative target)
    for ins in insns:
        new_offset[ins.address] = len(out)
        if ins.kind == "loop":
            raise LoadError(f"{where}: cannot relocate '{ins.describe()}' at +{ins.address:#x} "
                            "(a branch with no rel32 form)")
        if ins.kind in ("jmp", "jcc", "call"):
            opcode = {"jmp": b"\xe9", "call": b"\xe8"}.get(ins.kind) or bytes((0x0F, 0x80 | _jcc_condition(ins.raw)))
            out += opcode
            pending.append((len(out), len(out) + 4, ins.rel_target))
            out += b"\0\0\0\0"
        elif ins.rip_disp_offset:
            base = len(out)
            out += ins.raw
            disp = struct.unpack_from("<i", ins.raw, ins.rip_disp_offset)[0]
            struct.pack_into("<i", out, base + ins.rip_disp_offset, 0)
            relocs.append(Reloc(base + ins.rip_disp_offset, RelocKind.REL32, Target.ENTRY,
                                ins.end + disp, base + ins.size))
        else:
            out += ins.raw
    for offset, pc, target in pending:
        if start <= target < end:
            if target not in new_offset:
                raise LoadError(f"{where}: a displaced branch targets +{target:#x}, "
                                "inside an instruction")
            relocs.append(Reloc(offset, RelocKind.REL32, Target.TRAMP, new_offset[target], pc))
        else:
            relocs.append(Reloc(offset, RelocKind.REL32, Target.ENTRY, target, pc))
    return bytes(out), relocs
