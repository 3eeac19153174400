"""The object loader: eBPF ELF objects (clang -target bpf, libbpf conventions) to
self-contained programs, maps, externs and BTF.

    obj = load_object("prog.bpf.o")          # BpfObject, or LoadError naming file+section
    prog = obj.program("handler")            # Program: insns, attach, relocs, line_info, …
    obj.maps[insn.imm]                       # lddw src=MAP_IDX / MAP_IDX_VALUE -> MapDef
    obj.externs[insn.imm]                    # call src=KFUNC / lddw src=BTF_ID -> Extern

Programs follow docs/internals.md. Maps come in libbpf's order: legacy `maps`, BTF
`.maps`, then one single-entry ARRAY per global data section in section order, named
as libbpf names it: up to 8 characters of the object file's name before its first
dot and the section name (`globals.data`, `globals.rodata`, `globals.bss`), or the
section name alone when it has a second dot (`.data.custom`, `.rodata.str1.1`), cut
to 15 characters. Their `initial` holds the section bytes (zeros for .bss); flags are
BPF_F_MMAPABLE, plus BPF_F_RDONLY_PROG for .rodata*. `__kconfig` externs are treated
like typed ksyms (lddw src=BTF_ID); whoever links the program supplies the value.
"""
from bpftime.elf.attach import AttachPoint, parse_attach
from bpftime.elf.loader import load_object
from bpftime.elf.maps import internal_map_name
from bpftime.elf.model import (RELOC_CALL, RELOC_EXTERN_VAR, RELOC_FUNC, RELOC_KFUNC, RELOC_MAP,
                               RELOC_MAP_VALUE, BpfObject, Extern, FuncInfo, GlobalVar, LineInfo,
                               MapDef, Program, Reloc)

__all__ = ["AttachPoint", "BpfObject", "Extern", "FuncInfo", "GlobalVar", "LineInfo", "MapDef",
           "Program", "RELOC_CALL", "RELOC_EXTERN_VAR", "RELOC_FUNC", "RELOC_KFUNC", "RELOC_MAP",
           "RELOC_MAP_VALUE", "Reloc", "internal_map_name", "load_object", "parse_attach"]
