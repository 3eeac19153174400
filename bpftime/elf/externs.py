"""Extern symbols of an object (kfuncs / EIM host functions, typed ksyms, kconfig),
with their kind and BTF types."""
from __future__ import annotations

from bpftime.btf import Btf, Kind
from bpftime.elf.model import Extern
from bpftime.elf.reader import SHN_UNDEF, ElfImage
from bpftime.isa import OPCODE_CALL, OPCODE_LDDW


def collect_externs(image: ElfImage, btf: Btf | None) -> list[Extern]:
    """Every undefined global symbol, in symbol table order. The kind comes from BTF
    (FUNC or a VAR of .ksyms/.kconfig), else from how the code uses the symbol."""
    btf_vars = _btf_extern_vars(btf)
    usage = _usage(image)
    out = []
    for sym in image.symbols:
        if sym.shndx != SHN_UNDEF or not sym.name or sym.bind not in ("STB_GLOBAL", "STB_WEAK"):
            continue
        weak = sym.bind == "STB_WEAK"
        func = btf.find(sym.name, Kind.FUNC) if btf is not None else None
        if func is not None:
            out.append(Extern(sym.name, "func", func.id, func.type, ".ksyms", weak))
        elif sym.name in btf_vars:
            var_id, section = btf_vars[sym.name]
            out.append(Extern(sym.name, "var", var_id, btf.type(var_id).type, section, weak))
        else:
            kind = {"STT_FUNC": "func", "STT_OBJECT": "var"}.get(sym.type) or usage.get(sym.index, "var")
            out.append(Extern(sym.name, kind, weak=weak))
    return out


def _btf_extern_vars(btf: Btf | None) -> dict[str, tuple[int, str]]:
    out: dict[str, tuple[int, str]] = {}
    if btf is None:
        return out
    for t in btf:
        if t.kind == Kind.DATASEC and t.name in (".ksyms", ".kconfig"):
            for info in t.secinfos:
                var = btf.type(info.type)
                if var.kind == Kind.VAR:
                    out[var.name] = (var.id, t.name)
    return out


def _usage(image: ElfImage) -> dict[int, str]:
    """Symbol index -> 'func' or 'var', from the instruction each code relocation hits."""
    out: dict[int, str] = {}
    for index, relocs in image.relocs.items():
        sec = image.sections[index]
        if not sec.executable:
            continue
        for r in relocs:
            opcode = sec.data[r.offset] if r.offset < len(sec.data) else None
            if opcode == OPCODE_CALL:
                out.setdefault(r.symbol, "func")
            elif opcode == OPCODE_LDDW:
                out.setdefault(r.symbol, "var")
    return out
