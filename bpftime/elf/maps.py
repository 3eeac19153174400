"""Maps of an object: BTF-defined (`.maps`), legacy (`maps`, struct bpf_map_def) and
global data sections (single-entry ARRAY maps, named as libbpf names them)."""
from __future__ import annotations

import re
import struct
from dataclasses import dataclass, field
from pathlib import Path

from bpftime.btf import Btf, Kind
from bpftime.elf.model import GlobalVar, MapDef
from bpftime.elf.reader import SHT_NOBITS, ElfImage, Section
from bpftime.kernel_abi import BPF_F_MMAPABLE, BPF_F_RDONLY_PROG, MapType

R_BPF_64_ABS64 = 2
R_BPF_64_ABS32 = 3
_OBJ_NAME_LEN = 16  # BPF_OBJ_NAME_LEN, with the NUL
MAX_GLOBAL_DATA = 64 << 20  # bytes of one global data section we are willing to hold
_UINT_FIELDS = ("type", "max_entries", "map_flags", "key_size", "value_size",
                "numa_node", "map_extra", "pinning")


@dataclass
class MapTable:
    """The maps, and how relocations find them: by (section, symbol offset) for
    map sections, by section for global data."""

    maps: list[MapDef] = field(default_factory=list)
    by_symbol: dict[tuple[int, int], int] = field(default_factory=dict)
    by_data_section: dict[int, int] = field(default_factory=dict)
    globals: list[GlobalVar] = field(default_factory=list)

    def add(self, m: MapDef) -> int:
        self.maps.append(m)
        return len(self.maps) - 1


def is_data_section(sec: Section) -> bool:
    n = sec.name
    return n in (".data", ".rodata", ".bss") or n.startswith((".data.", ".rodata."))


def collect_maps(image: ElfImage, btf: Btf | None) -> MapTable:
    table = MapTable()
    legacy = image.section("maps")
    if legacy is not None:
        _legacy_maps(image, legacy, table)
    btf_maps = image.section(".maps")
    if btf_maps is not None:
        _btf_maps(image, btf_maps, btf, table)
    obj_name = Path(image.path).name.split(".", 1)[0]
    for sec in image.sections:
        if is_data_section(sec) and not sec.executable and sec.size:
            _data_map(image, sec, btf, obj_name, table)
    return table


def internal_map_name(obj_name: str, section: str) -> str:
    """libbpf's name of the map of a global data section: up to 8 characters of the
    object's name and the section name (`globals.rodata`), or just the section name
    for custom sections (`.data.custom`), cut to 15 characters."""
    sfx_len = max(7, len(section))
    pfx_len = 0 if "." in section[1:] else min(_OBJ_NAME_LEN - sfx_len - 1, len(obj_name))
    name = (obj_name[:max(pfx_len, 0)] + section)[:_OBJ_NAME_LEN - 1]
    return re.sub(r"[^A-Za-z0-9_.]", "_", name)


def _legacy_maps(image: ElfImage, sec: Section, table: MapTable) -> None:
    syms = sorted((s for s in image.symbols if s.shndx == sec.index and s.type != "STT_SECTION"),
                  key=lambda s: s.value)
    if not syms:
        raise image.error(f"section {sec.name}", "section has data but no map symbols")
    def_size = sec.size // len(syms)
    if def_size < 16 or sec.size % len(syms):
        raise image.error(f"section {sec.name}", f"{sec.size} bytes do not divide into {len(syms)} struct bpf_map_def")
    for s in syms:
        if s.value % def_size or s.value + def_size > sec.size:
            raise image.error(f"section {sec.name}", f"map '{s.name}' at offset {s.value} is not a whole bpf_map_def")
        raw = (sec.data[s.value:s.value + min(def_size, 20)] if sec.type != SHT_NOBITS else b"").ljust(20, b"\0")
        mtype, key, value, entries, flags = struct.unpack("<5I", raw)
        idx = table.add(MapDef(s.name, _map_type(image, f"section {sec.name}", s.name, mtype), key, value,
                               entries, flags, section=sec.name))
        table.by_symbol[(sec.index, s.value)] = idx


def _btf_maps(image: ElfImage, sec: Section, btf: Btf | None, table: MapTable) -> None:
    if btf is None:
        raise image.error(f"section {sec.name}", "BTF-defined maps need a .BTF section")
    datasec = btf.find(".maps", Kind.DATASEC)
    if datasec is None:
        raise image.error("section .BTF", "no DATASEC '.maps' describing the .maps section")
    for info in datasec.secinfos:
        var = btf.type(info.type)
        if var.kind != Kind.VAR:
            raise image.error("section .BTF", f"DATASEC .maps entry {var.id} is {var.kind.name}, not VAR")
        where = f"section {sec.name}: map '{var.name}'"
        m = _btf_map_def(image, btf, var.name, var.type, where, 0)
        idx = table.add(m)
        table.by_symbol[(sec.index, info.offset)] = idx
    _inner_map_slots(image, sec, btf, datasec, table)


