"""The ELF layer of the loader: checks an eBPF relocatable object's headers and
returns its sections, symbols and relocations as plain data (read with pyelftools;
every offset is checked against the file first, so a damaged file gives a
LoadError, not an exception from deep inside the parser)."""
from __future__ import annotations

import io
import struct
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from elftools.common.exceptions import ELFError, ELFParseError
from elftools.construct import ConstructError
from elftools.elf.elffile import ELFFile

from bpftime.errors import LoadError

EM_BPF = 247
SHT_NOBITS = 8
SHT_SYMTAB = 2
SHT_REL = 9
SHF_EXECINSTR = 0x4
SHN_UNDEF = 0
SHN_LORESERVE = 0xFF00
SHN_ABS = 0xFFF1
SHN_COMMON = 0xFFF2
_SHN_NAMES = {"SHN_UNDEF": SHN_UNDEF, "SHN_ABS": SHN_ABS, "SHN_COMMON": SHN_COMMON}
_SH_ENTSIZE = 64
_SYM_SIZE = 24
_REL_SIZE = 16
_UNUSED_RELOC_TARGETS = (".debug", ".BTF", ".eh_frame")


@dataclass(frozen=True)
class Section:
    index: int
    name: str
    type: int          # SHT_*
    flags: int
    data: bytes        # zeros are not materialised for SHT_NOBITS: use `size`
    size: int
    link: int
    info: int

    @property
    def executable(self) -> bool:
        return bool(self.flags & SHF_EXECINSTR)

    @property
    def nobits(self) -> bool:
        return self.type == SHT_NOBITS


@dataclass(frozen=True)
class Symbol:
    index: int
    name: str
    value: int
    size: int
    type: str          # STT_FUNC, STT_OBJECT, STT_SECTION, STT_NOTYPE, …
    bind: str          # STB_GLOBAL, STB_LOCAL, STB_WEAK
    shndx: int         # section index, or SHN_UNDEF / SHN_ABS / SHN_COMMON


@dataclass(frozen=True)
class ElfReloc:
    offset: int        # byte offset in the target section
    symbol: int        # index into ElfImage.symbols
    type: int          # R_BPF_*


@dataclass
class ElfImage:
    path: str
    sections: list[Section]
    symbols: list[Symbol]
    relocs: dict[int, list[ElfReloc]] = field(default_factory=dict)  # by target section
    rel_names: dict[int, str] = field(default_factory=dict)          # target -> .rel section name

    def section(self, name: str) -> Section | None:
        for s in self.sections:
            if s.name == name:
                return s
        return None

    def label(self, sym: Symbol) -> str:
        """The symbol's name, or for a section symbol its section's name."""
        if sym.name or not 0 < sym.shndx < len(self.sections):
            return sym.name
        return self.sections[sym.shndx].name

    def error(self, where: str, message: str) -> LoadError:
        return LoadError(f"{self.path}: {where}: {message}")


@contextmanager
def _pyelftools(path: str, what: str) -> Iterator[None]:
    """Turn the parser's own exceptions into a LoadError naming the file."""
    try:
        yield
    except (ELFError, ELFParseError, ConstructError, struct.error, ValueError, EOFError,
            OverflowError) as err:
        text = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise LoadError(f"{path}: {what}: {text}") from None


def read_elf(path: str | Path) -> ElfImage:
    """Read and check an eBPF ELF object (64-bit, little-endian, EM_BPF)."""
    path = str(path)
    try:
        raw = Path(path).read_bytes()
    except OSError as err:
        raise LoadError(f"{path}: cannot read: {err.strerror or err}") from None
    _check_ident(path, raw)
    with _pyelftools(path, "ELF header"):
        elf = ELFFile(io.BytesIO(raw))
        machine, e_type = elf["e_machine"], elf["e_type"]
        shoff, shnum, shentsize, shstrndx = (elf["e_shoff"], elf["e_shnum"],
                                             elf["e_shentsize"], elf["e_shstrndx"])
    if machine not in ("EM_BPF", EM_BPF):
        raise LoadError(f"{path}: ELF header: machine is {machine}, not EM_BPF (an eBPF object is built with clang -target bpf)")
    if e_type != "ET_REL":
        raise LoadError(f"{path}: ELF header: type is {e_type}, expected a relocatable object (ET_REL)")
    if shentsize != _SH_ENTSIZE or shnum == 0:
        raise LoadError(f"{path}: ELF header: bad section header table (entry size {shentsize}, {shnum} entries)")
    if shoff + shnum * shentsize > len(raw):
        raise LoadError(f"{path}: ELF header: section header table at {shoff:#x} runs past the end of the file ({len(raw)} bytes)")
    if not 0 < shstrndx < shnum:
        raise LoadError(f"{path}: ELF header: section name table index {shstrndx} is out of range")
    headers = []
    for i in range(shnum):
        with _pyelftools(path, f"section header {i}"):
            headers.append(elf.get_section(i).header)
    for i, h in enumerate(headers):
        if h["sh_type"] != "SHT_NOBITS" and h["sh_offset"] + h["sh_size"] > len(raw):
            raise LoadError(f"{path}: section {i}: data at {h['sh_offset']:#x} (+{h['sh_size']}) "
                            f"runs past the end of the file ({len(raw)} bytes)")
    names = _data(raw, headers[shstrndx])
    sections = []
    for i, h in enumerate(headers):
        name = _cstring(names, h["sh_name"], path, f"section {i}", "name")
        sections.append(Section(i, name, _type_no(h["sh_type"]), h["sh_flags"],
                                _data(raw, h), h["sh_size"], h["sh_link"], h["sh_info"]))
    image = ElfImage(path, sections, [])
    image.symbols = _read_symbols(elf, image, raw)
    _read_relocs(elf, image)
    return image


