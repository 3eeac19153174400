"""Parser of the eBPF conformance suite's `.data` files.

A file is a sequence of sections, each opened by a line `-- NAME`: `asm` (the program
in the assembler dialect of `bpftime.asm`), `raw` (the program as hex, one 8-byte
instruction a line), `mem` (input bytes, hex), `result` (expected r0, hex), `error`
(the program is invalid), and the informational `c` and `no register offset`.
`#` starts a comment. The instructions returned are not validated; callers run
`bpftime.isa.validate_program` (the runner does).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from bpftime.asm import assemble
from bpftime.errors import LoadError
from bpftime.isa import Insn, decode, encode

KNOWN_SECTIONS = ("asm", "raw", "mem", "result", "error", "c", "no register offset")


@dataclass(frozen=True)
class ConformanceFile:
    """One parsed file. `mem` is None when the file has no `-- mem` section."""

    source: str
    insns: list[Insn]
    mem: bytes | None
    result: int | None
    error: str | None


@dataclass
class _Section:
    name: str
    first_line: int  # line number of the section's first body line
    lines: list[str]

    @property
    def text(self) -> str:
        return "\n".join(self.lines)

    def words(self) -> list[str]:
        """Whitespace-separated tokens with `#` comments removed."""
        return " ".join(line.split("#", 1)[0] for line in self.lines).split()


def _sections(text: str, source: str) -> dict[str, _Section]:
    sections: dict[str, _Section] = {}
    current: _Section | None = None
    for n, line in enumerate(text.splitlines(), 1):
        if line.startswith("--"):
            name = line[2:].strip()
            if name not in KNOWN_SECTIONS:
                raise LoadError(f"{source}:{n}: unknown section '-- {name}' "
                                f"(known: {', '.join(KNOWN_SECTIONS)})")
            if name in sections:
                raise LoadError(f"{source}:{n}: section '-- {name}' given twice")
            current = sections[name] = _Section(name, n + 1, [])
        elif current is not None:
            current.lines.append(line)
        elif line.split("#", 1)[0].strip():
            raise LoadError(f"{source}:{n}: text before the first '-- SECTION' line")
    return sections


_HEX_BYTE = re.compile(r"[0-9a-fA-F]{2}")


def _hex_bytes(section: _Section, source: str) -> bytes:
    words = section.words()
    if not all(_HEX_BYTE.fullmatch(w) for w in words):
        raise LoadError(f"{source}: section '-- {section.name}' must be hex bytes like '1a 2b'")
    return bytes(int(w, 16) for w in words)


def _raw(section: _Section, source: str) -> bytes:
    """Either one `0x…` 64-bit little-endian value a line, or 8 hex bytes a line."""
    out = bytearray()
    for n, line in enumerate(section.lines, section.first_line):
        words = line.split("#", 1)[0].split()
        if not words:
            continue
        if len(words) == 1 and re.fullmatch(r"0x[0-9a-fA-F]{1,16}", words[0]):
            out += int(words[0], 16).to_bytes(8, "little")
        elif len(words) == 8 and all(_HEX_BYTE.fullmatch(w) for w in words):
            out += bytes(int(w, 16) for w in words)
        else:
            raise LoadError(f"{source}:{n}: a raw instruction is 0x<64-bit hex> or 8 hex bytes")
    return bytes(out)


def parse_conformance(text: str, source: str = "<data>") -> ConformanceFile:
    """Parse a `.data` file's text; LoadError/AsmError/DecodeError name `source`."""
    if not text.strip():
        raise LoadError(f"{source}: empty file")
    sections = _sections(text, source)
    asm, raw = sections.get("asm"), sections.get("raw")
    if asm is None and raw is None:
        raise LoadError(f"{source}: no program: a '-- asm' or '-- raw' section is required")
    insns = assemble(asm.text, source, asm.first_line) if asm is not None else None
    if raw is not None:
        code = _raw(raw, source)
        if not code:
            raise LoadError(f"{source}: section '-- raw' is empty")
        if insns is not None and encode(insns) != code:
            raise LoadError(f"{source}: sections '-- asm' and '-- raw' disagree")
        insns = decode(code, validate=False)
    assert insns is not None
    mem = _hex_bytes(sections["mem"], source) if "mem" in sections else None
    result = None
    if "result" in sections:
        words = sections["result"].words()
        if len(words) != 1 or not re.fullmatch(r"(0x[0-9a-fA-F]+|\d+)", words[0]):
            raise LoadError(f"{source}: section '-- result' must be one number, e.g. 0x2a")
        word = words[0]
        result = int(word, 16 if word.startswith("0x") else 10) & ((1 << 64) - 1)
    error = sections["error"].text.strip() if "error" in sections else None
    return ConformanceFile(source, insns, mem, result, error)


def load_conformance(path: str | Path) -> ConformanceFile:
    """Read and parse a `.data` file."""
    path = Path(path)
    try:
        text = path.read_text()
    except UnicodeDecodeError:
        raise LoadError(f"{path}: not a text file") from None
    return parse_conformance(text, str(path))
