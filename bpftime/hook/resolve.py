"""Entry resolution: where an extension entry lives in a host's files on disk.

An entry is named `FUNC`, `FUNC+OFF`, `0xADDR`, or any of these after `LIB:` where LIB
is a library name (`libc.so.6`), a path, or a prefix of a needed library's name
(`libc`). Names resolve in the host executable first, then in its DT_NEEDED libraries
(found with the dynamic linker's search order), or, for a live process, in the files
its /proc/PID/maps shows (libraries loaded after start, ASLR).
"""
from __future__ import annotations

import difflib
import os
import re
import subprocess
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from bpftime.errors import LoadError
from bpftime.hook.elfinfo import ElfInfo, FuncSymbol, open_elf

DEFAULT_LIB_DIRS = ("/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/lib64", "/usr/lib64",
                    "/lib", "/usr/lib", "/usr/local/lib")
_SPEC = re.compile(r"^(?:(?P<lib>.+):)?(?P<what>[^:+]+)(?:\+(?P<off>(?:0x)?[0-9a-fA-F]+))?$")


@dataclass(frozen=True)
class Entry:
    """A resolved entry: enough to plan a patch without touching the host."""

    module: str            # path of the ELF file holding the entry
    symbol: str | None     # containing function, None for a bare address outside symbols
    vaddr: int             # link-time virtual address of the entry
    file_offset: int       # its offset in the file
    func_vaddr: int        # start of the containing function (== vaddr unless +OFF)
    func_size: int         # the function's st_size (0 when unknown)
    body: bytes            # the function's bytes on disk, from func_vaddr
    after: bytes           # bytes after the function up to the next symbol/section end
    pie: bool              # ET_DYN: runtime address = load bias + vaddr
    load_bias: int | None = None  # known only when resolved against a live process

    @property
    def offset_in_func(self) -> int:
        return self.vaddr - self.func_vaddr

    @property
    def address(self) -> int | None:
        """Runtime address, when the module's load bias is known (live process)."""
        if self.load_bias is None:
            return None
        return self.load_bias + self.vaddr


def _parse_int(text: str) -> int:
    return int(text, 16) if text.lower().startswith("0x") else int(text, 10)


def _is_address(text: str) -> bool:
    return bool(re.fullmatch(r"0x[0-9a-fA-F]+", text))


