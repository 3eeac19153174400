"""Queries over parsed BTF: types by id and name, modifier chains, sizes, members,
and printable C-like names."""
from __future__ import annotations

from dataclasses import replace
from typing import Callable, Iterator

from bpftime.btf.types import MODIFIERS, BtfType, Kind, Member
from bpftime.errors import LoadError

_MAX_CHAIN = 64  # longest modifier / array chain we follow before calling it a loop


class Btf:
    """The types of one .BTF section; `types[id]`, with id 0 = void."""

    def __init__(self, types: list[BtfType], strings: bytes, name_at: Callable[[int, int], str]):
        self.types = types
        self.strings = strings
        self._name_at = name_at
        self._by_name: dict[str, list[int]] = {}
        for t in types[1:]:
            if t.name:
                self._by_name.setdefault(t.name, []).append(t.id)

    def __len__(self) -> int:
        return len(self.types)

    def __iter__(self) -> Iterator[BtfType]:
        return iter(self.types[1:])

    def string(self, offset: int) -> str:
        """The string at `offset` of the string section (used by .BTF.ext)."""
        return self._name_at(offset, 0)

    def type(self, type_id: int) -> BtfType:
        """The type with this id; LoadError if there is none."""
        if not 0 <= type_id < len(self.types):
            raise LoadError(f".BTF: no type with id {type_id} (there are {len(self.types) - 1})")
        return self.types[type_id]

    def find(self, name: str, kind: Kind | None = None) -> BtfType | None:
        """The first type named `name` (of `kind`, if given)."""
        for tid in self._by_name.get(name, ()):
            if kind is None or self.types[tid].kind == kind:
                return self.types[tid]
        return None

    def resolve(self, type_id: int) -> BtfType:
        """Follow typedef/const/volatile/restrict/type_tag to the underlying type."""
        t = self.type(type_id)
        for _ in range(_MAX_CHAIN):
            if t.kind not in MODIFIERS:
                return t
            t = self.type(t.type)
        raise LoadError(f".BTF: type {type_id}: modifier chain is too long or loops")

    def size(self, type_id: int) -> int:
        """Size in bytes of an object of this type; LoadError for void, functions, FWD."""
        t = self.resolve(type_id)
        count = 1
        for _ in range(_MAX_CHAIN):
            if t.kind == Kind.ARRAY:
                count *= t.nelems
                t = self.resolve(t.elem_type)
                continue
            if t.kind == Kind.PTR:
                return count * 8
            if t.kind == Kind.VAR:
                t = self.resolve(t.type)
                continue
            if t.kind in (Kind.INT, Kind.STRUCT, Kind.UNION, Kind.ENUM, Kind.ENUM64,
                          Kind.FLOAT, Kind.DATASEC):
                return count * t.size
            raise LoadError(f".BTF: type {type_id} ({self.name_of(type_id)}) has no size")
        raise LoadError(f".BTF: type {type_id}: array chain is too long or loops")

    def set_datasec(self, type_id: int, size: int, offsets: dict[str, int]) -> None:
        """Fill in a DATASEC's size and its variables' offsets, which clang leaves to
        the loader (the ELF section size and symbol values)."""
        t = self.type(type_id)
        infos = []
        for info in t.secinfos:
            offset = offsets.get(self.type(info.type).name, info.offset)
            if offset + info.size > size:
                raise LoadError(f".BTF: DATASEC {t.name}: variable '{self.type(info.type).name}' at "
                                f"{offset} (+{info.size}) lies outside its {size} bytes")
            infos.append(replace(info, offset=offset))
        self.types[type_id] = replace(t, size=size, secinfos=tuple(infos))

    def members(self, type_id: int) -> tuple[Member, ...]:
        """Members (with bit offsets) of the struct or union `type_id` resolves to."""
        t = self.resolve(type_id)
        if t.kind not in (Kind.STRUCT, Kind.UNION):
            raise LoadError(f".BTF: type {type_id} ({self.name_of(type_id)}) is not a struct or union")
        return t.members

    def name_of(self, type_id: int) -> str:
        """A C-like spelling of the type: `struct event`, `const char *`, `u32 [16]`."""
        return self._declare(type_id, "", 0).strip()

    def _declare(self, type_id: int, inner: str, depth: int) -> str:
        """C declarator of `inner` having type `type_id` (bounded recursion)."""
        if depth > _MAX_CHAIN:
            return "..." + inner
        t = self.type(type_id)
        k = t.kind
        if k == Kind.VOID:
            return "void" + _sep(inner)
        if k in (Kind.INT, Kind.FLOAT, Kind.TYPEDEF):
            return (t.name or "?") + _sep(inner)
        if k in (Kind.STRUCT, Kind.UNION, Kind.ENUM, Kind.ENUM64, Kind.FWD):
            tag = {Kind.STRUCT: "struct", Kind.UNION: "union", Kind.FWD: "union" if t.kind_flag else "struct"}
            word = tag.get(k, "enum")
            return f"{word} {t.name or '{...}'}" + _sep(inner)
        if k == Kind.PTR:
            pointee = self.type(t.type).kind
            wrapped = f"(*{inner})" if pointee in (Kind.ARRAY, Kind.FUNC_PROTO) else "*" + inner
            return self._declare(t.type, wrapped, depth + 1)
        if k in (Kind.CONST, Kind.VOLATILE, Kind.RESTRICT):
            word = k.name.lower()
            if self.type(t.type).kind == Kind.PTR:
                return self._declare(t.type, f"{word} {inner}".rstrip(), depth + 1)
            return f"{word} " + self._declare(t.type, inner, depth + 1)
        if k == Kind.TYPE_TAG:
            return self._declare(t.type, f'__attribute__((btf_type_tag("{t.name}"))) {inner}', depth + 1)
        if k == Kind.ARRAY:
            return self._declare(t.elem_type, f"{inner}[{t.nelems}]", depth + 1)
        if k == Kind.FUNC_PROTO:
            params = ", ".join(self._declare(p.type, "", depth + 1).strip() if p.type else "..."
                               for p in t.params) or "void"
            return self._declare(t.type, f"{inner}({params})", depth + 1)
        if k == Kind.FUNC:
            return self._declare(t.type, t.name, depth + 1)
        if k == Kind.VAR:
            return self._declare(t.type, t.name, depth + 1)
        if k == Kind.DATASEC:
            return f"SEC(\"{t.name}\")"
        return f'__attribute__((btf_decl_tag("{t.name}")))' + _sep(inner)  # DECL_TAG


def _sep(inner: str) -> str:
    return " " + inner if inner else ""
