"""Parser of .BTF.ext: per-section function info, line info and CO-RE relocations.

Instruction positions are kept as slot indices relative to the start of the ELF
section they name (the file stores byte offsets); the loader maps them onto its
self-contained programs."""
from __future__ import annotations

import struct
from dataclasses import dataclass, field
from enum import IntEnum

from bpftime.btf.btf import Btf
from bpftime.errors import LoadError

_HEADER = struct.Struct("<HBBIIIII")  # magic version flags hdr_len func_off func_len line_off line_len
_CORE = struct.Struct("<II")          # core_relo_off core_relo_len (hdr_len >= 32)


class CoreReloKind(IntEnum):
    """enum bpf_core_relo_kind."""

    FIELD_BYTE_OFFSET = 0
    FIELD_BYTE_SIZE = 1
    FIELD_EXISTS = 2
    FIELD_SIGNED = 3
    FIELD_LSHIFT_U64 = 4
    FIELD_RSHIFT_U64 = 5
    TYPE_ID_LOCAL = 6
    TYPE_ID_TARGET = 7
    TYPE_EXISTS = 8
    TYPE_SIZE = 9
    ENUMVAL_EXISTS = 10
    ENUMVAL_VALUE = 11
    TYPE_MATCHES = 12


@dataclass(frozen=True)
class FuncInfo:
    insn: int      # slot index
    type_id: int   # a BTF FUNC


@dataclass(frozen=True)
class LineInfo:
    insn: int
    file: str
    line: int
    column: int
    source: str    # the source line's text, as clang recorded it


@dataclass(frozen=True)
class CoreRelo:
    insn: int
    type_id: int
    access: str    # access string, e.g. "0:1:2"
    kind: CoreReloKind


@dataclass
class BtfExt:
    """Records of .BTF.ext by ELF section name."""

    func_info: dict[str, list[FuncInfo]] = field(default_factory=dict)
    line_info: dict[str, list[LineInfo]] = field(default_factory=dict)
    core_relos: dict[str, list[CoreRelo]] = field(default_factory=dict)


def parse_btf_ext(data: bytes, btf: Btf, where: str = ".BTF.ext") -> BtfExt:
    """Parse .BTF.ext against the object's BTF (for its strings and type ids)."""
    if len(data) < _HEADER.size:
        raise LoadError(f"{where}: offset 0x0: section of {len(data)} bytes is too small for a header")
    magic, version, _flags, hdr_len, f_off, f_len, l_off, l_len = _HEADER.unpack_from(data)
    if magic != 0xEB9F:
        raise LoadError(f"{where}: offset 0x0: bad magic {magic:#06x} (expected 0xeb9f)")
    if version != 1:
        raise LoadError(f"{where}: offset 0x2: unsupported version {version}")
    if hdr_len < _HEADER.size or hdr_len > len(data):
        raise LoadError(f"{where}: offset 0x4: header length {hdr_len} is out of range")
    c_off = c_len = 0
    if hdr_len >= _HEADER.size + _CORE.size:
        c_off, c_len = _CORE.unpack_from(data, _HEADER.size)
    ext = BtfExt()
    reader = _InfoReader(data, hdr_len, btf, where)
    for sec, at, rec in reader.sections("func_info", f_off, f_len, 8):
        ty, = struct.unpack_from("<4xI", rec)
        reader.check_type(ty, at, "func_info")
        ext.func_info.setdefault(sec, []).append(FuncInfo(reader.slot(rec, at), ty))
    for sec, at, rec in reader.sections("line_info", l_off, l_len, 16):
        _, file_off, line_off, line_col = struct.unpack_from("<IIII", rec)
        ext.line_info.setdefault(sec, []).append(LineInfo(
            reader.slot(rec, at), reader.string(file_off, at), line_col >> 10, line_col & 0x3FF,
            reader.string(line_off, at)))
    for sec, at, rec in reader.sections("core_relo", c_off, c_len, 16):
        _, ty, access_off, kind = struct.unpack_from("<IIII", rec)
        reader.check_type(ty, at, "CO-RE relocation")
        try:
            relo_kind = CoreReloKind(kind)
        except ValueError:
            raise LoadError(f"{where}: offset {at:#x}: unknown CO-RE relocation kind {kind}") from None
        ext.core_relos.setdefault(sec, []).append(
            CoreRelo(reader.slot(rec, at), ty, reader.string(access_off, at), relo_kind))
    return ext


class _InfoReader:
    """Walks the `rec_size, {sec_name_off, num_info, records…}…` layout shared by all
    three record kinds, with every offset checked."""

    def __init__(self, data: bytes, hdr_len: int, btf: Btf, where: str):
        self.data, self.hdr_len, self.btf, self.where = data, hdr_len, btf, where

    def sections(self, what: str, off: int, length: int, min_rec: int):
        if length == 0:
            return
        start = self.hdr_len + off
        end = start + length
        if end > len(self.data) or length < 4:
            raise LoadError(f"{self.where}: offset {start:#x}: {what} ({length} bytes) runs past the section end")
        rec_size, = struct.unpack_from("<I", self.data, start)
        if rec_size < min_rec or rec_size % 4:
            raise LoadError(f"{self.where}: offset {start:#x}: bad {what} record size {rec_size}")
        pos = start + 4
        while pos < end:
            if pos + 8 > end:
                raise LoadError(f"{self.where}: offset {pos:#x}: truncated {what} section header")
            name_off, count = struct.unpack_from("<II", self.data, pos)
            sec = self.string(name_off, pos)
            pos += 8
            if count * rec_size > end - pos:
                raise LoadError(f"{self.where}: offset {pos:#x}: {count} {what} records of section "
                                f"'{sec}' run past the end of {what}")
            for _ in range(count):
                yield sec, pos, self.data[pos:pos + rec_size]
                pos += rec_size

    def slot(self, rec: bytes, at: int) -> int:
        insn_off, = struct.unpack_from("<I", rec)
        if insn_off % 8:
            raise LoadError(f"{self.where}: offset {at:#x}: instruction offset {insn_off} is not a multiple of 8")
        return insn_off // 8

    def string(self, off: int, at: int) -> str:
        try:
            return self.btf.string(off)
        except LoadError:
            raise LoadError(f"{self.where}: offset {at:#x}: string offset {off} is outside the .BTF strings") from None

    def check_type(self, type_id: int, at: int, what: str) -> None:
        if not 0 < type_id < len(self.btf):
            raise LoadError(f"{self.where}: offset {at:#x}: {what} names type {type_id}, which .BTF lacks")
