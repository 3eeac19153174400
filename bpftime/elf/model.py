"""What the loader produces: an object's programs, maps, externs and BTF."""
from __future__ import annotations

from dataclasses import dataclass, field

from bpftime.btf import Btf, CoreRelo, LineInfo
from bpftime.elf.attach import AttachPoint
from bpftime.errors import LoadError
from bpftime.isa import Insn
from bpftime.kernel_abi import MapType

# Kinds of Reloc.kind
RELOC_MAP = "map"              # lddw of a map (Pseudo.MAP_IDX)
RELOC_MAP_VALUE = "map_value"  # lddw of global data (Pseudo.MAP_IDX_VALUE)
RELOC_CALL = "call"            # bpf-to-bpf call
RELOC_FUNC = "func"            # address of a subprogram (Pseudo.FUNC)
RELOC_KFUNC = "kfunc"          # call of an extern function (CallKind.KFUNC)
RELOC_EXTERN_VAR = "extern_var"  # lddw of an extern variable or kfunc address (Pseudo.BTF_ID)


@dataclass(frozen=True)
class Reloc:
    """A relocated instruction, for annotation. `insn` indexes Program.insns; `name`
    is the map, subprogram or extern; `offset` the byte offset into global data."""

    insn: int
    kind: str
    name: str
    offset: int = 0


@dataclass(frozen=True)
class FuncInfo:
    insn: int
    name: str
    type_id: int   # BTF FUNC


@dataclass
class MapDef:
    """A map as declared. Global data sections are single-entry ARRAY maps whose
    `initial` holds the section's bytes (zeros for .bss)."""

    name: str
    type: MapType
    key_size: int
    value_size: int
    max_entries: int
    flags: int = 0
    inner: MapDef | None = None
    key_type_id: int = 0
    value_type_id: int = 0
    section: str = ".maps"
    initial: bytes | None = None
    pinning: int = 0
    numa_node: int = 0
    map_extra: int = 0
    inner_init: dict[int, str] = field(default_factory=dict)  # slot -> map (map-in-map) or program (prog array)
    data_relocs: dict[int, str] = field(default_factory=dict)  # global data: offset -> symbol

    @property
    def is_global_data(self) -> bool:
        return self.initial is not None

    @property
    def type_name(self) -> str:
        return str(self.type) if isinstance(self.type, MapType) else f"type#{int(self.type)}"

    def to_json(self) -> dict:
        out = {"name": self.name, "type": self.type_name, "key_size": self.key_size,
               "value_size": self.value_size, "max_entries": self.max_entries, "flags": self.flags,
               "section": self.section}
        if self.inner is not None:
            out["inner"] = self.inner.to_json()
        if self.inner_init:
            out["inner_init"] = {str(k): v for k, v in sorted(self.inner_init.items())}
        return out


@dataclass(frozen=True)
class GlobalVar:
    """A variable of a global data section (from its BTF DATASEC)."""

    name: str
    map: str        # the global-data map holding it
    section: str
    offset: int
    size: int
    type_id: int


@dataclass(frozen=True)
class Extern:
    """An undefined symbol the program uses: `func` (kfunc / host function, called)
    or `var` (typed ksym / kconfig). `btf_id` is its FUNC or VAR record, `type_id`
    the FUNC_PROTO or the variable's type (0 without BTF); `section` is .ksyms or
    .kconfig when BTF says so."""

    name: str
    kind: str
    btf_id: int = 0
    type_id: int = 0
    section: str = ""
    weak: bool = False


@dataclass
class Program:
    """An entry program, self-contained (see docs/internals.md)."""

    name: str
    section: str
    attach: AttachPoint
    insns: list[Insn]
    relocs: list[Reloc] = field(default_factory=list)
    func_info: list[FuncInfo] = field(default_factory=list)
    line_info: list[LineInfo] = field(default_factory=list)
    core_relos: list[CoreRelo] = field(default_factory=list)
    subprograms: list[tuple[str, int]] = field(default_factory=list)  # (name, first insn) appended


@dataclass
class BpfObject:
    path: str
    programs: list[Program]
    maps: list[MapDef]
    externs: list[Extern]
    btf: Btf | None
    license: str
    globals: list[GlobalVar] = field(default_factory=list)
    kern_version: int = 0

    def program(self, name: str) -> Program:
        """The program named `name` (or, failing that, the first in section `name`)."""
        for p in self.programs:
            if p.name == name:
                return p
        for p in self.programs:
            if p.section == name:
                return p
        known = ", ".join(p.name for p in self.programs) or "none"
        raise LoadError(f"{self.path}: no program named '{name}' (programs: {known})")

    def map(self, name: str) -> MapDef:
        for m in self.maps:
            if m.name == name:
                return m
        raise LoadError(f"{self.path}: no map named '{name}'")

    def map_index(self, name: str) -> int:
        return self.maps.index(self.map(name))

    @property
    def global_data(self) -> list[MapDef]:
        return [m for m in self.maps if m.is_global_data]