def _btf_map_def(image: ElfImage, btf: Btf, name: str, type_id: int, where: str, depth: int) -> MapDef:
    st = btf.resolve(type_id)
    if st.kind != Kind.STRUCT:
        raise image.error(where, f"definition is {btf.name_of(type_id)}, not a struct")
    vals: dict[str, int] = {}
    key_id = value_id = 0
    inner = None
    for mem in st.members:
        if mem.name in _UINT_FIELDS:
            vals[mem.name] = _uint(image, btf, mem.type, f"{where}: {mem.name}")
        elif mem.name in ("key", "value"):
            ptr = btf.resolve(mem.type)
            if ptr.kind != Kind.PTR:
                raise image.error(where, f"'{mem.name}' must be declared with __type()")
            size = btf.size(ptr.type)
            field_name = mem.name + "_size"
            if field_name in vals and vals[field_name] != size:
                raise image.error(where, f"{field_name} {vals[field_name]} disagrees with the size "
                                  f"{size} of {btf.name_of(ptr.type)}")
            vals[field_name] = size
            if mem.name == "key":
                key_id = ptr.type
            else:
                value_id = ptr.type
        elif mem.name == "values":
            if depth:
                raise image.error(where, "an inner map cannot hold maps itself")
            arr = btf.resolve(mem.type)
            ptr = btf.resolve(arr.elem_type) if arr.kind == Kind.ARRAY else arr
            if arr.kind != Kind.ARRAY or ptr.kind != Kind.PTR:
                raise image.error(where, "'values' must be declared with __array()")
            if btf.resolve(ptr.type).kind != Kind.FUNC_PROTO:  # programs of a prog array have no def
                inner = _btf_map_def(image, btf, f"{name}.inner", ptr.type, f"{where}: values", depth + 1)
                inner.section = ""
            vals.setdefault("value_size", 4)
        else:
            raise image.error(where, f"unknown map attribute '{mem.name}'")
    if "type" not in vals:
        raise image.error(where, "no map type")
    return MapDef(name, _map_type(image, where, name, vals["type"]), vals.get("key_size", 0),
                  vals.get("value_size", 0), vals.get("max_entries", 0), vals.get("map_flags", 0),
                  inner, key_id, value_id, pinning=vals.get("pinning", 0),
                  numa_node=vals.get("numa_node", 0), map_extra=vals.get("map_extra", 0))


def _uint(image: ElfImage, btf: Btf, type_id: int, where: str) -> int:
    ptr = btf.resolve(type_id)
    arr = btf.resolve(ptr.type) if ptr.kind == Kind.PTR else ptr
    if ptr.kind != Kind.PTR or arr.kind != Kind.ARRAY:
        raise image.error(where, "must be declared with __uint()")
    return arr.nelems


def _map_type(image: ElfImage, where: str, name: str, number: int) -> MapType:
    try:
        return MapType(number)
    except ValueError:
        raise image.error(where, f"map '{name}' has unknown map type {number}") from None


def _inner_map_slots(image: ElfImage, sec: Section, btf: Btf, datasec, table: MapTable) -> None:
    """`.values = { [i] = &inner }` of map-in-map and prog-array definitions: ABS64
    relocations in .maps."""
    for r in image.relocs.get(sec.index, []):
        sym = image.symbols[r.symbol]
        where = f"section {image.rel_names[sec.index]}: relocation at {r.offset:#x}"
        if r.type != R_BPF_64_ABS64:
            raise image.error(where, f"unexpected relocation type {r.type} in .maps")
        target = table.by_symbol.get((sym.shndx, sym.value))
        if target is not None:
            slot_value = table.maps[target].name
        elif sym.type == "STT_FUNC":
            slot_value = sym.name  # a program, in a prog array
        else:
            raise image.error(where, f"symbol '{sym.name}' is neither a map nor a program")
        for info in datasec.secinfos:
            if info.offset <= r.offset < info.offset + info.size:
                outer = table.maps[table.by_symbol[(sec.index, info.offset)]]
                values = [m for m in btf.resolve(btf.type(info.type).type).members if m.name == "values"]
                start = info.offset + (values[0].bit_offset // 8 if values else info.size)
                if r.offset < start or (r.offset - start) % 8:
                    raise image.error(where, f"does not initialise a slot of map '{outer.name}'")
                outer.inner_init[(r.offset - start) // 8] = slot_value
                break
        else:
            raise image.error(where, "lies outside every map definition")


def _data_map(image: ElfImage, sec: Section, btf: Btf | None, obj_name: str, table: MapTable) -> None:
    if sec.size > MAX_GLOBAL_DATA:
        raise image.error(f"section {sec.name}", f"global data of {sec.size} bytes is larger than "
                          f"the {MAX_GLOBAL_DATA} bytes supported")
    readonly = sec.name.startswith(".rodata")
    datasec = btf.find(sec.name, Kind.DATASEC) if btf is not None else None
    name = internal_map_name(obj_name, sec.name)
    initial = bytes(sec.size) if sec.nobits else sec.data
    m = MapDef(name, MapType.ARRAY, 4, sec.size, 1,
               BPF_F_MMAPABLE | (BPF_F_RDONLY_PROG if readonly else 0),
               value_type_id=datasec.id if datasec else 0, section=sec.name, initial=initial)
    for r in image.relocs.get(sec.index, []):
        width = {R_BPF_64_ABS64: 8, R_BPF_64_ABS32: 4}.get(r.type)
        if width is None or r.offset + width > sec.size:
            raise image.error(f"section {image.rel_names[sec.index]}",
                              f"relocation at {r.offset:#x}: unsupported type {r.type} or out of range")
        m.data_relocs[r.offset] = image.label(image.symbols[r.symbol])
    table.by_data_section[sec.index] = table.add(m)
    if datasec is not None:
        for info in datasec.secinfos:
            var = btf.type(info.type)
            if var.kind == Kind.VAR:
                table.globals.append(GlobalVar(var.name, name, sec.name, info.offset, info.size, var.type))
