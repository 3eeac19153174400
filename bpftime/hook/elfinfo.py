"""What entry resolution needs from one ELF file: functions, code bytes, needed libraries.

pyelftools is imported when a file is opened, never at import time.
"""
from __future__ import annotations

import bisect
import os
from dataclasses import dataclass, field
from functools import lru_cache

from bpftime.errors import LoadError

SHF_EXECINSTR = 0x4
IFUNC = ("STT_GNU_IFUNC", "STT_LOOS")  # pyelftools names type 10 STT_LOOS


@dataclass(frozen=True)
class FuncSymbol:
    """A function symbol: name (None for an anonymous address), address and st_size."""

    name: str | None
    vaddr: int
    size: int


@dataclass
class _Section:
    vaddr: int
    offset: int
    size: int
    data: bytes


@dataclass
class ElfInfo:
    """The parts of an x86-64 ELF file the hook stage uses, read once."""

    path: str
    pie: bool
    needed: list[str]
    rpath: list[str]
    runpath: list[str]
    first_load_vaddr: int
    first_load_offset: int
    sections: list[_Section]
    functions: dict[str, FuncSymbol]
    ifuncs: set[str]
    starts: list[int] = field(default_factory=list)  # sorted start addresses of all symbols

    def function(self, name: str) -> FuncSymbol | None:
        if name in self.ifuncs and name not in self.functions:
            raise LoadError(f"{self.path}: {name} is an IFUNC resolved at run time; "
                            "name the implementation it selects instead")
        return self.functions.get(name)

    def _section(self, vaddr: int) -> _Section | None:
        for sec in self.sections:
            if sec.vaddr <= vaddr < sec.vaddr + sec.size:
                return sec
        return None

    def file_offset(self, vaddr: int) -> int | None:
        """File offset of an address in an executable section (None elsewhere)."""
        sec = self._section(vaddr)
        return None if sec is None else sec.offset + vaddr - sec.vaddr

    def read(self, vaddr: int, size: int) -> bytes:
        """Bytes at vaddr, clipped to the executable section holding it."""
        sec = self._section(vaddr)
        if sec is None:
            return b""
        start = vaddr - sec.vaddr
        return sec.data[start:start + size]

    def containing(self, vaddr: int) -> FuncSymbol | None:
        """The sized function symbol whose body holds vaddr."""
        best = None
        for sym in self.functions.values():
            if sym.vaddr <= vaddr < sym.vaddr + sym.size:
                if best is None or sym.vaddr > best.vaddr:
                    best = sym
        return best

    def padding_limit(self, end: int) -> int:
        """Where the bytes after a function that ends at `end` stop being free: the next
        symbol or the end of the section."""
        sec = self._section(end - 1) if end else None
        limit = sec.vaddr + sec.size if sec else end
        i = bisect.bisect_left(self.starts, end)
        if i < len(self.starts):
            limit = min(limit, self.starts[i])
        return max(limit, end)


def _hidden_versions(elf, symtab) -> set[int]:
    """Indexes of .dynsym symbols that are not their name's default version (name@V,
    not name@@V): nothing links to them any more."""
    versym = elf.get_section_by_name(".gnu.version")
    if symtab.name != ".dynsym" or versym is None:
        return set()
    ndx = (v.entry["ndx"] for v in versym.iter_symbols())
    return {i for i, n in enumerate(ndx) if isinstance(n, int) and n & 0x8000}


@lru_cache(maxsize=32)
def _open_cached(path: str, mtime_ns: int) -> ElfInfo:
    from elftools.common.exceptions import ELFError
    from elftools.elf.dynamic import DynamicSection
    from elftools.elf.elffile import ELFFile
    from elftools.elf.sections import SymbolTableSection

    try:
        with open(path, "rb") as f:
            elf = ELFFile(f)
            if elf["e_machine"] != "EM_X86_64":
                raise LoadError(f"{path}: not an x86-64 ELF file ({elf['e_machine']})")
            loads = [s for s in elf.iter_segments() if s["p_type"] == "PT_LOAD"]
            if not loads:
                raise LoadError(f"{path}: has no loadable segments")
            needed: list[str] = []
            rpath: list[str] = []
            runpath: list[str] = []
            sections: list[_Section] = []
            functions: dict[str, FuncSymbol] = {}
            ifuncs: set[str] = set()
            starts: set[int] = set()
            for sec in elf.iter_sections():
                if isinstance(sec, DynamicSection):
                    for tag in sec.iter_tags():
                        if tag.entry.d_tag == "DT_NEEDED":
                            needed.append(tag.needed)
                        elif tag.entry.d_tag == "DT_RPATH":
                            rpath += tag.rpath.split(":")
                        elif tag.entry.d_tag == "DT_RUNPATH":
                            runpath += tag.runpath.split(":")
                elif isinstance(sec, SymbolTableSection):
                    hidden = _hidden_versions(elf, sec)
                    for index, sym in enumerate(sec.iter_symbols()):
                        kind = sym["st_info"]["type"]
                        if sym["st_shndx"] == "SHN_UNDEF" or kind not in ("STT_FUNC", *IFUNC):
                            continue
                        starts.add(sym["st_value"])
                        if index in hidden:
                            continue  # e.g. memcpy@GLIBC_2.2.5: programs link memcpy@@GLIBC_2.14
                        if kind in IFUNC:
                            ifuncs.add(sym.name)
                        elif sym.name and sym.name not in functions:
                            functions[sym.name] = FuncSymbol(sym.name, sym["st_value"], sym["st_size"])
                elif sec["sh_flags"] & SHF_EXECINSTR and sec["sh_type"] == "SHT_PROGBITS":
                    sections.append(_Section(sec["sh_addr"], sec["sh_offset"], sec["sh_size"], sec.data()))
            return ElfInfo(path=path, pie=elf["e_type"] == "ET_DYN", needed=needed, rpath=rpath,
                           runpath=runpath, first_load_vaddr=loads[0]["p_vaddr"] & ~0xFFF,
                           first_load_offset=loads[0]["p_offset"] & ~0xFFF, sections=sections,
                           functions=functions, ifuncs=ifuncs,
                           starts=sorted(starts))
    except ELFError as err:
        raise LoadError(f"{path}: not an ELF file ({err})") from None


def open_elf(path: str) -> ElfInfo:
    """Read an ELF file's functions and code; LoadError if missing or not an ELF."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise LoadError(f"{path}: no such file") from None
    except PermissionError:
        raise LoadError(f"{path}: permission denied") from None
    if not os.path.isfile(path):
        raise LoadError(f"{path}: not a regular file")
    return _open_cached(path, st.st_mtime_ns)