@cache
def _ld_cache() -> dict[str, str]:
    """soname -> path from `ldconfig -p` (x86-64 entries only); empty if unavailable."""
    try:
        out = subprocess.run(["ldconfig", "-p"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return {}
    found: dict[str, str] = {}
    for line in out.splitlines():
        m = re.match(r"\s*(\S+) \(([^)]*)\) => (\S+)", line)
        if m and "x86-64" in m.group(2):
            found.setdefault(m.group(1), m.group(3))
    return found


def find_library(name: str, host: ElfInfo | None) -> str | None:
    """Where the dynamic linker would find library `name` for `host` (None if nowhere)."""
    if "/" in name:
        return name if os.path.exists(name) else None
    dirs: list[str] = []
    origin = os.path.dirname(os.path.realpath(host.path)) if host else ""
    if host and host.rpath and not host.runpath:
        dirs += [d.replace("$ORIGIN", origin) for d in host.rpath]
    dirs += [d for d in os.environ.get("LD_LIBRARY_PATH", "").split(":") if d]
    if host and host.runpath:
        dirs += [d.replace("$ORIGIN", origin) for d in host.runpath]
    for d in dirs:
        candidate = os.path.join(d, name)
        if os.path.exists(candidate):
            return candidate
    if name in _ld_cache():
        return _ld_cache()[name]
    for d in DEFAULT_LIB_DIRS:
        candidate = os.path.join(d, name)
        if os.path.exists(candidate):
            return candidate
    return None


@dataclass(frozen=True)
class Mapping:
    """One file mapped into a live process."""

    path: str
    start: int
    offset: int


def process_modules(pid: int) -> list[Mapping]:
    """The first mapping (lowest address) of every file in /proc/PID/maps."""
    try:
        lines = Path(f"/proc/{pid}/maps").read_text().splitlines()
    except FileNotFoundError:
        raise LoadError(f"process {pid}: no such process") from None
    except PermissionError:
        raise LoadError(f"process {pid}: may not read /proc/{pid}/maps (needs the same user or root)") from None
    seen: dict[str, Mapping] = {}
    for line in lines:
        parts = line.split(None, 5)
        if len(parts) < 6 or not parts[5].startswith("/"):
            continue
        path = parts[5].removesuffix(" (deleted)")
        start = int(parts[0].split("-")[0], 16)
        if path not in seen or start < seen[path].start:
            seen[path] = Mapping(path, start, int(parts[2], 16))
    return list(seen.values())


def _looks_like_elf(path: str) -> bool:
    """Mapped files include locale archives, fonts, shared memory: only ELF files count."""
    try:
        with open(path, "rb") as f:
            return f.read(4) == b"\x7fELF"
    except OSError:
        return False


def _load_bias(mapping: Mapping, elf: ElfInfo) -> int:
    """Bias = where the file's lowest PT_LOAD landed minus its page-aligned vaddr."""
    return mapping.start - mapping.offset - (elf.first_load_vaddr - elf.first_load_offset)


def _match_library(lib: str, candidates: list[str]) -> str | None:
    """The candidate path a LIB token names: exact path, basename, or name prefix."""
    for path in candidates:
        if path == lib or os.path.realpath(path) == os.path.realpath(lib):
            return path
    for path in candidates:
        if os.path.basename(path) == lib:
            return path
    for path in candidates:
        if os.path.basename(path).startswith((lib + ".", lib + "-")):
            return path
    return None


def _hint(name: str, modules: list[str]) -> str:
    """The address form when the first module searched (the host, or the library
    named) has no function symbols at all; otherwise close function names of
    `modules` from their dynamic and static symbols."""
    elfs = [open_elf(p) for p in modules]
    if not elfs[0].functions:
        module = os.path.basename(elfs[0].path)
        return f" ({module} has no function symbols: name an address, {module}:0xADDR)"
    close = difflib.get_close_matches(name, {f for elf in elfs for f in elf.functions}, n=3)
    return f" (did you mean {', '.join(close)}?)" if close else ""


class Resolver:
    """Resolves entry names against one host: its file on disk, or a live process."""

    def __init__(self, host: str | os.PathLike[str] | None = None, pid: int | None = None):
        if host is None and pid is None:
            raise ValueError("Resolver needs a host path or a pid")
        self.pid = pid
        self.maps: list[Mapping] = process_modules(pid) if pid is not None else []
        if host is None:
            host = os.readlink(f"/proc/{pid}/exe").removesuffix(" (deleted)")
        self.host = open_elf(str(host))

    def module_paths(self) -> list[str]:
        """The host, then every library it needs (or, live, every file it has mapped)."""
        if self.maps:
            paths = [m.path for m in self.maps if _looks_like_elf(m.path)]
            host = os.path.realpath(self.host.path)
            return sorted(paths, key=lambda p: os.path.realpath(p) != host)
        found = [self.host.path]
        for name in self.host.needed:
            path = find_library(name, self.host)
            if path:
                found.append(path)
        return found

    def _library(self, lib: str) -> str:
        path = _match_library(lib, self.module_paths())
        if path is None and not self.maps:
            path = find_library(lib, self.host)
        if path is None:
            raise LoadError(f"{self.host.path}: library {lib!r} is not loaded by the host and not found")
        return path

    def resolve(self, spec: str) -> Entry:
        """Resolve `[LIB:](FUNC[+OFF] | 0xADDR)`; LoadError naming what is missing."""
        m = _SPEC.match(spec.strip())
        if not m:
            raise LoadError(f"entry {spec!r}: expected [LIB:]FUNC[+OFF] or [LIB:]0xADDR")
        lib, what, off = m.group("lib"), m.group("what"), m.group("off")
        offset = _parse_int(off) if off else 0
        modules = [self._library(lib)] if lib else self.module_paths()
        if _is_address(what):
            return self._at_address(modules[0], _parse_int(what) + offset)
        for path in modules:
            elf = self.host if path == self.host.path else open_elf(path)
            sym = elf.function(what)
            if sym is not None:
                return self._entry(elf, sym, sym.vaddr + offset)
        where = lib or os.path.basename(self.host.path) + " and its libraries"
        raise LoadError(f"entry {spec!r}: no function {what!r} in {where}{_hint(what, modules)}")

    def _at_address(self, path: str, vaddr: int) -> Entry:
        elf = self.host if path == self.host.path else open_elf(path)
        sym = elf.containing(vaddr)
        if sym is None:
            if elf.file_offset(vaddr) is None:
                raise LoadError(f"{path}: address {vaddr:#x} is not in an executable section")
            sym = FuncSymbol(None, vaddr, 0)
        return self._entry(elf, sym, vaddr)

    def _entry(self, elf: ElfInfo, sym: FuncSymbol, vaddr: int) -> Entry:
        if sym.size and not sym.vaddr <= vaddr < sym.vaddr + sym.size:
            raise LoadError(f"{elf.path}: offset {vaddr - sym.vaddr:#x} is beyond {sym.name} "
                            f"({sym.size} bytes)")
        file_offset = elf.file_offset(vaddr)
        if file_offset is None:
            raise LoadError(f"{elf.path}: {sym.name or hex(vaddr)} is not in an executable section")
        end = sym.vaddr + sym.size
        body = elf.read(sym.vaddr, sym.size) if sym.size else elf.read(vaddr, 16)
        after = elf.read(end, elf.padding_limit(end) - end) if sym.size else b""
        bias = None
        if self.maps:
            mapping = next((m for m in self.maps
                            if os.path.realpath(m.path) == os.path.realpath(elf.path)), None)
            if mapping is not None:
                bias = _load_bias(mapping, elf)
        return Entry(module=os.path.realpath(elf.path), symbol=sym.name, vaddr=vaddr,
                     file_offset=file_offset, func_vaddr=sym.vaddr if sym.size else vaddr,
                     func_size=sym.size, body=body, after=after, pie=elf.pie, load_bias=bias)


def resolve_entry(host: str | os.PathLike[str] | None, spec: str, pid: int | None = None) -> Entry:
    """One-shot `Resolver(host, pid).resolve(spec)`."""
    return Resolver(host, pid).resolve(spec)
