"""Annotated disassembly of an object's programs (maps, global variables, helpers,
called functions, source lines from BTF), of an assembly file or a conformance file:
what `bpftime disasm` prints and `bpftime.api.disassemble` returns."""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bpftime.elf.model import BpfObject, Program

_RELOC_WORDS = {"map": "map", "map_value": "data", "call": "call", "func": "func",
                "kfunc": "kfunc", "extern_var": "extern"}


def _global_name(obj: "BpfObject", map_name: str, offset: int) -> str:
    """`map+off` plus the variable it falls in, when BTF names one."""
    for var in obj.globals:
        if var.map == map_name and var.offset <= offset < var.offset + max(var.size, 1):
            inner = offset - var.offset
            return f"{var.name}{f'+{inner}' if inner else ''} ({map_name})"
    return f"{map_name}+{offset}" if offset else map_name


def annotate_program(obj: "BpfObject", prog: "Program", show_source: bool = True) -> str:
    """One program's disassembly with relocation, helper and source-line comments."""
    from bpftime.disasm import disassemble, helper_notes

    notes = helper_notes(prog.insns)
    for rel in prog.relocs:
        name = _global_name(obj, rel.name, rel.offset) if rel.kind == "map_value" else rel.name
        notes[rel.insn] = f"{_RELOC_WORDS.get(rel.kind, rel.kind)} {name}"
    names = {insn: name for name, insn in prog.subprograms}
    names.update({fi.insn: fi.name for fi in prog.func_info})
    headers: dict[int, list[str]] = {}
    if show_source:
        last = None
        for li in sorted(prog.line_info, key=lambda li: li.insn):
            if li.source.strip() and (li.file, li.line) != last:
                headers.setdefault(li.insn, []).append(
                    f"{Path(li.file).name}:{li.line}: {li.source.strip()}")
                last = (li.file, li.line)
    title = (f"# program {prog.name}: section {prog.section}, "
             f"{len(prog.insns)} instructions\n")
    return title + disassemble(prog.insns, notes=notes, headers=headers, names=names,
                               show_pc=True)


def disassembly(program: Path, prog: str | None = None, show_source: bool = True) -> str:
    """The listing of an object's programs (or only `prog`), or of an assembly/.data file."""
    from bpftime.runner import ELF_MAGIC, load_runnable

    try:
        is_elf = program.open("rb").read(4) == ELF_MAGIC
    except OSError:
        is_elf = False  # load_runnable reports the file
    if is_elf:
        from bpftime.elf import load_object

        obj = load_object(program)
        progs = [obj.program(prog)] if prog else obj.programs
        return "\n".join(annotate_program(obj, p, show_source) for p in progs)
    from bpftime.disasm import disassemble, helper_notes

    runnable = load_runnable(program, prog)
    notes = helper_notes(runnable.insns) if runnable.kind == "asm" else None
    return disassemble(runnable.insns, notes=notes)
