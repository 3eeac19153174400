"""Hook planning: how to divert one entry to its trampoline, decided from the file.

Strategies, tried in order:
- JMP: a 5-byte `jmp rel32` over whole instructions of the function, when no branch
  of the function lands inside the bytes it covers (past the entry) and no call but
  the last displaced one leaves a return address inside them;
- PADDING: the function is shorter than 5 bytes from the entry, ends in ret/jmp, and
  is followed by int3/nop fill up to the next symbol or 16-byte boundary: the jmp
  covers the function and some of that fill;
- INT3: a one-byte trap; the agent's SIGTRAP handler sends the thread to the
  trampoline (slow, ~1 us, but never unsafe).
Displaced instructions run from the trampoline, relocated.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass
from enum import IntEnum

from bpftime.errors import LoadError
from bpftime.hook import relocate, trampoline
from bpftime.hook.relocate import Insn, Reloc, RelocKind, Target
from bpftime.hook.resolve import Entry

JMP_SIZE = 5
MAGIC = b"BHP1"
VERSION = 1
_HEADER = struct.Struct("<4sHBBIIIIIQI")   # see bpftime/native/hook.h, struct bpftime_plan_header
_RELOC = struct.Struct("<IIIIq")


class Strategy(IntEnum):
    JMP = 0
    PADDING = 1
    INT3 = 2


@dataclass(frozen=True)
class HookPlan:
    """Everything the agent needs to patch one entry, independent of addresses."""

    module: str
    vaddr: int
    strategy: Strategy
    original: bytes          # live bytes expected at the entry (refuse if different)
    patch: bytes             # bytes to write (JMP/PADDING: rel32 at 1..5 filled at install)
    code: bytes              # trampoline code
    relocs: tuple[Reloc, ...]
    entry_offset: int        # entry trampoline, offset in code
    return_offset: int       # return trampoline, offset in code
    displaced: tuple[str, ...] = ()  # the displaced instructions, for people

    def to_bytes(self) -> bytes:
        """The wire form read by bpftime_hook_install (bpftime/native/hook.h)."""
        module = self.module.encode()
        head = _HEADER.pack(MAGIC, VERSION, int(self.strategy), 0, len(self.patch), len(self.code),
                            len(self.relocs), self.entry_offset, self.return_offset, self.vaddr,
                            len(module))
        relocs = b"".join(_RELOC.pack(r.offset, r.pc, int(r.kind), int(r.target), r.addend)
                          for r in self.relocs)
        return head + module + self.original + self.patch + self.code + relocs

    @classmethod
    def from_bytes(cls, data: bytes) -> "HookPlan":
        try:
            (magic, version, strategy, _, npatch, ncode, nrel, entry_off, ret_off, vaddr,
             nmod) = _HEADER.unpack_from(data)
        except struct.error:
            raise LoadError("hook plan: truncated header") from None
        if magic != MAGIC or version != VERSION:
            raise LoadError(f"hook plan: bad magic/version {magic!r}/{version}")
        pos = _HEADER.size
        need = pos + nmod + 2 * npatch + ncode + nrel * _RELOC.size
        if len(data) != need:
            raise LoadError(f"hook plan: {len(data)} bytes, header says {need}")
        module = data[pos:pos + nmod].decode()
        pos += nmod
        original, patch = data[pos:pos + npatch], data[pos + npatch:pos + 2 * npatch]
        pos += 2 * npatch
        code = data[pos:pos + ncode]
        pos += ncode
        relocs = tuple(Reloc(o, RelocKind(k), Target(t), a, pc)
                       for o, pc, k, t, a in _RELOC.iter_unpack(data[pos:]))
        return cls(module, vaddr, Strategy(strategy), original, patch, code, relocs, entry_off, ret_off)


def _where(entry: Entry) -> str:
    name = entry.symbol or hex(entry.vaddr)
    if entry.symbol and entry.offset_in_func:
        name += f"+{entry.offset_in_func:#x}"
    return f"{entry.module}:{name}"


def _function(entry: Entry) -> list[Insn]:
    """The whole function, addresses relative to the entry."""
    return relocate.decode(entry.body, -entry.offset_in_func)


def _covers_target(insns: list[Insn], body: list[Insn]) -> bool:
    """A direct branch target or an endbr64 (indirect landing pad) of the function
    inside the covered bytes, past the entry."""
    end = insns[-1].end
    targets = {i.rel_target for i in body if i.rel_target is not None}
    landing = {i.address for i in body if i.kind == "endbr"}
    return any(0 < t < end for t in targets | landing)


def _padding_ok(entry: Entry, need: int) -> bool:
    """`need` bytes after the function are provably fill: up to the next symbol or the
    next 16-byte boundary the bytes decode to int3/nop only."""
    end = entry.func_vaddr + entry.func_size
    free = min(len(entry.after), -end % 16)
    if free < need:
        return False
    fill = relocate.decode(entry.after[:free])
    return sum(i.size for i in fill) == free and all(i.kind == "fill" for i in fill)


def _displace(entry: Entry) -> tuple[Strategy, list[Insn]]:
    off = entry.offset_in_func
    if not entry.func_size:
        return Strategy.INT3, relocate.decode(entry.body, 0, 1)[:1]
    body = _function(entry)
    if off and all(i.address != 0 for i in body):
        raise LoadError(f"{_where(entry)}: not at an instruction boundary of {entry.symbol}")
    insns = relocate.decode(entry.body[off:], 0, JMP_SIZE)
    if not insns or insns[0].kind == "data":
        raise LoadError(f"{_where(entry)}: the entry does not start with a valid instruction")
    covered = insns[-1].end
    # a call inside the patch would leave return addresses pointing into it
    calls_inside = any("call" in i.mnemonic.split() for i in insns[:-1])
    clean = all(i.kind not in ("data", "loop") for i in insns) and not calls_inside and \
        not _covers_target(insns, body)
    if clean and covered >= JMP_SIZE:
        return Strategy.JMP, insns
    if clean and insns[-1].terminates and _padding_ok(entry, JMP_SIZE - covered):
        return Strategy.PADDING, insns
    return Strategy.INT3, insns[:1]


def plan_hook(entry: Entry) -> HookPlan:
    """Plan the patch of one entry. LoadError when not even a trap can be placed."""
    strategy, insns = _displace(entry)
    where = _where(entry)
    displaced, relocs = relocate.relocate(insns, where)
    covered = insns[-1].end
    if strategy == Strategy.INT3:
        original = insns[0].raw[:1]
        patch = b"\xcc"
    else:
        original = entry.body[entry.offset_in_func:][:covered]
        if strategy == Strategy.PADDING:
            original += entry.after[:JMP_SIZE - covered]
        patch = b"\xe9\0\0\0\0" + b"\xcc" * (len(original) - JMP_SIZE)
    resume = None if insns[-1].terminates else covered
    code, all_relocs, entry_off, ret_off = trampoline.build(displaced, relocs, resume)
    return HookPlan(module=entry.module, vaddr=entry.vaddr, strategy=strategy, original=original,
                    patch=patch, code=code, relocs=tuple(all_relocs), entry_offset=entry_off,
                    return_offset=ret_off, displaced=tuple(i.describe() for i in insns))
