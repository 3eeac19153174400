"""Program images: position-independent code plus a link table of 8-byte slots.

Layout in memory: `code` (padded to 8 bytes) followed by `len(slots)` 8-byte slots.
The code reaches slot i RIP-relatively at `slots_offset + 8*i`; whoever maps the
image fills every slot with the value its `Slot` asks for, then the code runs
unchanged in any process.

Entry: `uint64_t prog(void *ctx, uint64_t len)` at `entry_offset`. A tail call
enters another image at its entry + `TAIL_CALL_ENTRY_SKIP` with the tail-call count
in eax (the external entry's first instruction zeroes eax).

Serialised form (`to_bytes`), little-endian, readable from C:
    char magic[8] = "BPFTIMG1"; u32 code_len, entry_offset, n_slots, n_subprogs;
    u32 subprog_offsets[n_subprogs];
    struct { u32 kind; u32 index; u64 arg; } slots[n_slots];   // `arg` is an offset
    u8 code[code_len];
"""
from __future__ import annotations

import struct
from dataclasses import dataclass, field
from enum import IntEnum

from bpftime.errors import LoadError
from bpftime.kernel_abi import helper_name

MAGIC = b"BPFTIMG1"
SLOT_SIZE = 8
TAIL_CALL_ENTRY_SKIP = 2  # size of `xor eax, eax` at the external entry
_HEADER = struct.Struct("<8sIIII")
_SLOT = struct.Struct("<IIQ")


class SlotKind(IntEnum):
    """What a link-table slot must be filled with."""

    HELPER = 1       # address of helper `index` (kernel helper id)
    MAP = 2          # handle of map `index` (index into the object's maps)
    MAP_VALUE = 3    # address of map `index`'s value (global data) + `arg`
    EXTERN_FUNC = 4  # address of extern function `index` (kfunc / EIM host function)
    EXTERN_VAR = 5   # address of extern variable `index`
    COUNTER = 6      # address of a u64 each basic block adds its instruction count to
                     # (only in images compiled with count_instructions)


def slots_offset_for(code_len: int) -> int:
    """Where the link table starts after `code_len` bytes of code (8-byte aligned)."""
    return (code_len + SLOT_SIZE - 1) // SLOT_SIZE * SLOT_SIZE


@dataclass(frozen=True)
class Slot:
    kind: SlotKind
    index: int
    arg: int = 0

    def describe(self) -> str:
        if self.kind == SlotKind.HELPER:
            return f"helper {helper_name(self.index)} (id {self.index})"
        if self.kind == SlotKind.MAP_VALUE:
            return f"value of map {self.index} + {self.arg}"
        return f"{self.kind.name.lower()} {self.index}"


@dataclass
class ProgramImage:
    """Machine code and what its link table must hold. `first_use[i]` is the
    index of the first eBPF instruction referring to slot i (for messages)."""

    code: bytes
    slots: list[Slot]
    entry_offset: int = 0
    subprog_offsets: list[int] = field(default_factory=list)
    first_use: list[int] = field(default_factory=list)

    @property
    def slots_offset(self) -> int:
        return slots_offset_for(len(self.code))

    @property
    def size(self) -> int:
        return self.slots_offset + SLOT_SIZE * len(self.slots)

    def to_bytes(self) -> bytes:
        out = bytearray(_HEADER.pack(MAGIC, len(self.code), self.entry_offset,
                                     len(self.slots), len(self.subprog_offsets)))
        out += struct.pack(f"<{len(self.subprog_offsets)}I", *self.subprog_offsets)
        for slot in self.slots:
            out += _SLOT.pack(slot.kind, slot.index, slot.arg)
        out += self.code
        return bytes(out)

    @classmethod
    def from_bytes(cls, data: bytes) -> "ProgramImage":
        if len(data) < _HEADER.size or data[:8] != MAGIC:
            raise LoadError("program image: bad magic (not a bpftime image)")
        _, code_len, entry, n_slots, n_sub = _HEADER.unpack_from(data)
        pos = _HEADER.size
        need = pos + 4 * n_sub + _SLOT.size * n_slots + code_len
        if len(data) != need:
            raise LoadError(f"program image: {len(data)} bytes, header says {need}")
        subs = list(struct.unpack_from(f"<{n_sub}I", data, pos))
        if not code_len or any(off >= code_len for off in [entry, *subs]):
            raise LoadError(f"program image: entry or subprogram offset outside its {code_len} bytes of code")
        pos += 4 * n_sub
        slots = []
        for _ in range(n_slots):
            kind, index, arg = _SLOT.unpack_from(data, pos)
            try:
                slots.append(Slot(SlotKind(kind), index, arg))
            except ValueError:
                raise LoadError(f"program image: slot {len(slots)} has unknown kind {kind}") from None
            pos += _SLOT.size
        return cls(data[pos:], slots, entry, subs)
