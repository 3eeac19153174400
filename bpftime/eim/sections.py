"""Pieces both spec files share: the `eim:` version, names, sizes and the `types:` section."""
from __future__ import annotations

import os
import re
from pathlib import Path

from bpftime.eim.model import EIM_VERSION, FieldLayout, TypeLayout
from bpftime.eim.yamlnodes import Fields, Node, Where

_SIZE = re.compile(r"^\s*(\d+)\s*(B|KiB|MiB|GiB)?\s*$")
_UNITS = {None: 1, "B": 1, "KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30}
NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")
KEYWORDS = frozenset({"return", "io", "read", "write"})


def check_version(root: Fields) -> None:
    node = root["eim"]
    version = node.integer("eim")
    if version != EIM_VERSION:
        raise node.error(f"unsupported eim version {version} (this bpftime reads version {EIM_VERSION})")


def spec_name(node: Node, what: str) -> str:
    """A capability, entry, class or extension name: an identifier, not a keyword."""
    name = node.name(what)
    if not NAME.match(name):
        raise node.error(f"{what}: '{name}' is not a valid name (letters, digits, _ . -)")
    if name in KEYWORDS:
        raise node.error(f"{what}: '{name}' is reserved")
    return name


def symbol_name(node: Node, what: str) -> str:
    name = node.name(what)
    if not re.match(r"^[A-Za-z_.$][\w.$@]*$", name):
        raise node.error(f"{what}: '{name}' is not a symbol name")
    return name


class Names:
    """Names declared in one namespace; a second declaration is an error."""

    def __init__(self, what: str):
        self.what = what
        self.seen: dict[str, Where] = {}

    def add(self, name: str, node: Node) -> None:
        if name in self.seen:
            raise node.error(f"duplicate {self.what} name '{name}' "
                             f"(first defined at line {self.seen[name].line})")
        self.seen[name] = node.where


def size_value(node: Node, what: str) -> int:
    """A byte count: a plain integer or `64KiB`, `1MiB`, `2GiB`, `512B`; must be > 0."""
    if node.is_scalar() and node.node.tag == "tag:yaml.org,2002:int":
        value = node.integer(what)
    else:
        m = _SIZE.match(node.text(what))
        if m is None:
            raise node.error(f"{what}: '{node.text(what)}' is not a size "
                             "(an integer or a number with B, KiB, MiB or GiB)")
        value = int(m.group(1)) * _UNITS[m.group(2)]
    if value <= 0:
        raise node.error(f"{what}: must be greater than 0, got {value}")
    return value


def resolve_path(base: Path, node: Node, what: str) -> Path:
    """A path written in a spec: absolute, or relative to the spec file's directory."""
    text = node.text(what)
    path = Path(text).expanduser()
    return Path(os.path.normpath(path if path.is_absolute() else base.parent.absolute() / path))


def read_types(node: Node) -> dict[str, TypeLayout]:
    """The `types:` section: `NAME: {size: N, fields: {F: {offset, size, type}}}`.
    A field's `type` names another entry of the section (an embedded struct)."""
    raw: dict[str, tuple[Node, int, list[tuple[Node, str, int, int, Node | None]]]] = {}
    for key, body in node.pairs("types"):
        name = key.name("type name")
        fields = body.mapping(f"type '{name}'", ("size", "fields"), ("size",))
        size = size_value(fields["size"], f"type '{name}' size")
        members = []
        if "fields" in fields:
            for fkey, fbody in fields["fields"].pairs(f"type '{name}' fields"):
                fname = fkey.name("field name")
                what = f"field '{name}.{fname}'"
                ff = fbody.mapping(what, ("offset", "size", "type"), ("offset", "size"))
                offset = ff["offset"].integer(f"{what} offset")
                fsize = size_value(ff["size"], f"{what} size")
                if offset < 0 or offset + fsize > size:
                    raise fbody.error(f"{what}: bytes [{offset}, {offset + fsize}) lie outside "
                                      f"the type's {size} bytes")
                members.append((fbody, fname, offset, fsize, ff.get("type")))
        raw[name] = (key, size, members)

    done: dict[str, TypeLayout] = {}

    def build(name: str, stack: tuple[str, ...]) -> TypeLayout:
        if name in done:
            return done[name]
        key, size, members = raw[name]
        out: dict[str, FieldLayout] = {}
        for fnode, fname, offset, fsize, tnode in members:
            inner = None
            if tnode is not None:
                tname = tnode.name(f"field '{name}.{fname}' type")
                if tname not in raw:
                    raise tnode.error(f"field '{name}.{fname}': type '{tname}' is not in types:")
                if tname in stack or tname == name:
                    raise tnode.error(f"field '{name}.{fname}': type '{tname}' contains itself")
                inner = build(tname, stack + (name,))
                if inner.size != fsize:
                    raise tnode.error(f"field '{name}.{fname}': size {fsize} differs from "
                                      f"type '{tname}' size {inner.size}")
            out[fname] = FieldLayout(fname, offset, fsize, inner)
        done[name] = TypeLayout(name, size, out, f"types: at {key.where}")
        return done[name]

    for name in raw:
        build(name, ())
    return done