def _check_ident(path: str, raw: bytes) -> None:
    if len(raw) < 64:
        raise LoadError(f"{path}: ELF header: file of {len(raw)} bytes is too short to be an ELF object")
    if raw[:4] != b"\x7fELF":
        raise LoadError(f"{path}: ELF header: not an ELF file (bad magic)")
    if raw[4] != 2:
        raise LoadError(f"{path}: ELF header: class {raw[4]} is not ELFCLASS64 (eBPF objects are 64-bit)")
    if raw[5] != 1:
        raise LoadError(f"{path}: ELF header: data encoding {raw[5]} is not little-endian "
                        "(big-endian eBPF objects are not supported)")


def _type_no(sh_type) -> int:
    if isinstance(sh_type, int):
        return sh_type
    return {"SHT_NULL": 0, "SHT_PROGBITS": 1, "SHT_SYMTAB": 2, "SHT_STRTAB": 3, "SHT_RELA": 4,
            "SHT_HASH": 5, "SHT_DYNAMIC": 6, "SHT_NOTE": 7, "SHT_NOBITS": 8, "SHT_REL": 9,
            "SHT_DYNSYM": 11}.get(sh_type, 0x7FFFFFFF)


def _data(raw: bytes, h) -> bytes:
    if h["sh_type"] == "SHT_NOBITS":
        return b""
    return raw[h["sh_offset"]:h["sh_offset"] + h["sh_size"]]


def _cstring(table: bytes, off: int, path: str, where: str, what: str) -> str:
    if off >= len(table):
        if off == 0:
            return ""
        raise LoadError(f"{path}: {where}: {what} offset {off} is outside its string table")
    end = table.find(b"\0", off)
    if end < 0:
        raise LoadError(f"{path}: {where}: {what} at {off} is not NUL-terminated")
    return table[off:end].decode("utf-8", errors="replace")


def _read_symbols(elf: ELFFile, image: ElfImage, raw: bytes) -> list[Symbol]:
    tables = [s for s in image.sections if s.type == SHT_SYMTAB]
    if len(tables) != 1:
        raise image.error("symbol table", f"expected one SHT_SYMTAB section, found {len(tables)}")
    tab = tables[0]
    if tab.size % _SYM_SIZE:
        raise image.error(f"section {tab.name}", f"size {tab.size} is not a multiple of the symbol size {_SYM_SIZE}")
    if not 0 < tab.link < len(image.sections):
        raise image.error(f"section {tab.name}", f"string table index {tab.link} is out of range")
    strtab = image.sections[tab.link].data
    symbols = []
    with _pyelftools(image.path, tab.name):
        section = elf.get_section(tab.index)
        for i, sym in enumerate(section.iter_symbols()):
            e = sym.entry
            shndx = e["st_shndx"]
            shndx = _SHN_NAMES.get(shndx, SHN_LORESERVE) if isinstance(shndx, str) else shndx
            if shndx >= len(image.sections) and shndx < SHN_LORESERVE:
                raise image.error(f"section {tab.name}", f"symbol {i} refers to section {shndx}, which does not exist")
            name = _cstring(strtab, e["st_name"], image.path, f"{tab.name} symbol {i}", "name")
            symbols.append(Symbol(i, name, e["st_value"], e["st_size"], e["st_info"]["type"],
                                  e["st_info"]["bind"], shndx))
    return symbols


def _read_relocs(elf: ELFFile, image: ElfImage) -> None:
    for sec in image.sections:
        if sec.type != SHT_REL:
            continue
        if sec.size % _REL_SIZE:
            raise image.error(f"section {sec.name}", f"size {sec.size} is not a multiple of the relocation size {_REL_SIZE}")
        if not 0 < sec.info < len(image.sections):
            raise image.error(f"section {sec.name}", f"target section {sec.info} is out of range")
        target = image.sections[sec.info]
        if target.name.startswith(_UNUSED_RELOC_TARGETS):
            continue  # debug info: the loader never reads it
        entries = []
        for i in range(sec.size // _REL_SIZE):
            r_offset, r_info = struct.unpack_from("<QQ", sec.data, i * _REL_SIZE)
            sym, rtype = r_info >> 32, r_info & 0xFFFFFFFF
            if sym >= len(image.symbols) or sym == 0:
                raise image.error(f"section {sec.name}", f"relocation {i} refers to symbol {sym}, which does not exist "
                                  f"(the symbol table has {len(image.symbols)})")
            if r_offset >= target.size:
                raise image.error(f"section {sec.name}", f"relocation {i} at offset {r_offset:#x} lies outside "
                                  f"section {target.name} ({target.size} bytes)")
            entries.append(ElfReloc(r_offset, sym, rtype))
        image.relocs.setdefault(sec.info, []).extend(entries)
        image.rel_names[sec.info] = sec.name
