"""Parser of the .BTF section: header, string table and every type record."""
from __future__ import annotations

import struct

from bpftime.btf.btf import Btf
from bpftime.btf.types import (BtfType, EnumValue, Kind, Member, Param, SecInfo)
from bpftime.errors import LoadError

BTF_MAGIC = 0xEB9F
_HEADER = struct.Struct("<HBBIIIII")  # magic version flags hdr_len type_off type_len str_off str_len
_TYPE = struct.Struct("<III")          # name_off info size_or_type
_U32 = struct.Struct("<I")
_MAX_VLEN = 0xFFFF


class _Reader:
    """Bounds-checked little-endian reads from the type section."""

    def __init__(self, data: bytes, where: str):
        self.data = data
        self.pos = 0
        self.where = where

    def unpack(self, fmt: struct.Struct) -> tuple[int, ...]:
        if self.pos + fmt.size > len(self.data):
            raise LoadError(f"{self.where}: offset {self.pos:#x}: type record runs past the type section")
        values = fmt.unpack_from(self.data, self.pos)
        self.pos += fmt.size
        return values

    def records(self, count: int, fmt: str) -> list[tuple[int, ...]]:
        rec = struct.Struct("<" + fmt)
        return [self.unpack(rec) for _ in range(count)]


def _strings(data: bytes, where: str):
    def name_at(off: int, at: int) -> str:
        if off == 0:
            return ""
        if off >= len(data):
            raise LoadError(f"{where}: offset {at:#x}: name offset {off} is outside the string section")
        end = data.find(b"\0", off)
        if end < 0:
            raise LoadError(f"{where}: offset {at:#x}: name at {off} is not NUL-terminated")
        try:
            return data[off:end].decode("utf-8")
        except UnicodeDecodeError:
            raise LoadError(f"{where}: offset {at:#x}: name at {off} is not valid UTF-8") from None
    return name_at


def parse_btf(data: bytes, where: str = ".BTF") -> Btf:
    """Parse a .BTF section. Any inconsistency is a LoadError naming `where`
    (e.g. 'prog.o: .BTF') and the offset of the bad record."""
    if len(data) < _HEADER.size:
        raise LoadError(f"{where}: offset 0x0: section of {len(data)} bytes is too small for a BTF header")
    magic, version, _flags, hdr_len, type_off, type_len, str_off, str_len = _HEADER.unpack_from(data)
    if magic != BTF_MAGIC:
        if magic == 0x9FEB:
            raise LoadError(f"{where}: offset 0x0: big-endian BTF is not supported")
        raise LoadError(f"{where}: offset 0x0: bad magic {magic:#06x} (expected 0xeb9f)")
    if version != 1:
        raise LoadError(f"{where}: offset 0x2: unsupported BTF version {version}")
    if hdr_len < _HEADER.size or hdr_len > len(data):
        raise LoadError(f"{where}: offset 0x4: header length {hdr_len} is out of range")
    body = data[hdr_len:]
    for name, off, length in (("type", type_off, type_len), ("string", str_off, str_len)):
        if off + length > len(body):
            raise LoadError(f"{where}: offset {hdr_len + off:#x}: {name} section ({length} bytes) "
                            f"runs past the end of the BTF data ({len(data)} bytes)")
    if type_off % 4:
        raise LoadError(f"{where}: offset {hdr_len + type_off:#x}: type section is not 4-byte aligned")
    strings = body[str_off:str_off + str_len]
    if strings and strings[0] != 0:
        raise LoadError(f"{where}: offset {hdr_len + str_off:#x}: string section does not start with NUL")
    name_at = _strings(strings, where)
    reader = _Reader(body[type_off:type_off + type_len], where + " types")
    types: list[BtfType] = [BtfType(0, Kind.VOID, "void")]
    while reader.pos < len(reader.data):
        types.append(_parse_type(reader, len(types), name_at))
    btf = Btf(types, strings, name_at)
    for t in types:
        for ref in t.referenced():
            if ref >= len(types):
                raise LoadError(f"{where} types: offset {t.offset:#x}: type {t.id} ({t.kind.name}) "
                                f"refers to type {ref}, but there are only {len(types) - 1}")
    return btf


