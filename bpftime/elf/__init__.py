"""The object loader: eBPF ELF objects to self-contained programs, maps and externs."""
from bpftime.elf.attach import AttachPoint, parse_attach
from bpftime.elf.loader import load_object
from bpftime.elf.maps import internal_map_name
from bpftime.elf.model import (RELOC_CALL, RELOC_EXTERN_VAR, RELOC_FUNC, RELOC_KFUNC, RELOC_MAP,
                               RELOC_MAP_VALUE, BpfObject, Extern, FuncInfo, GlobalVar, LineInfo,
                               MapDef, Program, Reloc)

__all__ = ["AttachPoint", "BpfObject", "Extern", "FuncInfo", "GlobalVar", "LineInfo", "MapDef",
           "Program", "RELOC_CALL", "RELOC_EXTERN_VAR", "RELOC_FUNC", "RELOC_KFUNC", "RELOC_MAP",
           "RELOC_MAP_VALUE", "Reloc", "internal_map_name", "load_object", "parse_attach"]
