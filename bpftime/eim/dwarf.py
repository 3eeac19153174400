"""Types and prototypes from the host's DWARF (pyelftools): struct layouts for `ptr<T>`
and field paths, and function signatures to compare with the spec's prototypes."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from bpftime.eim.model import FieldLayout, TypeLayout
from bpftime.errors import LoadError

_TRANSPARENT = {"DW_TAG_typedef", "DW_TAG_const_type", "DW_TAG_volatile_type",
                "DW_TAG_restrict_type", "DW_TAG_atomic_type"}
_NAMED = {"DW_TAG_typedef", "DW_TAG_structure_type", "DW_TAG_union_type",
          "DW_TAG_base_type", "DW_TAG_enumeration_type"}
_SIGNED_ENC = {0x05, 0x06, 0x0d}   # DW_ATE_signed, signed_char, signed_fixed
_FLOAT_ENC = {0x03, 0x04}          # DW_ATE_complex_float, float
_CHAR_ENC = {0x06, 0x08}           # DW_ATE_signed_char, unsigned_char
_DW_OP_PLUS_UCONST = 0x23


@dataclass(frozen=True)
class CType:
    """A C type reduced to what an EIM prototype can say about it.
    kind: int | float | ptr | void | aggregate; `names` are the pointee's spellings
    (typedef names and struct tags along its typedef chain)."""

    kind: str
    size: int
    signed: bool = False
    spelled: str = ""
    names: frozenset[str] = frozenset()
    pointee_char: bool = False


@dataclass(frozen=True)
class CFunction:
    name: str
    params: tuple[tuple[str, CType], ...]
    ret: CType
    variadic: bool


def _name(die) -> str | None:
    attr = die.attributes.get("DW_AT_name")
    return attr.value.decode(errors="replace") if attr else None


def _target(die):
    return die.get_DIE_from_attribute("DW_AT_type") if "DW_AT_type" in die.attributes else None


def _strip(die):
    """Follow typedefs and qualifiers; returns (die or None for void, names seen)."""
    names: list[str] = []
    while die is not None and die.tag in _TRANSPARENT:
        if die.tag == "DW_TAG_typedef" and _name(die):
            names.append(_name(die))
        die = _target(die)
    if die is not None and _name(die):
        names.append(_name(die))
    return die, names


def _spell(die) -> str:
    if die is None:
        return "void"
    name = _name(die)
    if die.tag == "DW_TAG_pointer_type":
        return _spell(_target(die)) + " *"
    if die.tag in ("DW_TAG_const_type", "DW_TAG_volatile_type"):
        return _spell(_target(die))
    prefix = {"DW_TAG_structure_type": "struct ", "DW_TAG_union_type": "union ",
              "DW_TAG_enumeration_type": "enum "}.get(die.tag, "")
    return prefix + (name or "<anonymous>")


def _size(die) -> int | None:
    """Bytes of a type, None for void/incomplete/functions."""
    die, _ = _strip(die)
    if die is None:
        return None
    if die.tag == "DW_TAG_array_type":
        elem = _size(_target(die))
        if elem is None:
            return None
        total = elem
        for sub in die.iter_children():
            if sub.tag != "DW_TAG_subrange_type":
                continue
            if "DW_AT_count" in sub.attributes:
                total *= sub.attributes["DW_AT_count"].value
            elif "DW_AT_upper_bound" in sub.attributes:
                total *= sub.attributes["DW_AT_upper_bound"].value + 1
            else:
                return None
        return total
    if die.tag == "DW_TAG_pointer_type":
        return die.attributes["DW_AT_byte_size"].value if "DW_AT_byte_size" in die.attributes else 8
    if "DW_AT_declaration" in die.attributes or "DW_AT_byte_size" not in die.attributes:
        return None
    return die.attributes["DW_AT_byte_size"].value


def describe(die) -> CType:
    """The CType of a DW_AT_type target (None means void)."""
    spelled = _spell(die)
    base, _ = _strip(die)
    if base is None:
        return CType("void", 0, spelled=spelled)
    if base.tag == "DW_TAG_pointer_type":
        pointee, names = _strip(_target(base))
        char = pointee is not None and pointee.tag == "DW_TAG_base_type" and \
            pointee.attributes.get("DW_AT_encoding") is not None and \
            pointee.attributes["DW_AT_encoding"].value in _CHAR_ENC
        return CType("ptr", 8, spelled=spelled, names=frozenset(names), pointee_char=char)
    if base.tag == "DW_TAG_base_type":
        enc = base.attributes["DW_AT_encoding"].value if "DW_AT_encoding" in base.attributes else 0
        kind = "float" if enc in _FLOAT_ENC else "int"
        return CType(kind, _size(base) or 0, enc in _SIGNED_ENC, spelled)
    if base.tag == "DW_TAG_enumeration_type":
        under = _target(base)
        signed = describe(under).signed if under is not None else False
        return CType("int", _size(base) or 4, signed, spelled)
    return CType("aggregate", _size(base) or 0, spelled=spelled)


def _member_offset(member) -> int:
    attr = member.attributes.get("DW_AT_data_member_location")
    if attr is None:
        return 0                        # union members
    if isinstance(attr.value, int):
        return attr.value
    expr = list(attr.value)
    if expr and expr[0] == _DW_OP_PLUS_UCONST:
        value, shift = 0, 0
        for byte in expr[1:]:
            value |= (byte & 0x7F) << shift
            shift += 7
            if not byte & 0x80:
                break
        return value
    raise ValueError("unsupported DW_AT_data_member_location expression")


class HostDwarf:
    """An index of a host's DWARF: named types and defined functions."""

    def __init__(self, path: Path):
        self.path = path
        self.types: dict[str, object] = {}
        self.functions: dict[str, object] = {}
        self._layouts: dict[int, TypeLayout] = {}
        self._load()

    def _load(self) -> None:
        from elftools.common.exceptions import ELFError
        from elftools.elf.elffile import ELFFile

        self._file = None
        try:
            self._file = open(self.path, "rb")
            elf = ELFFile(self._file)
            if not elf.has_dwarf_info():
                return
            dwarf = elf.get_dwarf_info()
            for cu in dwarf.iter_CUs():
                for die in cu.get_top_DIE().iter_children():
                    name = _name(die)
                    if name is None or "DW_AT_declaration" in die.attributes:
                        continue
                    if die.tag == "DW_TAG_subprogram":
                        if name not in self.functions or "DW_AT_low_pc" in die.attributes:
                            self.functions[name] = die
                    elif die.tag in _NAMED and name not in self.types:
                        self.types[name] = die
        except (ELFError, OSError, ValueError, KeyError) as err:
            self.close()
            raise LoadError(f"{self.path}: cannot read DWARF: {err}") from None

    def function(self, name: str) -> CFunction | None:
        die = self.functions.get(name)
        if die is None:
            return None
        params: list[tuple[str, CType]] = []
        variadic = False
        for child in die.iter_children():
            if child.tag == "DW_TAG_formal_parameter":
                params.append((_name(child) or f"arg{len(params)}", describe(_target(child))))
            elif child.tag == "DW_TAG_unspecified_parameters":
                variadic = True
        return CFunction(name, tuple(params), describe(_target(die)), variadic)

    def layout(self, name: str) -> TypeLayout | None:
        """Size and fields of the type named `name` (typedef, struct/union tag or base type)."""
        die = self.types.get(name)
        if die is None:
            return None
        return self._layout(name, die)

    def _layout(self, name: str, die) -> TypeLayout | None:
        size = _size(die)
        if size is None:
            return None
        base, _ = _strip(die)
        key = base.offset
        if key in self._layouts:
            cached = self._layouts[key]
            return TypeLayout(name, cached.size, cached.fields, cached.origin)
        fields: dict[str, FieldLayout] = {}
        if base.tag in ("DW_TAG_structure_type", "DW_TAG_union_type"):
            for member in base.iter_children():
                if member.tag != "DW_TAG_member":
                    continue
                mtype = _target(member)
                msize = _size(mtype) or 0
                inner_base, inner_names = _strip(mtype)
                inner = None
                if inner_base is not None and inner_base.tag in ("DW_TAG_structure_type",
                                                                 "DW_TAG_union_type"):
                    spelled = inner_names[0] if inner_names else f"{name}.{_name(member)}"
                    inner = self._layout(spelled, mtype)
                try:
                    offset = _member_offset(member)
                except ValueError as err:
                    raise LoadError(f"{self.path}: DWARF of {name}.{_name(member)}: {err}") from None
                bitfield = "DW_AT_bit_size" in member.attributes
                mname = _name(member)
                if mname is None and inner is not None:
                    # anonymous struct/union: its fields are reached directly
                    for sub in inner.fields.values():
                        fields[sub.name] = FieldLayout(sub.name, offset + sub.offset, sub.size,
                                                       sub.layout, sub.bitfield)
                elif mname is not None:
                    fields[mname] = FieldLayout(mname, offset, msize, inner, bitfield)
        layout = TypeLayout(name, size, fields, f"DWARF of {self.path}")
        self._layouts[key] = layout
        return layout

    def __enter__(self) -> "HostDwarf":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