def _parse_type(r: _Reader, tid: int, name_at) -> BtfType:
    at = r.pos
    name_off, info, size_or_type = r.unpack(_TYPE)
    vlen = info & _MAX_VLEN
    kind_no = (info >> 24) & 0x1F
    kind_flag = bool(info >> 31)
    try:
        kind = Kind(kind_no)
    except ValueError:
        raise LoadError(f"{r.where}: offset {at:#x}: type {tid} has unknown kind {kind_no}") from None
    if kind == Kind.VOID:
        raise LoadError(f"{r.where}: offset {at:#x}: type {tid} has kind 0 (void is implicit)")
    base = dict(id=tid, kind=kind, name=name_at(name_off, at), kind_flag=kind_flag, offset=at)

    def n(off: int) -> str:
        return name_at(off, at)

    if kind == Kind.INT:
        (word,) = r.unpack(_U32)
        bits, offset, encoding = word & 0xFF, (word >> 16) & 0xFF, (word >> 24) & 0x0F
        if size_or_type not in (1, 2, 4, 8, 16) or bits > size_or_type * 8 or offset + bits > size_or_type * 8:
            raise LoadError(f"{r.where}: offset {at:#x}: INT type {tid} has bad size {size_or_type} / bits {bits}")
        return BtfType(**base, size=size_or_type, int_encoding=encoding, int_offset=offset, int_bits=bits)
    if kind == Kind.ARRAY:
        elem, index, nelems = r.unpack(struct.Struct("<III"))
        return BtfType(**base, elem_type=elem, index_type=index, nelems=nelems)
    if kind in (Kind.STRUCT, Kind.UNION):
        members = []
        for m_name, m_type, m_off in r.records(vlen, "III"):
            if kind_flag:
                members.append(Member(n(m_name), m_type, m_off & 0xFFFFFF, m_off >> 24))
            else:
                members.append(Member(n(m_name), m_type, m_off))
        for m in members:
            if m.bit_offset + m.bitfield_size > size_or_type * 8:
                raise LoadError(f"{r.where}: offset {at:#x}: member '{m.name}' of type {tid} "
                                f"lies outside its {size_or_type} bytes")
        return BtfType(**base, size=size_or_type, members=tuple(members))
    if kind == Kind.ENUM:
        fmt = "Ii" if kind_flag else "II"
        values = tuple(EnumValue(n(o), v) for o, v in r.records(vlen, fmt))
        return BtfType(**base, size=size_or_type, values=values)
    if kind == Kind.ENUM64:
        values = []
        for o, lo, hi in r.records(vlen, "III"):
            v = (hi << 32) | lo
            if kind_flag and v >> 63:
                v -= 1 << 64
            values.append(EnumValue(n(o), v))
        return BtfType(**base, size=size_or_type, values=tuple(values))
    if kind == Kind.FUNC_PROTO:
        params = tuple(Param(n(o), t) for o, t in r.records(vlen, "II"))
        return BtfType(**base, type=size_or_type, params=params)
    if kind == Kind.VAR:
        (linkage,) = r.unpack(_U32)
        return BtfType(**base, type=size_or_type, linkage=linkage)
    if kind == Kind.DATASEC:
        infos = tuple(SecInfo(t, o, s) for t, o, s in r.records(vlen, "III"))
        for s in infos:  # in objects the size is 0 until the loader fills it in
            if size_or_type and s.offset + s.size > size_or_type:
                raise LoadError(f"{r.where}: offset {at:#x}: variable at {s.offset} (+{s.size}) lies "
                                f"outside DATASEC '{base['name']}' of {size_or_type} bytes")
        return BtfType(**base, size=size_or_type, secinfos=infos)
    if kind == Kind.DECL_TAG:
        (component,) = r.unpack(struct.Struct("<i"))
        return BtfType(**base, type=size_or_type, component_idx=component)
    if kind == Kind.FLOAT:
        if size_or_type not in (2, 4, 8, 12, 16):
            raise LoadError(f"{r.where}: offset {at:#x}: FLOAT type {tid} has bad size {size_or_type}")
        return BtfType(**base, size=size_or_type)
    if kind == Kind.FUNC:
        return BtfType(**base, type=size_or_type, linkage=vlen)
    # PTR, FWD, TYPEDEF, VOLATILE, CONST, RESTRICT, TYPE_TAG: no extra data
    return BtfType(**base, type=0 if kind == Kind.FWD else size_or_type)
