"""Reading a deployment-time file (uses, classes, extensions) into a DeploymentSpec."""
from __future__ import annotations

import re
from pathlib import Path

from bpftime.eim.model import ClassSpec, DeploymentSpec, ExtensionSpec, Grant, Limits
from bpftime.eim.sections import KEYWORDS, NAME, Names, check_version, resolve_path, size_value, spec_name
from bpftime.eim.yamlnodes import Node, compose_file
from bpftime.kernel_abi import helper_id

_ARG_GRANT = re.compile(r"^(read|write)\s*\(\s*([A-Za-z_]\w*(?:\s*\.\s*[A-Za-z_]\w*)*)\s*\)$")


def _grant(node: Node) -> Grant:
    text = " ".join(node.text("allow item").split())
    if text in ("return", "io"):
        return Grant(text, text, node.where)
    if m := _ARG_GRANT.match(text):
        return Grant(m.group(1), re.sub(r"\s+", "", m.group(2)), node.where)
    if NAME.match(text) and text not in KEYWORDS:  # return and io are taken above
        return Grant("capability", text, node.where)
    raise node.error(f"allow: '{text}' does not parse (expected a capability name, "
                     "read(arg), write(arg), write(arg.field), return or io)")


def _limits(node: Node, what: str) -> Limits:
    f = node.mapping(f"{what} limits", ("instructions", "memory"))
    instructions = None
    if "instructions" in f:
        instructions = f["instructions"].integer(f"{what} limits instructions")
        if instructions <= 0:
            raise f["instructions"].error(f"{what} limits instructions: must be greater than 0")
    memory = size_value(f["memory"], f"{what} limits memory") if "memory" in f else None
    return Limits(instructions, memory)


def _class(node: Node, names: Names) -> ClassSpec:
    f = node.mapping("class", ("name", "entry", "allow", "helpers", "limits", "inherits"), ("name",))
    name = spec_name(f["name"], "class name")
    names.add(name, f["name"])
    what = f"class '{name}'"
    entry = spec_name(f["entry"], f"{what} entry") if "entry" in f else None
    allow = tuple(_grant(n) for n in f.items("allow", f"{what} allow"))
    helpers = []
    for n in f.items("helpers", f"{what} helpers"):
        hname = n.name(f"{what} helper")
        try:
            helpers.append((hname, helper_id(hname), n.where))
        except KeyError:
            raise n.error(f"{what}: unknown helper '{hname}' (not a kernel eBPF helper)") from None
    inherits = tuple((n.name(f"{what} inherits"), n.where)
                     for n in f.items("inherits", f"{what} inherits"))
    limits = _limits(f["limits"], what) if "limits" in f else Limits()
    return ClassSpec(name, entry, f["entry"].where if "entry" in f else None, allow,
                     tuple(helpers), limits, inherits, node.where)


def _extension(path: Path, node: Node, names: Names) -> ExtensionSpec:
    f = node.mapping("extension", ("name", "object", "program", "class"),
                     ("name", "object", "program", "class"))
    name = spec_name(f["name"], "extension name")
    names.add(name, f["name"])
    what = f"extension '{name}'"
    return ExtensionSpec(name, resolve_path(path, f["object"], f"{what} object"),
                         f["program"].name(f"{what} program"),
                         f["class"].name(f"{what} class"), f["class"].where,
                         f["object"].where, f["program"].where)


def read_deployment(path: Path) -> tuple[DeploymentSpec, Node]:
    """Parse a deployment-time file; returns it and the `uses:` node (for its position)."""
    path = Path(path)
    root = compose_file(path)
    top = root.mapping("deployment spec", ("eim", "uses", "host", "classes", "extensions"),
                       ("eim", "uses"))
    check_version(top)
    classes_names = Names("class")
    classes = {c.name: c for c in (_class(n, classes_names) for n in top.items("classes", "classes"))}
    ext_names = Names("extension")
    extensions = {e.name: e for e in (_extension(path, n, ext_names)
                                      for n in top.items("extensions", "extensions"))}
    for ext in extensions.values():
        if ext.class_name not in classes:
            raise ext.where.error(f"extension '{ext.name}': unknown class '{ext.class_name}'"
                                  f" (known: {', '.join(classes) or 'none'})")
    host_node = top.get("host")
    host = resolve_path(path, host_node, "host") if host_node else None
    return (DeploymentSpec(path, resolve_path(path, top["uses"], "uses"), host,
                           host_node.where if host_node else None, classes, extensions),
            top["uses"])
