"""Turn raw bytes (a map key or value) into JSON-able data using BTF."""
from __future__ import annotations

import struct
from typing import Any

from bpftime.btf.btf import Btf
from bpftime.btf.types import INT_BOOL, INT_CHAR, Kind
from bpftime.errors import LoadError

_MAX_DEPTH = 32
_MAX_NODES = 200_000  # values decoded per call; beyond that (hostile BTF) fall back to hex
_FLOATS = {2: "<e", 4: "<f", 8: "<d"}


class _TooBig(Exception):
    pass


def decode_value(btf: Btf | None, type_id: int | None, data: bytes) -> Any:
    """Integers become numbers, structs/unions/datasecs dicts, arrays lists, printable
    char arrays strings, enums their enumerator's name. Without BTF or a type, or when
    the bytes do not fit the type, the result is the bytes as a hex string."""
    if btf is None or not type_id:
        return data.hex()
    try:
        if btf.size(type_id) != len(data):
            return data.hex()
        return _Decoder(btf).value(type_id, data, 0)
    except (LoadError, _TooBig):
        return data.hex()


class _Decoder:
    def __init__(self, btf: Btf):
        self.btf = btf
        self.nodes = 0

    def value(self, type_id: int, data: bytes, depth: int) -> Any:
        self.nodes += 1
        if self.nodes > _MAX_NODES or depth > _MAX_DEPTH:
            raise _TooBig
        btf = self.btf
        t = btf.resolve(type_id)
        if t.kind == Kind.INT:
            if t.int_encoding & INT_BOOL:
                return any(data[:t.size])
            return _int(data[:t.size], t.signed)
        if t.kind == Kind.PTR:
            return _int(data[:8], False)
        if t.kind in (Kind.ENUM, Kind.ENUM64):
            return _enum(t, _int(data[:t.size], t.signed))
        if t.kind == Kind.FLOAT and t.size in _FLOATS:
            return struct.unpack(_FLOATS[t.size], data[:t.size])[0]
        if t.kind == Kind.ARRAY:
            return self.array(t.elem_type, t.nelems, data, depth)
        if t.kind in (Kind.STRUCT, Kind.UNION):
            out: dict[str, Any] = {}
            for i, m in enumerate(t.members):
                v = self.member(m.type, m.bit_offset, m.bitfield_size, data, depth)
                if not m.name and isinstance(v, dict):
                    out.update(v)  # anonymous struct/union: its members are ours
                else:
                    out[m.name or f"<anon{i}>"] = v
            return out
        if t.kind == Kind.DATASEC:
            return {btf.type(s.type).name: self.value(s.type, data[s.offset:s.offset + s.size], depth + 1)
                    for s in t.secinfos}
        if t.kind == Kind.VAR:
            return self.value(t.type, data, depth + 1)
        return data.hex()

    def array(self, elem: int, count: int, data: bytes, depth: int) -> Any:
        et = self.btf.resolve(elem)
        if et.kind == Kind.INT and et.size == 1 and (et.name == "char" or et.int_encoding & INT_CHAR):
            text = data.split(b"\0", 1)[0]
            if all(0x20 <= b < 0x7F or b in b"\t\n" for b in text):
                return text.decode("ascii")
        size = self.btf.size(elem) if count else 0
        return [self.value(elem, data[i * size:(i + 1) * size], depth + 1) for i in range(count)]

    def member(self, type_id: int, bit_offset: int, bits: int, data: bytes, depth: int) -> Any:
        t = self.btf.resolve(type_id)
        if bits == 0 and t.kind == Kind.INT and 0 < t.int_bits < t.size * 8:
            bits = t.int_bits  # legacy bitfield encoded in the INT itself
            bit_offset += t.int_offset
        if bits:
            value = (int.from_bytes(data, "little") >> bit_offset) & ((1 << bits) - 1)
            if t.signed and value >> (bits - 1):
                value -= 1 << bits
            return _enum(t, value) if t.kind in (Kind.ENUM, Kind.ENUM64) else value
        start = bit_offset // 8
        return self.value(type_id, data[start:start + self.btf.size(type_id)], depth + 1)


def _int(data: bytes, signed: bool) -> int:
    return int.from_bytes(data, "little", signed=signed)


def _enum(t, value: int) -> int | str:
    mask = (1 << (8 * t.size)) - 1 if t.size else 0
    for v in t.values:
        if v.value == value or (v.value & mask) == (value & mask):
            return v.name
    return value
