"""`load_object`: an eBPF ELF object (clang -target bpf, libbpf conventions) to a
`BpfObject` of self-contained programs, maps, externs and BTF."""
from __future__ import annotations

import struct
from pathlib import Path

from bpftime.btf import Btf, BtfExt, Kind, parse_btf, parse_btf_ext
from bpftime.elf.externs import collect_externs
from bpftime.elf.link import Linker
from bpftime.elf.maps import collect_maps
from bpftime.elf.model import BpfObject
from bpftime.elf.reader import ElfImage, read_elf
from bpftime.errors import LoadError


def load_object(path: str | Path) -> BpfObject:
    """Load an object file. Anything malformed raises LoadError naming the file and
    the section (and instruction) at fault."""
    path = str(path)
    try:
        image = read_elf(path)
        btf, ext = _btf(image)
        maps = collect_maps(image, btf)
        externs = collect_externs(image, btf)
        programs = Linker(image, maps, externs, btf, ext).programs()
    except LoadError as err:
        if err.message.startswith(path + ":"):
            raise
        raise LoadError(f"{path}: {err.message}") from None
    return BpfObject(path, programs, maps.maps, externs, btf, _license(image), maps.globals,
                     _kern_version(image))


def _btf(image: ElfImage) -> tuple[Btf | None, BtfExt | None]:
    sec = image.section(".BTF")
    ext_sec = image.section(".BTF.ext")
    if sec is None:
        if ext_sec is not None:
            raise image.error("section .BTF.ext", "present without a .BTF section")
        return None, None
    btf = parse_btf(sec.data, f"{image.path}: section .BTF")
    _fix_datasecs(image, btf)
    ext = parse_btf_ext(ext_sec.data, btf, f"{image.path}: section .BTF.ext") if ext_sec is not None else None
    return btf, ext


def _fix_datasecs(image: ElfImage, btf: Btf) -> None:
    """Sizes and variable offsets of DATASECs come from the ELF, as libbpf does it."""
    for t in list(btf):
        if t.kind != Kind.DATASEC:
            continue
        sec = image.section(t.name)
        if sec is None:
            continue  # .ksyms / .kconfig have no ELF section
        offsets = {s.name: s.value for s in image.symbols
                   if s.shndx == sec.index and s.type == "STT_OBJECT" and s.name}
        btf.set_datasec(t.id, sec.size, offsets)


def _license(image: ElfImage) -> str:
    sec = image.section("license")
    if sec is None:
        return ""
    return sec.data.split(b"\0", 1)[0].decode("utf-8", errors="replace")


def _kern_version(image: ElfImage) -> int:
    sec = image.section("version")
    if sec is None:
        return 0
    if len(sec.data) != 4:
        raise image.error("section version", f"expected 4 bytes, found {len(sec.data)}")
    return struct.unpack("<I", sec.data)[0]
