"""EIM constraints of a function capability, parsed into `policy.Constraint`.

Vocabulary: `reads(p, n)`, `writes(p, n)`, `ret: alloc(n) | null`, `frees(p)`, `io`,
`nonnull(p)`, `str(p)`, and relations `A OP B` (OP one of < <= > >= == !=) over
parameter names, `ret` and integer constants. Each is checked against the prototype:
names must exist and have a fitting type.
"""
from __future__ import annotations

import re

from bpftime.policy import Constraint, ValueKind
from bpftime.eim.prototype import Prototype

_IDENT = r"[A-Za-z_]\w*"
_INT = r"-?(?:0[xX][0-9a-fA-F]+|\d+)"
_OPERAND = rf"(?:{_IDENT}|{_INT})"
_CALL = re.compile(rf"^({_IDENT})\s*\(\s*({_OPERAND}(?:\s*,\s*{_OPERAND})*)?\s*\)$")
_ALLOC = re.compile(rf"^(?:ret\s*:\s*)?alloc\s*\(\s*({_OPERAND})\s*\)\s*(\|\s*null)?$")
_RELATION = re.compile(rf"^({_OPERAND})\s*(<=|>=|==|!=|<|>)\s*({_OPERAND})$")
_ARITY = {"reads": 2, "writes": 2, "frees": 1, "nonnull": 1, "str": 1}


class ConstraintError(ValueError):
    """A constraint that does not parse or does not fit the prototype."""


def _operand(text: str) -> str | int:
    return int(text, 0) if re.fullmatch(_INT, text) else text


def _pointer_param(proto: Prototype, name: str | int, what: str) -> None:
    t = proto.param(name) if isinstance(name, str) else None
    if t is None:
        raise ConstraintError(f"{what}: '{name}' is not a parameter")
    if t.kind not in (ValueKind.PTR, ValueKind.STR):
        raise ConstraintError(f"{what}: parameter '{name}' is not a pointer")


def _value(proto: Prototype, name: str | int, what: str) -> None:
    """An integer-valued operand: a constant, an integer parameter, or `ret`."""
    if isinstance(name, int):
        return
    if name == "ret":
        if proto.ret.kind is ValueKind.VOID:
            raise ConstraintError(f"{what}: 'ret' of a function returning void")
        return
    if proto.param(name) is None:
        raise ConstraintError(f"{what}: '{name}' is neither a parameter nor 'ret'")


def parse_constraint(text: str, proto: Prototype) -> Constraint:
    """Parse one constraint and check it against `proto`; raises ConstraintError."""
    src = " ".join(text.split())
    if src == "io":
        return Constraint("io", text=src)
    if m := _ALLOC.match(src):
        size = _operand(m.group(1))
        if proto.ret.kind is not ValueKind.PTR:
            raise ConstraintError(f"{src}: alloc needs a function returning ptr")
        if isinstance(size, str):
            _value(proto, size, src)
            if size == "ret":
                raise ConstraintError(f"{src}: the size cannot be 'ret'")
        return Constraint("alloc", (size,), nullable=bool(m.group(2)), text=src)
    if m := _CALL.match(src):
        kind = m.group(1)
        args = tuple(_operand(a.strip()) for a in (m.group(2) or "").split(",") if a.strip())
        if kind not in _ARITY:
            raise ConstraintError(f"{src}: unknown constraint '{kind}' (expected reads, writes, "
                                  "alloc, frees, io, nonnull, str or a relation)")
        if len(args) != _ARITY[kind]:
            raise ConstraintError(f"{src}: {kind} takes {_ARITY[kind]} argument(s)")
        _pointer_param(proto, args[0], src)
        if len(args) == 2:
            _value(proto, args[1], src)
        return Constraint(kind, args, text=src)
    if m := _RELATION.match(src):
        left, op, right = _operand(m.group(1)), m.group(2), _operand(m.group(3))
        if isinstance(left, int) and isinstance(right, int):
            raise ConstraintError(f"{src}: a relation needs a parameter or 'ret'")
        _value(proto, left, src)
        _value(proto, right, src)
        return Constraint("relation", (left, right), op=op, text=src)
    raise ConstraintError(f"'{src}' does not parse (expected reads(p, n), writes(p, n), "
                          "ret: alloc(n) | null, frees(p), io, nonnull(p), str(p) or A OP B)")
