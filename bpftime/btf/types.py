"""BTF type records, one dataclass for every kind (fields unused by a kind stay at
their defaults). Type id 0 is `void`."""
from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum


class Kind(IntEnum):
    """BTF_KIND_* (linux/btf.h)."""

    VOID = 0
    INT = 1
    PTR = 2
    ARRAY = 3
    STRUCT = 4
    UNION = 5
    ENUM = 6
    FWD = 7
    TYPEDEF = 8
    VOLATILE = 9
    CONST = 10
    RESTRICT = 11
    FUNC = 12
    FUNC_PROTO = 13
    VAR = 14
    DATASEC = 15
    FLOAT = 16
    DECL_TAG = 17
    TYPE_TAG = 18
    ENUM64 = 19


# Kinds that only qualify or rename another type.
MODIFIERS = frozenset({Kind.TYPEDEF, Kind.VOLATILE, Kind.CONST, Kind.RESTRICT, Kind.TYPE_TAG})

# BTF_INT_* encoding bits.
INT_SIGNED = 1
INT_CHAR = 2
INT_BOOL = 4


class Linkage(IntEnum):
    """Linkage of a FUNC (btf_func_linkage) or VAR (btf_var_linkage)."""

    STATIC = 0
    GLOBAL = 1
    EXTERN = 2


@dataclass(frozen=True)
class Member:
    """A struct/union member. `bit_offset` counts from the start of the aggregate;
    `bitfield_size` is 0 unless the member is a bitfield."""

    name: str
    type: int
    bit_offset: int
    bitfield_size: int = 0


@dataclass(frozen=True)
class EnumValue:
    name: str
    value: int


@dataclass(frozen=True)
class Param:
    """A FUNC_PROTO parameter; type 0 with an empty name is the `...` of a variadic."""

    name: str
    type: int


@dataclass(frozen=True)
class SecInfo:
    """A variable (or extern function) placed in a DATASEC."""

    type: int
    offset: int
    size: int


@dataclass(frozen=True, slots=True)
class BtfType:
    """One BTF type. `size` is meaningful for INT, STRUCT, UNION, ENUM, ENUM64, FLOAT
    and DATASEC; `type` is the referenced type of PTR, TYPEDEF, the qualifiers, FUNC
    (its FUNC_PROTO), FUNC_PROTO (its return type), VAR and DECL_TAG."""

    id: int
    kind: Kind
    name: str = ""
    size: int = 0
    type: int = 0
    kind_flag: bool = False
    int_encoding: int = 0
    int_offset: int = 0
    int_bits: int = 0
    elem_type: int = 0
    index_type: int = 0
    nelems: int = 0
    members: tuple[Member, ...] = ()
    values: tuple[EnumValue, ...] = ()
    params: tuple[Param, ...] = ()
    linkage: int = 0
    secinfos: tuple[SecInfo, ...] = ()
    component_idx: int = -1
    offset: int = field(default=0, compare=False)  # byte offset of the record in the type section

    @property
    def signed(self) -> bool:
        """INT with the signed bit, or an ENUM/ENUM64 whose kind_flag marks it signed."""
        if self.kind == Kind.INT:
            return bool(self.int_encoding & INT_SIGNED)
        return self.kind in (Kind.ENUM, Kind.ENUM64) and self.kind_flag

    def referenced(self) -> tuple[int, ...]:
        """Every type id this record refers to (for validation)."""
        if self.kind in (Kind.PTR, Kind.FUNC, Kind.VAR, Kind.DECL_TAG) or self.kind in MODIFIERS:
            return (self.type,)
        if self.kind == Kind.ARRAY:
            return (self.elem_type, self.index_type)
        if self.kind in (Kind.STRUCT, Kind.UNION):
            return tuple(m.type for m in self.members)
        if self.kind == Kind.FUNC_PROTO:
            return (self.type, *(p.type for p in self.params))
        if self.kind == Kind.DATASEC:
            return tuple(s.type for s in self.secinfos)
        return ()
