"""Prototypes of host functions and entries: `(ptr dst, ptr src, u64 n) -> ptr`.

Types are `u8`…`u64`, `i8`…`i64`, `ptr`, `ptr<T>`, `str` and `void` (return only).
Parameters are named, so constraints and grants can refer to them. A `ptr<T>`'s
pointee size is left 0 here; `bpftime.eim.resolve` fills it from DWARF or `types:`.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from bpftime.policy import ValueKind, ValueType

INT_TYPES: dict[str, ValueType] = {
    f"{sign}{bits}": ValueType(ValueKind.INT, bits // 8, sign == "i")
    for sign in ("u", "i") for bits in (8, 16, 32, 64)
}
VOID = ValueType(ValueKind.VOID, 0)
_TOKEN = re.compile(r"\s*(->|[A-Za-z_][A-Za-z0-9_]*|[(),<>]|\S)")
RESERVED = frozenset({"ret", "null", "io", "void"})


class PrototypeError(ValueError):
    """A prototype that does not parse; the message says where in the text."""


@dataclass(frozen=True)
class Prototype:
    params: tuple[tuple[str, ValueType], ...]
    ret: ValueType
    text: str

    def param(self, name: str) -> ValueType | None:
        return dict(self.params).get(name)


def format_type(t: ValueType) -> str:
    """The spec spelling of a type, for messages."""
    if t.kind is ValueKind.INT:
        return f"{'i' if t.signed else 'u'}{t.size * 8}"
    if t.kind is ValueKind.PTR:
        return f"ptr<{t.type_name}>" if t.type_name else "ptr"
    return t.kind.value


def format_prototype(params: tuple[tuple[str, ValueType], ...], ret: ValueType) -> str:
    inner = ", ".join(f"{format_type(t)} {n}" for n, t in params)
    return f"({inner}) -> {format_type(ret)}"


class _Tokens:
    def __init__(self, text: str):
        self.text = text
        self.toks: list[tuple[str, int]] = []
        pos = 0
        while pos < len(text):
            m = _TOKEN.match(text, pos)
            if m is None:  # only trailing blanks are left
                break
            self.toks.append((m.group(1), m.start(1)))
            pos = m.end()
        self.i = 0

    def peek(self) -> str | None:
        return self.toks[self.i][0] if self.i < len(self.toks) else None

    def fail(self, expected: str) -> PrototypeError:
        if self.i < len(self.toks):
            tok, col = self.toks[self.i]
            return PrototypeError(f"expected {expected} at '{tok}' (character {col + 1})")
        return PrototypeError(f"expected {expected} at the end")

    def take(self, expected: str, want: str | None = None) -> str:
        tok = self.peek()
        if tok is None or (want is not None and tok != want) or (
                want is None and not re.fullmatch(r"[A-Za-z_]\w*", tok)):
            raise self.fail(expected)
        self.i += 1
        return tok


def _type(toks: _Tokens, allow_void: bool) -> ValueType:
    expected = "a type (u8..u64, i8..i64, ptr, ptr<T>, str" + (", void)" if allow_void else ")")
    name = toks.take(expected)
    if name in INT_TYPES:
        return INT_TYPES[name]
    if name == "str":
        return ValueType(ValueKind.STR, 0)
    if name == "void" and allow_void:
        return VOID
    if name == "ptr":
        if toks.peek() != "<":
            return ValueType(ValueKind.PTR, 0)
        toks.take("'<'", "<")
        target = toks.take("a type name after 'ptr<'")
        if target in ("struct", "union") and toks.peek() not in (">", None):
            target = toks.take("a type name")
        toks.take("'>'", ">")
        return ValueType(ValueKind.PTR, 0, type_name=target)
    toks.i -= 1
    raise toks.fail(expected)


def parse_prototype(text: str) -> Prototype:
    """Parse `(TYPE NAME, ...) -> TYPE`; raises PrototypeError."""
    toks = _Tokens(text)
    toks.take("'('", "(")
    params: list[tuple[str, ValueType]] = []
    if toks.peek() != ")":
        while True:
            ptype = _type(toks, allow_void=False)
            pname = toks.take("a parameter name")
            if pname in RESERVED or pname in INT_TYPES or pname in ("ptr", "str"):
                toks.i -= 1
                raise toks.fail("a parameter name that is not a keyword")
            if any(pname == n for n, _ in params):
                raise PrototypeError(f"parameter '{pname}' appears twice")
            params.append((pname, ptype))
            if toks.peek() == ",":
                toks.take("','", ",")
                continue
            break
    toks.take("',' or ')'", ")")
    toks.take("'->' and a return type", "->")
    ret = _type(toks, allow_void=True)
    if toks.peek() is not None:
        raise toks.fail("the end of the prototype")
    return Prototype(tuple(params), ret, text)
