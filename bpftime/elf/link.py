"""Turn the code sections of an object into self-contained programs
(docs/internals.md): entry function first, then every reached subprogram in
libbpf's order, with calls, map references, global data and externs rewritten."""
from __future__ import annotations

from dataclasses import dataclass, replace

from bpftime.btf import Btf, BtfExt
from bpftime.elf.attach import AttachPoint, parse_attach
from bpftime.elf.maps import MapTable
from bpftime.elf.model import (RELOC_CALL, RELOC_EXTERN_VAR, RELOC_FUNC, RELOC_KFUNC, RELOC_MAP,
                               RELOC_MAP_VALUE, Extern, FuncInfo, Program, Reloc)
from bpftime.elf.reader import SHN_UNDEF, ElfImage, ElfReloc, Section
from bpftime.errors import DecodeError
from bpftime.isa import OPCODE_CALL, CallKind, Insn, Pseudo, decode, s32, validate_program

R_BPF_64_64 = 1
R_BPF_64_32 = 10


@dataclass(frozen=True)
class Function:
    """A function symbol in a code section: slots [start, start + count)."""

    name: str
    section: int
    start: int
    count: int


class CodeSection:
    """A decoded code section with its functions and relocations by slot."""

    def __init__(self, image: ElfImage, sec: Section):
        self.sec = sec
        if sec.nobits or sec.size % 8:
            raise image.error(f"section {sec.name}", f"code size {sec.size} is not a multiple of 8")
        try:
            self.insns = decode(sec.data)
        except DecodeError as err:
            raise image.error(f"section {sec.name}", str(err)) from None
        self.relocs: dict[int, ElfReloc] = {}
        for r in image.relocs.get(sec.index, []):
            if r.offset % 8:
                raise image.error(f"section {sec.name}", f"relocation at offset {r.offset:#x} is not on an instruction")
            self.relocs[r.offset // 8] = r
        for i, insn in enumerate(self.insns):
            if insn.is_lddw and i + 1 in self.relocs:
                raise image.error(f"section {sec.name}", f"relocation at offset {(i + 1) * 8:#x} points into the second half of a lddw")
        self.functions: dict[int, Function] = {}
        for sym in image.symbols:
            if sym.shndx != sec.index or sym.type != "STT_FUNC":
                continue
            if sym.value % 8 or sym.size % 8 or sym.size == 0 or sym.value + sym.size > sec.size:
                raise image.error(f"section {sec.name}", f"function '{sym.name}' at {sym.value:#x} (+{sym.size}) "
                                  "is not a whole run of instructions in the section")
            f = Function(sym.name, sec.index, sym.value // 8, sym.size // 8)
            self.functions[f.start] = f
        ends = sorted((f.start, f.start + f.count, f.name) for f in self.functions.values())
        for (_, end, name), (start, _, other) in zip(ends, ends[1:]):
            if start < end:
                raise image.error(f"section {sec.name}", f"functions '{name}' and '{other}' overlap")


class Linker:
    def __init__(self, image: ElfImage, maps: MapTable, externs: list[Extern],
                 btf: Btf | None, ext: BtfExt | None):
        self.image, self.maps, self.externs, self.btf, self.ext = image, maps, externs, btf, ext
        self.extern_index = {e.name: i for i, e in enumerate(externs)}
        self.code = {s.index: CodeSection(image, s) for s in image.sections
                     if s.executable and s.size}

    def programs(self) -> list[Program]:
        out = []
        for code in self.code.values():
            if code.sec.name == ".text":
                continue
            if not code.functions:
                raise self.image.error(f"section {code.sec.name}", "code section without a function symbol")
            attach = parse_attach(code.sec.name, f"{self.image.path}: ")
            for f in sorted(code.functions.values(), key=lambda f: f.start):
                out.append(self._link(f, attach))
        return out

    def _link(self, entry: Function, attach: AttachPoint) -> Program:
        prog = Program(entry.name, self.image.sections[entry.section].name, attach, [])
        placed: dict[Function, int] = {}  # function -> its first slot here, in placement order

        def place(f: Function) -> None:
            placed[f] = len(prog.insns)
            code = self.code[f.section]
            prog.insns.extend(code.insns[f.start:f.start + f.count])
            if f is not entry:
                prog.subprograms.append((f.name, placed[f]))

        place(entry)
        stack = [(entry, 0)]
        while stack:  # depth-first, callees appended when first met (libbpf's order)
            f, pos = stack[-1]
            if pos >= f.count:
                stack.pop()
                continue
            base = placed[f]
            insn = prog.insns[base + pos]
            stack[-1] = (f, pos + insn.slots)
            callee = self._relocate(prog, f, pos, base + pos)
            if callee is None:
                continue
            if callee not in placed:
                place(callee)
                stack.append((callee, 0))
            self._fix_target(prog, base + pos, placed[callee], callee.name)
        self._debug_info(prog, placed)
        prog.relocs.sort(key=lambda r: r.insn)
        try:
            validate_program(prog.insns)
        except DecodeError as err:
            raise self.image.error(f"program {prog.name} (section {prog.section})", str(err)) from None
        return prog

    def _relocate(self, prog: Program, f: Function, pos: int, at: int) -> Function | None:
        """Rewrite the instruction at `at` (slot `pos` of `f`); return the function it
        calls or takes the address of, if any."""
        code = self.code[f.section]
        slot = f.start + pos
        insn = prog.insns[at]
        r = code.relocs.get(slot)
        where = f"section {code.sec.name}: instruction {slot}"
        if r is None:
            if insn.is_local_call:
                return self._function_at(code.sec.index, slot + 1 + insn.imm, where)
            if insn.is_lddw and insn.src != Pseudo.IMM64:
                raise self.image.error(where, f"lddw with pseudo source {insn.src} but no relocation")
            return None
        sym = self.image.symbols[r.symbol]
        name = self.image.label(sym)
        if r.type == R_BPF_64_32:
            if insn.opcode != OPCODE_CALL:
                raise self.image.error(where, f"R_BPF_64_32 relocation against '{name}' is not on a call")
            if sym.shndx == SHN_UNDEF:
                idx = self._extern(name, "func", where)
                prog.insns[at] = replace(insn, src=CallKind.KFUNC, imm=idx)
                prog.relocs.append(Reloc(at, RELOC_KFUNC, name))
                return None
            if sym.shndx not in self.code or insn.src != CallKind.LOCAL:
                raise self.image.error(where, f"call relocation against '{name}', which is not a function")
            if sym.value % 8:
                raise self.image.error(where, f"call target '{name}' is not instruction-aligned")
            return self._function_at(sym.shndx, sym.value // 8 + insn.imm + 1, where)
        if r.type != R_BPF_64_64:
            raise self.image.error(where, f"unsupported relocation type {r.type} against '{name}' in code")
        if not insn.is_lddw:
            raise self.image.error(where, f"R_BPF_64_64 relocation against '{name}' is not on a lddw")
        if sym.shndx == SHN_UNDEF:
            idx = self._extern(name, None, where)  # a variable, or a weak kfunc's address
            if insn.imm:
                raise self.image.error(where, f"extern variable '{name}' used with offset {insn.imm}")
            self._set_lddw(prog, at, Pseudo.BTF_ID, idx, 0)
            prog.relocs.append(Reloc(at, RELOC_EXTERN_VAR, name))
            return None
        if sym.shndx in self.code:
            if (sym.value + insn.imm) % 8:
                raise self.image.error(where, f"address of '{name}' is not instruction-aligned")
            return self._function_at(sym.shndx, (sym.value + insn.imm) // 8, where)
        map_idx = self.maps.by_symbol.get((sym.shndx, sym.value))
        if map_idx is not None:
            self._set_lddw(prog, at, Pseudo.MAP_IDX, map_idx, 0)
            prog.relocs.append(Reloc(at, RELOC_MAP, self.maps.maps[map_idx].name))
            return None
        data_idx = self.maps.by_data_section.get(sym.shndx)
        if data_idx is not None:
            offset = sym.value + insn.imm
            m = self.maps.maps[data_idx]
            if not 0 <= offset <= m.value_size:
                raise self.image.error(where, f"offset {offset} is outside global data {m.section} ({m.value_size} bytes)")
            self._set_lddw(prog, at, Pseudo.MAP_IDX_VALUE, data_idx, offset)
            prog.relocs.append(Reloc(at, RELOC_MAP_VALUE, m.name, offset))
            return None
        sec = self.image.sections[sym.shndx].name if sym.shndx < len(self.image.sections) else f"#{sym.shndx}"
        raise self.image.error(where, f"relocation against '{name}' in section {sec}, "
                               "which is not a map, global data or code")

    def _extern(self, name: str, kind: str | None, where: str) -> int:
        idx = self.extern_index.get(name)
        if idx is None:
            raise self.image.error(where, f"relocation against undefined symbol '{name}', which is not an extern")
        if kind is not None and self.externs[idx].kind != kind:
            raise self.image.error(where, f"extern '{name}' is a {self.externs[idx].kind} but is used as a {kind}")
        return idx

    def _function_at(self, section: int, slot: int, where: str) -> Function:
        f = self.code[section].functions.get(slot) if section in self.code else None
        if f is None:
            sec = self.image.sections[section].name
            raise self.image.error(where, f"call or address target {sec}+{slot * 8:#x} is not the start of a function")
        return f

    def _fix_target(self, prog: Program, at: int, target: int, name: str) -> None:
        insn = prog.insns[at]
        if insn.is_lddw:
            self._set_lddw(prog, at, Pseudo.FUNC, target - at - 1, 0)
            prog.relocs.append(Reloc(at, RELOC_FUNC, name))
        else:
            prog.insns[at] = replace(insn, src=CallKind.LOCAL, imm=target - at - 1)
            prog.relocs.append(Reloc(at, RELOC_CALL, name))

    @staticmethod
    def _set_lddw(prog: Program, at: int, src: int, imm: int, imm_hi: int) -> None:
        prog.insns[at] = replace(prog.insns[at], src=src, imm=s32(imm), imm_hi=s32(imm_hi))
        prog.insns[at + 1] = Insn(0, imm=s32(imm_hi))

    def _debug_info(self, prog: Program, placed: dict[Function, int]) -> None:
        """func_info, line_info and CO-RE records of every placed function, moved to
        their slots in the self-contained program."""
        if self.ext is None:
            return
        for f, base in placed.items():
            sec = self.image.sections[f.section].name
            for fi in self.ext.func_info.get(sec, []):
                if f.start <= fi.insn < f.start + f.count:
                    prog.func_info.append(FuncInfo(base + fi.insn - f.start, self.btf.type(fi.type_id).name,
                                                   fi.type_id))
            for records, out in ((self.ext.line_info, prog.line_info), (self.ext.core_relos, prog.core_relos)):
                out.extend(replace(r, insn=base + r.insn - f.start) for r in records.get(sec, [])
                           if f.start <= r.insn < f.start + f.count)
        prog.func_info.sort(key=lambda x: x.insn)
        prog.line_info.sort(key=lambda x: x.insn)
        prog.core_relos.sort(key=lambda x: x.insn)
