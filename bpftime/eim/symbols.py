"""The host binary's symbols (functions and variables, with sizes), read with LIEF."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from bpftime.errors import LoadError


@dataclass(frozen=True)
class Symbol:
    name: str
    address: int      # virtual address in the file (an offset from the base for PIE)
    size: int
    is_function: bool
    defined: bool     # False for an import resolved from a shared library at run time


@dataclass
class HostSymbols:
    path: Path
    symbols: dict[str, Symbol]

    def get(self, name: str) -> Symbol | None:
        return self.symbols.get(name)


def read_symbols(path: Path) -> HostSymbols:
    """All static and dynamic symbols of an ELF host; LoadError if it is missing or not ELF."""
    if not path.exists():
        raise LoadError(f"{path}: host binary not found")
    if not path.is_file():
        raise LoadError(f"{path}: host binary is not a regular file")
    import lief  # heavy: imported only when a spec is resolved

    lief.logging.disable()
    try:
        binary = lief.parse(str(path))
    except (MemoryError, RuntimeError) as err:
        raise LoadError(f"{path}: host binary cannot be parsed: {err}") from None
    if not isinstance(binary, lief.ELF.Binary):
        raise LoadError(f"{path}: host binary is not an ELF file")
    symbols: dict[str, Symbol] = {}
    for sym in binary.symbols:
        if not sym.name or not (sym.is_function or sym.is_variable):
            continue
        defined = sym.shndx != 0 and sym.value != 0
        old = symbols.get(sym.name)
        if old is None or (defined and not old.defined):
            symbols[sym.name] = Symbol(sym.name, sym.value, sym.size, sym.is_function, defined)
    return HostSymbols(path, symbols)
